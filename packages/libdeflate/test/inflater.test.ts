/**
 * The addon's streaming inflater (Inflater): whatever node:zlib deflates, in any chunking of input
 * and any output buffer size, inflates back byte for byte with either engine (ISA-L where it is
 * built in, and zlib); what follows a stream's end is handled as node:zlib handles it; damaged and
 * truncated data fail with zlib's messages rather than output.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { deflateRawSync, deflateSync, gunzipSync, gzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Inflater, inflaterEngine, type InflateFormat } from '../src/index.js';

const available = inflaterEngine() !== undefined;
const engines = ['default', 'zlib'] as const;
const compressors: Record<InflateFormat, (b: Uint8Array, level: number) => Buffer> = {
  raw: (b, level) => deflateRawSync(b, { level }),
  zlib: (b, level) => deflateSync(b, { level }),
  gzip: (b, level) => gzipSync(b, { level }),
};
const reference: Record<InflateFormat, (b: Uint8Array) => Buffer> = { raw: inflateRawSync, zlib: inflateSync, gzip: gunzipSync };

/**
 * Feeds `input` in pieces of the given sizes (cycled) through an Inflater with an output buffer of
 * `outSize`, copying each output as a reader must (the buffer is reused), then checks the end as a
 * caller does: a stream not ended when the input is done was truncated.
 */
function inflateAll(format: InflateFormat, engine: 'default' | 'zlib', input: Uint8Array, pieces: number[], outSize: number): Buffer {
  const inflater = new Inflater(format, engine);
  const out = Buffer.alloc(outSize);
  const parts: Buffer[] = [];
  try {
    let off = 0;
    for (let i = 0; off < input.length || i === 0; i++) {
      const size = Math.max(1, pieces[i % pieces.length]!);
      let piece = input.subarray(off, Math.min(input.length, off + size));
      off += piece.length;
      for (;;) {
        const n = inflater.push(piece, out);
        piece = piece.subarray(inflater.consumed);
        parts.push(Buffer.from(out.subarray(0, n)));
        if (n < out.length && piece.length === 0) break;
      }
    }
    if (!inflater.ended) throw new Error('unexpected end of file');
    return Buffer.concat(parts);
  } finally {
    inflater.close();
  }
}

/** Data from incompressible to highly repetitive: random runs mixed with repeats of a small alphabet. */
const data = fc
  .record({
    length: fc.integer({ min: 0, max: 300_000 }),
    alphabet: fc.integer({ min: 1, max: 256 }),
    randomShare: fc.double({ min: 0, max: 1, noNaN: true }),
    seed: fc.integer(),
  })
  .map(({ length, alphabet, randomShare, seed }) => {
    const b = Buffer.alloc(length);
    let x = seed >>> 0 || 1;
    const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8);
    for (let i = 0; i < length; ) {
      const run = 1 + (next() % 4096);
      const random = next() % 1000 < randomShare * 1000;
      for (let j = 0; j < run && i < length; j++, i++) b[i] = random ? next() & 0xff : next() % alphabet;
    }
    return b;
  });

it('is built in wherever the addon is, on ISA-L when libisal-dev is installed', () => {
  if (!existsSync('/usr/include/libdeflate.h')) return;
  // DUPLICITY_TS_NO_ISAL=1 at build time (scripts/has-isal.mjs) builds on zlib: set it here too to test that build.
  const isal = existsSync('/usr/include/isa-l/igzip_lib.h') && process.env.DUPLICITY_TS_NO_ISAL !== '1';
  expect(inflaterEngine()).toBe(isal ? 'isa-l' : 'zlib');
});

