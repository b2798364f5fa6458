/**
 * SHA1 of a downloaded file (FORMAT.md §9.6: a volume's hash is checked before its content is
 * used). Large files are hashed on a helper thread so that checking volume N+1 overlaps with
 * restoring volume N on the other core; small ones (metadata, the fixtures' volumes) inline, where
 * starting a thread would cost more than the hash.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** Below this size a file is hashed on the calling thread. */
const INLINE_LIMIT = 8 << 20;
const READ_SIZE = 4 << 20;

/** Reads and hashes an open file synchronously (page-cache reads of a local temp file). */
function sha1OfFd(fd: number, buf: Buffer): string {
  const h = createHash('sha1');
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
  }
  return h.digest('hex');
}

// The helper thread's program: the same loop as sha1OfFd. It is given as source text (an eval
// worker) rather than a module file, so it runs alike from src/ under vitest and from dist/.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const buf = Buffer.allocUnsafe(${READ_SIZE});
parentPort.on('message', ({ id, path }) => {
  let fd;
  try {
    fd = openSync(path, 'r');
    const h = createHash('sha1');
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
    parentPort.postMessage({ id, sha1: h.digest('hex') });
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
});
`;

interface Pending {
  resolve(hex: string): void;
  reject(err: Error): void;
}

/** One lazily started helper thread, referenced only while it has work (it never holds the process open). */
class HashThread {
  private worker?: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  sha1(path: string): Promise<string> {
    const w = this.start();
    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) w.ref();
      w.postMessage({ id, path });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.unref();
    w.on('message', (m: { id: number; sha1?: string; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.sha1 !== undefined) p.resolve(m.sha1);
      else p.reject(new Error(m.error ?? 'hash failed'));
    });
    const fail = (err: Error) => {
      this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`hash thread exited (${code})`)));
    this.worker = w;
    return w;
  }
}

const thread = new HashThread();
let inlineBuf: Buffer | undefined;

/** Lowercase hex SHA1 of a local file. */
export async function sha1OfFile(path: string): Promise<string> {
  const fd = openSync(path, 'r');
  let size: number;
  try {
    size = fstatSync(fd).size;
    if (size < INLINE_LIMIT) {
      inlineBuf ??= Buffer.allocUnsafe(1 << 20);
      return sha1OfFd(fd, inlineBuf);
    }
  } finally {
    closeSync(fd);
  }
  return thread.sha1(path);
}
