/**
 * `duplicity-ts list-current-files [--time T] URL` (FORMAT.md §13.2): sync the archive dir, then
 * print every entry of the combined signature chain at T as `<asctime(mtime)> <path>`.
 */
import { once } from 'node:events';
import { parseTimeArg } from '@duplicity-ts/archive';
import { listCurrentFiles } from '@duplicity-ts/engine';
import type { ActionContext } from '../context.js';
import { openSession, readContext, singleUrlArg, syncedCollection } from '../session.js';

export async function run(ctx: ActionContext): Promise<number> {
  const s = await openSession(ctx, singleUrlArg(ctx));
  try {
    const time = ctx.options.restoreTime !== undefined ? parseTimeArg(ctx.options.restoreTime, s.now) : s.now;
    const rc = readContext(s);
    const col = await syncedCollection(s, rc, time, ctx.options.metadataSyncMode);
    for await (const line of listCurrentFiles(rc, col, time)) {
      if (!ctx.stdout.write(Buffer.concat([line, Buffer.from('\n')]))) await once(ctx.stdout, 'drain');
    }
    return 0;
  } finally {
    await s.close();
  }
}
