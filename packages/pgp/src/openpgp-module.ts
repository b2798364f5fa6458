/**
 * openpgp.js, loaded on first use. Its 1.2 MB module takes ~100 ms to load, and what needs it (certificates,
 * secret key packets, public-key session keys) is not needed by a passphrase-only run, nor by the restore's
 * decryption worker, which is handed session keys rather than keys.
 */
import type * as Openpgp from 'openpgp';

let loaded: Promise<typeof Openpgp> | undefined;

export function openpgpModule(): Promise<typeof Openpgp> {
  return (loaded ??= import('openpgp'));
}
