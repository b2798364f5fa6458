/**
 * Session-key packets: SKESK v4 (passphrase, RFC 4880 §5.3) written and read here with our S2K and node:crypto,
 * SKESK v5/v6 (AEAD, gpg 2.4 / RFC 9580) read; PKESK v3/v6 (public key, §5.1) through openpgp.js's packet class,
 * which implements RSA, ElGamal and ECDH (cv25519) session-key encryption so we do not hand-roll public-key
 * encryption. The one exception is decrypting an RSA v3 PKESK, the restore's common case: OpenSSL does the RSA
 * (key-material.ts's rsaDecryptBlock) and rsaSessionKey below removes the padding, because openpgp.js can only
 * fall back to BigInt arithmetic under node 20.
 */
import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { openpgpModule } from './openpgp-module.js';
import { cipherInfo, openCipher, type CipherInfo } from './cipher-algorithms.js';
import { deriveKey, encodeS2K, parseS2K, type S2K } from './s2k.js';
import type { KeyPacket } from './keyring.js';
import { isRsa, rsaDecryptBlock } from './key-material.js';
import { AEAD_TAG, aeadMode, aeadOpen } from './aead-modes.js';

/** A session key; `cipher` is unknown for v6 PKESK and v5/v6 SKESK, whose data packet names it instead. */
export interface SessionKey { cipher?: CipherInfo; key: Buffer }

/**
 * A SKESK: version 4 (RFC 4880: CFB-encrypted session key, or the S2K output itself), version 5 (LibrePGP, gpg
 * 2.4 with AEAD: the session key AEAD-encrypted under the S2K output) or version 6 (RFC 9580: the same under an
 * HKDF of the S2K output).
 */
export interface Skesk { version: number; cipher: number; s2k: S2K; esk?: Buffer; aead?: number; iv?: Buffer }

export function parseSkesk(b: Buffer): Skesk {
  const version = b[0]!;
  if (version === 4) {
    const { s2k, size } = parseS2K(b, 2);
    const esk = b.subarray(2 + size);
    return { version, cipher: b[1]!, s2k, esk: esk.length ? esk : undefined };
  }
  if (version === 5 || version === 6) {
    // v6 adds octet counts (of the following fields, and of the S2K) that v5 lacks.
    let off = version === 6 ? 2 : 1;
    const cipher = b[off++]!;
    const aead = b[off++]!;
    if (version === 6) off++;
    const { s2k, size } = parseS2K(b, off);
    off += size;
    const mode = aeadMode(aead);
    const iv = b.subarray(off, off + mode.nonceLength);
    const esk = b.subarray(off + mode.nonceLength);
    if (iv.length !== mode.nonceLength || esk.length <= AEAD_TAG) throw new Error(`truncated version ${version} SKESK`);
    return { version, cipher, s2k, aead, iv, esk };
  }
  throw new Error(`unsupported SKESK version ${version}`);
}

/**
 * The session key a SKESK yields for `passphrase`, or null when the passphrase does not fit. v4 keys are
 * unverified (the SEIPD quick check decides); v5/v6 keys are authenticated by their AEAD tag.
 */
export function skeskSessionKey(s: Skesk, passphrase: string): SessionKey | null {
  const kekCipher = cipherInfo(s.cipher);
  const kek = deriveKey(passphrase, s.s2k, kekCipher.keySize);
  if (s.version !== 4) {
    const ad = Buffer.from([0xc3, s.version, s.cipher, s.aead!]);
    const k = s.version === 6 ? Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), ad, kekCipher.keySize)) : kek;
    const key = aeadOpen(s.aead!, kekCipher, k, s.iv!, ad, s.esk!);
    return key ? { key } : null;
  }
  if (!s.esk) return { cipher: kekCipher, key: kek };
  const d = openCipher(kekCipher, 'cfb', kek, Buffer.alloc(kekCipher.blockSize), true);
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
export function encodeSkesk(passphrase: string, session: Required<SessionKey>): Buffer {
  let salt = writeSalts.get(passphrase);
  if (!salt) {
    salt = randomBytes(8);
    writeSalts.set(passphrase, salt);
  }
  const s2k: S2K = { type: 3, hash: 2, salt, count: S2K_COUNT };
  const kek = deriveKey(passphrase, s2k, session.cipher.keySize);
  const { cipher } = session;
  const c = createCipheriv(cipher.cfb, kek, Buffer.alloc(cipher.blockSize));
  const esk = Buffer.concat([c.update(Buffer.concat([Buffer.from([cipher.id]), session.key])), c.final()]);
  return Buffer.concat([Buffer.from([4, cipher.id]), encodeS2K(s2k), esk]);
}

