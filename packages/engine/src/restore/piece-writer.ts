/**
 * Writing a stream of content pieces to a file descriptor: restored files, patch stages and
 * decrypted volumes. Pieces are gathered into two alternating buffers; a full buffer is written on
 * the thread pool while the other one fills, so the write system calls (page-cache copies, a good
 * part of a restore's time) overlap with decrypting and reading the next pieces on the main
 * thread. A file shorter than one buffer takes a single synchronous write at the end: a thread-pool
 * round trip would cost more than such a write.
 */
import { write, writeSync } from 'node:fs';

/** The size of each gather buffer. */
const GATHER = 1 << 20;

export class PieceWriter {
  private readonly bufs = [Buffer.allocUnsafe(GATHER), Buffer.allocUnsafe(GATHER)];

  /**
   * Writes a stream of pieces to `fd` at its current offset. Every piece is copied before the next
   * is asked for, so producers may reuse their buffers; when this returns (or throws), no write is
   * running any more, so the caller may close `fd`.
   */
  async write(fd: number, content: AsyncIterable<Uint8Array>): Promise<void> {
    let which = 0;
    let buf = this.bufs[which];
    let len = 0;
    let inFlight: Promise<void> | undefined;
    try {
      for await (const piece of content) {
        let off = 0;
        while (off < piece.length) {
          const n = Math.min(piece.length - off, buf.length - len);
          buf.set(piece.subarray(off, off + n), len);
          len += n;
          off += n;
          if (len === buf.length) {
            // The other buffer is free again once its write is done; one write at a time keeps the order.
            await inFlight;
            inFlight = writeFullyAsync(fd, buf);
            // Awaited later; until then a failure must not count as unhandled.
            inFlight.catch(() => undefined);
            which ^= 1;
            buf = this.bufs[which];
            len = 0;
          }
        }
      }
      await inFlight;
      inFlight = undefined;
      if (len) writeFully(fd, buf.subarray(0, len));
    } finally {
      if (inFlight) await inFlight.catch(() => undefined);
    }
  }
}

/** Writes all of `buf` at the file's current offset. */
export function writeFully(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/** writeFully on the thread pool. */
function writeFullyAsync(fd: number, buf: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number) => {
      if (off >= buf.length) return resolve();
      write(fd, buf, off, buf.length - off, null, (err, n) => (err ? reject(err) : step(off + n)));
    };
    step(0);
  });
}
