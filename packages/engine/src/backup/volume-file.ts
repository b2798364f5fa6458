/**
 * One volume (or signature file) as it is written to a local temp file before upload: the tar
 * bytes go through gzip (FORMAT.md §9.1), OpenPGP encryption, or nothing, and the SHA1 of the
 * bytes that reach the file (what the manifest records, §6.1) is computed on the way.
 *
 * Input is gathered into blocks. For gzip each block becomes its own gzip member, compressed on
 * the libuv thread pool, several blocks at once, and the members are written in order: gzip
 * readers (Python's, which duplicity uses, and node's) read concatenated members as one stream, so
 * this is a parallel gzip whose output any reader accepts. The compressor is libdeflate
 * (@duplicity-ts/libdeflate: half zlib's CPU at level 6, into reused output blocks) when its addon
 * was built, else node:zlib's async API. A block that looks incompressible (already compressed or
 * encrypted data) is stored (level 0) instead of deflated. The writer is our own rather than a
 * pigz-like package because none is maintained for node's async zlib.
 */
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import * as zlib from 'node:zlib';
import * as libdeflate from '@duplicity-ts/libdeflate';
import type { EncryptOptions } from '@duplicity-ts/pgp';
import { ByteChannel } from './byte-channel.js';
import { looksIncompressible } from './payload-chunks.js';

/** Output pieces of a deflated member: a quarter of a block holds most of a compressed one. */
const GZIP_PIECE = 256 * 1024;

/**
 * One gzip member of `data`, compressed by node:zlib on the libuv pool, as the output pieces zlib
 * produced (the fallback when libdeflate is not available, and the empty volume's member).
 * Not zlib.gzip(): that sizes its output buffer for the worst case and then concatenates, which is
 * two big buffers per block where the pieces (written with one writev) need neither.
 */
function gzipBlock(data: Buffer, level: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const z = zlib.createGzip({ level, chunkSize: GZIP_PIECE });
    const out: Buffer[] = [];
    z.on('data', (c: Buffer) => out.push(c));
    z.on('end', () => resolve(out));
    z.on('error', reject);
    z.end(data);
  });
}
/** node:zlib's CRC-32 (Node >= 20.15); without it stored members go through zlib at level 0. */
const crc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/** Deflate's stored blocks hold at most this many bytes (RFC 1951 §3.2.4). */
const STORED_MAX = 65535;

/**
 * A gzip member holding `data` in stored (uncompressed) deflate blocks (RFC 1952, RFC 1951
 * §3.2.4), built here rather than by a zlib stream at level 0: for incompressible data that is
 * only framing and a CRC, which costs less than setting up a deflate stream per block. The member
 * is returned as pieces to write one after the other (views of `data` between small frames), so
 * the data is neither copied nor held twice.
 */
function storedGzipMember(data: Buffer, crc: (d: Uint8Array) => number): Buffer[] {
  const blocks = Math.max(1, Math.ceil(data.length / STORED_MAX));
  // All frames in one small buffer: the 10-byte header, 5 bytes before each block, the trailer.
  const frames = Buffer.allocUnsafe(10 + blocks * 5 + 8);
  // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=4 (fastest) OS=3 (Unix), as zlib writes at level 0.
  frames.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3], 0);
  const pieces: Buffer[] = [];
  let f = 10;
  for (let off = 0, k = 0; k < blocks; k++, off += STORED_MAX) {
    const n = Math.min(STORED_MAX, data.length - off);
    frames[f] = k === blocks - 1 ? 1 : 0;
    frames.writeUInt16LE(n, f + 1);
    frames.writeUInt16LE(~n & 0xffff, f + 3);
    // The gzip header travels with the first block's frame.
    pieces.push(frames.subarray(k === 0 ? 0 : f, f + 5));
    if (n > 0) pieces.push(data.subarray(off, off + n));
    f += 5;
  }
  frames.writeUInt32LE(crc(data) >>> 0, f);
  frames.writeUInt32LE(data.length >>> 0, f + 4);
  pieces.push(frames.subarray(f, f + 8));
  return pieces;
}

export type VolumeEncoding = { kind: 'plain' } | { kind: 'gzip'; level?: number } | { kind: 'pgp'; options: EncryptOptions };

export interface ClosedFile {
  path: string;
  size: number;
  sha1: string;
}

export interface VolumeFileOptions {
  /** Bytes per block (and per gzip member). */
  blockSize?: number;
  /** gzip blocks compressed at once. */
  parallel?: number;
}

