/**
 * Fault injection: a multi-volume backup (--volsize 1) SIGKILLed at points through the run (during
 * a volume, between volumes, after the signature upload, just before the manifest), on file:// and
 * on sftp:// against a real sshd. After each kill the target must still restore every earlier
 * backup time exactly; the next run takes over the dead run's lock and resumes the set (FORMAT.md
 * §11.9: killed after two volumes were uploaded, it keeps the first, byte for byte, on either backend),
 * and then every backup time restores exactly with duplicity-ts and with the real duplicity; `check`
 * finds nothing wrong once `cleanup --force` has removed what the dead run left. More kill points: DTS_FAULT_POINTS=<n>. Needs `npm run build`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync, utimesSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdServer } from '../../../test-fixtures/sshd/sshd.js';
import { baseEnv, names, run, spawnTs, treeDigest } from './fault-harness.js';

let work: string;
let env: Record<string, string>;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'fault-'));
  env = baseEnv(work);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha1 = (file: string) => createHash('sha1').update(readFileSync(file)).digest('hex');

type KillPoint = { label: string; when: (remote: () => string[]) => boolean; resumesAfterVolume1?: boolean };

const volumesOf = (files: string[], kind: string) => files.filter((n) => n.startsWith(`duplicity-${kind}`) && n.includes('.vol')).length;
const KILL_POINTS: KillPoint[] = [
  { label: 'during the first volume', when: () => true },
  // Volume 1 (inside the new c.bin, no delta to step back from) is recorded before volume 2 is uploaded.
  { label: 'after volume 2 was uploaded', when: (r) => volumesOf(r(), 'inc') >= 2, resumesAfterVolume1: true },
  { label: 'after the signature file was uploaded (before the manifest)', when: (r) => r().some((n) => n.startsWith('duplicity-new-signatures')) },
];
const extra = Number(process.env.DTS_FAULT_POINTS ?? 0);
for (let i = 0; i < extra; i++) {
  const delay = 20 + Math.floor(Math.random() * 3000);
  const start = Date.now();
  KILL_POINTS.push({ label: `after ${delay} ms (random)`, when: () => Date.now() - start >= delay });
}

interface Target {
  url: string;
  /** Where the backend keeps the files, on this machine (the sshd's user home for sftp). */
  dir: string;
  /** Lists the backend's files (for the kill trigger). */
  list(): string[];
  env: Record<string, string>;
  cleanup?(): Promise<void>;
}

