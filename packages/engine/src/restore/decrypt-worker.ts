/**
 * Worker-thread entry of decryption-worker.ts: decrypts one passphrase-encrypted file with the pgp
 * package and posts the plaintext to the main thread in batches of about 1 MiB, each a fresh
 * transferred buffer, at most CREDITS ahead of what the main thread has taken. Errors (a bad
 * passphrase, a failed MDC) are posted with their exit code; the MDC is checked before `end`.
 */
import { createReadStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { decrypt } from '@duplicity-ts/pgp';

const BATCH = 1 << 20;
const port = parentPort!;
const { src, passphrase, credits: initial } = workerData as { src: string; passphrase: string; credits: number };

let credits = initial;
let wake: (() => void) | undefined;
port.on('message', (m) => {
  if (m === 'credit') {
    credits++;
    wake?.();
    wake = undefined;
  }
});

async function send(out: Uint8Array, length: number): Promise<void> {
  while (credits === 0) await new Promise<void>((resolve) => (wake = resolve));
  credits--;
  const buffer = out.buffer as ArrayBuffer;
  port.postMessage({ type: 'data', data: buffer, length }, [buffer]);
}

try {
  // Decrypt's output pieces may be views of buffers it reuses: each is copied into the batch
  // before the next is asked for.
  let out = new Uint8Array(BATCH);
  let length = 0;
  for await (const piece of decrypt(createReadStream(src, { highWaterMark: BATCH }), { passphrase })) {
    for (let off = 0; off < piece.length; ) {
      const n = Math.min(piece.length - off, BATCH - length);
      out.set(piece.subarray(off, off + n), length);
      length += n;
      off += n;
      if (length === BATCH) {
        await send(out, length);
        out = new Uint8Array(BATCH);
        length = 0;
      }
    }
  }
  if (length > 0) await send(out, length);
  port.postMessage({ type: 'end' });
} catch (err) {
  const e = err as { message?: string; exitCode?: number; name?: string };
  port.postMessage({ type: 'error', message: e.message ?? String(err), exitCode: e.exitCode, name: e.name });
}
