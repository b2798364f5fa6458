/**
 * collection-status (FORMAT.md §13.3): the warnings and report duplicity prints for a collection,
 * line for line, and the "Last full backup date" line every action prints first.
 */
import type { Manifest } from '@duplicity-ts/archive';
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
/** A set's manifest as the archive dir holds it, or undefined: collection-status never downloads one. */
export type CachedManifestOf = (set: BackupSet) => Manifest | undefined;

/**
 * --file-changed PATH: every set of the matched chain whose cached manifest lists PATH in its
 * Filelist, oldest first, with the kind of change. duplicity prints the kind as a Python bytes
 * repr (b'New'); kept, since scripts parse this output.
 */
export function fileChangedReport(c: Collection, filePath: string, manifestOf: CachedManifestOf): string[] {
  const m = matchedChain(c);
  if (!m) return [];
  const row = (a: string, b: string, d: string) => `${a.padStart(20)}   ${b.padStart(30)}  ${d}`;
  const wanted = Buffer.from(filePath);
  const rows: string[] = [];
  for (const set of m.chain.sets) {
    const entry = manifestOf(set)?.filelist?.find((e) => e.path.equals(wanted));
    if (!entry) continue;
    const kind = `b'${entry.type[0].toUpperCase()}${entry.type.slice(1)}'`;
    rows.push(`${(set.type === 'full' ? 'Full' : 'Incremental').padStart(20)}   ${asctime(set.endTime).padStart(30)}  ${kind.padStart(20)}`);
  }
  return [RULE, `File: ${filePath}`, `Total number of backup: ${rows.length}`, row('Type of backup set:', 'Time:', 'Type of file change:'), ...rows, RULE];
}

/**
 * --show-changes-in-set N: the Filelist of the matched chain's set N, counted from the newest (0).
 * duplicity dies with a traceback (exit 30) when N is past the chain's first set; here that is one line.
 */
export function setChangesReport(c: Collection, index: number, manifestOf: CachedManifestOf): string[] {
  const m = matchedChain(c);
  if (!m) return [];
  const sets = [...m.chain.sets].reverse();
  const set = sets[index];
  if (!set) {
    throw Object.assign(new Error(`--show-changes-in-set ${index}: the current chain has ${sets.length} backup set${sets.length === 1 ? '' : 's'} (0 is the newest)`), {
      exitCode: 30,
    });
  }
  const files = (manifestOf(set)?.filelist ?? []).map((f) => ({ path: f.path.toString('utf8'), type: f.type }));
  // A two-column table: paths left-aligned to the longest (at least the header's "File:"), kinds right-aligned.
  const width = Math.max(5, ...files.map((f) => f.path.length));
  const row = (a: string, b: string) => `${a.padEnd(width)}${b.padStart(22)}`;
  return [
    RULE,
    ` Backup set time: ${asctime(set.endTime)}`,
    `Total number of changes: ${files.length}`,
    row('File:', 'Type of file change:'),
    ...files.map((f) => row(f.path, f.type)),
    RULE,
  ];
}
