/**
 * A file's content at the restore time from its newest snapshot and the later diffs (FORMAT.md §11.4 step 6).
 * `chainContent` streams it, staging intermediate versions in temp files (a patch needs random access to its
 * basis): verify reads that. A restore writes the file itself with `writeChain`: the newest diffs that allow it
 * are applied in place over the restored file (rsync's InPlacePatch), so a big file changed a little by each
 * incremental is written once, not once per diff.
 */
import { closeSync, constants, openSync, rmSync } from 'node:fs';
import { deltaInFile, deltaInMemory, fileBasis, InPlacePatch, patch, type DeltaBytes } from '@duplicity-ts/rsync';
import { tempPath, userError, type ReadContext } from './remote-file.js';
import type { SetEntry } from './set-reader.js';
import { PieceWriter } from './piece-writer.js';

/** Where patch stages go (ReadContext.tempDir). */
type StageDir = Pick<ReadContext, 'tempDir'>;

/** A delta bigger than this is spooled to a temp file rather than held in memory while it waits. */
const IN_MEMORY = 1 << 20;
/** Delta bytes of one file held in memory at most (a long chain of small deltas spools the rest). */
const IN_MEMORY_TOTAL = 16 << 20;

/** Streams base + diffs into the final content; a snapshot with no later diff streams straight through. */
export async function* chainContent(ctx: StageDir, base: SetEntry, diffs: SetEntry[]): AsyncGenerator<Uint8Array> {
  if (diffs.length === 0) {
    yield* base.body;
    return;
  }
  let current = tempPath(ctx, 'stage');
  const temps = new Set<string>([current]);
  const writer = new PieceWriter();
  try {
    await writeStage(current, base.body, writer);
    for (let i = 0; i < diffs.length; i++) {
      const basis = await fileBasis(current);
      try {
        if (i === diffs.length - 1) {
          // RestoredEntry.content pieces are valid until the next is asked for.
          yield* patch(basis, diffs[i].body, { reuseOutput: true });
        } else {
          const next = tempPath(ctx, 'stage');
          temps.add(next);
          // Written piece by piece before the next is made, so the patch may reuse its output buffer.
          await writeStage(next, patch(basis, diffs[i].body, { reuseOutput: true }), writer);
          rmSync(current, { force: true });
          temps.delete(current);
          current = next;
        }
      } catch (err) {
        throw deltaError(base, diffs[i], err);
      } finally {
        await basis.close();
      }
    }
  } finally {
    for (const t of temps) rmSync(t, { force: true });
  }
}

/**
 * Writes the content of base + diffs into `fd`, a new empty file open for reading and writing. The diffs are read
 * newest first (each kept in memory when small, up to 16 MiB in all, else spooled to a temp file) while they can be
 * applied in place; the older ones are patched as `chainContent` does into `fd`, and the newer ones are then applied
 * over it.
 * `inMemory`: the largest delta kept in memory (tests set it low to use the spool).
 */
export async function writeChain(
  ctx: StageDir,
  base: SetEntry,
  chain: readonly SetEntry[],
  fd: number,
  pieces: PieceWriter,
  o: { inMemory?: number } = {},
): Promise<void> {
  const diffs = [...chain];
  const inPlace: { patch: InPlacePatch; delta: ReadDelta }[] = [];
  const read: ReadDelta[] = [];
  let held = 0;
  try {
    let streamed = diffs.length;
    while (streamed > 0) {
      const diff = diffs[streamed - 1];
      const delta = await readDelta(ctx, diff.body, pieces, Math.min(o.inMemory ?? IN_MEMORY, IN_MEMORY_TOTAL - held));
      read.push(delta);
      if (delta.inMemory) held += delta.bytes.size;
      let patch: InPlacePatch;
      try {
        patch = InPlacePatch.parse(delta.bytes);
      } catch (err) {
        throw deltaError(base, diff, err);
      }
      if (!patch.safe) {
        diffs[streamed - 1] = { ...diff, body: delta.stream() };
        break;
      }
      inPlace.unshift({ patch, delta });
      streamed--;
    }
    await pieces.write(fd, chainContent(ctx, base, diffs.slice(0, streamed)));
    for (let i = 0; i < inPlace.length; i++) {
      try {
        inPlace[i].patch.apply(fd, inPlace[i].delta.bytes);
      } catch (err) {
        throw deltaError(base, diffs[streamed + i], err);
      }
    }
  } finally {
    for (const d of read) d.close();
  }
}

/** A diff's delta, read whole: its bytes, and the same bytes as a stream again. */
interface ReadDelta {
  bytes: DeltaBytes;
  inMemory: boolean;
  stream(): AsyncIterable<Uint8Array>;
  close(): void;
}

/** Reads `body` into memory when it is at most `max` bytes, else into a temp file (removed at once, kept open). */
async function readDelta(ctx: StageDir, body: AsyncIterable<Uint8Array>, pieces: PieceWriter, max: number): Promise<ReadDelta> {
  const it = body[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let len = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) {
      const bytes = deltaInMemory(Buffer.concat(parts, len));
      return { bytes, inMemory: true, stream: () => piecesOf(bytes), close() {} };
    }
    // Body pieces are valid until the next is asked for.
    parts.push(Buffer.from(r.value));
    len += r.value.length;
    if (len > max) break;
  }
  const file = tempPath(ctx, 'delta');
  const spool = openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
  rmSync(file, { force: true });
  try {
    let size = 0;
    await pieces.write(spool, (async function* () {
      for (const p of parts.splice(0)) {
        size += p.length;
        yield p;
      }
      for (let n = await it.next(); !n.done; n = await it.next()) {
        size += n.value.length;
        yield n.value;
      }
    })());
    const bytes = deltaInFile(spool, size);
    return { bytes, inMemory: false, stream: () => piecesOf(bytes), close: () => closeSync(spool) };
  } catch (err) {
    closeSync(spool);
    throw err;
  }
}

/** A read delta's bytes again, in 1 MiB pieces, each valid until the next is asked for. */
async function* piecesOf(bytes: DeltaBytes): AsyncGenerator<Uint8Array> {
  const buf = Buffer.allocUnsafe(Math.min(bytes.size, 1 << 20));
  for (let at = 0; at < bytes.size; ) {
    const n = Math.min(buf.length, bytes.size - at);
    bytes.read(at, buf.subarray(0, n));
    at += n;
    yield buf.subarray(0, n);
  }
}

function deltaError(base: SetEntry, diff: SetEntry, err: unknown): Error {
  const e = err as { exitCode?: number; message?: string };
  return userError(`failed to apply the delta for ${base.index.join('/')} from the set ending ${diff.set.endTime}: ${e.message}`, e.exitCode ?? 30);
}

async function writeStage(file: string, content: AsyncIterable<Uint8Array>, writer: PieceWriter): Promise<void> {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await writer.write(fd, content);
  } finally {
    closeSync(fd);
  }
}
