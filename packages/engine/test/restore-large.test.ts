/**
 * Restoring volumes big enough to be hash-checked on the helper thread (8 MiB and up) and read
 * while the next one is fetched: an archive real duplicity makes with --volsize 10 restores byte
 * for byte, and a changed byte in the first or a later volume is exit 21 naming that volume, with
 * nothing from the bad volume written. Needs `npm run build` (npm test builds first).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const TS_BIN = path.join(repoRoot, 'node_modules/.bin/duplicity-ts');

let work: string;
let src: string;
let archive: string;
const env = () => ({ PATH: process.env.PATH!, HOME: work, TZ: 'UTC', LC_ALL: 'C.UTF-8', TMPDIR: work });

function digest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const n of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = path.join(rel, n.name);
      if (n.isDirectory()) walk(r);
      else out[r] = createHash('sha256').update(readFileSync(path.join(dir, r))).digest('hex');
    }
  };
  walk('');
  return out;
}

function restoreTs(url: string, target: string) {
  return spawnSync(TS_BIN, ['restore', '--no-encryption', '--archive-dir', path.join(work, `cache-${Math.random()}`), url, target], {
    encoding: 'utf8',
    env: env(),
    timeout: 120_000,
  });
}

/** A copy of the archive with one byte of volume `n` of the full set changed. */
function damaged(n: number): string {
  const dst = path.join(work, `damaged-${n}`);
  cpSync(archive, dst, { recursive: true });
  const vol = readdirSync(dst).find((f) => f.startsWith('duplicity-full.') && f.includes(`.vol${n}.`))!;
  const p = path.join(dst, vol);
  const bytes = readFileSync(p);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(p, bytes);
  return dst;
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'restore-large-'));
  src = path.join(work, 'src');
  archive = path.join(work, 'archive');
  mkdirSync(path.join(src, 'small'), { recursive: true });
  // Random data: gzip stores it, so each volume is about --volsize.
  const fd = openSync(path.join(src, 'big.bin'), 'w');
  for (let i = 0; i < 26; i++) writeSync(fd, randomBytes(1 << 20));
  closeSync(fd);
  for (let i = 0; i < 40; i++) writeFileSync(path.join(src, 'small', `f${i}.txt`), `file ${i}\n`.repeat(50 + i));
  writeFileSync(path.join(src, 'z-last.bin'), randomBytes(3 << 20));
  execFileSync('duplicity', ['full', '--no-encryption', '--volsize', '10', '--archive-dir', path.join(work, 'dup-cache'), src, `file://${archive}`], {
    env: env(),
  });
}, 180_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('volumes of 10 MiB made by real duplicity', () => {
  it('the archive has volumes at or over the helper-thread size', () => {
    const vols = readdirSync(archive).filter((f) => f.includes('.vol'));
    expect(vols.length).toBeGreaterThanOrEqual(3);
  });

  it('restores byte for byte', () => {
    const target = path.join(work, 'out-ok');
    const r = restoreTs(`file://${archive}`, target);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(digest(target)).toEqual(digest(src));
  });

  it.each([1, 2])('a changed byte in volume %i is exit 21 naming it, and nothing of it is written', (n) => {
    const target = path.join(work, `out-bad-${n}`);
    const r = restoreTs(`file://${damaged(n)}`, target);
    expect(r.status).toBe(21);
    expect(r.stderr).toMatch(new RegExp(`^duplicity-ts: failed to verify duplicity-full\\.[0-9TZ]+\\.vol${n}\\.difftar\\.gz: SHA1 [0-9a-f]{40} does not match the manifest's [0-9a-f]{40}\\n$`));
    // big.bin spans volumes 1-3: it must not be left behind, whole or in part.
    expect(existsSync(path.join(target, 'big.bin'))).toBe(false);
    expect(existsSync(path.join(target, 'z-last.bin'))).toBe(false);
  });
});
