/**
 * gzip members compressed by the system libdeflate on the libuv thread pool, through a small
 * N-API addon (src/addon.c, built by scripts/build-addon.mjs with node-gyp).
 *
 * Why it exists: deflate at level 6 is most of a full --no-encryption backup's CPU. On this
 * project's bench corpus (335 MB of text) node:zlib takes 7.9 s for 144.96 MB of output and
 * `libdeflate-gzip -6` 3.95 s of CPU for 141.5 MB: half the time, and smaller. libdeflate compresses
 * whole buffers only, which is exactly what the volume writer's ~1 MiB gzip members are.
 *
 * node:zlib stays the fallback: the addon is optional (no compiler, no libdeflate-dev, or
 * DUPLICITY_TS_NO_LIBDEFLATE=1 set), `isAvailable()` says which, and `gzipMember` works either way.
 * Callers that reuse output buffers use `gzipBound` and `gzipInto`, which need the addon, as does
 * `gunzipInto` (the restore side's member-by-member inflater).
 *
 * The package grew into the home of every hot native path, each block below with its own why:
 * OpenPGP deflate segments (ISA-L or libdeflate), the restore's synchronous streaming `Inflater`
 * (ISA-L or zlib), the encrypted backup's `Sealer` (CFB + MDC) and `PoolDigest` (the signature's
 * hash), which run node's own OpenSSL on the thread pool, the rsync engine's MD4 in AVX-512 or AVX2
 * lanes, and the archive dir's fcntl lock. Each has an availability check; callers fall back to
 * node:zlib, node:crypto, the WASM or a python3 child without it.
 */
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';

interface Addon {
  gzipBound(n: number): number;
  gzipInto(input: Uint8Array, output: Uint8Array, level: number): Promise<number>;
  gunzipInto(input: Uint8Array, output: Uint8Array, fill?: number): Promise<GunzipResult>;
  keepFreedMemory(): boolean;
  deflateSegmentBound(n: number): number;
  deflateSegmentInto(input: Uint8Array, output: Uint8Array, level: number): Promise<number>;
  adler32(data: Uint8Array, adler: number): number;
}

/**
 * What inflating the first member(s) of an input gave: libdeflate's status (0 success, 1 bad or
 * incomplete data, 3 the output buffer is too small), and on success the input bytes the members
 * took and the bytes they inflated to.
 */
export type GunzipResult = [status: number, consumed: number, produced: number];

/** Relative to this file, which is src/index.ts under vitest and dist/index.js after tsc. */
const ADDON = '../build/Release/deflate_addon.node';

function load(): Addon | undefined {
  try {
    return createRequire(import.meta.url)(ADDON) as Addon;
  } catch {
    return undefined;
  }
}

const loaded = load();

/** The addon unless it is absent or switched off; the switch is read per call so tests can flip it. */
function active(): Addon | undefined {
  return process.env.DUPLICITY_TS_NO_LIBDEFLATE === '1' ? undefined : loaded;
}

/** Whether gzip members come from libdeflate (else `gzipMember` uses node:zlib, `gzipInto` throws). */
export function isAvailable(): boolean {
  return active() !== undefined;
}

/**
 * The active addon as one of its parts (the functions of one block of addon.c), if it has that part: an addon
 * built from older sources may lack the newer blocks. `probe` is one function of the part.
 */
function activePart<T>(probe: keyof T & string): T | undefined {
  const addon = active() as unknown as Record<string, unknown> | undefined;
  return typeof addon?.[probe] === 'function' ? (addon as unknown as T) : undefined;
}

function need(): Addon {
  const addon = active();
  if (!addon) throw new Error('libdeflate addon is not available');
  return addon;
}

/** The most bytes a gzip member of `n` input bytes can take, at any level. */
export function gzipBound(n: number): number {
  return need().gzipBound(n);
}

/**
 * Compresses `input` into one gzip member at the start of `output` on the thread pool, resolving to
 * its length; 0 means it did not fit (never when `output` holds `gzipBound(input.length)` bytes).
 * Neither buffer may be written until the promise settles, and they must not overlap.
 */
export function gzipInto(input: Uint8Array, output: Uint8Array, level: number): Promise<number> {
  return need().gzipInto(input, output, level);
}

/**
 * Inflates the gzip member at the start of `input` into `output` on the thread pool (by ISA-L where
 * the addon was built with it, 15-25 % faster on text than libdeflate, else libdeflate); the CRC and
 * length in its trailer are checked. With `fill`, the members after it follow while less than
 * `fill` bytes came out (and they fit): the result then counts them all, and a member further on
 * that does not inflate ends the job before it (the next call starting there reports it). Neither
 * buffer may be written until the promise settles.
 */
