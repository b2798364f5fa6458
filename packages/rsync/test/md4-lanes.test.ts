/**
 * MD4 in the libdeflate addon's lanes (AVX-512 or AVX2), which the WASM hands its batches of blocks to: every
 * digest equals hash-wasm's MD4, at both widths, and signatures and deltas come out byte for byte the same
 * with the lanes as with the WASM's own MD4 (DUPLICITY_TS_NO_LIBDEFLATE=1), while patching back to the input.
 */
import { md4Blocks, md4LanesWidth } from '@duplicity-ts/libdeflate';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { md4 } from 'hash-wasm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { applyDelta, applyEdits, bytesArb, editArb, sameBytes } from './helpers.js';

type Rsync = typeof import('@duplicity-ts/rsync');

/** Switches the addon (and so the MD4 lanes) on or off: read when a WASM instance is made, and on every call. */
function useAddon(on: boolean): void {
  if (on) delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
  else process.env.DUPLICITY_TS_NO_LIBDEFLATE = '1';
}

/** The rsync package loaded afresh: its WASM instances (made on first use, then kept) are its own. */
async function freshRsync(): Promise<Rsync> {
  vi.resetModules();
  return import('@duplicity-ts/rsync');
}

afterEach(() => {
  delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
});

// Where the CPU has AVX2 (as /proc/cpuinfo says), CI must find the lanes built and in use; elsewhere the WASM does it all.
const cpuHasAvx2 = (() => {
  try {
    return /^flags\s*:.*\bavx2\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
})();
const haveLanes = md4LanesWidth() > 0;
const mustHaveLanes = cpuHasAvx2 && process.env.CI === 'true';

describe.skipIf(!haveLanes && !mustHaveLanes)('md4Blocks', () => {
  it('has lanes on this CPU (AVX2 or AVX-512)', () => {
    expect([8, 16]).toContain(md4LanesWidth());
  });

  it('gives the MD4 of every block, for any length, count and offset, at both widths', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.integer({ min: 1, max: 200 }), fc.constantFrom(511, 512, 513, 2048, 4095)),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 100 }),
        fc.constantFrom(8, 16),
        async (len, count, at, width) => {
          const memory = new Uint8Array(at + len * count + 16 * count + 64);
          for (let i = 0; i < memory.length; i++) memory[i] = (i * 2654435761 + len) >>> 24;
          const out = at + len * count + 7;
          expect(md4Blocks(memory, at, len, count, out, width)).toBe(true);
          for (let i = 0; i < count; i++) {
            const want = await md4(memory.subarray(at + i * len, at + (i + 1) * len));
            expect(Buffer.from(memory.subarray(out + 16 * i, out + 16 * i + 16)).toString('hex')).toBe(want);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('refuses blocks or digests outside the memory', () => {
    const memory = new Uint8Array(1000);
    expect(() => md4Blocks(memory, 0, 100, 10, 990)).toThrow(RangeError);
    expect(() => md4Blocks(memory, 950, 100, 1, 0)).toThrow(RangeError);
    expect(() => md4Blocks(memory, 0, 100, 1, 0, 4)).toThrow(RangeError);
  });
});

describe.skipIf(!haveLanes && !mustHaveLanes)('signatures and deltas with MD4 lanes', () => {
  it('are the bytes the WASM alone writes, and patch back to the new file', async () => {
    const withLanes = await freshRsync();
    const wasmOnly = await freshRsync();
    const run = (r: Rsync, blockLen: number, old: Uint8Array, next: Uint8Array) => {
      useAddon(r === withLanes);
      const p = { hash: 'md4' as const, weak: 'rollsum' as const, blockLen, strongLen: 8 };
      const sb = new r.SignatureBuilder(p);
      const sig = Buffer.concat([sb.update(old), sb.final()]);
      const db = new r.DeltaBuilder(r.Signature.parse(sig), { signature: true });
      const delta = Buffer.concat([db.update(next), db.final()]);
      return { sig, delta, newSig: db.takeSignature() };
    };
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 700 }),
        // Long enough for runs of matching blocks (the batches), with a few edits between them.
        bytesArb(120_000),
        fc.array(editArb, { maxLength: 4 }),
        async (blockLen, old, edits) => {
          const next = applyEdits(old, edits);
          const a = run(withLanes, blockLen, old, next);
          const b = run(wasmOnly, blockLen, old, next);
          expect(sameBytes(a.sig, b.sig)).toBe('same');
          expect(sameBytes(a.delta, b.delta)).toBe('same');
          expect(sameBytes(a.newSig, b.newSig)).toBe('same');
          expect(sameBytes(await applyDelta(old, a.delta), next)).toBe('same');
        },
      ),
      { numRuns: 40 },
    );
  });
});
