// `restore --rename FROM TO` against real duplicity 0.8.22 on the same archive: the same items end up at the same
// paths with the same bytes, modes and mtimes, whatever the order of overlapping renames, under --file-to-restore,
// and when a renamed directory is read-only.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/duplicity-ts.js', import.meta.url));
const haveDuplicity = spawnSync('duplicity', ['--version']).status === 0;
if (!haveDuplicity && process.env.CI === 'true') throw new Error('duplicity is required in CI but is not installed');

let dir: string;
const p = (...names: string[]) => join(dir, ...names);
const env = { ...process.env, TZ: 'UTC' };

/** path -> type, mode, bytes (files) and mtime (items the archive describes), for every item under `root`. */
function listing(root: string, described: (rel: string) => boolean): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    const full = rel ? join(root, rel) : root;
    const st = lstatSync(full);
    const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'file';
    let line = `${kind} ${(st.mode & 0o7777).toString(8)}`;
    if (kind === 'file') line += ` ${readFileSync(full).toString('base64')}`;
    if (kind !== 'dir' || described(rel)) line += ` ${Math.floor(st.mtimeMs / 1000)}`;
    out[rel || '.'] = line;
    if (kind === 'dir') {
      chmodSync(full, st.mode | 0o700);
      for (const n of readdirSync(full).sort()) walk(rel ? `${rel}/${n}` : n);
      chmodSync(full, st.mode & 0o7777);
    }
  };
  walk('');
  return out;
}

function restoreWith(tool: 'duplicity' | 'ours', args: string[], out: string): void {
  const argv = ['restore', '--no-encryption', '--archive-dir', p(`arch-${tool}`), ...args, `file://${p('target')}`, out];
  const r = tool === 'duplicity' ? spawnSync('duplicity', argv, { env, encoding: 'utf8' }) : spawnSync(BIN, argv, { env, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rename-'));
  const src = p('src');
  mkdirSync(join(src, 'docs', 'metal', 'live'), { recursive: true });
  mkdirSync(join(src, 'other'));
  writeFileSync(join(src, 'docs', 'metal', 'song.bin'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) & 255)));
  writeFileSync(join(src, 'docs', 'metal', 'live', 'set.txt'), 'encore\n');
  writeFileSync(join(src, 'docs', 'metalworks.txt'), 'not under docs/metal\n');
  writeFileSync(join(src, 'docs', 'top.txt'), 'top\n');
  writeFileSync(join(src, 'other', 'x.txt'), 'x\n');
  chmodSync(join(src, 'docs', 'metal', 'live', 'set.txt'), 0o640);
  for (const rel of ['docs/metal/live/set.txt', 'docs/metal/live', 'docs/metal/song.bin', 'docs/metal', 'docs', 'other/x.txt', 'other', '']) {
    utimesSync(join(src, rel), 1_600_000_000, 1_600_000_000 + rel.length);
  }
  // Read-only once restored: its contents must be written before its mode is set.
  chmodSync(join(src, 'docs', 'metal'), 0o555);
  execFileSync('duplicity', ['full', '--no-encryption', '--archive-dir', p('arch-duplicity'), src, `file://${p('target')}`], { env, stdio: 'pipe' });
});
afterAll(() => {
  spawnSync('chmod', ['-R', 'u+w', dir]);
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(haveDuplicity)('restore --rename, compared with duplicity 0.8.22', () => {
  const cases: [string, string[], string[]][] = [
    ['a directory to a new parent', ['--rename', 'docs/metal', 'music/metal'], ['docs', 'docs/top.txt', 'docs/metalworks.txt', 'music/metal', 'music/metal/live', 'music/metal/live/set.txt', 'music/metal/song.bin', 'other', 'other/x.txt', '.']],
    ['overlapping renames, the longer FROM wins', ['--rename', 'docs', 'c', '--rename', 'docs/metal', 'a/b'], ['c', 'c/top.txt', 'c/metalworks.txt', 'a/b', 'a/b/live', 'a/b/live/set.txt', 'a/b/song.bin', 'other', 'other/x.txt', '.']],
    ['the same, given the other way round', ['--rename', 'docs/metal', 'a/b', '--rename', 'docs', 'c'], ['c', 'c/top.txt', 'c/metalworks.txt', 'a/b', 'a/b/live', 'a/b/live/set.txt', 'a/b/song.bin', 'other', 'other/x.txt', '.']],
    ['one file, and a partial name that matches nothing', ['--rename', 'other/x.txt', 'y.txt', '--rename', 'docs/met', 'zz'], ['docs', 'docs/top.txt', 'docs/metalworks.txt', 'docs/metal', 'docs/metal/live', 'docs/metal/live/set.txt', 'docs/metal/song.bin', 'other', 'y.txt', '.']],
    ['relative to --file-to-restore', ['--file-to-restore', 'docs', '--rename', 'metal', 'm2'], ['top.txt', 'metalworks.txt', 'm2', 'm2/live', 'm2/live/set.txt', 'm2/song.bin', '.']],
  ];
  cases.forEach(([name, args, described], i) => {
    it(name, () => {
      restoreWith('duplicity', args, p(`dup-${i}`));
      restoreWith('ours', args, p(`ours-${i}`));
      const isDescribed = (rel: string) => described.includes(rel || '.');
      const theirs = listing(p(`dup-${i}`), isDescribed);
      expect(listing(p(`ours-${i}`), isDescribed)).toEqual(theirs);
      expect(Object.keys(theirs).sort()).toEqual([...new Set([...described, ...Object.keys(theirs)])].sort());
    }, 60_000);
  });

  it('refuses a TO that leaves the target, in one line', () => {
    const r = spawnSync(BIN, ['restore', '--no-encryption', '--archive-dir', p('arch-ours'), '--rename', 'docs', '../escape', `file://${p('target')}`, p('ours-escape')], { env, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^duplicity-ts: refusing to restore .*unsafe name component/m);
    expect(() => lstatSync(p('escape'))).toThrow();
  });
});
