/**
 * parallelDeflate on ISA-L and libdeflate (the addon) and on node:zlib: whatever the data's compressibility, the segment
 * size (1 byte up, the input an exact multiple of it or not) and the source's chunking, the segments concatenate
 * into one deflate stream (raw for ZIP, RFC 1950 for ZLIB) that node:zlib inflates to the input, and that the
 * real gpg inflates inside a Compressed packet.
 */
import { isalSegmentsAvailable, isAvailable } from '@duplicity-ts/libdeflate';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Deflater, parallelDeflate } from '../src/parallel-deflate.js';
import { GpgHome } from './gpg-home.js';

/** Data of mixed compressibility: random bytes, zeros, a short repeated phrase, and words of random letters. */
function build(parts: { kind: number; len: number; seed: number }[]): Buffer {
  const out: Buffer[] = [];
  for (const { kind, len, seed } of parts) {
    const b = Buffer.alloc(len);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < len; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      if (kind === 0) b[i] = x & 0xff;
      else if (kind === 1) b[i] = 0;
      else if (kind === 2) b[i] = 'segment boundary '.charCodeAt(i % 17);
      else b[i] = x % 7 === 0 ? 0x20 : 0x61 + (x % 26);
    }
    out.push(b);
  }
  return Buffer.concat(out);
}

const part = fc.record({ kind: fc.integer({ min: 0, max: 3 }), len: fc.integer({ min: 0, max: 40_000 }), seed: fc.integer() });

/** Input, segment size and source chunk size, with at most a few hundred segments per case. */
const cases = fc
  .record({
    parts: fc.array(part, { maxLength: 8 }),
    segment: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 300 }), fc.integer({ min: 4096, max: 70_000 })),
    exactMultiple: fc.boolean(),
    chunk: fc.integer({ min: 1, max: 100_000 }),
  })
  .map(({ parts, segment, exactMultiple, chunk }) => {
    let data = build(parts).subarray(0, segment * 300);
    if (exactMultiple) data = data.subarray(0, data.length - (data.length % segment));
    return { data, segment, chunk: Math.max(chunk, Math.ceil(data.length / 2000)) };
  });

async function* source(data: Buffer, chunk: number): AsyncGenerator<Uint8Array[]> {
  // Two pieces per batch, and views of a buffer overwritten after each batch, as the literal layer hands them over.
  const scratch = Buffer.alloc(chunk);
  for (let i = 0; i < data.length; i += 2 * chunk) {
    const a = data.subarray(i, i + chunk);
    a.copy(scratch);
    yield [scratch.subarray(0, a.length), data.subarray(i + chunk, i + 2 * chunk)];
    scratch.fill(0xee);
  }
}

async function deflate(data: Buffer, zlibFormat: boolean, level: number | undefined, segmentSize: number, chunk: number, deflater?: Deflater): Promise<Buffer> {
  // The switch is read when the stream starts (and by the Adler-32 it makes): node:zlib and the JS Adler-32 with it.
  if (deflater === 'zlib') process.env.DUPLICITY_TS_NO_LIBDEFLATE = '1';
  const out: Buffer[] = [];
  try {
    for await (const batch of parallelDeflate(source(data, chunk), zlibFormat, level, undefined, { segmentSize, deflater })) {
      for (const p of batch) out.push(Buffer.from(p)); // copied: views of reused buffers
    }
  } finally {
    delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
  }
  return Buffer.concat(out);
}

afterEach(() => {
  delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
});

/** Each deflater with levels to try (its own scale) and a level for the tests that need one. */
const engines = [
  ['ISA-L', 'isa-l', [1, 2, 3], 3],
  ['libdeflate', 'libdeflate', [1, 5, 6, 9], 6],
  ['node:zlib (DUPLICITY_TS_NO_LIBDEFLATE=1)', 'zlib', [1, 5, 6, 9], 6],
] as const;

