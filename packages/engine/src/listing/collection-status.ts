/**
 * collection-status (FORMAT.md §13.3): the warnings and report duplicity prints for a collection,
 * line for line, and the "Last full backup date" line every action prints first.
 */
import type { BackupSet } from '../collection/backup-set.js';
import type { BackupChain, SignatureChain } from '../collection/chains.js';
import type { Collection } from '../collection/collection.js';
import { asctime } from './time-format.js';

const RULE = '-------------------------';

/** "Last full backup date: <asctime>" of the newest full set, or "none". */
export function lastFullBackupLine(c: Collection): string {
  const fulls = c.chains.map((ch) => ch.fullSet.endTime);
  return `Last full backup date: ${fulls.length ? asctime(Math.max(...fulls)) : 'none'}`;
}

/** The newest backup chain with a signature chain ending at the same time (§11.2), local first. */
export function matchedChain(c: Collection): { chain: BackupChain; sigChain: SignatureChain } | undefined {
  const chain = c.chains[c.chains.length - 1];
  if (!chain) return undefined;
  const pick = (list: SignatureChain[]) => [...list].reverse().find((s) => s.endTime === chain.endTime);
  const sigChain = pick(c.localSigChains) ?? pick(c.remoteSigChains);
  return sigChain ? { chain, sigChain } : undefined;
}

function setFiles(s: BackupSet): string {
  const names = s.remoteManifest ? [s.remoteManifest.name] : [];
  names.push(...[...s.volumes.keys()].sort((a, b) => a - b).map((n) => s.volumes.get(n)!.name));
  return `[${names.join(', ')}]`;
}

/** The warnings duplicity logs while it scans the collection (before the report). */
export function collectionWarnings(c: Collection): string[] {
  const out: string[] = [];
  if (c.discardedSet) out.push('Warning, discarding last backup set, because of missing signature file.');
  const sigEnds = [...c.localSigChains, ...c.remoteSigChains].map((s) => s.endTime);
  const lastSig = sigEnds.length ? Math.max(...sigEnds) : undefined;
  const lastChain = c.chains[c.chains.length - 1];
  if (lastSig !== undefined && (!lastChain || lastSig > lastChain.endTime)) {
    out.push('Warning, found signatures but no corresponding backup files');
  }
  if (c.incompleteSets.length) out.push('Warning, found incomplete backup sets, probably left from aborted session');
  if (c.orphanedSets.length) {
    const head = c.orphanedSets.length === 1 ? 'Warning, found the following orphaned backup file:' : 'Warning, found the following orphaned backup files:';
    out.push([head, ...c.orphanedSets.map(setFiles)].join('\n'));
  }
  return out;
}

function chainLines(ch: BackupChain): string[] {
  const row = (a: string, b: string, c: string) => `${a.padStart(20)}   ${b.padStart(30)}   ${c.padStart(15)}`;
  const sets = ch.sets;
  return [
    RULE,
    `Chain start time: ${asctime(ch.startTime)}`,
    `Chain end time: ${asctime(ch.reportedEndTime ?? ch.endTime)}`,
    `Number of contained backup sets: ${sets.length}`,
    `Total number of contained volumes: ${sets.reduce((n, s) => n + s.volumes.size, 0)}`,
    row('Type of backup set:', 'Time:', 'Num volumes:'),
    ...sets.map((s) => row(s.type === 'full' ? 'Full' : 'Incremental', asctime(s.endTime), String(s.volumes.size))),
    RULE,
  ];
}

const plural = (n: number, one: string, many: string) => (n === 1 ? one : many);

/** The report after "Last full backup date", as lines. */
export function collectionStatusReport(c: Collection, archiveDir: string): string[] {
  const matched = matchedChain(c);
  const secondary = c.chains.filter((ch) => ch !== matched?.chain);
  const lines = ['Collection Status', '-----------------', 'Connecting with backend: BackendWrapper', `Archive dir: ${archiveDir}`, ''];
  lines.push(`Found ${secondary.length} secondary backup ${plural(secondary.length, 'chain', 'chains')}.`);
  secondary.forEach((ch, i) => {
    lines.push(`Secondary chain ${i + 1} of ${secondary.length}:`, ...chainLines(ch), '');
  });
  if (matched) lines.push('', 'Found primary backup chain with matching signature chain:', ...chainLines(matched.chain));
  else lines.push('No backup chains with active signatures found');
  const orphans = c.orphanedSets.length;
  const incomplete = c.incompleteSets.length;
  if (orphans || incomplete) {
    lines.push(
      `Also found ${orphans} backup ${plural(orphans, 'set', 'sets')} not part of any chain,`,
      `and ${incomplete} incomplete backup ${plural(incomplete, 'set', 'sets')}.`,
      'These may be deleted by running duplicity with the "cleanup" command.',
    );
  } else lines.push('No orphaned or incomplete backup sets found.');
  return lines;
}

/**
 * `collection-status --file-changed PATH`: the block duplicity 0.8.22 prints instead of the report
 * when there is a primary chain with matching signatures (nothing when there is none). 0.8.22
 * lists no backup set there whatever the path: with paths that are in the manifests' Filelists
 * of the fixtures (e.g. long-chain's `chain.bin`, changed in every set), in any spelling, it
 * prints "Total number of backup: 0" (observed), so this prints the same block.
 */
export function fileChangedReport(c: Collection, filePath: string): string[] {
  if (!matchedChain(c)) return [];
  const row = (a: string, b: string, d: string) => `${a.padStart(20)}   ${b.padStart(30)}  ${d}`;
  return [RULE, `File: ${filePath}`, 'Total number of backup: 0', row('Type of backup set:', 'Time:', 'Type of file change:'), RULE];
}
