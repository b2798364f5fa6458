/**
 * --no-encryption backups whose gzip members come from libdeflate, and the same backups with
 * DUPLICITY_TS_NO_LIBDEFLATE=1 (node:zlib): the real duplicity 0.8.22 restores both chains (a full
 * spanning volumes, then an incremental made from our cached .sigtar.gz) to the source's bytes, and
 * so does our restore, with and without libdeflate.
 * Runs the built CLI (`npm run build`).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isAvailable } from '@duplicity-ts/libdeflate';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const OURS = path.join(repo, 'node_modules/.bin/duplicity-ts');

let work: string;
beforeAll(() => {
  if (!existsSync(path.join(repo, 'packages/cli/dist/main.js'))) throw new Error('build the CLI first: npm run build');
  work = mkdtempSync(path.join(tmpdir(), 'dts-libdeflate-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function text(n: number, seed: number): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
  let s = '';
  for (let i = 0; s.length < n; i++) s += words[(i * 7 + seed) % words.length] + (i % 11 === 0 ? `${i}\n` : ' ');
  return Buffer.from(s.slice(0, n));
}

/** Relative path → SHA1 of the contents (or the kind), for every entry under `root`. */
function listing(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel)).sort()) {
      const r = path.join(rel, name);
      const st = statSync(path.join(root, r));
      if (st.isDirectory()) {
        out[r] = 'dir';
        walk(r);
      } else out[r] = createHash('sha1').update(readFileSync(path.join(root, r))).digest('hex');
    }
  };
  walk('');
  return out;
}

function run(cmd: string, args: string[], dir: string, env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: dir, TZ: 'UTC', LC_ALL: 'C.UTF-8', TMPDIR: dir, ...env },
    timeout: 240_000,
  });
  expect(r.status, `${cmd} ${args.join(' ')}\n${r.stderr}`).toBe(0);
}

it('real duplicity and duplicity-ts restore libdeflate-made and zlib-made (fallback) chains to the same bytes', () => {
  const src = path.join(work, 'src');
  mkdirSync(path.join(src, 'docs'), { recursive: true });
  // Text spans several 1 MiB members and, with --volsize 1, several volumes; random data is stored.
  writeFileSync(path.join(src, 'docs/big.txt'), text(3_500_000, 1));
  writeFileSync(path.join(src, 'media.bin'), randomBytes(1_500_000));
  for (let i = 0; i < 20; i++) writeFileSync(path.join(src, 'docs', `small-${i}.txt`), text(100 + i * 997, i));
  writeFileSync(path.join(src, 'empty'), '');

  const variants = [
    { name: 'libdeflate', env: {} },
    { name: 'zlib', env: { DUPLICITY_TS_NO_LIBDEFLATE: '1' } },
  ];
  for (const v of variants) {
    const dir = path.join(work, v.name);
    mkdirSync(dir);
    const args = ['--no-encryption', '--volsize', '1', '--archive-dir', path.join(dir, 'cache')];
    run(OURS, ['full', ...args, '--current-time', '1700000000', src, `file://${dir}/target`], dir, v.env);
  }
  // The incremental's delta comes from the signatures each variant cached as .sigtar.gz.
  writeFileSync(path.join(src, 'docs/big.txt'), Buffer.concat([text(3_500_000, 1), text(200_000, 5)]));
  writeFileSync(path.join(src, 'new.txt'), text(50_000, 3));
  const want = listing(src);
  for (const v of variants) {
    const dir = path.join(work, v.name);
    const args = ['--no-encryption', '--volsize', '1', '--archive-dir', path.join(dir, 'cache')];
    run(OURS, ['incremental', ...args, '--current-time', '1700001000', src, `file://${dir}/target`], dir, v.env);
    const out = path.join(dir, 'restored');
    run('duplicity', ['restore', '--no-encryption', '--archive-dir', path.join(dir, 'dupcache'), `file://${dir}/target`, out], dir);
    expect(listing(out), v.name).toEqual(want);
    // And ours, inflating member by member with libdeflate or streaming through zlib.
    for (const r of variants) {
      const ours = path.join(dir, `ours-${r.name}`);
      run(OURS, ['restore', '--no-encryption', '--archive-dir', path.join(dir, `rcache-${r.name}`), `file://${dir}/target`, ours], dir, r.env);
      expect(listing(ours), `${v.name} restored by duplicity-ts with ${r.name}`).toEqual(want);
    }
  }

  // The switch really changes the compressor: the same tar bytes, deflated differently.
  const firstVolume = (name: string) => readFileSync(path.join(work, name, 'target', 'duplicity-full.20231114T221320Z.vol1.difftar.gz'));
  expect(firstVolume('libdeflate').equals(firstVolume('zlib'))).toBe(!isAvailable());
});
