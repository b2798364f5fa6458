/**
 * collection-status and list-current-files print what real duplicity 0.8.22 prints for the same
 * archive, and the archive dir (cache) each one fills is usable by the other: both tools run on
 * copies of the fixtures and on multi-chain archives with orphaned and incomplete sets that real
 * duplicity makes here, with the same environment (TZ, XDG_CACHE_HOME), so nothing is masked but
 * the per-run temp paths. Needs `npm run build` (npm test builds first).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const fixtures = path.resolve(repoRoot, '../shared/fixtures/duplicity-0.8.22');
const TS_BIN = path.join(repoRoot, 'node_modules/.bin/duplicity-ts');

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'collection-cli-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(tool: 'duplicity' | 'duplicity-ts', args: string[], env: Record<string, string>): Run {
  const home = path.join(work, 'home');
  mkdirSync(home, { recursive: true });
  const r = spawnSync(tool === 'duplicity' ? 'duplicity' : TS_BIN, args, {
    encoding: 'utf8',
    env: { PATH: process.env.PATH!, HOME: home, TZ: 'UTC', LC_ALL: 'C.UTF-8', TMPDIR: work, ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function both(args: string[], envDup: Record<string, string>, envTs: Record<string, string> = envDup): [Run, Run] {
  return [run('duplicity', args, envDup), run('duplicity-ts', args, envTs)];
}

function copyArchive(scenario: string): string {
  const dst = path.join(work, `${scenario}-${Math.random().toString(36).slice(2, 8)}`);
  cpSync(path.join(fixtures, scenario, 'archive'), dst, { recursive: true });
  return dst;
}

/** The first, a middle and the last backup time (every time would double the run time for little). */
function times(scenario: string): string[] {
  const all = readFileSync(path.join(fixtures, scenario, 'expected/times.tsv'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split('\t')[2]);
  return [...new Set([all[0], all[Math.floor(all.length / 2)], all[all.length - 1]])];
}

const scenarios: { name: string; args: string[]; env: Record<string, string> }[] = [
  { name: 'plain', args: ['--no-encryption'], env: {} },
  { name: 'multivol', args: ['--no-encryption'], env: {} },
  { name: 'long-chain', args: ['--no-encryption'], env: {} },
  { name: 'symmetric', args: [], env: { PASSPHRASE: 'fixture-symmetric-b377f3ce0c7d' } },
];

/** The cache's contents as comparable text: manifests as they are, signatures gunzipped. */
function cacheContents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir).sort()) {
    const b = readFileSync(path.join(dir, n));
    out[n] = (n.endsWith('.gz') ? gunzipSync(b) : b).toString('base64');
  }
  return out;
}

describe.each(scenarios)('fixture $name', ({ name, args, env }) => {
  it('collection-status prints what duplicity prints', () => {
    const url = `file://${copyArchive(name)}`;
    const xdg = { ...env, XDG_CACHE_HOME: path.join(work, `xdg-cs-${name}`) };
    const [d, t] = both(['collection-status', ...args, url], xdg);
    expect(d.status).toBe(0);
    expect(t.stderr).toBe('');
    expect(t.stdout).toBe(d.stdout);
    expect(t.status).toBe(0);
  });

  it('list-current-files prints what duplicity prints, fresh and synced, at every time, and the caches interoperate', () => {
    const url = `file://${copyArchive(name)}`;
    const dupXdg = path.join(work, `xdg-dup-${name}`);
    const tsXdg = path.join(work, `xdg-ts-${name}`);
    // Fresh caches: both copy the metadata and say so.
    let [d, t] = both(['list-current-files', ...args, url], { ...env, XDG_CACHE_HOME: dupXdg }, { ...env, XDG_CACHE_HOME: tsXdg });
    expect(d.status).toBe(0);
    expect(d.stdout).toContain('Copying ');
    expect(t.stdout).toBe(d.stdout);
    expect(t.status).toBe(0);
    // The caches hold the same plaintext metadata under the same names.
    const md5 = readdirSync(dupXdg + '/duplicity')[0];
    expect(readdirSync(tsXdg + '/duplicity')).toEqual([md5]);
    expect(cacheContents(path.join(tsXdg, 'duplicity', md5))).toEqual(cacheContents(path.join(dupXdg, 'duplicity', md5)));
    for (const time of times(name)) {
      [d, t] = both(['list-current-files', ...args, '--time', time, url], { ...env, XDG_CACHE_HOME: dupXdg }, { ...env, XDG_CACHE_HOME: tsXdg });
      expect(d.stdout).toContain('no sync needed');
      expect(t.stdout, `--time ${time}`).toBe(d.stdout);
    }
    // Each tool on the cache the other filled: in sync, same listing.
    [d, t] = both(['list-current-files', ...args, url], { ...env, XDG_CACHE_HOME: tsXdg }, { ...env, XDG_CACHE_HOME: dupXdg });
    expect(d.stdout).toContain('no sync needed');
    expect(t.stdout).toBe(d.stdout);
  });
});

