/**
 * Restore at time T (FORMAT.md §11.4): pick the chain and its sets, read each set's volumes as one
 * entry stream, merge the streams by index and, per index, start from the newest snapshot (or
 * deletion) and apply the later diffs in order (patch-chain.ts: through temp files, or in place in
 * the restored file), so that a file of any size, patched by any number of incrementals, is rebuilt
 * with bounded memory.
 */
import { compareIndex, formatTimeString, Manifest, pathToIndex, type Index, type ManifestVolume, type TarHeader } from '@duplicity-ts/archive';
import type { BackupSet } from '../collection/backup-set.js';
import { backupChainAt, type Collection } from '../collection/collection.js';
import { metadataKey } from '../cache/archive-dir.js';
import { fetchFile, quietLog, readAll, userError, type ReadContext } from './remote-file.js';
import { chainContent, writeChain } from './patch-chain.js';
import { SetReader, startAhead, volumesFor, type SetEntry } from './set-reader.js';
import { TargetWriter } from './target-writer.js';
import type { PieceWriter } from './piece-writer.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface RestoreOptions {
  /** Restore the state at this time (epoch s). */
  time: number;
  /** The target directory (or file, when restoring one file). */
  target: string;
  /** --file-to-restore: a path relative to the backup root. */
  fileToRestore?: string;
  /** --rename FROM TO pairs, paths relative to the restored root (see renamedIndex). */
  rename?: [string, string][];
  force?: boolean;
  /** chown restored items; default: when running as root. */
  restoreOwnership?: boolean;
  numericOwner?: boolean;
  /**
   * --ignore-errors: skip what depends on a damaged or missing volume, warn about each skipped
   * item, and restore everything else (duplicity logs and continues; the exit code stays 0).
   */
  ignoreErrors?: boolean;
}

export interface RestoreResult {
  /** Items written (files, directories, links...). */
  items: number;
  /** The sets read, oldest first. */
  sets: BackupSet[];
  /** --ignore-errors: the items skipped (paths relative to the target) and the volumes that failed. */
  skipped: string[];
  damaged: DamagedVolume[];
}

/** Reads a set's manifest: the cache's plain copy if there is one, else the backend's. */
export async function loadManifest(ctx: ReadContext, set: BackupSet): Promise<Manifest> {
  return (await manifestOf(ctx, set)).manifest;
}

async function manifestOf(ctx: ReadContext, set: BackupSet): Promise<{ manifest: Manifest; bytes: Buffer }> {
  const remote = set.remoteManifest;
  const candidates: string[] = [];
  if (remote) candidates.push(metadataKey(remote.name));
  if (set.localPartialManifest) candidates.push(set.localPartialManifest.name);
  for (const name of candidates) {
    let bytes: Buffer;
    try {
      bytes = await readFile(path.join(ctx.archiveDir, name));
    } catch {
      continue;
    }
    return { manifest: parseManifest(bytes, name), bytes };
  }
  if (!remote) throw userError(`failed to read the manifest of the backup set ending ${set.endTime}: there is none`, 6);
  const f = await fetchFile(ctx, remote.name, remote.parsed);
  try {
    const bytes = await readAll(f.plaintext());
    return { manifest: parseManifest(bytes, remote.name), bytes };
  } finally {
    await f.dispose();
  }
}

/**
 * Under --sign-key, whether the signer vouches for the volumes of `set`: the backend's manifest decrypts
 * with a good signature of the required signer and is byte for byte the manifest read (`bytes`). The volume
 * hashes in it are then the signer's, so a volume matching its hash may stream into the restore instead of
 * being decrypted to a temp file and read back (remote-file.ts), its own signature still checked at its end.
 * duplicity accepts unsigned manifests: one that is unsigned, signed by another key or different only keeps
 * the set's volumes on the temp-first path. Costs one manifest download and decryption per set.
 */
async function signerVouches(ctx: ReadContext, set: BackupSet, bytes: Buffer): Promise<boolean> {
  const remote = set.remoteManifest;
  if (!ctx.decryptOptions || !remote?.parsed.encrypted) return false;
  if ((await ctx.decryptOptions()).requireSigner === undefined) return false;
  let f: Awaited<ReturnType<typeof fetchFile>> | undefined;
  try {
    f = await fetchFile(ctx, remote.name, remote.parsed, undefined, { enforceSigner: true });
    return (await readAll(f.plaintext())).equals(bytes);
  } catch (err) {
    (ctx.log ?? quietLog).debug(`${remote.name} does not vouch for its volumes' signer: ${(err as Error).message}`);
    return false;
  } finally {
    await f?.dispose();
  }
}

