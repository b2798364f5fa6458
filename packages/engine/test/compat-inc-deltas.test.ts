/**
 * Incrementals whose big changed files (>= 4 MiB) get their deltas from DeltaWorkers threads, read
 * ahead of the writer: local overwrites, an append, a whole rewrite, a file that shrank, with small
 * changes in between. The set's bytes equal those written with every delta on the main thread
 * (DUPLICITY_TS_DELTA_WORKERS=never), and the real duplicity restores the chain as the source was.
 * The files are smaller than what starts the worker by itself, so DUPLICITY_TS_DELTA_WORKERS=always.
 * Needs the CLI build (`npm run build`).
 */
import { describe, expect, it } from 'vitest';
import { appendFileSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, truncateSync, utimesSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { compatWorkDir, listTree, runOk as run, seededBytes as seeded } from './fault-harness.js';

const workDir = compatWorkDir('dts-inc-deltas-');

const sha1 = (file: string) => createHash('sha1').update(readFileSync(file)).digest('hex');
/** Every file of a target or archive dir except the full set's, with its SHA1. */
function digests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, name);
    if (!name.includes('full') && !name.includes('lockfile') && existsSync(file) && !readdirSafe(file)) out[name] = sha1(file);
  }
  return out;
}
const readdirSafe = (p: string) => {
  try {
    readdirSync(p);
    return true;
  } catch {
    return false;
  }
};

describe('incremental deltas on worker threads', () => {
  it('writes the same set as main-thread deltas, and duplicity restores it', () => {
    const work = workDir();
    const src = path.join(work, 'src');
    const p = (rel: string) => path.join(src, rel);
    mkdirSync(p('a-small'), { recursive: true });
    const MiB = 1 << 20;
    writeFileSync(p('big-append.log'), seeded(1, 5 * MiB));
    writeFileSync(p('big-overwrite.bin'), seeded(2, 6 * MiB + 123));
    writeFileSync(p('big-rewrite.bin'), seeded(3, 5 * MiB));
    writeFileSync(p('big-shrink.bin'), seeded(4, 5 * MiB));
    for (let i = 0; i < 30; i++) writeFileSync(p(`a-small/f${i}.txt`), `small ${i}\n`.repeat(i * 10));
    writeFileSync(p('z-small.txt'), 'last\n');
    const t0 = 1700000000;
    // Every file's mtime is set, the small ones' too: one appended to within the second it was made in would keep
    // its mtime, and duplicity's change detection (integer mtimes) would rightly not see the change.
    const touchAll = (t: number) => {
      const small = Array.from({ length: 30 }, (_, i) => `a-small/f${i}.txt`);
      for (const rel of ['big-append.log', 'big-overwrite.bin', 'big-rewrite.bin', 'big-shrink.bin', 'z-small.txt', ...small, 'a-small']) utimesSync(p(rel), t, t);
      utimesSync(src, t, t);
    };
    touchAll(t0 - 10);
    const env = { ...process.env, HOME: work, TZ: 'UTC' } as NodeJS.ProcessEnv;
    const full = path.join(work, 'full');
    run('ours', ['full', '--no-encryption', '--name', 'set', '--archive-dir', path.join(full, 'cache'), '--current-time', String(t0), src, `file://${path.join(full, 'target')}`], env, work);

    appendFileSync(p('big-append.log'), seeded(5, MiB + 77));
    const fd = openSync(p('big-overwrite.bin'), 'r+');
    for (const at of [100, 3 * MiB + 5, 6 * MiB]) writeSync(fd, seeded(at, 3000), 0, 3000, at);
    closeSync(fd);
    writeFileSync(p('big-rewrite.bin'), seeded(6, 5 * MiB));
    truncateSync(p('big-shrink.bin'), 4 * MiB + 1000);
    for (let i = 0; i < 30; i += 3) appendFileSync(p(`a-small/f${i}.txt`), 'changed\n');
    const t1 = t0 + 1000;
    touchAll(t1 - 10);
    const expected = listTree(src);

    const sets: Record<string, Record<string, string>> = {};
    for (const [label, extra] of [
      ['workers', { DUPLICITY_TS_DELTA_WORKERS: 'always' }],
      ['main thread', { DUPLICITY_TS_DELTA_WORKERS: 'never' }],
    ] as const) {
      const dir = path.join(work, label);
      cpSync(full, dir, { recursive: true });
      const out = run('ours', ['incremental', '--no-encryption', '--name', 'set', '-v', 'info', '--archive-dir', path.join(dir, 'cache'), '--current-time', String(t1), src, `file://${path.join(dir, 'target')}`], { ...env, ...extra }, work);
      for (const f of ['big-append.log', 'big-overwrite.bin', 'big-rewrite.bin', 'big-shrink.bin']) expect(out).toContain(`M ${f}`);
      sets[label] = { ...digests(path.join(dir, 'target')), ...digests(path.join(dir, 'cache')) };
    }
    expect(Object.keys(sets.workers).length).toBeGreaterThanOrEqual(5);
    expect(sets.workers).toEqual(sets['main thread']);

    const restored = path.join(work, 'restored');
    run('duplicity', ['restore', '--no-encryption', '--archive-dir', path.join(work, 'rcache'), `file://${path.join(work, 'workers', 'target')}`, restored], env, work);
    expect(listTree(restored).replaceAll(restored, '')).toEqual(expected.replaceAll(src, ''));
  });
});
