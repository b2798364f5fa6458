/**
 * Interrupted backups and their resumption (FORMAT.md §11.9), across the two programs. A run of
 * duplicity-ts SIGKILLed mid-way through a --volsize 1 full or incremental (plain and symmetric)
 * is resumed by the next duplicity-ts run under the partial set's time, keeping the volumes it
 * uploaded; a set real duplicity left partial (--fail-on-volume, which stops it as a crash would)
 * is resumed too; and one duplicity-ts left is resumed by real duplicity. Every result restores
 * with both programs to the source's bytes and metadata, and `check` finds each volume matching
 * its manifest entry. A wrong passphrase or other encryption settings stop the resume before
 * anything changes. Needs `npm run build`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, names, run, spawnTs, treeDigest, type Tool } from './fault-harness.js';

let work: string;
let env: Record<string, string>;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'resume-'));
  env = baseEnv(work, { PASSPHRASE: 'resume passphrase' });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const T1 = 1700000000;
const stamp = (src: string, t: number, ...files: string[]) => files.forEach((f) => utimesSync(path.join(src, f), t, t));

function setup(tag: string, encrypted: boolean) {
  const src = path.join(work, `${tag}-src`);
  mkdirSync(path.join(src, 'd'), { recursive: true });
  // Encrypted volumes come out bigger than --volsize 1: more data gives the kill room.
  writeFileSync(path.join(src, 'a.bin'), randomBytes(encrypted ? 12_000_000 : 3_500_000));
  writeFileSync(path.join(src, 'd/b.txt'), 'hello\n');
  writeFileSync(path.join(src, 'd/c.bin'), randomBytes(encrypted ? 3_000_000 : 1_500_000));
  stamp(src, 1600000000, 'a.bin', 'd/b.txt', 'd/c.bin');
  const dst = path.join(work, `${tag}-dst`);
  const cache = path.join(work, `${tag}-cache`);
  const opts = [...(encrypted ? [] : ['--no-encryption']), '--volsize', '1', '--archive-dir', cache, '--name', 'n'];
  return { src, dst, cache, url: `file://${dst}`, opts };
}

function restoresTo(tool: Tool, opts: string[], url: string, time: number, want: string, tag: string) {
  const out = path.join(work, `${tag}-${tool}-${time}`);
  const r = run(tool, ['restore', ...opts, '--time', String(time), url, out], env);
  expect(r.status, r.stderr).toBe(0);
  expect(treeDigest(out)).toBe(want);
}

/** Runs duplicity-ts and SIGKILLs it once the backend holds `volumes` volumes of the `kind` set. */
async function killAfter(args: string[], dst: string, kind: 'full' | 'inc', volumes: number): Promise<void> {
  const { child, done } = spawnTs(args, env);
  const count = () => names(dst).filter((n) => n.startsWith(`duplicity-${kind}.`) && n.includes('.vol')).length;
  const deadline = Date.now() + 60_000;
  while (count() < volumes && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  child.kill('SIGKILL');
  const killed = await done;
  expect(killed.signal, `the run ended before the kill point: ${killed.stderr}`).toBe('SIGKILL');
}

/** Every volume of the backend is named by a complete manifest with its hash; nothing is left over. */
function checkSound(opts: string[], url: string, dst: string, cache: string) {
  const check = run('duplicity-ts', ['check', ...opts, url], env);
  expect(check.stderr).toBe('');
  expect(check.status).toBe(0);
  expect(names(path.join(cache, 'n')).filter((n) => n.endsWith('.part') || n.startsWith('.'))).toEqual([]);
  const clean = run('duplicity-ts', ['cleanup', ...opts, url], env);
  expect(clean.stdout).toContain('No extraneous files found');
  expect(names(dst).some((n) => n.startsWith('.'))).toBe(false);
}

/** Names and bytes of everything in the target and the cache but the lockfile. */
function snapshot(...dirs: string[]): string {
  return dirs
    .flatMap((d) => names(d).filter((n) => n !== 'lockfile').map((n) => `${n} ${createHash('sha1').update(readFileSync(path.join(d, n))).digest('hex')}`))
    .join('\n');
}

describe('resuming a backup duplicity-ts was killed in', () => {
  for (const encrypted of [false, true]) {
    const mode = encrypted ? 'symmetric' : '--no-encryption';

    it(`full, ${mode}: the next run continues the set; both programs restore it`, async () => {
      const { src, dst, cache, url, opts } = setup(`full-${encrypted}`, encrypted);
      await killAfter(['full', ...opts, '--current-time', String(T1), src, url], dst, 'full', 3);
      const kept = names(dst).filter((n) => n.includes('.vol'));
      if (encrypted) {
        const before = snapshot(dst, path.join(cache, 'n'));
        const wrong = run('duplicity-ts', ['full', ...opts, '--current-time', String(T1 + 10), src, url], { ...env, PASSPHRASE: 'not it' });
        expect(wrong.status).toBe(31);
        expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
        expect(wrong.stderr).toMatch(/failed to decrypt duplicity-full\.\S+\.vol1\.difftar\.gpg: wrong passphrase/);
        const plain = run('duplicity-ts', ['full', '--no-encryption', ...opts, '--current-time', String(T1 + 10), src, url], env);
        expect(plain.status).toBe(45);
        expect(plain.stderr).toContain('Restarting backup, but current encryption settings do not match original settings');
        expect(snapshot(dst, path.join(cache, 'n'))).toBe(before);
      }
      const resumed = run('duplicity-ts', ['full', ...opts, '--current-time', String(T1 + 10), src, url], env);
      expect(resumed.status, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain('Last full backup left a partial set, restarting.');
      expect(resumed.stdout).toMatch(/Restarting after volume [1-9]\d*, file \S+, block \d+/);
      // The set keeps its time, and the volumes uploaded before the kill were kept, not rewritten.
      expect(names(dst).filter((n) => n.includes('20231114T221330Z'))).toEqual([]);
      const n = Number(/Restarting after volume (\d+)/.exec(resumed.stdout)![1]);
      expect(n).toBeGreaterThanOrEqual(kept.length - 1);
      const tree = treeDigest(src);
      restoresTo('duplicity-ts', opts, url, T1, tree, `full-${encrypted}`);
      restoresTo('duplicity', opts, url, T1, tree, `full-${encrypted}`);
      checkSound(opts, url, dst, cache);
    });

    it(`incremental, ${mode}: the next run continues the set; both programs restore every time`, async () => {
      const { src, dst, cache, url, opts } = setup(`inc-${encrypted}`, encrypted);
      expect(run('duplicity-ts', ['full', ...opts, '--current-time', String(T1), src, url], env).status).toBe(0);
      const tree1 = treeDigest(src);
      // New files over several volumes, an edit inside a.bin (a delta), a deletion.
      writeFileSync(path.join(src, 'e.bin'), randomBytes(encrypted ? 12_000_000 : 4_000_000));
      const a = readFileSync(path.join(src, 'a.bin'));
      randomBytes(5000).copy(a, 1_000_000);
      writeFileSync(path.join(src, 'a.bin'), a);
      writeFileSync(path.join(src, 'd/f.txt'), 'new\n');
      rmSync(path.join(src, 'd/b.txt'));
      stamp(src, 1600000100, 'a.bin', 'e.bin', 'd/f.txt');
      await killAfter(['incremental', ...opts, '--current-time', String(T1 + 100), src, url], dst, 'inc', 2);
      const resumed = run('duplicity-ts', ['incremental', ...opts, '--current-time', String(T1 + 200), src, url], env);
      expect(resumed.status, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain('Last incremental backup left a partial set, restarting.');
      expect(resumed.stdout).toMatch(/Restarting after volume \d+/);
      const tree2 = treeDigest(src);
      for (const tool of ['duplicity-ts', 'duplicity'] as const) {
        restoresTo(tool, opts, url, T1, tree1, `inc-${encrypted}`);
        restoresTo(tool, opts, url, T1 + 100, tree2, `inc-${encrypted}`);
      }
      checkSound(opts, url, dst, cache);
      // The chain goes on from the resumed set, with either program.
      writeFileSync(path.join(src, 'd/f.txt'), 'newer\n');
      stamp(src, 1600000300, 'd/f.txt');
      expect(run('duplicity', ['incremental', ...opts, '--current-time', String(T1 + 300), src, url], env).status).toBe(0);
      restoresTo('duplicity-ts', opts, url, T1 + 300, treeDigest(src), `inc-${encrypted}`);
    });
  }
});

describe('interrupted backups across duplicity and duplicity-ts', () => {
  it('a full real duplicity left partial: duplicity-ts resumes it; both restore it', () => {
    const { src, dst, cache, url, opts } = setup('dup-full', false);
    const failed = run('duplicity', ['full', ...opts, '--current-time', String(T1), '--fail-on-volume', '3', src, url], env);
    expect(failed.status).toBe(30);
    const ours = run('duplicity-ts', ['full', ...opts, '--current-time', String(T1 + 10), src, url], env);
    expect(ours.status, ours.stderr).toBe(0);
    expect(ours.stdout).toContain('Last full backup left a partial set, restarting.');
    expect(ours.stdout).toMatch(/Restarting after volume [23], file a\.bin, block \d+/);
    const tree = treeDigest(src);
    restoresTo('duplicity', opts, url, T1, tree, 'dup-full');
    restoresTo('duplicity-ts', opts, url, T1, tree, 'dup-full');
    checkSound(opts, url, dst, cache);
  });

  /**
   * Real duplicity makes a full, then an incremental of `edit` that fails on volume `failOn`;
   * duplicity-ts resumes it, `checkLog` judges its log, and both tools restore both times.
   */
  function resumeDuplicityIncremental(tag: string, edit: (src: string) => void, failOn: number, checkLog: (stdout: string) => void) {
    const { src, dst, cache, url, opts } = setup(tag, false);
    expect(run('duplicity', ['full', ...opts, '--current-time', String(T1), src, url], env).status).toBe(0);
    const tree1 = treeDigest(src);
    edit(src);
    const failed = run('duplicity', ['incremental', ...opts, '--current-time', String(T1 + 100), '--fail-on-volume', String(failOn), src, url], env);
    expect(failed.status).toBe(30);
    const ours = run('duplicity-ts', ['incremental', ...opts, '--current-time', String(T1 + 200), src, url], env);
    expect(ours.status, ours.stderr).toBe(0);
    expect(ours.stdout).toContain('Last incremental backup left a partial set, restarting.');
    checkLog(ours.stdout);
    const tree2 = treeDigest(src);
    for (const tool of ['duplicity', 'duplicity-ts'] as const) {
      restoresTo(tool, opts, url, T1, tree1, tag);
      restoresTo(tool, opts, url, T1 + 100, tree2, tag);
    }
    checkSound(opts, url, dst, cache);
  }

  it('an incremental real duplicity left partial: duplicity-ts resumes it; both restore it', () => {
    const edit = (src: string) => {
      writeFileSync(path.join(src, 'd/b.txt'), 'changed\n');
      for (let i = 0; i < 40; i++) writeFileSync(path.join(src, `n${String(i).padStart(2, '0')}.bin`), randomBytes(60_000));
      stamp(src, 1600000100, 'd/b.txt');
    };
    resumeDuplicityIncremental('dup-inc', edit, 2, (stdout) => {
      expect(stdout).toMatch(/Restarting after volume [12], file n\d+\.bin, block 0/);
    });
  });

  it('an incremental real duplicity left partial inside a split delta: duplicity-ts rewrites the set from volume 1', () => {
    // A rewritten a.bin: its delta (all literals) spans volumes 1 to 4, and vol1 ends inside it.
    const edit = (src: string) => {
      writeFileSync(path.join(src, 'a.bin'), randomBytes(3_500_000));
      stamp(src, 1600000100, 'a.bin');
    };
    resumeDuplicityIncremental('dup-delta', edit, 3, (stdout) => {
      expect(stdout).toContain('Restarting backup at volume 1.');
      expect(stdout).not.toContain('Restarting after volume');
    });
  });

  it('a set a SIGKILLed duplicity-ts left partial: real duplicity resumes it; both restore it', async () => {
    const { src, dst, url, opts } = setup('ts-partial', false);
    await killAfter(['full', ...opts, '--current-time', String(T1), src, url], dst, 'full', 2);
    const resumed = run('duplicity', ['full', ...opts, '--current-time', String(T1 + 10), src, url], env);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('Last full backup left a partial set, restarting.');
    const tree = treeDigest(src);
    restoresTo('duplicity', opts, url, T1, tree, 'c');
    restoresTo('duplicity-ts', opts, url, T1, tree, 'c');
    const check = run('duplicity-ts', ['check', ...opts, url], env);
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });
});