export function gunzipInto(input: Uint8Array, output: Uint8Array, fill = 0): Promise<GunzipResult> {
  return need().gunzipInto(input, output, fill);
}

/**
 * Makes glibc's malloc keep freed blocks of up to 32 MiB in its heap for the next allocation, instead
 * of giving each block of 128 KiB or more its own mmap and unmapping it when freed (the default).
 *
 * Why: node:crypto's `cipher.update`, zlib's output chunks and `Buffer.allocUnsafe` of 1 MiB all
 * allocate fresh blocks that the garbage collector frees soon after. With the default, each is new
 * memory from the kernel, and on this project's VM a fresh page costs far more than the work on it:
 * allocating and filling 1 MiB buffers runs at 243 MB/s, and AES-256-ECB through `cipher.update`
 * at 240 MB/s against 4.3 GB/s once freed blocks are reused. The heap keeps what it held at its peak,
 * which the pipelines bound anyway.
 *
 * A process-wide setting: the command calls it once at start. Returns false (and changes nothing)
 * without the addon or where malloc is not glibc's; the switch DUPLICITY_TS_NO_LIBDEFLATE=1 turns it
 * off with the rest of the addon.
 */
export function keepFreedMemory(): boolean {
  return active()?.keepFreedMemory() ?? false;
}

const zlibGzip = promisify(zlib.gzip);

/** One gzip member of `data` at `level` (0-9), from libdeflate when available, else node:zlib. */
export async function gzipMember(data: Uint8Array, level: number): Promise<Buffer> {
  const addon = active();
  if (!addon) return zlibGzip(data, { level });
  const out = Buffer.allocUnsafe(addon.gzipBound(data.length));
  return out.subarray(0, await addon.gzipInto(data, out, level));
}

// ---- OpenPGP deflate segments (packages/pgp/src/parallel-deflate.ts); addon.c's block of the same name ----

/** Whether `deflateSegmentInto` and `adler32` can be used (the addon is built and not switched off). */
export function segmentsAvailable(): boolean {
  return active() !== undefined;
}

/** The bytes `deflateSegmentInto`'s output needs for a segment of `n` input bytes, at any level. */
export function deflateSegmentBound(n: number): number {
  return need().deflateSegmentBound(n);
}

/**
 * Raw deflate of `input` at `level` (1-12, libdeflate's scale) into the start of `output` on the thread
 * pool, ending byte-aligned on a non-final empty stored block, as zlib's sync flush does: segments
 * written this way concatenate into one deflate stream, to be closed by a final block. Each starts
 * from an empty window (no dictionary). Resolves to the length, or 0 when `output` is smaller than
 * `deflateSegmentBound(input.length)`; rejects if the output did not inflate back to `input` (the job
 * checks, see addon.c). Neither buffer may be written until the promise settles.
 *
 * Why: libdeflate deflates at about half node:zlib's CPU for the same size, and OpenPGP volumes spend
 * most of the time encryption adds in deflate.
 */
export function deflateSegmentInto(input: Uint8Array, output: Uint8Array, level: number): Promise<number> {
  return need().deflateSegmentInto(input, output, level);
}

const isalSegmentAddon = () => activePart<{ isalSegmentInto: Addon['deflateSegmentInto'] }>('isalSegmentInto');

/** Whether `isalSegmentInto` can be used: the addon is built with ISA-L (libisal-dev) and not switched off. */
export function isalSegmentsAvailable(): boolean {
  return isalSegmentAddon() !== undefined;
}

/**
 * `deflateSegmentInto` by Intel ISA-L's deflate at its `level` (0-3, its own scale), which ends each segment
 * with a sync flush itself: the same contract and bound, without the inflate pass (so without its check).
 *
 * Why: its level 3 takes about half libdeflate level 2's CPU on real files for ~5 % more output (measured
 * in parallel-deflate.ts), and the segments' deflate is most of an encrypted full backup's CPU.
 */
export function isalSegmentInto(input: Uint8Array, output: Uint8Array, level: number): Promise<number> {
  const addon = isalSegmentAddon();
  if (!addon) throw new Error('the libdeflate addon was built without ISA-L');
  return addon.isalSegmentInto(input, output, level);
}

/** Adler-32 (RFC 1950) of `data` continued from `adler` (1 for a fresh sum), by zlib on this thread. */
export function adler32(data: Uint8Array, adler: number): number {
  return need().adler32(data, adler);
}

// ==== OpenPGP SEIPD sealing (packages/pgp/src/seipd.ts); addon.c's block of the same name ==========

