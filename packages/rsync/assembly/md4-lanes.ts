// MD4 of a batch of equal-length blocks: by the host when the JavaScript side says it can (useMd4Lanes: native
// AVX-512 or AVX2 lanes from packages/libdeflate, ~4 GB/s), else here by md4x8, md4x4 and md4 (~1-1.4 GB/s).
import { md4 } from './md4';
import { md4x4, md4x8 } from './md4x4';

// @ts-ignore: decorator
@external("env", "md4Lanes")
declare function hostMd4Lanes(p: usize, len: usize, count: usize, out: usize): i32;

let hostLanes = false;

/** Called by the JavaScript side once, when it provides md4Lanes through the addon. */
export function useMd4Lanes(on: bool): void {
  hostLanes = on;
}

/** Whether batches go to the host (callers then make them as large as MD4_BATCH to spread the call's cost). */
export function md4LanesOn(): bool {
  return hostLanes;
}

/** The most blocks per md4Many call: its `out` must hold 16 bytes for each. */
export const MD4_BATCH: usize = 64;

/** MD4 of the `count` blocks of `len` bytes at p, p + len, ...; digest i goes to out + 16i. */
export function md4Many(p: usize, len: usize, count: usize, out: usize): void {
  if (hostLanes && hostMd4Lanes(p, len, count, out) != 0) return;
  let j: usize = 0;
  for (; j + 8 <= count; j += 8) md4x8(p + j * len, len, out + (j << 4));
  for (; j + 4 <= count; j += 4) md4x4(p + j * len, len, out + (j << 4));
  for (; j < count; j++) md4(p + j * len, len, out + (j << 4));
}
