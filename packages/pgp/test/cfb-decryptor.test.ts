/**
 * The ECB-based CFB decryptor returns what node:crypto's (OpenSSL's) CFB decryption returns, for every cipher
 * OpenPGP messages use and any way the ciphertext is cut into update() or decryptBlocks() calls.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { CfbDecryptor } from '../src/cfb-decryptor.js';
import { cipherInfo } from '../src/cipher-algorithms.js';

describe('CfbDecryptor', () => {
  // (CAST5 and Blowfish need OpenSSL's legacy provider, which node does not load: not supported either way.)
  for (const id of [2, 7, 8, 9, 11, 13]) {
    const info = cipherInfo(id);
    it(`matches OpenSSL ${info.cfb} for any chunking`, () => {
      fc.assert(fc.property(fc.integer({ min: 0, max: 3000 }), fc.array(fc.integer({ min: 0, max: 700 }), { maxLength: 12 }), fc.boolean(), (len, cuts, withIv) => {
        const key = randomBytes(info.keySize);
        const iv = withIv ? randomBytes(info.blockSize) : Buffer.alloc(info.blockSize);
        const ct = randomBytes(len);
        const want = createDecipheriv(info.cfb, key, iv).update(ct);
        const d = new CfbDecryptor(info, key, iv);
        const got: Buffer[] = [];
        let off = 0;
        for (const c of cuts) {
          const n = Math.min(c, len - off);
          got.push(d.update(ct.subarray(off, off + n)));
          off += n;
        }
        got.push(d.update(ct.subarray(off)), d.final());
        expect(Buffer.concat(got).equals(want)).toBe(true);
      }), { numRuns: 60 });
    });
  }

  it('handles unaligned views and large chunks', () => {
    const info = cipherInfo(9);
    const key = randomBytes(32);
    const backing = randomBytes((1 << 20) + 3);
    const ct = backing.subarray(3);
    const want = createDecipheriv(info.cfb, key, Buffer.alloc(16)).update(ct);
    const d = new CfbDecryptor(info, key);
    expect(Buffer.concat([d.update(ct.subarray(0, 18)), d.update(ct.subarray(18, 300_001)), d.update(ct.subarray(300_001))]).equals(want)).toBe(true);
  });

  it('decryptBlocks() matches OpenSSL for parts cut anywhere, across its 64 KiB slices', () => {
    for (const id of [2, 9]) {
      const info = cipherInfo(id);
      fc.assert(fc.property(fc.integer({ min: 0, max: 200_000 }), fc.array(fc.array(fc.integer({ min: 0, max: 70_000 }), { maxLength: 5 }), { maxLength: 6 }),
        (len, calls) => {
          const key = randomBytes(info.keySize);
          const ct = randomBytes(len);
          const want = createDecipheriv(info.cfb, key, Buffer.alloc(info.blockSize)).update(ct);
          const d = new CfbDecryptor(info, key);
          const got: Buffer[] = [];
          const each = (b: Buffer) => {
            expect(b.length).toBeLessThanOrEqual(1 << 16);
            got.push(b);
          };
          let off = 0;
          for (const cuts of calls) {
            const parts: Buffer[] = [];
            for (const c of cuts) {
              const n = Math.min(c, len - off);
              parts.push(ct.subarray(off, off + n));
              off += n;
            }
            d.decryptBlocks(parts, each);
          }
          d.decryptBlocks([ct.subarray(off)], each);
          got.push(d.final());
          expect(Buffer.concat(got).equals(want)).toBe(true);
        }), { numRuns: 40 });
    }
  });
});