interface SealerAddon {
  sealerOpen(cipher: string, key: Uint8Array): object;
  sealInto(sealer: object, data: Uint8Array, mdcAt: number): Promise<void>;
}

const sealerAddon = () => activePart<SealerAddon>('sealerOpen');

/** Whether `Sealer` can be used (the addon is built and not switched off). */
export function sealerAvailable(): boolean {
  return sealerAddon() !== undefined;
}

/**
 * The encryption and MDC of one OpenPGP SEIPD v1 packet, run on the thread pool: `cipher` (OpenSSL's
 * name, "aes-256-cfb") in CFB mode with a zero IV, and the SHA-1 of everything encrypted before the
 * digest. Data goes through `seal` in stream order, one call at a time (await each before the next).
 *
 * Why: both are serial and were a quarter of the main thread's time in an encrypted backup; on the
 * pool they run beside the deflate segments and the rest of the pipeline (addon.c says more).
 */
export class Sealer {
  private readonly addon: SealerAddon;
  private readonly handle: object;

  constructor(cipher: string, key: Uint8Array) {
    const addon = sealerAddon();
    if (!addon) throw new Error('the sealer needs the libdeflate addon');
    this.addon = addon;
    this.handle = addon.sealerOpen(cipher, key);
  }

  /** Hashes `data` into the MDC and encrypts it in place. `data` must not be touched until this settles. */
  seal(data: Uint8Array): Promise<void> {
    return this.addon.sealInto(this.handle, data, -1);
  }

  /**
   * The end: hashes `data` but its last 20 bytes, writes the MDC's SHA-1 there, and encrypts all of it
   * in place. The sealer takes nothing after this.
   */
  sealLast(data: Uint8Array): Promise<void> {
    return this.addon.sealInto(this.handle, data, data.length - 20);
  }
}

// ==== Digests on the pool (packages/pgp/src/encrypt.ts); addon.c's block of the same name ===========

interface DigestAddon {
  digestOpen(name: string): object;
  digestUpdate(digest: object, data: Uint8Array): Promise<void>;
  digestFinal(digest: object): Buffer;
}

const digestAddon = () => activePart<DigestAddon>('digestOpen');

/** Whether `PoolDigest` can be used (the addon is built and not switched off). */
export function poolDigestAvailable(): boolean {
  return digestAddon() !== undefined;
}

/**
 * A PoolDigest of `name`, or undefined without the addon or where node's OpenSSL lacks that digest in its
 * default provider (node:crypto may still have it): callers then hash on their own thread.
 */
export function poolDigest(name: string): PoolDigest | undefined {
  if (!poolDigestAvailable()) return undefined;
  try {
    return new PoolDigest(name);
  } catch {
    return undefined;
  }
}

/**
 * A digest (OpenSSL's name: "sha512", "sha256", ...) whose updates run on the thread pool, one at a time
 * in the order given: await each update before the next (and before touching its data), then `digest()`.
 *
 * Why: a signed backup hashes all its plaintext for the OpenPGP signature (SHA-512, as gpg), about 1.5 s
 * per GiB on the main thread otherwise.
 */
export class PoolDigest {
  private readonly addon: DigestAddon;
  private readonly handle: object;

  constructor(name: string) {
    const addon = digestAddon();
    if (!addon) throw new Error('the pool digest needs the libdeflate addon');
    this.addon = addon;
    this.handle = addon.digestOpen(name);
  }

  update(data: Uint8Array): Promise<void> {
    return this.addon.digestUpdate(this.handle, data);
  }

  /** The digest of everything updated; the object takes nothing after this. */
  digest(): Buffer {
    return this.addon.digestFinal(this.handle);
  }
}

// ==== Streaming inflater (restore side) ==========================================================

interface InflaterAddon {
  inflaterOpen(format: number, engine: number): object;
  inflaterPush(handle: object, input: Uint8Array, output: Uint8Array, result: Float64Array): void;
  inflaterClose(handle: object): void;
  inflaterEngine(): string;
}

const inflaterAddon = () => activePart<InflaterAddon>('inflaterOpen');

/** Raw deflate (RFC 1951, OpenPGP's ZIP), zlib (RFC 1950) or gzip members one after another (RFC 1952). */
export type InflateFormat = 'raw' | 'zlib' | 'gzip';
const FORMATS: Record<InflateFormat, number> = { raw: 0, zlib: 1, gzip: 2 };

/**
 * The engine a new Inflater uses by default: 'isa-l' (Intel ISA-L, built in when libisal-dev was
 * installed) or 'zlib'; undefined without the addon (or with DUPLICITY_TS_NO_LIBDEFLATE=1).
 */
