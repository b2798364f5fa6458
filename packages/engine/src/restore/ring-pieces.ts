/**
 * A file's bytes in pieces read into a ring of reused buffers. createReadStream allocates a fresh
 * buffer per read: for a volume of hundreds of MiB that is page faults on this kind of VM and, as V8
 * counts such buffers as external memory, a mark-compact every few dozen MiB (measured: a quarter of
 * the decode worker's CPU). A buffer is refilled `ring` reads later, so a reader may hold views of up
 * to `ring - 1` earlier pieces. `sync` reads with readSync, for a thread with nothing else to do
 * meanwhile (a page-cache read is shorter than a thread-pool round trip); the main thread reads
 * asynchronously.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

export async function* ringPieces(path: string, o: { ring: number; chunk: number; sync?: boolean }): AsyncGenerator<Uint8Array> {
  const buffers = Array.from({ length: o.ring }, () => Buffer.allocUnsafe(o.chunk));
  if (o.sync) {
    const fd = openSync(path, 'r');
    try {
      for (let i = 0; ; i++) {
        const b = buffers[i % o.ring]!;
        const n = readSync(fd, b, 0, b.length, null);
        if (n === 0) return;
        yield b.subarray(0, n);
      }
    } finally {
      closeSync(fd);
    }
  }
  const fh = await open(path, 'r');
  try {
    for (let i = 0; ; i++) {
      const b = buffers[i % o.ring]!;
      const { bytesRead } = await fh.read(b, 0, b.length, null);
      if (bytesRead === 0) return;
      yield b.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
