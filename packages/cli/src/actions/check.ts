/**
 * `duplicity-ts check [--server-hashes] [--sign-key K] URL` (duplicity-ts's own command): checks the
 * whole archive at URL without a live tree (engine integrity/check.ts): every volume fetched,
 * hash-checked, decrypted (signer enforced with --sign-key) and every delta applied through its
 * chain; signature files compared with the data. `--server-hashes` checks only the volume hashes,
 * on the server (sha1sum over SSH), downloading nothing. Reads the backend only; the cache is left
 * as it is. Exit 0 when all is well, else the exit code of the first problem (21 hash mismatch,
 * 22 wrong signer, 31 decryption, 53 missing, 6 manifest...).
 */
import { checkArchive, collectionWarnings, lastFullBackupLine } from '@duplicity-ts/engine';
import type { ActionContext } from '../context.js';
import { loadCollection, openSession, readContext, singleUrlArg, userError } from '../session.js';

export async function run(ctx: ActionContext): Promise<number> {
  const s = await openSession(ctx, singleUrlArg(ctx));
  try {
    const backend = s.backend;
    if (ctx.options.serverHashes && !backend.sha1) {
      throw userError(`--server-hashes needs a backend that can hash files on the server (sftp:// or scp://), not ${s.url.split('://')[0]}://`, 2);
    }
    const col = await loadCollection(s);
    for (const w of collectionWarnings(col)) s.log.warn(w);
    s.log.notice(lastFullBackupLine(col));
    if (col.chains.length === 0 && col.incompleteSets.length === 0) throw userError('No backup chains found at the backend: nothing to check', 30);
    const result = await checkArchive(readContext(s), col, {
      serverSha1: ctx.options.serverHashes ? (names) => backend.sha1!(names) : undefined,
      info: (m) => s.log.info(m),
      onProblem: (p) => s.log.error(`DAMAGED ${p.file}: ${p.cause}; affects ${p.affects}`),
    });
    const what = ctx.options.serverHashes ? 'volume hashes checked on the server' : 'volumes read';
    s.log.notice(
      `Check complete: ${result.chains} chain(s), ${result.sets} set(s), ${result.volumes} ${what}, ${result.items} item(s) rebuilt; ` +
        `${result.problems.length === 0 ? 'no problems found.' : `${result.problems.length} problem(s) found.`}`,
    );
    return result.problems.length ? result.problems[0].exitCode : 0;
  } finally {
    await s.close();
  }
}