async function scenario(t: Target, point: KillPoint, tag: string): Promise<void> {
  const src = path.join(work, `${tag}-src`);
  const cache = path.join(work, `${tag}-cache`);
  mkdirSync(path.join(src, 'sub'), { recursive: true });
  writeFileSync(path.join(src, 'a.bin'), randomBytes(1_800_000));
  writeFileSync(path.join(src, 'sub/b.txt'), 'hello\n');
  // duplicity (and so duplicity-ts) sees a change only through the integer mtime: give each state
  // its own second, or an edit made within the same second as the last backup goes unnoticed.
  const stamp = (t: number, ...files: string[]) => files.forEach((f) => utimesSync(path.join(src, f), t, t));
  stamp(1600000000, 'a.bin', 'sub/b.txt');
  const opts = ['--no-encryption', '--volsize', '1', '--archive-dir', cache, '--name', 'n'];
  const T1 = 1700000000;
  expect(run('duplicity-ts', ['full', ...opts, '--current-time', String(T1), src, t.url], t.env).status).toBe(0);
  const tree1 = treeDigest(src);

  // The change the killed run was backing up: new big files (several volumes) and an edit.
  writeFileSync(path.join(src, 'c.bin'), randomBytes(2_500_000));
  writeFileSync(path.join(src, 'sub/b.txt'), 'hello again\n');
  writeFileSync(path.join(src, 'sub/d.bin'), randomBytes(600_000));
  stamp(1600000100, 'c.bin', 'sub/b.txt', 'sub/d.bin');
  const { child, done } = spawnTs(['incremental', ...opts, '--current-time', String(T1 + 100), src, t.url], t.env);
  const deadline = Date.now() + 60_000;
  while (!point.when(t.list) && Date.now() < deadline) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill('SIGKILL');
  const killed = await done;
  expect(killed.signal, `the run ended before the kill point: ${killed.stderr}`).toBe('SIGKILL');

  const restoreAt = (time: number, into: string) =>
    run('duplicity-ts', ['restore', ...opts, '--time', String(time), t.url, into], t.env);
  // Every earlier time still restores.
  const r1 = path.join(work, `${tag}-r1`);
  const x = restoreAt(T1, r1);
  expect(x.status, x.stderr).toBe(0);
  expect(treeDigest(r1)).toBe(tree1);

  const vol1 = () => names(t.dir).find((n) => /^duplicity-inc\..*\.vol1\.difftar\.gz$/.test(n));
  const vol1Before = point.resumesAfterVolume1 ? sha1(path.join(t.dir, vol1()!)) : undefined;

  // The next run takes over the stale lock and completes, resuming the set where it can.
  const T3 = T1 + 200;
  const again = run('duplicity-ts', ['incremental', ...opts, '--current-time', String(T3), src, t.url], t.env);
  expect(again.status, again.stderr).toBe(0);
  expect(again.stderr).toBe('');
  if (point.resumesAfterVolume1) {
    expect(again.stdout).toContain('Last incremental backup left a partial set, restarting.');
    expect(again.stdout).toMatch(/Restarting after volume [12], file /);
    expect(sha1(path.join(t.dir, vol1()!)), 'volume 1 was kept, not written again').toBe(vol1Before);
  }
  const tree3 = treeDigest(src);
  for (const [time, want, n] of [[T1, tree1, 'a'], [T3, tree3, 'b']] as const) {
    const into = path.join(work, `${tag}-${n}`);
    const r = restoreAt(time, into);
    expect(r.status, r.stderr).toBe(0);
    expect(treeDigest(into)).toBe(want);
    // The real duplicity, from the same files (file:// on the backend's directory), with its own cache.
    const theirs = path.join(work, `${tag}-${n}-duplicity`);
    const d = run('duplicity', ['restore', '--no-encryption', '--archive-dir', path.join(work, `${tag}-dcache`), '--name', 'n', '--time', String(time), `file://${t.dir}`, theirs], t.env);
    expect(d.status, d.stderr).toBe(0);
    expect(treeDigest(theirs)).toBe(want);
  }
  // Whatever the dead run left is found by cleanup; then check finds the archive sound.
  const clean = run('duplicity-ts', ['cleanup', '--force', ...opts, t.url], t.env);
  expect(clean.status, clean.stderr).toBe(0);
  const check = run('duplicity-ts', ['check', ...opts, t.url], t.env);
  expect(check.stderr).toBe('');
  expect(check.status).toBe(0);
  expect(existsSync(path.join(cache, 'n', 'lockfile'))).toBe(false);
}

describe('SIGKILL during a --volsize 1 incremental, file://', () => {
  KILL_POINTS.forEach((point, i) => {
    it(point.label, async () => {
      const dst = path.join(work, `file-${i}-dst`);
      await scenario({ url: `file://${dst}`, dir: dst, list: () => names(dst), env }, point, `file-${i}`);
    });
  });
});

describe('SIGKILL during a --volsize 1 incremental, sftp:// (real sshd)', () => {
  let sshd: SshdServer;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.stop();
  });
  // One point keeps the suite short; DTS_FAULT_POINTS adds random ones to the file:// runs.
  [KILL_POINTS[1]].forEach((point, i) => {
    it(point.label, async () => {
      const rel = `fault-${i}`;
      const dir = path.join(sshd.userHome, rel);
      await scenario({ url: sshd.url('sftp', rel), dir, list: () => names(dir), env: { ...env, HOME: sshd.clientHome } }, point, `sftp-${i}`);
    });
  });
});

