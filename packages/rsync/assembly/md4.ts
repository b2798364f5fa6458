// MD4 (RFC 1320), scalar. The chaining state a,b,c,d lives in memory at `st` between calls so that
// whole blocks are hashed straight from the input without copying; only the padded tail is copied.

@inline function ff(a: u32, b: u32, c: u32, d: u32, x: u32, s: i32): u32 {
  return rotl<u32>(a + ((b & c) | (~b & d)) + x, s);
}
@inline function gg(a: u32, b: u32, c: u32, d: u32, x: u32, s: i32): u32 {
  return rotl<u32>(a + ((b & c) | (b & d) | (c & d)) + x + 0x5a827999, s);
}
@inline function hh(a: u32, b: u32, c: u32, d: u32, x: u32, s: i32): u32 {
  return rotl<u32>(a + (b ^ c ^ d) + x + 0x6ed9eba1, s);
}

/** Runs the compression function over `chunks` consecutive 64-byte chunks at `p`. */
export function md4Chunks(st: usize, p: usize, chunks: usize): void {
  let a = load<u32>(st, 0), b = load<u32>(st, 4), c = load<u32>(st, 8), d = load<u32>(st, 12);
  const stop = p + (chunks << 6);
  while (p < stop) {
    const x0 = load<u32>(p, 0), x1 = load<u32>(p, 4), x2 = load<u32>(p, 8), x3 = load<u32>(p, 12);
    const x4 = load<u32>(p, 16), x5 = load<u32>(p, 20), x6 = load<u32>(p, 24), x7 = load<u32>(p, 28);
    const x8 = load<u32>(p, 32), x9 = load<u32>(p, 36), x10 = load<u32>(p, 40), x11 = load<u32>(p, 44);
    const x12 = load<u32>(p, 48), x13 = load<u32>(p, 52), x14 = load<u32>(p, 56), x15 = load<u32>(p, 60);
    const aa = a, bb = b, cc = c, dd = d;
    a = ff(a, b, c, d, x0, 3); d = ff(d, a, b, c, x1, 7); c = ff(c, d, a, b, x2, 11); b = ff(b, c, d, a, x3, 19);
    a = ff(a, b, c, d, x4, 3); d = ff(d, a, b, c, x5, 7); c = ff(c, d, a, b, x6, 11); b = ff(b, c, d, a, x7, 19);
    a = ff(a, b, c, d, x8, 3); d = ff(d, a, b, c, x9, 7); c = ff(c, d, a, b, x10, 11); b = ff(b, c, d, a, x11, 19);
    a = ff(a, b, c, d, x12, 3); d = ff(d, a, b, c, x13, 7); c = ff(c, d, a, b, x14, 11); b = ff(b, c, d, a, x15, 19);
    a = gg(a, b, c, d, x0, 3); d = gg(d, a, b, c, x4, 5); c = gg(c, d, a, b, x8, 9); b = gg(b, c, d, a, x12, 13);
    a = gg(a, b, c, d, x1, 3); d = gg(d, a, b, c, x5, 5); c = gg(c, d, a, b, x9, 9); b = gg(b, c, d, a, x13, 13);
    a = gg(a, b, c, d, x2, 3); d = gg(d, a, b, c, x6, 5); c = gg(c, d, a, b, x10, 9); b = gg(b, c, d, a, x14, 13);
    a = gg(a, b, c, d, x3, 3); d = gg(d, a, b, c, x7, 5); c = gg(c, d, a, b, x11, 9); b = gg(b, c, d, a, x15, 13);
    a = hh(a, b, c, d, x0, 3); d = hh(d, a, b, c, x8, 9); c = hh(c, d, a, b, x4, 11); b = hh(b, c, d, a, x12, 15);
    a = hh(a, b, c, d, x2, 3); d = hh(d, a, b, c, x10, 9); c = hh(c, d, a, b, x6, 11); b = hh(b, c, d, a, x14, 15);
    a = hh(a, b, c, d, x1, 3); d = hh(d, a, b, c, x9, 9); c = hh(c, d, a, b, x5, 11); b = hh(b, c, d, a, x13, 15);
    a = hh(a, b, c, d, x3, 3); d = hh(d, a, b, c, x11, 9); c = hh(c, d, a, b, x7, 11); b = hh(b, c, d, a, x15, 15);
    a += aa; b += bb; c += cc; d += dd;
    p += 64;
  }
  store<u32>(st, a, 0); store<u32>(st, b, 4); store<u32>(st, c, 8); store<u32>(st, d, 12);
}

const MD4_STATE = memory.data(16, 16);
const MD4_TAIL = memory.data(128, 16);

/** MD4 of `len` bytes at `p`; the 16-byte digest goes to `out`. */
export function md4(p: usize, len: usize, out: usize): void {
  const st = MD4_STATE;
  store<u32>(st, 0x67452301, 0); store<u32>(st, 0xefcdab89, 4);
  store<u32>(st, 0x98badcfe, 8); store<u32>(st, 0x10325476, 12);
  const full = len >> 6;
  md4Chunks(st, p, full);
  const rest = len & 63;
  memory.copy(MD4_TAIL, p + (full << 6), rest);
  store<u8>(MD4_TAIL + rest, 0x80);
  const tailLen: usize = rest < 56 ? 64 : 128;
  memory.fill(MD4_TAIL + rest + 1, 0, tailLen - rest - 1 - 8);
  store<u64>(MD4_TAIL + tailLen - 8, (<u64>len) << 3);
  md4Chunks(st, MD4_TAIL, tailLen >> 6);
  memory.copy(out, st, 16);
}
