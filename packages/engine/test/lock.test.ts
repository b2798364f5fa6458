/**
 * The archive dir lock (FORMAT.md §11.10): a second run on the same archive dir exits 23 with
 * duplicity's message while the first holds it, whether the holder is duplicity-ts (pid file) or
 * duplicity (an fcntl lock on the same file, as /proc/locks shows); a lock whose process is dead is
 * taken over. Needs `npm run build` for the CLI cases.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireArchiveLock } from '@duplicity-ts/engine';
import { baseEnv, run, spawnTs } from './fault-harness.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'lock-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const dirFor = (name: string) => {
  const d = path.join(work, name);
  mkdirSync(d, { recursive: true });
  return d;
};

function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

describe('acquireArchiveLock', () => {
  it('writes pid and host, refuses a second holder with exit 23, and removes the file on release', async () => {
    const dir = dirFor('basic');
    const lock = await acquireArchiveLock(dir);
    expect(readFileSync(path.join(dir, 'lockfile'), 'utf8')).toBe(`${process.pid} ${hostname()}\n`);
    await expect(acquireArchiveLock(dir, { pid: process.pid + 100000 })).rejects.toMatchObject({
      exitCode: 23,
      message: expect.stringMatching(/^Another duplicity instance is already running with this archive directory \(.*lockfile: (held by process \d+|locked by a running process)\)$/),
    });
    await lock.release();
    expect(existsSync(path.join(dir, 'lockfile'))).toBe(false);
  });

  it('takes over the lock of a dead process', async () => {
    const dir = dirFor('stale');
    writeFileSync(path.join(dir, 'lockfile'), `${deadPid()} ${hostname()}\n`);
    const stale: string[] = [];
    const lock = await acquireArchiveLock(dir, { onStale: (m) => stale.push(m) });
    expect(stale).toHaveLength(1);
    expect(readFileSync(path.join(dir, 'lockfile'), 'utf8')).toBe(`${process.pid} ${hostname()}\n`);
    await lock.release();
  });

  it("takes over an empty lockfile nobody locks (a killed duplicity's)", async () => {
    const dir = dirFor('empty');
    writeFileSync(path.join(dir, 'lockfile'), '');
    const lock = await acquireArchiveLock(dir);
    await lock.release();
  });

  /** The kinds of lock /proc/locks lists on `file` (by its inode): OFDLCK (the addon's), POSIX (python3's lockf). */
  const lockKinds = (file: string) => {
    const ino = spawnSync('stat', ['-c', '%i', file]).stdout.toString().trim();
    return readFileSync('/proc/locks', 'utf8')
      .split('\n')
      .filter((l) => l.split(/\s+/)[5]?.endsWith(`:${ino}`))
      .map((l) => l.split(/\s+/)[1]);
  };

  it.each([
    ['the libdeflate addon (an OFD lock)', '0', 'OFDLCK'],
    ['a python3 child (DUPLICITY_TS_NO_LIBDEFLATE=1)', '1', 'POSIX'],
  ])('holds an fcntl lock the real duplicity respects (exit 23 from duplicity while held), through %s', async (_how, noAddon, kind) => {
    const env = baseEnv(work);
    const cache = dirFor(`dup-blocked-${kind}`);
    const dir = dirFor(`dup-blocked-${kind}/n`);
    const url = `file://${dirFor(`dup-blocked-${kind}-dst`)}`;
    process.env.DUPLICITY_TS_NO_LIBDEFLATE = noAddon;
    let lock;
    try {
      lock = await acquireArchiveLock(dir);
    } finally {
      delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
    }
    let r;
    try {
      expect(lockKinds(path.join(dir, 'lockfile'))).toEqual([kind]);
      r = run('duplicity', ['collection-status', '--no-encryption', '--archive-dir', cache, '--name', 'n', url], env);
    } finally {
      await lock.release();
    }
    expect(r.status).toBe(23);
    expect(r.stdout + r.stderr).toContain('Another duplicity instance is already running with this archive directory');
    expect(run('duplicity', ['collection-status', '--no-encryption', '--archive-dir', cache, '--name', 'n', url], env).status).toBe(0);
  });

  it('does not take over a lock held by another host (a shared archive dir)', async () => {
    const dir = dirFor('otherhost');
    writeFileSync(path.join(dir, 'lockfile'), `${deadPid()} some-other-host-${randomBytes(3).toString('hex')}\n`);
    await expect(acquireArchiveLock(dir)).rejects.toMatchObject({ exitCode: 23, message: expect.stringContaining('on host some-other-host') });
  });

  it('sees an fcntl lock on the file (how duplicity 0.8 locks it)', async () => {
    const dir = dirFor('fcntl');
    const file = path.join(dir, 'lockfile');
    // python3's fcntl.lockf is what duplicity itself uses (via fasteners).
    const holder = spawn('python3', ['-c', 'import fcntl,sys; f=open(sys.argv[1],"a"); fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB); print("locked", flush=True); sys.stdin.read()', file], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    try {
      await expect(acquireArchiveLock(dir)).rejects.toMatchObject({ exitCode: 23, message: expect.stringContaining('locked by a running process') });
    } finally {
      holder.stdin.end();
      await new Promise((r) => holder.once('exit', r));
    }
    const lock = await acquireArchiveLock(dir);
    await lock.release();
  });
});

