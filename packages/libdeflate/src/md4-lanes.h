/* MD4 of many equal-length messages in SIMD lanes (md4-lanes.c). */
#ifndef MD4_LANES_H
#define MD4_LANES_H
#include <stddef.h>
#include <stdint.h>

/* Lanes per register this CPU gives MD4: 16 (AVX-512), 8 (AVX2), or 0 (md4_lanes then always declines). */
int md4_lanes_width(void);

/*
 * The MD4 digests of the `count` messages of `len` bytes at base, base + len, ... into out + 16 * i, `width`
 * lanes at a time (0: the most this CPU has; 8 forces AVX2 where AVX-512 is there too, for tests). Returns 0
 * (writing nothing) where this CPU or build has no lanes for it, else 1.
 */
int md4_lanes(const uint8_t *base, size_t len, size_t count, uint8_t *out, int width);
#endif
