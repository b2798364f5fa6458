/**
 * Reading a file for a backup with reused read buffers (readFileAhead's `spare`) and cutting it into
 * 64 KiB chunks (chunk64k): the chunks must hold the file's bytes even when reads come back short
 * and a buffer chunk64k still holds a view of would otherwise be read into again.
 */
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { chunk64k, CHUNK_SIZE, readFileAhead } from '../src/backup/payload-chunks.js';

/** A FileHandle over `data` whose reads stop short at the given offsets (as a file growing under us does). */
function fakeHandle(data: Buffer, shortAt: number[]): FileHandle {
  return {
    async read(buf: Buffer, off: number, len: number, pos: number) {
      const stop = shortAt.find((s) => s > pos && s < pos + len) ?? pos + len;
      const n = data.copy(buf, off, pos, Math.min(stop, data.length));
      return { bytesRead: n, buffer: buf };
    },
  } as unknown as FileHandle;
}

it.each([
  ['aligned reads', 5 * (1 << 20), []],
  ['a short read halfway', 5 * (1 << 20) + 777, [(1 << 20) + 12345]],
  ['short reads everywhere', 4 * (1 << 20), [1000, (1 << 20) + 5, 3 * (1 << 20) - 1]],
  ['a file longer than its stat size', 3 * (1 << 20) + 4, []],
])('chunks hold the file bytes with reused read buffers: %s', async (_name, size, shortAt) => {
  const data = randomBytes(size);
  const spare: Buffer[] = [];
  const got: Buffer[] = [];
  // The stat size is a little less than the real size in the last case; reads go on to the end.
  const statSize = _name.startsWith('a file longer') ? size - 100_000 : size;
  for (let round = 0; round < 2; round++) {
    got.length = 0;
    for await (const c of chunk64k(readFileAhead(fakeHandle(data, shortAt), statSize, spare))) {
      expect(c.length).toBeLessThanOrEqual(CHUNK_SIZE);
      got.push(Buffer.from(c)); // copied now: later reads may reuse the buffer behind c
    }
    expect(Buffer.concat(got).equals(data)).toBe(true);
  }
  expect(spare.length).toBeLessThanOrEqual(3);
});
