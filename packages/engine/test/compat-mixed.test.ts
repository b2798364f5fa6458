/**
 * Mixed chains: duplicity-ts incrementals on a real duplicity full and real duplicity
 * incrementals on a duplicity-ts full, unencrypted and symmetric, each tool with its own archive
 * dir (so signatures are fetched, and decrypted, from the backend). Every backup time is restored
 * with real duplicity and with duplicity-ts and compared with the source tree as it was.
 * Needs the CLI build (`npm run build`). By default a bounded matrix runs (each real duplicity run
 * costs seconds); DUPLICITY_TS_COMPAT_FULL=1 runs every writer order in both modes and restores
 * every time with both tools.
 */
import { describe, expect, it } from 'vitest';
import { appendFileSync, chmodSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { compatWorkDir, listTree, runOk as run, seededBytes as seeded, type CompatTool as Tool } from './fault-harness.js';

const workDir = compatWorkDir('dts-mixed-');

/** The changes made before backup n (0 = initial tree); mtimes move with the fixed backup times. */
function mutate(src: string, n: number, t: number): void {
  const p = (rel: string) => path.join(src, rel);
  const touch = (rel: string) => utimesSync(p(rel), t - 10, t - 10);
  if (n === 0) {
    mkdirSync(p('docs/deep'), { recursive: true });
    writeFileSync(p('docs/readme.txt'), 'read me\n'.repeat(300));
    writeFileSync(p('docs/deep/notes.md'), '# notes\n');
    writeFileSync(p('big.bin'), seeded(11, 400_000));
    writeFileSync(p('exact64k'), seeded(12, 65536));
    writeFileSync(p('gone.txt'), 'to be deleted\n');
    writeFileSync(p('mode.txt'), 'chmod me\n');
    symlinkSync('docs/readme.txt', p('link'));
    for (const rel of ['docs/readme.txt', 'docs/deep/notes.md', 'big.bin', 'exact64k', 'gone.txt', 'mode.txt', 'docs/deep', 'docs']) touch(rel);
  } else {
    // In-place change of a few KiB inside the big file: a delta.
    const fd = openSync(p('big.bin'), 'r+');
    writeSync(fd, seeded(100 + n, 4096), 0, 4096, 50_000 * n);
    closeSync(fd);
    touch('big.bin');
    appendFileSync(p('docs/readme.txt'), `line ${n}\n`);
    touch('docs/readme.txt');
    writeFileSync(p(`new-${n}.txt`), `new in backup ${n}\n`);
    touch(`new-${n}.txt`);
    if (n === 1) rmSync(p('gone.txt'));
    if (n === 2) {
      chmodSync(p('mode.txt'), 0o600);
      rmSync(p('link'));
      symlinkSync('big.bin', p('link'));
    }
    if (n === 3) {
      rmSync(p('docs/deep'), { recursive: true });
      writeFileSync(p('docs/deep'), 'dir became a file\n');
      touch('docs/deep');
    }
    touch('docs');
  }
  utimesSync(src, t - 5, t - 5);
}

const FULL = process.env.DUPLICITY_TS_COMPAT_FULL === '1';
const D2O2: Tool[] = ['duplicity', 'ours', 'duplicity', 'ours'];
const O1D1: Tool[] = ['ours', 'duplicity', 'ours'];
interface Case {
  label: string;
  crypt: string[];
  extraEnv: NodeJS.ProcessEnv;
  writers: Tool[];
  everyTime: boolean;
}
const plain = { label: 'unencrypted', crypt: ['--no-encryption'], extraEnv: {} };
const symmetric = { label: 'symmetric', crypt: [], extraEnv: { PASSPHRASE: 'mixed chain secret' } };
const MATRIX: Case[] = [
  { ...plain, writers: D2O2, everyTime: true },
  { ...symmetric, writers: O1D1, everyTime: FULL },
  ...(FULL ? [{ ...plain, writers: O1D1, everyTime: true }, { ...symmetric, writers: D2O2, everyTime: true }] : []),
];

describe('mixed chains', () => {
  it.each(MATRIX)('$label, writers $writers, every time restored: $everyTime', ({ label, crypt, extraEnv, writers, everyTime }) => {
    const dir = path.join(workDir(), `${label}-${writers.join('-')}`);
    const src = path.join(dir, 'src');
    mkdirSync(src, { recursive: true });
    const env = { ...process.env, HOME: dir, TZ: 'UTC', ...extraEnv } as NodeJS.ProcessEnv;
    const expected: string[] = [];
    const times: number[] = [];
    writers.forEach((tool, n) => {
      const t = 1700000000 + 1000 * n;
      mutate(src, n, t);
      expected.push(listTree(src));
      times.push(t);
      // Each tool keeps its own archive dir: the other tool's sets reach it only through the backend.
      const cache = path.join(dir, `cache-${tool}`);
      run(tool, [n === 0 ? 'full' : 'incremental', ...crypt, '--archive-dir', cache, '--current-time', String(t), 'src', 'file://target'], env, dir);
    });
    for (const reader of ['duplicity', 'ours'] as Tool[]) {
      times.forEach((t, n) => {
        if (!everyTime && n !== times.length - 1 && n !== 1) return;
        const out = path.join(dir, `restore-${reader}-${n}`);
        run(reader, ['restore', ...crypt, '--archive-dir', path.join(dir, `rcache-${reader}`), '--time', String(t), 'file://target', out], env, dir);
        expect({ reader, n, tree: listTree(out).replaceAll(out, '') }).toEqual({ reader, n, tree: expected[n].replaceAll(src, '') });
        rmSync(out, { recursive: true, force: true });
      });
    }
  });
});
