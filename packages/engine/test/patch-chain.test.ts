/**
 * A file rebuilt from its snapshot and a chain of diffs: writeChain (the restore's way, the newest diffs applied
 * in place in the restored file where they allow it) writes the same bytes as chainContent (verify's way, every
 * diff through a temp stage), whatever mix of safe and unsafe diffs, deltas in memory or spooled; a bad delta is
 * the same one-line error either way, and no patch stage is left behind.
 */
import fc from 'fast-check';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeltaBuilder, duplicitySignatureParams, Signature, SignatureBuilder } from '@duplicity-ts/rsync';
import type { BackupSet } from '../src/collection/backup-set.js';
import { chainContent, writeChain } from '../src/restore/patch-chain.js';
import { PieceWriter } from '../src/restore/piece-writer.js';
import { readAll } from '../src/restore/remote-file.js';
import type { SetEntry } from '../src/restore/set-reader.js';
import { seededBytes } from './fault-harness.js';

const root = mkdtempSync(path.join(tmpdir(), 'patch-chain-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Edit = { kind: 'overwrite' | 'insert' | 'delete' | 'append' | 'truncate'; at: number; len: number; seed: number };

function edited(old: Buffer, e: Edit): Buffer {
  const at = Math.floor(e.at * old.length);
  const data = seededBytes(e.seed, e.len);
  switch (e.kind) {
    case 'overwrite':
      return Buffer.concat([old.subarray(0, at), data, old.subarray(at + data.length)]);
    case 'insert':
      return Buffer.concat([old.subarray(0, at), data, old.subarray(at)]);
    case 'delete':
      return Buffer.concat([old.subarray(0, at), old.subarray(at + e.len)]);
    case 'append':
      return Buffer.concat([old, data]);
    case 'truncate':
      return old.subarray(0, at);
  }
}

function delta(old: Buffer, next: Buffer): Buffer {
  const sb = new SignatureBuilder(duplicitySignatureParams(old.length));
  const sig = Buffer.concat([sb.update(old), sb.final()]);
  const db = new DeltaBuilder(Signature.parse(sig));
  return Buffer.concat([db.update(next), db.final()]);
}

/** Body pieces of at most 8 KiB, each overwritten once the next is asked for (as set readers reuse buffers). */
async function* body(bytes: Buffer): AsyncGenerator<Uint8Array> {
  const scratch = Buffer.alloc(8192);
  for (let i = 0; i < bytes.length; i += scratch.length) {
    const n = bytes.copy(scratch, 0, i, i + scratch.length);
    yield scratch.subarray(0, n);
    scratch.fill(0xa5);
  }
}

const entry = (kind: 'snapshot' | 'diff', bytes: Buffer, endTime: number): SetEntry =>
  ({ kind, index: [Buffer.from('dir'), Buffer.from('file')], header: { type: 'file' }, body: body(bytes), set: { endTime } as BackupSet }) as unknown as SetEntry;

/** The snapshot and the diffs making each later version, as fresh entries. */
function entries(versions: Buffer[]): { base: SetEntry; diffs: SetEntry[] } {
  return { base: entry('snapshot', versions[0], 0), diffs: versions.slice(1).map((v, i) => entry('diff', delta(versions[i], v), i + 1)) };
}

async function written(versions: Buffer[], inMemory?: number, tempDir = mkdtempSync(path.join(root, 'stages-'))): Promise<Buffer> {
  const file = path.join(root, `out-${Math.random().toString(36).slice(2)}`);
  const { base, diffs } = entries(versions);
  const fd = openSync(file, 'wx+');
  try {
    await writeChain({ tempDir }, base, diffs, fd, new PieceWriter(), { inMemory });
  } finally {
    closeSync(fd);
  }
  expect(readdirSync(tempDir)).toEqual([]);
  const out = readFileSync(file);
  rmSync(file);
  return out;
}

const editArb: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom('overwrite', 'overwrite', 'append', 'insert', 'delete', 'truncate'),
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  len: fc.integer({ min: 1, max: 40_000 }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
});

describe('writeChain', () => {
  it('writes what chainContent streams, for random chains of edits, deltas in memory or spooled', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 600_000 }),
        fc.array(editArb, { minLength: 1, maxLength: 5 }),
        fc.constantFrom(undefined, 0, 2000, 50_000),
        async (size, edits, inMemory) => {
          const versions = [seededBytes(size + 1, size)];
          for (const e of edits) versions.push(edited(versions[versions.length - 1], e));
          const { base, diffs } = entries(versions);
          const streamed = await readAll(chainContent({ tempDir: root }, base, diffs));
          const newest = versions[versions.length - 1];
          expect(streamed.equals(newest)).toBe(true);
          expect((await written(versions, inMemory)).equals(newest)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('applies the diffs after an insertion in place, and streams the ones up to it (the insertion from its spool)', async () => {
    const v0 = seededBytes(3, 2 << 20);
    const v1 = edited(v0, { kind: 'overwrite', at: 0.2, len: 5000, seed: 4 });
    const v2 = edited(v1, { kind: 'insert', at: 0.5, len: 70_000, seed: 5 });
    const v3 = edited(v2, { kind: 'append', at: 0, len: 30_000, seed: 6 });
    const v4 = edited(v3, { kind: 'overwrite', at: 0.9, len: 9000, seed: 7 });
    for (const inMemory of [undefined, 0, 40_000]) expect((await written([v0, v1, v2, v3, v4], inMemory)).equals(v4)).toBe(true);
  });

  it('reports a bad delta in one line naming the file and the set, in place or streamed', async () => {
    const v0 = seededBytes(8, 300_000);
    const v1 = edited(v0, { kind: 'overwrite', at: 0.5, len: 100, seed: 9 });
    const good = delta(v0, v1);
    const truncated = good.subarray(0, good.length - 3);
    for (const inMemory of [undefined, 0]) {
      const tempDir = mkdtempSync(path.join(root, 'stages-'));
      const fd = openSync(path.join(tempDir, '..', `bad-${inMemory}`), 'wx+');
      try {
        const err = await writeChain({ tempDir }, entry('snapshot', v0, 0), [entry('diff', truncated, 1750000000)], fd, new PieceWriter(), { inMemory }).then(
          () => undefined,
          (e: Error & { exitCode?: number }) => e,
        );
        expect(err?.message).toMatch(/^failed to apply the delta for dir\/file from the set ending 1750000000: delta is truncated/);
        // RsyncError's exit code, duplicity's generic error.
        expect(err?.exitCode).toBe(1);
      } finally {
        closeSync(fd);
      }
      expect(readdirSync(tempDir)).toEqual([]);
    }
  });
});
