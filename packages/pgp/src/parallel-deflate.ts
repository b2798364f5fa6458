/**
 * Deflate for Compressed Data packets (ZIP = raw deflate, ZLIB = RFC 1950), cut into 1 MiB segments compressed
 * concurrently on libuv's thread pool, the way pigz does: each segment is primed with the previous segment's
 * last 32 KiB as its dictionary (so the ratio matches one stream), ends on a sync flush (byte-aligned, not final),
 * and the outputs are concatenated in order, then closed by an empty final block. gpg's single-threaded zlib is
 * the bottleneck of encryption; one stream through node:zlib was too, with the main thread idle. node:zlib has
 * no such mode, hence this module.
 *
 * Incompressible segments (random or already-compressed data) are stored (level 0): a 64 KiB sample of each is
 * test-deflated at level 1 and must shrink by 3 %. Stored blocks are still valid deflate for any inflater.
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';

const deflateRaw = promisify(zlib.deflateRaw) as (b: Uint8Array, o: zlib.ZlibOptions) => Promise<Buffer>;

const SEGMENT = 1 << 20;
const WINDOW = 32 << 10;
const PROBE = 64 << 10;
/** Segments in flight: enough to keep the thread pool busy, few enough to bound memory (about 2x this many MiB). */
const IN_FLIGHT = 4;
/** An empty deflate block with BFINAL set (fixed Huffman, end-of-block code only). */
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);

function incompressible(seg: Buffer): boolean {
  const sample = seg.subarray(0, PROBE);
  return sample.length >= 4096 && zlib.deflateRawSync(sample, { level: 1 }).length > sample.length * 0.97;
}

/** Adler-32 (RFC 1950 §8.2) kept up to date over the segments, for the ZLIB trailer. */
class Adler32 {
  private a = 1;
  private b = 0;
  update(buf: Uint8Array): void {
    let { a, b } = this;
    for (let i = 0; i < buf.length;) {
      // 5552 is the most bytes before b can overflow 2^32 (zlib's NMAX); reduce modulo 65521 after each run.
      const end = Math.min(buf.length, i + 5552);
      for (; i < end; i++) {
        a += buf[i]!;
        b += a;
      }
      a %= 65521;
      b %= 65521;
    }
    this.a = a;
    this.b = b;
  }
  digest(): Buffer {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(((this.b << 16) | this.a) >>> 0);
    return out;
  }
}

/** The deflated form of `src` (raw deflate, or a zlib stream when `zlibFormat`), streamed in order. */
export async function* parallelDeflate(src: AsyncIterable<Uint8Array>, zlibFormat: boolean, level: number): AsyncGenerator<Uint8Array> {
  const adler = zlibFormat ? new Adler32() : undefined;
  // CMF 0x78 (deflate, 32 KiB window), FLG 0x9C (default level, no preset dictionary, check bits).
  if (zlibFormat) yield Buffer.from([0x78, 0x9c]);
  const pending: Promise<Buffer>[] = [];
  let prevTail: Buffer | undefined;
  const start = (seg: Buffer) => {
    adler?.update(seg);
    const segLevel = level > 0 && incompressible(seg) ? 0 : level;
    // 256 KiB output buffers: the default 16 KiB ones cost a thread-pool round trip each.
    const opts: zlib.ZlibOptions = { level: segLevel, finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: 1 << 18 };
    if (prevTail && segLevel > 0) opts.dictionary = prevTail;
    prevTail = Buffer.from(seg.subarray(Math.max(0, seg.length - WINDOW)));
    const p = deflateRaw(seg, opts);
    p.catch(() => {}); // awaited in order below; avoid an unhandled rejection while earlier ones are pending
    pending.push(p);
  };

  // Input is copied into the segment at once, so a source may reuse its buffers after each chunk.
  let seg = Buffer.allocUnsafe(SEGMENT);
  let have = 0;
  for await (const c of src) {
    let off = 0;
    while (off < c.length) {
      const n = Math.min(c.length - off, SEGMENT - have);
      seg.set(c.subarray(off, off + n), have);
      have += n;
      off += n;
      if (have === SEGMENT) {
        start(seg);
        seg = Buffer.allocUnsafe(SEGMENT);
        have = 0;
        while (pending.length >= IN_FLIGHT) yield await pending.shift()!;
      }
    }
  }
  if (have) start(seg.subarray(0, have));
  while (pending.length) yield await pending.shift()!;
  yield FINAL_BLOCK;
  if (adler) yield adler.digest();
}
