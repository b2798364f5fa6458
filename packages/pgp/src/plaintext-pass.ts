/**
 * The inside of a decrypted message (compressed / one-pass signature / literal / signature packets), read in one
 * synchronous pass per chunk: packet-push-parser.ts strips the framing, literal data is hashed for its signatures
 * and handed out as views of the chunk, and only decompression leaves the pass (node:zlib works on the thread
 * pool). Replaces a stack of async generators whose per-chunk hops, joins and garbage cost more CPU than the
 * decryption itself. ZIP and ZLIB data are inflated synchronously by the addon of @duplicity-ts/libdeflate
 * (ISA-L or zlib) when it is there, else by node:zlib on the thread pool.
 */
import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { once } from 'node:events';
import { PacketPushParser, type PacketSink } from './packet-push-parser.js';
import { Tag, MAX_SMALL_PACKET } from './packets.js';
import { parseOnePass, parseSignature, type OnePass, type ParsedSignature } from './signature.js';
import { hashName } from './cipher-algorithms.js';
import { ALGO_BZIP2, ALGO_NONE, ALGO_ZIP, ALGO_ZLIB } from './compression.js';
import { bunzip2 } from './bzip2.js';
import { Inflater, inflaterEngine, poolDigest, poolDigestAvailable, type PoolDigest } from '@duplicity-ts/libdeflate';
import type { Hash } from 'node:crypto';

/**
 * A signature being computed over the literal data. `pool`: the data is hashed on the thread pool instead of
 * `hash` (PacketLevel's pooled hashing); `digest` is then set, over the data and the signature's trailer, before
 * the signature is checked.
 */
export interface Pending { ops?: OnePass; sig?: ParsedSignature; hash: Hash; hashName: string; pool?: PoolDigest; digest?: Buffer }
export type CheckSignature = (p: Pending, sig: ParsedSignature) => void;

const MAX_NESTING = 8;
/**
 * Inflate output buffer size: below glibc's 128 KiB mmap threshold, so buffers are recycled warm (see
 * cfb-decryptor.ts); each full one costs a thread-pool round trip.
 */
const INFLATE_CHUNK = 1 << 16;
/**
 * Decoded bytes one step may hold: zlib stops (stream back-pressure) once this much waits, so a compression bomb
 * holds about this much at a time whatever the input.
 */
const OUT_LIMIT = 1 << 20;

/**
 * A decompressor driven by pushes: write() queues input (only once next() has returned null for the last input),
 * next() returns decoded output in bounded batches and null once all input so far is decoded; after end(), next()
 * runs to the end of the compressed data.
 */
interface Decoder {
  write(input: Uint8Array[]): void;
  next(): Promise<Buffer[] | null>;
  end(): void;
  close(): void;
}

/**
 * A node:zlib stream fed one joined write per batch (each write and each full output buffer is a thread-pool
 * round trip, which cost more than inflating 64 KiB pieces of stored data), paused whenever OUT_LIMIT bytes of
 * output wait for the caller.
 */
class ZlibDecoder implements Decoder {
  private out: Buffer[] = [];
  private outLen = 0;
  private error: Error | undefined;
  /** Writes not yet called back; zlib calls back once a write's input is consumed and its output emitted. */
  private writing = 0;
  private ending = false;
  private ended = false;
  private wake: (() => void) | undefined;
  /** Reused for joining a batch: zlib is done with it when next() returns null, before the next write(). */
  private join = Buffer.alloc(0);

