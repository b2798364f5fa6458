// WebAssembly hot path of @duplicity-ts/rsync: strong and weak sums, batched signature records and
// the delta match search. Memory above heapBase() is laid out by the JavaScript side.
export { md4 } from './md4';
export { md4x4, md4x8 } from './md4x4';
export { useMd4Lanes } from './md4-lanes';
export { blake2b256 } from './strong';
export { rollsumBlock, rabinKarpBlock } from './weaksum';
export { signatureRecords } from './signature';
export { deltaInit, deltaIndex, deltaScan, deltaShift, deltaState } from './delta';

export function heapBase(): usize {
  return __heap_base;
}
