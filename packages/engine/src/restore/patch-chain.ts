/**
 * A file's content at the restore time from its newest snapshot and the later diffs (FORMAT.md §11.4 step 6).
 * `chainContent` streams it, staging intermediate versions in temp files (a patch needs random access to its
 * basis): verify reads that. A restore writes the file itself with `writeChain`: the newest diffs that allow it
 * are applied in place over the restored file (rsync's InPlacePatch), so a big file changed a little by each
 * incremental is written once, not once per diff.
 */
import { closeSync, constants, openSync, rmSync } from 'node:fs';
import { fileBasis, InPlacePatch, patch } from '@duplicity-ts/rsync';
import { tempPath, userError, type ReadContext } from './remote-file.js';
import type { SetEntry } from './set-reader.js';
import { PieceWriter } from './piece-writer.js';

/** Where patch stages go (ReadContext.tempDir). */
type StageDir = Pick<ReadContext, 'tempDir'>;

/** Delta bytes held in memory at most per file while looking for diffs to apply in place. */
const IN_PLACE_BUDGET = 32 << 20;

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
 * newest first while they fit the budget and can be applied in place; the older ones are patched as
 * `chainContent` does into `fd`, and the newer ones are then applied over it.
 */
export async function writeChain(
  ctx: StageDir,
  base: SetEntry,
  chain: readonly SetEntry[],
  fd: number,
  pieces: PieceWriter,
  o: { budget?: number } = {},
): Promise<void> {
  const diffs = [...chain];
  const inPlace: InPlacePatch[] = [];
  let budget = o.budget ?? IN_PLACE_BUDGET;
  let streamed = diffs.length;
  while (streamed > 0) {
    const diff = diffs[streamed - 1];
    const read = await readWithin(diff.body, budget);
    if (read.rest) {
      diffs[streamed - 1] = { ...diff, body: read.rest };
      break;
    }
    let p: InPlacePatch;
    try {
      p = InPlacePatch.parse(read.bytes);
    } catch (err) {
      throw deltaError(base, diff, err);
    }
    if (!p.safe) {
      diffs[streamed - 1] = { ...diff, body: once(read.bytes) };
      break;
    }
    budget -= read.bytes.length;
    inPlace.unshift(p);
    streamed--;
  }
  await pieces.write(fd, chainContent(ctx, base, diffs.slice(0, streamed)));
  for (let i = 0; i < inPlace.length; i++) {
    try {
      inPlace[i].apply(fd);
    } catch (err) {
      throw deltaError(base, diffs[streamed + i], err);
    }
  }
}

/** The whole body when it is at most `max` bytes; else a stream of it all, the bytes read so far first. */
async function readWithin(body: AsyncIterable<Uint8Array>, max: number): Promise<{ bytes: Buffer; rest?: undefined } | { rest: AsyncIterable<Uint8Array> }> {
  const it = body[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let len = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) return { bytes: Buffer.concat(parts, len) };
    // Body pieces are valid until the next is asked for.
    parts.push(Buffer.from(r.value));
    len += r.value.length;
    if (len > max) {
      return {
        rest: (async function* () {
          yield* parts.splice(0);
          for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
        })(),
      };
    }
  }
}

async function* once(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
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
