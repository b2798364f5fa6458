/**
 * `duplicity-ts collection-status URL` (FORMAT.md §13.3): the chains, sets and leftovers at the
 * backend, as duplicity prints them; with --file-changed PATH, duplicity's file history block
 * instead. Reads no file contents and never syncs the archive dir.
 */
import { collectionStatusReport, collectionWarnings, fileChangedReport, lastFullBackupLine } from '@duplicity-ts/engine';
import type { ActionContext } from '../context.js';
import { loadCollection, openSession, singleUrlArg } from '../session.js';

export async function run(ctx: ActionContext): Promise<number> {
  const s = await openSession(ctx, singleUrlArg(ctx));
  try {
    const col = await loadCollection(s);
    for (const w of collectionWarnings(col)) s.log.warn(w);
    s.log.notice(lastFullBackupLine(col));
    if (ctx.options.fileChanged !== undefined) {
      const lines = fileChangedReport(col, ctx.options.fileChanged);
      if (lines.length) s.log.notice(lines.join('\n'));
    } else s.log.notice(collectionStatusReport(col, s.archiveDir).join('\n'));
    return 0;
  } finally {
    await s.close();
  }
}
