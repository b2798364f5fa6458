/**
 * The whole collection at a backend (FORMAT.md §11.1-11.2): every recognised remote file grouped into
 * sets and chains, the local cache's signature chains, and what does not fit anywhere (orphaned
 * incrementals, incomplete sets, orphaned signatures).
 */
import { parseFileName, type NamePrefixes } from '@duplicity-ts/archive';
import { BackupSet, type NamedFile } from './backup-set.js';
import { BackupChain, SignatureChain, buildBackupChains, buildSignatureChains, chainAt } from './chains.js';

export interface Collection {
  /** Complete backup chains, ordered by end time. */
  chains: BackupChain[];
  /** Complete incremental sets that extend no chain. */
  orphanedSets: BackupSet[];
  /** Sets that have volumes but no manifest, and a set discarded for its missing signatures. */
  incompleteSets: BackupSet[];
  /**
   * The last incremental of the newest chain when its signatures are missing: the only signature
   * chain that fits ends at the set before it (§11.2). It was taken off the chain and counted
   * incomplete, as duplicity does.
   */
  discardedSet?: BackupSet;
  remoteSigChains: SignatureChain[];
  localSigChains: SignatureChain[];
  orphanedRemoteSigs: NamedFile[];
  orphanedLocalSigs: NamedFile[];
  /** Every recognised remote file. */
  remoteFiles: NamedFile[];
  /** Every recognised cache file. */
  localFiles: NamedFile[];
}

export function classify(names: string[], prefixes?: NamePrefixes): NamedFile[] {
  const out: NamedFile[] = [];
  for (const name of names) {
    const parsed = parseFileName(name, prefixes);
    if (parsed && BackupSet.keyOf(parsed) !== null) out.push({ name, parsed });
  }
  return out;
}

export function scanCollection(remoteNames: string[], localNames: string[], prefixes?: NamePrefixes): Collection {
  const remoteFiles = classify(remoteNames, prefixes);
  const localFiles = classify(localNames, prefixes);
  const sets = new Map<string, BackupSet>();
  const setFor = (f: NamedFile) => {
    const key = BackupSet.keyOf(f.parsed)!;
    let set = sets.get(key);
    if (!set) sets.set(key, (set = BackupSet.fromParsed(f.parsed)));
    return set;
  };
  for (const f of remoteFiles) {
    if (f.parsed.kind !== 'signature') setFor(f).add(f);
  }
  // Partial manifests of an interrupted backup live only in the cache (§11.9).
  for (const f of localFiles) {
    if (f.parsed.kind === 'manifest' && f.parsed.partial) setFor(f).localPartialManifest = f;
  }
  const complete = [...sets.values()].filter((s) => s.complete);
  const incompleteSets = [...sets.values()].filter((s) => !s.complete).sort((a, b) => a.endTime - b.endTime);
  const { chains, orphaned } = buildBackupChains(complete);
  const remote = buildSignatureChains(remoteFiles, false);
  const local = buildSignatureChains(
    localFiles.filter((f) => !f.parsed.partial),
    true,
  );
  // A set being written (or left by a killed run) has its signatures as a local .sigtar.part; duplicity
  // counts that as signed, so such a set is partial (cleanup/restart), never "discarded".
  const partialSigEnds = new Set(
    localFiles.filter((f) => f.parsed.kind === 'signature' && f.parsed.partial).map((f) => f.parsed.endTime ?? f.parsed.time),
  );
  const discardedSet = discardUnsignedLastSet(chains, [...local.chains, ...remote.chains], partialSigEnds);
  if (discardedSet) incompleteSets.push(discardedSet);
  return {
    chains,
    orphanedSets: orphaned,
    incompleteSets,
    discardedSet,
    remoteSigChains: remote.chains,
    localSigChains: local.chains,
    orphanedRemoteSigs: remote.orphaned,
    orphanedLocalSigs: local.orphaned,
    remoteFiles,
    localFiles,
  };
}

/**
 * duplicity's matched-pair rule (§11.2): when no signature chain ends where the newest backup
 * chain ends but one ends at its second-to-last set, the last set (whose signatures are missing)
 * is taken off the chain, so that restores and the next incremental stop at the signed state.
 * The chain's reported end time stays what it was, as in duplicity's collection-status.
 */
function discardUnsignedLastSet(
  chains: BackupChain[],
  sigChains: SignatureChain[],
  partialSigEnds: Set<number | undefined>,
): BackupSet | undefined {
  const latest = chains[chains.length - 1];
  if (!latest || latest.incSets.length === 0) return undefined;
  if (sigChains.some((s) => s.endTime === latest.endTime) || partialSigEnds.has(latest.endTime)) return undefined;
  const sets = latest.sets;
  const previousEnd = sets[sets.length - 2].endTime;
  if (!sigChains.some((s) => s.endTime === previousEnd)) return undefined;
  latest.reportedEndTime = latest.endTime;
  return latest.incSets.pop();
}

/** The backup chain a restore or listing at `time` uses; exit 30 when there is none (as duplicity). */
export function backupChainAt(c: Collection, time: number): BackupChain {
  const chain = chainAt(c.chains, time);
  if (!chain) throw Object.assign(new Error('no backup chains found at the backend: nothing to restore or list'), { exitCode: 30 });
  return chain;
}

/** The signature chain for `time`, preferring the cache's copy on a tie (§11.2). */
export function signatureChainAt(c: Collection, time: number): SignatureChain | undefined {
  const local = chainAt(c.localSigChains, time);
  const remote = chainAt(c.remoteSigChains, time);
  if (local && remote && local.endTime !== remote.endTime) {
    // The one the backup chain for this time ends at wins.
    const b = chainAt(c.chains, time);
    if (b && remote.endTime === b.endTime && local.endTime !== b.endTime) return remote;
  }
  return local ?? remote;
}
