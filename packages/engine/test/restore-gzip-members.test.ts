/**
 * Member-by-member inflation of gzip volumes (restore/gzip-members.ts): our volumes come back
 * byte for byte without the zlib path, duplicity-style single members and empty files go to it,
 * and damage or bytes after a good member end as node:zlib would have them end. Pieces are reused
 * buffers, valid while the reader asks for the next two.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, afterEach, expect, it } from 'vitest';
import { isAvailable } from '@duplicity-ts/libdeflate';
import { VolumeFile } from '../src/backup/volume-file.js';
import { inflateMembers } from '../src/restore/gzip-members.js';

const work = mkdtempSync(path.join(tmpdir(), 'gzip-members-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
});

function text(n: number): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
  let s = '';
  for (let i = 0; s.length < n; i++) s += words[(i * 7) % words.length] + (i % 13 === 0 ? `${i}\n` : ' ');
  return Buffer.from(s.slice(0, n));
}

let n = 0;
async function volume(data: Buffer): Promise<string> {
  const file = path.join(work, `v${n++}.gz`);
  const vf = new VolumeFile(file, { kind: 'gzip' });
  await vf.write(data);
  await vf.close();
  return file;
}

/** Runs inflateMembers with a `streamed` fallback that counts its calls and inflates with zlib. */
async function inflate(file: string): Promise<{ out: Buffer; streamedCalls: number }> {
  let streamedCalls = 0;
  async function* streamed() {
    streamedCalls++;
    yield gunzipSync(readFileSync(file));
  }
  const parts: Buffer[] = [];
  for await (const c of inflateMembers(file, streamed, (err) => new Error(`failed to decompress: ${(err as Error).message}`))) {
    parts.push(Buffer.from(c));
  }
  return { out: Buffer.concat(parts), streamedCalls };
}

const mixed = Buffer.concat([text(2_500_000), randomBytes(1_200_000), text(700_000)]);

it('our multi-member volumes come back byte for byte', async () => {
  const file = await volume(mixed);
  const r = await inflate(file);
  expect(r.out.equals(mixed)).toBe(true);
  // With the addon, the zlib path is not needed at all.
  expect(r.streamedCalls).toBe(isAvailable() ? 0 : 1);
});

it.runIf(isAvailable())('a piece stays as it was while the reader asks for the next two (its buffer is reused after that)', async () => {
  // 12 MB in ~1 MiB pieces: more pieces than output buffers, so buffers do come round again.
  const data = Buffer.concat([text(6_000_000), randomBytes(3_000_000), text(3_000_000)]);
  const file = await volume(data);
  const held: { view: Uint8Array; copy: Buffer }[] = [];
  const parts: Buffer[] = [];
  let pieces = 0;
  for await (const c of inflateMembers(file, () => [], (e) => e as Error)) {
    for (const h of held) expect(Buffer.from(h.view).equals(h.copy)).toBe(true);
    held.push({ view: c, copy: Buffer.from(c) });
    if (held.length > 2) held.shift();
    parts.push(Buffer.from(c));
    pieces++;
  }
  expect(pieces).toBeGreaterThan(8);
  expect(Buffer.concat(parts).equals(data)).toBe(true);
});

it('a single big member (as duplicity writes) and an empty file go to the zlib path', async () => {
  const big = path.join(work, 'single.gz');
  writeFileSync(big, gzipSync(mixed));
  const r = await inflate(big);
  expect(r.out.equals(mixed)).toBe(true);
  expect(r.streamedCalls).toBe(1);
  const empty = path.join(work, 'empty.gz');
  writeFileSync(empty, '');
  await expect(inflate(empty)).rejects.toThrow(/unexpected end of file/);
});

it('DUPLICITY_TS_NO_LIBDEFLATE=1 sends everything to the zlib path', async () => {
  const file = await volume(mixed);
  process.env.DUPLICITY_TS_NO_LIBDEFLATE = '1';
  const r = await inflate(file);
  expect(r.out.equals(mixed)).toBe(true);
  expect(r.streamedCalls).toBe(1);
});

it.runIf(isAvailable())('a damaged member after good ones fails with zlib’s message', async () => {
  const file = await volume(text(3_000_000));
  const bytes = readFileSync(file);
  // Inside the last of three members, whose header still says gzip.
  bytes[bytes.length - 100] ^= 0x55;
  writeFileSync(file, bytes);
  await expect(inflate(file)).rejects.toThrow(/failed to decompress: /);
});

it.runIf(isAvailable())('what follows the last member ends as with node:zlib: zero padding ignored, junk an error, more members read', async () => {
  const ours = readFileSync(await volume(mixed));
  const extra = Buffer.from('one more member\n');
  const cases: [string, Buffer, Buffer | RegExp][] = [
    ['zero padding', Buffer.alloc(3), mixed],
    ['junk', Buffer.from('not a gzip member'), /failed to decompress: incorrect header check/],
    ['one more member, then padding', Buffer.concat([gzipSync(extra, { level: 9 }), Buffer.alloc(3)]), Buffer.concat([mixed, extra])],
    // 2 MiB of zeros inflate past one output buffer: zlib reads that member.
    ['a bigger member', gzipSync(Buffer.alloc(2 << 20)), Buffer.concat([mixed, Buffer.alloc(2 << 20)])],
  ];
  for (const [what, tail, want] of cases) {
    const file = path.join(work, `tail-${n++}.gz`);
    writeFileSync(file, Buffer.concat([ours, tail]));
    if (want instanceof RegExp) {
      expect(() => gunzipSync(readFileSync(file)), what).toThrow(/incorrect header check/);
      await expect(inflate(file), what).rejects.toThrow(want);
    } else {
      expect(gunzipSync(readFileSync(file)).equals(want), what).toBe(true);
      expect((await inflate(file)).out.equals(want), what).toBe(true);
    }
  }
});

it.runIf(isAvailable())('a reader that stops early leaves nothing waiting', async () => {
  const file = await volume(mixed);
  let got = 0;
  for await (const c of inflateMembers(file, () => [], (e) => e as Error)) {
    got += c.length;
    break;
  }
  expect(got).toBeGreaterThan(0);
  // The file can be removed and the test ends: no pending read holds it.
  rmSync(file);
});
