// Signature parameters, their magic numbers (FORMAT.md §8.1) and the block/strong-length choices that
// duplicity (§7.1) and rdiff (§8.6) make.
import { RsyncError } from './errors.js';

export type StrongHash = 'md4' | 'blake2';
export type WeakSum = 'rollsum' | 'rabinkarp';
export interface SignatureParams {
  blockLen: number;
  strongLen: number;
  hash: StrongHash;
  weak: WeakSum;
}

export const DELTA_MAGIC = 0x72730236;
const SIGNATURE_MAGICS: Record<number, { hash: StrongHash; weak: WeakSum }> = {
  0x72730136: { hash: 'md4', weak: 'rollsum' },
  0x72730137: { hash: 'blake2', weak: 'rollsum' },
  0x72730146: { hash: 'md4', weak: 'rabinkarp' },
  0x72730147: { hash: 'blake2', weak: 'rabinkarp' },
};

/** Full digest length of each strong hash: MD4 16 bytes, BLAKE2b-256 32 bytes. */
export const STRONG_HASH_LEN: Record<StrongHash, number> = { md4: 16, blake2: 32 };

/** Largest block length accepted: a window must fit comfortably in 32-bit WebAssembly memory. */
export const MAX_BLOCK_LEN = 1 << 28;

export function signatureMagic(p: Pick<SignatureParams, 'hash' | 'weak'>): number {
  return 0x72730100 | (p.weak === 'rabinkarp' ? 0x40 : 0x30) | (p.hash === 'blake2' ? 7 : 6);
}

export function hashesOfMagic(magic: number): { hash: StrongHash; weak: WeakSum } | undefined {
  return SIGNATURE_MAGICS[magic];
}

/** Throws unless the parameters describe a signature librsync can read. */
export function checkParams(p: SignatureParams): void {
  if (p.hash !== 'md4' && p.hash !== 'blake2') throw new RsyncError('param', `unknown strong hash ${String(p.hash)}`);
  if (p.weak !== 'rollsum' && p.weak !== 'rabinkarp') throw new RsyncError('param', `unknown weak sum ${String(p.weak)}`);
  if (!Number.isInteger(p.blockLen) || p.blockLen < 1 || p.blockLen > MAX_BLOCK_LEN) {
    throw new RsyncError('param', `block length ${p.blockLen} is out of range 1..${MAX_BLOCK_LEN}`);
  }
  const max = STRONG_HASH_LEN[p.hash];
  if (!Number.isInteger(p.strongLen) || p.strongLen < 1 || p.strongLen > max) {
    throw new RsyncError('param', `strong sum length ${p.strongLen} is out of range 1..${max} for ${p.hash}`);
  }
}

/** Duplicity 0.8's choice (§7.1): MD4 + rollsum, 8-byte strong sums, block length from the file size. */
export function duplicitySignatureParams(fileSize: number, maxBlocksize = 2048): SignatureParams {
  let blockLen = 512;
  if (fileSize >= 1_024_000) blockLen = Math.min(Math.floor(fileSize / 1_024_000) * 512, maxBlocksize);
  return { blockLen, strongLen: 8, hash: 'md4', weak: 'rollsum' };
}

/** rdiff's block length for a basis of `fileSize` bytes, or 2048 when the size is unknown (§8.6). */
export function rdiffBlockLen(fileSize: number | undefined): number {
  if (fileSize === undefined) return 2048;
  if (fileSize <= 65536) return 256;
  return Math.max(128, Math.floor(Math.sqrt(fileSize) / 128) * 128);
}

/** librsync's recommended minimum strong length (`-S -1`, §8.6), capped at the hash length. */
export function minimumStrongLen(fileSize: number, blockLen: number, hash: StrongHash): number {
  const log2 = (x: number) => Math.floor(Math.log2(x));
  const len = 2 + Math.floor((log2(fileSize + 2 ** 24) + log2(Math.floor(fileSize / blockLen) + 1) + 7) / 8);
  return Math.min(len, STRONG_HASH_LEN[hash]);
}

/**
 * rdiff's parameters (§8.6): `blockLen` 0 picks from the size, `strongLen` 0 is the full hash and -1
 * the recommended minimum. Defaults are BLAKE2 + RabinKarp.
 */
export function rdiffSignatureParams(opts: {
  fileSize?: number;
  blockLen?: number;
  strongLen?: number;
  hash?: StrongHash;
  weak?: WeakSum;
}): SignatureParams {
  const hash = opts.hash ?? 'blake2';
  const weak = opts.weak ?? 'rabinkarp';
  const blockLen = opts.blockLen ? opts.blockLen : rdiffBlockLen(opts.fileSize);
  let strongLen = opts.strongLen ?? 0;
  if (strongLen === 0) strongLen = STRONG_HASH_LEN[hash];
  else if (strongLen === -1) {
    strongLen = opts.fileSize === undefined ? STRONG_HASH_LEN[hash] : minimumStrongLen(opts.fileSize, blockLen, hash);
  }
  const p = { blockLen, strongLen, hash, weak };
  checkParams(p);
  return p;
}
