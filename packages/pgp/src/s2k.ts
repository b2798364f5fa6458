/**
 * String-to-key specifiers (RFC 4880 §3.7). gpg 2.2 uses iterated+salted SHA-1 with 65,011,712 bytes per
 * derivation; written here with node:crypto hashing big repeated blocks, because openpgp.js's S2K is not exported
 * and we need the derived key itself for SKESK and for gpg-agent's key protection. Derived keys are cached per
 * (passphrase, spec) so a restore of many volumes or a backup of many volumes pays once per distinct salt.
 */
import { createHash } from 'node:crypto';
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

const cache = new Map<string, Buffer>();

/** Derives `keySize` bytes from `passphrase` per `s`. */
export function deriveKey(passphrase: string, s: S2K, keySize: number): Buffer {
  const cacheKey = createHash('sha256')
    .update(JSON.stringify([passphrase, s.type, s.hash, s.salt?.toString('hex') ?? '', s.count ?? 0, keySize]))
    .digest('hex');
  const hit = cache.get(cacheKey);
  if (hit) return hit;
  const algo = hashName(s.hash);
  const pw = Buffer.from(passphrase, 'utf8');
  const data = s.type === 0 ? pw : Buffer.concat([s.salt!, pw]);
  const count = s.type === 3 ? Math.max(s.count!, data.length) : data.length;
  const out: Buffer[] = [];
  let have = 0;
  for (let preload = 0; have < keySize; preload++) {
    const h = createHash(algo);
    if (preload) h.update(Buffer.alloc(preload));
    if (s.type === 3 && count > data.length) {
      // One big block of repeated salt||passphrase keeps hashing 65 MB to a few dozen update() calls.
      const reps = Math.max(1, Math.floor((1 << 16) / data.length));
      const block = Buffer.alloc(reps * data.length);
      for (let i = 0; i < reps; i++) data.copy(block, i * data.length);
      let left = count;
      while (left >= block.length) {
        h.update(block);
        left -= block.length;
      }
      if (left > 0) h.update(block.subarray(0, left));
    } else {
      h.update(data);
    }
    const d = h.digest();
    out.push(d);
    have += d.length;
  }
  const key = Buffer.concat(out).subarray(0, keySize);
  if (cache.size > 64) cache.clear();
  cache.set(cacheKey, key);
  return key;
}
