/**
 * Public-key operations for signatures, on the key parameters openpgp.js parsed (`publicParams`,
 * `privateParams`). Signing and verifying a digest we computed ourselves with node:crypto is what lets the
 * one-pass signature run at native hashing speed over a whole volume; openpgp.js would re-hash the data in
 * JavaScript. RSA and Ed25519 go through node:crypto; DSA is a few lines of BigInt arithmetic (FIPS 186-4 §4.6)
 * and ECDSA lives in ecdsa.ts, because node:crypto cannot sign or verify a precomputed DSA or ECDSA digest.
 */
import { createPrivateKey, createPublicKey, privateDecrypt, privateEncrypt, publicDecrypt, randomBytes, sign as edSign, verify as edVerify, constants, type KeyObject } from 'node:crypto';
import { fromBigInt, modInv, modPow, toBigInt } from './mpi.js';
import { ecdsaSign, ecdsaVerify, nistCurve } from './ecdsa.js';

export const PK_RSA = 1;
export const PK_RSA_ENCRYPT = 2;
export const PK_RSA_SIGN = 3;
export const PK_ELGAMAL = 16;
export const PK_DSA = 17;
export const PK_ECDH = 18;
export const PK_ECDSA = 19;
export const PK_EDDSA_LEGACY = 22;
export const PK_ED25519 = 27;

/** The subset of an openpgp.js key packet the signature code reads. */
export interface KeyParams {
  algorithm: number;
  publicParams: Record<string, unknown>;
  privateParams?: Record<string, unknown> | null;
}

const DIGEST_INFO: Record<string, string> = {
  md5: '3020300c06082a864886f70d020505000410',
  sha1: '3021300906052b0e03021a05000414',
  ripemd160: '3021300906052b2403020105000414',
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
  sha224: '302d300d06096086480165030402040500041c',
};

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const bytes = (v: unknown, name: string): Uint8Array => {
  if (v instanceof Uint8Array) return v;
  throw new Error(`key parameter ${name} missing`);
};

function ed25519Public(p: KeyParams) {
  const q = bytes(p.publicParams.Q ?? p.publicParams.A, 'Q');
  const raw = q.length === 33 && q[0] === 0x40 ? q.subarray(1) : q;
  if (raw.length !== 32) throw new Error('only Ed25519 EdDSA keys are supported');
  return raw;
}

/** Which hash we sign with: SHA-512 (gpg's choice for these keys, fast on 64-bit) unless DSA wants its q size. */
export function preferredHash(p: KeyParams): { id: number; node: string } {
  if (p.algorithm === PK_DSA) {
    const qBits = bytes(p.publicParams.q, 'q').length * 8;
    return qBits <= 160 ? { id: 2, node: 'sha1' } : qBits <= 224 ? { id: 11, node: 'sha224' } : { id: 8, node: 'sha256' };
  }
  return { id: 10, node: 'sha512' };
}

export function canSignNatively(p: KeyParams): boolean {
  return [PK_RSA, PK_RSA_SIGN, PK_DSA, PK_ECDSA, PK_EDDSA_LEGACY, PK_ED25519].includes(p.algorithm);
}

/** node:crypto key objects of unlocked RSA keys, by their private parameters (built once per key, not per use). */
const rsaKeys = new WeakMap<object, KeyObject>();

/** An unlocked RSA key (OpenPGP's n, e, d, p, q) as a node:crypto private key, with its CRT values. */
function rsaPrivateKey(p: KeyParams): KeyObject {
  const priv = p.privateParams;
  if (!priv) throw new Error('secret key is locked');
  let key = rsaKeys.get(priv);
  if (key) return key;
  const [n, e, d, pp, q] = [p.publicParams.n, p.publicParams.e, priv.d, priv.p, priv.q].map((v, i) => toBigInt(bytes(v, 'rsa' + i)));
  const jwk = {
    kty: 'RSA', n: b64u(fromBigInt(n!)), e: b64u(fromBigInt(e!)), d: b64u(fromBigInt(d!)),
    p: b64u(fromBigInt(pp!)), q: b64u(fromBigInt(q!)),
    dp: b64u(fromBigInt(d! % (pp! - 1n))), dq: b64u(fromBigInt(d! % (q! - 1n))), qi: b64u(fromBigInt(modInv(q!, pp!))),
  };
  key = createPrivateKey({ key: jwk, format: 'jwk' });
  rsaKeys.set(priv, key);
  return key;
}

/** True for the RSA keys rsaDecryptBlock serves. */
export function isRsa(p: KeyParams): boolean {
  return p.algorithm === PK_RSA || p.algorithm === PK_RSA_ENCRYPT;
}

/**
 * The raw RSA decryption c^d mod n of a PKESK's MPI, as the modulus's length in bytes (EME-PKCS1-v1_5 still
 * wrapped: session-key.ts removes it). In OpenSSL, blinded, ~2.3 ms for a 3072-bit key: node 20 refuses PKCS#1
 * v1.5 decryption (the Marvin attack), so openpgp.js falls back to BigInt arithmetic, ~60 ms, once per volume in a
 * restore. Without padding node still does it.
 */
