/*
 * MD4 (RFC 1320) of many equal-length messages side by side: 16 in the lanes of an AVX-512 register, or 8 with
 * AVX2, chosen at run time. For the rsync engine's signatures and deltas (packages/rsync), whose WASM has only
 * 128-bit SIMD: 4 lanes, and no rotate instruction. addon.c's md4Blocks is the caller; index.ts says why.
 *
 * Lane i's message starts at base + i * len. Its 64-byte chunks are gathered word by word (one gather per
 * message word and chunk), the padded tails are built in a small buffer and gathered the same way.
 */
#include "md4-lanes.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define MD4_A 0x67452301u
#define MD4_B 0xefcdab89u
#define MD4_C 0x98badcfeu
#define MD4_D 0x10325476u

/* One tail buffer per lane: the last partial chunk, 0x80, zeros and the bit length: one or two chunks. */
#define TAIL 128

/* The 48 steps over the message words X[0..15] of one chunk, with the operations of one register width. */
#define MD4_ROUNDS(ADD, ROTL, F, G, H, K2, K3)                                                      \
  do {                                                                                              \
    V aa = a, bb = b, cc = c, dd = d;                                                               \
    a = ROTL(ADD(ADD(a, F(b, c, d)), X[0]), 3); d = ROTL(ADD(ADD(d, F(a, b, c)), X[1]), 7);         \
    c = ROTL(ADD(ADD(c, F(d, a, b)), X[2]), 11); b = ROTL(ADD(ADD(b, F(c, d, a)), X[3]), 19);       \
    a = ROTL(ADD(ADD(a, F(b, c, d)), X[4]), 3); d = ROTL(ADD(ADD(d, F(a, b, c)), X[5]), 7);         \
    c = ROTL(ADD(ADD(c, F(d, a, b)), X[6]), 11); b = ROTL(ADD(ADD(b, F(c, d, a)), X[7]), 19);       \
    a = ROTL(ADD(ADD(a, F(b, c, d)), X[8]), 3); d = ROTL(ADD(ADD(d, F(a, b, c)), X[9]), 7);         \
    c = ROTL(ADD(ADD(c, F(d, a, b)), X[10]), 11); b = ROTL(ADD(ADD(b, F(c, d, a)), X[11]), 19);     \
    a = ROTL(ADD(ADD(a, F(b, c, d)), X[12]), 3); d = ROTL(ADD(ADD(d, F(a, b, c)), X[13]), 7);       \
    c = ROTL(ADD(ADD(c, F(d, a, b)), X[14]), 11); b = ROTL(ADD(ADD(b, F(c, d, a)), X[15]), 19);     \
    a = ROTL(ADD(ADD(a, G(b, c, d)), ADD(X[0], K2)), 3); d = ROTL(ADD(ADD(d, G(a, b, c)), ADD(X[4], K2)), 5);     \
    c = ROTL(ADD(ADD(c, G(d, a, b)), ADD(X[8], K2)), 9); b = ROTL(ADD(ADD(b, G(c, d, a)), ADD(X[12], K2)), 13);   \
    a = ROTL(ADD(ADD(a, G(b, c, d)), ADD(X[1], K2)), 3); d = ROTL(ADD(ADD(d, G(a, b, c)), ADD(X[5], K2)), 5);     \
    c = ROTL(ADD(ADD(c, G(d, a, b)), ADD(X[9], K2)), 9); b = ROTL(ADD(ADD(b, G(c, d, a)), ADD(X[13], K2)), 13);   \
    a = ROTL(ADD(ADD(a, G(b, c, d)), ADD(X[2], K2)), 3); d = ROTL(ADD(ADD(d, G(a, b, c)), ADD(X[6], K2)), 5);     \
    c = ROTL(ADD(ADD(c, G(d, a, b)), ADD(X[10], K2)), 9); b = ROTL(ADD(ADD(b, G(c, d, a)), ADD(X[14], K2)), 13);  \
    a = ROTL(ADD(ADD(a, G(b, c, d)), ADD(X[3], K2)), 3); d = ROTL(ADD(ADD(d, G(a, b, c)), ADD(X[7], K2)), 5);     \
    c = ROTL(ADD(ADD(c, G(d, a, b)), ADD(X[11], K2)), 9); b = ROTL(ADD(ADD(b, G(c, d, a)), ADD(X[15], K2)), 13);  \
    a = ROTL(ADD(ADD(a, H(b, c, d)), ADD(X[0], K3)), 3); d = ROTL(ADD(ADD(d, H(a, b, c)), ADD(X[8], K3)), 9);     \
    c = ROTL(ADD(ADD(c, H(d, a, b)), ADD(X[4], K3)), 11); b = ROTL(ADD(ADD(b, H(c, d, a)), ADD(X[12], K3)), 15);  \
    a = ROTL(ADD(ADD(a, H(b, c, d)), ADD(X[2], K3)), 3); d = ROTL(ADD(ADD(d, H(a, b, c)), ADD(X[10], K3)), 9);    \
    c = ROTL(ADD(ADD(c, H(d, a, b)), ADD(X[6], K3)), 11); b = ROTL(ADD(ADD(b, H(c, d, a)), ADD(X[14], K3)), 15);  \
    a = ROTL(ADD(ADD(a, H(b, c, d)), ADD(X[1], K3)), 3); d = ROTL(ADD(ADD(d, H(a, b, c)), ADD(X[9], K3)), 9);     \
    c = ROTL(ADD(ADD(c, H(d, a, b)), ADD(X[5], K3)), 11); b = ROTL(ADD(ADD(b, H(c, d, a)), ADD(X[13], K3)), 15);  \
    a = ROTL(ADD(ADD(a, H(b, c, d)), ADD(X[3], K3)), 3); d = ROTL(ADD(ADD(d, H(a, b, c)), ADD(X[11], K3)), 9);    \
    c = ROTL(ADD(ADD(c, H(d, a, b)), ADD(X[7], K3)), 11); b = ROTL(ADD(ADD(b, H(c, d, a)), ADD(X[15], K3)), 15);  \
    a = ADD(a, aa); b = ADD(b, bb); c = ADD(c, cc); d = ADD(d, dd);                                 \
  } while (0)

