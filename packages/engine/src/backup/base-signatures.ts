/**
 * The previous state an incremental backup compares the source with (FORMAT.md §5.2): the cached
 * sigtars of the chain merged by the one combined-chain reader, with the winning signatures' bytes.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { combineSigtars, type CombinedEntry } from '../collection/combined-signatures.js';

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
 * (`readSignature`, see `signatureOf`): only changed files need theirs.
 */
export function combineCachedSignatures(files: string[]): AsyncGenerator<BaseEntry> {
  return combineSigtars(
    files.map((file) => ({ name: path.basename(file), bytes: cachedSigtar(file) })),
    { signatures: 'lazy' },
  );
}

/** A base entry's signature, read now if it was left lazy (before the base moves on). */
export async function signatureOf(e: BaseEntry): Promise<Buffer | undefined> {
  if (e.signature === undefined && e.readSignature) e.signature = await e.readSignature();
  return e.signature;
}

/** A cached `.sigtar.gz` (or plain `.sigtar`) as a byte stream. */
export function cachedSigtar(file: string): AsyncIterable<Uint8Array> {
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  // Big output chunks: each chunk is a thread-pool round trip.
  return file.endsWith('.gz') ? raw.pipe(createGunzip({ chunkSize: 1 << 20 })) : raw;
}
