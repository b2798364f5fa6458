// Signature hashing on worker threads: blocks are independent, so batches of whole blocks go to
// workers and their records come back in order. parallelSignature spreads one large input over
// several workers; SignatureWorker is one long-lived worker that hashes file after file in the
// background while the caller's thread does other work with the same bytes (a backup's delta and
// volume writing). A worker costs a few tens of milliseconds to start.
import { md4AddonFile } from '@duplicity-ts/libdeflate';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { checkParams, type SignatureParams } from './params.js';
import { signatureHeader, SignatureBuilder } from './signature.js';
import { hashFlags, wasmModule } from './wasm.js';

/** Bytes of input per batch sent to a worker (rounded down to whole blocks); small, to touch little memory. */
const BATCH_BYTES = 1 << 20;

// The worker is plain JavaScript evaluated from this string, so it runs the same from src/ (vitest,
// where there is no compiled .js file to point a Worker at) and from dist/. It receives the compiled
// WebAssembly module, so it neither reads nor compiles anything itself. MD4 batches go to the libdeflate
// addon's lanes when the main thread found them usable (as wasm.ts's newInstance does; md4AddonFile).
const WORKER_PRELUDE = `
const { parentPort, workerData } = require('node:worker_threads');
const md4Blocks = workerData.md4Addon ? require(workerData.md4Addon).md4Blocks : undefined;
let view;
const w = new WebAssembly.Instance(workerData.module, { env: {
  abort() { throw new Error('rsync wasm aborted'); },
  md4Lanes(p, len, count, out) {
    if (view === undefined || view.buffer !== w.memory.buffer) view = new Uint8Array(w.memory.buffer);
    return md4Blocks !== undefined && md4Blocks(view, p, len, count, out) ? 1 : 0;
  },
} }).exports;
if (w._initialize) w._initialize();
if (md4Blocks !== undefined) w.useMd4Lanes(true);
`;

const WORKER_SOURCE = `${WORKER_PRELUDE}
const { blockLen, strongLen, flags, batchBytes } = workerData;
const inPtr = (w.heapBase() + 63) & ~63;
const outPtr = inPtr + batchBytes + 64;
const need = outPtr + Math.ceil(batchBytes / blockLen) * (4 + strongLen);
if (need > w.memory.buffer.byteLength) w.memory.grow(Math.ceil((need - w.memory.buffer.byteLength) / 65536));
parentPort.on('message', ({ id, data, length }) => {
  const mem = new Uint8Array(w.memory.buffer);
  mem.set(new Uint8Array(data, 0, length), inPtr);
  const n = w.signatureRecords(inPtr, length, blockLen, strongLen, flags, outPtr);
  const out = mem.slice(outPtr, outPtr + n);
  parentPort.postMessage({ id, out, data }, [out.buffer, data]);
});
`;

interface Result {
  out: Uint8Array;
  data: ArrayBuffer;
}

export interface ParallelSignatureOptions {
  /** Worker threads; default: the number of CPUs, at most 4. Worth it for inputs of hundreds of MB and more. */
  threads?: number;
}

/**
 * The signature of the bytes from `src`, hashed on worker threads; yields the same bytes as
 * SignatureBuilder. Memory stays bounded: at most two batches per worker are in flight.
 */