export function inflaterEngine(): 'isa-l' | 'zlib' | undefined {
  return inflaterAddon()?.inflaterEngine() as 'isa-l' | 'zlib' | undefined;
}

/**
 * A synchronous streaming inflater in the addon, for threads that may block (the restore's decode
 * worker): it inflates straight into the caller's reused output buffers, with none of node:zlib's
 * thread-pool round trips, per-chunk output buffers and stream machinery, which cost that thread more
 * than the inflating did. ISA-L inflates text at 2-4x zlib's speed where it is built in.
 *
 * What follows a stream's end is handled as node:zlib does (ignored after raw and zlib streams; after
 * a gzip member, zero bytes end the file and anything else must be another member); errors carry
 * zlib's messages ("incorrect header check", ...), with either engine. Needs the addon: check
 * `inflaterEngine()` first.
 */
export class Inflater {
  private readonly addon: InflaterAddon;
  private readonly handle: object;
  private readonly result = new Float64Array(3);

  /** `engine` 'zlib' forces zlib (tests compare the engines); the default is `inflaterEngine()`. */
  constructor(format: InflateFormat, engine: 'default' | 'zlib' = 'default') {
    const addon = inflaterAddon();
    if (!addon) throw new Error('the streaming inflater needs the libdeflate addon');
    this.addon = addon;
    this.handle = addon.inflaterOpen(FORMATS[format], engine === 'zlib' ? 1 : 0);
  }

  /**
   * Inflates from `input` into `output` until the input is used up, the output is full or the stream
   * ends; returns the bytes written to `output` (`consumed` says how much input was taken). Throws on
   * bad data, with zlib's message; the inflater is unusable after that. More output may wait
   * whenever `output` came back full: call again (with the input left, possibly none).
   */
  push(input: Uint8Array, output: Uint8Array): number {
    this.addon.inflaterPush(this.handle, input, output, this.result);
    return this.result[1]!;
  }

  /** Input bytes the last push() took. */
  get consumed(): number {
    return this.result[0]!;
  }

  /** True when the stream is complete as far as pushed (gzip: at a member's end); false while inside it. */
  get ended(): boolean {
    return this.result[2] === 1;
  }

  /** Frees the native state now (garbage collection would, later). */
  close(): void {
    this.addon.inflaterClose(this.handle);
  }
}

// ==== SEIPD opening on the pool (packages/pgp/src/seipd.ts); addon.c's block of the same name =======

interface OpenerAddon {
  openerOpen(cipher: string, key: Uint8Array): object;
  openInto(opener: object, data: Uint8Array): Promise<void>;
  openerEnd(opener: object): [tail: Buffer, digest: Buffer];
}

const openerAddon = () => activePart<OpenerAddon>('openerOpen');

/** Whether `Opener` can be used (the addon is built and not switched off). */
export function openerAvailable(): boolean {
  return openerAddon() !== undefined;
}

/**
 * The decryption and MDC of one OpenPGP SEIPD v1 packet, run on the thread pool: OpenPGP CFB (no resync)
 * from a zero IV with `cipher` (OpenSSL's ECB name, "aes-256-ecb": CFB is computed as ECB plus XOR), and
 * the SHA-1 of the plaintext but for its last 22 bytes, which may be the MDC packet. Data goes through
 * `open` in stream order, one call at a time (await each before the next), then `end()`.
 *
 * Why: on the restore's decode worker AES, the XOR and the MDC's SHA-1 took about as long as the
 * inflate after them; on the pool they run beside it (addon.c says more).
 */
export class Opener {
  private readonly addon: OpenerAddon;
  private readonly handle: object;

  constructor(cipher: string, key: Uint8Array) {
    const addon = openerAddon();
    if (!addon) throw new Error('the opener needs the libdeflate addon');
    this.addon = addon;
    this.handle = addon.openerOpen(cipher, key);
  }

  /**
   * Decrypts `data` in place and hashes it (holding back the last 22 bytes of the stream so far).
   * `data` must be whole cipher blocks except in the last call, and untouched until this settles.
   */
  open(data: Uint8Array): Promise<void> {
    return this.addon.openInto(this.handle, data);
  }

  /**
   * The end: the last (up to 22) plaintext bytes, which were not hashed, and the SHA-1 of everything
   * hashed followed by the tail's first 2 bytes: for a good message, tail is 0xD3 0x14 and that digest.
   * The opener takes nothing after this.
   */
  end(): { tail: Buffer; digest: Buffer } {
    const [tail, digest] = this.addon.openerEnd(this.handle);
    return { tail, digest };
  }
}

