/**
 * remove-older-than, remove-all-but-n-full and remove-all-inc-of-but-n-full (FORMAT.md §11.11),
 * with duplicity 0.8.22's messages. A chain is removed only as a whole (or, for the inc-only form,
 * all of its incrementals), so no kept set ever loses a set it depends on; the active (newest)
 * chain is never removed.
 *
 * One deliberate difference from duplicity 0.8.22: duplicity also deletes the *remote* signature
 * chain of the active backup chain when that chain ends before T; the next run's cache sync then
 * drops the cache copy too and the next incremental silently becomes a full backup. duplicity-ts
 * keeps the active chain's signatures on both sides.
 */
import type { BackupChain, SignatureChain } from '../collection/chains.js';
import type { Collection } from '../collection/collection.js';
import { asctime } from '../listing/time-format.js';
import { deleteSet, deleteSigChain, type DeletionTarget } from './deletion.js';

export type RemoveMode = 'older-than' | 'inc-only';

export interface RemovalPlan {
  mode: RemoveMode;
  time: number;
  /** Chains to remove (inc-only: whose incrementals to remove), oldest first. */
  chains: BackupChain[];
  /** Signature chains to remove (inc-only: their new-signatures), local and remote. */
  sigChains: SignatureChain[];
  /** Sets older than T kept because a newer set of their chain depends on them. */
  keptOlderSets: number[];
  /** The active chain ended before T but stays. */
  activeChainKept: boolean;
}

/** The time remove-all-but-n-full and remove-all-inc-of-but-n-full act on: the N-th newest full set's. */
export function nthNewestFullTime(col: Collection, n: number): number {
  if (!Number.isInteger(n) || n < 1) {
    throw Object.assign(new Error(`remove-all-but-n-full count must be > 0, got ${n}`), { exitCode: 2 });
  }
  const fulls = col.chains.map((c) => c.fullSet.endTime).sort((a, b) => b - a);
  // Fewer full sets than N: nothing is old enough.
  return fulls.length >= n ? fulls[n - 1] : -Infinity;
}

export function planRemoval(col: Collection, time: number, mode: RemoveMode): RemovalPlan {
  const active = col.chains[col.chains.length - 1];
  let chains = col.chains.filter((c) => c !== active && c.endTime < time);
  if (mode === 'inc-only') chains = chains.filter((c) => c.incSets.length > 0);
  const removedEnds = new Set(chains.map((c) => c.endTime));
  const keptOlderSets = col.chains
    .filter((c) => c !== active && c.endTime >= time)
    .flatMap((c) => c.sets.filter((s) => s.endTime < time).map((s) => s.endTime));
  let sigChains = [...col.localSigChains, ...col.remoteSigChains].filter(
    (s) => s.endTime < time && (active === undefined || s.endTime !== active.endTime),
  );
  if (mode === 'inc-only') sigChains = sigChains.filter((s) => s.incSigs.length > 0 && removedEnds.has(s.endTime));
  // Newest first; at one time the cache's before the backend's (duplicity's order).
  sigChains.sort((a, b) => b.endTime - a.endTime || (a.local === b.local ? 0 : a.local ? -1 : 1));
  return {
    mode,
    time,
    chains,
    sigChains,
    keptOlderSets,
    activeChainKept: active !== undefined && active.endTime < time,
  };
}

/** Prints the plan as duplicity does and, with `force`, deletes. */
export async function executeRemoval(t: DeletionTarget, plan: RemovalPlan, localNames: Set<string>, force: boolean): Promise<void> {
  const { log } = t;
  if (plan.keptOlderSets.length) {
    log.notice(
      ['There are backup set(s) at time(s):', ...plan.keptOlderSets.map(asctime), "Which can't be deleted because newer sets depend on them."].join('\n'),
    );
  }
  if (plan.activeChainKept) {
    log.warn(
      'Current active backup chain is older than specified time.  However, it will not be deleted.  To remove all your backups, manually purge the repository.',
    );
  }
  if (plan.chains.length === 0) {
    log.notice('No old backup sets found, nothing deleted.');
    return;
  }
  const one = plan.chains.length === 1;
  const times = plan.chains.map((c) => asctime(c.endTime));
  if (!force) {
    log.notice(
      [one ? 'Found old backup chain at the following time:' : 'Found old backup chains at the following times:', ...times, 'Rerun command with --force option to actually delete.'].join('\n'),
    );
    return;
  }
  log.notice([one ? 'Deleting backup chain at time:' : 'Deleting backup chains at times:', ...times].join('\n'));
  const incOnly = plan.mode === 'inc-only';
  for (const s of plan.sigChains) {
    log.notice(incOnly ? `Deleting any incremental signature chain rooted at ${asctime(s.endTime)}` : `Deleting complete signature chain ${asctime(s.endTime)}`);
    await deleteSigChain(t, s, incOnly);
  }
  for (const c of [...plan.chains].reverse()) {
    log.notice(incOnly ? `Deleting any incremental backup chain rooted at ${asctime(c.endTime)}` : `Deleting complete backup chain ${asctime(c.endTime)}`);
    const sets = incOnly ? c.incSets : c.sets;
    for (const set of [...sets].reverse()) await deleteSet(t, set, localNames);
  }
}
