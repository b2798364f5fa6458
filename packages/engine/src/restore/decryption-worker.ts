/**
 * Decrypting a passphrase-encrypted volume on a worker thread (decrypt-worker.ts), so that AES,
 * the MDC's SHA1 and inflate run beside the main thread's tar parsing and file writing instead of
 * taking turns with them: the biggest cost of a symmetric restore. The plaintext arrives as an
 * async iterator of ~1 MiB pieces with a bounded number in flight; the worker's errors (exit codes
 * kept) are thrown from next(), and `done` comes only after the MDC was checked.
 *
 * Only for messages a passphrase alone opens (the first packet is a symmetric-key session packet):
 * keyrings and signer checks stay on the main thread. Running from the TypeScript sources (unit
 * tests) there is no compiled worker file; `available()` says so and callers decrypt in-thread.
 */
import { existsSync, openSync, readSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const WORKER_URL = new URL('./decrypt-worker.js', import.meta.url);
const CREDITS = 4;

export function workerDecryptionAvailable(): boolean {
  return WORKER_URL.protocol === 'file:' && existsSync(fileURLToPath(WORKER_URL));
}

/** Whether the message in `file` starts with a Symmetric-Key Encrypted Session Key packet (tag 3). */
export function startsWithSymmetricSessionKey(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(1);
    if (readSync(fd, b, 0, 1, 0) !== 1 || (b[0] & 0x80) === 0) return false;
    const tag = b[0] & 0x40 ? b[0] & 0x3f : (b[0] >> 2) & 0x0f;
    return tag === 3;
  } finally {
    closeSync(fd);
  }
}

type Message = { type: 'data'; data: ArrayBuffer; length: number } | { type: 'end' } | { type: 'error'; message: string; exitCode?: number; name?: string };

/** The plaintext of `src`; return() (or an error) stops the worker. */
export function decryptOnWorker(src: string, passphrase: string): AsyncIterator<Uint8Array> {
  const worker = new Worker(WORKER_URL, { workerData: { src, passphrase, credits: CREDITS } });
  const queue: (Message | { type: 'crash'; err: Error })[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  const push = (m: (typeof queue)[number]) => {
    queue.push(m);
    wake?.();
    wake = undefined;
  };
  worker.on('message', (m: Message) => push(m));
  worker.on('error', (err) => push({ type: 'crash', err }));
  worker.on('exit', (code) => push({ type: 'crash', err: new Error(`decryption worker exited (${code})`) }));
  const stop = async () => {
    if (finished) return;
    finished = true;
    await worker.terminate();
  };
  return {
    async next(): Promise<IteratorResult<Uint8Array>> {
      if (finished) return { done: true, value: undefined };
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const m = queue.shift()!;
      switch (m.type) {
        case 'data':
          worker.postMessage('credit');
          return { done: false, value: new Uint8Array(m.data, 0, m.length) };
        case 'end':
          await stop();
          return { done: true, value: undefined };
        case 'error':
          await stop();
          throw Object.assign(new Error(m.message), { exitCode: m.exitCode, name: m.name ?? 'Error' });
        default:
          await stop();
          throw m.err;
      }
    },
    async return(): Promise<IteratorResult<Uint8Array>> {
      await stop();
      return { done: true, value: undefined };
    },
  };
}