// ==== MD4 of many blocks (packages/rsync's WASM); addon.c's block of the same name, md4-lanes.c ======

interface Md4Addon {
  md4Blocks(memory: Uint8Array, p: number, len: number, count: number, out: number, width?: number): boolean;
  md4LanesWidth(): number;
}

const md4Addon = () => activePart<Md4Addon>('md4Blocks');

/** MD4 lanes per register on this CPU through the addon: 16 (AVX-512), 8 (AVX2), 0 (none, or no addon). */
export function md4LanesWidth(): number {
  return md4Addon()?.md4LanesWidth() ?? 0;
}

/**
 * The addon's file when MD4 lanes are usable, for worker threads that run code evaluated from a string and so
 * cannot import this module: they `require` it and call its md4Blocks themselves (packages/rsync's
 * parallel-signature.ts). Undefined otherwise.
 */
export function md4AddonFile(): string | undefined {
  return md4LanesWidth() > 0 ? createRequire(import.meta.url).resolve(ADDON) : undefined;
}

/**
 * The MD4 digests of the `count` blocks of `len` bytes at memory[p], memory[p + len], ... into memory[out + 16 i],
 * synchronously on this thread; false (nothing written) where `md4LanesWidth()` is 0. `width` 8 forces the AVX2
 * code on an AVX-512 CPU (tests compare the two).
 *
 * Why: the rsync engine's signatures and deltas hash every block with MD4, and its WASM has 128-bit SIMD only
 * (4 lanes, rotates as two shifts): ~1-1.4 GB/s there against ~4 GB/s in AVX-512's 16 lanes. The WASM calls this
 * through an import with its own memory as `memory` (packages/rsync/src/wasm.ts).
 */
export function md4Blocks(memory: Uint8Array, p: number, len: number, count: number, out: number, width = 0): boolean {
  return md4Addon()?.md4Blocks(memory, p, len, count, out, width) ?? false;
}

// ==== The archive dir's fcntl lock (packages/engine's lock/fcntl-holder.ts); addon.c's block, ofd-lock.c ====

const lockAddon = () => activePart<{ lockFile(path: string): number }>('lockFile');

/**
 * Takes an exclusive fcntl lock on the whole of `path` (created if missing) without waiting, held by an open file
 * description (Linux's F_OFD_SETLK) that stays open until `closeSync(fd)` or the process's end; it conflicts with
 * the fcntl locks duplicity takes, both ways, and closing other descriptors of the file does not drop it.
 * Returns that descriptor, 'busy' when another holder has the file locked, undefined where this cannot be done
 * (no addon, a kernel without such locks, the file not openable): the caller then locks another way.
 *
 * Why: the other way is a python3 child holding the lock, 29-30 ms of every command's start (1.4-1.9 ms this way).
 */
export function lockFile(path: string): number | 'busy' | undefined {
  const r = lockAddon()?.lockFile(path);
  return r === undefined || r === -2 ? undefined : r === -1 ? 'busy' : r;
}

// ==== lstat of a directory's entries (packages/engine's backup/source-walk.ts); addon.c's block of the same name ====

/** Doubles per entry that statNames writes: error (0 or an errno), mode, uid, gid, size, mtimeMs, dev, rdev, ino, nlink. */
export const STAT_NAMES_FIELDS = 10;
/** The most names one statNames call takes. */
export const STAT_NAMES_MAX = 1024;

interface StatAddon {
  statNames(dir: Buffer, names: Buffer[], from: number, count: number, out: Float64Array): number;
}
const statAddon = () => activePart<StatAddon>('statNames');

/** Whether `statNames` can be used (the addon is built and not switched off). */
export function statNamesAvailable(): boolean {
  return statAddon() !== undefined;
}

/**
 * lstat (fstatat without following links) of `names[from .. from+count)` in directory `dir`, through one
 * directory descriptor, STAT_NAMES_FIELDS doubles per entry into `out` (an entry's first double is 0, or the errno
 * of its fstatat). Returns 0, or the errno of opening `dir` (which must be a directory, not a symlink to one);
 * undefined without the addon. `count` is at most STAT_NAMES_MAX.
 *
 * Why: lstatSync per entry resolves the whole path again and builds a Stats object, ~5 µs an entry warm and
 * 10-12 µs inside a running backup here, on the walk that is an incremental backup's critical path.
 */
export function statNames(dir: Buffer, names: Buffer[], from: number, count: number, out: Float64Array): number | undefined {
  return statAddon()?.statNames(dir, names, from, count, out);
}
