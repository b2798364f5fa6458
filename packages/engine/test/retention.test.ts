/**
 * remove-older-than, remove-all-but-n-full, remove-all-inc-of-but-n-full and cleanup against
 * archives made by the real duplicity 0.8.22: each command runs with real duplicity on one copy and
 * with duplicity-ts on another (backend and cache), and both must leave the same files, print the
 * same report and exit the same. Needs `npm run build`.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, names, normalise, run, type Tool } from './fault-harness.js';

let work: string;
let env: Record<string, string>;
/** A backend with three chains (full+inc, full+inc, full) and its cache, both made by duplicity. */
let dst0: string;
let cache0: string;
const T0 = 1700000000;

function dup(args: string[], archive: string, cache: string, tool: Tool = 'duplicity') {
  return run(tool, ['--no-encryption', '--archive-dir', cache, '--name', 'n', ...args, `file://${archive}`], env);
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'retention-'));
  env = baseEnv(work);
  const src = path.join(work, 'src');
  dst0 = path.join(work, 'dst0');
  cache0 = path.join(work, 'cache0');
  cpSync(path.join(import.meta.dirname, '../src/collection'), src, { recursive: true });
  const backup = (kind: string, t: number) => {
    writeFileSync(path.join(src, 'changing.txt'), `state at ${t}\n`);
    const r = run('duplicity', [kind, '--no-encryption', '--archive-dir', cache0, '--name', 'n', '--current-time', String(t), src, `file://${dst0}`], env);
    expect(r.status, r.stderr).toBe(0);
  };
  backup('full', T0);
  backup('inc', T0 + 100);
  backup('full', T0 + 200);
  backup('inc', T0 + 300);
  backup('full', T0 + 400);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Outcome {
  status: number | null;
  stdout: string;
  stderr: string;
  remote: string[];
  cache: string[];
}

/** Runs `args` with each tool on its own copy of `dst`/`cache` (after `prepare`). */
function compare(args: string[], prepare?: (dst: string, cache: string) => void, from = dst0, fromCache = cache0): Record<Tool, Outcome> {
  const out = {} as Record<Tool, Outcome>;
  for (const tool of ['duplicity', 'duplicity-ts'] as Tool[]) {
    const dir = mkdtempSync(path.join(work, `${tool}-`));
    const dst = path.join(dir, 'dst');
    const cache = path.join(dir, 'cache');
    cpSync(from, dst, { recursive: true });
    cpSync(fromCache, cache, { recursive: true });
    prepare?.(dst, path.join(cache, 'n'));
    const r = dup(args, dst, cache, tool);
    out[tool] = {
      status: r.status,
      stdout: normalise(r.stdout).replaceAll(dir, 'DIR'),
      stderr: r.stderr,
      remote: names(dst),
      cache: names(path.join(cache, 'n')).filter((n) => n !== 'lockfile'),
    };
  }
  return out;
}

function expectSame(o: Record<Tool, Outcome>, compareStdout: boolean | ((s: string) => string) = true) {
  const ts = o['duplicity-ts'];
  const d = o.duplicity;
  expect(ts.stderr).toBe('');
  expect(ts.status).toBe(d.status);
  expect(ts.remote).toEqual(d.remote);
  expect(ts.cache).toEqual(d.cache);
  if (compareStdout === true) expect(ts.stdout).toBe(d.stdout);
  else if (compareStdout) expect(compareStdout(ts.stdout)).toBe(compareStdout(d.stdout));
}

describe('remove-older-than', () => {
  for (const [label, t] of [
    ['between chains, a full set older than T kept for its newer inc', T0 + 250],
    ['before every backup', T0 - 1000],
    ['as an interval (everything is older than 1s ago; the active chain stays)', '1s'],
  ] as const) {
    for (const force of t === T0 + 250 ? [false, true] : [true]) {
      it(`${label}${force ? ' --force' : ''}`, () => {
        const o = compare(['remove-older-than', String(t), ...(force ? ['--force'] : [])]);
        if (t === '1s' && force) {
          // Documented difference: duplicity also deletes the active chain's remote signatures.
          const d = o.duplicity;
          const ts = o['duplicity-ts'];
          expect(d.remote.filter((n) => !ts.remote.includes(n))).toEqual([]);
          expect(ts.remote.filter((n) => !d.remote.includes(n))).toEqual([`duplicity-full-signatures.20231114T222000Z.sigtar.gz`]);
          expect(ts.cache).toEqual(d.cache);
          expect(ts.stdout).toBe(d.stdout.replace('Deleting complete signature chain Tue Nov 14 22:20:00 2023\n', ''));
        } else expectSame(o);
      });
    }
  }
});

