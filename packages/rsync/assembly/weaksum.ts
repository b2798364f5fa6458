// The two weak (rolling) checksums of FORMAT.md §8.2, computed over a whole block.

export const RK_MULT: u32 = 0x08104225;
export const RK_ADJ: u32 = 0x08104224;
export const RK_INVM: u32 = 0x98f009ad;
const RK_M2: u32 = RK_MULT * RK_MULT;
const RK_M3: u32 = RK_M2 * RK_MULT;
const RK_M4: u32 = RK_M3 * RK_MULT;

/** Classic rsync rollsum of `n` bytes at `p`, as the u32 `(s2 << 16) | s1`. */
export function rollsumBlock(p: usize, n: usize): u32 {
  // The +31 offsets are added in closed form at the end. 16 bytes per SIMD step: per chunk,
  // s2 gains 16 x (s1 before the chunk) + sum((16 - j) x b[j]) and s1 gains sum(b[j]).
  let vs1 = i32x4.splat(0), vp = i32x4.splat(0), vw = i32x4.splat(0);
  const wLo = i16x8(16, 15, 14, 13, 12, 11, 10, 9);
  const wHi = i16x8(8, 7, 6, 5, 4, 3, 2, 1);
  const stop16 = p + (n & ~15);
  while (p < stop16) {
    const v = v128.load(p);
    const lo = i16x8.extend_low_i8x16_u(v);
    const hi = i16x8.extend_high_i8x16_u(v);
    vp = i32x4.add(vp, vs1);
    vs1 = i32x4.add(vs1, i32x4.extadd_pairwise_i16x8_u(i16x8.add(lo, hi)));
    vw = i32x4.add(vw, i32x4.add(i32x4.dot_i16x8_s(lo, wLo), i32x4.dot_i16x8_s(hi, wHi)));
    p += 16;
  }
  let s1: u32 = <u32>(i32x4.extract_lane(vs1, 0) + i32x4.extract_lane(vs1, 1) + i32x4.extract_lane(vs1, 2) + i32x4.extract_lane(vs1, 3));
  let s2: u32 = (<u32>(i32x4.extract_lane(vp, 0) + i32x4.extract_lane(vp, 1) + i32x4.extract_lane(vp, 2) + i32x4.extract_lane(vp, 3)) << 4) +
    <u32>(i32x4.extract_lane(vw, 0) + i32x4.extract_lane(vw, 1) + i32x4.extract_lane(vw, 2) + i32x4.extract_lane(vw, 3));
  const stop4 = p + ((n & 15) & ~3);
  while (p < stop4) {
    const w = load<u32>(p);
    const b0 = w & 0xff, b1 = (w >> 8) & 0xff, b2 = (w >> 16) & 0xff, b3 = w >> 24;
    s2 += (s1 << 2) + (b0 << 2) + b1 * 3 + (b2 << 1) + b3;
    s1 += b0 + b1 + b2 + b3;
    p += 4;
  }
  const stop = stop4 + (n & 3);
  while (p < stop) { s1 += load<u8>(p); s2 += s1; p++; }
  const nn = <u64>n;
  s1 += <u32>(31 * nn);
  s2 += <u32>(31 * ((nn * (nn + 1)) >> 1));
  return (s2 << 16) | (s1 & 0xffff);
}

/** RabinKarp hash of `n` bytes at `p` (seed 1). */
export function rabinKarpBlock(p: usize, n: usize): u32 {
  // 16 bytes per SIMD step: h = h x MULT^16 + sum(b[j] x MULT^(15-j)). The multiplication by MULT^16
  // distributes over the lanes, so the lanes are only added together at the end.
  const stop16 = p + (n & ~15);
  let h: u32 = 1;
  if (p < stop16) {
    const m1 = RK_MULT, m2 = RK_M2, m3 = RK_M3, m4 = RK_M4;
    const m8 = m4 * m4, m12 = m8 * m4, m16 = m8 * m8;
    const pw3 = i32x4(m3 * m12, m2 * m12, m1 * m12, m12);
    const pw2 = i32x4(m3 * m8, m2 * m8, m1 * m8, m8);
    const pw1 = i32x4(m3 * m4, m2 * m4, m1 * m4, m4);
    const pw0 = i32x4(m3, m2, m1, 1);
    const vm16 = i32x4.splat(m16);
    let acc = i32x4(0, 0, 0, 1); // the seed
    while (p < stop16) {
      const v = v128.load(p);
      const lo = i16x8.extend_low_i8x16_u(v);
      const hi = i16x8.extend_high_i8x16_u(v);
      const t = i32x4.add(
        i32x4.add(i32x4.mul(i32x4.extend_low_i16x8_u(lo), pw3), i32x4.mul(i32x4.extend_high_i16x8_u(lo), pw2)),
        i32x4.add(i32x4.mul(i32x4.extend_low_i16x8_u(hi), pw1), i32x4.mul(i32x4.extend_high_i16x8_u(hi), pw0)),
      );
      acc = i32x4.add(i32x4.mul(acc, vm16), t);
      p += 16;
    }
    h = <u32>(i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3));
  }
  const stop4 = p + ((n & 15) & ~3);
  while (p < stop4) {
    const w = load<u32>(p);
    h = h * RK_M4 + (w & 0xff) * RK_M3 + ((w >> 8) & 0xff) * RK_M2 + ((w >> 16) & 0xff) * RK_MULT + (w >> 24);
    p += 4;
  }
  const stop = stop4 + (n & 3);
  while (p < stop) { h = h * RK_MULT + load<u8>(p); p++; }
  return h;
}

/** MULT^n mod 2^32, the factor that removes the byte leaving a window of length n. */
export function rkPow(n: u32): u32 {
  let r: u32 = 1, b = RK_MULT;
  while (n) { if (n & 1) r *= b; b *= b; n >>= 1; }
  return r;
}
