// DeltaBuilder: streams the new file through the WebAssembly match search (assembly/delta.ts) and
// encodes its copy/literal events as delta commands (FORMAT.md §8.4-8.5). On request it also
// writes the new file's signature with the basis signature's parameters, reusing the records of
// blocks that matched at the new file's block boundaries instead of hashing them again.
import { CommandWriter, OP_END } from './delta-encoding.js';
import { RsyncError } from './errors.js';
import { DELTA_MAGIC, type SignatureParams } from './params.js';
import { signatureHeader, type Signature } from './signature.js';
import { hashFlags, newInstance, type RsyncExports } from './wasm.js';

const EV_LITERAL = 0;

/**
 * Instances released by finished builders. Fresh WebAssembly memory costs a page fault per 4 KiB on
 * first touch, which is a noticeable share of the work for the many small files of a backup; a
 * reused instance keeps its memory (deltaInit resets all state).
 */
const idle: RsyncExports[] = [];
const MAX_IDLE = 4;

export interface DeltaOptions {
  /**
   * Also write the new file's signature, with the basis signature's parameters (the same bytes as
   * SignatureBuilder over the new file); takeSignature() returns it piece by piece.
   */
  signature?: boolean;
}

/** Whether two parameter sets write the same signature format (then DeltaOptions.signature can serve). */
export function sameSignatureParams(a: SignatureParams, b: SignatureParams): boolean {
  return a.blockLen === b.blockLen && a.strongLen === b.strongLen && a.hash === b.hash && a.weak === b.weak;
}

export class DeltaBuilder {
  private readonly w: RsyncExports;
  private readonly buf: number;
  private readonly cap: number;
  private readonly out = new CommandWriter();
  /** The new file's signature bytes not yet taken (only with DeltaOptions.signature). */
  private readonly sigOut?: CommandWriter;
  private mem: Uint8Array;
  private finished = false;

  constructor(sig: Signature, opts: DeltaOptions = {}) {
    const w = (this.w = idle.pop() ?? newInstance());
    const { blockLen, strongLen } = sig.params;
    // The window needs blockLen bytes plus room to read ahead; a bigger buffer means fewer calls.
    // (The signature keeps up to two blocks more in the buffer: still at most half of it.)
    this.cap = Math.max(1 << 20, 4 * blockLen);
    const flags = hashFlags(sig.params) | (opts.signature ? 4 : 0);
    if (opts.signature) {
      this.sigOut = new CommandWriter();
      this.sigOut.bytes(signatureHeader(sig.params));
    }
    const recs = w.deltaInit(w.heapBase(), sig.blockCount, blockLen, strongLen, flags, this.cap) >>> 0;
    if (recs === 0) throw new RsyncError('io', `out of memory loading a signature of ${sig.blockCount} blocks`);
    this.mem = new Uint8Array(w.memory.buffer);
    this.mem.set(sig.records, recs);
    w.deltaIndex();
    this.buf = w.deltaState(0) >>> 0;
    const header = Buffer.alloc(4);
    header.writeUInt32BE(DELTA_MAGIC);
    this.out.bytes(header);
  }

  /** Returns the delta bytes ready after this chunk of the new file (the magic comes with the first call). */
  update(chunk: Uint8Array): Uint8Array {
    this.feed(chunk);
    return this.out.take();
  }

  /**
   * update() without taking the output: it waits in the builder (pendingDelta bytes) until
   * takeDeltaInto(), so a caller gathering several chunks' output copies it once, into memory it reuses.
   */
  feed(chunk: Uint8Array): void {
    if (this.finished) throw new Error('DeltaBuilder.update() after final()');
    let off = 0;
    while (off < chunk.length) {
      const end = this.w.deltaState(2);
      const take = Math.min(this.cap - end, chunk.length - off);
      this.mem.set(chunk.subarray(off, off + take), this.buf + end);
      off += take;
      this.scan(end + take, false);
    }
  }

  /** Flushes the tail and the END command; returns the last delta bytes. */
  final(): Uint8Array {
    this.finish();
    return this.out.take();
  }

  /** final() without taking the output (see feed()). */
  finish(): void {
    if (this.finished) throw new Error('DeltaBuilder.final() called twice');
    this.finished = true;
    this.scan(this.w.deltaState(2), true);
    this.out.byte(OP_END);
    if (idle.length < MAX_IDLE && this.w.memory.buffer.byteLength <= 64 << 20) idle.push(this.w);
  }

  /** Delta bytes fed and not yet taken. */
  get pendingDelta(): number {
    return this.out.length;
  }

  /** Signature bytes written and not yet taken (0 without DeltaOptions.signature). */
  get pendingSignature(): number {
    return this.sigOut?.length ?? 0;
  }

  /** Copies the pending delta bytes into `target` at `at`; returns how many. */
  takeDeltaInto(target: Uint8Array, at: number): number {
    return this.out.takeInto(target, at);
  }

  /** Copies the pending signature bytes into `target` at `at`; returns how many. */
  takeSignatureInto(target: Uint8Array, at: number): number {
    return this.sigOut ? this.sigOut.takeInto(target, at) : 0;
  }

  /** The new file's signature bytes completed so far (the header comes first); needs DeltaOptions.signature. */
  takeSignature(): Uint8Array {
    if (!this.sigOut) throw new Error('DeltaBuilder was not asked for the signature');
    return this.sigOut.take();
  }

  private scan(end: number, final: boolean): void {
    const w = this.w;
    let more: number;
    do {
      more = w.deltaScan(end, final ? 1 : 0);
      this.drainEvents();
      if (this.sigOut) {
        const at = w.deltaState(7) >>> 0;
        this.sigOut.bytes(this.mem.subarray(at, at + w.deltaState(8)));
      }
    } while (more);
    // Everything before the window is encoded (and recorded): move the rest to the buffer start.
    const p = w.deltaState(6);
    if (p > 0) {
      this.mem.copyWithin(this.buf, this.buf + p, this.buf + w.deltaState(2));
      w.deltaShift(p);
    }
  }

  private drainEvents(): void {
    const count = this.w.deltaState(4);
    if (count === 0) return;
    const ev = new Float64Array(this.w.memory.buffer, this.w.deltaState(3) >>> 0, count * 3);
    for (let i = 0; i < ev.length; i += 3) {
      if (ev[i] === EV_LITERAL) {
        const start = this.buf + ev[i + 1];
        const len = ev[i + 2];
        this.out.literalHeader(len);
        this.out.bytes(this.mem.subarray(start, start + len));
      } else {
        this.out.copy(ev[i + 1], ev[i + 2]);
      }
    }
  }
}
