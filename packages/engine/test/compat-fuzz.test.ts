/**
 * Property-based fuzzing the other way round from fuzz-restore: duplicity-ts makes a full backup
 * and incrementals of a random tree under random edits (--no-encryption, --volsize 1 so big files
 * span volumes, fixed times), then the REAL duplicity 0.8.22 restores every backup time, and
 * duplicity-ts restores it too; each restored tree must list exactly like the source did.
 *
 * DUPLICITY_TS_FUZZ_RUNS runs (default 2, about a minute on a busy 2-core machine; raise it for
 * longer fuzzing), DUPLICITY_TS_FUZZ_SEED replays a failure.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openBackend } from '@duplicity-ts/backends';
import { restore, scanCollection } from '@duplicity-ts/engine';
import { runBackup } from '../src/backup/run-backup.js';
import { applyOps, scenario, tree } from './fuzz-tree.js';

const RUNS = Number(process.env.DUPLICITY_TS_FUZZ_RUNS ?? 2);
const SEED = process.env.DUPLICITY_TS_FUZZ_SEED !== undefined ? Number(process.env.DUPLICITY_TS_FUZZ_SEED) : undefined;
const quiet = { info() {}, warn() {}, notice() {} };

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'dts-fuzz-backup-'));
});
afterAll(() => {
  execFileSync('chmod', ['-R', 'u+rwx', work]);
  rmSync(work, { recursive: true, force: true });
});

let runNo = 0;
it(`real duplicity restores every time of random chains made by duplicity-ts (${RUNS} runs)`, async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async ({ initial, steps }) => {
      const dir = path.join(work, `run-${runNo++}`);
      const src = path.join(dir, 'src');
      const archive = path.join(dir, 'archive');
      mkdirSync(src, { recursive: true });
      mkdirSync(archive);
      const tempDir = mkdtempSync(path.join(dir, 'tmp-'));
      const backend = await openBackend(`file://${archive}`);
      const backups: { time: number; listing: string }[] = [];
      const all = [{ full: true, ops: initial }, ...steps];
      try {
        for (let i = 0; i < all.length; i++) {
          const t = 1_500_000_000 + i * 100_000;
          applyOps(src, all[i].ops, t);
          const time = t + 500;
          await runBackup({
            mode: all[i].full ? 'full' : 'incremental',
            source: src,
            backend,
            archiveDir: path.join(dir, 'cache'),
            tempDir,
            now: time,
            fixedTime: true,
            log: quiet,
            compress: true,
            volsizeMiB: 1,
          });
          backups.push({ time, listing: tree(src) });
        }
        const env = { PATH: process.env.PATH!, HOME: dir, TZ: 'UTC', LC_ALL: 'C.UTF-8', TMPDIR: dir };
        for (const [k, b] of backups.entries()) {
          const out = path.join(dir, `dup-${k}`);
          execFileSync(
            'duplicity',
            ['restore', '--no-encryption', '--time', String(b.time), '--archive-dir', path.join(dir, 'dupcache'), `file://${archive}`, out],
            { env, stdio: ['ignore', 'ignore', 'pipe'] },
          );
          expect(tree(out), `real duplicity, backup ${k} of ${backups.length}`).toBe(b.listing);
        }
        const col = scanCollection(await backend.list(), []);
        const ctx = { backend, archiveDir: path.join(dir, 'ts-cache'), tempDir };
        for (const [k, b] of backups.entries()) {
          const out = path.join(dir, `ts-${k}`);
          await restore(ctx, col, { time: b.time, target: out, restoreOwnership: false });
          expect(tree(out), `duplicity-ts, backup ${k} of ${backups.length}`).toBe(b.listing);
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