  constructor(private readonly z: zlib.Inflate | zlib.InflateRaw) {
    z.on('data', (b: Buffer) => {
      this.out.push(b);
      this.outLen += b.length;
      if (this.outLen >= OUT_LIMIT) {
        z.pause();
        this.poke();
      }
    });
    z.on('end', () => {
      this.ended = true;
      this.poke();
    });
    z.on('error', (e: Error) => {
      this.error ??= e;
      this.poke();
    });
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  write(input: Uint8Array[]): void {
    let total = 0;
    for (const b of input) total += b.length;
    if (total === 0) return;
    let data: Uint8Array;
    if (input.length === 1) {
      data = input[0]!;
    } else {
      if (this.join.length < total) this.join = Buffer.allocUnsafe(Math.max(total, OUT_LIMIT));
      let o = 0;
      for (const b of input) {
        this.join.set(b, o);
        o += b.length;
      }
      data = this.join.subarray(0, total);
    }
    this.writing++;
    this.z.write(data, () => {
      this.writing--;
      this.poke();
    });
  }

  async next(): Promise<Buffer[] | null> {
    for (;;) {
      if (this.error) throw this.error;
      const done = this.writing === 0 && (!this.ending || this.ended);
      if (this.outLen >= OUT_LIMIT || (done && this.out.length)) {
        const o = this.out;
        this.out = [];
        this.outLen = 0;
        if (this.z.isPaused()) this.z.resume();
        return o;
      }
      if (done) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  end(): void {
    this.ending = true;
    this.z.end();
  }

  close(): void {
    this.z.destroy();
  }
}

/**
 * The addon's synchronous inflater (@duplicity-ts/libdeflate): each next() inflates up to OUT_LIMIT bytes in
 * this thread into one buffer. Decryption runs on a worker thread of its own in a restore, so blocking is fine
 * there, and node:zlib's pool round trips, 64 KiB output chunks and stream callbacks cost that thread more than
 * the inflating (docs/PERFORMANCE.md). With `reuse` that buffer is the same every time: valid until the next
 * next(), which the plaintext pass's consumers honour when the caller asked for reused output.
 */
class AddonDecoder implements Decoder {
  private readonly inflater: Inflater;
  private input: Uint8Array[] = [];
  /** Next piece of `input` to inflate, and how much of it was taken. */
  private at = 0;
  private taken = 0;
  private ending = false;
  /** The last next() filled its buffer: more output may wait inside the inflater. */
  private full = false;
  private out: Buffer | undefined;
  /** `out` was handed out, so without `reuse` the next output needs a fresh buffer. */
  private given = false;

  constructor(format: 'raw' | 'zlib', private readonly reuse: boolean) {
    this.inflater = new Inflater(format);
  }

  write(input: Uint8Array[]): void {
    this.input = input;
    this.at = 0;
    this.taken = 0;
  }

  async next(): Promise<Buffer[] | null> {
    if (!this.out || (this.given && !this.reuse)) this.out = Buffer.allocUnsafe(OUT_LIMIT);
    const out = this.out;
    this.given = false;
    let produced = 0;
    const empty = new Uint8Array(0);
    while (produced < out.length) {
      const piece = this.at < this.input.length ? this.input[this.at]!.subarray(this.taken) : empty;
      if (piece.length === 0 && this.at < this.input.length) {
        this.at++;
        this.taken = 0;
        continue;
      }
      // No input left: only output the inflater still holds (a full buffer last time) can come.
      if (piece.length === 0 && !this.full) break;
      const n = this.inflater.push(piece, out.subarray(produced));
      produced += n;
      this.taken += this.inflater.consumed;
      this.full = produced === out.length;
      if (piece.length === 0 && n === 0) break;
    }
    if (produced === 0) {
      if (this.ending && !this.inflater.ended) throw Object.assign(new Error('unexpected end of file'), { code: 'Z_BUF_ERROR' });
      return null;
    }
    this.given = true;
    return [out.subarray(0, produced)];
  }

  end(): void {
    this.ending = true;
  }

  close(): void {
    this.inflater.close();
  }
}

/**
 * Adapts a pull-style decoder (an async-iterable transform, here bzip2.ts) to pushes: each next() feeds one written
 * piece and runs the decoder until it asks for input that is not there yet, so one step holds one piece's
 * expansion.
 */
class PullDecoder implements Decoder {
  private readonly queue: Uint8Array[] = [];
  /** Written pieces not yet fed to the decoder. */
  private readonly written: Uint8Array[] = [];
  private ended = false;
  private ending = false;
  private wake: (() => void) | undefined;
  private hungry: (() => void) | undefined;
  private waiting = false;
  private step: Promise<IteratorResult<Uint8Array>> | undefined;
  private readonly it: AsyncIterator<Uint8Array>;

  /** `copyInput`: the input pieces are views of buffers the caller reuses once the next step asked for more. */
  constructor(make: (src: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>, private readonly copyInput = false) {
    const input: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => ({ next: () => this.pull() }) };
    this.it = make(input)[Symbol.asyncIterator]();
  }

  private async pull(): Promise<IteratorResult<Uint8Array>> {
    while (this.queue.length === 0) {
      if (this.ended) return { done: true, value: undefined };
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.waiting = true;
        this.hungry?.();
      });
    }
    return { done: false, value: this.queue.shift()! };
  }

  private feed(): void {
    const w = this.wake;
    this.wake = undefined;
    this.waiting = false;
    w?.();
  }

  private async run(): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (;;) {
      const hungry = new Promise<'hungry'>((resolve) => { this.hungry = () => resolve('hungry'); });
      if (this.waiting && this.queue.length === 0 && !this.ended) return out;
      this.step ??= this.it.next();
      const r = await Promise.race([this.step, hungry]);
      this.hungry = undefined;
      if (r === 'hungry') return out;
      this.step = undefined;
      if (r.done) return out;
      out.push(Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength));
    }
  }

  write(input: Uint8Array[]): void {
    // bzip2 holds up to a block (~900 kB) of input across writes: reused input must be copied.
    if (this.copyInput) for (const b of input) this.written.push(Buffer.from(b));
    else this.written.push(...input);
  }

  async next(): Promise<Buffer[] | null> {
    if (this.written.length) {
      this.queue.push(this.written.shift()!);
      this.feed();
      return this.run();
    }
    if (!this.ending || this.ended) return null;
    this.ended = true;
    this.feed();
    const out = await this.run();
    if (this.step) {
      for (let r = await this.step; !r.done; r = await this.it.next()) out.push(Buffer.from(r.value));
      this.step = undefined;
    }
    return out;
  }

  end(): void {
    this.ending = true;
  }

  close(): void {
    this.ended = true;
    // The decoder may now fail on its cut-short input; nobody waits for it any more.
    this.step?.catch(() => {});
    this.feed();
  }
}

