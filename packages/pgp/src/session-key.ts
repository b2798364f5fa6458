/**
 * Session-key packets: SKESK v4 (passphrase, RFC 4880 §5.3) written and read here with our S2K and
 * node:crypto; PKESK v3 (public key, §5.1) through openpgp.js's packet class, which implements RSA, ElGamal and
 * ECDH (cv25519) session-key encryption so we do not hand-roll public-key encryption.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import * as openpgp from 'openpgp';
import { cipherInfo, type CipherInfo } from './cipher-algorithms.js';
import { deriveKey, encodeS2K, parseS2K, type S2K } from './s2k.js';
import type { KeyPacket } from './keyring.js';

export interface SessionKey { cipher: CipherInfo; key: Buffer }

export interface Skesk { cipher: number; s2k: S2K; esk?: Buffer }

export function parseSkesk(b: Buffer): Skesk {
  if (b[0] !== 4) throw new Error(`unsupported SKESK version ${b[0]} (only version 4 is read)`);
  const { s2k, size } = parseS2K(b, 2);
  const esk = b.subarray(2 + size);
  return { cipher: b[1]!, s2k, esk: esk.length ? esk : undefined };
}

/** The session key a SKESK yields for `passphrase` (unverified: the SEIPD quick check decides). */
export function skeskSessionKey(s: Skesk, passphrase: string): SessionKey | null {
  const kekCipher = cipherInfo(s.cipher);
  const kek = deriveKey(passphrase, s.s2k, kekCipher.keySize);
  if (!s.esk) return { cipher: kekCipher, key: kek };
  const d = createDecipheriv(kekCipher.cfb, kek, Buffer.alloc(kekCipher.blockSize));
  const plain = Buffer.concat([d.update(s.esk), d.final()]);
  let info: CipherInfo;
  try {
    info = cipherInfo(plain[0]!);
  } catch {
    return null;
  }
  if (plain.length - 1 !== info.keySize) return null;
  return { cipher: info, key: plain.subarray(1) };
}

/** gpg's S2K count (65,011,712 bytes). */
const S2K_COUNT = 65011712;
const writeSalts = new Map<string, Buffer>();

/**
 * A SKESK v4 carrying `session` encrypted under the passphrase. The salt is fixed per passphrase for the
 * process so the expensive S2K runs once per backup, while every message still gets its own session key.
 */
export function encodeSkesk(passphrase: string, session: SessionKey): Buffer {
  let salt = writeSalts.get(passphrase);
  if (!salt) {
    salt = randomBytes(8);
    writeSalts.set(passphrase, salt);
  }
  const s2k: S2K = { type: 3, hash: 2, salt, count: S2K_COUNT };
  const kek = deriveKey(passphrase, s2k, session.cipher.keySize);
  const c = createCipheriv(session.cipher.cfb, kek, Buffer.alloc(session.cipher.blockSize));
  const esk = Buffer.concat([c.update(Buffer.concat([Buffer.from([session.cipher.id]), session.key])), c.final()]);
  return Buffer.concat([Buffer.from([4, session.cipher.id]), encodeS2K(s2k), esk]);
}

type Pkesk = { publicKeyID: { toHex(): string }; publicKeyAlgorithm: number; sessionKey: Uint8Array; sessionKeyAlgorithm: number;
  read(b: Uint8Array): void; write(): Uint8Array; encrypt(k: unknown): Promise<void>; decrypt(k: unknown): Promise<void> };

export function parsePkesk(b: Buffer): Pkesk {
  const p = new openpgp.PublicKeyEncryptedSessionKeyPacket() as unknown as Pkesk;
  p.read(b);
  return p;
}

export async function pkeskSessionKey(p: Pkesk, secret: KeyPacket): Promise<SessionKey> {
  await p.decrypt(secret);
  return { cipher: cipherInfo(p.sessionKeyAlgorithm), key: Buffer.from(p.sessionKey) };
}

export async function encodePkesk(pub: KeyPacket, session: SessionKey, hidden: boolean): Promise<Buffer> {
  const Cls = openpgp.PublicKeyEncryptedSessionKeyPacket as unknown as {
    fromObject(o: { version: number; encryptionKeyPacket: unknown; anonymousRecipient: boolean; sessionKey: Uint8Array; sessionKeyAlgorithm: number }): Pkesk;
  };
  const p = Cls.fromObject({ version: 3, encryptionKeyPacket: pub, anonymousRecipient: hidden, sessionKey: session.key, sessionKeyAlgorithm: session.cipher.id });
  await p.encrypt(pub);
  return Buffer.from(p.write());
}