export type Pkesk = { version: number; publicKeyID: { toHex(): string }; publicKeyAlgorithm: number; sessionKey: Uint8Array; sessionKeyAlgorithm: number;
  encrypted?: { c?: Uint8Array };
  read(b: Uint8Array): void; write(): Uint8Array; encrypt(k: unknown): Promise<void>; decrypt(k: unknown): Promise<void> };

export async function parsePkesk(b: Buffer): Promise<Pkesk> {
  const openpgp = await openpgpModule();
  const p = new openpgp.PublicKeyEncryptedSessionKeyPacket() as unknown as Pkesk;
  p.read(b);
  return p;
}

export async function pkeskSessionKey(p: Pkesk, secret: KeyPacket): Promise<SessionKey> {
  if (p.version === 3 && isRsa(secret) && p.publicKeyAlgorithm === secret.algorithm && p.encrypted?.c) {
    return rsaSessionKey(rsaDecryptBlock(secret, p.encrypted.c));
  }
  await p.decrypt(secret);
  // v6 PKESKs carry no cipher id: the SEIPD v2 packet names it.
  const cipher = p.sessionKeyAlgorithm ? cipherInfo(p.sessionKeyAlgorithm) : undefined;
  return { cipher, key: Buffer.from(p.sessionKey) };
}

/**
 * The session key in an RSA-decrypted v3 PKESK block (RFC 4880 §5.1, §13.1.2): 00 02, at least eight nonzero
 * padding octets, 00, then the cipher id, the key and its two-octet checksum. Every way this can be wrong gives
 * the same error, as openpgp.js's decoding does, so a forged packet learns nothing from the message.
 */
function rsaSessionKey(em: Buffer): SessionKey {
  let sep = 0;
  for (let i = 2; i < em.length; i++) if (em[i] === 0) { sep = i; break; }
  const m = em.subarray(sep + 1);
  const key = m.subarray(1, Math.max(1, m.length - 2));
  let sum = 0;
  for (const b of key) sum = (sum + b) & 0xffff;
  if (!(em[0] === 0 && em[1] === 2 && sep >= 10 && m.length >= 4 && sum === m.readUInt16BE(m.length - 2))) throw new Error('Decryption error');
  // A well-formed key for a cipher we lack: say which (cipherInfo's error), as when openpgp.js decoded it.
  const cipher = cipherInfo(m[0]!);
  if (key.length !== cipher.keySize) throw new Error('Decryption error');
  return { cipher, key: Buffer.from(key) };
}

export async function encodePkesk(pub: KeyPacket, session: Required<SessionKey>, hidden: boolean): Promise<Buffer> {
  const openpgp = await openpgpModule();
  const Cls = openpgp.PublicKeyEncryptedSessionKeyPacket as unknown as {
    fromObject(o: { version: number; encryptionKeyPacket: unknown; anonymousRecipient: boolean; sessionKey: Uint8Array; sessionKeyAlgorithm: number }): Pkesk;
  };
  const p = Cls.fromObject({ version: 3, encryptionKeyPacket: pub, anonymousRecipient: hidden, sessionKey: session.key, sessionKeyAlgorithm: session.cipher.id });
  await p.encrypt(pub);
  return Buffer.from(p.write());
}
