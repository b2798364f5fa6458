// Signature hashing spread over worker threads: blocks are independent, so batches of whole blocks go
// to workers round-robin and their records come back in order. For large inputs only: a worker costs
// a few tens of milliseconds to start.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { checkParams, type SignatureParams } from './params.js';
import { signatureHeader, SignatureBuilder } from './signature.js';
import { hashFlags, wasmModule } from './wasm.js';

/** Bytes of input per batch sent to a worker (rounded down to whole blocks); small, to touch little memory. */
const BATCH_BYTES = 1 << 20;

// The worker is plain JavaScript evaluated from this string, so it runs the same from src/ (vitest,
// where there is no compiled .js file to point a Worker at) and from dist/. It receives the compiled
// WebAssembly module, so it neither reads nor compiles anything itself.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, blockLen, strongLen, flags, batchBytes } = workerData;
const w = new WebAssembly.Instance(module, { env: { abort() { throw new Error('rsync wasm aborted'); } } }).exports;
if (w._initialize) w._initialize();
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
