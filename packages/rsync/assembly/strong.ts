// Strong sums (FORMAT.md §8.3): MD4 or BLAKE2b-256 of one block, full digest written to `out`.
import { md4 } from './md4';
import { blake2bInit, blake2bCompress } from './blake2b';

const B2_STATE = memory.data(64, 16);
const B2_TAIL = memory.data(128, 16);

export function blake2b256(p: usize, len: usize, out: usize): void {
  const h = B2_STATE;
  blake2bInit(h);
  // All blocks but the last are compressed in place; the last (possibly full) one is flagged final.
  let done: usize = 0;
  while (len - done > 128) {
    blake2bCompress(h, p + done, <u64>(done + 128), false);
    done += 128;
  }
  const rest = len - done;
  memory.copy(B2_TAIL, p + done, rest);
  memory.fill(B2_TAIL + rest, 0, 128 - rest);
  blake2bCompress(h, B2_TAIL, <u64>len, true);
  memory.copy(out, h, 32);
}

export function strongSum(blake: bool, p: usize, len: usize, out: usize): void {
  if (blake) blake2b256(p, len, out);
  else md4(p, len, out);
}
