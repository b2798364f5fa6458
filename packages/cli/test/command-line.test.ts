import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseCommandLine, resolveActionWord, type CommandLine } from '../src/main.js';

const BIN = fileURLToPath(new URL('../bin/duplicity-ts.js', import.meta.url));
const parsed = (argv: string[]) => {
  const r = parseCommandLine(argv);
  if (typeof r === 'number') throw new Error(`exited ${r}`);
  return r as CommandLine;
};

describe('duplicity command line', () => {
  it('accepts unique prefixes of action words, as duplicity does', () => {
    expect(resolveActionWord('inc')).toBe('incremental');
    expect(resolveActionWord('incr')).toBe('incremental');
    expect(resolveActionWord('col')).toBe('collection-status');
    expect(resolveActionWord('remove-all-i')).toBe('remove-all-inc-of-but-n-full');
    expect(resolveActionWord('re')).toBeUndefined(); // restore / remove-*: ambiguous
  });

  it('decides backup or restore from the URL position when no action is given', () => {
    expect(parsed(['/src', 'file:///dst']).action).toBe('backup');
    expect(parsed(['file:///dst', '/out']).action).toBe('restore');
  });

  it('runs the seed scripts as written: options before and after, --verify flag, ordered excludes', () => {
    const b = parsed(['--encrypt-key', 'AFC6DCD1', '--sign-key', 'B036117C', '--exclude', '/proc', '--exclude', '/mnt',
      '--include', '/tmp/keep', '--exclude', '/tmp', '/', 'scp://abackupuser@remote/backup']);
    expect(b.action).toBe('backup');
    expect(b.options.encryptKey).toEqual(['AFC6DCD1']);
    expect(b.options.signKey).toBe('B036117C');
    expect(b.options.selection).toEqual([
      { kind: 'exclude', value: '/proc' },
      { kind: 'exclude', value: '/mnt' },
      { kind: 'include', value: '/tmp/keep' },
      { kind: 'exclude', value: '/tmp' },
    ]);
    const v = parsed(['--encrypt-key', 'AFC6DCD1', '--verbosity', '4', '--verify', 'scp://u@h/backup', '/']);
    expect(v.action).toBe('verify');
    expect(v.args).toEqual(['scp://u@h/backup', '/']);
    const r = parsed(['restore', 'file:///b', '/out', '--time', '3D', '--file-to-restore', 'etc/passwd', '--force']);
    expect(r.options.restoreTime).toBe('3D');
    expect(r.options.fileToRestore).toBe('etc/passwd');
    expect(r.options.force).toBe(true);
  });

  it('maps --no-encryption and friends, --encrypt-sign-key, --rename and remove-* arguments', () => {
    const c = parsed(['full', '--no-encryption', '--no-compression', '--encrypt-sign-key', 'ABCD1234',
      '--rename', 'a b', 'c', '/src', 'file:///x']);
    expect(c.options.noEncryption).toBe(true);
    expect(c.options.noCompression).toBe(true);
    expect(c.options.encryptKey).toEqual(['ABCD1234']);
    expect(c.options.signKey).toBe('ABCD1234');
    expect(c.options.rename).toEqual([['a b', 'c']]);
    expect(c.args).toEqual(['/src', 'file:///x']);
    const rm = parsed(['remove-older-than', '1Y', '--force', 'file:///x']);
    expect(rm.actionArg).toBe('1Y');
    expect(rm.args).toEqual(['file:///x']);
  });
});

describe('duplicity-ts process', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

  it('prints its version', () => {
    const r = run('--version');
    expect(r.status).toBe(0);
    // The form duplicity prints (`duplicity 0.8.22`), which scripts parse.
    expect(r.stdout.trim()).toMatch(/^duplicity-ts \d+\.\d+\.\d+$/);
  });

  it('rejects an unknown option with exit 2 and one line, no stack trace', () => {
    const r = run('--bogus-option', 'a', 'file:///b');
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bogus-option/);
  });

  it('rejects an unknown action with exit 2 and one line', () => {
    const r = run('frobnicate', 'x');
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\bat\s+\S+:\d+/);
  });
});
