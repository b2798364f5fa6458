/**
 * The previous state an incremental backup compares the source with (FORMAT.md §5.2): the cached
 * sigtars of the chain merged by the one combined-chain reader, with the winning signatures' bytes.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { inflaterEngine } from '@duplicity-ts/libdeflate';
import { collect, combineSigtars, type CombinedEntry } from '../collection/combined-signatures.js';
import { inflateFileSync } from '../restore/gunzip.js';

export type BaseEntry = CombinedEntry;

/** Merges the plain sigtar streams of one chain, oldest first. */
export function combineSignatures(streams: AsyncIterable<Uint8Array>[]): AsyncGenerator<BaseEntry> {
  return combineSigtars(
    streams.map((bytes, i) => ({ name: `#${i + 1} of the chain`, bytes })),
    { signatures: true },
  );
}

/**
 * The cached sigtars of a chain's files (oldest first), merged. Signatures are read on demand
 * (`signatureBody`, see `signatureOf`): only changed files need theirs.
 *
 * The files are read and inflated synchronously in this thread where the addon's inflater is there
 * (cachedSigtarSync): that is the incremental's main thread, which walks the source at the same time,
 * and the stream of promises per header, read and chunk of the asynchronous reader was most of what
 * the chain's signatures cost it (1 GiB, 16k files, 24 MB of sigtar: 0.40 s against 0.25 s).
 */
export function combineCachedSignatures(files: string[]): AsyncGenerator<BaseEntry> {
  const sync = inflaterEngine() !== undefined;
  return combineSigtars(
    files.map((file) => ({ name: path.basename(file), bytes: sync ? cachedSigtarSync(file) : cachedSigtar(file) })),
    { signatures: 'lazy' },
  );
}

/** A base entry's signature, read now if it was left lazy (before the base moves on). */
export async function signatureOf(e: BaseEntry): Promise<Buffer | undefined> {
  if (e.signature === undefined && e.signatureBody) e.signature = await collect(e.signatureBody);
  return e.signature;
}

/** A cached `.sigtar.gz` (or plain `.sigtar`) as a byte stream. */
export function cachedSigtar(file: string): AsyncIterable<Uint8Array> {
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  // Big output chunks: each chunk is a thread-pool round trip.
  return file.endsWith('.gz') ? raw.pipe(createGunzip({ chunkSize: 1 << 20 })) : raw;
}

const READ_CHUNK = 1 << 20;

/**
 * cachedSigtar read synchronously: a `.sigtar.gz` through the addon's inflater (inflateFileSync; check
 * `inflaterEngine()` first), a plain `.sigtar` as it is. Pieces are views of reused buffers, valid
 * until the next one is asked for.
 */
export function* cachedSigtarSync(file: string): Generator<Uint8Array> {
  if (file.endsWith('.gz')) {
    yield* inflateFileSync(file);
    return;
  }
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) yield buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
