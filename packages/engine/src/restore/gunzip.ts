/**
 * Inflating a gzip file as a stream of pieces: the file is fed to node:zlib (which inflates on the
 * thread pool) through two reused read buffers, and the inflated pieces are read as they come. Used
 * in-thread for small files and as gzip-members.ts's fallback. The decode worker (decrypt-worker.ts)
 * inflates .gz volumes synchronously with the addon instead (gunzipFileSync), when it is there, and so
 * does an incremental backup for the chain's cached sigtars (inflateFileSync, in its main thread).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Inflater } from '@duplicity-ts/libdeflate';
import type { Transform } from 'node:stream';
import { createGunzip, type ZlibOptions } from 'node:zlib';

/**
 * Read and inflated in 1 MiB pieces: with Node's 64 KiB / 16 KiB defaults, the per-chunk stream
 * and thread-pool overhead costs more than the inflating itself.
 */
const READ_CHUNK = 1 << 20;

/**
 * Feeds a file to an inflater through two reused read buffers (one being read while zlib works on
 * the other): a volume is hundreds of MiB, and a fresh buffer per read costs page faults and GC
 * work that show up as much as the reading itself. A buffer is read into again only after zlib has
 * called back for it, i.e. consumed it.
 */
async function feedFile(file: string, gz: Transform, offset: number): Promise<void> {
  let fh: FileHandle | undefined;
  const closed = new Promise<false>((resolve) => gz.once('close', () => resolve(false)));
  // false when the inflater was closed first (the reader stopped early, or it failed).
  const written = (b: Buffer) =>
    Promise.race([new Promise<true>((resolve, reject) => gz.write(b, (err) => (err ? reject(err) : resolve(true)))), closed]);
  try {
    fh = await open(file, 'r');
    const bufs = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)];
    let pending: Promise<boolean> | undefined;
    for (let i = 0, at = offset; ; i++) {
      const b = bufs[i & 1];
      const { bytesRead } = await fh.read(b, 0, b.length, at);
      at += bytesRead;
      if (pending && !(await pending)) return;
      if (bytesRead === 0) break;
      pending = written(b.subarray(0, bytesRead));
    }
    gz.end();
  } catch (err) {
    gz.destroy(err as Error);
  } finally {
    await fh?.close();
  }
}

/** The inflated content of `file` from byte `offset` on; zlib's errors are thrown as they are. */
export async function* gunzipFile(file: string, offset = 0): AsyncGenerator<Uint8Array> {
  // The readable side may run a few pieces ahead, so inflating (on the thread pool) overlaps with
  // the caller's work. In object mode each read takes one piece as zlib made it: in byte mode, the
  // stream's iterator joins all pieces waiting into a fresh buffer (measured 0.9 s of 1 GiB).
  const gz = createGunzip({ chunkSize: READ_CHUNK, readableObjectMode: true, readableHighWaterMark: 4 } as ZlibOptions);
  const piping = feedFile(file, gz, offset);
  let finished = false;
  try {
    for await (const chunk of gz) yield chunk as Buffer;
    finished = true;
  } finally {
    // A reader that stops early (tar end found) must not leave the pipeline waiting.
    if (!finished) gz.destroy();
    await piping;
  }
}

/**
 * The inflated content of `file`, read and inflated synchronously in this thread by the addon's
 * streaming inflater (@duplicity-ts/libdeflate: ISA-L or zlib; check `inflaterEngine()` first) into
 * one reused buffer: a piece is valid only until the next is asked for. For the decode worker (a
 * thread of its own) and the cached sigtars a backup reads with readTarSync: no thread-pool round
 * trip, no fresh buffer per piece, and ISA-L inflates text at 2-4x zlib's speed. Members, padding
 * and trailing bytes end as with node:zlib, with its messages.
 */
export function* inflateFileSync(file: string): Generator<Uint8Array> {
  const inflater = new Inflater('gzip');
  const fd = openSync(file, 'r');
  try {
    const read = Buffer.allocUnsafe(READ_CHUNK);
    const out = Buffer.allocUnsafe(READ_CHUNK);
    let input: Uint8Array = read.subarray(0, 0);
    let eof = false;
    /** The last push filled `out`: more output may wait inside the inflater. */
    let full = false;
    for (;;) {
      if (input.length === 0 && !eof) {
        const n = readSync(fd, read, 0, read.length, null);
        eof = n === 0;
        input = read.subarray(0, n);
      }
      if (input.length === 0 && !full) break;
      const produced = inflater.push(input, out);
      const consumed = inflater.consumed;
      if (produced === 0 && consumed === 0 && input.length > 0) throw new Error(`internal: the inflater made no progress on ${file}`);
      input = input.subarray(consumed);
      full = produced === out.length;
      if (produced > 0) yield out.subarray(0, produced);
    }
    if (!inflater.ended) throw Object.assign(new Error('unexpected end of file'), { code: 'Z_BUF_ERROR' });
  } finally {
    inflater.close();
    closeSync(fd);
  }
}

/** inflateFileSync as an async stream, for readers that take one (the decode worker's pieces). */
export async function* gunzipFileSync(file: string): AsyncGenerator<Uint8Array> {
  yield* inflateFileSync(file);
}
