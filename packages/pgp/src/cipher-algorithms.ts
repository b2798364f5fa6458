/**
 * OpenPGP symmetric algorithm ids (RFC 4880 §9.2) mapped to node:crypto CFB ciphers. The data path uses
 * node:crypto (AES-NI) instead of openpgp.js's JavaScript ciphers for speed.
 *
 * IDEA, CAST5 and Blowfish live in OpenSSL 3's legacy provider, which Node loads only when started with
 * --openssl-legacy-provider (the duplicity-ts command's launcher passes it). They matter for archives made with
 * `--gpg-options "--cipher-algo CAST5"` and for secret keys protected by old GnuPG versions. Twofish is in
 * no OpenSSL provider and stays unsupported.
 */
import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
import { PgpError } from './errors.js';

export interface CipherInfo { id: number; name: string; keySize: number; blockSize: number; cfb: string }

const CIPHERS: CipherInfo[] = [
  { id: 1, name: 'IDEA', keySize: 16, blockSize: 8, cfb: 'idea-cfb' },
  { id: 2, name: '3DES', keySize: 24, blockSize: 8, cfb: 'des-ede3-cfb' },
  { id: 3, name: 'CAST5', keySize: 16, blockSize: 8, cfb: 'cast5-cfb' },
  { id: 4, name: 'BLOWFISH', keySize: 16, blockSize: 8, cfb: 'bf-cfb' },
  { id: 7, name: 'AES128', keySize: 16, blockSize: 16, cfb: 'aes-128-cfb' },
  { id: 8, name: 'AES192', keySize: 24, blockSize: 16, cfb: 'aes-192-cfb' },
  { id: 9, name: 'AES256', keySize: 32, blockSize: 16, cfb: 'aes-256-cfb' },
  { id: 11, name: 'CAMELLIA128', keySize: 16, blockSize: 16, cfb: 'camellia-128-cfb' },
  { id: 12, name: 'CAMELLIA192', keySize: 24, blockSize: 16, cfb: 'camellia-192-cfb' },
  { id: 13, name: 'CAMELLIA256', keySize: 32, blockSize: 16, cfb: 'camellia-256-cfb' },
];

export const AES256 = 9;

/** Names of the RFC 4880 ids we know but cannot run, for the error message. */
const UNSUPPORTED: Record<number, string> = { 10: 'TWOFISH' };

export function cipherInfo(id: number): CipherInfo {
  const c = CIPHERS.find((x) => x.id === id);
  if (!c) throw new Error(`unsupported cipher algorithm ${id}${UNSUPPORTED[id] ? ` (${UNSUPPORTED[id]})` : ''}`);
  return c;
}

/**
 * node:crypto's cipher for `info` in CFB (or ECB, for the ECB-plus-XOR decryptor) mode. OpenSSL reports a legacy
 * cipher without its provider as "digital envelope routines::unsupported"; this says which cipher and what to do.
 */
export function openCipher(info: CipherInfo, mode: 'cfb' | 'ecb', key: Uint8Array, iv: Uint8Array | null, decrypt: boolean): Cipher | Decipher {
  const name = mode === 'ecb' ? ecbName(info) : info.cfb;
  try {
    return decrypt ? createDecipheriv(name, key, iv) : createCipheriv(name, key, iv);
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_OSSL_EVP_UNSUPPORTED') {
      throw new PgpError(`cipher ${info.name} needs OpenSSL's legacy provider: run the duplicity-ts command, or node with --openssl-legacy-provider`, undefined, { cause: err });
    }
    throw err;
  }
}

/** OpenSSL's name of `info` in ECB mode, for CFB decryption computed as ECB plus XOR. */
export function ecbName(info: CipherInfo): string {
  return info.cfb.replace(/-cfb$/, '-ecb');
}

/** Hash algorithm ids (RFC 4880 §9.4) to node:crypto names. */
const HASHES: Record<number, { node: string; size: number }> = {
  1: { node: 'md5', size: 16 },
  2: { node: 'sha1', size: 20 },
  3: { node: 'ripemd160', size: 20 },
  8: { node: 'sha256', size: 32 },
  9: { node: 'sha384', size: 48 },
  10: { node: 'sha512', size: 64 },
  11: { node: 'sha224', size: 28 },
};

export function hashName(id: number): string {
  return hashInfo(id).node;
}

/** The digest length of hash `id`, in bytes. */
export function hashSize(id: number): number {
  return hashInfo(id).size;
}

function hashInfo(id: number): { node: string; size: number } {
  const h = HASHES[id];
  if (!h) throw new Error(`unsupported hash algorithm ${id}`);
  return h;
}
