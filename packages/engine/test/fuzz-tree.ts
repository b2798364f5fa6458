/**
 * Random trees and edit sequences for the real-duplicity fuzz tests (fast-check arbitraries,
 * deterministic contents, the fixtures' list-tree.py listing), shared by fuzz-restore.test.ts (real
 * duplicity writes, duplicity-ts restores) and compat-fuzz.test.ts (the other way round).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync, chmodSync, renameSync, truncateSync, openSync, writeSync, closeSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const listTree = path.resolve(repoRoot, '../shared/fixtures/tools/list-tree.py');

export type FType = 'file' | 'dir' | 'symlink' | 'fifo';
export type Op =
  | { kind: 'create'; parent: number; name: string; ftype: FType; size: number; seed: number }
  | { kind: 'modify'; pick: number; at: number; len: number; seed: number }
  | { kind: 'append'; pick: number; len: number; seed: number }
  | { kind: 'truncate'; pick: number; frac: number }
  | { kind: 'delete'; pick: number }
  | { kind: 'chmod'; pick: number; mode: number }
  | { kind: 'rename'; pick: number; parent: number; name: string }
  | { kind: 'retype'; pick: number; ftype: FType; size: number; seed: number };

const NAMES = ['a', 'b.txt', 'c d', 'é.txt', '日本語', 'emoji-🎉', 'L'.repeat(110), `${'x'.repeat(60)}-${'é'.repeat(30)}`, 'sub', 'deep', 'z'];
const name = fc.constantFrom(...NAMES);
const ftype = fc.constantFrom<FType>('file', 'file', 'file', 'dir', 'dir', 'symlink', 'fifo');
const size = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0, max: 4000 }) },
  { weight: 2, arbitrary: fc.constantFrom(65535, 65536, 131072) },
  { weight: 1, arbitrary: fc.integer({ min: 1_100_000, max: 2_600_000 }) },
);
const pick = fc.nat();
const seed = fc.integer({ min: 1, max: 0x7fffffff });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('create' as const), parent: pick, name, ftype, size, seed }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('modify' as const), pick, at: fc.double({ min: 0, max: 1, noNaN: true }), len: fc.integer({ min: 1, max: 300 }), seed }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('append' as const), pick, len: fc.integer({ min: 1, max: 5000 }), seed }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), pick, frac: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('chmod' as const), pick, mode: fc.constantFrom(0o600, 0o644, 0o755, 0o700, 0o444, 0o555, 0o4755, 0o2755, 0o1777, 0o640) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rename' as const), pick, parent: pick, name }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('retype' as const), pick, ftype, size, seed }) },
);
export const scenario = fc.record({
  initial: fc.array(op, { minLength: 3, maxLength: 10 }),
  steps: fc.array(fc.record({ full: fc.integer({ min: 0, max: 3 }).map((n) => n === 0), ops: fc.array(op, { minLength: 1, maxLength: 5 }) }), { minLength: 1, maxLength: 3 }),
});

/** Deterministic bytes (xorshift32): big contents without big generated values. */
function bytes(n: number, s: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = s | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Every entry below root (relative paths), parents before children. */
function entries(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      if (lstatSync(path.join(root, r)).isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

function make(p: string, t: FType, n: number, s: number, root: string) {
  if (t === 'file') writeFileSync(p, bytes(n, s));
  else if (t === 'dir') mkdirSync(p);
  else if (t === 'symlink') symlinkSync(s % 2 ? path.relative(path.dirname(p), root) || '.' : `target-${s % 1000}`, p);
  else execFileSync('mkfifo', [p]);
}

/** Applies ops to the tree at root; touched entries and every directory get mtime `t`. */
export function applyOps(root: string, ops: Op[], t: number) {
  const touched = new Set<string>();
  for (const o of ops) {
    const all = entries(root);
    const files = all.filter((e) => lstatSync(path.join(root, e)).isFile());
    const dirs = ['', ...all.filter((e) => lstatSync(path.join(root, e)).isDirectory())];
    const at = (list: string[], i: number) => list[i % list.length];
    switch (o.kind) {
      case 'create': {
        const p = path.join(root, at(dirs, o.parent), o.name);
        if (existsSync(p) || isLink(p)) break;
        make(p, o.ftype, o.size, o.seed, root);
        touched.add(p);
        break;
      }
      case 'modify': {
        if (!files.length) break;
        const p = path.join(root, at(files, o.pick));
        const len = lstatSync(p).size;
        if (!len) break;
        const fd = openSync(p, 'r+');
        writeSync(fd, bytes(Math.min(o.len, len), o.seed), 0, Math.min(o.len, len), Math.floor(o.at * (len - Math.min(o.len, len))));
        closeSync(fd);
        touched.add(p);
        break;
      }
      case 'append': {
        if (!files.length) break;
        const p = path.join(root, at(files, o.pick));
        appendFileSync(p, bytes(o.len, o.seed));
        touched.add(p);
        break;
      }
      case 'truncate': {
        if (!files.length) break;
        const p = path.join(root, at(files, o.pick));
        truncateSync(p, Math.floor(lstatSync(p).size * o.frac));
        touched.add(p);
        break;
      }
      case 'delete': {
        if (!all.length) break;
        rmSync(path.join(root, at(all, o.pick)), { recursive: true, force: true });
        break;
      }
      case 'chmod': {
        const cand = all.filter((e) => !lstatSync(path.join(root, e)).isSymbolicLink());
        if (!cand.length) break;
        const p = path.join(root, at(cand, o.pick));
        chmodSync(p, o.mode);
        touched.add(p);
        break;
      }
      case 'rename': {
        if (!all.length) break;
        const from = at(all, o.pick);
        const parent = at(dirs, o.parent);
        if (parent === from || parent.startsWith(`${from}/`)) break;
        const to = path.join(root, parent, o.name);
        if (existsSync(to) || isLink(to)) break;
        renameSync(path.join(root, from), to);
        break;
      }
      case 'retype': {
        if (!all.length) break;
        const p = path.join(root, at(all, o.pick));
        rmSync(p, { recursive: true, force: true });
        make(p, o.ftype, o.size, o.seed, root);
        touched.add(p);
        break;
      }
    }
  }
  for (const p of touched) if (existsSync(p) && !isLink(p)) utimesSync(p, t, t);
  for (const e of ['', ...entries(root)]) {
    const p = path.join(root, e);
    if (lstatSync(p).isDirectory()) utimesSync(p, t, t);
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

export function tree(dir: string): string {
  return execFileSync('python3', [listTree, dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

