/**
 * Backup chains and signature chains (FORMAT.md §11.2): a full set followed by the incrementals
 * that extend it, each starting where the previous one ended.
 */
import type { BackupSet } from './backup-set.js';
import type { NamedFile } from './backup-set.js';

export class BackupChain {
  readonly fullSet: BackupSet;
  readonly incSets: BackupSet[] = [];
  /** The end time collection-status shows when the last set was discarded (§11.2); else endTime. */
  reportedEndTime?: number;
  constructor(full: BackupSet) {
    this.fullSet = full;
  }
  get startTime(): number {
    return this.fullSet.endTime;
  }
  get endTime(): number {
    return this.incSets.length ? this.incSets[this.incSets.length - 1].endTime : this.fullSet.endTime;
  }
  get sets(): BackupSet[] {
    return [this.fullSet, ...this.incSets];
  }
  /** The full set plus every incremental ending at or before `time` (§11.4 step 2). */
  setsAt(time: number): BackupSet[] {
    return [this.fullSet, ...this.incSets.filter((s) => s.endTime <= time)];
  }
}

/**
 * Sorts complete sets by (end) time and links them into chains. Returns the chains ordered by end
 * time and the incrementals that extend no chain.
 */
export function buildBackupChains(sets: BackupSet[]): { chains: BackupChain[]; orphaned: BackupSet[] } {
  const sorted = [...sets].sort((a, b) => a.endTime - b.endTime || (a.type === 'full' ? -1 : 1));
  const chains: BackupChain[] = [];
  const orphaned: BackupSet[] = [];
  for (const set of sorted) {
    if (set.type === 'full') {
      chains.push(new BackupChain(set));
      continue;
    }
    const chain = chains.find((c) => c.endTime === set.startTime);
    if (chain) {
      chain.incSets.push(set);
      continue;
    }
    // An inc with the same start and a later end than a chain's last inc replaces it.
    const replace = chains.find((c) => {
      const last = c.incSets[c.incSets.length - 1];
      return last !== undefined && last.startTime === set.startTime && last.endTime < set.endTime;
    });
    if (replace) {
      orphaned.push(replace.incSets.pop()!);
      replace.incSets.push(set);
    } else orphaned.push(set);
  }
  chains.sort((a, b) => a.endTime - b.endTime);
  return { chains, orphaned };
}

/** A full-signatures file plus the new-signatures files that extend it. */
export class SignatureChain {
  readonly local: boolean;
  readonly fullSig: NamedFile;
  readonly incSigs: NamedFile[] = [];
  constructor(fullSig: NamedFile, local: boolean) {
    this.fullSig = fullSig;
    this.local = local;
  }
  get startTime(): number {
    return this.fullSig.parsed.time!;
  }
  get endTime(): number {
    return this.incSigs.length ? this.incSigs[this.incSigs.length - 1].parsed.endTime! : this.startTime;
  }
  /** The files that make up the state at `time`: the full signatures plus new signatures ending by then. */
  filesAt(time: number): NamedFile[] {
    return [this.fullSig, ...this.incSigs.filter((f) => f.parsed.endTime! <= time)];
  }
}

export function buildSignatureChains(files: NamedFile[], local: boolean): { chains: SignatureChain[]; orphaned: NamedFile[] } {
  const time = (f: NamedFile) => (f.parsed.type === 'full-sig' ? f.parsed.time! : f.parsed.endTime!);
  const sorted = files
    .filter((f) => f.parsed.kind === 'signature')
    .sort((a, b) => time(a) - time(b) || (a.parsed.type === 'full-sig' ? -1 : 1));
  const chains: SignatureChain[] = [];
  const orphaned: NamedFile[] = [];
  for (const f of sorted) {
    if (f.parsed.type === 'full-sig') {
      chains.push(new SignatureChain(f, local));
      continue;
    }
    const chain = chains.find((c) => c.endTime === f.parsed.startTime);
    if (chain) chain.incSigs.push(f);
    else orphaned.push(f);
  }
  chains.sort((a, b) => a.endTime - b.endTime);
  return { chains, orphaned };
}

/**
 * duplicity's chain choice for a time (§11.4, fixtures README): the chain that covers it, else the
 * newest that ended before it, else the oldest.
 */
export function chainAt<C extends { startTime: number; endTime: number }>(chains: C[], time: number): C | undefined {
  const covering = chains.filter((c) => c.startTime <= time && time <= c.endTime);
  if (covering.length > 1) {
    throw Object.assign(new Error(`two backup chains cover the time ${time}; remove one of them`), { exitCode: 30 });
  }
  if (covering.length === 1) return covering[0];
  const before = chains.filter((c) => c.endTime < time);
  if (before.length) return before.reduce((a, b) => (b.endTime > a.endTime ? b : a));
  return chains.reduce<C | undefined>((a, b) => (a === undefined || b.startTime < a.startTime ? b : a), undefined);
}
