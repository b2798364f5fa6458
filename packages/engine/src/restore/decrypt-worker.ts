/**
 * Worker-thread entry of decryption-worker.ts: one thread for a whole run, decrypting (or, for .gz
 * volumes, inflating: gunzip.ts) any number of files (jobs), several at a time when the main thread reads several volumes at once (the sets of an
 * incremental chain, a prefetched temp-first volume). A job gets its file's session keys (recovered
 * on the main thread, where the keyring and passphrase are) and posts the plaintext in batches of
 * about 1 MiB, each a transferred buffer (reused once the main thread gives it back), at most CREDITS ahead of what the main thread has
 * taken, or writes it to a file descriptor the main thread opened (temp-first decryption).
 * Signatures are not judged here (no keyring): their digests go back with `end`. Errors (a failed
 * MDC, a wrong key) are posted with their exit code; the MDC is checked before `end`.
 */
import { parentPort } from 'node:worker_threads';
import type { SignedDigest } from '@duplicity-ts/pgp';
import type { ToWorker } from './decryption-worker.js';
import { PieceWriter } from './piece-writer.js';
import { inflaterEngine } from '@duplicity-ts/libdeflate';
import { gunzipFile, gunzipFileSync } from './gunzip.js';
import { ringPieces } from './ring-pieces.js';

const BATCH = 1 << 20;
const port = parentPort!;

interface Job {
  credits: number;
  cancelled: boolean;
  wake?: () => void;
}
const jobs = new Map<number, Job>();
/**
 * Batch buffers the main thread gave back (decryption-worker.ts LAG), for any job. At most as many
 * exist as were ever in flight at once, so the pool stays bounded.
 */
const spare: ArrayBuffer[] = [];

port.on('message', (m: ToWorker) => {
  if (m.type === 'open') {
    void run(m);
    return;
  }
  if (m.type === 'credit' && m.buffer) spare.push(m.buffer);
  const job = jobs.get(m.id);
  if (!job) return;
  if (m.type === 'credit') {
    job.credits++;
  } else job.cancelled = true;
  job.wake?.();
  job.wake = undefined;
});

/**
 * Pieces of a file to decode, read synchronously into READ_RING reused buffers (ring-pieces.ts): the pgp
 * reader holds at most an AEAD chunk (4 MiB) and a packet header of earlier pieces before it copies.
 */
const READ_RING = 8;
const fileChunks = (path: string) => ringPieces(path, { ring: READ_RING, chunk: BATCH, sync: true });

async function* cancellable(src: AsyncIterable<Uint8Array>, job: Job): AsyncGenerator<Uint8Array> {
  for await (const piece of src) {
    if (job.cancelled) return;
    yield piece;
  }
}

async function run(m: Extract<ToWorker, { type: 'open' }>): Promise<void> {
  const job: Job = { credits: m.credits, cancelled: false };
  jobs.set(m.id, job);
  /** False once the job was cancelled: the caller stopped reading. */
  const send = async (out: Uint8Array, length: number): Promise<boolean> => {
    while (job.credits === 0 && !job.cancelled) await new Promise<void>((resolve) => (job.wake = resolve));
    if (job.cancelled) return false;
    job.credits--;
    const buffer = out.buffer as ArrayBuffer;
    port.postMessage({ id: m.id, type: 'data', data: buffer, length }, [buffer]);
    return true;
  };
  try {
    const signatures: SignedDigest[] = [];
    let plaintext: AsyncIterable<Uint8Array>;
    if (m.gzip) {
      plaintext = inflaterEngine() ? gunzipFileSync(m.src) : gunzipFile(m.src);
    } else {
      // Loaded on the first encrypted file: a --no-encryption run does not load OpenPGP.
      const { decrypt } = await import('@duplicity-ts/pgp');
      // Cloning made the keys' Buffers Uint8Arrays.
      const sessionKeys = m.keys.map((k) => ({ cipher: k.cipher, key: Buffer.from(k.key) }));
      // reuseOutput: each piece is copied into a batch (or written) before the next is asked for.
      plaintext = decrypt(fileChunks(m.src), { sessionKeys, deferSignatures: (s) => signatures.push(s), reuseOutput: true });
    }
    if (m.fd !== undefined) {
      // Temp-first decryption: written here, the plaintext never crosses to the main thread.
      // Cancelling stops it at the next piece; PieceWriter returns only once no write is running.
      await new PieceWriter().write(m.fd, cancellable(plaintext, job));
      if (job.cancelled) return;
      port.postMessage({ id: m.id, type: 'end', signatures });
      return;
    }
    // Decrypt's output pieces may be views of buffers it reuses: each is copied into the batch
    // before the next is asked for.
    const batch = () => new Uint8Array(spare.pop() ?? new ArrayBuffer(BATCH));
    let out = batch();
    let length = 0;
    for await (const piece of plaintext) {
      for (let off = 0; off < piece.length; ) {
        const n = Math.min(piece.length - off, BATCH - length);
        out.set(piece.subarray(off, off + n), length);
        length += n;
        off += n;
        if (length === BATCH) {
          if (!(await send(out, length))) return;
          out = batch();
          length = 0;
        }
      }
    }
    if (length > 0 && !(await send(out, length))) return;
    port.postMessage({ id: m.id, type: 'end', signatures });
  } catch (err) {
    // Only the message and exit code cross: an error's cause could hold key material.
    const e = err as { message?: string; exitCode?: number; name?: string };
    port.postMessage({ id: m.id, type: 'error', message: e.message ?? String(err), exitCode: e.exitCode, name: e.name });
  } finally {
    jobs.delete(m.id);
  }
}