/** The new-signatures file of the last incremental of the multi-chain archive below. */
const LAST_NEW_SIG = 'duplicity-new-signatures.20200913T131640Z.to.20200913T133320Z.sigtar.gz';

describe('multi-chain archives made by real duplicity', () => {
  let base: string;
  beforeAll(() => {
    const src = path.join(work, 'mc-src');
    base = path.join(work, 'mc-archive');
    mkdirSync(src);
    const home = path.join(work, 'mc-home');
    mkdirSync(home);
    const dup = (kind: string, t: number) =>
      execFileSync('duplicity', [kind, '--no-encryption', '--current-time', String(t), src, `file://${base}`], {
        env: { PATH: process.env.PATH!, HOME: home, TZ: 'UTC', LC_ALL: 'C.UTF-8', TMPDIR: work },
      });
    writeFileSync(path.join(src, 'a'), 'a\n');
    dup('full', 1600000000);
    writeFileSync(path.join(src, 'b'), 'b\n');
    dup('inc', 1600001000);
    dup('full', 1600002000);
    writeFileSync(path.join(src, 'c'), 'c\n');
    dup('inc', 1600003000);
    unlinkSync(path.join(src, 'a'));
    dup('inc', 1600004000);
  }, 60_000);

  const variant = (drop: string[]) => {
    const dst = path.join(work, `mc-${Math.random().toString(36).slice(2, 8)}`);
    cpSync(base, dst, { recursive: true });
    for (const f of drop) unlinkSync(path.join(dst, f));
    return `file://${dst}`;
  };

  it.each([
    ['two chains', []],
    ['a missing inc manifest (incomplete set, orphaned inc, no matching signatures)', ['duplicity-inc.20200913T130000Z.to.20200913T131640Z.manifest']],
    ['a missing full manifest (incomplete full, orphaned inc)', ['duplicity-full.20200913T122640Z.manifest']],
    ['the last signatures missing (last inc discarded, counted incomplete)', [LAST_NEW_SIG]],
  ])('collection-status with %s', (_label, drop) => {
    const url = variant(drop as string[]);
    const xdg = { XDG_CACHE_HOME: path.join(work, 'xdg-mc') };
    const [d, t] = both(['collection-status', '--no-encryption', url], xdg);
    expect(t.stdout).toBe(d.stdout);
    expect(t.status).toBe(d.status);
  });

  it('without the last inc set\'s signatures, restore and list-current-files stop at the set before, as duplicity does', () => {
    const url = variant([LAST_NEW_SIG]);
    const dupXdg = { XDG_CACHE_HOME: path.join(work, 'xdg-nosig-dup') };
    const tsXdg = { XDG_CACHE_HOME: path.join(work, 'xdg-nosig-ts') };
    // Fresh cache (sync), then warm: the warnings come once per scan of the collection.
    for (const pass of ['fresh', 'warm']) {
      const [d, t] = both(['list-current-files', '--no-encryption', url], dupXdg, tsXdg);
      expect(t.stdout, pass).toBe(d.stdout);
      expect(d.stdout).toContain('Warning, discarding last backup set, because of missing signature file.');
      // a was deleted only by the discarded set.
      expect(d.stdout).toMatch(/ a$/m);
    }
    const out = (tool: string) => path.join(work, `nosig-restore-${tool}`);
    const d = run('duplicity', ['restore', '--no-encryption', url, out('dup')], dupXdg);
    const t = run('duplicity-ts', ['restore', '--no-encryption', url, out('ts')], tsXdg);
    expect(t.stdout).toBe(d.stdout);
    expect([t.status, d.status]).toEqual([0, 0]);
    // The state of the second-to-last set: a still there (deleted only in the discarded set).
    expect(readdirSync(out('ts')).sort()).toEqual(['a', 'b', 'c']);
    expect(readdirSync(out('ts')).sort()).toEqual(readdirSync(out('dup')).sort());
  });

  it('collection-status --file-changed prints what duplicity prints (with and without a matched chain)', () => {
    const noSigs = readdirSync(base).filter((n) => n.includes('signatures'));
    const empty = path.join(work, 'fc-empty');
    mkdirSync(empty);
    const longChain = `file://${copyArchive('long-chain')}`;
    const urls = [variant([]), variant([LAST_NEW_SIG]), variant(noSigs), `file://${empty}`, longChain];
    for (const [i, url] of urls.entries()) {
      for (const file of ['b', 'chain.bin', 'no/such/file']) {
        const [d, t] = both(['collection-status', '--no-encryption', '--file-changed', file, url], { XDG_CACHE_HOME: path.join(work, `xdg-fc-${i}`) });
        expect(t.stdout, `${url} ${file}`).toBe(d.stdout);
        expect(t.status).toBe(d.status);
      }
    }
  });

  it('collection-status --file-changed and --show-changes-in-set read the cached manifests as duplicity does', () => {
    const url = `file://${copyArchive('long-chain')}`;
    // Each tool fills its own cache (list-current-files syncs it); collection-status itself never downloads.
    const envDup = { XDG_CACHE_HOME: path.join(work, 'xdg-hist-dup') };
    const envTs = { XDG_CACHE_HOME: path.join(work, 'xdg-hist-ts') };
    const synced = both(['list-current-files', '--no-encryption', url], envDup, envTs);
    expect(synced.map((r) => r.status)).toEqual([0, 0]);
    const manifests = readdirSync(new URL(url).pathname).filter((n) => n.endsWith('.manifest'));
    const changed = new Set<string>();
    for (const m of manifests) {
      const text = readFileSync(path.join(new URL(url).pathname, m), 'latin1');
      for (const line of text.split('\n')) {
        const e = line.match(/^\s+(new|changed|deleted)\s+(.*?)\s*$/);
        if (e) changed.add(e[2]);
      }
    }
    expect(changed.size).toBeGreaterThan(3);
    for (const file of [...changed, 'no/such/file']) {
      const [d, t] = both(['collection-status', '--no-encryption', '--file-changed', file, url], envDup, envTs);
      expect(t.stdout, file).toBe(d.stdout);
      expect(t.status).toBe(d.status);
    }
    for (let n = 0; n < manifests.length; n++) {
      const [d, t] = both(['collection-status', '--no-encryption', '--show-changes-in-set', String(n), url], envDup, envTs);
      expect(t.stdout, `set ${n}`).toBe(d.stdout);
      expect(t.status).toBe(0);
    }
    // Past the first set duplicity dies with a traceback (exit 30); duplicity-ts says so in one line.
    const past = both(['collection-status', '--no-encryption', '--show-changes-in-set', String(manifests.length), url], envDup, envTs);
    expect(past.map((r) => r.status)).toEqual([30, 30]);
    expect(past[1].stderr.trim().split('\n')).toHaveLength(1);
    expect(past[1].stderr).toContain(`the current chain has ${manifests.length} backup sets`);
  });

  it('collection-status of an empty target', () => {
    const dir = path.join(work, 'empty-target');
    mkdirSync(dir);
    const [d, t] = both(['collection-status', '--no-encryption', `file://${dir}`], { XDG_CACHE_HOME: path.join(work, 'xdg-empty') });
    expect(t.stdout).toBe(d.stdout);
  });

  it('list-current-files picks the chain for --time as duplicity does', () => {
    const url = variant([]);
    const dupXdg = { XDG_CACHE_HOME: path.join(work, 'xdg-mc-dup') };
    const tsXdg = { XDG_CACHE_HOME: path.join(work, 'xdg-mc-ts') };
    for (const time of ['1599990000', '1600000500', '1600001000', '1600001500', '1600003500', '1600009999']) {
      const [d, t] = both(['list-current-files', '--no-encryption', '--time', time, url], dupXdg, tsXdg);
      expect(t.stdout, `--time ${time}`).toBe(d.stdout);
    }
  });
});
