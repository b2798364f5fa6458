/**
 * The state a signature chain ends in (FORMAT.md §5.2): the full-signatures tar and the
 * new-signatures tars of a chain read side by side in index order; for each index the entry of the
 * newest file wins and a `deleted/` entry means the item is gone. One merge serves the backup (which
 * needs the winning signatures' bytes to compute deltas) and list-current-files (headers only).
 */
import { compareIndex, parseEntryName, readTar, readTarSync, type Index, type TarEntry, type TarEntrySync, type TarHeader } from '@duplicity-ts/archive';

/**
 * One plain sigtar byte stream; `name` is the file it came from, for messages. A synchronous stream
 * (a cached file inflated in this thread) is read by readTarSync, without a promise per entry.
 */
export interface SigtarSource {
  name: string;
  bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
}

type Body = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface CombinedEntry {
  index: Index;
  /** `signature` for regular files, `snapshot` for every other type. */
  kind: 'signature' | 'snapshot';
  header: TarHeader;
  /** The librsync signature of a regular file, when asked for. */
  signature?: Buffer;
  /**
   * With `signatures: 'lazy'`: this entry's signature as the tar body's bytes (regular files only),
   * `header.size` of them. Readable once, until the consumer asks for the next entry, when the body
   * is skipped unread.
   */
  signatureBody?: Body;
}

interface Head {
  index: Index;
  kind: string;
  header: TarHeader;
  body: Body;
}

/** A body's bytes in one buffer of their own: the tar reader may hand out views of a buffer it reuses. */
export async function collect(body: Body): Promise<Buffer> {
  const parts: Buffer[] = [];
  if (Symbol.asyncIterator in body) for await (const c of body) parts.push(Buffer.from(c));
  else for (const c of body) parts.push(Buffer.from(c));
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/**
 * Merges the sigtars of one chain, oldest first. With `signatures`, each winning regular file's
 * signature is read into memory (one at a time); the losers' bodies are skipped unread. With
 * `signatures: 'lazy'` only the ones the consumer asks for are (`signatureBody`): an incremental
 * backup needs those of changed files only, and copying every signature of the chain out of the
 * tar stream was a visible share of its fixed cost (allocations, then garbage collection).
 * A malformed entry name fails with exit code 30 and the file's name.
 */
export async function* combineSigtars(sources: SigtarSource[], o: { signatures?: boolean | 'lazy' } = {}): AsyncGenerator<CombinedEntry> {
  const readers: (AsyncGenerator<TarEntry> | Generator<TarEntrySync>)[] = sources.map((s) =>
    Symbol.asyncIterator in s.bytes ? readTar(s.bytes) : readTarSync(s.bytes),
  );
  const heads: (Head | undefined)[] = [];
  /** A damaged file (its gzip, its tar, an entry name) fails with its name and exit code 30. */
  const failure = (i: number, err: unknown) => {
    const e = err as Error & { exitCode?: number; code?: string };
    return Object.assign(new Error(`failed to read signatures ${sources[i].name}: ${e.message}`), { exitCode: e.exitCode ?? 30, code: e.code });
  };
  const advance = (i: number): Promise<void> | void => {
    let next;
    try {
      next = readers[i].next();
    } catch (err) {
      throw failure(i, err);
    }
    return next instanceof Promise
      ? next.then(
          (r) => setHead(i, r),
          (err) => Promise.reject(failure(i, err)),
        )
      : setHead(i, next);
  };
  const setHead = (i: number, r: IteratorResult<TarEntry | TarEntrySync>) => {
    if (r.done) {
      heads[i] = undefined;
      return;
    }
    let parsed;
    try {
      parsed = parseEntryName(r.value.header.name, 'sigtar');
    } catch (err) {
      throw failure(i, err);
    }
    heads[i] = { index: parsed.index, kind: parsed.kind, header: r.value.header, body: r.value.body };
  };
  try {
    await Promise.all(readers.map((_, i) => advance(i)));
    // Which heads hold the smallest index: found in one pass (index comparisons are a measurable
    // share of an incremental backup's fixed cost over tens of thousands of entries).
    const atMin: number[] = [];
    for (;;) {
      let min: Index | undefined;
      atMin.length = 0;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (!h) continue;
        const c = min === undefined ? -1 : compareIndex(h.index, min);
        if (c < 0) {
          min = h.index;
          atMin.length = 0;
        }
        if (c <= 0) atMin.push(i);
      }
      if (min === undefined) return;
      // The newest file (last source) holding the index wins.
      const w = heads[atMin[atMin.length - 1]]!;
      let out: CombinedEntry | undefined;
      if (w.kind === 'signature') {
        out = { index: w.index, kind: 'signature', header: w.header };
        if (o.signatures === 'lazy') out.signatureBody = w.body;
        else if (o.signatures) out.signature = await collect(w.body);
      } else if (w.kind === 'snapshot') out = { index: w.index, kind: 'snapshot', header: w.header };
      // Yielded before the readers move on, so that a lazy signature's body is still unread.
      if (out) yield out;
      for (const i of atMin) {
        const moved = advance(i);
        if (moved) await moved;
      }
    }
  } finally {
    await Promise.all(readers.map((r) => r.return(undefined)));
  }
}
