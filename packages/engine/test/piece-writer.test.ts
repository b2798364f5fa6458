/**
 * PieceWriter: content of any size arrives byte-exact though producers reuse their buffers and the
 * writes run on the thread pool; a producer failing midway leaves no write running.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { PieceWriter } from '../src/restore/piece-writer.js';

const dir = mkdtempSync(path.join(tmpdir(), 'piece-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Yields `data` in pieces of the given sizes (cycled), all through one reused buffer. */
async function* reusedPieces(data: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
  const scratch = Buffer.alloc(Math.max(...sizes));
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length], data.length - off);
    data.copy(scratch, 0, off, off + n);
    yield scratch.subarray(0, n);
    scratch.fill(0xee);
    off += n;
  }
}

it('writes pieces of any size byte-exact, across many gather buffers, with one writer reused', async () => {
  const w = new PieceWriter();
  for (const [size, sizes] of [
    [0, [1]],
    [1000, [7, 300]],
    [(1 << 20) - 1, [65536]],
    [(5 << 20) + 12345, [1, 65536, 3 << 20, 4096, (1 << 20) + 1]],
  ] as [number, number[]][]) {
    const data = randomBytes(size);
    const file = path.join(dir, `f${size}`);
    const fd = openSync(file, 'wx');
    try {
      await w.write(fd, reusedPieces(data, sizes));
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(file).equals(data)).toBe(true);
  }
});

it('a producer that fails midway: the error comes through once no write is running', async () => {
  async function* failing(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < 5; i++) yield Buffer.alloc(1 << 20, i);
    throw new Error('damaged volume');
  }
  const file = path.join(dir, 'failing');
  const fd = openSync(file, 'wx');
  try {
    await expect(new PieceWriter().write(fd, failing())).rejects.toThrow('damaged volume');
  } finally {
    closeSync(fd);
  }
  // Whatever was written is a prefix of the content.
  const got = readFileSync(file);
  for (let i = 0; i < got.length; i += 1 << 20) expect(got[i]).toBe(i >> 20);
});
