/**
 * An fcntl lock on the lockfile, so that the real duplicity (which knows only fcntl locks, FORMAT.md
 * §11.10) sees a duplicity-ts run as holding the archive dir. Node cannot take fcntl locks: the
 * libdeflate addon takes an open-file-description lock where it can (held by a descriptor kept open
 * until release or exit); otherwise a small python3 child takes it and keeps it until its stdin
 * closes: when this process releases the lock, exits, or is killed. Where python3 is missing there
 * is no duplicity to coordinate with (duplicity is a python3 program), and the pid lockfile alone
 * does the job.
 */
import { lockFile } from '@duplicity-ts/libdeflate';
import { spawn } from 'node:child_process';
import { closeSync, existsSync } from 'node:fs';

// The system interpreter (the one duplicity runs on) first: a `python3` found on PATH may be a
// version-manager shim (pyenv's costs ~1.7 s per start here), and this runs on every command.
// -S -E: no site packages, no PYTHON* variables; the script needs only fcntl and sys.
const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p)) ?? 'python3';

const SCRIPT = [
  'import fcntl, sys',
  "f = open(sys.argv[1], 'a')",
  'try:',
  '    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)',
  'except OSError:',
  "    print('busy', flush=True)",
  '    sys.exit(0)',
  "print('ok', flush=True)",
  'sys.stdin.read()',
].join('\n');

export interface FcntlHold {
  release(): void;
}

/**
 * Locks `file` (through the addon, else a python3 child); 'busy' when another process holds an fcntl lock on it;
 * null when neither way is available.
 */
export function holdFcntlLock(file: string, timeoutMs = 10_000): Promise<FcntlHold | 'busy' | null> {
  const fd = lockFile(file);
  if (fd === 'busy') return Promise.resolve('busy');
  if (fd !== undefined) {
    let held = true;
    return Promise.resolve({
      release() {
        if (held) closeSync(fd);
        held = false;
      },
    });
  }
  return new Promise((resolve) => {
    let settled = false;
    const child = spawn(PYTHON, ['-S', '-E', '-c', SCRIPT, file], { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    const done = (v: FcntlHold | 'busy' | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done(null);
    }, timeoutMs);
    child.on('error', () => done(null)); // no python3
    child.on('exit', () => done(null));
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      const answer = out.trim();
      child.stdout.destroy();
      if (answer === 'busy') return done('busy');
      if (answer !== 'ok') {
        child.kill('SIGKILL');
        return done(null);
      }
      // Neither the child nor its pipe may keep this process alive: the lock lives as long as we do.
      child.unref();
      (child.stdin as unknown as { _handle?: { unref?(): void } })._handle?.unref?.();
      done({
        release() {
          child.stdin.end();
        },
      });
    });
  });
}
