// A PatchBasis over a local file.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { RsyncError } from './errors.js';
import type { PatchBasis } from './patch.js';

/**
 * Reads shorter than this are served from a small window cache: deltas often copy many block-sized
 * pieces that lie close together. The window is small so that a lone short copy reads little extra.
 */
const SMALL_READ = 8 << 10;
const WINDOW = 64 << 10;

/**
 * Opens `path` as a patch basis. Reads are synchronous on purpose: they hit a local file (usually the
 * page cache) and a thread-pool round trip per COPY would cost more than the read itself.
 */
export async function fileBasis(path: string): Promise<PatchBasis & Required<Pick<PatchBasis, 'readInto'>> & { close(): Promise<void> }> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new RsyncError('io', `failed to open basis ${path}: ${(err as Error).message}`);
  }
  const size = fstatSync(fd).size;
  let window = Buffer.alloc(0);
  let windowPos = 0;
  let closed = false;

  const readFully = (buf: Buffer, position: number): number => {
    let done = 0;
    while (done < buf.length) {
      const n = readSync(fd, buf, done, buf.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  };

  return {
    size,
    async read(position: number, length: number): Promise<Uint8Array> {
      if (closed) throw new Error(`basis ${path} is closed`);
      try {
        if (length < SMALL_READ) {
          if (position < windowPos || position + length > windowPos + window.length) {
            window = Buffer.allocUnsafe(Math.min(WINDOW, Math.max(0, size - position)));
            windowPos = position;
            window = window.subarray(0, readFully(window, position));
          }
          const off = position - windowPos;
          return new Uint8Array(window.subarray(off, Math.min(off + length, window.length)));
        }
        const buf = Buffer.allocUnsafe(length);
        return buf.subarray(0, readFully(buf, position));
      } catch (err) {
        throw new RsyncError('io', `failed to read basis ${path}: ${(err as Error).message}`);
      }
    },
    async readInto(position: number, target: Uint8Array, offset: number, length: number): Promise<number> {
      if (closed) throw new Error(`basis ${path} is closed`);
      try {
        return readFully(Buffer.from(target.buffer, target.byteOffset + offset, length), position);
      } catch (err) {
        throw new RsyncError('io', `failed to read basis ${path}: ${(err as Error).message}`);
      }
    },
    async close(): Promise<void> {
      if (!closed) {
        closed = true;
        closeSync(fd);
      }
    },
  };
}
