/**
 * The combined signature chain (FORMAT.md §5.2) and list-current-files (§13.2): the full-signatures
 * file and the new-signatures files up to a time, read in parallel in index order; for each index the
 * newest entry wins and a `deleted/` entry removes it. Reads the cache's `.sigtar.gz` copies, or the
 * backend's files when the cache lacks one.
 */
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Index, TarHeader } from '@duplicity-ts/archive';
import type { NamedFile } from '../collection/backup-set.js';
import { signatureChainAt, type Collection } from '../collection/collection.js';
import { combineSigtars } from '../collection/combined-signatures.js';
import { metadataKey } from '../cache/archive-dir.js';
import { fetchFile, userError, type FetchedFile, type ReadContext } from '../restore/remote-file.js';
import { asctime } from './time-format.js';

export interface CurrentEntry {
  index: Index;
  header: TarHeader;
}

async function openSigtar(ctx: ReadContext, f: NamedFile): Promise<{ stream: AsyncIterable<Uint8Array>; fetched?: FetchedFile }> {
  const cached = path.join(ctx.archiveDir, `${metadataKey(f.name)}.gz`);
  const local = path.join(ctx.archiveDir, f.name);
  for (const p of [local, cached]) {
    if (!p.endsWith('.gz')) continue;
    try {
      await access(p);
    } catch {
      continue;
    }
    return { stream: createReadStream(p).pipe(createGunzip()) };
  }
  const fetched = await fetchFile(ctx, f.name, f.parsed);
  return { stream: fetched.plaintext(), fetched };
}

/** A signature file's plain bytes; a fetched copy is disposed of when the reading ends. */
async function* sigtarBytes(ctx: ReadContext, f: NamedFile): AsyncGenerator<Uint8Array> {
  const { stream, fetched } = await openSigtar(ctx, f);
  try {
    yield* stream;
  } finally {
    await fetched?.dispose();
  }
}

/** The entries that exist at the end of the given signature files (oldest first), in index order. */
export async function* combineSignatures(ctx: ReadContext, files: NamedFile[]): AsyncGenerator<CurrentEntry> {
  for await (const e of combineSigtars(files.map((f) => ({ name: f.name, bytes: sigtarBytes(ctx, f) })))) {
    yield { index: e.index, header: e.header };
  }
}

/** The combined signature chain at `time` (exit 30 when there is none, as duplicity). */
export function currentEntries(ctx: ReadContext, col: Collection, time: number): AsyncGenerator<CurrentEntry> {
  const chain = signatureChainAt(col, time);
  if (!chain) throw userError('no signature chains found: nothing to list', 30);
  if (time < chain.startTime) {
    ctx.log?.warn(
      `No signature chain for the requested time. Using oldest available chain, starting at time ${asctime(chain.startTime)}.`,
    );
  }
  return combineSignatures(ctx, chain.filesAt(time));
}

/** list-current-files lines: `<asctime(mtime)> <path>` with the root as `.`. */
export async function* listCurrentFiles(ctx: ReadContext, col: Collection, time: number): AsyncGenerator<Buffer> {
  for await (const e of currentEntries(ctx, col, time)) {
    const p = e.index.length ? Buffer.concat(e.index.flatMap((c, i) => (i ? [Buffer.from('/'), c] : [c]))) : Buffer.from('.');
    yield Buffer.concat([Buffer.from(`${asctime(Math.max(0, e.header.mtime))} `), p]);
  }
}
