/**
 * Decoding volumes on a worker thread (decrypt-worker.ts), so that AES, the MDC's SHA1 and inflate
 * run beside the main thread's tar parsing and file writing instead of taking turns with them: the
 * biggest cost of an encrypted restore. One worker serves the whole run (starting one costs ~170 ms
 * with the pgp package), for passphrase-only and public-key volumes alike, and for .gz volumes
 * (inflated there, so the main thread gets finished pieces in reused buffers):
 * - The main thread recovers each file's session keys (pgp's recoverSessionKeys: the keyring, secret
 *   keys and passphrase stay here); only the session keys travel, in-process, never to a log.
 * - The worker decrypts and posts the plaintext in ~1 MiB pieces, at most CREDITS per file in flight
 *   (memory stays bounded), and at the end the digests of the message's signatures.
 * - Those signatures are judged here (pgp's checkSignatures) before the plaintext counts as done: a
 *   bad signature, or a missing required signer, throws from next() as in-thread decryption would.
 * The worker is unref'd while it has no file to decrypt, so it never keeps the process alive.
 * Running from the TypeScript sources (unit tests) there is no compiled worker file; `available()`
 * says so and callers decrypt in-thread.
 */
import { createReadStream, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DecryptOptions, SessionKey, SignedDigest } from '@duplicity-ts/pgp';

const WORKER_URL = new URL('./decrypt-worker.js', import.meta.url);
const CREDITS = 4;
/**
 * A piece's buffer goes back to the worker for reuse once the reader has asked for LAG more pieces:
 * fresh 1 MiB buffers cost page faults on both threads and GC work here. The readers' contract
 * (ByteSource, the rsync patch, PieceWriter) is that a piece may be reused after the next one is
 * asked for; one more piece of margin covers a reader that crosses one boundary while still
 * holding a view (a tar extended header whose padding starts the next piece).
 */
export const LAG = 2;

/**
 * Messages to the worker: open a file (its plaintext posted back, or written to `fd`, a file
 * descriptor of this process opened here), take one more piece of it, stop decrypting it.
 */
export type ToWorker =
  | { type: 'open'; id: number; src: string; gzip: boolean; keys: SessionKey[]; credits: number; fd?: number }
  | { type: 'credit'; id: number; buffer?: ArrayBuffer }
  | { type: 'cancel'; id: number };

type FromWorker =
  | { id: number; type: 'data'; data: ArrayBuffer; length: number }
  | { id: number; type: 'end'; signatures: SignedDigest[] }
  | { id: number; type: 'error'; message: string; exitCode?: number; name?: string };

type Event = FromWorker | { type: 'crash'; err: Error };

export function workerDecryptionAvailable(): boolean {
  return WORKER_URL.protocol === 'file:' && existsSync(fileURLToPath(WORKER_URL));
}

/** The run's worker thread and the files it is decrypting. */
class DecryptionWorker {
  private readonly worker = new Worker(WORKER_URL);
  private readonly jobs = new Map<number, (e: Event) => void>();
  private nextId = 0;
  dead = false;

  constructor() {
    this.worker.on('message', (m: FromWorker) => this.jobs.get(m.id)?.(m));
    const crash = (err: Error) => {
      this.dead = true;
      for (const deliver of this.jobs.values()) deliver({ type: 'crash', err });
    };
    this.worker.on('error', crash);
    this.worker.on('exit', (code) => crash(new Error(`decryption worker exited (${code})`)));
    // After the listeners: adding a 'message' listener refs the worker's port again, and a worker
    // started ahead of a run that then fails before its first file would keep the process alive.
    this.worker.unref();
  }

  /** Starts decrypting `src`; `deliver` gets its events until done() is called. */
  open(src: string, gzip: boolean, keys: SessionKey[], fd: number | undefined, deliver: (e: Event) => void): { id: number; done(): void } {
    const id = this.nextId++;
    if (this.jobs.size === 0) this.worker.ref();
    this.jobs.set(id, deliver);
    this.worker.postMessage({ type: 'open', id, src, gzip, keys, credits: CREDITS, fd } satisfies ToWorker);
    return {
      id,
      done: () => {
        if (!this.jobs.delete(id)) return;
        if (this.jobs.size === 0) this.worker.unref();
      },
    };
  }

