// Deltas of whole files on worker threads (delta-worker.ts), computed ahead of the caller: a backup
// asks for the deltas of the next big changed files while it is still writing earlier entries, and
// takes each file's delta (and its new signature, DeltaOptions.signature) in order when it gets
// there. The worker reads the file itself, so neither the reads nor the match search touch the
// caller's thread. Memory stays bounded: each job has a budget of bytes posted and not yet taken.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { RsyncError } from './errors.js';
import { wasmModule } from './wasm.js';

// The compiled worker, also from src/ (unit tests run the TypeScript sources against the build).
const WORKER_URL = new URL('../dist/delta-worker.js', import.meta.url);

/** @internal */
export type DeltaToWorker =
  | { type: 'job'; id: number; path: Uint8Array; signature: Uint8Array; withSignature: boolean; budget: number }
  | { type: 'ack'; id: number; bytes: number; buffer?: ArrayBuffer }
  | { type: 'cancel'; id: number };

/** @internal */
export type DeltaFromWorker =
  | { type: 'data' | 'end'; id: number; data: ArrayBuffer; deltaLen: number; sigLen: number; read: number }
  | { type: 'error'; id: number; message: string; opening: boolean };

/** Bytes of one job's output that may wait for the caller (a whole rewrite's delta is the file). */
const DEFAULT_BUDGET = 8 << 20;

/** A job's failure; `opening` when the file could not be opened (nothing was read). */
export class DeltaJobError extends RsyncError {
  constructor(
    message: string,
    readonly opening: boolean,
  ) {
    super('io', message);
  }
}

interface Thread {
  worker: Worker;
  /** Jobs given to this thread and not finished (it runs them one after another). */
  load: number;
}

/** Worker threads that compute deltas of files, each thread one job after another. `close()` must be called. */
export class DeltaWorkers {
  private readonly threads: Thread[] = [];
  private readonly jobs = new Map<number, DeltaJob>();
  private nextId = 0;
  private failure?: Error;

  /** Whether the compiled worker is there (it is not when the package was never built). */
  static available(): boolean {
    return WORKER_URL.protocol === 'file:' && existsSync(fileURLToPath(WORKER_URL));
  }

  constructor(
    private readonly threadCount = 1,
    private readonly budget = DEFAULT_BUDGET,
  ) {}

  /**
   * Starts the delta of the file at `path` against `basis` (a whole signature file); with
   * `signature`, the file's new signature comes too (basis parameters). Jobs queue behind the
   * least busy thread.
   */
  job(path: Uint8Array, basis: Uint8Array, opts: { signature?: boolean } = {}): DeltaJob {
    if (this.failure) throw this.failure;
    const thread = this.pickThread();
    const id = this.nextId++;
    const job = new DeltaJob(id, (m, transfer) => thread.worker.postMessage(m, transfer), () => this.finished(id, thread));
    this.jobs.set(id, job);
    thread.load++;
    // Copies of exactly their bytes: a view is cloned with all of the memory behind it.
    thread.worker.postMessage({ type: 'job', id, path: new Uint8Array(path), signature: new Uint8Array(basis), withSignature: !!opts.signature, budget: this.budget } satisfies DeltaToWorker);
    return job;
  }

  async close(): Promise<void> {
    this.fail(new Error('delta workers closed'));
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  private pickThread(): Thread {
    let best: Thread | undefined;
    for (const t of this.threads) if (!best || t.load < best.load) best = t;
    if (best && (best.load === 0 || this.threads.length >= this.threadCount)) return best;
    const worker = new Worker(WORKER_URL, { workerData: { module: wasmModule() } });
    const thread: Thread = { worker, load: 0 };
    worker.on('message', (m: DeltaFromWorker) => this.jobs.get(m.id)?.deliver(m));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`delta worker exited with code ${code}`)));
    this.threads.push(thread);
    return thread;
  }

  private finished(id: number, thread: Thread): void {
    if (this.jobs.delete(id)) thread.load--;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const job of this.jobs.values()) job.deliver({ type: 'error', id: -1, message: this.failure.message, opening: false });
    this.jobs.clear();
  }
}

/** One file's delta: take its pieces in order with next() until it returns null; cancel() if abandoned. */
export class DeltaJob {
  private readonly waiting: DeltaFromWorker[] = [];
  private wake?: () => void;
  private done = false;
  /** The piece next() returned last, given back at the next call. */
  private held?: Extract<DeltaFromWorker, { data: ArrayBuffer }>;

  /** @internal */
  constructor(
    readonly id: number,
    private readonly send: (m: DeltaToWorker, transfer?: ArrayBuffer[]) => void,
    private readonly onDone: () => void,
  ) {}

  /** @internal */
  deliver(m: DeltaFromWorker): void {
    if (this.done) return;
    if (m.type !== 'data') this.onDone();
    this.waiting.push(m);
    this.wake?.();
  }

  /**
   * The next delta and signature bytes and the file bytes they cover, or null after the last.
   * Each piece is valid until next() is called again (its memory then goes back to the worker).
   * Throws DeltaJobError if the file could not be read.
   */
  async next(): Promise<{ delta: Uint8Array; signature: Uint8Array; read: number } | null> {
    this.giveBack();
    if (this.done) return null;
    while (this.waiting.length === 0) {
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    const m = this.waiting.shift()!;
    if (m.type === 'error') {
      this.done = true;
      throw new DeltaJobError(m.message, m.opening);
    }
    if (m.type === 'end') this.done = true;
    this.held = m;
    return {
      delta: new Uint8Array(m.data, 0, m.deltaLen),
      signature: new Uint8Array(m.data, m.deltaLen, m.sigLen),
      read: m.read,
    };
  }

  private giveBack(): void {
    const m = this.held;
    if (!m) return;
    this.held = undefined;
    this.send({ type: 'ack', id: this.id, bytes: m.deltaLen + m.sigLen, buffer: m.data }, [m.data]);
  }

  /** Stops the job (the worker drops it at its next read) and forgets what it sent. */
  cancel(): void {
    this.giveBack();
    if (this.done) return;
    this.done = true;
    this.waiting.length = 0;
    this.onDone();
    this.send({ type: 'cancel', id: this.id });
  }
}
