/**
 * OpenPGP AEAD algorithms (RFC 9580 §9.6) on node:crypto: OCB (2, what gpg 2.4 writes) and GCM (3, openpgp.js's
 * default). EAX (1) has no node:crypto cipher and is refused by name. Tags are 16 bytes for all of them.
 */
import { createDecipheriv } from 'node:crypto';
import type { CipherInfo } from './cipher-algorithms.js';

export const AEAD_TAG = 16;
export const AEAD_EAX = 1;
export const AEAD_OCB = 2;
export const AEAD_GCM = 3;

export interface AeadMode { id: number; name: string; nonceLength: number; node?: 'ocb' | 'gcm' }

const MODES: Record<number, AeadMode> = {
  [AEAD_EAX]: { id: AEAD_EAX, name: 'EAX', nonceLength: 16 },
  [AEAD_OCB]: { id: AEAD_OCB, name: 'OCB', nonceLength: 15, node: 'ocb' },
  [AEAD_GCM]: { id: AEAD_GCM, name: 'GCM', nonceLength: 12, node: 'gcm' },
};

export function aeadMode(id: number): AeadMode {
  const m = MODES[id];
  if (!m) throw new Error(`unsupported AEAD algorithm ${id}`);
  return m;
}

/** The node:crypto cipher name for `cipher` in AEAD mode `id`; only AES has OCB and GCM there. */
export function aeadCipherName(id: number, cipher: CipherInfo): string {
  const m = aeadMode(id);
  if (!m.node) throw new Error(`AEAD algorithm ${m.name} is not supported (only OCB and GCM)`);
  if (!/^AES(128|192|256)$/.test(cipher.name)) throw new Error(`AEAD with cipher ${cipher.name} is not supported (only AES)`);
  return `aes-${cipher.keySize * 8}-${m.node}`;
}

/** Decrypts and authenticates `sealed` (ciphertext || 16-byte tag); null when the tag does not match. */
export function aeadOpen(id: number, cipher: CipherInfo, key: Buffer, nonce: Buffer, ad: Buffer, sealed: Buffer): Buffer | null {
  if (sealed.length < AEAD_TAG) return null;
  const d = createDecipheriv(aeadCipherName(id, cipher) as 'aes-128-gcm', key, nonce, { authTagLength: AEAD_TAG });
  d.setAAD(ad);
  d.setAuthTag(sealed.subarray(sealed.length - AEAD_TAG));
  const head = d.update(sealed.subarray(0, sealed.length - AEAD_TAG));
  let tail: Buffer;
  try {
    // OCB holds back a trailing partial block until final().
    tail = d.final();
  } catch {
    return null;
  }
  return tail.length ? Buffer.concat([head, tail]) : head;
}
