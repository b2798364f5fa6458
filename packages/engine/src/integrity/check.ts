/**
 * `check` (duplicity-ts's own command): the integrity of a whole archive without a live tree.
 *
 * For every chain, every set's manifest is read and every volume it lists is fetched, hash-checked
 * against the manifest, decrypted (the MDC, and the signer with --sign-key) and read as tar; every
 * item is then carried through the chain set by set, each delta applied to the state before it,
 * into a null sink, and the result after each set is compared with that set's signature file
 * (same librsync signature, same items): a signature file from another chain or a delta that does
 * not belong to its basis is found too. Each problem names the file and says which sets and which
 * items it affects. Sets with volumes and no manifest are reported as incomplete.
 *
 * With `serverSha1` (the backend can hash files on the server, `check --server-hashes`), only the
 * volume hashes are checked, on the server, and nothing is downloaded.
 *
 * Memory stays bounded: a state that a later delta needs is staged in a temp file, as restore does.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { compareIndex, formatTimeString, indexToPath, Manifest, parseEntryName, readTar, type Index, type ManifestVolume, type TarHeader } from '@duplicity-ts/archive';
import { fileBasis, patch, Signature, SignatureBuilder } from '@duplicity-ts/rsync';
import type { BackupSet, NamedFile } from '../collection/backup-set.js';
import type { BackupChain } from '../collection/chains.js';
import type { Collection } from '../collection/collection.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { metadataKey } from '../cache/archive-dir.js';
import { fetchFile, readAll, tempPath, userError, type ReadContext } from '../restore/remote-file.js';
import { SetReader, type SetEntry } from '../restore/set-reader.js';

export interface IntegrityProblem {
  /** The backend file at fault. */
  file: string;
  /** One line: what is wrong. */
  cause: string;
  /** One line: which sets and items it affects. */
  affects: string;
  /** duplicity's exit code for this kind of failure (21 hash, 22 signer, 31 decrypt, 53 missing...). */
  exitCode: number;
}

export interface CheckOptions {
  /** Hashes volumes on the server (name -> lowercase hex SHA1; a name left out is missing). */
  serverSha1?: (names: string[]) => Promise<Map<string, string>>;
  /** Progress lines ("Checking ..."). */
  info(msg: string): void;
  /** Called for each problem as it is found. */
  onProblem(p: IntegrityProblem): void;
}

export interface CheckResult {
  chains: number;
  sets: number;
  volumes: number;
  /** Items carried through their chain (content mode). */
  items: number;
  problems: IntegrityProblem[];
}

const show = (i: Index) => (i.length === 0 ? '.' : indexToPath(i).toString('utf8'));
const setLabel = (s: BackupSet) => `${s.type === 'full' ? 'full' : 'incremental'} backup set of ${formatTimeString(s.endTime)}`;

function codeOf(err: unknown, fallback: number): number {
  const c = (err as { exitCode?: unknown })?.exitCode;
  return typeof c === 'number' ? c : fallback;
}

/** "restores at <T> and later in this chain" for a set of a chain. */
function laterTimes(chain: BackupChain, set: BackupSet): string {
  const later = chain.sets.filter((s) => s.endTime >= set.endTime);
  return later.length === 1
    ? `the restore at ${formatTimeString(set.endTime)}`
    : `restores at ${formatTimeString(set.endTime)} and the ${later.length - 1} later backup time(s) of its chain`;
}

/**
 * Which items a lost volume takes with it, by name: the set's signature file lists every item the
 * set stored; those between the volume's first and last index are the ones it held.
 */
