// Four-lane MD4: the same RFC 1320 rounds over four equal-length messages at once in 128-bit SIMD
// lanes. Signatures hash many blocks of the same length, so this is where the signature speed comes from.

@inline function rotlv(x: v128, s: i32): v128 {
  return v128.or(i32x4.shl(x, s), i32x4.shr_u(x, 32 - s));
}
@inline function f4(a: v128, b: v128, c: v128, d: v128, x: v128, s: i32): v128 {
  return rotlv(i32x4.add(i32x4.add(a, v128.bitselect(c, d, b)), x), s);
}
@inline function g4(a: v128, b: v128, c: v128, d: v128, x: v128, s: i32): v128 {
  // majority(b, c, d): where b and c differ the majority is d, elsewhere it is b
  return rotlv(i32x4.add(i32x4.add(a, v128.bitselect(d, b, v128.xor(b, c))), x), s);
}
@inline function h4(a: v128, b: v128, c: v128, d: v128, x: v128, s: i32): v128 {
  return rotlv(i32x4.add(i32x4.add(a, v128.xor(v128.xor(b, c), d)), x), s);
}

const STATE4 = memory.data(64, 16);
const TAIL4 = memory.data(512, 16);
const XS = memory.data(256, 16);

/** Compresses `chunks` 64-byte chunks of each of the four messages at p0..p3; state in STATE4. */
function md4x4Chunks(p0: usize, p1: usize, p2: usize, p3: usize, chunks: usize): void {
  let a = v128.load(STATE4, 0), b = v128.load(STATE4, 16), c = v128.load(STATE4, 32), d = v128.load(STATE4, 48);
  const k2 = i32x4.splat(0x5a827999);
  const k3 = i32x4.splat(0x6ed9eba1);
  for (let i: usize = 0; i < chunks; i++) {
    const o = i << 6;
    // Transpose into XS: word k of every lane's chunk becomes the vector at XS + 16k. The rounds then
    // read words from memory, which keeps the 16 message vectors out of the register file.
    for (let q: usize = 0; q < 64; q += 16) {
      const r0 = v128.load(p0 + o + q), r1 = v128.load(p1 + o + q), r2 = v128.load(p2 + o + q), r3 = v128.load(p3 + o + q);
      const t0 = v128.shuffle<i32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<i32>(r2, r3, 0, 4, 1, 5);
      const t2 = v128.shuffle<i32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<i32>(r2, r3, 2, 6, 3, 7);
      const x = XS + (q << 2);
      v128.store(x, v128.shuffle<i64>(t0, t1, 0, 2), 0);
      v128.store(x, v128.shuffle<i64>(t0, t1, 1, 3), 16);
      v128.store(x, v128.shuffle<i64>(t2, t3, 0, 2), 32);
      v128.store(x, v128.shuffle<i64>(t2, t3, 1, 3), 48);
    }
    const aa = a, bb = b, cc = c, dd = d;
    a = f4(a, b, c, d, v128.load(XS, 0), 3);
    d = f4(d, a, b, c, v128.load(XS, 16), 7);
    c = f4(c, d, a, b, v128.load(XS, 32), 11);
    b = f4(b, c, d, a, v128.load(XS, 48), 19);
    a = f4(a, b, c, d, v128.load(XS, 64), 3);
    d = f4(d, a, b, c, v128.load(XS, 80), 7);
    c = f4(c, d, a, b, v128.load(XS, 96), 11);
    b = f4(b, c, d, a, v128.load(XS, 112), 19);
    a = f4(a, b, c, d, v128.load(XS, 128), 3);
    d = f4(d, a, b, c, v128.load(XS, 144), 7);
    c = f4(c, d, a, b, v128.load(XS, 160), 11);
    b = f4(b, c, d, a, v128.load(XS, 176), 19);
    a = f4(a, b, c, d, v128.load(XS, 192), 3);
    d = f4(d, a, b, c, v128.load(XS, 208), 7);
    c = f4(c, d, a, b, v128.load(XS, 224), 11);
    b = f4(b, c, d, a, v128.load(XS, 240), 19);
    a = g4(a, b, c, d, i32x4.add(v128.load(XS, 0), k2), 3);
    d = g4(d, a, b, c, i32x4.add(v128.load(XS, 64), k2), 5);
    c = g4(c, d, a, b, i32x4.add(v128.load(XS, 128), k2), 9);
    b = g4(b, c, d, a, i32x4.add(v128.load(XS, 192), k2), 13);
    a = g4(a, b, c, d, i32x4.add(v128.load(XS, 16), k2), 3);
    d = g4(d, a, b, c, i32x4.add(v128.load(XS, 80), k2), 5);
    c = g4(c, d, a, b, i32x4.add(v128.load(XS, 144), k2), 9);
    b = g4(b, c, d, a, i32x4.add(v128.load(XS, 208), k2), 13);
    a = g4(a, b, c, d, i32x4.add(v128.load(XS, 32), k2), 3);
    d = g4(d, a, b, c, i32x4.add(v128.load(XS, 96), k2), 5);
    c = g4(c, d, a, b, i32x4.add(v128.load(XS, 160), k2), 9);
    b = g4(b, c, d, a, i32x4.add(v128.load(XS, 224), k2), 13);
    a = g4(a, b, c, d, i32x4.add(v128.load(XS, 48), k2), 3);
    d = g4(d, a, b, c, i32x4.add(v128.load(XS, 112), k2), 5);
    c = g4(c, d, a, b, i32x4.add(v128.load(XS, 176), k2), 9);
    b = g4(b, c, d, a, i32x4.add(v128.load(XS, 240), k2), 13);
    a = h4(a, b, c, d, i32x4.add(v128.load(XS, 0), k3), 3);
    d = h4(d, a, b, c, i32x4.add(v128.load(XS, 128), k3), 9);
    c = h4(c, d, a, b, i32x4.add(v128.load(XS, 64), k3), 11);
    b = h4(b, c, d, a, i32x4.add(v128.load(XS, 192), k3), 15);
    a = h4(a, b, c, d, i32x4.add(v128.load(XS, 32), k3), 3);
    d = h4(d, a, b, c, i32x4.add(v128.load(XS, 160), k3), 9);
    c = h4(c, d, a, b, i32x4.add(v128.load(XS, 96), k3), 11);
    b = h4(b, c, d, a, i32x4.add(v128.load(XS, 224), k3), 15);
    a = h4(a, b, c, d, i32x4.add(v128.load(XS, 16), k3), 3);
    d = h4(d, a, b, c, i32x4.add(v128.load(XS, 144), k3), 9);
    c = h4(c, d, a, b, i32x4.add(v128.load(XS, 80), k3), 11);
    b = h4(b, c, d, a, i32x4.add(v128.load(XS, 208), k3), 15);
    a = h4(a, b, c, d, i32x4.add(v128.load(XS, 48), k3), 3);
    d = h4(d, a, b, c, i32x4.add(v128.load(XS, 176), k3), 9);
    c = h4(c, d, a, b, i32x4.add(v128.load(XS, 112), k3), 11);
    b = h4(b, c, d, a, i32x4.add(v128.load(XS, 240), k3), 15);
    a = i32x4.add(a, aa); b = i32x4.add(b, bb); c = i32x4.add(c, cc); d = i32x4.add(d, dd);
  }
  v128.store(STATE4, a, 0); v128.store(STATE4, b, 16); v128.store(STATE4, c, 32); v128.store(STATE4, d, 48);
}

