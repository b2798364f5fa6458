/**
 * Writing a stream of content pieces to a file descriptor with synchronous writes: restored files,
 * patch stages and decrypted volumes. Local writes mostly land in the page cache; a thread-pool
 * round trip per piece would cost more than the write.
 */
import { writeSync } from 'node:fs';

/** Pieces at least this big are written as they come; smaller ones are gathered first. */
const DIRECT_WRITE = 64 << 10;
/** The size of a gather buffer. */
export const GATHER = 1 << 20;

/**
 * Writes a stream of pieces to `fd`: big ones as they come, small ones gathered in `gather` first.
 * Each piece is written before the next is asked for, so producers may reuse their buffers.
 */
export async function writePieces(fd: number, content: AsyncIterable<Uint8Array>, gather: Buffer): Promise<void> {
  let len = 0;
  for await (const piece of content) {
    if (piece.length >= DIRECT_WRITE) {
      if (len) writeFully(fd, gather.subarray(0, len));
      len = 0;
      writeFully(fd, piece);
      continue;
    }
    if (len + piece.length > gather.length) {
      writeFully(fd, gather.subarray(0, len));
      len = 0;
    }
    gather.set(piece, len);
    len += piece.length;
  }
  if (len) writeFully(fd, gather.subarray(0, len));
}

/** Writes all of `buf` at the file's current offset. */
export function writeFully(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}