export async function* parallelSignature(
  params: SignatureParams,
  src: AsyncIterable<Uint8Array>,
  opts: ParallelSignatureOptions = {},
): AsyncGenerator<Uint8Array> {
  checkParams(params);
  const threads = Math.max(1, opts.threads ?? Math.min(4, availableParallelism()));
  const blocksPerBatch = Math.max(1, Math.floor(BATCH_BYTES / params.blockLen));
  const batchBytes = blocksPerBatch * params.blockLen;
  const workerData = {
    module: wasmModule(),
    md4Addon: md4AddonFile(),
    blockLen: params.blockLen,
    strongLen: params.strongLen,
    flags: hashFlags(params),
    batchBytes,
  };
  const workers: Worker[] = [];
  const waiting = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void }>();
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  for (let i = 0; i < threads; i++) {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData });
    w.on('message', (m: { id: number } & Result) => {
      const entry = waiting.get(m.id);
      waiting.delete(m.id);
      entry?.resolve(m);
    });
    w.on('error', fail);
    w.on('exit', (code) => {
      if (code !== 0) fail(new Error(`signature worker exited with code ${code}`));
    });
    workers.push(w);
  }
  const results = new Map<number, Promise<Result>>();
  const free: ArrayBuffer[] = [];
  let nextId = 0;
  let nextOut = 0;
  const send = (data: ArrayBuffer, length: number) => {
    if (failure) throw failure;
    const id = nextId++;
    const result = new Promise<Result>((resolve, reject) => waiting.set(id, { resolve, reject }));
    result.catch(() => {}); // observed by take(); this only stops an early failure being "unhandled"
    results.set(id, result);
    workers[id % threads].postMessage({ id, data, length }, [data]);
  };
  const take = async (): Promise<Uint8Array> => {
    const r = await results.get(nextOut)!;
    results.delete(nextOut++);
    free.push(r.data);
    return r.out;
  };
  try {
    yield signatureHeader(params);
    let cur = new ArrayBuffer(batchBytes);
    let fill = 0;
    for await (const chunk of src) {
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(batchBytes - fill, chunk.length - off);
        new Uint8Array(cur, fill, n).set(chunk.subarray(off, off + n));
        fill += n;
        off += n;
        if (fill === batchBytes) {
          send(cur, fill);
          if (results.size >= 2 * threads) yield await take();
          cur = free.pop() ?? new ArrayBuffer(batchBytes);
          fill = 0;
        }
      }
    }
    if (fill > 0) send(cur, fill);
    while (results.size > 0) yield await take();
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** The whole signature of a small input in one call, without workers (same bytes). */
export function signatureOf(params: SignatureParams, data: Uint8Array): Uint8Array {
  const b = new SignatureBuilder(params);
  return Buffer.concat([b.update(data), b.final()]);
}

/** Bytes per SignatureWorker slot: one batch of whole blocks. */
const SLOT_BYTES = 1 << 20;
const SLOTS = 4;

// Batches travel in slots, ArrayBuffers transferred to the worker and back: the caller's bytes
// are copied once into memory that is reused, never into a fresh buffer per batch, and the
// caller's own buffers stay its own. (Not a SharedArrayBuffer: V8 copies into shared memory several
// times slower than into an ordinary buffer.) Records go back in a transferred buffer too.
const SLOT_WORKER_SOURCE = `${WORKER_PRELUDE}
const { slotBytes } = workerData;
const inPtr = (w.heapBase() + 63) & ~63;
const outPtr = inPtr + slotBytes + 64;
parentPort.on('message', ({ data, length, blockLen, strongLen, flags }) => {
  const need = outPtr + Math.ceil(length / blockLen) * (4 + strongLen);
  if (need > w.memory.buffer.byteLength) w.memory.grow(Math.ceil((need - w.memory.buffer.byteLength) / 65536));
  const mem = new Uint8Array(w.memory.buffer);
  mem.set(new Uint8Array(data, 0, length), inPtr);
  const n = w.signatureRecords(inPtr, length, blockLen, strongLen, flags, outPtr);
  const out = mem.slice(outPtr, outPtr + n);
  parentPort.postMessage({ data, out }, [data, out.buffer]);
});
`;

/**
 * One worker thread computing signatures in the background, one file (job) after another. Results
 * come back in the order batches were sent (one worker, one queue). At most SLOTS batches are in
 * flight, so memory stays bounded whatever the file size. `close()` must be called: the worker
 * otherwise keeps the process alive.
 */
export class SignatureWorker {
  private readonly worker: Worker;
  /** Slots on this side and not in use; `slots` counts all that exist (at most SLOTS). */
  private readonly free: ArrayBuffer[] = [];
  private slots = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private readonly results: { resolve: (out: Uint8Array) => void; reject: (e: Error) => void }[] = [];
  private failure?: Error;

