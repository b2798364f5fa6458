/**
 * Property-based fuzzing of chain reconstruction against the real duplicity 0.8.22.
 *
 * fast-check generates a starting tree and a sequence of edit steps (create, modify in the middle,
 * append, truncate, delete, chmod incl. setuid/setgid/sticky, rename, file<->dir<->symlink<->fifo,
 * deep, non-ASCII and >100-byte names, big files that span volumes with --volsize 1). After each
 * step real duplicity makes a full or incremental backup (--no-encryption, --current-time fixed,
 * private HOME and --archive-dir). At the end duplicity-ts restores every backup time and each
 * restored tree must list exactly like the source did at that time (content, type, mode, mtime,
 * symlink targets: the fixtures' list-tree.py format).
 *
 * Runs FUZZ_RESTORE_RUNS times (default 4: about a minute on an idle 2-core machine); `npm run fuzz:restore` runs more.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openBackend } from '@duplicity-ts/backends';
import { restore, scanCollection } from '@duplicity-ts/engine';
import { applyOps, scenario, tree } from './fuzz-tree.js';

const RUNS = Number(process.env.FUZZ_RESTORE_RUNS ?? 4);
const SEED = process.env.FUZZ_RESTORE_SEED !== undefined ? Number(process.env.FUZZ_RESTORE_SEED) : undefined;

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'fuzz-restore-'));
});
afterAll(() => {
  execFileSync('chmod', ['-R', 'u+rwx', work]);
  rmSync(work, { recursive: true, force: true });
});

let runNo = 0;
it(`restores every time of random chains made by real duplicity (${RUNS} runs)`, async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async ({ initial, steps }) => {
      const dir = path.join(work, `run-${runNo++}`);
      const src = path.join(dir, 'src');
      const archive = path.join(dir, 'archive');
      mkdirSync(src, { recursive: true });
      const env = { PATH: process.env.PATH!, HOME: dir, TZ: 'UTC', LC_ALL: 'C.UTF-8', TMPDIR: dir };
      const backups: { time: number; listing: string }[] = [];
      const all = [{ full: true, ops: initial }, ...steps];
      for (let i = 0; i < all.length; i++) {
        const t = 1_500_000_000 + i * 100_000;
        applyOps(src, all[i].ops, t);
        const time = t + 500;
        execFileSync(
          'duplicity',
          [all[i].full ? 'full' : 'inc', '--no-encryption', '--volsize', '1', '--current-time', String(time), '--archive-dir', path.join(dir, 'cache'), '--name', 'fuzz', src, `file://${archive}`],
          { env, stdio: ['ignore', 'ignore', 'pipe'] },
        );
        backups.push({ time, listing: tree(src) });
      }
      const backend = await openBackend(`file://${archive}`);
      const col = scanCollection(await backend.list(), []);
      const ctx = { backend, archiveDir: path.join(dir, 'ts-cache'), tempDir: mkdtempSync(path.join(dir, 'tmp-')) };
      try {
        for (const [k, b] of backups.entries()) {
          const out = path.join(dir, `out-${k}`);
          await restore(ctx, col, { time: b.time, target: out, restoreOwnership: false });
          expect(tree(out), `backup ${k} of ${backups.length}`).toBe(b.listing);
        }
      } finally {
        await backend.close();
        execFileSync('chmod', ['-R', 'u+rwx', dir]);
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
}, 30 * 60_000);