export class VolumeFile {
  /** Bytes that reached the file so far. */
  written = 0;
  /** Bytes handed to `write` so far. */
  input = 0;
  private readonly out: WriteStream;
  private readonly hash: Hash = createHash('sha1');
  private readonly blockSize: number;
  /**
   * Bytes allocated per block: with libdeflate a block also serves as a member's output, so it is
   * sized for the worst case of a whole block, and input and output blocks share one spare pool.
   */
  private readonly bufferSize: number;
  private readonly useLibdeflate: boolean;
  private readonly parallel: number;
  private block: Buffer;
  private blockLen = 0;
  /**
   * Blocks whose bytes are no longer needed, for reuse: a fresh 1 MiB buffer per block costs page
   * faults and garbage-collection work out of proportion to the copy into it. A block comes back
   * once the compressor is done with it, or once the file write of its bytes has completed.
   */
  private readonly spare: Buffer[] = [];
  /** Input bytes handed on (compressing or queued) but not yet in the file. */
  private pendingInput = 0;
  private readonly inFlight: { promise: Promise<Buffer[]>; inputLen: number; release?: Buffer }[] = [];
  private channel?: ByteChannel;
  /** Input the encrypter has taken in but not yet written out (its deflate segments). */
  private readonly heldByEncrypter = { bytes: 0 };
  private encrypted?: Promise<void>;
  private readonly outDone: Promise<void>;

  constructor(
    readonly path: string,
    private readonly encoding: VolumeEncoding,
    o: VolumeFileOptions = {},
  ) {
    this.blockSize = o.blockSize ?? 1 << 20;
    this.parallel = o.parallel ?? 4;
    this.useLibdeflate = encoding.kind === 'gzip' && libdeflate.isAvailable();
    this.bufferSize = this.useLibdeflate ? libdeflate.gzipBound(this.blockSize) : this.blockSize;
    this.block = Buffer.allocUnsafe(this.bufferSize);
    // 8 MiB queued before write() asks to wait: the stream writes one piece at a time on the pool, and with
    // 1 MiB every wait for 'drain' stalled the encrypter's whole chain (no segment started meanwhile).
    // Symmetric full, 3 pairs: 7.64-8.75 s with 1 MiB, 6.97-7.74 s with 8 MiB.
    const out = createWriteStream(path, { highWaterMark: 8 << 20 });
    this.out = out;
    this.outDone = new Promise<void>((resolve, reject) => {
      out.on('finish', resolve);
      out.on('error', reject);
    });
    this.outDone.catch(() => undefined);
    if (encoding.kind === 'pgp') {
      const channel = new ByteChannel(4 << 20);
      this.channel = channel;
      this.encrypted = (async () => {
        try {
          // Loaded on first use: the engine's index reaches this module, and restores and
          // --no-encryption runs should not pay for loading OpenPGP.
          const { encrypt } = await import('@duplicity-ts/pgp');
          // The encrypter reuses its buffers (reuseOutput), so its pieces are copied into blocks before the next.
          for await (const c of encrypt(channel, { ...encoding.options, held: this.heldByEncrypter, reuseOutput: true })) {
            await this.emitCopy(c);
          }
          await this.flushCopied();
        } catch (err) {
          channel.fail(err);
          throw err;
        }
      })();
      this.encrypted.catch(() => undefined);
    }
  }

  /**
   * What the volume will hold once everything handed over is written: exact for plain files,
   * an upper bound while gzip or encryption still has input in hand.
   */
  get projectedSize(): number {
    return this.written + this.pendingInput + (this.channel?.queuedBytes ?? 0) + this.heldByEncrypter.bytes + this.copiedLen + this.blockLen;
  }

  /**
   * Writes `pieces` in order (the stream's writev gathers them); `release`, a block the pieces may
   * be views of, is reused once they are in the file.
   */
  private async emit(pieces: Buffer[], inputLen: number, release?: Buffer): Promise<void> {
    let ok = true;
    for (let i = 0; i < pieces.length; i++) {
      const b = pieces[i];
      this.hash.update(b);
      this.written += b.length;
      const last = i === pieces.length - 1;
      ok = release && last ? this.out.write(b, () => this.spare.push(release)) : this.out.write(b);
    }
    this.pendingInput -= inputLen;
    if (!ok) await once(this.out, 'drain');
  }

  /** The block encrypter output is gathered into (emitCopy), written once full. */
  private copied?: Buffer;
  private copiedLen = 0;

