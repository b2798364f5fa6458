/**
 * BZip2 decompression for Compressed Data packets with algorithm 3 (`gpg --compress-algo bzip2`); node:zlib has
 * no bzip2 codec. The block decoder is unbzip2-stream's (its lib/bzip2.js and lib/bit_iterator.js). We drive it
 * here instead of through the package's `through` stream wrapper, which collects every output byte in a JavaScript
 * array before making a Buffer (3-4x slower, and a plain array costs 8+ bytes per output byte): our sink writes into
 * 1 MiB Buffers. Input is pulled only when the decoder needs a further block (at most 900 kB compressed), and a
 * block's output is handed on only after its CRC matched, so memory stays bounded by one block and its output.
 */
import { createRequire } from 'node:module';

/** Reads `n` bits (or aligns to a byte with `null`); `bytesRead` counts the bytes touched so far. */
interface BitReader {
  (n: number | null): number;
  bytesRead: number;
}
interface Bzip2Decoder {
  /** Reads the stream header "BZh1".."BZh9"; returns the block size level. */
  header(bits: BitReader): number;
  /** Decodes one block into `out`; returns the running stream CRC, or null after the end-of-stream marker. */
  decompress(bits: BitReader, out: (byte: number) => void, buf: Int32Array, bufSize: number, streamCrc: number): number | null;
}

const require = createRequire(import.meta.url);
const decoder = require('unbzip2-stream/lib/bzip2.js') as Bzip2Decoder;
const bitIterator = require('unbzip2-stream/lib/bit_iterator.js') as (next: () => Uint8Array | undefined) => BitReader;

const OUT_CHUNK = 1 << 20;
/** Worst-case compressed size of a block of `level` (100 kB units), plus slack: what must be buffered before decoding. */
const blockInput = (level: number) => 25000 + 100000 * level;

export async function* bunzip2(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = src[Symbol.asyncIterator]();
  const queue: Uint8Array[] = [];
  let received = 0;
  let srcDone = false;
  const pull = async (): Promise<boolean> => {
    for (;;) {
      const r = await it.next();
      if (r.done) {
        srcDone = true;
        return false;
      }
      if (r.value.length === 0) continue;
      queue.push(r.value);
      received += r.value.length;
      return true;
    }
  };
  if (!(await pull())) return;
  // The bit reader pulls the next buffer itself; running dry means the data ended inside a block.
  const bits = bitIterator(() => queue.shift());
  const fill = async (n: number) => {
    while (!srcDone && received - bits.bytesRead < n) await pull();
  };

  let out = Buffer.allocUnsafe(OUT_CHUNK);
  let pos = 0;
  const ready: Buffer[] = [];
  const sink = (b: number) => {
    out[pos++] = b;
    if (pos === OUT_CHUNK) {
      ready.push(out);
      out = Buffer.allocUnsafe(OUT_CHUNK);
      pos = 0;
    }
  };

  let level = 0;
  let crc = 0;
  let work: Int32Array | undefined;
  // Only the decoder's own failures are renamed; errors from upstream (an MDC mismatch) pass through as they are.
  const decode = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      const why = err instanceof TypeError ? 'the data ends inside a block' : err instanceof Error ? err.message : String(err);
      throw new Error(`corrupt or truncated BZip2-compressed data (${why})`);
    }
  };
  try {
    for (;;) {
      await fill(level ? blockInput(level) : 4);
      if (!level) {
        // Between streams: a clean end, or another concatenated bzip2 stream.
        if (srcDone && received === bits.bytesRead) break;
        level = decode(() => decoder.header(bits));
        if (!work || work.length < 100000 * level) work = new Int32Array(100000 * level);
        crc = 0;
        continue;
      }
      const next = decode(() => decoder.decompress(bits, sink, work!, 100000 * level, crc));
      if (pos > 0) {
        ready.push(out.subarray(0, pos));
        out = Buffer.allocUnsafe(OUT_CHUNK);
        pos = 0;
      }
      while (ready.length) yield ready.shift()!;
      if (next === null) level = 0;
      else crc = next;
    }
  } finally {
    await it.return?.();
  }
}
