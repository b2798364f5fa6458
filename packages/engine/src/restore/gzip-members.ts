/**
 * Inflating our own gzip volumes member by member in the addon (@duplicity-ts/libdeflate: ISA-L
 * where built in, else libdeflate), on the thread pool: the volume writer cuts every volume into
 * members of at most 1 MiB (FORMAT.md §9.1 allows any number), and whole members inflate at 1.4x
 * (libdeflate) to 1.7x (ISA-L) node:zlib's speed with fewer, reused buffers (docs/PERFORMANCE.md).
 *
 * The addon only inflates a member that is whole in memory and fits its output buffer, so this
 * reads the file through a window holding at least one of our members, and anything else goes to
 * node:zlib: a first member that does not fit (duplicity writes a volume as one big member), no
 * addon, or DUPLICITY_TS_NO_LIBDEFLATE=1 hand the whole file to `streamed`; a member further on that
 * does not inflate (damage, trailing bytes, a bigger member) hands the rest of the file, from
 * that member on, to a zlib stream, so errors and trailing-data handling stay node:zlib's.
 *
 * Output buffers are reused under the volume readers' contract (decryption-worker.ts's LAG): a piece
 * stays valid while the reader asks for the next LAG. Fresh 2 MiB buffers per job cost the main
 * thread ~60 scavenges ("external memory pressure") and their munmaps per GiB restored.
 */
import { open, type FileHandle } from 'node:fs/promises';
import * as libdeflate from '@duplicity-ts/libdeflate';
import { LAG } from './decryption-worker.js';
import { gunzipFile } from './gunzip.js';

/** The most a member of ours inflates to: the volume writer's block size. */
const MEMBER_OUT = 1 << 20;
/**
 * Output per job: members follow one another until a block's worth came out, and the room left then
 * still holds any member of ours (a block of small files and random runs is many small members).
 */
const JOB_OUT = 2 * MEMBER_OUT;
/** Compressed bytes kept ahead of the member being inflated: one stored 1 MiB member and change. */
const AHEAD = MEMBER_OUT + (64 << 10);
const WINDOW = 4 << 20;

/**
 * The plaintext of gzip `file`. `streamed` is the caller's node:zlib path for a whole file, `failed`
 * turns a zlib error into the caller's error.
 */
export async function* inflateMembers(
  file: string,
  streamed: () => AsyncIterable<Uint8Array>,
  failed: (err: unknown) => Error,
): AsyncIterable<Uint8Array> {
  if (!libdeflate.isAvailable()) {
    yield* streamed();
    return;
  }
  let fh: FileHandle | undefined = await open(file, 'r');
  try {
    const win = Buffer.allocUnsafe(WINDOW);
    // win[pos, len) holds the file's bytes from offset `base + pos`.
    let base = 0;
    let pos = 0;
    let len = 0;
    let eof = false;
    const refill = async () => {
      if (eof || len - pos >= AHEAD) return;
      win.copyWithin(0, pos, len);
      len -= pos;
      base += pos;
      pos = 0;
      while (!eof && len < WINDOW) {
        const { bytesRead } = await fh!.read(win, len, WINDOW - len, null);
        if (bytesRead === 0) eof = true;
        len += bytesRead;
      }
    };
    /** Buffers of the pieces handed out, oldest first, and those free again. */
    const handedOut: Buffer[] = [];
    const free: Buffer[] = [];
    const start = () => {
      const out = free.pop() ?? Buffer.allocUnsafe(JOB_OUT);
      return { out, result: libdeflate.gunzipInto(win.subarray(pos, len), out, MEMBER_OUT) };
    };
    await refill();
    let job = len > 0 ? start() : undefined;
    let first = true;
    while (job) {
      const [status, consumed, produced] = await job.result;
      if (status !== 0) {
        await fh.close();
        fh = undefined;
        if (first) yield* streamed();
        // node:zlib takes trailing zero bytes after a member for padding and ignores the rest;
        // anything else it reads as a further member, failing if it is none.
        else if (win[pos] !== 0) yield* zlibFrom(file, base + pos, failed);
        return;
      }
      first = false;
      pos += consumed;
      const job0 = job.out;
      const out = job0.subarray(0, produced);
      // The next member inflates on the pool while the reader works on this one.
      await refill();
      job = pos < len ? start() : undefined;
      handedOut.push(job0);
      yield out;
      if (handedOut.length > LAG) free.push(handedOut.shift()!);
    }
    if (first) {
      // An empty file: let zlib say what it says about that.
      await fh.close();
      fh = undefined;
      yield* streamed();
    }
  } finally {
    await fh?.close();
  }
}

/** The rest of `file` from `offset` through node:zlib, its errors turned into the caller's. */
async function* zlibFrom(file: string, offset: number, failed: (err: unknown) => Error): AsyncIterable<Uint8Array> {
  try {
    yield* gunzipFile(file, offset);
  } catch (err) {
    throw failed(err);
  }
}