describe('remove-all-but-n-full / remove-all-inc-of-but-n-full', () => {
  for (const n of [1, 5]) {
    it(`remove-all-but-n-full ${n} --force`, () => expectSame(compare(['remove-all-but-n-full', String(n), '--force'])));
  }
  it('remove-all-but-n-full 1 lists without --force', () => expectSame(compare(['remove-all-but-n-full', '1'])));
  for (const n of [1]) {
    it(`remove-all-inc-of-but-n-full ${n} --force keeps every full set`, () => {
      const o = compare(['remove-all-inc-of-but-n-full', String(n), '--force']);
      expectSame(o);
      expect(o['duplicity-ts'].remote.filter((f) => f.startsWith('duplicity-full.')).length).toBe(6);
    });
  }
  it('a count of 0 is a command-line error (exit 2), nothing deleted', () => {
    const o = compare(['remove-all-but-n-full', '0', '--force']);
    expect(o['duplicity-ts'].status).toBe(2);
    expect(o.duplicity.status).toBe(2);
    expect(o['duplicity-ts'].remote).toEqual(names(dst0));
    expect(o['duplicity-ts'].stderr).toMatch(/^duplicity-ts: .*count must be > 0.*\n$/);
  });
});

describe('cleanup', () => {
  const fromLastFull = (s: string) => s.slice(s.indexOf('Last full backup date'));
  const damage = (dst: string) => {
    // An orphaned incremental (its full set gone), an incomplete set (a volume, no manifest),
    // an orphaned remote signature file.
    for (const n of names(dst)) if (n.startsWith('duplicity-full.20231114T221320Z')) unlinkSync(path.join(dst, n));
    writeFileSync(path.join(dst, 'duplicity-full.20231114T230000Z.vol1.difftar.gz'), gzipSync('junk'));
    writeFileSync(path.join(dst, 'duplicity-inc.20231114T222000Z.to.20231114T223000Z.vol2.difftar.gz'), gzipSync('junk'));
    writeFileSync(path.join(dst, 'duplicity-new-signatures.20231114T230000Z.to.20231114T230100Z.sigtar.gz'), gzipSync('junk'));
  };
  it('nothing to clean', () => expectSame(compare(['cleanup', '--force'])));
  it('lists orphaned and incomplete sets and orphaned signatures', () => expectSame(compare(['cleanup'], damage), fromLastFull));
  it('--force deletes them (the orphaned set\'s cache manifest stays, as in duplicity)', () => expectSame(compare(['cleanup', '--force'], damage), fromLastFull));

  it('removes the partial set of an interrupted duplicity run even without --force', () => {
    const dst = path.join(work, 'partial-dst');
    const cache = path.join(work, 'partial-cache');
    const src = path.join(work, 'partial-src');
    cpSync(path.join(work, 'src'), src, { recursive: true });
    writeFileSync(path.join(src, 'big'), randomBytes(2_500_000));
    expect(run('duplicity', ['full', '--no-encryption', '--volsize', '1', '--archive-dir', cache, '--name', 'n', '--current-time', String(T0), src, `file://${dst}`], env).status).toBe(0);
    writeFileSync(path.join(src, 'big2'), randomBytes(2_500_000));
    const failed = run('duplicity', ['inc', '--no-encryption', '--volsize', '1', '--archive-dir', cache, '--name', 'n', '--current-time', String(T0 + 100), '--fail-on-volume', '2', src, `file://${dst}`], env);
    expect(failed.status).toBe(30);
    expect(names(path.join(cache, 'n')).some((n) => n.endsWith('.manifest.part'))).toBe(true);
    const o = compare(['cleanup'], undefined, dst, cache);
    expectSame(o);
    expect(o['duplicity-ts'].stdout).toContain('Cleaning up previous partial cleanup backup set, restarting.');
    expect(o['duplicity-ts'].remote.some((n) => n.startsWith('duplicity-inc.'))).toBe(false);
  });
});
