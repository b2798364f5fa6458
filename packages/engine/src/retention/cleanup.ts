/**
 * cleanup (FORMAT.md §11.9, §11.11): the files no chain needs: sets without a manifest (an
 * interrupted run's volumes), orphaned incrementals, orphaned signature files; listed, or deleted
 * with --force. A partial last set (a local `.part` manifest whose run died) is removed even
 * without --force, as duplicity does, since nothing can use it.
 *
 * As in duplicity 0.8.22, an orphaned set's cache manifest is left for the next cache sync to drop.
 */
import type { BackupSet, NamedFile } from '../collection/backup-set.js';
import type { Collection } from '../collection/collection.js';
import { deleteLocal, deleteRemote, type DeletionTarget } from './deletion.js';
import { metadataKey } from '../cache/archive-dir.js';

export interface CleanupPlan {
  /** Remote names, in the order duplicity lists them. */
  remote: string[];
  /** Cache names (orphaned local signatures). */
  local: string[];
}

function setFiles(s: BackupSet): string[] {
  const names = [...s.volumes.keys()].sort((a, b) => a - b).map((n) => s.volumes.get(n)!.name);
  if (s.remoteManifest) names.push(s.remoteManifest.name);
  return names;
}

export function planCleanup(col: Collection): CleanupPlan {
  const remote = [...col.orphanedSets, ...col.incompleteSets].flatMap(setFiles);
  remote.push(...col.orphanedRemoteSigs.map((f) => f.name));
  return { remote, local: col.orphanedLocalSigs.map((f) => f.name) };
}

/** The last set of the newest chain when it is partial: only a local `.part` manifest (§11.9). */
export function partialLastSet(col: Collection): BackupSet | undefined {
  const chain = col.chains[col.chains.length - 1];
  const last = chain?.sets[chain.sets.length - 1];
  return last?.partial ? last : undefined;
}

/**
 * Deletes a partial set everywhere: its remote volumes (and a remote signature file of the same
 * time, uploaded just before the run died), the cache's `.part` manifest and `.part` signatures.
 */
export async function deletePartialSet(t: DeletionTarget, col: Collection, set: BackupSet): Promise<void> {
  const sameTimes = (f: NamedFile) => isSignatureOf(set, f);
  for (const n of [...set.volumes.keys()].sort((a, b) => a - b)) await deleteRemote(t, set.volumes.get(n)!.name);
  for (const f of col.remoteFiles) if (f.parsed.kind === 'signature' && sameTimes(f)) await deleteRemote(t, f.name);
  const setKey = set.localPartialManifest ? metadataKey(set.localPartialManifest.name) : undefined;
  for (const f of col.localFiles) {
    const partialSig = f.parsed.kind === 'signature' && sameTimes(f);
    const manifest = f.parsed.kind === 'manifest' && metadataKey(f.name) === setKey;
    if (partialSig || manifest) await deleteLocal(t, f.name);
  }
}

/** Whether `f` is a signature file (any side, any suffix) of the set's type and time(s). */
export function isSignatureOf(set: BackupSet, f: NamedFile): boolean {
  const p = f.parsed;
  if (p.kind !== 'signature') return false;
  return set.type === 'full' ? p.type === 'full-sig' && p.time === set.endTime : p.type === 'new-sig' && p.startTime === set.startTime && p.endTime === set.endTime;
}

export async function executeCleanup(t: DeletionTarget, plan: CleanupPlan, force: boolean): Promise<void> {
  const names = [...plan.remote, ...plan.local];
  if (names.length === 0) {
    t.log.notice('No extraneous files found, nothing deleted in cleanup.');
    return;
  }
  if (!force) {
    t.log.notice(['Found the following files to delete:', ...names, 'Run duplicity again with the --force option to actually delete.'].join('\n'));
    return;
  }
  t.log.notice(['Deleting these files from backend:', ...names].join('\n'));
  for (const n of plan.remote) await deleteRemote(t, n);
  for (const n of plan.local) await deleteLocal(t, n);
}
