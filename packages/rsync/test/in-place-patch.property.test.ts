// InPlacePatch: a delta applied over its basis in the same file makes the same bytes as patch() streaming it out of
// a separate basis, whenever it says it is safe; the usual incremental edits (overwrites of the same length,
// appends, deletions) are safe, and an insertion is not.
import fc from 'fast-check';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deltaInFile, deltaInMemory, duplicitySignatureParams, InPlacePatch, RsyncError, type DeltaBytes } from '@duplicity-ts/rsync';
import { CommandWriter, OP_END } from '../src/delta-encoding.js';
import { DELTA_MAGIC } from '../src/params.js';
import { applyDelta, applyEdits, bytesArb, editArb, makeDelta, makeSignature, sameBytes, withTempDir } from './helpers.js';

const NUM_RUNS = Number(process.env.RSYNC_FUZZ_RUNS ?? 60);

/** Spool files open for a test. */
const spools: number[] = [];
afterEach(() => {
  for (const fd of spools.splice(0)) closeSync(fd);
});

/** The delta's commands, read from memory or (`spooled`) from a file, with the bytes they were read from. */
function parsed(dir: string, delta: Buffer, spooled: boolean): { p: InPlacePatch; bytes: DeltaBytes } {
  let bytes = deltaInMemory(delta);
  if (spooled) {
    const file = join(dir, 'delta');
    writeFileSync(file, delta);
    const fd = openSync(file, 'r');
    spools.push(fd);
    bytes = deltaInFile(fd, delta.length);
  }
  return { p: InPlacePatch.parse(bytes), bytes };
}

/** Writes `basis` to a file, applies the delta in place, and returns the file's bytes. */
function inPlace(dir: string, basis: Uint8Array, { p, bytes }: { p: InPlacePatch; bytes: DeltaBytes }): Buffer {
  const file = join(dir, 'f');
  writeFileSync(file, basis);
  const fd = openSync(file, 'r+');
  try {
    p.apply(fd, bytes);
  } finally {
    closeSync(fd);
  }
  return readFileSync(file);
}

/** A delta of raw commands: COPY [from, length] or LITERAL bytes. */
function encode(commands: ({ from: number; length: number } | Uint8Array)[]): Buffer {
  const w = new CommandWriter();
  const magic = Buffer.alloc(4);
  magic.writeUInt32BE(DELTA_MAGIC);
  w.bytes(magic);
  for (const c of commands) {
    if (c instanceof Uint8Array) {
      w.literalHeader(c.length);
      w.bytes(c);
    } else w.copy(c.from, c.length);
  }
  w.byte(OP_END);
  return Buffer.from(w.take());
}

/**
 * Commands over a basis of `size` bytes as a walk: mostly COPYs onto themselves (what deltas of files edited in
 * place hold), LITERALs, and COPYs from anywhere (earlier, later, overlapping the output).
 */
const commandsArb = (size: number) =>
  fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('same' as const), length: fc.integer({ min: 1, max: 5000 }) }) },
      { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 3000 }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('any' as const), from: fc.nat(size), length: fc.integer({ min: 1, max: 5000 }) }) },
    ),
    { maxLength: 12 },
  );

