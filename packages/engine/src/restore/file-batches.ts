/**
 * Creating small restored files on a helper thread. On this kind of VM creating a file costs more
 * than writing a small one (ext4 inode allocation, and shortly after thousands of deletes its scan
 * for recently deleted inodes: 0.2-0.5 ms an open), and a restore's main thread spent most of the
 * small-file stretch of a volume in open(2) and write(2) while the decode worker sat idle waiting
 * for it. Here the main thread copies a small file's whole content into a batch and goes on with
 * the tar stream; the helper creates the batch's files (open O_EXCL|O_NOFOLLOW, write, owner, mode,
 * times, close) with synchronous calls, one message per batch rather than a thread-pool round trip
 * per call. Memory stays bounded: at most MAX_BATCHES batches of BATCH_BYTES are in flight.
 *
 * The helper runs from source text (an eval worker, as file-hash.ts does), so it works alike from
 * src/ under vitest and from dist/. What depends on the files queued so far being there (a
 * directory's mode and mtime, set only after its files were created) goes to afterQueued(), which
 * runs it once they are, without stopping the caller; drain() waits for everything.
 */
import { Worker } from 'node:worker_threads';
import type { ReadLog } from './remote-file.js';

/** Content bytes per batch; a file must fit in one batch (see SMALL_FILE). */
const BATCH_BYTES = 1 << 20;
/** Files per batch: a batch's results come back together, so its errors surface a little late. */
const BATCH_FILES = 256;
const MAX_BATCHES = 4;
/** The largest file sent to the helper; bigger ones are written by the main thread (PieceWriter). */
export const SMALL_FILE = 256 << 10;

interface FileJob {
  /** Path bytes as a latin1 string: structured cloning a Buffer would copy its whole (pooled) ArrayBuffer. */
  path: string;
  off: number;
  len: number;
  mode: number;
  atime: number;
  mtime: number;
  uid?: number;
  gid?: number;
}

interface FileResult {
  code?: string;
  message?: string;
  warn?: string;
}

interface BatchReply {
  id: number;
  data: ArrayBuffer;
  results: FileResult[];
}

