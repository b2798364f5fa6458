/**
 * A backup run (FORMAT.md §11.2-11.3, §14.1): finds the chain to extend with the read side's
 * collection and cache code, decides full or incremental as duplicity does (no chain, explicit
 * `full`, --full-if-older-than), checks the chain's Hostname and Localdir, and writes the set; a
 * partial set left by an interrupted run is continued instead (resume.ts).
 */
import { rm, stat, statfs } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import path from 'node:path';
import { parseTimeArg, type Manifest, type NamePrefixes } from '@duplicity-ts/archive';
import type { Backend } from '@duplicity-ts/backends';
import type { DecryptOptions, EncryptOptions } from '@duplicity-ts/pgp';
import { scanCollection, type Collection } from '../collection/collection.js';
import type { SignatureChain } from '../collection/chains.js';
import { listArchiveDir, metadataKey, readCachedManifest, syncArchiveDir, type MetadataSyncMode } from '../cache/archive-dir.js';
import { OwnerMap } from '../owners.js';
import { lastFullBackupLine, matchedChain } from '../listing/collection-status.js';
import { canonicalRoot, Selector, type SelectionRule } from '../selection/selector.js';
import type { BackupStatistics } from '../stats.js';
import { combineCachedSignatures } from './base-signatures.js';
import { writeBackupSet, type BackupLog } from './set-writer.js';
import { walkSource } from './source-walk.js';
import { checkLastManifest } from './manifest-check.js';
import { deletePartialSet, partialLastSet } from '../retention/cleanup.js';
import type { NamedFile } from '../collection/backup-set.js';
import { planResume, startResume } from './resume.js';

export interface BackupRequest {
  /** `full`, `incremental` (exit 17 without a chain) or `auto` (no action word: inc, else full). */
  mode: 'full' | 'incremental' | 'auto';
  /** The source directory as given on the command line. */
  source: string;
  backend: Backend;
  archiveDir: string;
  tempDir: string;
  prefixes?: NamePrefixes;
  /** --current-time or the clock, epoch seconds. */
  now: number;
  /** --current-time was given: the time cannot move on its own. */
  fixedTime?: boolean;
  log: BackupLog;

  selection?: SelectionRule[];
  nullSeparator?: boolean;
  copyLinks?: boolean;
  numericOwner?: boolean;
  fullIfOlderThan?: string;
  allowSourceMismatch?: boolean;
  /** Default: the machine's host name. */
  hostname?: string;

  /** --volsize in MiB (default 200). */
  volsizeMiB?: number;
  maxBlocksize?: number;
  compareSize?: boolean;
  /** Set for encrypted backups; called once before any work. */
  encryptOptions?: () => Promise<EncryptOptions>;
  /** For fetching encrypted metadata into the cache. */
  decryptOptions?: () => Promise<DecryptOptions>;
  compress: boolean;
  shortFilenames?: boolean;
  noFilesChanged?: boolean;
  dryRun?: boolean;
  concurrency?: number;
  metadataSyncMode?: MetadataSyncMode;
  /** --progress: `total` gets the bytes to read (sized by a first walk, as duplicity does), `update` the bytes read so far. */
  progress?: { total(bytes: number): void; update(bytesRead: number): void };
}

export interface BackupResult {
  type: 'full' | 'inc';
  time: number;
  baseTime?: number;
  statistics: BackupStatistics;
}

export function backupError(message: string, exitCode: number): Error & { exitCode: number } {
  return Object.assign(new Error(message), { exitCode });
}

