// Signature records (FORMAT.md §8.1) for a batch of blocks in one call: per-call overhead from JS
// would dominate at 512-2048-byte blocks, so the whole loop runs here.
import { rollsumBlock, rabinKarpBlock } from './weaksum';
import { strongSum } from './strong';
import { md4Many, MD4_BATCH } from './md4-lanes';

const DIGEST = memory.data(32, 16);
const DIGESTS = memory.data(<i32>MD4_BATCH * 16, 16);

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
    // Full blocks in batches through md4Many (SIMD lanes, here or in the host).
    while (stop - p >= blockLen) {
      let k = (stop - p) / blockLen;
      if (k > MD4_BATCH) k = MD4_BATCH;
      md4Many(p, blockLen, k, DIGESTS);
      for (let j: usize = 0; j < k; j++) {
        const b = p + j * blockLen;
        store<u32>(o, bswap<u32>(rk ? rabinKarpBlock(b, blockLen) : rollsumBlock(b, blockLen)));
        memory.copy(o + 4, DIGESTS + (j << 4), strongLen);
        o += 4 + strongLen;
      }
      p += k * blockLen;
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