export function rsaDecryptBlock(p: KeyParams, c: Uint8Array): Buffer {
  const n = bytes(p.publicParams.n, 'n');
  let k = n.length;
  for (let i = 0; i < n.length && n[i] === 0; i++) k--;
  let start = 0;
  while (start < c.length && c[start] === 0) start++;
  if (c.length - start > k) throw new Error('Decryption error');
  const block = Buffer.alloc(k);
  block.set(c.subarray(start), k - (c.length - start));
  return privateDecrypt({ key: rsaPrivateKey(p), padding: constants.RSA_NO_PADDING }, block);
}

/** Signature MPIs (or raw fields) for `digest`. */
export function signDigest(p: KeyParams, hashNode: string, digest: Buffer): Buffer[] {
  const priv = p.privateParams;
  if (!priv) throw new Error('secret key is locked');
  switch (p.algorithm) {
    case PK_RSA:
    case PK_RSA_SIGN: {
      const info = Buffer.concat([Buffer.from(DIGEST_INFO[hashNode]!, 'hex'), digest]);
      return [privateEncrypt({ key: rsaPrivateKey(p), padding: constants.RSA_PKCS1_PADDING }, info)];
    }
    case PK_EDDSA_LEGACY:
    case PK_ED25519: {
      const seed = bytes(priv.seed, 'seed');
      const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64u(seed), x: b64u(ed25519Public(p)) }, format: 'jwk' });
      const sig = edSign(null, digest, key);
      return p.algorithm === PK_ED25519 ? [sig] : [sig.subarray(0, 32), sig.subarray(32)];
    }
    case PK_DSA: {
      const P = toBigInt(bytes(p.publicParams.p, 'p'));
      const Q = toBigInt(bytes(p.publicParams.q, 'q'));
      const G = toBigInt(bytes(p.publicParams.g, 'g'));
      const x = toBigInt(bytes(priv.x, 'x'));
      const qLen = bytes(p.publicParams.q, 'q').length;
      const h = toBigInt(digest.subarray(0, qLen)) >> BigInt(Math.max(0, Math.min(qLen, digest.length) * 8 - bitLength(Q)));
      for (;;) {
        // k uniform enough: 64 extra random bits before the reduction make the bias negligible.
        const k = (toBigInt(randomBytes(qLen + 8)) % (Q - 1n)) + 1n;
        const r = modPow(G, k, P) % Q;
        if (r === 0n) continue;
        const s = (modInv(k, Q) * (h + x * r)) % Q;
        if (s === 0n) continue;
        return [fromBigInt(r), fromBigInt(s)];
      }
    }
    case PK_ECDSA:
      return ecdsaSign(curveOf(p), bytes(priv.d, 'd'), digest);
    default:
      throw new Error(`cannot sign with public-key algorithm ${p.algorithm}`);
  }
}

function curveOf(p: KeyParams) {
  const oid = p.publicParams.oid as { toHex?(): string } | undefined;
  if (!oid?.toHex) throw new Error('ECDSA key without a curve');
  return nistCurve(oid.toHex());
}

function bitLength(v: bigint): number {
  return v.toString(2).length;
}

/** True when the signature fields verify over `digest` under the public key. */
export function verifyDigest(p: KeyParams, hashNode: string, digest: Buffer, sig: Buffer[]): boolean {
  switch (p.algorithm) {
    case PK_RSA:
    case PK_RSA_SIGN: {
      const n = bytes(p.publicParams.n, 'n');
      const key = createPublicKey({ key: { kty: 'RSA', n: b64u(n), e: b64u(bytes(p.publicParams.e, 'e')) }, format: 'jwk' });
      const s = sig[0]!;
      const nLen = n[0] === 0 ? n.length - 1 : n.length;
      const padded = s.length < nLen ? Buffer.concat([Buffer.alloc(nLen - s.length), s]) : s;
      try {
        const info = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, padded);
        return info.equals(Buffer.concat([Buffer.from(DIGEST_INFO[hashNode] ?? '', 'hex'), digest]));
      } catch {
        return false;
      }
    }
    case PK_EDDSA_LEGACY:
    case PK_ED25519: {
      const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(ed25519Public(p)) }, format: 'jwk' });
      const raw = p.algorithm === PK_ED25519 ? sig[0]! : Buffer.concat(sig.map((v) => fromBigInt(toBigInt(v), 32)));
      return raw.length === 64 && edVerify(null, digest, key, raw);
    }
    case PK_DSA: {
      const P = toBigInt(bytes(p.publicParams.p, 'p'));
      const Q = toBigInt(bytes(p.publicParams.q, 'q'));
      const G = toBigInt(bytes(p.publicParams.g, 'g'));
      const Y = toBigInt(bytes(p.publicParams.y, 'y'));
      const [r, s] = sig.map(toBigInt) as [bigint, bigint];
      if (r <= 0n || r >= Q || s <= 0n || s >= Q) return false;
      const qLen = bytes(p.publicParams.q, 'q').length;
      const h = toBigInt(digest.subarray(0, qLen)) >> BigInt(Math.max(0, Math.min(qLen, digest.length) * 8 - bitLength(Q)));
      const w = modInv(s, Q);
      const v = ((modPow(G, (h * w) % Q, P) * modPow(Y, (r * w) % Q, P)) % P) % Q;
      return v === r;
    }
    case PK_ECDSA: {
      if (sig.length !== 2) return false;
      return ecdsaVerify(curveOf(p), bytes(p.publicParams.Q, 'Q'), digest, toBigInt(sig[0]!), toBigInt(sig[1]!));
    }
    default:
      throw new Error(`cannot verify signatures made with public-key algorithm ${p.algorithm}`);
  }
}
