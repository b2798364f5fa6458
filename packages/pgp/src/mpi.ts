/** OpenPGP multiprecision integers (RFC 4880 §3.2) and the BigInt arithmetic the signature code needs. */
export function readMpi(b: Buffer, off: number): { value: Buffer; size: number } {
  const bits = b.readUInt16BE(off);
  const len = (bits + 7) >> 3;
  if (off + 2 + len > b.length) throw new Error('truncated MPI');
  return { value: b.subarray(off + 2, off + 2 + len), size: 2 + len };
}

export function encodeMpi(v: Uint8Array): Buffer {
  let i = 0;
  while (i < v.length && v[i] === 0) i++;
  const body = Buffer.from(v.subarray(i));
  const bits = body.length === 0 ? 0 : (body.length - 1) * 8 + (32 - Math.clz32(body[0]!));
  const head = Buffer.alloc(2);
  head.writeUInt16BE(bits);
  return Buffer.concat([head, body]);
}

export function toBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex'));
}

export function fromBigInt(v: bigint, len?: number): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  const b = Buffer.from(hex, 'hex');
  if (len === undefined || b.length >= len) return b;
  return Buffer.concat([Buffer.alloc(len - b.length), b]);
}

export function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return r;
}

export function modInv(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new Error('value has no modular inverse');
  return ((oldS % m) + m) % m;
}

export function stripZeros(b: Uint8Array): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return Buffer.from(b.subarray(i));
}
