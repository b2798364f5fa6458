// DeltaWorkers: a file's delta and new signature computed on a worker thread, which reads the file
// itself, are the bytes DeltaBuilder gives in this thread; budgets, failures and cancellation.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeltaBuilder, DeltaJobError, DeltaWorkers, Signature, type SignatureParams } from '@duplicity-ts/rsync';
import { makeSignature, sameBytes } from './helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'delta-workers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (Math.imul(i + seed, 2654435761) >>> 13) & 0xff);

function inThread(sig: Uint8Array, data: Uint8Array): { delta: Buffer; signature: Buffer } {
  const b = new DeltaBuilder(Signature.parse(sig), { signature: true });
  const delta = [b.update(data), b.final()];
  return { delta: Buffer.concat(delta), signature: Buffer.from(b.takeSignature()) };
}

async function drain(job: ReturnType<DeltaWorkers['job']>): Promise<{ delta: Buffer; signature: Buffer; read: number }> {
  const delta: Buffer[] = [];
  const signature: Buffer[] = [];
  let read = 0;
  // Pieces are valid until the next call: copied here.
  for (let p = await job.next(); p; p = await job.next()) {
    delta.push(Buffer.from(p.delta));
    signature.push(Buffer.from(p.signature));
    read += p.read;
  }
  return { delta: Buffer.concat(delta), signature: Buffer.concat(signature), read };
}

describe.skipIf(!DeltaWorkers.available())('DeltaWorkers', () => {
  const p: SignatureParams = { hash: 'blake2', weak: 'rabinkarp', blockLen: 2048, strongLen: 32 };

  it('gives DeltaBuilder bytes for files queued ahead, with a budget smaller than one delta', async () => {
    const old = bytes(9 << 20, 1);
    const files = [
      // local overwrites, an append, a full rewrite (its delta is as big as the file), empty
      Buffer.concat([old.subarray(0, 3 << 20), bytes(5000, 7), old.subarray((3 << 20) + 5000)]),
      Buffer.concat([old, bytes((3 << 20) + 17, 3)]),
      bytes(6 << 20, 99),
      new Uint8Array(0),
    ];
    const sig = makeSignature(p, old);
    const workers = new DeltaWorkers(2, 1 << 20);
    try {
      const jobs = files.map((data, i) => {
        const file = path.join(dir, `f${i}`);
        writeFileSync(file, data);
        return workers.job(Buffer.from(file), sig, { signature: true });
      });
      for (const [i, job] of jobs.entries()) {
        const got = await drain(job);
        const want = inThread(sig, files[i]);
        expect(got.read).toBe(files[i].length);
        expect(sameBytes(got.delta, want.delta)).toBe('same');
        expect(sameBytes(got.signature, want.signature)).toBe('same');
        expect(sameBytes(got.signature, makeSignature(p, files[i]))).toBe('same');
      }
    } finally {
      await workers.close();
    }
  });

  it('reports a file it cannot open as an opening failure, and goes on with the next jobs', async () => {
    const sig = makeSignature(p, bytes(10000, 2));
    const file = path.join(dir, 'ok');
    writeFileSync(file, bytes(20000, 2));
    const workers = new DeltaWorkers(1);
    try {
      const missing = workers.job(Buffer.from(path.join(dir, 'missing')), sig, { signature: true });
      const cancelled = workers.job(Buffer.from(file), sig, { signature: true });
      const ok = workers.job(Buffer.from(file), sig, { signature: true });
      const err = await missing.next().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeltaJobError);
      expect((err as DeltaJobError).opening).toBe(true);
      expect((err as Error).message).toMatch(/ENOENT/);
      cancelled.cancel();
      expect(await cancelled.next()).toBeNull();
      expect((await drain(ok)).read).toBe(20000);
    } finally {
      await workers.close();
    }
  });
});