async function volumeAffects(ctx: ReadContext, col: Collection, chain: BackupChain, set: BackupSet, v: ManifestVolume): Promise<string> {
  const range = `items ${show(v.start)} to ${show(v.end)} of ${setLabel(set)}`;
  const sig = sigFileOf(col, set);
  let listed = '';
  if (sig) {
    const hit: string[] = [];
    try {
      for await (const e of sigEntries(ctx, sig)) {
        if (compareIndex(e.index, v.end) > 0) break;
        if (compareIndex(e.index, v.start) >= 0 && e.kind !== 'deleted') hit.push(show(e.index));
      }
      const shown = hit.slice(0, 10).join(', ') + (hit.length > 10 ? `, ... (${hit.length} in all)` : '');
      listed = hit.length ? ` (${shown})` : '';
    } catch {
      // The signature file has its own problem, reported on its own.
    }
  }
  return `${range}${listed}; ${laterTimes(chain, set)}`;
}

export async function checkArchive(ctx: ReadContext, col: Collection, o: CheckOptions): Promise<CheckResult> {
  const result: CheckResult = { chains: col.chains.length, sets: 0, volumes: 0, items: 0, problems: [] };
  const problem = (p: IntegrityProblem) => {
    result.problems.push(p);
    o.onProblem(p);
  };
  for (const set of col.incompleteSets) {
    const first = [...set.volumes.values()][0];
    problem({
      file: first?.name ?? `(set of ${formatTimeString(set.endTime)})`,
      cause: `${setLabel(set)} has ${set.volumes.size} volume(s) but no manifest (an interrupted backup, or its manifest was lost)`,
      affects: `nothing restores from it; run cleanup to remove it`,
      exitCode: 6,
    });
  }
  for (const chain of col.chains) {
    o.info(`Checking backup chain ${formatTimeString(chain.startTime)} to ${formatTimeString(chain.endTime)} (${chain.sets.length} set(s))`);
    await checkChain(ctx, col, chain, o, result, problem);
  }
  return result;
}

async function checkChain(
  ctx: ReadContext,
  col: Collection,
  chain: BackupChain,
  o: CheckOptions,
  result: CheckResult,
  problem: (p: IntegrityProblem) => void,
): Promise<void> {
  const manifests = [];
  for (const set of chain.sets) {
    result.sets++;
    if (!set.remoteManifest) {
      problem({
        file: set.localPartialManifest?.name ?? setLabel(set),
        cause: `${setLabel(set)} was left partial by an interrupted backup: its manifest is only in the cache, as .part`,
        affects: `${laterTimes(chain, set)}; the next backup or cleanup removes it`,
        exitCode: 6,
      });
      return;
    }
    try {
      manifests.push({ set, manifest: await remoteManifest(ctx, set) });
    } catch (err) {
      problem({
        file: set.remoteManifest?.name ?? set.localPartialManifest?.name ?? setLabel(set),
        cause: (err as Error).message,
        affects: `${setLabel(set)}: ${laterTimes(chain, set)} cannot be restored`,
        exitCode: codeOf(err, 6),
      });
      return; // Without the manifest nothing later in the chain can be checked either.
    }
  }
  // Volumes the manifests list but the backend lacks.
  const present = (set: BackupSet, v: ManifestVolume) => set.volumes.has(v.number);
  for (const { set, manifest } of manifests) {
    for (const v of [...manifest.volumes.values()].sort((a, b) => a.number - b.number)) {
      result.volumes++;
      if (!present(set, v)) {
        problem({
          file: `volume ${v.number} of ${setLabel(set)}`,
          cause: 'missing from the backend',
          affects: await volumeAffects(ctx, col, chain, set, v),
          exitCode: 53,
        });
      }
    }
  }

  if (o.serverSha1) {
    const wanted = manifests.flatMap(({ set, manifest }) =>
      [...manifest.volumes.values()].filter((v) => present(set, v)).map((v) => ({ set, v, name: set.volumes.get(v.number)!.name })),
    );
    const hashes = await o.serverSha1(wanted.map((w) => w.name));
    for (const { set, v, name } of wanted) {
      const got = hashes.get(name);
      const expected = v.hash?.toLowerCase();
      if (got === undefined) {
        problem({ file: name, cause: 'the server could not hash it', affects: `items ${show(v.start)} to ${show(v.end)} of ${setLabel(set)}`, exitCode: 53 });
      } else if (expected !== undefined && got !== expected) {
        problem({
          file: name,
          cause: `SHA1 ${got} (computed on the server) does not match the manifest's ${expected}`,
          affects: await volumeAffects(ctx, col, chain, set, v),
          exitCode: 21,
        });
      }
    }
    return;
  }

  await checkContent(ctx, col, chain, manifests, result, problem);
}