describe('through the CLI', () => {
  it('a second run on the same archive dir exits 23 while a backup runs; the lock is gone after it', async () => {
    const env = baseEnv(work);
    const src = dirFor('cli-src');
    writeFileSync(path.join(src, 'big'), randomBytes(6_000_000));
    const cache = path.join(work, 'cli-cache');
    const url = `file://${path.join(work, 'cli-dst')}`;
    const common = ['--no-encryption', '--volsize', '1', '--archive-dir', cache, '--name', 'n'];
    const { child, done } = spawnTs(['full', ...common, src, url], env);
    const lockfile = path.join(cache, 'n', 'lockfile');
    const deadline = Date.now() + 30_000;
    while (!existsSync(lockfile) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    // Hold the first run still while the second one tries, so the test does not race it.
    child.kill('SIGSTOP');
    const second = run('duplicity-ts', ['collection-status', ...common, url], env);
    child.kill('SIGCONT');
    const first = await done;
    expect(first.status, first.stderr).toBe(0);
    expect(second.status).toBe(23);
    expect(second.stderr).toMatch(/^duplicity-ts: Another duplicity instance is already running with this archive directory \(.*\)\n$/);
    expect(existsSync(lockfile)).toBe(false);
    expect(run('duplicity-ts', ['collection-status', ...common, url], env).status).toBe(0);
  });

  it('a run while the real duplicity holds the archive dir exits 23', async () => {
    const env = baseEnv(work);
    const src = dirFor('dup-src');
    writeFileSync(path.join(src, 'big'), randomBytes(8_000_000));
    const cache = path.join(work, 'dup-cache');
    const url = `file://${path.join(work, 'dup-dst')}`;
    const common = ['--no-encryption', '--volsize', '1', '--archive-dir', cache, '--name', 'n'];
    const dup = spawn('duplicity', ['full', ...common, src, url], { env, stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => dup.once('exit', r));
    const lockfile = path.join(cache, 'n', 'lockfile');
    const deadline = Date.now() + 30_000;
    // duplicity creates the file and locks it at once; wait until /proc/locks can see it.
    while (dup.exitCode === null && Date.now() < deadline) {
      if (existsSync(lockfile) && readFileSync('/proc/locks', 'utf8').includes(`:${spawnSync('stat', ['-c', '%i', lockfile]).stdout.toString().trim()} `)) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    dup.kill('SIGSTOP'); // the lock stays held while stopped; no race with the run finishing
    const second = run('duplicity-ts', ['collection-status', ...common, url], env);
    dup.kill('SIGCONT');
    expect(await exited).toBe(0);
    expect(second.status).toBe(23);
    expect(second.stderr).toMatch(/^duplicity-ts: Another duplicity instance is already running with this archive directory \(.*locked by a running process\)\n$/);
  });
});
