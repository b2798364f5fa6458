/**
 * One backup set's volumes as a single stream of logical entries (FORMAT.md §11.4 step 4, §4.5):
 * volumes in number order, each fetched and checked before it is read, the next one while the
 * current one is read; consecutive `multivol_*` chunks of one index become one entry whose body
 * continues across volume boundaries. At most two volumes' temp files exist at a time.
 */
import { compareIndex, parseEntryName, readTar, type Index, type Manifest, type ManifestVolume, type TarHeader } from '@duplicity-ts/archive';
import type { BackupSet } from '../collection/backup-set.js';
import { fetchFile, hashAhead, userError, type FetchedFile, type ReadContext } from './remote-file.js';

export type DiffKind = 'snapshot' | 'diff' | 'deleted';

export interface SetEntry {
  kind: DiffKind;
  index: Index;
  /** The first (or only) tar header of the entry: the item's metadata. */
  header: TarHeader;
  /** The payload; multivol chunks concatenated. Read at most once. */
  body: AsyncIterable<Uint8Array>;
  /** The set this entry came from (for messages). */
  set: BackupSet;
}

interface RawEntry {
  kind: DiffKind;
  multivol: boolean;
  index: Index;
  header: TarHeader;
  body: AsyncIterable<Uint8Array>;
}

/** The SHA1 the manifest gives for `vol`, if it gives one (others are not checked). */
const manifestSha1 = (vol: ManifestVolume) => (vol.hash !== undefined && (vol.hashType ?? 'SHA1').toUpperCase() === 'SHA1' ? vol.hash : undefined);

/**
 * Starts on the first of `volumes` (of `set`) what can go ahead of its turn: its SHA1 check and the
 * decryption worker (remote-file.ts's hashAhead).
 */
export function startAhead(ctx: ReadContext, set: BackupSet, volumes: ManifestVolume[]): void {
  const first = volumes[0];
  const file = first && set.volumes.get(first.number);
  if (file && manifestSha1(first) !== undefined) hashAhead(ctx, file.name, file.parsed);
}

/**
 * Volumes whose manifest range may hold entries under `prefix` (§11.4 step 3):
 * start[:len(P)] <= P <= end.
 */
export function volumesFor(manifest: Manifest, prefix: Index): ManifestVolume[] {
  return [...manifest.volumes.values()]
    .sort((a, b) => a.number - b.number)
    .filter((v) => compareIndex(v.start.slice(0, prefix.length), prefix) <= 0 && compareIndex(prefix, v.end) <= 0);
}

export class SetReader {
  private readonly raw: AsyncGenerator<RawEntry>;
  private peeked: RawEntry | null | undefined;
  private current: { drain(): Promise<void> } | undefined;

  /** Volumes that failed so far (only counted with onVolumeError). */
  private failures = 0;

  /**
   * `onVolumeError` (--ignore-errors): a volume that cannot be fetched or read is reported and
   * skipped, and reading goes on with the next one; without it the error ends the stream.
   */
  constructor(
    private readonly ctx: ReadContext,
    readonly set: BackupSet,
    volumes: ManifestVolume[],
    private readonly onVolumeError?: (volume: ManifestVolume, error: Error) => void,
    /** --sign-key's signer signed this set's manifest (restore.ts signerVouches()). */
    private readonly signerVouched = false,
  ) {
    this.raw = this.rawEntries(volumes);
  }

  /**
   * Volume i+1 is downloaded, hash-checked (and decrypted) while volume i is read, so that fetching
   * overlaps with restoring. Its failure surfaces only when its turn comes, as if fetched then.
   */
  private async *rawEntries(volumes: ManifestVolume[]): AsyncGenerator<RawEntry> {
    const fetches = volumes.map((): Promise<FetchedFile> | undefined => undefined);
    const fetchAt = (i: number): Promise<FetchedFile> | undefined => {
      if (i >= volumes.length) return undefined;
      if (!fetches[i]) {
        const f = this.fetchVolume(volumes[i]);
        // Awaited in its turn; until then a rejection is not unhandled.
        f.catch(() => undefined);
        fetches[i] = f;
      }
      return fetches[i];
    };
    try {
      for (let i = 0; i < volumes.length; i++) {
        const vol = volumes[i];
        const current = fetchAt(i)!;
        fetchAt(i + 1);
        if (!this.onVolumeError) {
          yield* this.volumeEntries(vol, current);
        } else {
          try {
            yield* this.volumeEntries(vol, current);
          } catch (err) {
            this.failures++;
            this.onVolumeError(vol, err as Error);
          }
        }
        // volumeEntries disposed of it.
        fetches[i] = undefined;
      }
    } finally {
      // A reader closed early (or failed) still owns the temp files of a prefetched volume.
      for (const f of fetches) if (f) await f.then((x) => x.dispose()).catch(() => undefined);
    }
  }