function decoderFor(algo: number, reuse: boolean): Decoder | null {
  switch (algo) {
    case ALGO_NONE:
      return null;
    case ALGO_ZIP:
      if (inflaterEngine()) return new AddonDecoder('raw', reuse);
      return new ZlibDecoder(zlib.createInflateRaw({ chunkSize: INFLATE_CHUNK }));
    case ALGO_ZLIB:
      if (inflaterEngine()) return new AddonDecoder('zlib', reuse);
      return new ZlibDecoder(zlib.createInflate({ chunkSize: INFLATE_CHUNK }));
    case ALGO_BZIP2:
      return new PullDecoder(bunzip2, reuse);
    default:
      throw new Error(`unsupported compression algorithm ${algo}`);
  }
}

/**
 * One nesting level of packets. The sink callbacks are synchronous; compressed bytes they meet are queued in
 * `toDecode` and the level's driver (push/finish) decodes them and passes the result to the child level.
 */
export class PacketLevel implements PacketSink {
  private readonly parser = new PacketPushParser(this);
  private readonly pending: Pending[] = [];
  private readonly early: Pending[] = [];
  private sawLiteral = false;
  /** Small packet being gathered (one-pass signature, signature, literal header). */
  private small: Uint8Array[] = [];
  private smallLen = 0;
  /** Literal packet: header bytes still to skip (-1: not known yet), hashes to feed. */
  private literalSkip = -1;
  private hashes: Hash[] = [];
  /** Compressed packet: algorithm byte seen, decoder, child level, compressed bytes to decode. */
  private algo = -1;
  private decoder: Decoder | null = null;
  private child: PacketLevel | null = null;
  private toDecode: Uint8Array[] = [];
  /** A compressed packet ended during the last feed and its decoder must be finished. */
  private closing = false;
  /** Plaintext of the literal packet found by the last feed. */
  private out: Uint8Array[] = [];
  /**
   * Pooled hashing: inside a compressed packet with reused output, the literal data's signature hashes (SHA-512
   * as gpg: ~1.5 s per GiB) run on the thread pool (PoolDigest) while the parent inflates the next piece. Each
   * push's literal data is copied into `staged` (the pieces are views of reused buffers, cut by the packet's
   * partial lengths into ~64 KiB: one pool job each cost more round trips than hashing) and hashed in one job;
   * `hashing` settles once it is hashed and is awaited before the next push. Signatures found meanwhile wait in
   * `unchecked` until the data before them is hashed.
   */
  private readonly pooled: boolean;
  private hashing: Promise<void> | undefined;
  private staged: Buffer = Buffer.alloc(0);
  private unchecked: [Pending, ParsedSignature][] = [];
  /** The pool digests of the literal packet's signatures (pooled hashing). */
  private literalPools: PoolDigest[] = [];