/**
 * The backend's manifest of a set (the cache copy is not what is being checked), decrypted and
 * parsed; a cache copy that says something else is a problem too (exit 5, as duplicity's check
 * before an incremental).
 */
async function remoteManifest(ctx: ReadContext, set: BackupSet): Promise<Manifest> {
  const f = set.remoteManifest!;
  const fetched = await fetchFile(ctx, f.name, f.parsed);
  let bytes: Buffer;
  try {
    bytes = await readAll(fetched.plaintext());
  } finally {
    await fetched.dispose();
  }
  let m: Manifest;
  try {
    m = Manifest.parse(bytes);
  } catch (err) {
    throw userError(`failed to read manifest ${f.name}: ${(err as Error).message}`, 6);
  }
  const cached = await readFile(path.join(ctx.archiveDir, metadataKey(f.name))).catch(() => undefined);
  if (cached && !cached.equals(bytes)) {
    throw userError(`manifest ${f.name} differs from the cache's copy ${metadataKey(f.name)}`, 5);
  }
  return m;
}

interface SigEntry {
  index: Index;
  kind: string;
  header: TarHeader;
  signature?: Buffer;
}

/** A set's signature file as a stream of entries, signatures read into memory (they are small). */
async function* sigEntries(ctx: ReadContext, f: NamedFile): AsyncGenerator<SigEntry> {
  const fetched = await fetchFile(ctx, f.name, f.parsed);
  try {
    for await (const { header, body } of readTar(fetched.plaintext())) {
      const parsed = parseEntryName(header.name, 'sigtar');
      yield { index: parsed.index, kind: parsed.kind, header, signature: parsed.kind === 'signature' ? await readAll(body) : undefined };
    }
  } finally {
    await fetched.dispose();
  }
}

/** A peekable sigtar reader that records its own failure instead of throwing. */
class SigCursor {
  private it?: AsyncGenerator<SigEntry>;
  private head: SigEntry | null | undefined;
  failed?: Error;
  constructor(private readonly ctx: ReadContext, readonly file: NamedFile | undefined) {}
  /** The entry at `index`, skipping earlier ones (which the difftar lacked: reported by the caller). */
  async take(index: Index, extra: (e: SigEntry) => void): Promise<SigEntry | undefined> {
    if (!this.file || this.failed) return undefined;
    try {
      this.it ??= sigEntries(this.ctx, this.file);
      for (;;) {
        if (this.head === undefined) {
          const r = await this.it.next();
          this.head = r.done ? null : r.value;
        }
        if (this.head === null) return undefined;
        const c = compareIndex(this.head.index, index);
        if (c > 0) return undefined;
        const h = this.head;
        this.head = undefined;
        if (c === 0) return h;
        extra(h);
      }
    } catch (err) {
      this.failed = err as Error;
      return undefined;
    }
  }
  /** Reports every entry not taken yet: the data side has ended. */
  async rest(extra: (e: SigEntry) => void): Promise<void> {
    if (!this.file || this.failed) return;
    try {
      this.it ??= sigEntries(this.ctx, this.file);
      if (this.head) extra(this.head);
      this.head = null;
      for (let r = await this.it.next(); !r.done; r = await this.it.next()) extra(r.value);
    } catch (err) {
      this.failed = err as Error;
    }
  }
  async close(): Promise<void> {
    await this.it?.return(undefined);
  }
}

