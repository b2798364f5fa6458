/**
 * Deleting backup files (FORMAT.md §11.11): a set's remote files (manifest, then volumes) and its
 * cache copies, a signature chain's files (newest first), one side at a time. Shared by the
 * remove-* commands and cleanup.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Backend } from '@duplicity-ts/backends';
import type { BackupSet, NamedFile } from '../collection/backup-set.js';
import type { SignatureChain } from '../collection/chains.js';
import { metadataKey } from '../cache/archive-dir.js';

export interface RetentionLog {
  notice(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
}

/** Where deletions go: the backend and the archive dir (the local cache). */
export interface DeletionTarget {
  backend: Backend;
  archiveDir: string;
  log: RetentionLog;
}

export async function deleteRemote(t: DeletionTarget, name: string): Promise<void> {
  t.log.info(`Deleting ${name}`);
  try {
    await t.backend.remove(name);
  } catch (err) {
    const e = err as { exitCode?: number; message?: string };
    throw Object.assign(new Error(`failed to delete ${name} from the backend: ${e.message ?? String(err)}`), {
      exitCode: typeof e.exitCode === 'number' ? e.exitCode : 50,
    });
  }
}

export async function deleteLocal(t: DeletionTarget, name: string): Promise<void> {
  const p = path.join(t.archiveDir, name);
  t.log.info(`Deleting ${p}`);
  await rm(p, { force: true });
}

/** A set's local manifest names: the plain copy of its remote manifest and a `.part` one. */
export function localManifestNames(set: BackupSet): string[] {
  const out: string[] = [];
  if (set.remoteManifest) out.push(metadataKey(set.remoteManifest.name));
  if (set.localPartialManifest) out.push(set.localPartialManifest.name);
  return out;
}

/** Removes one set: remote manifest, remote volumes, then the cache's manifest copies. */
export async function deleteSet(t: DeletionTarget, set: BackupSet, localNames: Set<string>): Promise<void> {
  if (set.remoteManifest) await deleteRemote(t, set.remoteManifest.name);
  for (const n of [...set.volumes.keys()].sort((a, b) => a - b)) await deleteRemote(t, set.volumes.get(n)!.name);
  for (const name of localManifestNames(set)) if (localNames.has(name)) await deleteLocal(t, name);
}

/** The files of a signature chain, newest first; only the new-signatures with `incOnly`. */
export function sigChainFiles(chain: SignatureChain, incOnly = false): NamedFile[] {
  const files = [...chain.incSigs].reverse();
  if (!incOnly) files.push(chain.fullSig);
  return files;
}

export async function deleteSigChain(t: DeletionTarget, chain: SignatureChain, incOnly = false): Promise<void> {
  for (const f of sigChainFiles(chain, incOnly)) {
    if (chain.local) await deleteLocal(t, f.name);
    else await deleteRemote(t, f.name);
  }
}