  /**
   * `reuseOutput`: decompressed data may come in one reused buffer, so a piece handed out is valid only until the
   * generator is asked for the next (the caller's consumers copy what they keep).
   */
  constructor(private readonly check: CheckSignature, private readonly depth = 0, private readonly reuseOutput = false) {
    if (depth > MAX_NESTING) throw new Error('too deeply nested compressed packets');
    this.pooled = depth > 0 && reuseOutput && poolDigestAvailable();
  }

  /** A Pending for hash `name`, hashed on the pool when this level hashes that way. */
  private pendingFor(name: string, o: { ops?: OnePass; sig?: ParsedSignature }): Pending {
    // Without a pool digest of that name, node:crypto's hash as before.
    const pool = this.pooled ? poolDigest(name) : undefined;
    return { ...o, hash: createHash(name), hashName: name, pool };
  }

  /** Checks `sig`, now or (pooled) once the data before it is hashed. */
  private checkOrDefer(p: Pending, sig: ParsedSignature): void {
    if (p.pool) this.unchecked.push([p, sig]);
    else this.check(p, sig);
  }

  /** Pooled hashing: waits for the pieces being hashed, then checks the signatures that waited for them. */
  private async settle(): Promise<void> {
    const hashing = this.hashing;
    this.hashing = undefined;
    await hashing;
    const unchecked = this.unchecked;
    this.unchecked = [];
    for (const [p, sig] of unchecked) {
      await p.pool!.update(sig.trailer);
      p.digest = p.pool!.digest();
      this.check(p, sig);
    }
  }

  /** Pooled hashing: starts hashing `pieces` into every signature of the literal packet, in order. */
  private hashOnPool(pieces: Uint8Array[]): void {
    const pools = this.literalPools;
    if (pools.length === 0 || pieces.length === 0) return;
    let total = 0;
    for (const b of pieces) total += b.length;
    if (this.staged.length < total) this.staged = Buffer.allocUnsafe(Math.max(total, OUT_LIMIT + (1 << 16)));
    let at = 0;
    for (const b of pieces) {
      this.staged.set(b, at);
      at += b.length;
    }
    const data = this.staged.subarray(0, total);
    const hashing = Promise.all(pools.map((d) => d.update(data))).then(() => {});
    // Awaited by settle(); an error of the caller meanwhile must not leave it unhandled.
    hashing.catch(() => {});
    this.hashing = hashing;
  }

  start(tag: number): void {
    if (this.child && (tag === Tag.Compressed || tag === Tag.Literal)) {
      // Its data would overtake the compressed packet's, still to be decoded; gpg never writes this.
      throw new Error(`unsupported: packet (tag ${tag}) right after a compressed packet at the same level`);
    }
    this.small = [];
    this.smallLen = 0;
    switch (tag) {
      case Tag.Compressed:
        this.algo = -1;
        return;
      case Tag.Literal:
        if (this.sawLiteral) throw new Error('more than one literal data packet');
        this.sawLiteral = true;
        this.literalSkip = -1;
        this.hashes = [...this.pending, ...this.early].filter((p) => !p.pool).map((p) => p.hash);
        this.literalPools = [...this.pending, ...this.early].flatMap((p) => (p.pool ? [p.pool] : []));
        return;
      case Tag.OnePassSignature:
      case Tag.Signature:
      case Tag.Marker:
      case Tag.Padding:
        return;
      default:
        throw new Error(`unexpected packet (tag ${tag}) inside the encrypted data`);
    }
  }

  private gather(b: Uint8Array, what: string): void {
    this.smallLen += b.length;
    if (this.smallLen > MAX_SMALL_PACKET) throw new Error(`${what} packet is larger than ${MAX_SMALL_PACKET} bytes`);
    // Copied: the chunk is a view of a buffer that is reused or released after this pass.
    this.small.push(Buffer.from(b));
  }