export async function runBackup(r: BackupRequest): Promise<BackupResult> {
  const source = r.source;
  try {
    const st = await stat(source);
    if (!st.isDirectory()) throw backupError(`backup source ${source} is not a directory`, 13);
  } catch (err) {
    if ((err as { exitCode?: number }).exitCode) throw err;
    throw backupError(`backup source ${source} does not exist or cannot be read: ${(err as Error).message}`, 13);
  }
  const localdir = canonicalRoot(source);
  const rootDev = (await stat(source)).dev;
  const selector = await Selector.create(r.selection ?? [], {
    root: localdir,
    rootDev,
    parseTime: (s) => parseTimeArg(s, r.now),
    nullSeparator: r.nullSeparator,
  });
  // Fail at once (before any upload) when a secret or key is missing.
  const encrypt = r.encryptOptions ? await r.encryptOptions() : undefined;
  const hostname = r.hostname ?? osHostname();

  let col = await scan(r);
  const readCtx = {
    backend: r.backend,
    archiveDir: r.archiveDir,
    tempDir: r.tempDir,
    decryptOptions: r.decryptOptions,
    log: { ...r.log, debug() {} },
  };
  const resumeReq = { col, readCtx, archiveDir: r.archiveDir, log: r.log, encrypt, compress: r.compress, prefixes: r.prefixes, shortFilenames: r.shortFilenames };
  const resume = r.dryRun ? undefined : await planResume(resumeReq);
  await dropLocalPartials(r, col, !!resume);
  col = await scan(r);
  if (await syncArchiveDir(readCtx, col, r.now, r.metadataSyncMode ?? 'partial')) col = await scan(r);

  r.log.notice(lastFullBackupLine(col));
  const matched = matchedChain(col);
  const chain = matched?.chain;
  let sigChain = matched?.sigChain;
  let type: 'full' | 'inc' = 'inc';
  if (resume) {
    // The partial set's type and times (§11.9), whatever the command asked for.
    type = resume.type;
    if (!r.allowSourceMismatch) checkSource(resume.manifest, hostname, localdir);
    if (type === 'inc') {
      // The chain holding a set that ends at the base time. It may run on past it: when the killed
      // run had uploaded its own signature file, the sync above brought that into the cache too.
      // Only the signatures up to the base time are read (filesAt), and startResume deletes the rest.
      const endsAtBase = (s: SignatureChain) => s.startTime === resume.baseTime || s.incSigs.some((f) => f.parsed.endTime === resume.baseTime);
      const pick = (list: typeof col.localSigChains) => [...list].reverse().find(endsAtBase);
      sigChain = pick(col.localSigChains) ?? pick(col.remoteSigChains);
      if (!sigChain) throw backupError('Fatal Error: Unable to resume the incremental backup: the signatures of the chain it extends are missing', 17);
    }
  } else if (r.mode === 'full') type = 'full';
  else if (!chain || !sigChain) {
    if (r.mode === 'incremental') {
      throw backupError('Fatal Error: Unable to start incremental backup.  Old signatures not found and incremental specified', 17);
    }
    r.log.notice('No signatures found, switching to full backup.');
    type = 'full';
  } else if (r.fullIfOlderThan !== undefined) {
    const limit = parseTimeArg(r.fullIfOlderThan, r.now);
    if (chain.fullSet.endTime < limit) {
      r.log.notice('Last full backup is too old, forcing full backup');
      type = 'full';
    }
  }

  if (r.progress) {
    let total = 0;
    for await (const e of walkSource(source, { selector, matchRoot: localdir, followLinks: r.copyLinks })) {
      if (e.type === 'file') total += e.stat.size;
    }
    r.progress.total(total);
  }

  let time = r.now;
  let baseTime: number | undefined;
  let base;
  let resumePoint;
  let ready: Promise<void> | undefined;
  if (resume) {
    time = resume.time;
    baseTime = resume.baseTime;
    const baseFiles = baseTime !== undefined ? sigChain!.filesAt(baseTime) : undefined;
    resumePoint = await startResume({ ...resumeReq, col }, resume, baseFiles && (() => cachedSignatures(r.archiveDir, baseFiles)));
    if (baseFiles) base = cachedSignatures(r.archiveDir, baseFiles);
  } else if (type === 'inc') {
    const last = chain!.sets[chain!.sets.length - 1];
    // Read once for both checks: no readable cache copy means nothing to compare against.
    const cached = last.remoteManifest ? readCachedManifest(r.archiveDir, last) : undefined;
    if (cached) {
      // The remote copy is fetched and decrypted (under a public key: the secret key's unlock and an RSA
      // decryption, ~0.35 s here) while the set is written; nothing is uploaded or kept before it passed.
      ready = checkLastManifest(readCtx, last, cached, r.log);
      ready.catch(() => undefined);
      try {
        if (!r.allowSourceMismatch) checkSource(cached, hostname, localdir);
      } catch (err) {
        // As before the overlap: a remote manifest that disagrees is the error to report.
        await ready;
        throw err;
      }
    }
    baseTime = chain!.endTime;
    if (time <= baseTime) {
      if (r.fixedTime) throw backupError(`the current time ${time} is not after the last backup (${baseTime})`, 30);
      // Time strings have one-second resolution: wait until this set gets a later time than the last.
      while (time <= baseTime) {
        await new Promise((res) => setTimeout(res, 500));
        time = Math.floor(Date.now() / 1000);
      }
    }
    base = cachedSignatures(r.archiveDir, sigChain!.filesAt(baseTime));
  }

  const statistics = await writeBackupSet({
    type,
    time,
    baseTime,
    base,
    source,
    localdir,
    hostname,
    selector,
    followLinks: r.copyLinks,
    owners: new OwnerMap(!!r.numericOwner),
    volsize: (r.volsizeMiB ?? 200) * 1048576,
    maxBlocksize: r.maxBlocksize,
    compareSize: r.compareSize,
    encrypt,
    compress: r.compress,
    prefixes: r.prefixes,
    shortFilenames: r.shortFilenames,
    noFilesChanged: r.noFilesChanged,
    backend: r.backend,
    archiveDir: r.archiveDir,
    tempDir: r.tempDir,
    dryRun: r.dryRun,
    concurrency: r.concurrency,
    log: r.log,
    onProgress: r.progress?.update,
    resume: resumePoint,
    ready,
  }).catch(async (err) => {
    // A failed remote-manifest check is the error to report, whatever else failed meanwhile.
    await ready;
    return localSpaceError(err, r);
  });
  await ready;
  return { type, time, baseTime, statistics };
}

