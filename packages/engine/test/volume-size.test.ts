/**
 * --volsize as a user sees it: no volume on the target is larger than the size asked for (plus
 * at most one 64 KiB chunk, duplicity's own slack), whether gzip or OpenPGP holds the data back
 * while it compresses, and the backup still restores. Random data is used because it is stored,
 * not deflated, so each volume should also come close to the size asked for. Needs `npm run build`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const TS_BIN = path.join(repoRoot, 'node_modules/.bin/duplicity-ts');
const MiB = 1 << 20;

const work = mkdtempSync(path.join(tmpdir(), 'volsize-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const src = path.join(work, 'src');
mkdirSync(src);
const data = randomBytes(6 * MiB + 12345);
writeFileSync(path.join(src, 'media.bin'), data);

it.each([
  ['--no-encryption', ['--no-encryption']],
  ['symmetric', []],
])('%s volumes stay within --volsize 1 and restore', (name, args) => {
  const env = { PATH: process.env.PATH!, HOME: path.join(work, `home-${name}`), TZ: 'UTC', PASSPHRASE: 'volsize test' };
  const target = path.join(work, `target-${name}`);
  const backup = spawnSync(TS_BIN, ['full', ...args, '--volsize', '1', src, `file://${target}`], { encoding: 'utf8', env });
  expect(backup.stderr).toBe('');
  expect(backup.status).toBe(0);
  const sizes = readdirSync(target)
    .filter((n) => n.includes('.vol'))
    .map((n) => statSync(path.join(target, n)).size);
  expect(Math.max(...sizes)).toBeLessThanOrEqual(MiB + 65536);
  // All but the last volume are cut close to the size: random data cannot come out smaller.
  expect(sizes.length).toBeLessThanOrEqual(8);
  const out = path.join(work, `out-${name}`);
  const restore = spawnSync(TS_BIN, ['restore', ...args, `file://${target}`, out], { encoding: 'utf8', env });
  expect(restore.status).toBe(0);
  expect(readFileSync(path.join(out, 'media.bin')).equals(data)).toBe(true);
}, 120_000);