function sigFileOf(col: Collection, set: BackupSet): NamedFile | undefined {
  return col.remoteFiles.find((f) => {
    const p = f.parsed;
    if (p.kind !== 'signature') return false;
    return set.type === 'full' ? p.type === 'full-sig' && p.time === set.endTime : p.type === 'new-sig' && p.startTime === set.startTime && p.endTime === set.endTime;
  });
}

/** The librsync signature of a stream, whole (SignatureBuilder hands it out piece by piece). */
class SignatureCollector {
  private readonly builder: SignatureBuilder;
  private readonly parts: Uint8Array[] = [];
  constructor(params: ConstructorParameters<typeof SignatureBuilder>[0]) {
    this.builder = new SignatureBuilder(params);
  }
  update(chunk: Uint8Array): void {
    this.parts.push(this.builder.update(chunk));
  }
  final(): Buffer {
    this.parts.push(this.builder.final());
    return Buffer.concat(this.parts);
  }
}

/** Drains `src` into `sink` (a temp file) or nowhere, feeding the signature collector on the way. */
async function consume(src: AsyncIterable<Uint8Array>, sink: string | undefined, sig: SignatureCollector | undefined): Promise<void> {
  const out = sink ? createWriteStream(sink, { mode: 0o600 }) : undefined;
  try {
    for await (const chunk of src) {
      sig?.update(chunk);
      if (out && !out.write(chunk)) await once(out, 'drain');
    }
  } finally {
    if (out) {
      out.end();
      await once(out, 'close');
    }
  }
}

