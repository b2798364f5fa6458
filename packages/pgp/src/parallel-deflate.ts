/**
 * Deflate for Compressed Data packets (ZIP = raw deflate, ZLIB = RFC 1950), cut into 1 MiB segments compressed
 * concurrently on libuv's thread pool, the way pigz does: each segment ends byte-aligned on a non-final block,
 * the outputs are concatenated in order, then closed by an empty final block. gpg's single-threaded zlib is the
 * bottleneck of encryption; one stream through node:zlib was too, with the main thread idle.
 *
 * With the addon (packages/libdeflate) built with ISA-L, each segment is deflated on its own by ISA-L, which ends
 * it with a sync flush itself; that is the default (DEFAULT_LEVEL says what it costs in size). With a level asked
 * for (gpg's -z), or an addon without ISA-L, libdeflate deflates each segment, and the addon turns its last block
 * non-final and follows it with the empty stored block of a sync flush (it checks, by inflating, that the segment
 * decodes to its input). That costs a quarter to a third less CPU than node:zlib, inflate check included, and on
 * the bench corpus the output is 1.6 % smaller even though each 1 MiB segment starts without the previous one's
 * 32 KiB as a dictionary (docs/PERFORMANCE.md).
 * Without the addon (or with DUPLICITY_TS_NO_LIBDEFLATE=1) node:zlib does it pigz's way: each segment is
 * primed with the previous segment's last 32 KiB as its dictionary and ends on a sync flush; node:zlib has no
 * such mode for one stream, hence this module.
 *
 * Incompressible segments (random or already-compressed data, see incompressible()) are written as stored blocks,
 * still valid deflate for any inflater.
 */
import * as libdeflate from '@duplicity-ts/libdeflate';
import * as zlib from 'node:zlib';

/**
 * Raw deflate of `data` on the thread pool, as the output pieces zlib produced. Not zlib.deflateRaw():
 * that joins the pieces into one fresh buffer, a copy the framing layer after this one does not need.
 */
function deflateRaw(data: Uint8Array, opts: zlib.ZlibOptions): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const z = zlib.createDeflateRaw(opts);
    const out: Buffer[] = [];
    z.on('data', (c: Buffer) => out.push(c));
    z.on('end', () => resolve(out));
    z.on('error', reject);
    z.end(data);
  });
}

const SEGMENT = 1 << 20;
const WINDOW = 32 << 10;
const PROBE = 16 << 10;
/** Segments in flight: enough to keep the thread pool busy, few enough to bound memory (about 2x this many MiB). */
const IN_FLIGHT = 4;
/** An empty deflate block with BFINAL set (fixed Huffman, end-of-block code only). */
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);
/** Deflate's stored blocks hold at most this many bytes (RFC 1951 §3.2.4). */
const STORED_MAX = 65535;

/**
 * Byte entropy (bits per byte) of about 4096 bytes sampled across `seg`. The estimate runs low for random data
 * (about 7.95 for 8), so a low value is safe evidence of compressible data.
 */
function sampledEntropy(seg: Uint8Array): number {
  const counts = new Uint32Array(256);
  const step = Math.max(1, Math.floor(seg.length / 4096));
  let n = 0;
  for (let i = 0; i < seg.length; i += step, n++) counts[seg[i]!]!++;
  let e = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b]!;
    if (c) e -= (c / n) * Math.log2(c / n);
  }
  return e;
}

/**
 * True for random or already-compressed data: a sampled byte entropy near 8 bits (under 7.5 Huffman coding alone
 * saves more than 5 %) and a 16 KiB test deflate at level 1 that does not shrink by 3 %. Text never pays for the
 * test deflate, which runs on the main thread.
 */
function incompressible(seg: Uint8Array): boolean {
  if (seg.length < 4096 || sampledEntropy(seg) < 7.5) return false;
  const sample = seg.subarray(0, PROBE);
  return zlib.deflateRawSync(sample, { level: 1 }).length > sample.length * 0.97;
}

/** Bytes of a segment of `n` bytes written as stored blocks: the data and 5 framing bytes per block. */
const storedSize = (n: number) => n + Math.ceil(n / STORED_MAX) * 5;

/**
 * `data` as stored (uncompressed) deflate blocks, none final, laid out in `into` (at least
 * storedSize(data.length) bytes) as one piece. Written here rather than by zlib at level 0, which
 * would copy the segment twice (into its output chunks, then joined). One contiguous piece rather than
 * block headers between views of `data`: the packet framing after this copies every part it cannot
 * complete, and 5-byte headers would leave one such part per stored block.
 */