describe('disk full (a small tmpfs; tests run as root here and in CI)', () => {
  const mounts: string[] = [];
  const mountTmpfs = (dir: string, size: string): boolean => {
    mkdirSync(dir, { recursive: true });
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
    if (r.status === 0) mounts.push(dir);
    return r.status === 0;
  };
  const remount = (dir: string, size: string) => expect(spawnSync('mount', ['-o', `remount,size=${size}`, dir]).status).toBe(0);
  afterAll(() => {
    for (const m of mounts.reverse()) spawnSync('umount', [m]);
  });
  // Without mount rights (a non-root developer machine) there is no honest way to fill a disk here.
  const canMount = process.getuid?.() === 0 || process.env.CI === 'true';

  const source = (tag: string) => {
    const src = path.join(work, `${tag}-src`);
    mkdirSync(src, { recursive: true });
    writeFileSync(path.join(src, 'big.bin'), randomBytes(5_000_000));
    for (let i = 0; i < 20; i++) writeFileSync(path.join(src, `f${i}.txt`), `file ${i}\n`);
    return src;
  };

  it.runIf(canMount)('on the target: one-line error (exit 53), no partial file under a final name; the next run completes', () => {
    const dst = path.join(work, 'full-target');
    expect(mountTmpfs(dst, '2m')).toBe(true);
    const src = source('df-target');
    const opts = ['--no-encryption', '--volsize', '1', '--archive-dir', path.join(work, 'df-target-cache'), '--name', 'n'];
    const r = run('duplicity-ts', ['full', ...opts, src, `file://${dst}`], env);
    expect(r.status).toBe(53);
    expect(r.stderr).toMatch(/^duplicity-ts: failed to upload duplicity-full\.\S+\.vol\d+\.difftar\.gz: .*no space left on device\n$/);
    // Whatever sits under a final name is whole: every volume decompresses to its end.
    const left = readdirSync(dst);
    expect(left.every((n) => /^duplicity-full\.\d{8}T\d{6}Z\.vol\d+\.difftar\.gz$/.test(n))).toBe(true);
    for (const n of left) expect(() => gunzipSync(readFileSync(path.join(dst, n)))).not.toThrow();
    remount(dst, '64m');
    const again = run('duplicity-ts', ['full', ...opts, src, `file://${dst}`], env);
    expect(again.status, again.stderr).toBe(0);
    const out = path.join(work, 'df-target-out');
    expect(run('duplicity-ts', ['restore', ...opts, `file://${dst}`, out], env).status).toBe(0);
    expect(treeDigest(out)).toBe(treeDigest(src));
  });

  it.runIf(canMount)('on the archive dir: one-line error naming it (exit 35); the next run starts over and completes', () => {
    const cacheBase = path.join(work, 'full-cache');
    expect(mountTmpfs(cacheBase, '16k')).toBe(true);
    const src = source('df-cache');
    const dst = path.join(work, 'df-cache-dst');
    const opts = ['--no-encryption', '--volsize', '1', '--archive-dir', cacheBase, '--name', 'n'];
    const r = run('duplicity-ts', ['full', ...opts, src, `file://${dst}`], env);
    expect(r.status).toBe(35);
    expect(r.stderr).toBe(`duplicity-ts: backup failed: no space left on device in the archive dir ${path.join(cacheBase, 'n')}; free some space and run again\n`);
    // Only `.part` names in the cache, and no manifest on the backend: nothing claims to be complete.
    expect(readdirSync(path.join(cacheBase, 'n')).filter((n) => n !== 'lockfile').every((n) => n.endsWith('.part'))).toBe(true);
    expect(readdirSync(dst).some((n) => n.includes('manifest'))).toBe(false);
    remount(cacheBase, '16m');
    const again = run('duplicity-ts', ['full', ...opts, src, `file://${dst}`], env);
    expect(again.status, again.stderr).toBe(0);
    const out = path.join(work, 'df-cache-out');
    expect(run('duplicity-ts', ['restore', ...opts, `file://${dst}`, out], env).status).toBe(0);
    expect(treeDigest(out)).toBe(treeDigest(src));
    expect(run('duplicity-ts', ['check', ...opts, `file://${dst}`], env).status).toBe(0);
  });
});