function parseManifest(bytes: Buffer, name: string): Manifest {
  try {
    return Manifest.parse(bytes);
  } catch (err) {
    throw userError(`failed to read manifest ${name}: ${(err as Error).message}`, 6);
  }
}

/** `--file-to-restore` as an index: relative to the backup root, `.`, `./` and slashes trimmed. */
export function restorePrefix(fileToRestore: string | undefined): Index {
  if (fileToRestore === undefined) return [];
  const cleaned = fileToRestore
    .split('/')
    .filter((c) => c !== '' && c !== '.')
    .join('/');
  return cleaned === '' ? [] : pathToIndex(Buffer.from(cleaned));
}

/**
 * Where --rename puts an item: duplicity 0.8.22 matches FROM against the path relative to the restored root
 * (after --file-to-restore), whole components only, and the longest FROM holding the item wins whatever the
 * order given. Directories created on the way to TO get the umask's mode, as duplicity's do.
 */
export function renamedIndex(rel: Index, renames: readonly (readonly [Index, Index])[]): Index {
  let best: readonly [Index, Index] | undefined;
  for (const r of renames) if (startsWith(rel, r[0]) && (!best || r[0].length > best[0].length)) best = r;
  return best ? [...best[1], ...rel.slice(best[0].length)] : rel;
}

function startsWith(index: Index, prefix: Index): boolean {
  return index.length >= prefix.length && prefix.every((c, i) => c.equals(index[i]));
}

/** One item of the state at the restore time, relative to the restore prefix. */
export interface RestoredEntry {
  /** Index relative to the restore prefix (the target itself is []). */
  rel: Index;
  /** The newest header: the item's metadata at the restore time. */
  header: TarHeader;
  /**
   * A regular file's content, patched through the chain; read at most once. Each piece is valid
   * only until the next one is asked for (buffers are reused): copy what must be kept.
   */
  content?: AsyncIterable<Uint8Array>;
  /**
   * A file with later diffs, the other way to have its content: written into `fd` (a new empty file open for
   * reading and writing), the newest diffs applied in place where they allow it. Use this or `content`.
   */
  writeInto?(fd: number, pieces: PieceWriter): Promise<void>;
}

/** A volume that could not be read (--ignore-errors): the index range it held, per its manifest. */
export interface DamagedVolume {
  set: BackupSet;
  volume: ManifestVolume;
  error: Error;
}

export interface RestoredEntriesOptions {
  /**
   * --ignore-errors: a volume that fails (missing, hash mismatch, undecryptable, unreadable) is
   * reported here and skipped instead of ending the run; every item in its index range, in any
   * set of the chain, is then skipped with a warning, since its content cannot be trusted.
   */
  onDamagedVolume?(d: DamagedVolume): void;
  /** Called for an item skipped because of damage. */
  onSkipped?(index: Index, why: string): void;
}

function showIndex(i: Index): string {
  return i.length ? Buffer.concat(i.flatMap((c, n) => (n ? [Buffer.from('/'), c] : [c]))).toString() : '.';
}

/**
 * The state at a time as a stream of items in index order (FORMAT.md §11.4 steps 3-6): the merge
 * of the sets' entry streams, each item patched from its newest snapshot through the later diffs.
 * restore writes these; verify compares them with the live tree.
 */
