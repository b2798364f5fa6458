/**
 * OpenPGP symmetric algorithm ids (RFC 4880 §9.2) mapped to node:crypto CFB ciphers. The data path uses
 * node:crypto (AES-NI) instead of openpgp.js's JavaScript ciphers for speed.
 */
export interface CipherInfo { id: number; name: string; keySize: number; blockSize: number; cfb: string }

const CIPHERS: CipherInfo[] = [
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

export function cipherInfo(id: number): CipherInfo {
  const c = CIPHERS.find((x) => x.id === id);
  if (!c) throw new Error(`unsupported cipher algorithm ${id}`);
  return c;
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
  const h = HASHES[id];
  if (!h) throw new Error(`unsupported hash algorithm ${id}`);
  return h.node;
}