  constructor() {
    this.worker = new Worker(SLOT_WORKER_SOURCE, { eval: true, workerData: { module: wasmModule(), md4Addon: md4AddonFile(), slotBytes: SLOT_BYTES } });
    this.worker.on('message', (m: { data: ArrayBuffer; out: Uint8Array }) => {
      this.release(m.data);
      this.results.shift()?.resolve(m.out);
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`signature worker exited with code ${code}`)));
  }

  /** Whether files signed with `params` can go to the worker (a slot holds at least a few blocks). */
  static accepts(params: SignatureParams): boolean {
    return params.blockLen * 4 <= SLOT_BYTES;
  }

  /** A streaming signature of one file, hashed on the worker; same bytes as SignatureBuilder. */
  job(params: SignatureParams): SignatureJob {
    checkParams(params);
    if (!SignatureWorker.accepts(params)) throw new Error(`block length ${params.blockLen} is too large for the signature worker`);
    return new SignatureJob(this, params);
  }

  async close(): Promise<void> {
    this.fail(new Error('signature worker closed'));
    await this.worker.terminate();
  }

  /** @internal A free slot, once one is free. */
  async acquire(): Promise<Uint8Array> {
    if (this.free.length === 0 && this.slots < SLOTS) {
      this.slots++;
      this.free.push(new ArrayBuffer(SLOT_BYTES));
    }
    while (this.free.length === 0) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
    if (this.failure) throw this.failure;
    return new Uint8Array(this.free.pop()!);
  }

  /** @internal Hashes the first `length` bytes of `slot`, which goes to the worker and comes back with the records. */
  send(slot: Uint8Array, length: number, params: SignatureParams): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    const p = new Promise<Uint8Array>((resolve, reject) => this.results.push({ resolve, reject }));
    const data = slot.buffer as ArrayBuffer;
    this.worker.postMessage({ data, length, blockLen: params.blockLen, strongLen: params.strongLen, flags: hashFlags(params) }, [data]);
    return p;
  }

  /** @internal */
  release(slot: ArrayBuffer): void {
    this.free.push(slot);
    this.slotWaiters.shift()?.();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const r of this.results.splice(0)) r.reject(this.failure);
    for (const wake of this.slotWaiters.splice(0)) wake();
  }
}

/** The signature of one file on a SignatureWorker: feed its bytes in order, then `final()`. */
export class SignatureJob {
  private readonly batchBytes: number;
  private cur?: Uint8Array;
  private fill = 0;
  /** Batches sent, oldest first; `out` is set once their records are back. */
  private readonly pending: { promise: Promise<Uint8Array>; out?: Uint8Array }[] = [];
  private headerDone = false;

  constructor(
    private readonly svc: SignatureWorker,
    readonly params: SignatureParams,
  ) {
    this.batchBytes = Math.floor(SLOT_BYTES / params.blockLen) * params.blockLen;
  }

  /**
   * Takes `chunk` (copied: the caller may reuse it when the promise resolves) and returns the
   * signature bytes finished so far, in order; the header comes with the first call. Waits only
   * when every slot is busy.
   */
  async update(chunk: Uint8Array): Promise<Uint8Array[]> {
    let off = 0;
    while (off < chunk.length) {
      this.cur ??= await this.svc.acquire();
      const n = Math.min(this.batchBytes - this.fill, chunk.length - off);
      this.cur.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.batchBytes) this.sendCurrent();
    }
    return this.take(false);
  }

  /** The remaining signature bytes (the last, short block's record; the header if nothing came before). */
  async final(): Promise<Uint8Array[]> {
    // A slot is only taken for bytes that fill part of it: cur is set exactly when fill > 0.
    if (this.cur) this.sendCurrent();
    return this.take(true);
  }

  /** Gives back the slot being filled when the file is abandoned halfway. */
  abort(): void {
    if (this.cur) this.svc.release(this.cur.buffer as ArrayBuffer);
    this.cur = undefined;
    this.fill = 0;
  }

  private sendCurrent(): void {
    const cur = this.cur!;
    this.cur = undefined;
    const entry: { promise: Promise<Uint8Array>; out?: Uint8Array } = { promise: this.svc.send(cur, this.fill, this.params) };
    entry.promise.then(
      (out) => (entry.out = out),
      () => undefined, // observed by take()
    );
    this.pending.push(entry);
    this.fill = 0;
  }

  /** Records of the leading finished batches (all of them when `all`, waiting as needed). */
  private async take(all: boolean): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    if (!this.headerDone) {
      this.headerDone = true;
      out.push(signatureHeader(this.params));
    }
    while (this.pending.length > 0) {
      const first = this.pending[0];
      if (first.out === undefined) {
        if (!all) break;
        await first.promise;
        // The .then above has run by now (it was attached first).
      }
      this.pending.shift();
      out.push(first.out ?? (await first.promise));
    }
    return out;
  }
}
