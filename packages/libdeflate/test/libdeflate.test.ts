/**
 * The libdeflate addon: built wherever libdeflate-dev is installed (as the CI and
 * scripts/install-system-deps.sh do), its gzip members gunzip to their input with node:zlib and
 * gzip(1) and gunzipInto inflates them member by member (with ISA-L where it is built in, checking
 * the trailer as libdeflate does), bad arguments are refused with a JS
 * error rather than a crash, and DUPLICITY_TS_NO_LIBDEFLATE=1 switches to node:zlib with the same
 * results. The OpenPGP deflate segments concatenate into one stream that node:zlib inflates.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { constants, deflateSync, gunzipSync, inflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  adler32,
  deflateSegmentBound,
  deflateSegmentInto,
  gunzipInto,
  gzipBound,
  gzipInto,
  gzipMember,
  isalSegmentInto,
  isalSegmentsAvailable,
  isAvailable,
} from '../src/index.js';

function text(n: number): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
  let s = '';
  for (let i = 0; s.length < n; i++) s += words[(i * 7) % words.length] + (i % 13 === 0 ? '\n' : ' ');
  return Buffer.from(s.slice(0, n));
}

const inputs: [string, Buffer][] = [
  ['empty', Buffer.alloc(0)],
  ['1 byte', Buffer.from('x')],
  ['1 MiB random', randomBytes(1 << 20)],
  ['1 MiB text', text(1 << 20)],
];

it('the addon is built and loaded where libdeflate-dev is installed', () => {
  expect(isAvailable()).toBe(existsSync('/usr/include/libdeflate.h'));
});

describe.each([
  ['libdeflate', undefined],
  ['node:zlib fallback', '1'],
])('gzipMember via %s', (_name, flag) => {
  afterEach(() => {
    delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
  });

  it.each(inputs)('%s round-trips through gunzip at levels 0, 1, 6 and 9', async (_what, data) => {
    if (flag) process.env.DUPLICITY_TS_NO_LIBDEFLATE = flag;
    for (const level of [0, 1, 6, 9]) {
      const member = await gzipMember(data, level);
      expect(member.subarray(0, 3)).toEqual(Buffer.from([0x1f, 0x8b, 8]));
      expect(gunzipSync(member).equals(data), `level ${level}`).toBe(true);
    }
  });

  it('text shrinks at level 6', async () => {
    if (flag) process.env.DUPLICITY_TS_NO_LIBDEFLATE = flag;
    const data = text(1 << 20);
    expect((await gzipMember(data, 6)).length).toBeLessThan(data.length / 3);
  });
});

describe.runIf(isAvailable())('gzipInto', () => {
  it('writes members into one reused output buffer that gzip(1) reads back', async () => {
    const out = Buffer.alloc(gzipBound(1 << 20));
    for (const [, data] of inputs) {
      const n = await gzipInto(data, out, 6);
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThanOrEqual(gzipBound(data.length));
      expect(execFileSync('gzip', ['-dc'], { input: out.subarray(0, n), maxBuffer: 4 << 20 }).equals(data)).toBe(true);
    }
  });

  it('runs jobs side by side on the thread pool, each into its own buffer', async () => {
    const blocks = Array.from({ length: 8 }, (_, i) => (i % 2 ? randomBytes(300_000) : text(300_000 + i)));
    const outs = blocks.map((b) => Buffer.alloc(gzipBound(b.length)));
    const lens = await Promise.all(blocks.map((b, i) => gzipInto(b, outs[i], 6)));
    blocks.forEach((b, i) => expect(gunzipSync(outs[i].subarray(0, lens[i])).equals(b)).toBe(true));
  });

  it('stores the random-looking runs of a mixed block as members of their own, which gzip(1) reads back', async () => {
    const runs = fc.array(fc.record({ random: fc.boolean(), len: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 3001, max: 70_000 })) }), {
      minLength: 1,
      maxLength: 30,
    });
    await fc.assert(
      fc.asyncProperty(runs, fc.integer({ min: 0, max: 1000 }), async (parts, seed) => {
        const pieces = parts.map((p, i) => (p.random ? randomBytes(p.len) : text(p.len + ((seed + i) % 7))));
        const block = Buffer.concat(pieces).subarray(0, 1 << 20);
        const out = Buffer.alloc(gzipBound(block.length));
        const n = await gzipInto(block, out, 6);
        expect(n).toBeGreaterThan(0);
        expect(execFileSync('gzip', ['-dc'], { input: out.subarray(0, n), maxBuffer: 4 << 20 }).equals(block)).toBe(true);
        // The members, one by one: stored ones take their length plus a header, 5 bytes per stored block and a trailer.
        let stored = 0;
        let members = 0;
        const scratch = Buffer.alloc(1 << 20);
        for (let at = 0; at < n; members++) {
          const [status, consumed, produced] = await gunzipInto(out.subarray(at, n), scratch);
          expect(status).toBe(0);
          if (consumed === produced + 18 + 5 * Math.max(1, Math.ceil(produced / 65535))) stored += produced;
          at += consumed;
        }
        // A random run of four 4 KiB windows or more is stored at least from its first whole window to its last.
        let end = 0;
        let wanted = 0;
        parts.forEach((p, i) => {
          const start = end;
          end = Math.min(block.length, end + pieces[i].length);
          const whole = Math.floor(end / 4096) - Math.ceil(start / 4096);
          if (p.random && whole >= 2) wanted += whole * 4096;
        });
        expect(stored).toBeGreaterThanOrEqual(wanted);
        // No random run of two whole windows: the one member of before.
        if (stored === 0) expect(members).toBe(1);
      }),
      { numRuns: 40 },
    );
  });

  it('writes a block of text as one member', async () => {
    const data = text(1 << 20);
    const out = Buffer.alloc(gzipBound(data.length));
    const n = await gzipInto(data, out, 6);
    const [status, consumed, produced] = await gunzipInto(out.subarray(0, n), Buffer.alloc(1 << 20));
    expect([status, consumed, produced]).toEqual([0, n, data.length]);
  });

  it('resolves to 0 when the output is too small, and refuses bad arguments', async () => {
    expect(await gzipInto(randomBytes(4096), Buffer.alloc(100), 6)).toBe(0);
    expect(() => gzipInto('text' as unknown as Uint8Array, Buffer.alloc(100), 6)).toThrow(TypeError);
    expect(() => gzipInto(Buffer.alloc(1), new Uint16Array(100) as unknown as Uint8Array, 6)).toThrow(TypeError);
    expect(() => gzipInto(Buffer.alloc(1), Buffer.alloc(100), 13)).toThrow(RangeError);
    expect(() => gzipInto(Buffer.alloc(1), Buffer.alloc(100), -1)).toThrow(RangeError);
  });
});

describe.runIf(isAvailable())('gunzipInto', () => {
  it('inflates the first member, saying how much input it took, and checks the trailer', async () => {
    const a = text(300_000);
    const b = Buffer.from('second');
    const two = Buffer.concat([await gzipMember(a, 6), await gzipMember(b, 6)]);
    const out = Buffer.alloc(1 << 20);
    const [status, consumed, produced] = await gunzipInto(two, out);
    expect([status, produced]).toEqual([0, a.length]);
    expect(out.subarray(0, produced).equals(a)).toBe(true);
    const second = await gunzipInto(two.subarray(consumed), out);
    expect(out.subarray(0, second[2]).toString()).toBe('second');
    // An output of exactly the member's size is enough.
    expect(await gunzipInto(two, Buffer.alloc(a.length))).toEqual([0, consumed, a.length]);
    // Too small an output, a truncated member, a CRC that does not match.
    expect((await gunzipInto(two, Buffer.alloc(1000)))[0]).toBe(3);
    expect((await gunzipInto(two.subarray(0, consumed - 1), out))[0]).toBe(1);
    const badCrc = Buffer.from(two.subarray(0, consumed));
    badCrc[consumed - 8] ^= 1;
    expect(await gunzipInto(badCrc, out)).toEqual([1, 0, 0]);
    // A length in the trailer that does not match (ISA-L, where built in, checks it as libdeflate does).
    const badSize = Buffer.from(two.subarray(0, consumed));
    badSize[consumed - 1] ^= 1;
    expect(await gunzipInto(badSize, out)).toEqual([1, 0, 0]);
  });

  it("reads gzip(1)'s members, whose header names the file", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gunzip-into-'));
    const file = path.join(dir, 'notes.txt');
    const a = text(50_000);
    writeFileSync(file, a);
    const member = execFileSync('gzip', ['-c', file]);
    expect(member[3]! & 8).toBe(8); // FNAME
    const out = Buffer.alloc(1 << 20);
    expect(await gunzipInto(member, out)).toEqual([0, member.length, a.length]);
    expect(out.subarray(0, a.length).equals(a)).toBe(true);
    rmSync(dir, { recursive: true });
  });
});

describe.runIf(isAvailable())('gunzipInto with fill', () => {
  it('inflates members one after another until `fill` bytes came out, and stops before a damaged one', async () => {
    const parts = [text(100_000), randomBytes(50_000), text(70_000), Buffer.from('last')];
    const members = await Promise.all(parts.map((p, i) => gzipMember(p, i === 1 ? 0 : 6)));
    const all = Buffer.concat(members);
    const out = Buffer.alloc(1 << 20);
    expect(await gunzipInto(all, out, 1 << 20)).toEqual([0, all.length, 220_004]);
    expect(out.subarray(0, 220_004).equals(Buffer.concat(parts))).toBe(true);
    // Past `fill` after the second member: the job ends there.
    expect(await gunzipInto(all, out, 120_000)).toEqual([0, members[0].length + members[1].length, 150_000]);
    // A damaged third member: the job gives the first two, the next call starting there fails.
    const damaged = Buffer.from(all);
    const third = members[0].length + members[1].length;
    damaged[third + members[2].length - 8] ^= 1; // its CRC
    expect(await gunzipInto(damaged, out, 1 << 20)).toEqual([0, third, 150_000]);
    expect((await gunzipInto(damaged.subarray(third), out, 1 << 20))[0]).toBe(1);
  });
});

it('DUPLICITY_TS_NO_LIBDEFLATE=1 makes the addon unavailable', () => {
  process.env.DUPLICITY_TS_NO_LIBDEFLATE = '1';
  try {
    expect(isAvailable()).toBe(false);
    expect(() => gzipInto(Buffer.alloc(1), Buffer.alloc(100), 6)).toThrow(/not available/);
  } finally {
    delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
  }
});

describe('keepFreedMemory', () => {
  // In a child process: the setting is process-wide and the test runner's own malloc is not ours to tune.
  const call = (env: NodeJS.ProcessEnv) =>
    execFileSync(
      process.execPath,
      ['--import', 'tsx', '-e', "import('./src/index.ts').then((m) => console.log(m.keepFreedMemory()))"],
      { cwd: new URL('..', import.meta.url), env: { ...process.env, ...env }, encoding: 'utf8' },
    ).trim();

  it('tunes glibc malloc when the addon is loaded, and does nothing when it is switched off', () => {
    expect(call({})).toBe(String(isAvailable()));
    expect(call({ DUPLICITY_TS_NO_LIBDEFLATE: '1' })).toBe('false');
  });
});

// ---- OpenPGP deflate segments (deflateSegmentInto, isalSegmentInto, adler32) ----

/** An empty final block (fixed Huffman, end of block only): what closes the concatenated segments. */
const FINAL = Buffer.from([0x03, 0x00]);

