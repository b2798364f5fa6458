/**
 * @duplicity-ts/engine: duplicity's backup engine on top of the format packages.
 *
 * Read side: collection/ groups the backend's file names into sets and chains (§11.1-11.2);
 * cache/ keeps the local archive dir in step with the backend (§11.7); restore/ fetches and checks
 * volumes, merges the sets' entry streams by index and patches files through temp-file stages
 * (§11.4-11.5); listing/ prints list-current-files and collection-status (§13). Write side and
 * maintenance: see their sections below. Everything takes its backend, archive dir and temp dir
 * from the caller (the CLI's session), so the engine never reads options or the environment.
 */

// Read side (collection/, cache/, restore/, listing/): the backend's files grouped into sets and
// chains, the local archive dir kept in step with the backend, restore at a time, and the
// list-current-files / collection-status outputs.
export { BackupSet, type NamedFile, type SetType } from './collection/backup-set.js';
export { BackupChain, SignatureChain, chainAt } from './collection/chains.js';
export { type Collection, scanCollection, backupChainAt, signatureChainAt } from './collection/collection.js';
export { syncArchiveDir, listArchiveDir, metadataKey, readCachedManifest, type MetadataSyncMode } from './cache/archive-dir.js';
export { type ReadContext, type ReadLog, type FetchedFile, fetchFile } from './restore/remote-file.js';
export { restore, loadManifest, restorePrefix, type RestoreOptions, type RestoreResult } from './restore/restore.js';
export { SetReader, type SetEntry } from './restore/set-reader.js';
export { TargetWriter, type TargetWriterOptions } from './restore/target-writer.js';
export { combineSignatures, currentEntries, listCurrentFiles, type CurrentEntry } from './listing/current-files.js';
export { collectionStatusReport, collectionWarnings, fileChangedReport, lastFullBackupLine, matchedChain, setChangesReport } from './listing/collection-status.js';
export { asctime } from './listing/time-format.js';

// Write side (backup/, selection/, stats): selection rules, the index-order source walk, change
// detection against the combined signature chain, volumes, sigtar and manifest, and a whole backup run.
export { runBackup, type BackupRequest, type BackupResult } from './backup/run-backup.js';
export { writeBackupSet, type WriteSetOptions, type BackupLog } from './backup/set-writer.js';
export { combineSignatures as combineBaseSignatures, cachedSigtar, type BaseEntry } from './backup/base-signatures.js';
export { walkSource, type SourceEntry, type SourceType } from './backup/source-walk.js';
export { Selector, SelectionError, canonicalRoot, type SelectionRule, type SelectionRuleKind } from './selection/selector.js';
export { BackupStatistics, byteSummary, durationString } from './stats.js';

// Maintenance (lock/, retention/, verify/, integrity/): the archive dir lock, the remove-* and
// cleanup commands, verify against a live tree, and the whole-archive integrity check.
export { acquireArchiveLock, LOCK_HELD_EXIT, type ArchiveLock, type LockOptions } from './lock/lockfile.js';
export { planRemoval, executeRemoval, nthNewestFullTime, type RemovalPlan, type RemoveMode } from './retention/remove-old.js';
export { planCleanup, executeCleanup, partialLastSet, deletePartialSet, type CleanupPlan } from './retention/cleanup.js';
export { type DeletionTarget, type RetentionLog } from './retention/deletion.js';
export { restoredEntries, type RestoredEntry, type RestoredEntriesOptions, type DamagedVolume } from './restore/restore.js';
export { verify, verifySummary, type VerifyOptions, type VerifyResult } from './verify/verify.js';
export { checkArchive, type CheckOptions, type CheckResult, type IntegrityProblem } from './integrity/check.js';
