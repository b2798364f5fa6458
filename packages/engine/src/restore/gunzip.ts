/**
 * Inflating a gzip file as a stream of pieces: the file is fed to node:zlib (which inflates on the
 * thread pool) through two reused read buffers, and the inflated pieces are read as they come. Used
 * for .gz volumes on the decode worker (decrypt-worker.ts) and, in-thread, for everything else.
 */
import { open, type FileHandle } from 'node:fs/promises';
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
