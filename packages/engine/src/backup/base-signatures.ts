/**
 * The state a signature chain ends in (FORMAT.md §5.2): the full-signatures tar and every
 * new-signatures tar of the chain read side by side in index order; for each index the entry of
 * the latest file wins and a `deleted/` entry means the item is gone. Only the winning entry's
 * signature is read into memory, one at a time.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { compareIndex, parseEntryName, readTar, type Index, type TarHeader } from '@duplicity-ts/archive';

export interface BaseEntry {
  index: Index;
  /** `signature` for regular files, `snapshot` for every other type. */
  kind: 'signature' | 'snapshot';
  header: TarHeader;
  /** The librsync signature of a regular file. */
  signature?: Buffer;
}

type Head = { index: Index; kind: string; header: TarHeader; body: AsyncIterable<Uint8Array> };

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** Merges the plain sigtar streams of one chain, oldest first. */
export async function* combineSignatures(streams: AsyncIterable<Uint8Array>[]): AsyncGenerator<BaseEntry> {
  const readers = streams.map((s) => readTar(s)[Symbol.asyncIterator]());
  const heads: (Head | undefined)[] = [];
  const advance = async (i: number) => {
    const r = await readers[i].next();
    if (r.done) {
      heads[i] = undefined;
      return;
    }
    const { kind, index } = parseEntryName(r.value.header.name, 'sigtar');
    heads[i] = { index, kind, header: r.value.header, body: r.value.body };
  };
  for (let i = 0; i < readers.length; i++) await advance(i);
  for (;;) {
    let min: Index | undefined;
    for (const h of heads) if (h && (min === undefined || compareIndex(h.index, min) < 0)) min = h.index;
    if (min === undefined) return;
    let winner = -1;
    for (let i = 0; i < heads.length; i++) if (heads[i] && compareIndex(heads[i]!.index, min) === 0) winner = i;
    const w = heads[winner]!;
    let out: BaseEntry | undefined;
    if (w.kind === 'signature') out = { index: w.index, kind: 'signature', header: w.header, signature: await collect(w.body) };
    else if (w.kind === 'snapshot') out = { index: w.index, kind: 'snapshot', header: w.header };
    for (let i = 0; i < heads.length; i++) if (heads[i] && compareIndex(heads[i]!.index, min) === 0) await advance(i);
    if (out) yield out;
  }
}

/** A cached `.sigtar.gz` (or plain `.sigtar`) as a byte stream. */
export function cachedSigtar(file: string): AsyncIterable<Uint8Array> {
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  // Big output chunks: each chunk is a thread-pool round trip.
  return file.endsWith('.gz') ? raw.pipe(createGunzip({ chunkSize: 1 << 20 })) : raw;
}