function storedBlocks(data: Uint8Array, into: Buffer): Buffer {
  let o = 0;
  for (let off = 0; off < data.length; off += STORED_MAX) {
    const n = Math.min(STORED_MAX, data.length - off);
    // BFINAL 0, BTYPE 00, padding to the byte (the stream is byte-aligned after a sync flush), LEN, NLEN.
    into[o] = 0;
    into.writeUInt16LE(n, o + 1);
    into.writeUInt16LE(~n & 0xffff, o + 3);
    into.set(data.subarray(off, off + n), o + 5);
    o += 5 + n;
  }
  return into.subarray(0, o);
}

/**
 * Adler-32 (RFC 1950 §8.2) kept up to date over the segments, for the ZLIB trailer: zlib's (through the addon)
 * when available, about twice as fast as this loop on the main thread.
 */
class Adler32 {
  private a = 1;
  private b = 0;
  private native = libdeflate.segmentsAvailable() ? 1 : undefined;
  update(buf: Uint8Array): void {
    if (this.native !== undefined) {
      this.native = libdeflate.adler32(buf, this.native);
      return;
    }
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
    out.writeUInt32BE(this.native ?? ((this.b << 16) | this.a) >>> 0);
    return out;
  }
}

/** Who deflates the segments: ISA-L or libdeflate in the addon, or node:zlib. */
export type Deflater = 'isa-l' | 'libdeflate' | 'zlib';

/**
 * The level used when none is asked for, by deflater.
 *
 * libdeflate and node:zlib: the cheapest level whose output is still no bigger than gpg's (zlib level 6 with an
 * 8 KiB window). Measured on 300 MiB of real files (node_modules, /usr/include, /usr/share/doc, /usr/lib/python3)
 * in 1 MiB segments: gpg's settings 116.1 MB; libdeflate level 1 115.3 MB (1.51 s of CPU), 2 113.2 MB (1.98 s),
 * 4 110.8 MB (2.23 s), 5 109.5 MB (2.60 s). Level 1 is too close to gpg's size to promise it elsewhere, so
 * libdeflate takes 2. node:zlib takes 5: its full 32 KiB window makes output as small as gpg's or smaller
 * (6.64 MB vs 6.77 MB for 32 MiB of text) in 40 % less CPU than level 6.
 *
 * ISA-L, the default where the addon has it: level 3 trades a few percent of size for half the CPU. On another
 * 300 MiB of the same kinds of files: gpg's settings 81.4 MB (6.73 s of CPU); libdeflate level 2 79.8 MB
 * (1.78 s); ISA-L level 3 83.7 MB (0.96 s; +2.8 % on gpg), level 2 87.3 MB (0.56 s), level 1 88.5 MB (0.53 s).
 * On the bench corpus's text and small files (615 MB): gpg's 388.5 MB, libdeflate 2 327.3 MB (7.04 s), ISA-L 3
 * 349.0 MB (1.93 s). The deflate is most of an encrypted full backup's CPU, and the backups run every night;
 * `-z N` in --gpg-options (N 1-9) still asks for libdeflate at level N, as small as before or smaller.
 */
export const DEFAULT_LEVEL = { 'isa-l': 3, libdeflate: 2, zlib: 5 } as const;

/** The deflater for a level asked for (gpg's -z, 1-9) or the default: the fastest one this build has. */
function deflaterFor(requestedLevel: number | undefined): Deflater {
  if (requestedLevel === undefined && libdeflate.isalSegmentsAvailable()) return 'isa-l';
  const libdeflateLevel = requestedLevel === undefined || (requestedLevel >= 1 && requestedLevel <= 9);
  return libdeflate.segmentsAvailable() && libdeflateLevel ? 'libdeflate' : 'zlib';
}

/**
 * The deflated form of `src` (raw deflate, or a zlib stream when `zlibFormat`), streamed in order as batches of
 * pieces. Input pieces are copied into the segment at once, so a source may reuse its buffers after each batch;
 * a yielded batch may hold views of a segment buffer that is reused once the next batch is asked for.
 * `segmentSize` is for tests (segment boundaries at small sizes).
 */