describe('InPlacePatch', () => {
  it('makes what patch() makes from deltas of edited files, when it says it is safe', async () => {
    let safe = 0;
    await withTempDir(async (dir) => {
      await fc.assert(
        fc.asyncProperty(bytesArb(60000), fc.array(editArb, { maxLength: 5 }), fc.integer({ min: 16, max: 2048 }), fc.boolean(), async (old, edits, blockLen, spooled) => {
          const next = applyEdits(old, edits);
          const delta = makeDelta(makeSignature({ blockLen, strongLen: 8, hash: 'md4', weak: 'rollsum' }, old), next);
          const d = parsed(dir, delta, spooled);
          expect(d.p.outputSize).toBe(next.length);
          if (!d.p.safe) return;
          safe++;
          expect(sameBytes(inPlace(dir, old, d), next)).toBe('same');
        }),
        { numRuns: NUM_RUNS * 2 },
      );
    });
    expect(safe).toBeGreaterThan(0);
  });

  it('makes what patch() makes from any commands, when it says it is safe, and refuses to apply otherwise', async () => {
    await withTempDir(async (dir) => {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 1, maxLength: 40000 }).chain((basis) => fc.tuple(fc.constant(basis), commandsArb(basis.length))),
          fc.boolean(),
          async ([basis, walk], spooled) => {
            let out = 0;
            const commands = walk.flatMap((c) => {
              if (c instanceof Uint8Array) {
                out += c.length;
                return [c];
              }
              const from = c.kind === 'same' ? out : c.from;
              const length = Math.min(c.length, basis.length - from);
              if (length <= 0) return [];
              out += length;
              return [{ from, length }];
            });
            const delta = encode(commands);
            const expected = await applyDelta(basis, delta);
            const d = parsed(dir, delta, spooled);
            expect(d.p.outputSize).toBe(expected.length);
            if (d.p.safe) expect(sameBytes(inPlace(dir, basis, d), expected)).toBe('same');
            else expect(() => inPlace(dir, basis, d)).toThrow(/cannot be applied in place/);
          },
        ),
        { numRuns: NUM_RUNS * 4 },
      );
    });
  });

  it('finds the usual incremental edits of a big file safe (same-length overwrites, appends, deletions) and an insertion not', async () => {
    const old = Buffer.alloc(3 << 20);
    for (let i = 0, x = 7; i < old.length; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      old[i] = x & 0xff;
    }
    const params = duplicitySignatureParams(old.length);
    const sig = makeSignature(params, old);
    const overwritten = Buffer.from(old);
    for (const at of [1000, 700_000, 2_000_000, old.length - 5000]) overwritten.fill(0x55, at, at + 5000);
    const cases: [string, Buffer, boolean][] = [
      ['overwritten', overwritten, true],
      ['appended', Buffer.concat([old, Buffer.alloc(100_000, 1)]), true],
      ['truncated', old.subarray(0, 2_500_000), true],
      ['with a deletion', Buffer.concat([old.subarray(0, 1_000_000), old.subarray(1_200_000)]), true],
      ['with an insertion', Buffer.concat([old.subarray(0, 1_000_000), Buffer.alloc(70_000, 2), old.subarray(1_000_000)]), false],
    ];
    await withTempDir(async (dir) => {
      for (const [what, next, safe] of cases) {
        const d = parsed(dir, makeDelta(sig, next), true);
        expect({ what, safe: d.p.safe }).toEqual({ what, safe });
        if (safe) expect({ what, bytes: sameBytes(inPlace(dir, old, d), next) }).toEqual({ what, bytes: 'same' });
      }
    });
  });

  it('rejects a bad delta as patch() does, and a COPY past the basis before writing anything', async () => {
    const basis = Buffer.from('0123456789abcdef'.repeat(100));
    const good = encode([{ from: 0, length: 100 }, Buffer.from('xyz'), { from: 200, length: 50 }]);
    for (let cut = 0; cut < good.length; cut++) {
      const bad = good.subarray(0, cut);
      const streamed = await applyDelta(basis, bad).then(() => undefined, (e: RsyncError) => e.status);
      expect(streamed).toBeDefined();
      expect(() => InPlacePatch.parse(deltaInMemory(bad))).toThrow(RsyncError);
      try {
        InPlacePatch.parse(deltaInMemory(bad));
      } catch (e) {
        expect((e as RsyncError).status).toBe(streamed);
      }
    }
    expect(() => InPlacePatch.parse(deltaInMemory(Buffer.from([0x72, 0x73, 0x02, 0x36, 0x55])))).toThrow(/reserved opcode 0x55/);
    await withTempDir(async (dir) => {
      const past = parsed(dir, encode([Buffer.from('new'), { from: 1590, length: 20 }]), false);
      expect(past.p.safe).toBe(true);
      expect(() => inPlace(dir, basis, past)).toThrow(/COPY 1590\+20 reaches past the end of the 1600-byte basis/);
      expect(readFileSync(join(dir, 'f')).equals(basis)).toBe(true);
    });
  });
});