describe.runIf(available).each(engines)('Inflater on the %s engine', (engine) => {
  it.each(['raw', 'zlib', 'gzip'] as const)('%s: node:zlib-deflated data of any compressibility in any chunking comes back exactly', (format) => {
    fc.assert(
      fc.property(
        data,
        fc.integer({ min: 0, max: 9 }),
        fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 300_000 }),
        (plain, level, pieces, outSize) => {
          const packed = compressors[format](plain, level);
          expect(inflateAll(format, engine, packed, pieces, outSize).equals(plain)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('gzip: members one after another, zero padding ignored, junk refused as node:zlib does', () => {
    const a = Buffer.from('first member\n');
    const b = randomBytes(100_000);
    const two = Buffer.concat([gzipSync(a), gzipSync(b)]);
    expect(inflateAll('gzip', engine, two, [7], 1000).equals(Buffer.concat([a, b]))).toBe(true);
    const padded = Buffer.concat([two, Buffer.alloc(5), Buffer.from('ignored after padding')]);
    expect(gunzipSync(padded).equals(Buffer.concat([a, b]))).toBe(true);
    expect(inflateAll('gzip', engine, padded, [3, 1000], 4096).equals(Buffer.concat([a, b]))).toBe(true);
    // One byte is too few for zlib to judge: it reads as a truncated member.
    for (const [junk, message] of [['x', /unexpected end of file/], ['\x1f', /unexpected end of file/], ['junk', /incorrect header check/],
      ['\x1fjunk', /incorrect header check/], ['not a gzip member', /incorrect header check/]] as const) {
      const bad = Buffer.concat([two, Buffer.from(junk, 'latin1')]);
      expect(() => gunzipSync(bad), junk).toThrow(message);
      for (const pieces of [[1 << 20], [1]]) expect(() => inflateAll('gzip', engine, bad, pieces, 1 << 16), junk).toThrow(message);
    }
  });

  it('raw and zlib: what follows the stream is ignored, as by node:zlib', () => {
    const plain = Buffer.from('payload '.repeat(1000));
    for (const format of ['raw', 'zlib'] as const) {
      const packed = Buffer.concat([compressors[format](plain, 6), Buffer.from('trailing bytes')]);
      expect(reference[format](packed).equals(plain)).toBe(true);
      expect(inflateAll(format, engine, packed, [100], 512).equals(plain)).toBe(true);
    }
  });

  it.each(['raw', 'zlib', 'gzip'] as const)('%s: truncated data is an unexpected end, never a short success', (format) => {
    const packed = compressors[format](randomBytes(50_000), 6);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: packed.length - 1 }), (cut) => {
        // zlib ignores a missing gzip trailer only when the stream otherwise ended: never here.
        expect(() => inflateAll(format, engine, packed.subarray(0, cut), [4096], 1 << 16)).toThrow(/unexpected end of file/);
      }),
      { numRuns: 60 },
    );
  });

  it.each(['raw', 'zlib', 'gzip'] as const)('%s: damaged data fails with zlib\'s message or still passes its checks', (format) => {
    const plain = Buffer.from('the quick brown fox jumps over the lazy dog; '.repeat(3000));
    const packed = compressors[format](plain, 9);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: packed.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const bad = Buffer.from(packed);
        bad[at]! ^= flip;
        let zlibOutcome: string;
        try {
          reference[format](bad);
          zlibOutcome = 'ok';
        } catch (err) {
          zlibOutcome = (err as Error).message;
        }
        let ours: string;
        try {
          const out = inflateAll(format, engine, bad, [1000], 1 << 16);
          // gzip and zlib carry a checksum: what passes is the data itself (damage in unchecked
          // header fields). Raw deflate has none, so damage that still decodes cannot be caught.
          if (format !== 'raw') expect(out.equals(plain)).toBe(true);
          ours = 'ok';
        } catch (err) {
          ours = (err as Error).message;
        }
        if (engine === 'zlib' || inflaterEngine() === 'zlib') expect(ours).toBe(zlibOutcome);
        else expect(ours).toMatch(/^(ok|unexpected end of file|incorrect .* check|invalid .*|unknown .*|too many .*|header crc mismatch|Missing dictionary)$/);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses use after close or failure, and bad arguments, with errors rather than crashes', () => {
    const inflater = new Inflater('gzip', engine);
    expect(() => inflater.push(Buffer.from('junk'), Buffer.alloc(10))).toThrow(/incorrect header check/);
    expect(() => inflater.push(gzipSync(Buffer.from('x')), Buffer.alloc(10))).toThrow(/closed or failed/);
    const closed = new Inflater('raw', engine);
    closed.close();
    closed.close();
    expect(() => closed.push(deflateRawSync(Buffer.from('x')), Buffer.alloc(10))).toThrow(/closed or failed/);
    expect(() => new Inflater('zlib', engine).push('text' as unknown as Uint8Array, Buffer.alloc(10))).toThrow(TypeError);
  });
});
