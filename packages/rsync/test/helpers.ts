// Shared helpers for the rsync tests: whole-buffer wrappers around the streaming APIs, and rdiff.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeltaBuilder, patch, Signature, SignatureBuilder, type PatchBasis, type SignatureParams } from '@duplicity-ts/rsync';

/** Splits `data` at the given cut points (sorted, any values) into consecutive pieces. */
export function pieces(data: Uint8Array, chunk?: number): Uint8Array[] {
  if (!chunk) return [data];
  const out: Uint8Array[] = [];
  for (let o = 0; o < data.length; o += chunk) out.push(data.subarray(o, o + chunk));
  return out;
}

export function makeSignature(p: SignatureParams, data: Uint8Array, chunk?: number): Buffer {
  const b = new SignatureBuilder(p);
  const out = pieces(data, chunk).map((c) => b.update(c));
  out.push(b.final());
  return Buffer.concat(out);
}

export function makeDelta(sig: Uint8Array, data: Uint8Array, chunk?: number): Buffer {
  const b = new DeltaBuilder(Signature.parse(sig));
  const out = pieces(data, chunk).map((c) => b.update(c));
  out.push(b.final());
  return Buffer.concat(out);
}

export function memoryBasis(data: Uint8Array): PatchBasis {
  return { size: data.length, read: async (p, l) => data.subarray(p, p + l) };
}

export async function applyDelta(basis: Uint8Array, delta: Uint8Array, chunk?: number): Promise<Buffer> {
  const src = (async function* () {
    yield* pieces(delta, chunk);
  })();
  const out: Uint8Array[] = [];
  for await (const c of patch(memoryBasis(basis), src)) out.push(c);
  return Buffer.concat(out);
}

export function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'rsync-test-'));
  let async = false;
  try {
    const r = fn(dir);
    if (r instanceof Promise) {
      async = true;
      return r.finally(() => rmSync(dir, { recursive: true, force: true })) as T;
    }
    return r;
  } finally {
    if (!async) rmSync(dir, { recursive: true, force: true });
  }
}

/** True when the real rdiff is installed; in CI (CI=true) its absence is a failure, not a skip. */
export function haveRdiff(): boolean {
  const ok = spawnSync('rdiff', ['--version']).status === 0;
  if (!ok && process.env.CI === 'true') throw new Error('rdiff is required in CI but is not installed');
  return ok;
}

export function rdiff(args: string[]): void {
  execFileSync('rdiff', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function randomBytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Byte equality with a short message (vitest's deep equality is slow on large buffers). */
export function sameBytes(actual: Uint8Array, expected: Uint8Array): string {
  if (Buffer.compare(actual, expected) === 0) return 'same';
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  return `differ at offset ${i} (lengths ${actual.length} and ${expected.length})`;
}
