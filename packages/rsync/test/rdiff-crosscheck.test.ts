// Cross-checks with the real rdiff (librsync 2.3.2) on random inputs.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fileBasis, patch, rdiffSignatureParams, type SignatureParams, type StrongHash, type WeakSum } from '@duplicity-ts/rsync';
import { haveRdiff, makeDelta, makeSignature, randomBytes, rdiff, sameBytes, withTempDir } from './helpers.js';

const KINDS: [StrongHash, WeakSum][] = [['md4', 'rollsum'], ['blake2', 'rollsum'], ['md4', 'rabinkarp'], ['blake2', 'rabinkarp']];
const NUM_RUNS = Number(process.env.RSYNC_FUZZ_RUNS ?? 25);

/** A new file from an old one: a few overwrites, inserts and deletes at pseudo-random places. */
function edited(old: Buffer, seed: number): Buffer {
  let b = old;
  const r = randomBytes(64, seed);
  for (let i = 0; i + 4 <= r.length; i += 4) {
    const at = b.length ? r.readUInt16LE(i) % b.length : 0;
    const len = r[i + 2] * 3;
    const op = r[i + 3] % 3;
    const ins = randomBytes(len, seed + i);
    if (op === 0) b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
    else if (op === 1) b = Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
    else b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at + len)]);
  }
  return b;
}

async function patchFile(basisPath: string, delta: Uint8Array): Promise<Buffer> {
  const basis = await fileBasis(basisPath);
  try {
    const out: Uint8Array[] = [];
    for await (const c of patch(basis, (async function* () { yield delta; })())) out.push(c);
    return Buffer.concat(out);
  } finally {
    await basis.close();
  }
}

const sigArgs = (p: SignatureParams) => ['-H', p.hash, '-R', p.weak, '-b', String(p.blockLen), '-S', String(p.strongLen)];

describe.runIf(haveRdiff())('against rdiff 2.3.2', () => {
  it('signature bytes equal rdiff\'s; rdiff patches our delta; we patch rdiff\'s delta', async () => {
    await withTempDir(async (dir) => {
      const [oldPath, newPath, sigPath, ourSigPath, deltaPath, outPath] = ['old', 'new', 'sig', 'oursig', 'delta', 'out'].map((n) => join(dir, n));
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...KINDS), fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 1, max: 1 << 30 }), fc.integer({ min: 1, max: 32 }),
          async ([hash, weak], blockLen, size, seed, s) => {
            const p: SignatureParams = { hash, weak, blockLen, strongLen: Math.min(s, hash === 'md4' ? 16 : 32) };
            const old = randomBytes(size, seed);
            const next = edited(old, seed ^ 0x5555);
            writeFileSync(oldPath, old);
            writeFileSync(newPath, next);
            rdiff(['signature', '-f', ...sigArgs(p), oldPath, sigPath]);
            const ourSig = makeSignature(p, old, 65536);
            expect(sameBytes(ourSig, readFileSync(sigPath))).toBe('same');
            writeFileSync(ourSigPath, ourSig);
            // Our delta, applied by rdiff; strong sums of at least 8 bytes so a false match is not a worry.
            if (p.strongLen >= 8) {
              const delta = makeDelta(ourSig, next, 65536);
              writeFileSync(deltaPath, delta);
              rdiff(['patch', '-f', oldPath, deltaPath, outPath]);
              expect(sameBytes(readFileSync(outPath), next)).toBe('same');
              // Size within 10% of rdiff's (plus a few bytes of opcode slack for tiny deltas).
              rdiff(['delta', '-f', sigPath, newPath, deltaPath]);
              const theirs = readFileSync(deltaPath);
              expect(delta.length).toBeLessThanOrEqual(Math.ceil(theirs.length * 1.1) + 16);
              expect(sameBytes(await patchFile(oldPath, theirs), next)).toBe('same');
            }
          },
        ),
        { numRuns: NUM_RUNS },
      );
    });
  });

  it('rdiff\'s default parameters: block from the size, full-length BLAKE2b, RabinKarp', () => {
    withTempDir((dir) => {
      for (const size of [0, 1000, 65536, 65537, 300_000, 1_000_000]) {
        const data = randomBytes(size, size + 1);
        writeFileSync(join(dir, 'f'), data);
        rdiff(['signature', '-f', join(dir, 'f'), join(dir, 's')]);
        const p = makeSignature(rdiffSignatureParams({ fileSize: size }), data);
        expect(sameBytes(p, readFileSync(join(dir, 's')))).toBe('same');
      }
    });
  });
});
