/**
 * The secret part of OpenPGP secret key packets (RFC 4880 §5.5.3): armored key files, secring.gpg and keys gpg
 * imported but its agent has not converted yet (`openpgp-native`). gpg protects them with an iterated+salted S2K of
 * 65,011,712 bytes; decrypting here with s2k.ts (node:crypto, cached) and node:crypto CFB avoids openpgp.js building
 * the whole 65 MB S2K input in memory and decrypting in JavaScript on every first unlock of a process. The cleared
 * key is handed back to openpgp.js as an unprotected packet, which it parses into the key parameters it and
 * key-material.ts use. Protections this module does not decrypt (AEAD usage 253, Argon2, v5/v6 keys) are left
 * to openpgp.js.
 */
import { createHash } from 'node:crypto';
import { openpgpModule } from './openpgp-module.js';
import { cipherInfo, openCipher } from './cipher-algorithms.js';
import { deriveKey, parseS2K, type S2K } from './s2k.js';
import { OPENPGP_CONFIG } from './openpgp-config.js';

export class SecretKeyChecksumError extends Error {}

/** Parses a secret key or secret subkey packet body with openpgp.js. */
export async function readSecretPacket<T>(primary: boolean, body: Uint8Array): Promise<T> {
  const openpgp = await openpgpModule();
  const pkt = (primary ? new openpgp.SecretKeyPacket() : new openpgp.SecretSubkeyPacket()) as unknown as { read(b: Uint8Array, c: unknown): Promise<void> };
  await pkt.read(body, OPENPGP_CONFIG);
  return pkt as unknown as T;
}

/** Sum of the bytes modulo 65536, the checksum of unprotected and usage-255 secret key material. */
function checksum16(b: Uint8Array): number {
  let sum = 0;
  for (const x of b) sum = (sum + x) & 0xffff;
  return sum;
}

/** The unprotected packet body: public part, usage 0, the secret MPIs and their checksum. */
export function clearSecretBody(publicBody: Uint8Array, secretMpis: Uint8Array): Buffer {
  const sum = checksum16(secretMpis);
  return Buffer.concat([publicBody, Buffer.from([0]), secretMpis, Buffer.from([sum >> 8, sum & 0xff])]);
}

interface Protection { cipher: number; s2k: S2K; iv: Buffer; encrypted: Buffer; usage: number }

/** The protection fields after the public part of a v4 packet, or undefined when not handled here. */
function parseProtection(secret: Buffer): Protection | undefined {
  const usage = secret[0]!;
  if (usage === 254 || usage === 255) {
    const cipher = secret[1]!;
    let parsed;
    try {
      parsed = parseS2K(secret, 2);
    } catch {
      return undefined; // GnuPG dummy, Argon2, ...
    }
    const bs = cipherInfo(cipher).blockSize;
    const at = 2 + parsed.size;
    return { usage, cipher, s2k: parsed.s2k, iv: secret.subarray(at, at + bs), encrypted: secret.subarray(at + bs) };
  }
  if (usage !== 0 && usage !== 253) {
    // Very old keys: the usage octet is the cipher, the key is MD5 of the passphrase; the checksum is 16-bit.
    const bs = cipherInfo(usage).blockSize;
    return { usage: 255, cipher: usage, s2k: { type: 0, hash: 1 }, iv: secret.subarray(1, 1 + bs), encrypted: secret.subarray(1 + bs) };
  }
  return undefined;
}

/**
 * Decrypts the protected secret part (what follows the public part) of a version 4 secret key packet with `passphrase`. Returns the secret MPIs,
 * `undefined` when the packet uses a protection left to openpgp.js, and throws SecretKeyChecksumError when the
 * passphrase does not fit (the SHA-1 or checksum over the decrypted data fails).
 */
export function decryptSecretMpis(secretPart: Buffer, passphrase: string): Buffer | undefined {
  let p: Protection | undefined;
  try {
    p = parseProtection(secretPart);
  } catch {
    return undefined; // unknown cipher id: openpgp.js will report it
  }
  if (!p) return undefined;
  const info = cipherInfo(p.cipher);
  if (p.iv.length !== info.blockSize) throw new Error('truncated secret key packet');
  const key = deriveKey(passphrase, p.s2k, info.keySize);
  // v4 keys encrypt all secret MPIs and the check value as one CFB stream.
  const d = openCipher(info, 'cfb', key, p.iv, true);
  const plain = Buffer.concat([d.update(p.encrypted), d.final()]);
  if (p.usage === 254) {
    if (plain.length < 20) throw new SecretKeyChecksumError('secret key data too short');
    const mpis = plain.subarray(0, plain.length - 20);
    if (!createHash('sha1').update(mpis).digest().equals(plain.subarray(plain.length - 20))) {
      throw new SecretKeyChecksumError('secret key SHA-1 check failed');
    }
    return mpis;
  }
  if (plain.length < 2) throw new SecretKeyChecksumError('secret key data too short');
  const mpis = plain.subarray(0, plain.length - 2);
  if (checksum16(mpis) !== plain.readUInt16BE(plain.length - 2)) throw new SecretKeyChecksumError('secret key checksum failed');
  return mpis;
}
