/**
 * The thread behind DeltaWorkers (delta-workers.ts): it reads changed files itself and runs
 * DeltaBuilder over them, one job after another, posting the delta and the new signature back in
 * order. Each job may have at most `budget` bytes posted and not yet acknowledged by the main
 * thread, so a file whose delta is as big as the file (a full rewrite) cannot fill memory.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { DeltaBuilder } from './delta.js';
import { Signature } from './signature.js';
import { adoptWasmModule } from './wasm.js';
import type { DeltaFromWorker, DeltaToWorker } from './delta-workers.js';

interface Job {
  id: number;
  path: Uint8Array;
  signature: Uint8Array;
  withSignature: boolean;
  budget: number;
  outstanding: number;
  cancelled: boolean;
  wake?: () => void;
}

const READ_SIZE = 1 << 20;
/** Output collected before it is posted: fewer messages for files that mostly match (a few bytes per MiB). */
const FLUSH_BYTES = 256 << 10;
const FLUSH_READ = 8 << 20;

adoptWasmModule(workerData.module);
const port = parentPort!;
const queue: Job[] = [];
const byId = new Map<number, Job>();
let running = false;
const readBuf = Buffer.allocUnsafe(READ_SIZE);

const post = (m: DeltaFromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

port.on('message', (m: DeltaToWorker) => {
  if (m.type === 'ack' && m.buffer && !byId.has(m.id)) spare.push(m.buffer);
  if (m.type === 'job') {
    const job: Job = { ...m, outstanding: 0, cancelled: false };
    queue.push(job);
    byId.set(m.id, job);
    if (!running) void runQueue();
    return;
  }
  const job = byId.get(m.id);
  if (!job) return;
  if (m.type === 'ack') {
    job.outstanding -= m.bytes;
    if (m.buffer) spare.push(m.buffer);
  } else job.cancelled = true;
  job.wake?.();
});

async function runQueue(): Promise<void> {
  running = true;
  while (queue.length > 0) {
    const job = queue.shift()!;
    if (!job.cancelled) await run(job);
    byId.delete(job.id);
  }
  running = false;
}

/**
 * Output buffers the main thread gave back (acknowledged pieces): fresh memory costs a page fault
 * per 4 KiB here, more than copying into it, and a rewritten file's delta is as big as the file.
 */
const spare: ArrayBuffer[] = [];
const PIECE_BYTES = 2 << 20;

function outputBuffer(need: number): ArrayBuffer {
  for (let i = spare.length - 1; i >= 0; i--) {
    if (spare[i].byteLength >= need) return spare.splice(i, 1)[0];
  }
  // Small pieces (files that mostly match) get buffers of their size: touching 2 MiB for a few KiB costs more.
  return new ArrayBuffer(need >= PIECE_BYTES / 2 ? Math.max(need, PIECE_BYTES) : Math.max(need, 64 << 10));
}

async function run(job: Job): Promise<void> {
  let fd: number;
  try {
    // O_NONBLOCK: a file swapped for a FIFO since the walk must not hang the run.
    fd = openSync(Buffer.from(job.path), constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      if (!fstatSync(fd).isFile()) throw new Error('not a regular file any more');
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  } catch (err) {
    post({ type: 'error', id: job.id, message: (err as Error).message, opening: true });
    return;
  }
  try {
    const d = new DeltaBuilder(Signature.parse(job.signature), { signature: job.withSignature });
    let read = 0;
    let position = 0;
    const flush = async (type: 'data' | 'end') => {
      const deltaLen = d.pendingDelta;
      const sigLen = d.pendingSignature;
      const data = outputBuffer(deltaLen + sigLen);
      const view = new Uint8Array(data);
      d.takeDeltaInto(view, 0);
      d.takeSignatureInto(view, deltaLen);
      post({ type, id: job.id, data, deltaLen, sigLen, read }, [data]);
      job.outstanding += deltaLen + sigLen;
      read = 0;
      // The reads and the search are synchronous: let the main thread's acknowledgements (the
      // buffers coming back) and cancellations in between pieces.
      if (type === 'data') await new Promise<void>((resolve) => setImmediate(resolve));
      while (type === 'data' && job.outstanding >= job.budget && !job.cancelled) {
        await new Promise<void>((resolve) => (job.wake = resolve));
        job.wake = undefined;
      }
    };
    for (;;) {
      if (job.cancelled) return;
      const n = readSync(fd, readBuf, 0, READ_SIZE, position);
      if (n === 0) break;
      position += n;
      read += n;
      d.feed(readBuf.subarray(0, n));
      if (d.pendingDelta + d.pendingSignature >= FLUSH_BYTES || read >= FLUSH_READ) await flush('data');
    }
    d.finish();
    await flush('end');
  } catch (err) {
    post({ type: 'error', id: job.id, message: (err as Error).message, opening: false });
  } finally {
    closeSync(fd);
  }
}