  /**
   * Copies a piece that is valid only until the next one is asked for into a spare block; full blocks are
   * written and come back to the spares once in the file.
   */
  private async emitCopy(c: Uint8Array): Promise<void> {
    let off = 0;
    while (off < c.length) {
      const block = (this.copied ??= this.spare.pop() ?? Buffer.allocUnsafe(this.bufferSize));
      const n = Math.min(c.length - off, block.length - this.copiedLen);
      block.set(off === 0 && n === c.length ? c : c.subarray(off, off + n), this.copiedLen);
      this.copiedLen += n;
      off += n;
      if (this.copiedLen === block.length) await this.flushCopied();
    }
  }

  private async flushCopied(): Promise<void> {
    const block = this.copied;
    if (!block || this.copiedLen === 0) return;
    const len = this.copiedLen;
    this.copied = undefined;
    this.copiedLen = 0;
    await this.emit([block.subarray(0, len)], 0, block);
  }

  /**
   * Takes `data` (copied before anything else is written). Synchronous, without a promise, when it
   * fits in the current block without filling it, as the headers and bytes of small files mostly do.
   */
  write(data: Buffer): Promise<void> | undefined {
    if (this.blockLen + data.length < this.blockSize) {
      this.input += data.length;
      data.copy(this.block, this.blockLen);
      this.blockLen += data.length;
      return undefined;
    }
    return this.writeAcross(data);
  }

  private async writeAcross(data: Buffer): Promise<void> {
    this.input += data.length;
    let off = 0;
    while (off < data.length) {
      const n = Math.min(data.length - off, this.blockSize - this.blockLen);
      data.copy(this.block, this.blockLen, off, off + n);
      this.blockLen += n;
      off += n;
      if (this.blockLen === this.blockSize) await this.dispatch();
    }
  }

  /** Hands the gathered block on to the encoding. */
  private async dispatch(): Promise<void> {
    if (this.blockLen === 0) return;
    const whole = this.block;
    const block = whole.subarray(0, this.blockLen);
    const len = this.blockLen;
    const enc = this.encoding;
    this.block = this.spare.pop() ?? Buffer.allocUnsafe(this.bufferSize);
    this.blockLen = 0;
    this.pendingInput += len;
    if (enc.kind === 'gzip') {
      const stored = looksIncompressible(block);
      if (stored && crc32) {
        this.inFlight.push({ promise: Promise.resolve(storedGzipMember(block, crc32)), inputLen: len, release: whole });
      } else if (this.useLibdeflate) {
        // libdeflate: the member goes into a spare block, reused once it is in the file; the input
        // block is reusable as soon as the compression settles.
        const out = this.spare.pop() || Buffer.allocUnsafe(this.bufferSize);
        const promise = libdeflate.gzipInto(block, out, stored ? 0 : (enc.level ?? 6)).then((n) => {
          this.spare.push(whole);
          if (n === 0) throw new Error('libdeflate: gzip member did not fit its bound');
          return [out.subarray(0, n)];
        });
        this.inFlight.push({ promise, inputLen: len, release: out });
      } else {
        // zlib is done with the input once the promise settles, so the block is reusable then.
        const promise = gzipBlock(block, stored ? 0 : (enc.level ?? 6)).then((out) => {
          this.spare.push(whole);
          return out;
        });
        this.inFlight.push({ promise, inputLen: len });
      }
      while (this.inFlight.length >= this.parallel) await this.writeOldest();
    } else if (enc.kind === 'pgp') {
      // Counted through the channel's queue until the encrypter takes it, then by its output.
      // The encrypter copies what it keeps (into deflate segments or its encryption stage) before
      // it asks for the next chunk, so the block is reusable then.
      this.pendingInput -= len;
      await this.channel!.push(block, () => this.spare.push(whole));
    } else {
      await this.emit([block], len, whole);
    }
  }

  private async writeOldest(): Promise<void> {
    const first = this.inFlight.shift()!;
    await this.emit(await first.promise, first.inputLen, first.release);
  }

  async close(): Promise<ClosedFile> {
    await this.dispatch();
    while (this.inFlight.length) await this.writeOldest();
    if (this.encoding.kind === 'gzip' && this.written === 0) {
      // An empty volume is still a gzip file (duplicity's empty incremental is 20 bytes, §2.3).
      await this.emit(await gzipBlock(Buffer.alloc(0), 6), 0);
    }
    if (this.channel) {
      this.channel.close();
      await this.encrypted;
    }
    this.out.end();
    await this.outDone;
    return { path: this.path, size: this.written, sha1: this.hash.digest('hex') };
  }

  /** Stops writing after a failure elsewhere; the caller removes the file. */
  abort(): void {
    this.channel?.fail(new Error('aborted'));
    this.out.destroy();
  }
}
