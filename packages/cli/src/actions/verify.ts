/**
 * `duplicity-ts verify [--compare-data] URL LOCAL_DIR` and the seed's `--verify URL LOCAL_DIR`
 * (FORMAT.md §13.1): rebuild the backup at --time and walk it with the live tree (selection options
 * apply to the live side). Exit 1 when differences are found, 12 when LOCAL_DIR is missing.
 */
import { stat } from 'node:fs/promises';
import { parseTimeArg } from '@duplicity-ts/archive';
import {
  backupChainAt,
  canonicalRoot,
  collectionWarnings,
  lastFullBackupLine,
  restorePrefix,
  Selector,
  syncArchiveDir,
  verify,
  verifySummary,
  walkSource,
  type MetadataSyncMode,
} from '@duplicity-ts/engine';
import type { ActionContext } from '../context.js';
import { tuneJitForVolumeReading } from '../jit-tuning.js';
import { loadCollection, openSession, readContext, userError } from '../session.js';

export async function run(ctx: ActionContext): Promise<number> {
  if (ctx.args.length !== 2) throw userError(`verify takes two arguments, URL and LOCAL_DIR; got ${ctx.args.length}`, 2);
  const [url, localDir] = ctx.args;
  if (!url.includes('://')) throw userError(`verify needs the backend URL first: verify URL LOCAL_DIR (got '${url}')`, 2);
  let rootStat;
  try {
    rootStat = await stat(localDir);
  } catch {
    throw userError(`Verify directory ${localDir} does not exist`, 12);
  }
  const o = ctx.options;
  tuneJitForVolumeReading();
  const s = await openSession(ctx, url);
  try {
    const time = o.restoreTime !== undefined ? parseTimeArg(o.restoreTime, s.now) : s.now;
    const root = canonicalRoot(localDir);
    const selector = await Selector.create(o.selection, {
      root,
      rootDev: rootStat.dev,
      parseTime: (t) => parseTimeArg(t, s.now),
      nullSeparator: o.nullSeparator,
    });
    const rc = readContext(s);
    let col = await loadCollection(s);
    if (await syncArchiveDir(rc, col, time, (o.metadataSyncMode as MetadataSyncMode) ?? 'partial')) col = await loadCollection(s);
    for (const w of collectionWarnings(col)) s.log.warn(w);
    s.log.notice(lastFullBackupLine(col));
    const result = await verify(rc, {
      sets: backupChainAt(col, time).setsAt(time),
      prefix: restorePrefix(o.fileToRestore),
      local: walkSource(localDir, {
        selector,
        matchRoot: root,
        followLinks: o.copyLinks,
        onError: (p, err) => s.log.warn(`Error accessing ${p.toString()}: ${err.message}`),
      }),
      compareData: !!o.compareData,
      numericOwner: o.numericOwner,
      report: (line) => s.log.notice(line),
    });
    s.log.notice(verifySummary(result));
    return result.differences > 0 ? 1 : 0;
  } finally {
    await s.close();
  }
}
