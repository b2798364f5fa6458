/**
 * ZIP and ZLIB compressed packets inflated by the addon's synchronous inflater (@duplicity-ts/libdeflate),
 * against node:zlib (DUPLICITY_TS_NO_LIBDEFLATE=1): gpg's messages decrypt to the same bytes with and without
 * reused output buffers, and truncated or damaged deflate data fails with the same messages.
 */
import { deflateRawSync, deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inflaterEngine } from '@duplicity-ts/libdeflate';
import { decrypt } from '@duplicity-ts/pgp';
import { GpgHome, chunks, sampleData } from './gpg-home.js';
import { PacketLevel } from '../src/plaintext-pass.js';

const PASS = 'correct horse battery staple';
const paths = [['addon', undefined], ['node:zlib', '1']] as const;

afterEach(() => {
  delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
});

/** Copies every piece before asking for the next, as a consumer of reused output must. */
async function copyAll(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** A new-format packet with a five-octet length. */
function packet(tag: number, body: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([Buffer.from([0xc0 | tag, 0xff]), len, body]);
}

/** The inside of a message: a compressed packet (algorithm `algo`, body `packed`) around a literal packet. */
function compressedLiteral(algo: number, packed: Uint8Array): Buffer {
  return packet(8, Buffer.concat([Buffer.from([algo]), packed]));
}

/** Runs decrypted-message bytes through the plaintext pass in `size`-byte chunks: the literal data, or the error. */
async function pass(inner: Uint8Array, size: number, reuse: boolean): Promise<Buffer | string> {
  const level = new PacketLevel(() => {}, 0, reuse);
  const parts: Buffer[] = [];
  try {
    for (let i = 0; i < inner.length; i += size) {
      for await (const ready of level.push([inner.subarray(i, i + size)])) for (const p of ready) parts.push(Buffer.from(p));
    }
    for await (const ready of level.finishAll()) for (const p of ready) parts.push(Buffer.from(p));
    return Buffer.concat(parts);
  } catch (err) {
    return (err as Error).message;
  } finally {
    level.close();
  }
}

describe('gpg messages', () => {
  let home: GpgHome;
  beforeAll(() => { home = new GpgHome(); });
  afterAll(() => home.cleanup());

  it.each(paths)('ZIP and ZLIB from gpg decrypt exactly, with and without reused output (%s)', async (_name, flag) => {
    const data = Buffer.concat([sampleData(1_500_000, 4), Buffer.from('compressible text line\n'.repeat(200_000))]);
    for (const algo of ['zip', 'zlib']) {
      const msg = home.ok(['--compress-algo', algo, '--s2k-count', '65536', '--symmetric'], data, PASS);
      if (flag) process.env.DUPLICITY_TS_NO_LIBDEFLATE = flag;
      for (const reuseOutput of [true, false]) {
        for (const size of [4096, 1 << 20]) {
          const out = await copyAll(decrypt(chunks(msg, size), { passphrase: PASS, reuseOutput }));
          expect(out.equals(data), `${algo}, reuse ${reuseOutput}, ${size} B chunks`).toBe(true);
        }
      }
      delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
    }
  });
});

describe.runIf(inflaterEngine() !== undefined)('compressed packets: the addon against node:zlib', () => {
  const literal = (data: Uint8Array) => packet(11, Buffer.concat([Buffer.from([0x62, 0, 0, 0, 0, 0]), data]));

  it('random data of random compressibility, nested compression, any chunking: same bytes either way', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 200_000 }),
        fc.integer({ min: 1, max: 64 }),
        fc.constantFrom(1, 2),
        fc.boolean(),
        fc.integer({ min: 1, max: 300_000 }),
        async (raw, alphabet, algo, nested, size) => {
          const data = raw.map((b) => b % alphabet);
          const deflate = algo === 1 ? deflateRawSync : deflateSync;
          let inner = compressedLiteral(algo, deflate(literal(data)));
          if (nested) inner = compressedLiteral(algo, deflate(inner));
          const ours = await pass(inner, size, true);
          process.env.DUPLICITY_TS_NO_LIBDEFLATE = '1';
          const theirs = await pass(inner, size, false);
          delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
          expect(Buffer.isBuffer(ours) && ours.equals(data)).toBe(true);
          expect(Buffer.isBuffer(theirs) && theirs.equals(data)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('truncated deflate data: "unexpected end of file" either way', async () => {
    const data = Buffer.from('a line of text that compresses\n'.repeat(20_000));
    for (const algo of [1, 2]) {
      const packed = (algo === 1 ? deflateRawSync : deflateSync)(literal(data));
      for (const cut of [1, 100, packed.length >> 1, packed.length - 1]) {
        const inner = compressedLiteral(algo, packed.subarray(0, cut));
        const ours = await pass(inner, 65536, true);
        process.env.DUPLICITY_TS_NO_LIBDEFLATE = '1';
        const theirs = await pass(inner, 65536, false);
        delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
        expect(theirs, `algo ${algo}, cut at ${cut}`).toMatch(/unexpected end of file/);
        expect(ours, `algo ${algo}, cut at ${cut}`).toMatch(/unexpected end of file/);
      }
    }
  });

  it('damaged deflate data fails as with node:zlib, never as different data', async () => {
    const data = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(5000));
    const packed = deflateSync(literal(data), { level: 9 });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: packed.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, flip) => {
        const bad = Buffer.from(packed);
        bad[at]! ^= flip;
        const inner = compressedLiteral(2, bad);
        const ours = await pass(inner, 10_000, true);
        process.env.DUPLICITY_TS_NO_LIBDEFLATE = '1';
        const theirs = await pass(inner, 10_000, false);
        delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
        // ZLIB carries an Adler-32: what passes is the data itself (the damage was in the unused
        // bits of the deflate stream's last byte), with both inflaters alike.
        expect(typeof ours).toBe(typeof theirs);
        if (typeof ours !== 'string') expect(ours.equals(data)).toBe(true);
        if (inflaterEngine() === 'zlib') expect(ours).toEqual(theirs);
      }),
      { numRuns: 100 },
    );
  });
});