  data(tag: number, b: Uint8Array): void {
    switch (tag) {
      case Tag.Literal: {
        if (this.literalSkip < 0) {
          const n = Math.min(2 - this.smallLen, b.length);
          this.gather(b.subarray(0, n), 'literal');
          b = b.subarray(n);
          if (this.smallLen < 2) return;
          this.literalSkip = 2 + Buffer.concat(this.small)[1]! + 4;
        }
        if (this.smallLen < this.literalSkip) {
          const n = Math.min(this.literalSkip - this.smallLen, b.length);
          this.smallLen += n;
          b = b.subarray(n);
        }
        if (b.length === 0) return;
        for (const h of this.hashes) h.update(b);
        this.out.push(b);
        return;
      }
      case Tag.Compressed:
        if (this.algo < 0) {
          this.algo = b[0]!;
          this.decoder = decoderFor(this.algo, this.reuseOutput);
          this.child = new PacketLevel(this.check, this.depth + 1, this.reuseOutput);
          b = b.subarray(1);
          if (b.length === 0) return;
        }
        this.toDecode.push(b);
        return;
      case Tag.OnePassSignature:
        this.gather(b, 'one-pass signature');
        return;
      case Tag.Signature:
        this.gather(b, 'signature');
        return;
      default:
        return;
    }
  }

  end(tag: number): void {
    switch (tag) {
      case Tag.Literal:
        if (this.literalSkip < 0 || this.smallLen < this.literalSkip) {
          throw new Error(`truncated literal header: needed ${this.literalSkip < 0 ? 2 : this.literalSkip} bytes, stream ended`);
        }
        for (const e of this.early) this.checkOrDefer(e, e.sig!);
        return;
      case Tag.Compressed:
        if (this.algo < 0) throw new Error('truncated compression algorithm: needed 1 bytes, stream ended');
        this.closing = true;
        return;
      case Tag.OnePassSignature: {
        const ops = parseOnePass(Buffer.concat(this.small));
        this.pending.push(this.pendingFor(hashName(ops.hash), { ops }));
        return;
      }
      case Tag.Signature: {
        const sig = parseSignature(Buffer.concat(this.small));
        if (!this.sawLiteral) {
          // Old-style signed message: signature before the data.
          this.early.push(this.pendingFor(hashName(sig.hash), { sig }));
          return;
        }
        const p = this.pending.pop();
        if (!p) throw new Error('signature packet without a matching one-pass signature');
        this.checkOrDefer(p, sig);
        return;
      }
      default:
        return;
    }
  }

  /**
   * Runs `chunks` through this level and those nested in it, yielding the literal data in order. Decompressed
   * output comes in bounded steps with a yield in between (see Decoder), so a compression bomb holds about one
   * step in memory. The chunks are views the caller must not reuse until the generator has moved on.
   */
  async *push(chunks: Uint8Array[]): AsyncGenerator<Uint8Array[]> {
    if (this.pooled) await this.settle();
    for (const c of chunks) this.parser.feed(c);
    if (this.pooled) {
      this.hashOnPool(this.out);
      if (this.unchecked.length) await this.settle();
    }
    yield* this.drain();
  }

  private async *drain(): AsyncGenerator<Uint8Array[]> {
    if (this.out.length) {
      const ready = this.out;
      this.out = [];
      yield ready;
    }
    const pieces = this.toDecode;
    this.toDecode = [];
    const child = this.child;
    if (!child) return;
    const decoder = this.decoder;
    if (decoder) {
      // Output comes in bounded batches (see Decoder), each passed on before the next is decoded.
      decoder.write(pieces);
      for (let out; (out = await decoder.next()) !== null;) yield* child.push(out);
    } else if (pieces.length) {
      yield* child.push(pieces);
    }
    if (this.closing) {
      this.closing = false;
      if (decoder) {
        decoder.end();
        for (let out; (out = await decoder.next()) !== null;) yield* child.push(out);
        decoder.close();
      }
      await child.finish();
      this.decoder = null;
      this.child = null;
    }
  }

  /** The data ended; throws if a packet was cut short. */
  async *finishAll(): AsyncGenerator<Uint8Array[]> {
    if (this.pooled) await this.settle();
    this.parser.finish();
    yield* this.drain();
  }

  /** Releases a decoder left open by an error. */
  close(): void {
    this.decoder?.close();
    this.child?.close();
  }

  private async finish(): Promise<void> {
    if (this.pooled) await this.settle();
    this.parser.finish();
    if (this.out.length) throw new Error('internal: literal data left after the end');
    if (this.pooled) await this.settle();
  }
}