/* Lane i's tail (its last len % 64 bytes, padded) at tails + i * TAIL; returns the tail's chunk count. */
static size_t build_tails(const uint8_t *base, size_t len, size_t lanes, uint8_t *tails) {
  size_t full = len >> 6, rest = len & 63, tail_len = rest < 56 ? 64 : 128;
  for (size_t i = 0; i < lanes; i++) {
    uint8_t *t = tails + i * TAIL;
    memcpy(t, base + i * len + (full << 6), rest);
    t[rest] = 0x80;
    memset(t + rest + 1, 0, tail_len - rest - 1 - 8);
    uint64_t bits = (uint64_t)len << 3;
    for (int k = 0; k < 8; k++) t[tail_len - 8 + k] = (uint8_t)(bits >> (8 * k));
  }
  return tail_len >> 6;
}

static void put_words(uint8_t *out, const uint32_t *a, const uint32_t *b, const uint32_t *c, const uint32_t *d, size_t lanes) {
  for (size_t i = 0; i < lanes; i++) {
    const uint32_t w[4] = {a[i], b[i], c[i], d[i]};
    for (int k = 0; k < 4; k++)
      for (int j = 0; j < 4; j++) out[16 * i + 4 * k + j] = (uint8_t)(w[k] >> (8 * j));
  }
}

/* ---- AVX-512: 16 lanes, rotates and three-input logic in one instruction each ---- */

#define V __m512i
#define ADD16(x, y) _mm512_add_epi32((x), (y))
#define ROTL16(x, s) _mm512_rol_epi32((x), (s))
#define F16(x, y, z) _mm512_ternarylogic_epi32((x), (y), (z), 0xCA) /* x ? y : z */
#define G16(x, y, z) _mm512_ternarylogic_epi32((x), (y), (z), 0xE8) /* majority */
#define H16(x, y, z) _mm512_ternarylogic_epi32((x), (y), (z), 0x96) /* x ^ y ^ z */

__attribute__((target("avx512f"))) static void md4_x16(const uint8_t *base, size_t len, size_t lanes, uint8_t *out) {
  uint8_t tails[16 * TAIL] __attribute__((aligned(64)));
  int32_t offsets[16], tail_offsets[16];
  /* Lanes past `lanes` hash lane 0 again; their digests are not written. */
  for (size_t i = 0; i < 16; i++) {
    offsets[i] = i < lanes ? (int32_t)(i * len) : 0;
    tail_offsets[i] = i < lanes ? (int32_t)(i * TAIL) : 0;
  }
  const V K2 = _mm512_set1_epi32(0x5a827999), K3 = _mm512_set1_epi32(0x6ed9eba1);
  V a = _mm512_set1_epi32((int)MD4_A), b = _mm512_set1_epi32((int)MD4_B), c = _mm512_set1_epi32((int)MD4_C),
    d = _mm512_set1_epi32((int)MD4_D);
  V X[16];
  V idx = _mm512_loadu_si512(offsets);
  const size_t full = len >> 6;
  for (size_t ch = 0; ch < full; ch++) {
    const uint8_t *p = base + (ch << 6);
    for (int k = 0; k < 16; k++) X[k] = _mm512_i32gather_epi32(idx, p + 4 * k, 1);
    MD4_ROUNDS(ADD16, ROTL16, F16, G16, H16, K2, K3);
  }
  const size_t tail_chunks = build_tails(base, len, lanes, tails);
  idx = _mm512_loadu_si512(tail_offsets);
  for (size_t ch = 0; ch < tail_chunks; ch++) {
    const uint8_t *p = tails + (ch << 6);
    for (int k = 0; k < 16; k++) X[k] = _mm512_i32gather_epi32(idx, p + 4 * k, 1);
    MD4_ROUNDS(ADD16, ROTL16, F16, G16, H16, K2, K3);
  }
  uint32_t wa[16], wb[16], wc[16], wd[16];
  _mm512_storeu_si512(wa, a);
  _mm512_storeu_si512(wb, b);
  _mm512_storeu_si512(wc, c);
  _mm512_storeu_si512(wd, d);
  put_words(out, wa, wb, wc, wd, lanes);
}
#undef V