/** MD4 of the four `len`-byte messages at p, p+len, p+2len, p+3len; digests to out, out+16, out+32, out+48. */
export function md4x4(p: usize, len: usize, out: usize): void {
  v128.store(STATE4, i32x4.splat(0x67452301), 0);
  v128.store(STATE4, i32x4.splat(<i32>0xefcdab89), 16);
  v128.store(STATE4, i32x4.splat(<i32>0x98badcfe), 32);
  v128.store(STATE4, i32x4.splat(0x10325476), 48);
  const full = len >> 6;
  md4x4Chunks(p, p + len, p + 2 * len, p + 3 * len, full);
  const rest = len & 63;
  const tailLen: usize = rest < 56 ? 64 : 128;
  for (let j: usize = 0; j < 4; j++) {
    const t = TAIL4 + (j << 7);
    memory.copy(t, p + j * len + (full << 6), rest);
    store<u8>(t + rest, 0x80);
    memory.fill(t + rest + 1, 0, tailLen - rest - 1 - 8);
    store<u64>(t + tailLen - 8, (<u64>len) << 3);
  }
  md4x4Chunks(TAIL4, TAIL4 + 128, TAIL4 + 256, TAIL4 + 384, tailLen >> 6);
  // Lane j of (a, b, c, d) is digest j.
  const a = v128.load(STATE4, 0), b = v128.load(STATE4, 16), c = v128.load(STATE4, 32), d = v128.load(STATE4, 48);
  const t0 = v128.shuffle<i32>(a, b, 0, 4, 1, 5), t1 = v128.shuffle<i32>(c, d, 0, 4, 1, 5);
  const t2 = v128.shuffle<i32>(a, b, 2, 6, 3, 7), t3 = v128.shuffle<i32>(c, d, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<i64>(t0, t1, 0, 2), 0);
  v128.store(out, v128.shuffle<i64>(t0, t1, 1, 3), 16);
  v128.store(out, v128.shuffle<i64>(t2, t3, 0, 2), 32);
  v128.store(out, v128.shuffle<i64>(t2, t3, 1, 3), 48);
}