export async function* restoredEntries(
  ctx: ReadContext,
  sets: BackupSet[],
  prefix: Index,
  o: RestoredEntriesOptions = {},
): AsyncGenerator<RestoredEntry> {
  const log = ctx.log ?? quietLog;
  const damaged: DamagedVolume[] = [];
  const readers: SetReader[] = [];
  const manifests = [];
  for (const set of sets) {
    const { manifest, bytes } = await manifestOf(ctx, set);
    const volumes = volumesFor(manifest, prefix);
    // Every set's first volume is read at once (the merge below needs each set's first entry).
    startAhead(ctx, set, volumes);
    manifests.push({ set, bytes, volumes });
  }
  for (const { set, bytes, volumes } of manifests) {
    const vouched = await signerVouches(ctx, set, bytes);
    const onVolumeError = o.onDamagedVolume
      ? (volume: ManifestVolume, error: Error) => {
          const d = { set, volume, error };
          damaged.push(d);
          o.onDamagedVolume!(d);
        }
      : undefined;
    readers.push(new SetReader(ctx, set, volumes, onVolumeError, vouched));
  }
  const damageAt = (index: Index) =>
    damaged.find((d) => compareIndex(d.volume.start, index) <= 0 && compareIndex(index, d.volume.end) <= 0);
  try {
    // Every set's first entry at once; a failure is reported for the oldest set that failed, not whichever
    // failed first (its first volume may be the smallest, so the quickest to fetch).
    const settled = await Promise.allSettled(readers.map((r) => r.next()));
    const heads = settled.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    });
    for (;;) {
      let min: Index | null = null;
      for (const h of heads) if (h && (min === null || compareIndex(h.index, min) < 0)) min = h.index;
      if (min === null) break;
      const group: { slot: number; entry: SetEntry }[] = [];
      heads.forEach((h, slot) => {
        if (h && compareIndex(h.index, min!) === 0) group.push({ slot, entry: h });
      });
      const hit = startsWith(min, prefix) ? damageAt(min) : undefined;
      if (hit) {
        o.onSkipped?.(min, `it is in damaged volume ${hit.volume.number} of the ${hit.set.type} backup set of ${formatTimeString(hit.set.endTime)}`);
      } else if (startsWith(min, prefix)) {
        // Walk back from the newest entry to the first snapshot or deletion.
        let b = group.length - 1;
        while (b >= 0 && group[b].entry.kind === 'diff') b--;
        if (b < 0) {
          log.warn(`skipping ${showIndex(min)}: its diffs have no base snapshot`);
        } else if (group[b].entry.kind === 'snapshot') {
          const base = group[b].entry;
          const diffs = group.slice(b + 1).map((g) => g.entry);
          const newest = diffs.length ? diffs[diffs.length - 1] : base;
          const content = base.header.type === 'file' || diffs.length ? chainContent(ctx, base, diffs) : undefined;
          const writeInto = diffs.length ? (fd: number, pieces: PieceWriter) => writeChain(ctx, base, diffs, fd, pieces) : undefined;
          yield { rel: min.slice(prefix.length), header: newest.header, content, writeInto };
        }
      }
      for (const g of group) heads[g.slot] = await readers[g.slot].next();
    }
  } finally {
    await Promise.all(readers.map((r) => r.close().catch(() => undefined)));
  }
}

export async function restore(ctx: ReadContext, col: Collection, o: RestoreOptions): Promise<RestoreResult> {
  const log = ctx.log ?? quietLog;
  const chain = backupChainAt(col, o.time);
  const sets = chain.setsAt(o.time);
  const prefix = restorePrefix(o.fileToRestore);
  const renames = (o.rename ?? []).map(([from, to]) => [restorePrefix(from), restorePrefix(to)] as const);
  const writer = new TargetWriter(o.target, {
    // Renamed items leave index order, so a directory is not complete when the next item is outside it.
    deferDirMetadata: renames.length > 0,
    restoreOwnership: o.restoreOwnership ?? process.getuid?.() === 0,
    numericOwner: o.numericOwner,
    force: o.force,
    log,
    backgroundFiles: !o.ignoreErrors,
  });
  await writer.checkTarget();

  let found = false;
  const skipped: string[] = [];
  const damaged: DamagedVolume[] = [];
  const ignore: RestoredEntriesOptions = o.ignoreErrors
    ? {
        onDamagedVolume: (d) => {
          damaged.push(d);
          log.warn(
            `Error reading volume ${d.volume.number} of the ${d.set.type} backup set of ${formatTimeString(d.set.endTime)} ` +
              `(items ${showIndex(d.volume.start)} to ${showIndex(d.volume.end)}), ignored (--ignore-errors): ${d.error.message}`,
          );
        },
        onSkipped: (index, why) => {
          skipped.push(showIndex(index));
          log.warn(`Skipping ${showIndex(index)}: ${why}`);
        },
      }
    : {};
  try {
    for await (const e of restoredEntries(ctx, sets, prefix, ignore)) {
      if (renames.length) e.rel = renamedIndex(e.rel, renames);
      if (!o.ignoreErrors) {
        await writer.write(e.rel, e.header, e.content, e.writeInto);
      } else {
        try {
          await writer.write(e.rel, e.header, e.content, e.writeInto);
        } catch (err) {
          // A file whose content continued into a damaged volume, or whose delta failed.
          skipped.push(showIndex(e.rel));
          log.warn(`Skipping ${showIndex(e.rel)}: ${(err as Error).message}`);
          continue;
        }
      }
      found = true;
    }
  } catch (err) {
    await writer.abandon();
    throw err;
  }
  await writer.finish();
  if (damaged.length || skipped.length) {
    log.warn(`Restore finished with errors ignored: ${damaged.length} damaged volume(s), ${skipped.length} item(s) not restored.`);
  }
  if (!found) {
    if (prefix.length) throw userError(`${o.fileToRestore} not found in archive - no files restored.`, 19);
    throw userError('No files found in archive - nothing restored.', 20);
  }
  return { items: writer.written, sets, skipped, damaged };
}