async function checkContent(
  ctx: ReadContext,
  col: Collection,
  chain: BackupChain,
  manifests: { set: BackupSet; manifest: Manifest }[],
  result: CheckResult,
  problem: (p: IntegrityProblem) => void,
): Promise<void> {
  const damaged: { set: BackupSet; volume: ManifestVolume }[] = [];
  const pendingReports: Promise<void>[] = [];
  const readers = manifests.map(
    ({ set, manifest }) =>
      new SetReader(ctx, set, [...manifest.volumes.values()].sort((a, b) => a.number - b.number).filter((v) => set.volumes.has(v.number)), (volume, error) => {
        damaged.push({ set, volume });
        pendingReports.push(
          volumeAffects(ctx, col, chain, set, volume).then((affects) =>
            problem({ file: set.volumes.get(volume.number)?.name ?? `volume ${volume.number}`, cause: error.message, affects, exitCode: codeOf(error, 30) }),
          ),
        );
      }),
  );
  const sigs = manifests.map(({ set }) => new SigCursor(ctx, sigFileOf(col, set)));
  manifests.forEach(({ set }, i) => {
    if (!sigs[i].file) {
      problem({ file: `signatures of ${setLabel(set)}`, cause: 'missing from the backend', affects: 'incremental backups after it (they fall back to a full one), list-current-files', exitCode: 53 });
    }
  });
  const inDamage = (index: Index) => damaged.some((d) => compareIndex(d.volume.start, index) <= 0 && compareIndex(index, d.volume.end) <= 0);
  const sigMismatch = new Map<number, { count: number; first: string }>();
  const noteSig = (slot: number, what: string, index: Index) => {
    // What a damaged volume took with it was reported with that volume.
    if (inDamage(index)) return;
    const m = sigMismatch.get(slot);
    if (m) m.count++;
    else sigMismatch.set(slot, { count: 1, first: what });
  };
  const temps = new Set<string>();
  try {
    const heads = await Promise.all(readers.map((r) => r.next()));
    for (;;) {
      let min: Index | null = null;
      for (const h of heads) if (h && (min === null || compareIndex(h.index, min) < 0)) min = h.index;
      if (min === null) break;
      const group: { slot: number; entry: SetEntry }[] = [];
      heads.forEach((h, slot) => {
        if (h && compareIndex(h.index, min!) === 0) group.push({ slot, entry: h });
      });
      result.items++;
      // The item's state through the chain: null (absent), or the file holding its content.
      let basis: string | null = null;
      let isFile = false;
      try {
        for (let g = 0; g < group.length; g++) {
          const { slot, entry } = group[g];
          const needLater = group.slice(g + 1).some((x) => x.entry.kind === 'diff');
          const sigEntry = await sigs[slot].take(min, (extra) => noteSig(slot, `${show(extra.index)} has a signature entry but no data entry`, extra.index));
          let builder: SignatureCollector | undefined;
          if (sigEntry?.signature) {
            try {
              builder = new SignatureCollector(Signature.parse(sigEntry.signature).params);
            } catch {
              noteSig(slot, `${show(min)} has an unreadable signature`, min);
            }
          }
          const stage = needLater ? tempPath(ctx, 'check') : undefined;
          if (stage) temps.add(stage);
          if (entry.kind === 'deleted') {
            basis = null;
            isFile = false;
            if (sigEntry && sigEntry.kind !== 'deleted') noteSig(slot, `${show(min)} is deleted but its signature entry is ${sigEntry.kind}`, min);
          } else if (entry.kind === 'snapshot') {
            isFile = entry.header.type === 'file';
            await consume(entry.body, isFile ? stage : undefined, builder);
            basis = isFile ? (stage ?? null) : null;
          } else {
            if (!isFile || basis === null) {
              // A diff needs the previous state: the volume holding it may have been reported already.
              if (!inDamage(min)) {
                problem({
                  file: `${setLabel(entry.set)}`,
                  cause: `${show(min)} is stored as a delta but no earlier set holds its content`,
                  affects: `${show(min)}; ${laterTimes(chain, entry.set)}`,
                  exitCode: 30,
                });
              }
              await consume(entry.body, undefined, undefined);
              basis = null;
              continue;
            }
            const b = await fileBasis(basis);
            try {
              await consume(patch(b, entry.body), stage, builder);
            } finally {
              await b.close();
            }
            await rm(basis, { force: true });
            temps.delete(basis);
            basis = stage ?? null;
          }
          if (isFile && entry.kind !== 'deleted') {
            if (!sigEntry) noteSig(slot, `${show(min)} has no signature entry`, min);
            else if (builder && sigEntry.signature && !builder.final().equals(sigEntry.signature)) {
              noteSig(slot, `the signature of ${show(min)} differs from its content`, min);
            }
          }
        }
      } catch (err) {
        if (!inDamage(min)) {
          const set = group[group.length - 1].entry.set;
          problem({
            file: setLabel(set),
            cause: `${show(min)}: ${(err as Error).message}`,
            affects: `${show(min)}; ${laterTimes(chain, set)}`,
            exitCode: codeOf(err, 30),
          });
        }
      } finally {
        if (basis) {
          await rm(basis, { force: true });
          temps.delete(basis);
        }
      }
      for (const g of group) heads[g.slot] = await readers[g.slot].next();
    }
    for (let slot = 0; slot < sigs.length; slot++) {
      await sigs[slot].rest((extra) => noteSig(slot, `${show(extra.index)} has a signature entry but no data entry`, extra.index));
    }
  } finally {
    await Promise.all(readers.map((r) => r.close().catch(() => undefined)));
    await Promise.all(sigs.map((s) => s.close().catch(() => undefined)));
    await Promise.all([...temps].map((t) => rm(t, { force: true })));
  }
  await Promise.all(pendingReports);
  manifests.forEach(({ set }, slot) => {
    const s = sigs[slot];
    if (s.failed) {
      problem({
        file: s.file!.name,
        cause: s.failed.message,
        affects: `incremental backups after ${setLabel(set)} (they fall back to a full one), list-current-files`,
        exitCode: codeOf(s.failed, 30),
      });
      return;
    }
    const m = sigMismatch.get(slot);
    if (m) {
      problem({
        file: s.file!.name,
        cause: `it does not match the data of ${setLabel(set)} (${m.count} item(s); first: ${m.first}): a signature file from another backup?`,
        affects: `incremental backups after it would store wrong deltas; list-current-files`,
        exitCode: 30,
      });
    }
  });
}