const STATE8 = memory.data(128, 16);
const XS1 = memory.data(256, 16);

@inline function transpose4(p0: usize, p1: usize, p2: usize, p3: usize, o: usize, xs: usize): void {
  for (let q: usize = 0; q < 64; q += 16) {
    const r0 = v128.load(p0 + o + q), r1 = v128.load(p1 + o + q), r2 = v128.load(p2 + o + q), r3 = v128.load(p3 + o + q);
    const t0 = v128.shuffle<i32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<i32>(r2, r3, 0, 4, 1, 5);
    const t2 = v128.shuffle<i32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<i32>(r2, r3, 2, 6, 3, 7);
    const x = xs + (q << 2);
    v128.store(x, v128.shuffle<i64>(t0, t1, 0, 2), 0);
    v128.store(x, v128.shuffle<i64>(t0, t1, 1, 3), 16);
    v128.store(x, v128.shuffle<i64>(t2, t3, 0, 2), 32);
    v128.store(x, v128.shuffle<i64>(t2, t3, 1, 3), 48);
  }
}

/**
 * Eight messages as two interleaved four-lane groups: MD4 is one long dependency chain per group, so
 * a second independent chain keeps the SIMD units busy. Messages at p + i*len, `chunks` 64-byte chunks each.
 */
function md4x8Chunks(p: usize, len: usize, chunks: usize): void {
  let a0 = v128.load(STATE8, 0), b0 = v128.load(STATE8, 16), c0 = v128.load(STATE8, 32), d0 = v128.load(STATE8, 48);
  let a1 = v128.load(STATE8, 64), b1 = v128.load(STATE8, 80), c1 = v128.load(STATE8, 96), d1 = v128.load(STATE8, 112);
  const k2 = i32x4.splat(0x5a827999);
  const k3 = i32x4.splat(0x6ed9eba1);
  for (let i: usize = 0; i < chunks; i++) {
    const o = i << 6;
    transpose4(p, p + len, p + 2 * len, p + 3 * len, o, XS);
    transpose4(p + 4 * len, p + 5 * len, p + 6 * len, p + 7 * len, o, XS1);
    const aa0 = a0, bb0 = b0, cc0 = c0, dd0 = d0, aa1 = a1, bb1 = b1, cc1 = c1, dd1 = d1;
    a0 = f4(a0, b0, c0, d0, v128.load(XS, 0), 3);
    a1 = f4(a1, b1, c1, d1, v128.load(XS1, 0), 3);
    d0 = f4(d0, a0, b0, c0, v128.load(XS, 16), 7);
    d1 = f4(d1, a1, b1, c1, v128.load(XS1, 16), 7);
    c0 = f4(c0, d0, a0, b0, v128.load(XS, 32), 11);
    c1 = f4(c1, d1, a1, b1, v128.load(XS1, 32), 11);
    b0 = f4(b0, c0, d0, a0, v128.load(XS, 48), 19);
    b1 = f4(b1, c1, d1, a1, v128.load(XS1, 48), 19);
    a0 = f4(a0, b0, c0, d0, v128.load(XS, 64), 3);
    a1 = f4(a1, b1, c1, d1, v128.load(XS1, 64), 3);
    d0 = f4(d0, a0, b0, c0, v128.load(XS, 80), 7);
    d1 = f4(d1, a1, b1, c1, v128.load(XS1, 80), 7);
    c0 = f4(c0, d0, a0, b0, v128.load(XS, 96), 11);
    c1 = f4(c1, d1, a1, b1, v128.load(XS1, 96), 11);
    b0 = f4(b0, c0, d0, a0, v128.load(XS, 112), 19);
    b1 = f4(b1, c1, d1, a1, v128.load(XS1, 112), 19);
    a0 = f4(a0, b0, c0, d0, v128.load(XS, 128), 3);
    a1 = f4(a1, b1, c1, d1, v128.load(XS1, 128), 3);
    d0 = f4(d0, a0, b0, c0, v128.load(XS, 144), 7);
    d1 = f4(d1, a1, b1, c1, v128.load(XS1, 144), 7);
    c0 = f4(c0, d0, a0, b0, v128.load(XS, 160), 11);
    c1 = f4(c1, d1, a1, b1, v128.load(XS1, 160), 11);
    b0 = f4(b0, c0, d0, a0, v128.load(XS, 176), 19);
    b1 = f4(b1, c1, d1, a1, v128.load(XS1, 176), 19);
    a0 = f4(a0, b0, c0, d0, v128.load(XS, 192), 3);
    a1 = f4(a1, b1, c1, d1, v128.load(XS1, 192), 3);
    d0 = f4(d0, a0, b0, c0, v128.load(XS, 208), 7);
    d1 = f4(d1, a1, b1, c1, v128.load(XS1, 208), 7);
    c0 = f4(c0, d0, a0, b0, v128.load(XS, 224), 11);
    c1 = f4(c1, d1, a1, b1, v128.load(XS1, 224), 11);
    b0 = f4(b0, c0, d0, a0, v128.load(XS, 240), 19);
    b1 = f4(b1, c1, d1, a1, v128.load(XS1, 240), 19);
    a0 = g4(a0, b0, c0, d0, i32x4.add(v128.load(XS, 0), k2), 3);
    a1 = g4(a1, b1, c1, d1, i32x4.add(v128.load(XS1, 0), k2), 3);
    d0 = g4(d0, a0, b0, c0, i32x4.add(v128.load(XS, 64), k2), 5);
    d1 = g4(d1, a1, b1, c1, i32x4.add(v128.load(XS1, 64), k2), 5);
    c0 = g4(c0, d0, a0, b0, i32x4.add(v128.load(XS, 128), k2), 9);
    c1 = g4(c1, d1, a1, b1, i32x4.add(v128.load(XS1, 128), k2), 9);
    b0 = g4(b0, c0, d0, a0, i32x4.add(v128.load(XS, 192), k2), 13);
    b1 = g4(b1, c1, d1, a1, i32x4.add(v128.load(XS1, 192), k2), 13);
    a0 = g4(a0, b0, c0, d0, i32x4.add(v128.load(XS, 16), k2), 3);
    a1 = g4(a1, b1, c1, d1, i32x4.add(v128.load(XS1, 16), k2), 3);
    d0 = g4(d0, a0, b0, c0, i32x4.add(v128.load(XS, 80), k2), 5);
    d1 = g4(d1, a1, b1, c1, i32x4.add(v128.load(XS1, 80), k2), 5);
    c0 = g4(c0, d0, a0, b0, i32x4.add(v128.load(XS, 144), k2), 9);
    c1 = g4(c1, d1, a1, b1, i32x4.add(v128.load(XS1, 144), k2), 9);
    b0 = g4(b0, c0, d0, a0, i32x4.add(v128.load(XS, 208), k2), 13);
    b1 = g4(b1, c1, d1, a1, i32x4.add(v128.load(XS1, 208), k2), 13);
    a0 = g4(a0, b0, c0, d0, i32x4.add(v128.load(XS, 32), k2), 3);
    a1 = g4(a1, b1, c1, d1, i32x4.add(v128.load(XS1, 32), k2), 3);
    d0 = g4(d0, a0, b0, c0, i32x4.add(v128.load(XS, 96), k2), 5);
    d1 = g4(d1, a1, b1, c1, i32x4.add(v128.load(XS1, 96), k2), 5);
    c0 = g4(c0, d0, a0, b0, i32x4.add(v128.load(XS, 160), k2), 9);
    c1 = g4(c1, d1, a1, b1, i32x4.add(v128.load(XS1, 160), k2), 9);
    b0 = g4(b0, c0, d0, a0, i32x4.add(v128.load(XS, 224), k2), 13);
    b1 = g4(b1, c1, d1, a1, i32x4.add(v128.load(XS1, 224), k2), 13);
    a0 = g4(a0, b0, c0, d0, i32x4.add(v128.load(XS, 48), k2), 3);
    a1 = g4(a1, b1, c1, d1, i32x4.add(v128.load(XS1, 48), k2), 3);
    d0 = g4(d0, a0, b0, c0, i32x4.add(v128.load(XS, 112), k2), 5);
    d1 = g4(d1, a1, b1, c1, i32x4.add(v128.load(XS1, 112), k2), 5);
    c0 = g4(c0, d0, a0, b0, i32x4.add(v128.load(XS, 176), k2), 9);
    c1 = g4(c1, d1, a1, b1, i32x4.add(v128.load(XS1, 176), k2), 9);
    b0 = g4(b0, c0, d0, a0, i32x4.add(v128.load(XS, 240), k2), 13);
    b1 = g4(b1, c1, d1, a1, i32x4.add(v128.load(XS1, 240), k2), 13);
    a0 = h4(a0, b0, c0, d0, i32x4.add(v128.load(XS, 0), k3), 3);
    a1 = h4(a1, b1, c1, d1, i32x4.add(v128.load(XS1, 0), k3), 3);
    d0 = h4(d0, a0, b0, c0, i32x4.add(v128.load(XS, 128), k3), 9);
    d1 = h4(d1, a1, b1, c1, i32x4.add(v128.load(XS1, 128), k3), 9);
    c0 = h4(c0, d0, a0, b0, i32x4.add(v128.load(XS, 64), k3), 11);
    c1 = h4(c1, d1, a1, b1, i32x4.add(v128.load(XS1, 64), k3), 11);
    b0 = h4(b0, c0, d0, a0, i32x4.add(v128.load(XS, 192), k3), 15);
    b1 = h4(b1, c1, d1, a1, i32x4.add(v128.load(XS1, 192), k3), 15);
    a0 = h4(a0, b0, c0, d0, i32x4.add(v128.load(XS, 32), k3), 3);
    a1 = h4(a1, b1, c1, d1, i32x4.add(v128.load(XS1, 32), k3), 3);
    d0 = h4(d0, a0, b0, c0, i32x4.add(v128.load(XS, 160), k3), 9);
    d1 = h4(d1, a1, b1, c1, i32x4.add(v128.load(XS1, 160), k3), 9);
    c0 = h4(c0, d0, a0, b0, i32x4.add(v128.load(XS, 96), k3), 11);
    c1 = h4(c1, d1, a1, b1, i32x4.add(v128.load(XS1, 96), k3), 11);
    b0 = h4(b0, c0, d0, a0, i32x4.add(v128.load(XS, 224), k3), 15);
    b1 = h4(b1, c1, d1, a1, i32x4.add(v128.load(XS1, 224), k3), 15);
    a0 = h4(a0, b0, c0, d0, i32x4.add(v128.load(XS, 16), k3), 3);
    a1 = h4(a1, b1, c1, d1, i32x4.add(v128.load(XS1, 16), k3), 3);
    d0 = h4(d0, a0, b0, c0, i32x4.add(v128.load(XS, 144), k3), 9);
    d1 = h4(d1, a1, b1, c1, i32x4.add(v128.load(XS1, 144), k3), 9);
    c0 = h4(c0, d0, a0, b0, i32x4.add(v128.load(XS, 80), k3), 11);
    c1 = h4(c1, d1, a1, b1, i32x4.add(v128.load(XS1, 80), k3), 11);
    b0 = h4(b0, c0, d0, a0, i32x4.add(v128.load(XS, 208), k3), 15);
    b1 = h4(b1, c1, d1, a1, i32x4.add(v128.load(XS1, 208), k3), 15);
    a0 = h4(a0, b0, c0, d0, i32x4.add(v128.load(XS, 48), k3), 3);
    a1 = h4(a1, b1, c1, d1, i32x4.add(v128.load(XS1, 48), k3), 3);
    d0 = h4(d0, a0, b0, c0, i32x4.add(v128.load(XS, 176), k3), 9);
    d1 = h4(d1, a1, b1, c1, i32x4.add(v128.load(XS1, 176), k3), 9);
    c0 = h4(c0, d0, a0, b0, i32x4.add(v128.load(XS, 112), k3), 11);
    c1 = h4(c1, d1, a1, b1, i32x4.add(v128.load(XS1, 112), k3), 11);
    b0 = h4(b0, c0, d0, a0, i32x4.add(v128.load(XS, 240), k3), 15);
    b1 = h4(b1, c1, d1, a1, i32x4.add(v128.load(XS1, 240), k3), 15);
    a0 = i32x4.add(a0, aa0); b0 = i32x4.add(b0, bb0); c0 = i32x4.add(c0, cc0); d0 = i32x4.add(d0, dd0);
    a1 = i32x4.add(a1, aa1); b1 = i32x4.add(b1, bb1); c1 = i32x4.add(c1, cc1); d1 = i32x4.add(d1, dd1);
  }
  v128.store(STATE8, a0, 0); v128.store(STATE8, b0, 16); v128.store(STATE8, c0, 32); v128.store(STATE8, d0, 48);
  v128.store(STATE8, a1, 64); v128.store(STATE8, b1, 80); v128.store(STATE8, c1, 96); v128.store(STATE8, d1, 112);
}

