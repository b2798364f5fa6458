/**
 * verify against the real duplicity 0.8.22: the same archive (fixtures made by duplicity), the same
 * live tree (restored by duplicity, then changed in every way verify can notice), the same options;
 * the output and exit code must be identical. Needs `npm run build`.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, cpSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync, openSync, writeSync, closeSync, statSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, fixtures, run, type Tool } from './fault-harness.js';

let work: string;
let env: Record<string, string>;
const plain = `file://${path.join(fixtures, 'plain/archive')}`;
let restored: string;
let changed: string;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'verify-'));
  env = baseEnv(work);
  restored = path.join(work, 'restored');
  expect(run('duplicity', ['restore', '--no-encryption', plain, restored], env).status).toBe(0);
  changed = path.join(work, 'changed');
  cpSync(restored, changed, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  // One change of each kind verify reports.
  const blob = path.join(changed, 'data/blob.bin');
  const st = statSync(blob);
  const fd = openSync(blob, 'r+');
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, 100);
  byte[0] ^= 0xff;
  writeSync(fd, byte, 0, 1, 100);
  closeSync(fd);
  utimesSync(blob, st.atime, st.mtime); // same size and mtime: only the data differs
  appendFileSync(path.join(changed, 'data/log.txt'), 'more\n');
  utimesSync(path.join(changed, 'data/log.txt'), 1681000000, 1681000000);
  chmodSync(path.join(changed, 'empty.txt'), 0o600);
  unlinkSync(path.join(changed, 'new-file.txt'));
  writeFileSync(path.join(changed, 'zz-new.txt'), 'new\n');
  unlinkSync(path.join(changed, 'link-to-file'));
  symlinkSync(Buffer.from("it's \xff \xc3\xbc", 'latin1'), path.join(changed, 'link-to-file'));
  rmSync(path.join(changed, 'becomes-dir'), { recursive: true });
  writeFileSync(path.join(changed, 'becomes-dir'), 'now a file\n');
  execFileSync('mkfifo', [path.join(changed, 'fifo')]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function both(args: string[], extraEnv: Record<string, string> = {}): Record<Tool, { status: number | null; out: string }> {
  const r = {} as Record<Tool, { status: number | null; out: string }>;
  for (const tool of ['duplicity', 'duplicity-ts'] as Tool[]) {
    const x = run(tool, args, { ...env, ...extraEnv });
    r[tool] = { status: x.status, out: x.stdout };
    if (tool === 'duplicity-ts') expect(x.stderr).toBe('');
  }
  return r;
}

describe('verify prints what duplicity prints', () => {
  const cases: [string, () => string[]][] = [
    ['an identical tree, --compare-data', () => ['verify', '--compare-data', '--no-encryption', plain, restored]],
    ['a changed tree without --compare-data (0.8.22 compares nothing)', () => ['verify', '--no-encryption', plain, changed]],
    ['a changed tree, --compare-data: type, permissions, mtime, data, symlink, missing, new', () => ['verify', '--compare-data', '--no-encryption', plain, changed]],
    ['an older --time', () => ['verify', '--compare-data', '--no-encryption', '--time', '20230406T202857Z', plain, changed]],
    ['--exclude on the live side', () => ['verify', '--compare-data', '--no-encryption', '--exclude', `${changed}/data`, '--exclude', `${changed}/fifo`, plain, changed]],
    ['--file-to-restore', () => ['verify', '--compare-data', '--no-encryption', '--file-to-restore', 'data', plain, path.join(changed, 'data')]],
  ];
  for (const [label, args] of cases) {
    it(label, () => {
      const r = both(args());
      expect(r['duplicity-ts'].out).toBe(r.duplicity.out);
      expect(r['duplicity-ts'].status).toBe(r.duplicity.status);
    });
  }

  it('the changed tree gives exit 1 and names every difference', () => {
    const r = run('duplicity-ts', ['verify', '--compare-data', '--no-encryption', plain, changed], env);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('Difference found: Data for file data/blob.bin is different');
    expect(r.stdout).toContain("Difference found: Symlink link-to-file points to b\"it's \\xff \\xc3\\xbc\", expected b'../outside'");
    expect(r.stdout).toContain('Difference found: Data for file data/blob.bin is different');
    expect(r.stdout).toContain('Difference found: File becomes-dir has type reg, expected dir');
    expect(r.stdout).toContain('Difference found: File empty.txt has permissions 0:0 600, expected 0:0 644');
    expect(r.stdout).toContain('Difference found: File new-file.txt is missing');
    expect(r.stdout).toContain('Difference found: New file zz-new.txt');
    expect(r.stdout).toMatch(/Verify complete: 36 files compared, \d+ differences found\.\n$/);
  });

  it('the seed script form --verify URL DIR works the same', () => {
    const a = run('duplicity-ts', ['--verify', '--compare-data', '--no-encryption', plain, changed], env);
    const b = run('duplicity-ts', ['verify', '--compare-data', '--no-encryption', plain, changed], env);
    expect(a.status).toBe(1);
    expect(a.stdout).toBe(b.stdout);
  });

  it('a missing local dir is exit 12, one line on stderr', () => {
    const r = run('duplicity-ts', ['verify', '--no-encryption', plain, path.join(work, 'nope')], env);
    expect(r.status).toBe(12);
    expect(r.stderr).toBe(`duplicity-ts: Verify directory ${path.join(work, 'nope')} does not exist\n`);
  });

  it('an encrypted archive (symmetric fixture) verifies with PASSPHRASE', () => {
    const url = `file://${path.join(fixtures, 'symmetric/archive')}`;
    const e = { PASSPHRASE: 'fixture-symmetric-b377f3ce0c7d' };
    const dir = path.join(work, 'sym');
    expect(run('duplicity', ['restore', url, dir], { ...env, ...e }).status).toBe(0);
    writeFileSync(path.join(dir, 'extra'), 'x');
    const r = both(['verify', '--compare-data', url, dir], e);
    expect(r['duplicity-ts'].out).toBe(r.duplicity.out);
    expect(r['duplicity-ts'].status).toBe(1);
  }, 300_000); // gpg's S2K (65M iterations) on every file: slow when the machine is busy
});
