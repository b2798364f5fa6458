// Signature records (FORMAT.md §8.1) for a batch of blocks in one call: per-call overhead from JS
// would dominate at 512-2048-byte blocks, so the whole loop runs here.
import { rollsumBlock, rabinKarpBlock } from './weaksum';
import { strongSum } from './strong';
import { md4x4, md4x8 } from './md4x4';

const DIGEST = memory.data(32, 16);
const DIGEST4 = memory.data(128, 16);

/**
 * Writes one record (big-endian weak sum, then `strongLen` bytes of strong sum) for each block of
 * `blockLen` bytes in [inPtr, inPtr + len); the last block may be short. Returns the bytes written.
 * flags: bit 0 = BLAKE2b strong sum (else MD4), bit 1 = RabinKarp weak sum (else rollsum).
 */
export function signatureRecords(inPtr: usize, len: usize, blockLen: usize, strongLen: usize, flags: u32, outPtr: usize): usize {
  const blake = (flags & 1) != 0;
  const rk = (flags & 2) != 0;
  let o = outPtr;
  let p = inPtr;
  const stop = inPtr + len;
  if (!blake) {
    // Whole groups of eight, then four, full blocks go through the SIMD MD4.
    while (stop - p >= 8 * blockLen) {
      md4x8(p, blockLen, DIGEST4);
      for (let j: usize = 0; j < 8; j++) {
        const b = p + j * blockLen;
        store<u32>(o, bswap<u32>(rk ? rabinKarpBlock(b, blockLen) : rollsumBlock(b, blockLen)));
        memory.copy(o + 4, DIGEST4 + (j << 4), strongLen);
        o += 4 + strongLen;
      }
      p += 8 * blockLen;
    }
    while (stop - p >= 4 * blockLen) {
      md4x4(p, blockLen, DIGEST4);
      for (let j: usize = 0; j < 4; j++) {
        const b = p + j * blockLen;
        store<u32>(o, bswap<u32>(rk ? rabinKarpBlock(b, blockLen) : rollsumBlock(b, blockLen)));
        memory.copy(o + 4, DIGEST4 + (j << 4), strongLen);
        o += 4 + strongLen;
      }
      p += 4 * blockLen;
    }
  }
  while (p < stop) {
    const n = stop - p < blockLen ? stop - p : blockLen;
    const weak = rk ? rabinKarpBlock(p, n) : rollsumBlock(p, n);
    store<u32>(o, bswap<u32>(weak));
    strongSum(blake, p, n, DIGEST);
    memory.copy(o + 4, DIGEST, strongLen);
    o += 4 + strongLen;
    p += n;
  }
  return o - outPtr;
}