  post(m: ToWorker): void {
    if (m.type === 'credit' && m.buffer) this.worker.postMessage(m, [m.buffer]);
    else this.worker.postMessage(m);
  }
}

let shared: DecryptionWorker | undefined;

/**
 * Starts the run's worker ahead of its first file, so that its start (~200 ms: a thread, then the pgp
 * package loaded in it) overlaps with what comes before that file is decoded, its SHA1 check first.
 */
export function warmDecryptionWorker(): void {
  if (workerDecryptionAvailable() && (!shared || shared.dead)) shared = new DecryptionWorker();
}

/**
 * Starts decoding `src` on the run's worker: inflating it (`opts` undefined), or decrypting it, its
 * session keys recovered here first (their errors are thrown here). The worker's events for it come
 * through next(). `fd`: written there instead.
 */
async function startJob(src: string, opts: DecryptOptions | undefined, fd?: number) {
  const pgp = opts && (await import('@duplicity-ts/pgp'));
  const keys = pgp ? await pgp.recoverSessionKeys(createReadStream(src), opts!) : [];
  if (!shared || shared.dead) shared = new DecryptionWorker();
  const worker = shared;
  const queue: Event[] = [];
  let wake: (() => void) | undefined;
  const job = worker.open(src, !pgp, keys, fd, (e) => {
    queue.push(e);
    wake?.();
    wake = undefined;
  });
  let finished = false;
  /** Buffers of the last pieces handed out, oldest first (see LAG). */
  const handedOut: ArrayBuffer[] = [];
  const stop = () => {
    if (finished) return;
    finished = true;
    job.done();
  };
  return {
    /** The next piece of plaintext, or null at the end, after the signatures were judged here. */
    async next(): Promise<Uint8Array | null> {
      if (finished) return null;
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const m = queue.shift()!;
      switch (m.type) {
        case 'data':
          handedOut.push(m.data);
          worker.post({ type: 'credit', id: job.id, buffer: handedOut.length > LAG ? handedOut.shift() : undefined });
          return new Uint8Array(m.data, 0, m.length);
        case 'end':
          stop();
          pgp?.checkSignatures(m.signatures, opts!);
          return null;
        case 'error':
          stop();
          throw Object.assign(new Error(m.message), { exitCode: m.exitCode, name: m.name ?? 'Error' });
        default:
          stop();
          throw m.err;
      }
    },
    /** Stops decrypting; the worker leaves the file (an fd it writes) once it sees this. */
    cancel(): void {
      if (!finished) worker.post({ type: 'cancel', id: job.id });
      stop();
    },
  };
}

/** The plaintext of the encrypted file `src`, decrypted on the run's worker. return() (or an error) stops it. */
export async function decryptOnWorker(src: string, opts: DecryptOptions): Promise<AsyncIterator<Uint8Array>> {
  return pieces(await startJob(src, opts));
}

/** The inflated content of the gzip file `src`, inflated on the run's worker. return() (or an error) stops it. */
export async function gunzipOnWorker(src: string): Promise<AsyncIterator<Uint8Array>> {
  return pieces(await startJob(src, undefined));
}

function pieces(job: Awaited<ReturnType<typeof startJob>>): AsyncIterator<Uint8Array> {
  return {
    async next(): Promise<IteratorResult<Uint8Array>> {
      const piece = await job.next();
      return piece ? { done: false, value: piece } : { done: true, value: undefined };
    },
    async return(): Promise<IteratorResult<Uint8Array>> {
      job.cancel();
      return { done: true, value: undefined };
    },
  };
}

/**
 * Decrypts `src` into `fd` on the worker, which writes it itself: the plaintext never passes through
 * this thread. Resolves once it is all written and its MDC and signatures were checked. The worker
 * reports its end or error only once no write of its is running (PieceWriter), so when this returns
 * or throws the caller may close `fd` without its number being written to after reuse.
 */
export async function decryptToFileOnWorker(src: string, opts: DecryptOptions, fd: number): Promise<void> {
  const job = await startJob(src, opts, fd);
  try {
    while ((await job.next()) !== null);
  } finally {
    job.cancel();
  }
}
