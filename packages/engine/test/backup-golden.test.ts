/**
 * A full backup with --no-encryption --no-compression is deterministic (plain tar, no gzip
 * timestamp), so duplicity-ts must write the very bytes real duplicity 0.8.22 writes: volume,
 * signature tar and manifest, for a tree with every kind of item and the payload-size edges.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, chmodSync, lutimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openBackend } from '@duplicity-ts/backends';
import { runBackup } from '../src/backup/run-backup.js';

let work: string;
const quiet = { info() {}, warn() {}, notice() {} };

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function bytes(seed: number, n: number): Buffer {
  const r = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r() & 0xff;
  return b;
}

function makeTree(root: string): void {
  const f = (rel: string, data: Buffer | string, mode = 0o644) => {
    writeFileSync(path.join(root, rel), data);
    chmodSync(path.join(root, rel), mode);
  };
  mkdirSync(path.join(root, 'dir1/sub'), { recursive: true });
  mkdirSync(path.join(root, 'empty-dir'));
  f('a.txt', 'hello\n');
  f('empty.txt', '');
  f('exact64k', bytes(1, 65536));
  f('just-under', bytes(2, 65535));
  f('exact128k', bytes(3, 131072));
  f('dir1/big.bin', bytes(4, 2_500_001), 0o600);
  f('dir1/sub/text.txt', 'some text\n'.repeat(5000), 0o444);
  f(`${'L'.repeat(120)}.txt`, 'long name\n');
  f('dir1/sp ace\'q"uote.txt', 'quoted\n');
  writeFileSync(Buffer.from(path.join(root, 'bad\xffname.txt'), 'latin1'), 'binary name\n');
  f('é.txt', 'utf8 name\n');
  symlinkSync('a.txt', path.join(root, 'link'));
  symlinkSync('nowhere', path.join(root, 'dir1/dangling'));
  execFileSync('mkfifo', [path.join(root, 'fifo')]);
  const t = 1600000000;
  const all = (dir: Buffer): Buffer[] =>
    readdirSync(dir, { encoding: 'buffer', withFileTypes: true }).flatMap((d) => {
      const p = Buffer.concat([dir, Buffer.from('/'), d.name]);
      return d.isDirectory() ? [...all(p), p] : [p];
    });
  for (const p of all(Buffer.from(root))) lutimesSync(p, t, t);
  chmodSync(path.join(root, 'dir1/sub'), 0o750);
  utimesSync(path.join(root, 'dir1/sub'), t + 5, t + 5);
  utimesSync(root, t, t);
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'dts-golden-'));
  mkdirSync(path.join(work, 'src'));
  makeTree(path.join(work, 'src'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('full backup, uncompressed and unencrypted, byte for byte as duplicity', () => {
  it.each([[undefined], [1]])('volsize %s', async (volsize) => {
    const tag = `v${volsize ?? 'default'}`;
    const theirs = path.join(work, `${tag}-dup`);
    const ours = path.join(work, `${tag}-ts`);
    const args = ['full', '--no-encryption', '--no-compression', '--current-time', '1700000000', '--archive-dir', path.join(work, `${tag}-dupcache`)];
    if (volsize) args.push('--volsize', String(volsize));
    const r = spawnSync('duplicity', [...args, 'src', `file://${theirs}`], { cwd: work, env: { ...process.env, HOME: work } });
    expect(r.status, r.stdout.toString() + r.stderr.toString()).toBe(0);

    mkdirSync(ours);
    const cache = path.join(work, `${tag}-tscache`);
    const tmp = path.join(work, `${tag}-tmp`);
    mkdirSync(cache);
    mkdirSync(tmp);
    const cwd = process.cwd();
    process.chdir(work);
    try {
      await runBackup({
        mode: 'full',
        source: 'src',
        backend: await openBackend(`file://${ours}`),
        archiveDir: cache,
        tempDir: tmp,
        now: 1700000000,
        fixedTime: true,
        log: quiet,
        compress: false,
        volsizeMiB: volsize,
      });
    } finally {
      process.chdir(cwd);
    }
    const names = readdirSync(theirs).sort();
    expect(readdirSync(ours).sort()).toEqual(names);
    if (volsize) expect(names.filter((n) => n.includes('.vol')).length).toBeGreaterThan(1);
    for (const n of names) {
      const a = readFileSync(path.join(ours, n));
      const b = readFileSync(path.join(theirs, n));
      expect({ n, same: a.equals(b) }).toEqual({ n, same: true });
    }
    // The cache holds the plain manifest and a gzipped sigtar, as duplicity's does.
    expect(readdirSync(cache).sort()).toEqual(readdirSync(path.join(work, `${tag}-dupcache`, readdirSync(path.join(work, `${tag}-dupcache`))[0])).filter((n) => !n.startsWith('lockfile')).sort());
  });
});