describe.each(engines)('parallelDeflate on %s', (_name, deflater, levels, someLevel) => {
  it.each([
    ['raw (ZIP)', false],
    ['ZLIB', true],
  ] as const)('%s: the concatenated segments inflate to the input', async (_f, zlibFormat) => {
    await fc.assert(
      fc.asyncProperty(cases, fc.constantFrom(undefined, ...levels), async ({ data, segment, chunk }, level) => {
        const out = await deflate(data, zlibFormat, level, segment, chunk, deflater);
        const back = zlibFormat ? zlib.inflateSync(out) : zlib.inflateRawSync(out);
        expect(back.equals(data)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('compresses text in 1 MiB segments within 1 % of one zlib stream, and stores random data', async () => {
    const text = build([{ kind: 3, len: 3 << 20, seed: 7 }, { kind: 2, len: 1 << 20, seed: 0 }]);
    const random = build([{ kind: 0, len: 2 << 20, seed: 9 }]);
    const out = await deflate(text, false, someLevel, 1 << 20, 65536, deflater);
    expect(out.length).toBeLessThan(zlib.deflateRawSync(text, { level: 6 }).length * 1.01);
    expect(zlib.inflateRawSync(out).equals(text)).toBe(true);
    const stored = await deflate(random, true, someLevel, 1 << 20, 65536, deflater);
    expect(stored.length).toBeLessThan(random.length * 1.001 + 100);
    expect(zlib.inflateSync(stored).equals(random)).toBe(true);
  });
});

it('uses libdeflate where the addon is built (libdeflate-dev and zlib1g-dev installed), and ISA-L by default (libisal-dev)', async () => {
  expect(isAvailable()).toBe(true);
  expect(isalSegmentsAvailable()).toBe(true);
  // The default deflater is ISA-L's: on the same text it writes other bytes than libdeflate at its default level.
  const text = build([{ kind: 3, len: 1 << 20, seed: 3 }]);
  const byDefault = await deflate(text, false, undefined, 1 << 20, 65536);
  expect(byDefault.equals(await deflate(text, false, undefined, 1 << 20, 65536, 'isa-l'))).toBe(true);
  expect(byDefault.equals(await deflate(text, false, undefined, 1 << 20, 65536, 'libdeflate'))).toBe(false);
});

describe('gpg', () => {
  const home = new GpgHome();
  afterAll(() => home.cleanup());

  /** A Compressed packet (old format, indeterminate length) around a Literal packet of `data`. */
  async function message(data: Buffer, zlibFormat: boolean, segment: number, deflater: Deflater, level: number): Promise<Buffer> {
    const lit = Buffer.alloc(11);
    lit[0] = 0xae; // old-format Literal, 4-byte length
    lit.writeUInt32BE(6 + data.length, 1);
    lit[5] = 0x62; // 'b', no file name, date 0
    const deflated = await deflate(Buffer.concat([lit, data]), zlibFormat, level, segment, 50_000, deflater);
    return Buffer.concat([Buffer.from([0xa3, zlibFormat ? 2 : 1]), deflated]);
  }

  // ISA-L, the default deflater where built, trades a few percent of size for half libdeflate's CPU (DEFAULT_LEVEL
  // in parallel-deflate.ts: +2.8 % on gpg for 300 MiB of real files); the others promise gpg's size or smaller.
  it.each(engines)('at the default level, %s writes real text no bigger than gpg compresses it (ISA-L: within 5 %%)', async (_name, deflater) => {
    // TypeScript's own declaration files (3.7 MB of real source text, pinned by the lock file).
    const lib = dirname(createRequire(import.meta.url).resolve('typescript'));
    const text = Buffer.concat(readdirSync(lib).filter((n) => n.endsWith('.d.ts')).sort().map((n) => readFileSync(join(lib, n))));
    expect(text.length).toBeGreaterThan(3 << 20);
    const ours = await deflate(text, false, undefined, 1 << 20, 65536, deflater);
    expect(zlib.inflateRawSync(ours).equals(text)).toBe(true);
    // gpg's whole message (its Compressed packet plus ~100 bytes of packets around it) at its default ZIP level.
    const gpg = home.ok(['--compress-algo', 'zip', '--s2k-count', '65536', '--symmetric'], text, 'level test');
    expect(ours.length).toBeLessThanOrEqual(gpg.length * (deflater === 'isa-l' ? 1.05 : 1));
  });

  it.each(engines)('inflates the segments of %s in ZIP and ZLIB packets as one stream', async (_name, deflater, _levels, someLevel) => {
    await fc.assert(
      fc.asyncProperty(cases, fc.boolean(), async ({ data, segment }, zlibFormat) => {
        const r = home.run(['--decrypt'], await message(data, zlibFormat, segment, deflater, someLevel));
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout.equals(data)).toBe(true);
      }),
      { numRuns: 12 },
    );
  });
});
