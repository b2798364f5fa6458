/**
 * Cutting a payload (file content or delta) into duplicity's 64 KiB pieces (FORMAT.md §4.3):
 * duplicity reads payloads 65536 bytes at a time and a short read is the last one, so a payload
 * of exactly k·65536 bytes ends with an empty chunk. A payload shorter than 65536 bytes is one
 * plain entry; anything longer becomes `multivol_*` chunks 1..n.
 */
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

export const CHUNK_SIZE = 65536;

/**
 * Re-blocks a byte stream into 65536-byte chunks plus one final shorter (possibly empty) chunk.
 * Chunks may be views of the pieces given: the producer must hand over fresh buffers (file reads,
 * delta output) and not reuse them; a small file's content then passes through without a copy.
 */
export async function* chunk64k(src: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingLen = 0;
  for await (const piece of src) {
    let buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (pendingLen + buf.length >= CHUNK_SIZE) {
      const take = CHUNK_SIZE - pendingLen;
      pending.push(buf.subarray(0, take));
      yield pending.length === 1 ? pending[0] : Buffer.concat(pending, CHUNK_SIZE);
      buf = buf.subarray(take);
      pending = [];
      pendingLen = 0;
    }
    if (buf.length > 0) {
      pending.push(buf);
      pendingLen += buf.length;
    }
  }
  yield pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingLen);
}

const READ_SIZE = 1 << 20;

/**
 * A file's bytes in 1 MiB reads, the next read already under way while the caller works on the
 * current one (reads run on the libuv pool, so disk and CPU overlap).
 *
 * With `spare`, 1 MiB read buffers are taken from and given back to that list, across files: fresh
 * buffers cost page faults and garbage collection out of proportion to the read. A buffer goes
 * back when the caller asks for the next one and the stream position is then a multiple of
 * CHUNK_SIZE: the caller must be done with a buffer by then, except that chunk64k may still hold
 * views of the bytes past the last 64 KiB boundary, and at a boundary it holds none.
 */
export async function* readFileAhead(fh: FileHandle, expectedSize: number, spare?: Buffer[]): AsyncGenerator<Buffer> {
  const readAt = (position: number) => {
    // Sized to what the file should still hold (one byte more shows growth), so small files do
    // not each cost a 1 MiB buffer; the reads past the end are tiny.
    const size = Math.max(1, Math.min(READ_SIZE, expectedSize - position + 1));
    const buf = (size === READ_SIZE && spare?.pop()) || Buffer.allocUnsafe(size);
    return fh.read(buf, 0, size, position).then((r) => ({ buf, got: buf.subarray(0, r.bytesRead) }));
  };
  let position = 0;
  let next = readAt(position);
  /** The buffer yielded last, when it may be reused once the caller comes back. */
  let reusable: Buffer | undefined;
  for (;;) {
    const { buf, got } = await next;
    if (reusable) spare!.push(reusable);
    reusable = undefined;
    if (got.length === 0) return;
    position += got.length;
    next = readAt(position);
    if (spare && buf.length === READ_SIZE && position % CHUNK_SIZE === 0) reusable = buf;
    yield got;
  }
}

/**
 * Whether a chunk looks incompressible (already compressed or encrypted data), from the byte
 * entropy of a sample: deflate would only burn CPU on it, so the volume stores it instead.
 */
export function looksIncompressible(chunk: Uint8Array): boolean {
  if (chunk.length < 4096) return false;
  const counts = new Uint32Array(256);
  const step = Math.max(1, Math.floor(chunk.length / 4096));
  let n = 0;
  for (let i = 0; i < chunk.length; i += step) {
    counts[chunk[i]]++;
    n++;
  }
  let entropy = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b];
    if (c) {
      const p = c / n;
      entropy -= p * Math.log2(p);
    }
  }
  return entropy > 7.8;
}

/**
 * Opens a source file for a synchronous read. O_NONBLOCK: a file swapped for a FIFO since the walk
 * must not hang the run; the fstat check then rejects it.
 */
export function openRegularFileSync(p: Buffer): number {
  const fd = openSync(p, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) throw new Error('not a regular file any more');
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}
