/**
 * Interrupted backups across the two programs (FORMAT.md §11.9). duplicity-ts does not resume a
 * partial set: it deletes it and starts the set over. These tests check that this interoperates:
 * a set real duplicity left partial (--fail-on-volume) is started over by duplicity-ts, and the
 * result restores with both programs and takes real duplicity's next incremental; a set a
 * SIGKILLed duplicity-ts left partial is resumed by real duplicity, and the result restores with
 * both. Needs `npm run build`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, names, run, spawnTs, treeDigest, type Tool } from './fault-harness.js';

let work: string;
let env: Record<string, string>;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'resume-'));
  env = baseEnv(work);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function setup(tag: string) {
  const src = path.join(work, `${tag}-src`);
  mkdirSync(path.join(src, 'd'), { recursive: true });
  writeFileSync(path.join(src, 'a.bin'), randomBytes(3_500_000));
  writeFileSync(path.join(src, 'd/b.txt'), 'hello\n');
  writeFileSync(path.join(src, 'd/c.bin'), randomBytes(1_500_000));
  const dst = path.join(work, `${tag}-dst`);
  const opts = ['--no-encryption', '--volsize', '1', '--archive-dir', path.join(work, `${tag}-cache`), '--name', 'n'];
  return { src, dst, url: `file://${dst}`, opts };
}

function restoresTo(tool: Tool, opts: string[], url: string, time: number, want: string, tag: string) {
  const out = path.join(work, `${tag}-${tool}-${time}`);
  const r = run(tool, ['restore', ...opts, '--time', String(time), url, out], env);
  expect(r.status, r.stderr).toBe(0);
  expect(treeDigest(out)).toBe(want);
}

describe('interrupted backups across duplicity and duplicity-ts', () => {
  it('a set real duplicity left partial: duplicity-ts starts it over; both restore it; duplicity continues the chain', () => {
    const { src, dst, url, opts } = setup('dup-partial');
    const T1 = 1700000000;
    const failed = run('duplicity', ['full', ...opts, '--current-time', String(T1), '--fail-on-volume', '2', src, url], env);
    expect(failed.status).toBe(30);
    const ours = run('duplicity-ts', ['full', ...opts, '--current-time', String(T1 + 10), src, url], env);
    expect(ours.status, ours.stderr).toBe(0);
    expect(ours.stdout).toContain('Last backup left a partial set; deleting it and starting over');
    // Nothing of the partial set is left anywhere.
    expect(names(dst).filter((n) => n.includes('20231114T221320Z'))).toEqual([]);
    const tree1 = treeDigest(src);
    restoresTo('duplicity', opts, url, T1 + 10, tree1, 'a');
    restoresTo('duplicity-ts', opts, url, T1 + 10, tree1, 'a');
    writeFileSync(path.join(src, 'd/b.txt'), 'changed\n');
    const inc = run('duplicity', ['incremental', ...opts, '--current-time', String(T1 + 20), src, url], env);
    expect(inc.status, inc.stderr).toBe(0);
    const tree2 = treeDigest(src);
    restoresTo('duplicity-ts', opts, url, T1 + 20, tree2, 'b');
    restoresTo('duplicity', opts, url, T1 + 10, tree1, 'b');
  });

  it('a set a SIGKILLed duplicity-ts left partial: real duplicity resumes it; both restore it', async () => {
    const { src, dst, url, opts } = setup('ts-partial');
    const T1 = 1700000000;
    const { child, done } = spawnTs(['full', ...opts, '--current-time', String(T1), src, url], env);
    const deadline = Date.now() + 30_000;
    while (names(dst).filter((n) => n.includes('.vol')).length < 2 && child.exitCode === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2));
    }
    child.kill('SIGKILL');
    expect((await done).signal).toBe('SIGKILL');
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
