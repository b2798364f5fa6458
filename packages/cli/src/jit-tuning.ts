/**
 * V8 tuning for the commands that read volumes (restore, verify). Their tar readers and chain merges
 * are async generators that V8 optimizes while their first volume streams, before the paths that end
 * a volume or a file have run; each such path then deoptimizes them, and they are compiled again,
 * 5-7 times per function in a 1 GiB restore (1.1 s of compiler time on the helper threads, which on
 * 2 cores takes from the restore itself). Waiting 16x longer before optimizing lets them see those
 * paths first: 130 → 52 compilations and 31 → 8 deoptimizations per 1 GiB restore, and 0.1-0.5 s
 * less user CPU (docs/PERFORMANCE.md). Backups showed no difference either way (full and 1 %
 * incremental, interleaved pairs), so they keep V8's default.
 */
import { setFlagsFromString } from 'node:v8';

/** 16x V8's default budget (--interrupt-budget=67584, counted down as a function runs bytecode). */
const READ_SIDE_INTERRUPT_BUDGET = 16 * 67584;

/** Process-wide, and only before the hot code runs: called at the start of restore and verify. */
export function tuneJitForVolumeReading(): void {
  setFlagsFromString(`--interrupt-budget=${READ_SIDE_INTERRUPT_BUDGET}`);
}
