/**
 * `duplicity-ts collection-status URL` (FORMAT.md §13.3): the chains, sets and leftovers at the
 * backend, as duplicity prints them; with --file-changed PATH, duplicity's file history block, and
 * with --show-changes-in-set N, the files set N changed, instead. Reads no file contents, never
 * syncs the archive dir and never downloads a manifest: the histories come from the archive dir's
 * manifests, as duplicity's do (an empty cache gives empty histories there too).
 */
import {
  collectionStatusReport,
  collectionWarnings,
  fileChangedReport,
  lastFullBackupLine,
  readCachedManifest,
  setChangesReport,
} from '@duplicity-ts/engine';
import type { ActionContext } from '../context.js';
import { loadCollection, openSession, singleUrlArg } from '../session.js';

export async function run(ctx: ActionContext): Promise<number> {
  const s = await openSession(ctx, singleUrlArg(ctx));
  try {
    const col = await loadCollection(s);
    for (const w of collectionWarnings(col)) s.log.warn(w);
    s.log.notice(lastFullBackupLine(col));
    const manifestOf = (set: Parameters<typeof readCachedManifest>[1]) => readCachedManifest(s.archiveDir, set);
    if (ctx.options.fileChanged !== undefined || ctx.options.showChangesInSet !== undefined) {
      const lines =
        ctx.options.fileChanged !== undefined
          ? fileChangedReport(col, ctx.options.fileChanged, manifestOf)
          : setChangesReport(col, ctx.options.showChangesInSet!, manifestOf);
      if (lines.length) s.log.notice(lines.join('\n'));
    } else s.log.notice(collectionStatusReport(col, s.archiveDir).join('\n'));
    return 0;
  } finally {
    await s.close();
  }
}
