/**
 * Shared by the maintenance tests (retention, verify, integrity, lock, resume, fault): run the real
 * duplicity and duplicity-ts on the same inputs with the same environment, and look at what they
 * left behind; and for the compat tests: seeded bytes, a work dir, a run that must succeed, the
 * fixtures' tree listing. duplicity-ts runs from the build (`npm run build`; `npm test` builds first).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const repoRoot = path.resolve(import.meta.dirname, '../../..');
export const fixtures = path.resolve(repoRoot, '../shared/fixtures/duplicity-0.8.22');
export const TS_BIN = path.join(repoRoot, 'node_modules/.bin/duplicity-ts');
const LIST_TREE = path.resolve(repoRoot, '../shared/fixtures/tools/list-tree.py');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export type Tool = 'duplicity' | 'duplicity-ts';

export function baseEnv(work: string, extra: Record<string, string> = {}): Record<string, string> {
  const home = path.join(work, 'home');
  mkdirSync(home, { recursive: true });
  return { PATH: process.env.PATH!, HOME: home, TZ: 'UTC', LC_ALL: 'C.UTF-8', TMPDIR: work, ...extra };
}

export function run(tool: Tool, args: string[], env: Record<string, string>, timeout = 300_000): Run {
  const r = spawnSync(tool === 'duplicity' ? 'duplicity' : TS_BIN, args, { encoding: 'utf8', env, timeout });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs duplicity-ts in the background; resolves with its exit status or signal. */
export function spawnTs(args: string[], env: Record<string, string>) {
  const child = spawn(TS_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr })),
  );
  return { child, done };
}

/** `n` bytes from a xorshift32 stream seeded with `seed`: the same bytes on every run, incompressible. */
export function seededBytes(seed: number, n: number): Buffer {
  let x = seed >>> 0 || 1;
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** File names in a directory, sorted (empty when it does not exist). */
export function names(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** Lines that differ only by per-run temp paths are made equal. */
export function normalise(out: string): string {
  return out.replace(/duplicity-[A-Za-z0-9_]+-tempdir/g, 'TEMPDIR').replace(/\/tmp\/[^\s]*/g, (p) => p.replace(/-[a-z0-9]{6}\b/g, '-X'));
}

/** Everything a restore must bring back, as one comparable text. */
export function treeDigest(root: string): string {
  const lines: string[] = [];
  const walk = (rel: string) => {
    const p = path.join(root, rel);
    const st = lstatSync(p);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) {
      lines.push(`d ${rel || '.'} ${mode}`);
      for (const n of readdirSync(p).sort()) walk(path.join(rel, n));
    } else if (st.isSymbolicLink()) lines.push(`l ${rel} -> ${readlinkSync(p)}`);
    else lines.push(`f ${rel} ${mode} ${Math.trunc(st.mtimeMs / 1000)} ${createHash('sha1').update(readFileSync(p)).digest('hex')}`);
  };
  walk('');
  return lines.join('\n');
}

/** A tree as the fixtures' expected listings show it (paths, types, modes, sizes, digests: list-tree.py). */
export function listTree(dir: string): string {
  return execFileSync('python3', [LIST_TREE, dir]).toString();
}

/** A temp dir for the calling test file (made before its tests, once the CLI is built; removed after them). */
export function compatWorkDir(prefix: string): () => string {
  let work: string | undefined;
  beforeAll(() => {
    if (!existsSync(path.join(repoRoot, 'packages/cli/dist/main.js'))) throw new Error('build the CLI first: npm run build');
    work = mkdtempSync(path.join(tmpdir(), prefix));
  });
  afterAll(() => rmSync(work!, { recursive: true, force: true }));
  return () => work!;
}

export type CompatTool = 'duplicity' | 'ours';

/** Runs a tool in `cwd` and returns what it printed; a failure throws with its exit code and both outputs. */
export function runOk(tool: CompatTool, args: string[], env: NodeJS.ProcessEnv, cwd: string): string {
  const r = spawnSync(tool === 'ours' ? TS_BIN : 'duplicity', args, { cwd, env, encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
