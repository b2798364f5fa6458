/**
 * Compressed Data packets (RFC 4880 §5.6): ZIP is raw deflate, ZLIB is RFC 1950, both through node:zlib
 * (native, several times faster than a JavaScript inflater). BZip2 has no node:zlib codec; its decoder lives
 * in bzip2.ts.
 */
import { Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import { bunzip2 } from './bzip2.js';

export const ALGO_NONE = 0;
export const ALGO_ZIP = 1;
export const ALGO_ZLIB = 2;
export const ALGO_BZIP2 = 3;

// Output chunk size: 64 KiB measured as cheap as 256 KiB per byte (fewer hops vs. more memory churn).
const CHUNK = 1 << 16;

/** Runs an async iterable through a node transform stream with back-pressure, rethrowing errors from either. */
export async function* throughStream(src: AsyncIterable<Uint8Array>, t: Duplex): AsyncGenerator<Uint8Array> {
  const input = Readable.from(src, { objectMode: false, highWaterMark: CHUNK });
  pipeline(input, t, () => {});
  for await (const c of t) yield c as Buffer;
}

export function decompress(algo: number, body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  switch (algo) {
    case ALGO_NONE:
      return body;
    case ALGO_ZIP:
      return throughStream(body, zlib.createInflateRaw({ chunkSize: CHUNK }));
    case ALGO_ZLIB:
      return throughStream(body, zlib.createInflate({ chunkSize: CHUNK }));
    case ALGO_BZIP2:
      return bunzip2(body);
    default:
      throw new Error(`unsupported compression algorithm ${algo}`);
  }
}
