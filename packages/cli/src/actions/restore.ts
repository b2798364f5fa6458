/**
 * `duplicity-ts restore [options] URL TARGET` (FORMAT.md §11.4-11.5): sync the archive dir, then
 * restore the state at --time (default now) into TARGET, or one path of it with --file-to-restore.
 */
import { parseTimeArg } from '@duplicity-ts/archive';
import { restore } from '@duplicity-ts/engine';
import type { ActionContext } from '../context.js';
import { tuneJitForVolumeReading } from '../jit-tuning.js';
import { openSession, readContext, syncedCollection, userError } from '../session.js';

export async function run(ctx: ActionContext): Promise<number> {
  if (ctx.args.length !== 2) throw userError(`restore takes two arguments, URL and TARGET; got ${ctx.args.length}`, 2);
  const [url, target] = ctx.args;
  if (!url.includes('://')) throw userError(`restore needs the backend URL first: restore URL TARGET (got '${url}')`, 2);
  tuneJitForVolumeReading();
  const s = await openSession(ctx, url);
  try {
    const time = ctx.options.restoreTime !== undefined ? parseTimeArg(ctx.options.restoreTime, s.now) : s.now;
    const rc = readContext(s);
    const col = await syncedCollection(s, rc, time, ctx.options.metadataSyncMode);
    await restore(rc, col, {
      time,
      target,
      fileToRestore: ctx.options.fileToRestore,
      rename: ctx.options.rename,
      force: ctx.options.force,
      numericOwner: ctx.options.numericOwner,
      restoreOwnership: process.getuid?.() === 0 && !ctx.options.doNotRestoreOwnership,
      ignoreErrors: ctx.options.ignoreErrors,
    });
    return 0;
  } finally {
    await s.close();
  }
}
