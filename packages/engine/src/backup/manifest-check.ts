/**
 * The check duplicity makes before an incremental (FORMAT.md §11.3): the last set's manifest in the
 * archive dir and the one on the backend must agree, or the chain the new set would extend is not
 * the chain the cache describes (a damaged or swapped remote set, or a stale archive dir), and an
 * incremental written on it could not be restored. Exit 5, as duplicity.
 *
 * What "agree" means is duplicity 0.8.22's observed rule, not a stricter one, so a backup.sh that
 * runs with duplicity runs here: Hostname and Localdir equal, and the same number of volumes
 * (a changed volume hash or index range passes). The remote copy is used only if it can be
 * decrypted: with the encryption key's secret half off the client it cannot, and duplicity logs
 * the failure and goes on.
 */
import { Manifest } from '@duplicity-ts/archive';
import type { BackupSet } from '../collection/backup-set.js';
import { fetchFile, readAll, userError, type ReadContext } from '../restore/remote-file.js';
import type { BackupLog } from './set-writer.js';

export const MANIFEST_MISMATCH =
  'Fatal Error: Remote manifest does not match local one.  Either the remote backup set or the local archive directory has been corrupted.';

/** Compares `local`, the archive dir's copy of `set`'s manifest, with the backend's. */
export async function checkLastManifest(ctx: ReadContext, set: BackupSet, local: Manifest, log: BackupLog): Promise<void> {
  const remote = set.remoteManifest;
  if (!remote) return;
  let theirs: Manifest;
  try {
    const f = await fetchFile(ctx, remote.name, remote.parsed);
    try {
      theirs = Manifest.parse(await readAll(f.plaintext()));
      await f.finish();
    } finally {
      await f.dispose();
    }
  } catch (err) {
    if (!cannotDecrypt(err)) throw err;
    log.warn(`Error processing remote manifest (${remote.name}): ${(err as Error).message}`);
    return;
  }
  const why = difference(local, theirs);
  if (why) {
    log.notice(`Manifests not equal because ${why}`);
    throw userError(MANIFEST_MISMATCH, 5);
  }
}

function difference(a: Manifest, b: Manifest): string | undefined {
  const sameDir = (a.localdir ?? Buffer.alloc(0)).equals(b.localdir ?? Buffer.alloc(0));
  if ((a.hostname ?? '') !== (b.hostname ?? '') || !sameDir) return 'hosts or directories differ';
  if (a.volumes.size !== b.volumes.size) return 'different volume numbers';
  return undefined;
}

/**
 * A gpg-level failure as fetchFile reports it, not a backend or disk error: exit 31 (wrong
 * passphrase, no secret key, bad MDC) or 30 (no PASSPHRASE at all, as in a public-key backup that
 * needs none).
 */
function cannotDecrypt(err: unknown): boolean {
  const code = (err as { exitCode?: number }).exitCode;
  return code === 31 || code === 30;
}