/**
 * A local disk that fills up mid-run (the archive dir's `.part` files, or the temp dir's volumes)
 * surfaces as a bare ENOSPC from some write; say which directory is full. What was written stays
 * under `.part` or temp names, and the next run starts the set over.
 */
async function localSpaceError(err: unknown, r: BackupRequest): Promise<never> {
  const code = (err as NodeJS.ErrnoException)?.code;
  if ((code !== 'ENOSPC' && code !== 'EDQUOT') || typeof (err as { exitCode?: unknown }).exitCode === 'number') throw err;
  const full: string[] = [];
  for (const [what, dir] of [['archive dir', r.archiveDir], ['temp dir', r.tempDir]] as const) {
    const st = await statfs(dir).catch(() => undefined);
    if (st && st.bavail * st.bsize < 1 << 20) full.push(`${what} ${dir}`);
  }
  const where = full.length ? full.join(' and ') : `archive dir ${r.archiveDir} or temp dir ${r.tempDir}`;
  throw backupError(`backup failed: no space left on device in the ${where}; free some space and run again`, 35);
}

/** The chain's signatures as the cache holds them (`.sigtar.gz`), combined (§5.2). */
function cachedSignatures(archiveDir: string, files: NamedFile[]) {
  return combineCachedSignatures(files.map((f) => path.join(archiveDir, f.name.endsWith('.gz') ? f.name : `${metadataKey(f.name)}.gz`)));
}

async function scan(r: BackupRequest): Promise<Collection> {
  let remote: string[];
  try {
    remote = await r.backend.list();
  } catch (err) {
    const e = err as { exitCode?: number; message?: string };
    throw backupError(`failed to list the backend: ${e.message ?? String(err)}`, typeof e.exitCode === 'number' ? e.exitCode : 50);
  }
  return scanCollection(remote, await listArchiveDir(r.archiveDir), r.prefixes);
}

/**
 * What an interrupted run left (FORMAT.md §11.9) and is not resumed (resume.ts): a partial set
 * nothing of which can be kept is deleted everywhere (what `cleanup` does) and the new run writes a
 * complete set under a new time; other `.part` files in the cache name no set and go too. The
 * run's private temp sigtar and manifest (dotfiles) go in any case: the archive dir lock guarantees its
 * writer is dead. Volumes of a run killed before its first `.part` manifest stay as an incomplete
 * set for `cleanup` (nothing names them locally).
 */
async function dropLocalPartials(r: BackupRequest, col: Collection, resuming: boolean): Promise<void> {
  if (r.dryRun) return;
  const partial = resuming ? undefined : partialLastSet(col);
  if (partial) {
    r.log.notice('Nothing of the partial set can be kept; deleting it and starting a new set.');
    await deletePartialSet({ backend: r.backend, archiveDir: r.archiveDir, log: { ...r.log } }, col, partial);
  }
  for (const f of resuming ? [] : col.localFiles) {
    if (f.parsed.partial) {
      r.log.notice(`Deleting ${f.name} left by an interrupted backup.`);
      await rm(path.join(r.archiveDir, f.name), { force: true });
    }
  }
  for (const name of await listArchiveDir(r.archiveDir)) {
    if (/^\.duplicity-ts-\d+-\d+\.(sigtar|sigtar\.gz|manifest)$/.test(name)) await rm(path.join(r.archiveDir, name), { force: true });
  }
}

/** Hostname and Localdir of the chain's last manifest must match this run (§11.3): exit 3 / 42. */
function checkSource(m: Manifest, hostname: string, localdir: string): void {
  const short = (h: string) => h.split('.')[0];
  if (m.hostname && m.hostname !== hostname && short(m.hostname) !== short(hostname)) {
    throw backupError(
      `Fatal Error: Backup source host has changed. Current hostname: ${hostname}, previous hostname: ${m.hostname}. ` +
        'Aborting because you may have accidentally tried to backup two different data sets to the same remote location, ' +
        'or using the same archive directory. If this is not a mistake, use the --allow-source-mismatch switch to avoid seeing this message',
      3,
    );
  }
  if (m.localdir && m.localdir.toString('latin1') !== Buffer.from(localdir).toString('latin1')) {
    throw backupError(
      `Fatal Error: Backup source directory has changed. Current directory: ${localdir}, previous directory: ${m.localdir.toString()}. ` +
        'Aborting because you may have accidentally tried to backup two different data sets to the same remote location, ' +
        'or using the same archive directory. If this is not a mistake, use the --allow-source-mismatch switch to avoid seeing this message',
      42,
    );
  }
}