// The helper's program. An error after the file was created and part-written removes it: a short
// file must not stay behind as if restored.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
parentPort.on('message', ({ id, data, files }) => {
  const buf = Buffer.from(data);
  const results = [];
  for (const f of files) {
    const p = Buffer.from(f.path, 'latin1');
    const r = {};
    let fd;
    try {
      fd = fs.openSync(p, FLAGS, 0o600);
    } catch (e) {
      results.push({ code: e.code, message: e.message });
      continue;
    }
    try {
      try {
        for (let o = 0; o < f.len; ) o += fs.writeSync(fd, buf, f.off + o, f.len - o);
      } catch (e) {
        try { fs.unlinkSync(p); } catch {}
        throw e;
      }
      if (f.uid !== undefined) {
        try { fs.fchownSync(fd, f.uid, f.gid); } catch (e) { r.warn = e.message; }
      }
      fs.fchmodSync(fd, f.mode);
      fs.futimesSync(fd, f.atime, f.mtime);
    } catch (e) {
      r.code = e.code;
      r.message = e.message;
    } finally {
      fs.closeSync(fd);
    }
    results.push(r);
  }
  parentPort.postMessage({ id, data, results }, [data]);
});
`;

export interface SmallFile {
  path: Buffer;
  mode: number;
  atime: number;
  mtime: number;
  owner?: { uid: number; gid: number };
}

/**
 * A failed file whose name was already in place (EEXIST: a fresh target can still meet one, e.g. an
 * archive naming a file twice): the caller clears the way and writes `data` itself.
 */
export type OnExisting = (f: SmallFile, data: Uint8Array) => void;

export class FileBatches {
  private worker?: Worker;
  private readonly spare: ArrayBuffer[] = [];
  private data: Uint8Array | undefined;
  private fill = 0;
  private jobs: FileJob[] = [];
  private files: SmallFile[] = [];
  /** Batches posted and not yet answered: their files and jobs, in the order of the results. */
  private readonly inFlight = new Map<number, { files: SmallFile[]; jobs: FileJob[] }>();
  private nextId = 0;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  /** Work waiting for the files queued before it (afterQueued): by the id of the last batch they are in. */
  private readonly after: { id: number; run: () => void }[] = [];

  constructor(
    private readonly log: ReadLog,
    private readonly onExisting: OnExisting,
  ) {}

  /** Queues a file with this content (copied: the caller may reuse `content` at once). */
  async add(f: SmallFile, content: Uint8Array): Promise<void> {
    this.throwIfFailed();
    if (this.jobs.length >= BATCH_FILES || (this.data && this.fill + content.length > this.data.length)) await this.send();
    this.data ??= new Uint8Array(this.spare.pop() ?? new ArrayBuffer(BATCH_BYTES));
    this.data.set(content, this.fill);
    this.jobs.push({
      path: f.path.toString('latin1'),
      off: this.fill,
      len: content.length,
      mode: f.mode,
      atime: f.atime,
      mtime: f.mtime,
      uid: f.owner?.uid,
      gid: f.owner?.gid,
    });
    this.files.push(f);
    this.fill += content.length;
  }

  /** True when files were queued and not yet confirmed. */
  get busy(): boolean {
    return this.jobs.length > 0 || this.inFlight.size > 0;
  }

  /**
   * Runs `run` once every file queued so far exists with its metadata: at once when none is
   * pending, else when the batch holding the last of them comes back (the one still filling, if
   * any, which is posted when full or at drain()). Its failure is the next add()'s or drain()'s.
   */
  afterQueued(run: () => void): void {
    if (!this.busy) return run();
    this.after.push({ id: this.jobs.length ? this.nextId : this.nextId - 1, run });
  }

  /** Waits until every queued file exists with its metadata and what waited for them ran; throws the first failure. */
  async drain(): Promise<void> {
    if (this.jobs.length) await this.send();
    while (this.inFlight.size > 0 && !this.error) await new Promise<void>((resolve) => (this.wake = resolve));
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.error) throw this.error;
  }

  /** Posts the current batch, after waiting for room among the batches in flight. */
  private async send(): Promise<void> {
    while (this.inFlight.size >= MAX_BATCHES && !this.error) await new Promise<void>((resolve) => (this.wake = resolve));
    this.throwIfFailed();
    const w = this.start();
    const id = this.nextId++;
    const data = this.data!.buffer as ArrayBuffer;
    this.inFlight.set(id, { files: this.files, jobs: this.jobs });
    if (this.inFlight.size === 1) w.ref();
    w.postMessage({ id, data, files: this.jobs }, [data]);
    this.data = undefined;
    this.fill = 0;
    this.jobs = [];
    this.files = [];
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.unref();
    w.on('message', (m: BatchReply) => this.done(m));
    const fail = (err: Error) => {
      this.worker = undefined;
      this.error ??= err;
      this.inFlight.clear();
      this.poke();
    };
    w.on('error', fail);
    w.on('exit', (code) => {
      if (this.inFlight.size) fail(new Error(`file writer thread exited (${code})`));
    });
    this.worker = w;
    return w;
  }

  private done(m: BatchReply): void {
    const batch = this.inFlight.get(m.id);
    if (!batch) return;
    this.inFlight.delete(m.id);
    if (this.inFlight.size === 0) this.worker?.unref();
    const data = new Uint8Array(m.data);
    for (let i = 0; i < m.results.length; i++) {
      const r = m.results[i]!;
      const f = batch.files[i]!;
      if (r.warn !== undefined) this.log.warn(`failed to set the owner of ${f.path.toString()}: ${r.warn}`);
      if (r.code === undefined && r.message === undefined) continue;
      if (r.code === 'EEXIST' && !this.error) {
        const job = batch.jobs[i]!;
        try {
          this.onExisting(f, data.subarray(job.off, job.off + job.len));
        } catch (err) {
          this.error ??= err as Error;
        }
        continue;
      }
      this.error ??= Object.assign(new Error(r.message ?? `failed to write ${f.path.toString()}`), { code: r.code });
    }
    this.spare.push(m.data);
    // Batches come back in the order they were posted: what waited for this one can run.
    while (this.after.length && this.after[0]!.id <= m.id && !this.error) {
      try {
        this.after.shift()!.run();
      } catch (err) {
        this.error ??= err as Error;
      }
    }
    this.poke();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}