  private async fetchVolume(vol: ManifestVolume): Promise<FetchedFile> {
    const file = this.set.volumes.get(vol.number);
    if (!file) {
      throw userError(`failed to restore: volume ${vol.number} of the backup set ending ${this.set.endTime} is missing from the backend`, 53);
    }
    return fetchFile(this.ctx, file.name, file.parsed, manifestSha1(vol), { signerVouched: this.signerVouched });
  }

  private async *volumeEntries(vol: ManifestVolume, fetching: Promise<FetchedFile>): AsyncGenerator<RawEntry> {
    {
      const file = this.set.volumes.get(vol.number)!;
      const fetched = await fetching;
      try {
        for await (const { header, body } of readTar(fetched.plaintext())) {
          let parsed: ReturnType<typeof parseEntryName>;
          try {
            parsed = parseEntryName(header.name, 'difftar');
          } catch (err) {
            throw userError(`failed to read ${file.name}: ${(err as Error).message}`, 30);
          }
          const multivol = parsed.kind === 'multivol_snapshot' || parsed.kind === 'multivol_diff';
          const kind: DiffKind =
            parsed.kind === 'multivol_snapshot' ? 'snapshot' : parsed.kind === 'multivol_diff' ? 'diff' : (parsed.kind as DiffKind);
          if (kind !== 'snapshot' && kind !== 'diff' && kind !== 'deleted') {
            throw userError(`failed to read ${file.name}: unexpected entry ${header.name.toString('utf8')}`, 30);
          }
          yield { kind, multivol, index: parsed.index, header, body };
        }
        // Past the tar end mark: a streamed volume's MDC is checked there.
        await fetched.finish();
      } finally {
        await fetched.dispose();
      }
    }
  }

  private async peekRaw(): Promise<RawEntry | null> {
    if (this.peeked === undefined) {
      const r = await this.raw.next();
      this.peeked = r.done ? null : r.value;
    }
    return this.peeked;
  }

  private takeRaw(): void {
    this.peeked = undefined;
  }

  /** The next logical entry, or null at the end of the set. Drains what the caller left of the last one. */
  async next(): Promise<SetEntry | null> {
    if (this.current) {
      await this.current.drain();
      this.current = undefined;
    }
    const peeked = await this.peekRaw();
    if (!peeked) return null;
    const first: RawEntry = peeked;
    this.takeRaw();
    if (!first.multivol) {
      // readTar skips whatever of this body the caller did not read.
      return { kind: first.kind, index: first.index, header: first.header, body: first.body, set: this.set };
    }
    // A multivol payload: this chunk, then every following chunk of the same kind and index.
    const sameEntry = (nx: RawEntry | null): nx is RawEntry =>
      nx !== null && nx.multivol && nx.kind === first.kind && compareIndex(nx.index, first.index) === 0;
    const self = this;
    const failuresBefore = this.failures;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      let lastSize = first.header.size;
      yield* first.body;
      for (let nx = await self.peekRaw(); sameEntry(nx); nx = await self.peekRaw()) {
        self.takeRaw();
        lastSize = nx.header.size;
        yield* nx.body;
      }
      // A payload whose next volume was skipped (--ignore-errors) ends early: never pass it off as
      // whole. Every chunk but the last is a full 64 KiB one (§4.3), so a short last chunk means complete.
      if (self.failures !== failuresBefore && lastSize >= 65536) {
        throw userError(`its data continues into a damaged volume of the backup set ending ${self.set.endTime}`, 21);
      }
    }
    this.current = {
      // Whatever the caller left: skip the remaining chunks (readTar skips their bodies).
      drain: async () => {
        for (let nx = await self.peekRaw(); sameEntry(nx); nx = await self.peekRaw()) self.takeRaw();
      },
    };
    return { kind: first.kind, index: first.index, header: first.header, body: chunks(), set: this.set };
  }

  async close(): Promise<void> {
    await this.raw.return(undefined);
  }
}
