// The two weak (rolling) checksums of FORMAT.md §8.2, computed over a whole block.

export const RK_MULT: u32 = 0x08104225;
export const RK_ADJ: u32 = 0x08104224;
export const RK_INVM: u32 = 0x98f009ad;
const RK_M2: u32 = RK_MULT * RK_MULT;
const RK_M3: u32 = RK_M2 * RK_MULT;
const RK_M4: u32 = RK_M3 * RK_MULT;

/** Classic rsync rollsum of `n` bytes at `p`, as the u32 `(s2 << 16) | s1`. */
export function rollsumBlock(p: usize, n: usize): u32 {
  // Four bytes per step keeps the s1 -> s2 dependency chain short; the +31 offsets are added in closed form.
  let s1: u32 = 0, s2: u32 = 0;
  const stop4 = p + (n & ~3);
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
  let h: u32 = 1;
  const stop4 = p + (n & ~3);
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