/* ---- AVX2: 8 lanes ---- */

#define V __m256i
#define ADD8(x, y) _mm256_add_epi32((x), (y))
#define ROTL8(x, s) _mm256_or_si256(_mm256_slli_epi32((x), (s)), _mm256_srli_epi32((x), 32 - (s)))
#define F8(x, y, z) _mm256_or_si256(_mm256_and_si256((x), (y)), _mm256_andnot_si256((x), (z)))
#define G8(x, y, z) _mm256_or_si256(_mm256_and_si256((x), _mm256_or_si256((y), (z))), _mm256_and_si256((y), (z)))
#define H8(x, y, z) _mm256_xor_si256(_mm256_xor_si256((x), (y)), (z))

__attribute__((target("avx2"))) static void md4_x8(const uint8_t *base, size_t len, size_t lanes, uint8_t *out) {
  uint8_t tails[8 * TAIL] __attribute__((aligned(32)));
  int32_t offsets[8], tail_offsets[8];
  for (size_t i = 0; i < 8; i++) {
    offsets[i] = i < lanes ? (int32_t)(i * len) : 0;
    tail_offsets[i] = i < lanes ? (int32_t)(i * TAIL) : 0;
  }
  const V K2 = _mm256_set1_epi32(0x5a827999), K3 = _mm256_set1_epi32(0x6ed9eba1);
  V a = _mm256_set1_epi32((int)MD4_A), b = _mm256_set1_epi32((int)MD4_B), c = _mm256_set1_epi32((int)MD4_C),
    d = _mm256_set1_epi32((int)MD4_D);
  V X[16];
  V idx = _mm256_loadu_si256((const __m256i *)offsets);
  const size_t full = len >> 6;
  for (size_t ch = 0; ch < full; ch++) {
    const uint8_t *p = base + (ch << 6);
    for (int k = 0; k < 16; k++) X[k] = _mm256_i32gather_epi32((const int *)(p + 4 * k), idx, 1);
    MD4_ROUNDS(ADD8, ROTL8, F8, G8, H8, K2, K3);
  }
  const size_t tail_chunks = build_tails(base, len, lanes, tails);
  idx = _mm256_loadu_si256((const __m256i *)tail_offsets);
  for (size_t ch = 0; ch < tail_chunks; ch++) {
    const uint8_t *p = tails + (ch << 6);
    for (int k = 0; k < 16; k++) X[k] = _mm256_i32gather_epi32((const int *)(p + 4 * k), idx, 1);
    MD4_ROUNDS(ADD8, ROTL8, F8, G8, H8, K2, K3);
  }
  uint32_t wa[8], wb[8], wc[8], wd[8];
  _mm256_storeu_si256((__m256i *)wa, a);
  _mm256_storeu_si256((__m256i *)wb, b);
  _mm256_storeu_si256((__m256i *)wc, c);
  _mm256_storeu_si256((__m256i *)wd, d);
  put_words(out, wa, wb, wc, wd, lanes);
}
#undef V

int md4_lanes_width(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return 16;
  if (__builtin_cpu_supports("avx2")) return 8;
  return 0;
}

int md4_lanes(const uint8_t *base, size_t len, size_t count, uint8_t *out, int width) {
  static int best = -1;
  if (best < 0) best = md4_lanes_width();
  if (width == 0 || width > best) width = best;
  /* Gather offsets are 32-bit: a group's messages must lie within 2 GiB. */
  if (width == 0 || len > (size_t)INT32_MAX / 16) return 0;
  for (size_t done = 0; done < count; done += (size_t)width) {
    size_t lanes = count - done < (size_t)width ? count - done : (size_t)width;
    if (width == 16) md4_x16(base + done * len, len, lanes, out + 16 * done);
    else md4_x8(base + done * len, len, lanes, out + 16 * done);
  }
  return 1;
}

#else
int md4_lanes_width(void) { return 0; }
int md4_lanes(const uint8_t *base, size_t len, size_t count, uint8_t *out, int width) {
  (void)base, (void)len, (void)count, (void)out, (void)width;
  return 0;
}
#endif
