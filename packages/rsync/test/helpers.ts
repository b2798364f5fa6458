// Shared helpers for the rsync tests: whole-buffer wrappers around the streaming APIs, and rdiff.
import { execFileSync, spawnSync } from 'node:child_process';
import fc from 'fast-check';
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

/** Bytes from a small or full alphabet: small alphabets make weak-sum collisions and repeated blocks. */
export const bytesArb = (max: number) =>
  fc.oneof(
    fc.uint8Array({ maxLength: max }),
    fc.tuple(fc.integer({ min: 1, max: 3 }), fc.nat(max)).map(([k, n]) => Uint8Array.from({ length: n }, (_, i) => ((i * 7919) >> 5) % k)),
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.nat(max)).map(([v, n]) => new Uint8Array(n).fill(v)),
  );

export type Edit =
  | { kind: 'insert'; at: number; data: Uint8Array }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'overwrite'; at: number; data: Uint8Array }
  | { kind: 'move'; from: number; len: number; to: number };

export const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x), data: bytesArb(300) }).map((e) => ({ ...e, at: e.at })),
  fc.record({ kind: fc.constant('delete' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.nat(3000) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), data: bytesArb(300) }),
  fc.record({ kind: fc.constant('move' as const), from: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.nat(5000), to: fc.double({ min: 0, max: 1, noNaN: true }) }),
) as fc.Arbitrary<Edit>;

export function applyEdits(old: Uint8Array, edits: Edit[]): Uint8Array {
  let b = Buffer.from(old);
  const pos = (x: number) => Math.floor(x * b.length);
  for (const e of edits) {
    if (e.kind === 'insert') { const at = pos(e.at); b = Buffer.concat([b.subarray(0, at), e.data, b.subarray(at)]); }
    else if (e.kind === 'delete') { const at = pos(e.at); b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.len)]); }
    else if (e.kind === 'overwrite') { const at = pos(e.at); b = Buffer.concat([b.subarray(0, at), e.data, b.subarray(at + e.data.length)]); }
    else {
      const from = pos(e.from);
      const piece = Buffer.from(b.subarray(from, from + e.len));
      const rest = Buffer.concat([b.subarray(0, from), b.subarray(from + e.len)]);
      const to = Math.floor(e.to * rest.length);
      b = Buffer.concat([rest.subarray(0, to), piece, rest.subarray(to)]);
    }
  }
  return b;
}
