// The signature file (FORMAT.md §8.1): SignatureBuilder writes it from a stream of basis bytes,
// Signature.parse reads and validates one.
import { RsyncError } from './errors.js';
import { checkParams, hashesOfMagic, signatureMagic, STRONG_HASH_LEN, type SignatureParams } from './params.js';
import { ensureMemory, hashFlags, sharedInstance } from './wasm.js';

/** Input bytes hashed per WebAssembly call (rounded down to whole blocks, at least one block). */
const BATCH_BYTES = 1 << 20;

export function signatureHeader(p: SignatureParams): Uint8Array {
  const h = Buffer.alloc(12);
  h.writeUInt32BE(signatureMagic(p), 0);
  h.writeUInt32BE(p.blockLen, 4);
  h.writeUInt32BE(p.strongLen, 8);
  return h;
}

/**
 * Computes signature records for `data`, whose length must be a whole number of blocks unless it is
 * the last piece of the file. Hashing runs in WebAssembly, a batch of blocks per call.
 */
export function signatureRecords(p: SignatureParams, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / p.blockLen) * (4 + p.strongLen));
  recordsInto(p, data, out, 0);
  return out;
}

/** The records of `data` written into `out` at `at`; returns their length. */
function recordsInto(p: SignatureParams, data: Uint8Array, out: Uint8Array, at: number): number {
  const w = sharedInstance();
  const blocksPerBatch = Math.max(1, Math.floor(BATCH_BYTES / p.blockLen));
  const batchBytes = blocksPerBatch * p.blockLen;
  const recLen = 4 + p.strongLen;
  const inPtr = (w.heapBase() + 63) & ~63;
  const outPtr = inPtr + batchBytes + 64;
  ensureMemory(w.memory, outPtr + blocksPerBatch * recLen);
  const mem = new Uint8Array(w.memory.buffer);
  const flags = hashFlags(p);
  let o = at;
  for (let off = 0; off < data.length; off += batchBytes) {
    const piece = data.subarray(off, off + batchBytes);
    mem.set(piece, inPtr);
    const n = w.signatureRecords(inPtr, piece.length, p.blockLen, p.strongLen, flags, outPtr);
    out.set(mem.subarray(outPtr, outPtr + n), o);
    o += n;
  }
  return o - at;
}

/** The length of the whole signature file of `size` bytes of basis. */
export function signatureLength(p: SignatureParams, size: number): number {
  return 12 + Math.ceil(size / p.blockLen) * (4 + p.strongLen);
}

/**
 * The whole signature file of `data` (SignatureBuilder's bytes for it) written into `out` at `at`,
 * which must have `signatureLength(p, data.length)` bytes of room; returns that length. For the
 * many small files of a backup: no builder, no pending copy and no concatenation per file.
 */
export function signatureInto(p: SignatureParams, data: Uint8Array, out: Uint8Array, at: number): number {
  checkParams(p);
  const need = signatureLength(p, data.length);
  if (out.length - at < need) throw new RangeError(`signatureInto: ${need} bytes do not fit in ${out.length - at}`);
  const view = new DataView(out.buffer, out.byteOffset + at, 12);
  view.setUint32(0, signatureMagic(p));
  view.setUint32(4, p.blockLen);
  view.setUint32(8, p.strongLen);
  return 12 + recordsInto(p, data, out, at + 12);
}

/** Streaming signature writer: feed the basis file in chunks of any size. */
export class SignatureBuilder {
  readonly params: SignatureParams;
  private pending: Uint8Array = new Uint8Array(0);
  private headerDone = false;
  private finished = false;

  constructor(p: SignatureParams) {
    checkParams(p);
    this.params = { ...p };
  }

  /** Returns the signature bytes completed by this chunk (the header comes with the first call). */
  update(chunk: Uint8Array): Uint8Array {
    if (this.finished) throw new Error('SignatureBuilder.update() after final()');
    const bl = this.params.blockLen;
    let data: Uint8Array;
    if (this.pending.length === 0) data = chunk;
    else {
      data = new Uint8Array(this.pending.length + chunk.length);
      data.set(this.pending);
      data.set(chunk, this.pending.length);
    }
    const whole = data.length - (data.length % bl);
    // Keep a copy of the partial block: the caller may reuse its chunk buffer. (new Uint8Array(view)
    // copies; Buffer#slice would return a view.)
    this.pending = new Uint8Array(data.subarray(whole));
    return this.withHeader(whole > 0 ? signatureRecords(this.params, data.subarray(0, whole)) : new Uint8Array(0));
  }

  /** Returns the remaining bytes: the record of the last, short block (and the header if nothing came before). */
  final(): Uint8Array {
    if (this.finished) throw new Error('SignatureBuilder.final() called twice');
    this.finished = true;
    const rest = this.pending.length > 0 ? signatureRecords(this.params, this.pending) : new Uint8Array(0);
    this.pending = new Uint8Array(0);
    return this.withHeader(rest);
  }

  private withHeader(records: Uint8Array): Uint8Array {
    if (this.headerDone) return records;
    this.headerDone = true;
    return Buffer.concat([signatureHeader(this.params), records]);
  }
}

/** A loaded signature: its parameters and the raw records (weak u32 BE + strong sum per block). */
export class Signature {
  private constructor(
    readonly params: SignatureParams,
    readonly records: Uint8Array,
  ) {}

  get blockCount(): number {
    return this.records.length / (4 + this.params.strongLen);
  }

  /** Parses and validates a whole signature file; throws RsyncError on anything malformed. */
  static parse(bytes: Uint8Array): Signature {
    if (bytes.length < 12) {
      throw new RsyncError('input-ended', `signature is truncated: ${bytes.length} bytes, the header alone is 12`);
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magic = view.getUint32(0);
    const hashes = hashesOfMagic(magic);
    if (!hashes) {
      throw new RsyncError('bad-magic', `not a signature: bad magic number 0x${magic.toString(16).padStart(8, '0')}`);
    }
    const blockLen = view.getUint32(4);
    const strongLen = view.getUint32(8);
    const max = STRONG_HASH_LEN[hashes.hash];
    if (strongLen < 1 || strongLen > max) {
      throw new RsyncError('corrupt', `corrupt signature: strong sum length ${strongLen} is not in 1..${max}`);
    }
    const params: SignatureParams = { blockLen, strongLen, ...hashes };
    try {
      checkParams(params);
    } catch (err) {
      throw new RsyncError('corrupt', `corrupt signature: ${(err as Error).message}`);
    }
    const recLen = 4 + strongLen;
    const body = bytes.length - 12;
    if (body % recLen !== 0) {
      throw new RsyncError(
        'input-ended',
        `signature is truncated: ${body} bytes of records is not a multiple of the ${recLen}-byte record`,
      );
    }
    return new Signature(params, bytes.subarray(12));
  }
}