const segmentWriters = [
  { name: 'deflateSegmentInto (libdeflate)', into: deflateSegmentInto, levels: [1, 12], badLevel: 13, built: isAvailable() },
  { name: 'isalSegmentInto (ISA-L)', into: isalSegmentInto, levels: [0, 3], badLevel: 4, built: isalSegmentsAvailable() },
] as const;

describe.each(segmentWriters)('$name', ({ into, levels: [minLevel, maxLevel], badLevel, built }) => {
  // CI installs libdeflate-dev and libisal-dev: there both writers must be built, never skipped.
  it.skipIf(!built && process.env.CI !== 'true')('writes byte-aligned, non-final segments that concatenate into one raw deflate stream, at every level', async () => {
    // A segment of text, random bytes, or both in turns (random runs inside are stored, the rest deflated).
    const piece = fc.record({ random: fc.boolean(), len: fc.integer({ min: 0, max: 70_000 }) });
    const chunk = fc.array(piece, { minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(fc.array(chunk, { maxLength: 5 }), fc.integer({ min: minLevel, max: maxLevel }), async (chunks, level) => {
        const inputs = chunks.map((pieces) => Buffer.concat(pieces.map(({ random, len }) => (random ? randomBytes(len) : text(len)))));
        const segments: Buffer[] = [];
        for (const input of inputs) {
          const out = Buffer.alloc(deflateSegmentBound(input.length));
          const n = await into(input, out, level);
          expect(n).toBeGreaterThan(4);
          const seg = out.subarray(0, n);
          // Non-final and byte-aligned (a sync flush's empty stored block, or a stored block of data): the segment
          // alone inflates without a final block, and the next one starts on a byte.
          expect(inflateRawSync(seg, { finishFlush: constants.Z_SYNC_FLUSH }).equals(input)).toBe(true);
          segments.push(Buffer.from(seg));
        }
        expect(inflateRawSync(Buffer.concat([...segments, FINAL])).equals(Buffer.concat(inputs))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it.skipIf(!built && process.env.CI !== 'true')('handles empty and 1-byte input, resolves to 0 when the output is too small, refuses bad arguments', async () => {
    for (const input of [Buffer.alloc(0), Buffer.from('x')]) {
      const out = Buffer.alloc(deflateSegmentBound(input.length));
      const n = await into(input, out, maxLevel);
      expect(inflateRawSync(Buffer.concat([out.subarray(0, n), FINAL])).equals(input)).toBe(true);
    }
    expect(await into(randomBytes(4096), Buffer.alloc(100), maxLevel)).toBe(0);
    expect(await into(randomBytes(3 * 4096), Buffer.alloc(100), maxLevel)).toBe(0);
    expect(await into(Buffer.alloc(0), Buffer.alloc(3), maxLevel)).toBe(0);
    expect(() => into('text' as unknown as Uint8Array, Buffer.alloc(100), maxLevel)).toThrow(TypeError);
    expect(() => into(Buffer.alloc(1), Buffer.alloc(100), badLevel)).toThrow(RangeError);
    expect(() => deflateSegmentBound(-1)).toThrow(RangeError);
  });
});

describe.runIf(isAvailable())('adler32', () => {
  it('adler32 continues a running sum as RFC 1950 defines it', () => {
    const reference = (b: Uint8Array) => {
      let a = 1;
      let s = 0;
      for (const x of b) {
        a = (a + x) % 65521;
        s = (s + a) % 65521;
      }
      return ((s << 16) | a) >>> 0;
    };
    const data = Buffer.concat([randomBytes(100_000), Buffer.alloc(70_000, 0xff)]);
    expect(adler32(data, 1)).toBe(reference(data));
    expect(adler32(data.subarray(50_000), adler32(data.subarray(0, 50_000), 1))).toBe(reference(data));
    expect(adler32(Buffer.alloc(0), 1)).toBe(1);
    // the trailer zlib itself writes
    expect(adler32(data, 1)).toBe(deflateSync(data).readUInt32BE(deflateSync(data).length - 4));
  });
});