const TAIL8 = memory.data(1024, 16);

@inline function storeDigests4(st: usize, out: usize): void {
  const a = v128.load(st, 0), b = v128.load(st, 16), c = v128.load(st, 32), d = v128.load(st, 48);
  const t0 = v128.shuffle<i32>(a, b, 0, 4, 1, 5), t1 = v128.shuffle<i32>(c, d, 0, 4, 1, 5);
  const t2 = v128.shuffle<i32>(a, b, 2, 6, 3, 7), t3 = v128.shuffle<i32>(c, d, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<i64>(t0, t1, 0, 2), 0);
  v128.store(out, v128.shuffle<i64>(t0, t1, 1, 3), 16);
  v128.store(out, v128.shuffle<i64>(t2, t3, 0, 2), 32);
  v128.store(out, v128.shuffle<i64>(t2, t3, 1, 3), 48);
}

/** MD4 of the eight `len`-byte messages at p + i*len; digest i goes to out + 16i. */
export function md4x8(p: usize, len: usize, out: usize): void {
  for (let g: usize = 0; g < 128; g += 64) {
    v128.store(STATE8 + g, i32x4.splat(0x67452301), 0);
    v128.store(STATE8 + g, i32x4.splat(<i32>0xefcdab89), 16);
    v128.store(STATE8 + g, i32x4.splat(<i32>0x98badcfe), 32);
    v128.store(STATE8 + g, i32x4.splat(0x10325476), 48);
  }
  const full = len >> 6;
  md4x8Chunks(p, len, full);
  const rest = len & 63;
  const tailLen: usize = rest < 56 ? 64 : 128;
  for (let j: usize = 0; j < 8; j++) {
    const t = TAIL8 + (j << 7);
    memory.copy(t, p + j * len + (full << 6), rest);
    store<u8>(t + rest, 0x80);
    memory.fill(t + rest + 1, 0, tailLen - rest - 1 - 8);
    store<u64>(t + tailLen - 8, (<u64>len) << 3);
  }
  md4x8Chunks(TAIL8, 128, tailLen >> 6);
  storeDigests4(STATE8, out);
  storeDigests4(STATE8 + 64, out + 64);
}
