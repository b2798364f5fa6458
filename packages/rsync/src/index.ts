/**
 * @duplicity-ts/rsync — librsync-compatible signatures, deltas and patching (FORMAT.md §7-8).
 *
 * params.ts names the four signature kinds and the block-size rules of duplicity and rdiff;
 * signature.ts writes (SignatureBuilder) and reads (Signature.parse) signature files; delta.ts feeds
 * the new file through the match search and encodes commands (delta-encoding.ts); patch.ts applies a
 * delta to a random-access basis such as fileBasis(), in-place-patch.ts over the basis in the same file. The hot loops — rolling sums, MD4, BLAKE2b and
 * the weak-sum index — are AssemblyScript in ../assembly, compiled to build/rsync.wasm (wasm.ts);
 * parallel-signature.ts spreads signature hashing over worker threads for large inputs;
 * delta-workers.ts computes whole files' deltas (and new signatures) ahead on a worker thread.
 */
export {
  type StrongHash,
  type WeakSum,
  type SignatureParams,
  DELTA_MAGIC,
  STRONG_HASH_LEN,
  signatureMagic,
  duplicitySignatureParams,
  rdiffBlockLen,
  rdiffSignatureParams,
  minimumStrongLen,
} from './params.js';
export { RsyncError, type RsyncStatus } from './errors.js';
export { SignatureBuilder, Signature, signatureInto, signatureLength } from './signature.js';
export { parallelSignature, signatureOf, SignatureWorker, SignatureJob, type ParallelSignatureOptions } from './parallel-signature.js';
export { DeltaBuilder, sameSignatureParams, type DeltaOptions } from './delta.js';
export { DeltaWorkers, DeltaJob, DeltaJobError } from './delta-workers.js';
export { patch, type PatchBasis, type PatchOptions } from './patch.js';
export { InPlacePatch, deltaInFile, deltaInMemory, type DeltaBytes } from './in-place-patch.js';
export { fileBasis } from './file-basis.js';
