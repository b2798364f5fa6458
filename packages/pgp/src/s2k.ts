/**
 * String-to-key specifiers (RFC 4880 §3.7). gpg 2.2 uses iterated+salted SHA-1 with 65,011,712 bytes per
 * derivation; written here with node:crypto hashing big repeated blocks, because openpgp.js's S2K is not exported
 * and we need the derived key itself for SKESK and for gpg-agent's key protection. Derived keys are cached per
 * (passphrase, spec) so a restore of many volumes or a backup of many volumes pays once per distinct salt.
 */
import { createHash } from 'node:crypto';
import { poolDigest, poolDigestAvailable } from '@duplicity-ts/libdeflate';
import { hashName } from './cipher-algorithms.js';

export interface S2K { type: 0 | 1 | 3; hash: number; salt?: Buffer; count?: number }

export function decodeCount(c: number): number {
  return (16 + (c & 15)) << ((c >> 4) + 6);
}

/** Parses an S2K specifier at `off`; returns it and the bytes consumed. */
export function parseS2K(b: Buffer, off: number): { s2k: S2K; size: number } {
  const type = b[off];
  const hash = b[off + 1]!;
  if (type === 0) return { s2k: { type: 0, hash }, size: 2 };
  if (type === 1) return { s2k: { type: 1, hash, salt: b.subarray(off + 2, off + 10) }, size: 10 };
  if (type === 3) return { s2k: { type: 3, hash, salt: b.subarray(off + 2, off + 10), count: decodeCount(b[off + 10]!) }, size: 11 };
  if (type === 101) throw new Error('GnuPG dummy S2K (secret key stored on a smartcard or stripped)');
  throw new Error(`unsupported S2K type ${type}`);
}

export function encodeS2K(s: S2K): Buffer {
  if (s.type !== 3 || !s.salt || s.count === undefined) throw new Error('only iterated+salted S2K is written');
  let c = 0;
  while (c < 255 && decodeCount(c) < s.count) c++;
  return Buffer.concat([Buffer.from([3, s.hash]), s.salt, Buffer.from([c])]);
}

/** Derived hash outputs per (passphrase, S2K spec); a longer key later extends the same entry. */
const cache = new Map<string, Buffer[]>();
const CACHE_MAX = 64;
/** Bytes per update() call: big enough that call overhead vanishes against hashing, small enough for the L2 cache. */
const BLOCK = 1 << 16;

/** The cache entry of (passphrase, spec), made empty if missing. */
function cached(passphrase: string, s: S2K): Buffer[] {
  // The passphrase is kept in the key only as a digest, so the cache holds no passphrase in clear.
  const cacheKey = createHash('sha256')
    .update(JSON.stringify([passphrase, s.type, s.hash, s.salt?.toString('hex') ?? '', s.count ?? 0]))
    .digest('hex');
  let digests = cache.get(cacheKey);
  if (!digests) {
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    digests = [];
    cache.set(cacheKey, digests);
  }
  return digests;
}

/** What one derivation hashes: `count` bytes of repeated salt||passphrase, in whole `block`s and a rest. */
function material(passphrase: string, s: S2K, blockSize: number): { block: Buffer; count: number } {
  const pw = Buffer.from(passphrase, 'utf8');
  const data = s.type === 0 ? pw : Buffer.concat([s.salt!, pw]);
  const count = s.type === 3 ? Math.max(s.count!, data.length) : data.length;
  // One block of repeated salt||passphrase keeps hashing 65 MB to about a thousand update() calls.
  // fill() repeats the pattern natively: copying it 25 bytes at a time took 44 ms per 1 MiB pool block.
  const block = Buffer.alloc(count > data.length ? Math.max(1, Math.floor(blockSize / data.length)) * data.length : data.length, data);
  return { block, count };
}

/** Derives `keySize` bytes from `passphrase` per `s`. */
export function deriveKey(passphrase: string, s: S2K, keySize: number): Buffer {
  const digests = cached(passphrase, s);
  let have = digests.reduce((n, d) => n + d.length, 0);
  if (have < keySize) {
    const algo = hashName(s.hash);
    const { block, count } = material(passphrase, s, BLOCK);
    while (have < keySize) {
      // RFC 4880 §3.7.1.1: the n-th hash context is preloaded with n zero octets.
      const h = createHash(algo);
      if (digests.length) h.update(Buffer.alloc(digests.length));
      let left = count;
      while (left >= block.length) {
        h.update(block);
        left -= block.length;
      }
      if (left > 0) h.update(block.subarray(0, left));
      const d = h.digest();
      digests.push(d);
      have += d.length;
    }
  }
  return Buffer.concat(digests).subarray(0, keySize);
}

/**
 * Derives `keySize` bytes into the cache on the thread pool (the addon's PoolDigest), so that a later
 * deriveKey() finds them; without the addon it does nothing and deriveKey() hashes on its own thread.
 *
 * Why: gpg-agent calibrates its keys' S2K count at creation (290,723,840 bytes of SHA-1 for keys made on this
 * project's machine, ~0.18 s); unlocking the signing key off the main thread lets a signed backup start while
 * it runs.
 */
export async function deriveKeyOnPool(passphrase: string, s: S2K, keySize: number): Promise<void> {
  if (!poolDigestAvailable()) return;
  const algo = hashName(s.hash);
  const digests = cached(passphrase, s);
  const { block, count } = material(passphrase, s, POOL_BLOCK);
  while (digests.reduce((n, d) => n + d.length, 0) < keySize) {
    const n = digests.length;
    const h = poolDigest(algo);
    if (!h) return; // a digest node's OpenSSL lacks: deriveKey() hashes it on its own thread
    if (n) await h.update(Buffer.alloc(n));
    let left = count;
    while (left >= block.length) {
      await h.update(block);
      left -= block.length;
    }
    if (left > 0) await h.update(block.subarray(0, left));
    const d = h.digest();
    // A deriveKey() on the main thread may have filled this entry meanwhile.
    if (digests.length === n) digests.push(d);
  }
}

/** Bytes per pool job: a millisecond of hashing against a few tens of microseconds per job. */
const POOL_BLOCK = 1 << 20;