export async function* parallelDeflate(
  src: AsyncIterable<Uint8Array[]>,
  zlibFormat: boolean,
  requestedLevel: number | undefined,
  held: { bytes: number } = { bytes: 0 },
  { segmentSize = SEGMENT, deflater = deflaterFor(requestedLevel) }: { segmentSize?: number; deflater?: Deflater } = {},
): AsyncGenerator<Uint8Array[]> {
  if (!(segmentSize >= 1)) throw new RangeError(`deflate segment size must be at least 1 byte, got ${segmentSize}`);
  // libdeflate's levels 1-9 are zlib's scale (its 10-12 are slower, smaller ones zlib lacks); 0 is stored anyway.
  const level = requestedLevel ?? DEFAULT_LEVEL[deflater];
  const viaAddon = deflater !== 'zlib';
  const deflateInto = deflater === 'isa-l' ? libdeflate.isalSegmentInto : libdeflate.deflateSegmentInto;
  const segmentBound = viaAddon ? libdeflate.deflateSegmentBound(segmentSize) : 0;
  const adler = zlibFormat ? new Adler32() : undefined;
  // CMF 0x78 (deflate, 32 KiB window), FLG 0x9C (default level, no preset dictionary, check bits).
  if (zlibFormat) yield [Buffer.from([0x78, 0x9c])];
  const pending: { seg: Buffer; len: number; stored?: Buffer; deflated?: Buffer; out: Promise<Uint8Array[]> }[] = [];
  // Segment buffers (and stored-block and libdeflate outputs) are recycled: a fresh megabyte per segment costs
  // page faults on this path every time.
  const free: Buffer[] = [];
  const freeStored: Buffer[] = [];
  const freeDeflated: Buffer[] = [];
  let prevTail: Buffer | undefined;
  const start = (seg: Buffer, len: number) => {
    const data = seg.subarray(0, len);
    adler?.update(data);
    const stored = level === 0 || incompressible(data);
    let out: Promise<Uint8Array[]>;
    let storedOut: Buffer | undefined;
    let deflatedOut: Buffer | undefined;
    if (stored) {
      storedOut = freeStored.pop() ?? Buffer.allocUnsafe(storedSize(segmentSize));
      out = Promise.resolve([storedBlocks(data, storedOut)]);
    } else if (viaAddon) {
      const into = (deflatedOut = freeDeflated.pop() ?? Buffer.allocUnsafe(segmentBound));
      out = deflateInto(data, into, level).then((n) => {
        if (n === 0) throw new Error(`deflate segment of ${len} bytes did not fit its ${into.length}-byte bound`);
        return [into.subarray(0, n)];
      });
      out.catch(() => {}); // awaited in order below; avoid an unhandled rejection while earlier ones are pending
    } else {
      // 256 KiB output buffers: the default 16 KiB ones cost a thread-pool round trip each.
      const opts: zlib.ZlibOptions = { level, finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: 1 << 18 };
      if (prevTail) opts.dictionary = prevTail;
      out = deflateRaw(data, opts);
      out.catch(() => {}); // awaited in order below; avoid an unhandled rejection while earlier ones are pending
    }
    // Only node:zlib's segments are primed with the previous segment's tail.
    if (!viaAddon) prevTail = Buffer.from(data.subarray(Math.max(0, len - WINDOW)));
    pending.push({ seg, len, stored: storedOut, deflated: deflatedOut, out });
  };
  /** Yields the oldest segment's output; its buffer is free again once the consumer asks for more. */
  async function* oldest(): AsyncGenerator<Uint8Array[]> {
    const job = pending.shift()!;
    const out = await job.out;
    held.bytes -= job.len;
    yield out;
    free.push(job.seg);
    if (job.stored) freeStored.push(job.stored);
    if (job.deflated) freeDeflated.push(job.deflated);
  }

  let seg: Buffer = Buffer.allocUnsafe(segmentSize);
  let have = 0;
  for await (const batch of src) {
    for (const c of batch) {
      let off = 0;
      while (off < c.length) {
        const n = Math.min(c.length - off, segmentSize - have);
        seg.set(off === 0 && n === c.length ? c : c.subarray(off, off + n), have);
        have += n;
        held.bytes += n;
        off += n;
        if (have === segmentSize) {
          start(seg, have);
          while (pending.length >= IN_FLIGHT) yield* oldest();
          seg = free.pop() ?? Buffer.allocUnsafe(segmentSize);
          have = 0;
        }
      }
    }
  }
  if (have) start(seg, have);
  while (pending.length) yield* oldest();
  yield adler ? [FINAL_BLOCK, adler.digest()] : [FINAL_BLOCK];
}
