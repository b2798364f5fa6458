/**
 * Fault injection: a multi-volume backup (--volsize 1) SIGKILLed at points through the run (during
 * a volume, between volumes, after the signature upload, just before the manifest), on file:// and
 * on sftp:// against a real sshd. After each kill the target must still restore every earlier
 * backup time exactly; the next run takes over the dead run's lock, starts the set over, and then
 * every backup time restores exactly; `check` finds nothing wrong once `cleanup --force` has removed
 * what the dead run left. More kill points: DTS_FAULT_POINTS=<n>. Needs `npm run build`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
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

type KillPoint = { label: string; when: (remote: () => string[]) => boolean };

const volumesOf = (files: string[], kind: string) => files.filter((n) => n.startsWith(`duplicity-${kind}`) && n.includes('.vol')).length;
const KILL_POINTS: KillPoint[] = [
  { label: 'during the first volume', when: () => true },
  { label: 'after volume 2 was uploaded', when: (r) => volumesOf(r(), 'inc') >= 2 },
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
  const opts = ['--no-encryption', '--volsize', '1', '--archive-dir', cache, '--name', 'n'];
  const T1 = 1700000000;
  expect(run('duplicity-ts', ['full', ...opts, '--current-time', String(T1), src, t.url], t.env).status).toBe(0);
  const tree1 = treeDigest(src);

  // The change the killed run was backing up: new big files (several volumes) and an edit.
  writeFileSync(path.join(src, 'c.bin'), randomBytes(2_500_000));
  writeFileSync(path.join(src, 'sub/b.txt'), 'hello again\n');
  writeFileSync(path.join(src, 'sub/d.bin'), randomBytes(600_000));
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

  // The next run takes over the stale lock and completes.
  const T3 = T1 + 200;
  const again = run('duplicity-ts', ['incremental', ...opts, '--current-time', String(T3), src, t.url], t.env);
  expect(again.status, again.stderr).toBe(0);
  expect(again.stderr).toBe('');
  const tree3 = treeDigest(src);
  for (const [time, want, n] of [[T1, tree1, 'a'], [T3, tree3, 'b']] as const) {
    const into = path.join(work, `${tag}-${n}`);
    const r = restoreAt(time, into);
    expect(r.status, r.stderr).toBe(0);
    expect(treeDigest(into)).toBe(want);
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
      await scenario({ url: `file://${dst}`, list: () => names(dst), env }, point, `file-${i}`);
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
      await scenario({ url: sshd.url('sftp', rel), list: () => names(dir), env: { ...env, HOME: sshd.clientHome } }, point, `sftp-${i}`);
    });
  });
});
