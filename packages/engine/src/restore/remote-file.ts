/**
 * Getting one backend file's plaintext (FORMAT.md §9.6): the file is read in place when the backend
 * has it on a local file system (file://), else downloaded to the temp dir; the SHA1 from the
 * manifest is checked on those bytes, then they are decrypted (pgp) or gunzipped.
 *
 * When an encrypted file's plaintext may be used before its MDC (and signature) are checked:
 * - A file with no manifest hash (manifests, signature files, volumes of manifests without
 *   hashes) is decrypted to a temp file first, so nothing of it is used before the MDC and any
 *   required signature are checked.
 * - A volume whose bytes matched the SHA1 recorded in its manifest streams straight into the
 *   restore. Its content is as authenticated as its own MDC would make it: the manifest's MDC was
 *   checked when it was decrypted (a cache copy came from there), so whoever made the manifest
 *   could have made the volume, and the manifest names exactly these bytes (a server without the
 *   passphrase can make neither; with public-key encryption, anyone with the public key can make
 *   both, which only a required signer rules out). The MDC is still checked at the end (finish()
 *   reads what the tar reader left after the end mark) and a failure is still an error. This
 *   saves writing and reading back the whole plaintext once more, the biggest cost of an
 *   encrypted restore.
 * - Except when a signer is required (--sign-key): manifests are accepted unsigned, as duplicity
 *   does, so a manifest does not vouch for the signer and those volumes keep the temp-first path,
 *   unless the caller found the backend's copy of the manifest signed by that signer and equal to
 *   the one it reads (FetchOptions.signerVouched; restore.ts signerVouches()): then the signer made
 *   the hash the volume matched, and the volume streams, its own signature checked at its end.
 * Read in place, a file could in principle change between the hash pass and the decrypting read
 * (someone writing into the backup directory meanwhile); the MDC check at the end catches that.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, createReadStream, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Backend } from '@duplicity-ts/backends';
import type { DecryptOptions } from '@duplicity-ts/pgp';
import type { ParsedName } from '@duplicity-ts/archive';
import { sha1OfFile } from './file-hash.js';
import { PieceWriter } from './piece-writer.js';
import { decryptOnWorker, decryptToFileOnWorker, gunzipOnWorker, warmDecryptionWorker, workerDecryptionAvailable } from './decryption-worker.js';
import { gunzipFile } from './gunzip.js';
import { inflateMembers } from './gzip-members.js';
import { ringPieces } from './ring-pieces.js';

/** What the read side needs to log; the CLI's session log fits. */
export interface ReadLog {
  notice(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
}

export const quietLog: ReadLog = { notice() {}, warn() {}, info() {}, debug() {} };

/** Everything the read side works with. */
export interface ReadContext {
  backend: Backend;
  /** `<archive base>/<backup name>` (§11.7). */
  archiveDir: string;
  /** A private temp dir for downloads and patch stages. */
  tempDir: string;
  /** How to decrypt `.gpg` files; required only when there are some. */
  decryptOptions?: () => Promise<DecryptOptions>;
  log?: ReadLog;
}

export function userError(message: string, exitCode: number): Error & { exitCode: number } {
  return Object.assign(new Error(message), { exitCode });
}

export function tempPath(ctx: Pick<ReadContext, 'tempDir'>, hint: string): string {
  return path.join(ctx.tempDir, `${hint}-${randomBytes(6).toString('hex')}`);
}

export async function download(ctx: ReadContext, name: string): Promise<string> {
  const local = tempPath(ctx, 'get');
  try {
    await ctx.backend.get(name, local);
  } catch (err) {
    await rm(local, { force: true });
    const e = err as { exitCode?: number; message?: string };
    throw userError(`failed to download ${name}: ${e.message ?? String(err)}`, typeof e.exitCode === 'number' ? e.exitCode : 53);
  }
  return local;
}

export { sha1OfFile } from './file-hash.js';

/**
 * Plaintext is read in 1 MiB pieces: with Node's 64 KiB default, the per-chunk stream overhead
 * shows (gunzip.ts reads alike).
 */
const READ_CHUNK = 1 << 20;

/**
 * Where to read a backend file: in place when the backend offers a local path, else a downloaded
 * temp copy (`temp`: to be removed after use).
 */
async function localFile(ctx: ReadContext, name: string): Promise<{ file: string; temp: boolean }> {
  if (!ctx.backend.localPath) return { file: await download(ctx, name), temp: true };
  try {
    return { file: await ctx.backend.localPath(name), temp: false };
  } catch (err) {
    const e = err as { exitCode?: number; message?: string };
    throw userError(`failed to download ${name}: ${e.message ?? String(err)}`, typeof e.exitCode === 'number' ? e.exitCode : 53);
  }
}

async function decryptOptions(ctx: ReadContext, name: string): Promise<DecryptOptions> {
  if (!ctx.decryptOptions) throw userError(`failed to read ${name}: it is encrypted and no passphrase or key was given`, 31);
  return ctx.decryptOptions();
}

/**
 * The plaintext of an encrypted file: volumes on the run's decryption worker (decryption-worker.ts),
 * beside the main thread's tar and file work; small files (manifests, signatures) and runs from the
 * TypeScript sources in this thread.
 */
async function openDecryption(src: string, opts: DecryptOptions, isVolume: boolean): Promise<AsyncIterator<Uint8Array>> {
  if (isVolume && workerDecryptionAvailable()) return decryptOnWorker(src, opts);
  // Loaded on first use: unencrypted restores should not pay for loading OpenPGP.
  const { decrypt } = await import('@duplicity-ts/pgp');
  return decrypt(createReadStream(src, { highWaterMark: READ_CHUNK }), opts)[Symbol.asyncIterator]();
}

/**
 * Decrypts `src` (a downloaded .gpg file) into a new temp file and returns its path. The signer is
 * enforced on volumes only, as duplicity does (§9.6): manifests and sigtars may be unsigned, unless
 * `enforceSigner` asks for the check anyway.
 */
export async function decryptToTemp(ctx: ReadContext, name: string, src: string, isVolume: boolean, enforceSigner = isVolume): Promise<string> {
  const out = tempPath(ctx, 'plain');
  const all = await decryptOptions(ctx, name);
  const opts = enforceSigner ? all : { ...all, requireSigner: undefined };
  let it: AsyncIterator<Uint8Array> | undefined;
  try {
    const fd = openSync(out, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      if (isVolume && workerDecryptionAvailable()) {
        // Written by the worker itself: the plaintext does not pass through this thread.
        await decryptToFileOnWorker(src, opts, fd);
      } else {
        it = await openDecryption(src, opts, isVolume);
        await new PieceWriter().write(fd, { [Symbol.asyncIterator]: () => it! });
      }
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    await it?.return?.(undefined).catch(() => undefined);
    await rm(out, { force: true });
    throw decryptFailure(name, err, all);
  }
  return out;
}

/** A decryption error as the one-line user error duplicity's exit codes call for. */
function decryptFailure(name: string, err: unknown, opts: DecryptOptions): Error {
  const e = err as { exitCode?: number; message?: string };
  let code = typeof e.exitCode === 'number' ? e.exitCode : 31;
  let message = e.message ?? String(err);
  if (code === 31 && !opts.passphrase) {
    // Unattended, duplicity's passphrase prompt meets end of input and it ends with exit 30.
    code = 30;
    if (!message.includes('PASSPHRASE')) message += ' (PASSPHRASE is not set)';
  }
  return userError(`failed to decrypt ${name}: ${message}`, code);
}

/**
 * A hash-checked encrypted volume decrypted as it is read (see the module comment). The tar reader
 * stops at the end mark and closes its source; that does not end the decryption, finish() does:
 * it reads the rest of the message, where the MDC and signature are checked.
 */
async function streamedDecryption(name: string, src: string, opts: DecryptOptions, dispose: () => Promise<void>): Promise<FetchedFile> {
  const open = () => openDecryption(src, opts, true);
  // Opened on first read: a prefetched volume that is never read (the reader stopped early) must
  // leave no open file behind (or worker running), and a generator closed before it started runs no cleanup.
  let it: AsyncIterator<Uint8Array> | undefined;
  let done = false;
  const next = async (): Promise<IteratorResult<Uint8Array>> => {
    if (done) return { done: true, value: undefined };
    try {
      it ??= await open();
      const r = await it.next();
      if (r.done) done = true;
      return r;
    } catch (err) {
      done = true;
      throw decryptFailure(name, err, opts);
    }
  };
  const reader: AsyncIterator<Uint8Array> = { next, return: async () => ({ done: true, value: undefined }) };
  return {
    plaintext: () => ({ [Symbol.asyncIterator]: () => reader }),
    finish: async () => {
      while (!(await next()).done);
    },
    dispose: async () => {
      if (!done) {
        done = true;
        await it?.return?.(undefined).catch(() => undefined);
      }
      await dispose();
    },
  };
}

/**
 * A fetched file whose plaintext can be read once. A reader that stops early (a tar end mark) and
 * wants the whole file checked calls finish(); dispose() ends the reading and removes temp files.
 */
export interface FetchedFile {
  plaintext(): AsyncIterable<Uint8Array>;
  /** Reads what the reader left of the plaintext, completing its checks (a streamed volume's MDC). */
  finish(): Promise<void>;
  dispose(): Promise<void>;
}

const noFinish = async () => {};

export interface FetchOptions {
  /** The manifest holding `expectedSha1` is known to come from --sign-key's signer (see the module comment). */
  signerVouched?: boolean;
  /** Check --sign-key's signature on this file even though it is not a volume (a manifest). */
  enforceSigner?: boolean;
}

/** SHA1 checks started ahead of fetchFile (hashAhead), by run and file name. */
const hashesAhead = new WeakMap<ReadContext, Map<string, Promise<string>>>();

/**
 * Starts checking the SHA1 of a volume the run will fetch soon, where the backend has it in place
 * (file://), and the decryption worker an encrypted volume needs: the first volume of each set is
 * then hashed (~0.3 s for 200 MB) while the run still unlocks its key and checks the remote manifest,
 * instead of after. fetchFile still compares the hash before the content is used.
 */
export function hashAhead(ctx: ReadContext, name: string, parsed: ParsedName): void {
  if (parsed.kind === 'volume' && parsed.encrypted) warmDecryptionWorker();
  if (!ctx.backend.localPath) return;
  let started = hashesAhead.get(ctx);
  if (!started) hashesAhead.set(ctx, (started = new Map()));
  if (started.has(name)) return;
  const sha1 = ctx.backend.localPath(name).then(sha1OfFile);
  sha1.catch(() => undefined); // fetchFile hashes again in its turn
  started.set(name, sha1);
}

/** The SHA1 of `file`, from hashAhead when it was started there on the same file. */
async function sha1Of(ctx: ReadContext, name: string, file: string, inPlace: boolean): Promise<string> {
  const ahead = inPlace ? hashesAhead.get(ctx)?.get(name) : undefined;
  hashesAhead.get(ctx)?.delete(name);
  return ahead ? ahead.catch(() => sha1OfFile(file)) : sha1OfFile(file);
}

/**
 * Gets a backend file (in place or downloaded) and prepares its plaintext. `expectedSha1` (a
 * volume's manifest hash) is checked on the file's bytes; a mismatch is exit 21.
 */
export async function fetchFile(ctx: ReadContext, name: string, parsed: ParsedName, expectedSha1?: string, o: FetchOptions = {}): Promise<FetchedFile> {
  const { file: raw, temp } = await localFile(ctx, name);
  const temps = temp ? [raw] : [];
  const dispose = async () => {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
  };
  try {
    if (expectedSha1 !== undefined) {
      const actual = await sha1Of(ctx, name, raw, !temp);
      if (actual !== expectedSha1.toLowerCase()) {
        throw userError(`failed to verify ${name}: SHA1 ${actual} does not match the manifest's ${expectedSha1}`, 21);
      }
    }
    if (parsed.encrypted) {
      const isVolume = parsed.kind === 'volume';
      if (isVolume && expectedSha1 !== undefined) {
        const opts = await decryptOptions(ctx, name);
        if (opts.requireSigner === undefined || o.signerVouched) return await streamedDecryption(name, raw, opts, dispose);
      }
      const plain = await decryptToTemp(ctx, name, raw, isVolume, isVolume || o.enforceSigner === true);
      temps.push(plain);
      if (temp) await rm(raw, { force: true });
      const read = parsed.kind === 'volume' ? () => ringChunks(plain) : () => createReadStream(plain, { highWaterMark: READ_CHUNK });
      return { plaintext: read, finish: noFinish, dispose };
    }
    if (parsed.compressed) return { plaintext: () => gunzipped(name, raw, parsed.kind === 'volume'), finish: noFinish, dispose };
    return { plaintext: () => createReadStream(raw, { highWaterMark: READ_CHUNK }), finish: noFinish, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/**
 * A temp-first volume's plaintext in reused buffers (ring-pieces.ts): one piece stays valid while the
 * reader asks for the next RING - 2 (the volume readers' contract is one, decryption-worker.ts's LAG).
 */
const RING = 4;
const ringChunks = (file: string) => ringPieces(file, { ring: RING, chunk: READ_CHUNK });

/**
 * The inflated content of a .gz file. Our own volumes are gzip members of at most 1 MiB, which
 * libdeflate inflates member by member on the thread pool (gzip-members.ts). A volume written by
 * duplicity is one big member, and without the addon every volume is: those are inflated by
 * node:zlib on the run's worker (decryption-worker.ts), so the main thread only takes finished
 * 1 MiB pieces. Small files (signatures) are inflated in this thread.
 */
async function* gunzipped(name: string, file: string, isVolume: boolean): AsyncGenerator<Uint8Array> {
  const whole = (): AsyncIterable<Uint8Array> => (isVolume && workerDecryptionAvailable() ? onWorker(file) : gunzipFile(file));
  try {
    yield* isVolume ? inflateMembers(file, whole, (err) => err as Error) : whole();
  } catch (err) {
    throw userError(`failed to decompress ${name}: ${(err as Error).message}`, 30);
  }
}

async function* onWorker(file: string): AsyncGenerator<Uint8Array> {
  const it = await gunzipOnWorker(file);
  yield* { [Symbol.asyncIterator]: () => it };
}

/** Reads a whole (small) file's plaintext into memory: manifests. */
export async function readAll(src: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}
