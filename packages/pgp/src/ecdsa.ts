/**
 * ECDSA over the NIST curves P-256, P-384 and P-521 (what `gpg --quick-gen-key ... nistp256` makes), on a digest
 * we hashed ourselves: node:crypto can only sign or verify data it hashes itself, which would hash every volume a
 * second time. Signing still leaves the secret-dependent scalar multiplication k·G to OpenSSL (through an ECDH
 * object holding k, constant-time); the rest is BigInt arithmetic modulo the group order (FIPS 186-4 §6.4).
 * Verification works on public data only and runs in BigInt Jacobian coordinates.
 */
import { createECDH, randomBytes } from 'node:crypto';
import { fromBigInt, modInv, toBigInt } from './mpi.js';

interface Curve { name: string; node: string; p: bigint; b: bigint; n: bigint; gx: bigint; gy: bigint; size: number }

// Domain parameters (SEC 2 / FIPS 186-4), as `openssl ecparam -param_enc explicit -text` prints them. a = -3 for all.
const h = (s: string) => BigInt('0x' + s);
const CURVES: Record<string, Curve> = {
  // OID 1.2.840.10045.3.1.7
  '2a8648ce3d030107': {
    name: 'NIST P-256', node: 'prime256v1', size: 32,
    p: h('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff'),
    b: h('5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b'),
    n: h('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'),
    gx: h('6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296'),
    gy: h('4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5'),
  },
  // OID 1.3.132.0.34
  '2b81040022': {
    name: 'NIST P-384', node: 'secp384r1', size: 48,
    p: h('fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff'),
    b: h('b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef'),
    n: h('ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973'),
    gx: h('aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7'),
    gy: h('3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f'),
  },
  // OID 1.3.132.0.35
  '2b81040023': {
    name: 'NIST P-521', node: 'secp521r1', size: 66,
    p: h('01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'),
    b: h('0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00'),
    n: h('01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409'),
    gx: h('00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66'),
    gy: h('011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650'),
  },
};

/** The curve for an OpenPGP curve OID (hex of the OID body). */
export function nistCurve(oidHex: string): Curve {
  const c = CURVES[oidHex.toLowerCase()];
  if (!c) throw new Error(`unsupported ECDSA curve (OID ${oidHex})`);
  return c;
}

function bitLength(v: bigint): number {
  return v === 0n ? 0 : v.toString(2).length;
}

/** The digest as an integer, truncated to the bit length of n (FIPS 186-4 §6.4). */
function digestInt(c: Curve, digest: Uint8Array): bigint {
  const e = toBigInt(digest);
  const extra = digest.length * 8 - bitLength(c.n);
  return extra > 0 ? e >> BigInt(extra) : e;
}

type Jacobian = [bigint, bigint, bigint];
const INFINITY: Jacobian = [1n, 1n, 0n];

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

// Jacobian doubling and addition for a = -3 (standard formulas, "dbl-2001-b" / "add-2007-bl" shapes).
function double(c: Curve, [x, y, z]: Jacobian): Jacobian {
  if (z === 0n || y === 0n) return INFINITY;
  const p = c.p;
  const zz = mod(z * z, p);
  const yy = mod(y * y, p);
  const m = mod(3n * (x - zz) * (x + zz), p);
  const s = mod(4n * x * yy, p);
  const x3 = mod(m * m - 2n * s, p);
  const y3 = mod(m * (s - x3) - 8n * yy * yy, p);
  const z3 = mod(2n * y * z, p);
  return [x3, y3, z3];
}

function add(c: Curve, a: Jacobian, b: Jacobian): Jacobian {
  if (a[2] === 0n) return b;
  if (b[2] === 0n) return a;
  const p = c.p;
  const z1z1 = mod(a[2] * a[2], p);
  const z2z2 = mod(b[2] * b[2], p);
  const u1 = mod(a[0] * z2z2, p);
  const u2 = mod(b[0] * z1z1, p);
  const s1 = mod(a[1] * b[2] * z2z2, p);
  const s2 = mod(b[1] * a[2] * z1z1, p);
  if (u1 === u2) return s1 === s2 ? double(c, a) : INFINITY;
  const hh = mod(u2 - u1, p);
  const r = mod(s2 - s1, p);
  const h2 = mod(hh * hh, p);
  const h3 = mod(h2 * hh, p);
  const v = mod(u1 * h2, p);
  const x3 = mod(r * r - h3 - 2n * v, p);
  const y3 = mod(r * (v - x3) - s1 * h3, p);
  const z3 = mod(a[2] * b[2] * hh, p);
  return [x3, y3, z3];
}

/** u1·G + u2·Q by simultaneous double-and-add (Shamir's trick); public inputs only. */
function twoMul(c: Curve, u1: bigint, u2: bigint, q: Jacobian): Jacobian {
  const g: Jacobian = [c.gx, c.gy, 1n];
  const gq = add(c, g, q);
  let acc = INFINITY;
  for (let i = Math.max(bitLength(u1), bitLength(u2)) - 1; i >= 0; i--) {
    acc = double(c, acc);
    const b1 = (u1 >> BigInt(i)) & 1n;
    const b2 = (u2 >> BigInt(i)) & 1n;
    if (b1 && b2) acc = add(c, acc, gq);
    else if (b1) acc = add(c, acc, g);
    else if (b2) acc = add(c, acc, q);
  }
  return acc;
}

/** Parses an uncompressed SEC1 point (0x04 || X || Y) and checks it lies on the curve. */
function publicPoint(c: Curve, q: Uint8Array): Jacobian {
  if (q.length !== 1 + 2 * c.size || q[0] !== 0x04) throw new Error(`ECDSA public key is not an uncompressed ${c.name} point`);
  const x = toBigInt(q.subarray(1, 1 + c.size));
  const y = toBigInt(q.subarray(1 + c.size));
  if (x >= c.p || y >= c.p || mod(y * y - (x * x * x - 3n * x + c.b), c.p) !== 0n) throw new Error(`ECDSA public key is not on ${c.name}`);
  return [x, y, 1n];
}

/** True when (r, s) is a valid ECDSA signature of `digest` under the public point `q`. */
export function ecdsaVerify(c: Curve, q: Uint8Array, digest: Uint8Array, r: bigint, s: bigint): boolean {
  if (r <= 0n || r >= c.n || s <= 0n || s >= c.n) return false;
  const point = publicPoint(c, q);
  const w = modInv(s, c.n);
  const e = digestInt(c, digest);
  const [x, , z] = twoMul(c, mod(e * w, c.n), mod(r * w, c.n), point);
  if (z === 0n) return false;
  const zi = modInv(z, c.p);
  const ax = mod(x * zi * zi, c.p);
  return mod(ax, c.n) === r;
}

/** An ECDSA signature (r, s) of `digest` with the secret scalar `d`. */
export function ecdsaSign(c: Curve, d: Uint8Array, digest: Uint8Array): [Buffer, Buffer] {
  const dd = toBigInt(d);
  const e = digestInt(c, digest);
  const ecdh = createECDH(c.node);
  for (;;) {
    // k uniform enough: 64 extra random bits before the reduction make the bias negligible.
    const k = (toBigInt(randomBytes(c.size + 8)) % (c.n - 1n)) + 1n;
    ecdh.setPrivateKey(fromBigInt(k, c.size));
    const kg = ecdh.getPublicKey();
    const r = mod(toBigInt(kg.subarray(1, 1 + c.size)), c.n);
    if (r === 0n) continue;
    const s = mod(modInv(k, c.n) * (e + r * dd), c.n);
    if (s === 0n) continue;
    return [fromBigInt(r), fromBigInt(s)];
  }
}
