/**
 * `cleanup`, `remove-older-than T`, `remove-all-but-n-full N` and `remove-all-inc-of-but-n-full N`
 * (FORMAT.md §11.11): list what would go, or delete it with --force. The remove-* commands read the
 * collection as it is (no cache sync, as duplicity); cleanup syncs the cache first and always
 * removes a partial set left by a dead run (§11.9).
 */
import { parseTimeArg } from '@duplicity-ts/archive';
import {
  collectionWarnings,
  deletePartialSet,
  executeCleanup,
  executeRemoval,
  lastFullBackupLine,
  nthNewestFullTime,
  partialLastSet,
  planCleanup,
  planRemoval,
  syncArchiveDir,
  type DeletionTarget,
  type MetadataSyncMode,
} from '@duplicity-ts/engine';
import type { ActionContext } from '../context.js';
import { loadCollection, openSession, readContext, singleUrlArg, userError } from '../session.js';

function countArg(ctx: ActionContext): number {
  const v = ctx.actionArg ?? '';
  if (!/^\d+$/.test(v) || Number(v) < 1) throw userError(`${ctx.action} count must be > 0, got '${v}'`, 2);
  return Number(v);
}

export async function run(ctx: ActionContext): Promise<number> {
  const url = singleUrlArg(ctx);
  // Bad arguments fail before anything is opened.
  const count = ctx.action === 'remove-all-but-n-full' || ctx.action === 'remove-all-inc-of-but-n-full' ? countArg(ctx) : undefined;
  const s = await openSession(ctx, url);
  try {
    const target: DeletionTarget = { backend: s.backend, archiveDir: s.archiveDir, log: s.log };
    const force = !!ctx.options.force;
    let col = await loadCollection(s);
    if (ctx.action === 'cleanup') {
      const rc = readContext(s);
      if (await syncArchiveDir(rc, col, s.now, (ctx.options.metadataSyncMode as MetadataSyncMode) ?? 'partial')) col = await loadCollection(s);
      const partial = partialLastSet(col);
      if (partial) {
        s.log.notice('Cleaning up previous partial cleanup backup set, restarting.');
        await deletePartialSet(target, col, partial);
        col = await loadCollection(s);
      }
      for (const w of collectionWarnings(col)) s.log.warn(w);
      s.log.notice(lastFullBackupLine(col));
      await executeCleanup(target, planCleanup(col), force);
      return 0;
    }
    for (const w of collectionWarnings(col)) s.log.warn(w);
    s.log.notice(lastFullBackupLine(col));
    let time: number;
    if (ctx.action === 'remove-older-than') {
      try {
        time = parseTimeArg(ctx.actionArg!, s.now);
      } catch (err) {
        throw userError(`bad time for remove-older-than '${ctx.actionArg}': ${(err as Error).message}`, 2);
      }
    } else time = nthNewestFullTime(col, count!);
    const plan = planRemoval(col, time, ctx.action === 'remove-all-inc-of-but-n-full' ? 'inc-only' : 'older-than');
    const localNames = new Set(col.localFiles.map((f) => f.name));
    await executeRemoval(target, plan, localNames, force);
    return 0;
  } finally {
    await s.close();
  }
}
