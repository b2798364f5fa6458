/**
 * The backup command as the user (and cron) runs it: exit codes, messages, what lands on the
 * backend and in the archive dir, --dry-run, --no-files-changed, -v info lines, unattended runs
 * without a TTY. Runs the built CLI (`npm run build`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const OURS = path.join(repo, 'node_modules/.bin/duplicity-ts');

let work: string;
let n = 0;
beforeAll(() => {
  if (!existsSync(path.join(repo, 'packages/cli/dist/main.js'))) throw new Error('build the CLI first: npm run build');
  work = mkdtempSync(path.join(tmpdir(), 'dts-bcli-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A fresh case dir with a small source tree `src`. */
function fresh(): string {
  const dir = path.join(work, `case${n++}`);
  mkdirSync(path.join(dir, 'src/sub'), { recursive: true });
  writeFileSync(path.join(dir, 'src/a.txt'), 'alpha\n');
  writeFileSync(path.join(dir, 'src/sub/b.txt'), 'bravo\n');
  return dir;
}

function cli(dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(OURS, args, {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: dir, TZ: 'UTC', ...env },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('backup command', () => {
  it('without an action word: full when there is no chain, then incremental; A/M/D lines at -v info', () => {
    const dir = fresh();
    const first = cli(dir, ['-v', 'info', '--no-encryption', '--current-time', '1700000000', 'src', 'file://t']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toContain('No signatures found, switching to full backup.');
    expect(first.stdout).toMatch(/^A sub\/b\.txt$/m);
    expect(first.stdout).toContain('--------------[ Backup Statistics ]--------------');
    writeFileSync(path.join(dir, 'src/a.txt'), 'alpha changed\n');
    utimesSync(path.join(dir, 'src/a.txt'), 1700000500, 1700000500);
    rmSync(path.join(dir, 'src/sub/b.txt'));
    const second = cli(dir, ['-v', 'info', '--no-encryption', '--current-time', '1700001000', 'src', 'file://t']);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^M a\.txt$/m);
    expect(second.stdout).toMatch(/^D sub\/b\.txt$/m);
    expect(second.stdout).toMatch(/^ChangedFiles 1$/m);
    expect(second.stdout).toMatch(/^DeletedFiles 1$/m);
    const names = readdirSync(path.join(dir, 't')).sort();
    expect(names).toEqual([
      'duplicity-full-signatures.20231114T221320Z.sigtar.gz',
      'duplicity-full.20231114T221320Z.manifest',
      'duplicity-full.20231114T221320Z.vol1.difftar.gz',
      'duplicity-inc.20231114T221320Z.to.20231114T223000Z.manifest',
      'duplicity-inc.20231114T221320Z.to.20231114T223000Z.vol1.difftar.gz',
      'duplicity-new-signatures.20231114T221320Z.to.20231114T223000Z.sigtar.gz',
    ]);
    const manifest = readFileSync(path.join(dir, 't/duplicity-inc.20231114T221320Z.to.20231114T223000Z.manifest'), 'latin1');
    expect(manifest).toMatch(/Filelist 2\n {4}changed  a\.txt\n {4}deleted  sub\/b\.txt\n$/);
  });

  it('explicit incremental with no chain exits 17; a missing source exits 13', () => {
    const dir = fresh();
    const inc = cli(dir, ['incremental', '--no-encryption', 'src', 'file://t']);
    expect(inc.status).toBe(17);
    expect(inc.stderr.trim().split('\n')).toHaveLength(1);
    const missing = cli(dir, ['full', '--no-encryption', 'nosuch', 'file://t']);
    expect(missing.status).toBe(13);
    expect(missing.stderr).toContain('nosuch');
  });

  it('a different source directory exits 42 unless --allow-source-mismatch', () => {
    const dir = fresh();
    expect(cli(dir, ['full', '--no-encryption', '--current-time', '1700000000', 'src', 'file://t']).status).toBe(0);
    const other = cli(dir, ['inc', '--no-encryption', '--current-time', '1700000100', path.join(dir, 'src'), 'file://t']);
    expect(other.status).toBe(42);
    const allowed = cli(dir, ['inc', '--no-encryption', '--allow-source-mismatch', '--current-time', '1700000100', path.join(dir, 'src'), 'file://t']);
    expect(allowed.status, allowed.stderr).toBe(0);
  });

  it('another hostname in the chain exits 3 unless --allow-source-mismatch; --full-if-older-than starts a new chain', () => {
    const dir = fresh();
    const a = ['--no-encryption', '--archive-dir', 'cache', '--name', 'n'];
    expect(cli(dir, ['full', ...a, '--current-time', '1700000000', 'src', 'file://t']).status).toBe(0);
    // The chain was made on another host: both copies of its manifest say so (one alone is exit 5).
    for (const copy of ['cache/n', 't']) {
      const m = path.join(dir, copy, 'duplicity-full.20231114T221320Z.manifest');
      writeFileSync(m, readFileSync(m, 'latin1').replace(/^Hostname .*$/m, 'Hostname some-other-host'), 'latin1');
    }
    expect(cli(dir, ['inc', ...a, '--current-time', '1700000100', 'src', 'file://t']).status).toBe(3);
    expect(cli(dir, ['inc', ...a, '--allow-source-mismatch', '--current-time', '1700000100', 'src', 'file://t']).status).toBe(0);
    const old = cli(dir, [...a, '--full-if-older-than', '1D', '--current-time', String(1700000000 + 2 * 86400), 'src', 'file://t']);
    expect(old.status, old.stderr).toBe(0);
    expect(readdirSync(path.join(dir, 't')).filter((f) => f.startsWith('duplicity-full.') && f.endsWith('.manifest'))).toHaveLength(2);
  });

  it('--dry-run uploads nothing and leaves no archive-dir files', () => {
    const dir = fresh();
    const r = cli(dir, ['full', '--dry-run', '--no-encryption', '--archive-dir', 'cache', 'src', 'file://t']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^NewFiles 4$/m);
    expect(existsSync(path.join(dir, 't')) ? readdirSync(path.join(dir, 't')) : []).toEqual([]);
    const cacheDir = path.join(dir, 'cache');
    const cached = existsSync(cacheDir) ? readdirSync(cacheDir).flatMap((d) => readdirSync(path.join(cacheDir, d))) : [];
    expect(cached).toEqual([]);
  });

  it('--no-files-changed writes Filelist 0; --no-print-statistics prints no block', () => {
    const dir = fresh();
    const r = cli(dir, ['full', '--no-encryption', '--no-files-changed', '--no-print-statistics', '--current-time', '1700000000', 'src', 'file://t']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('Backup Statistics');
    expect(readFileSync(path.join(dir, 't/duplicity-full.20231114T221320Z.manifest'), 'latin1')).toMatch(/\nFilelist 0\n$/);
  });

  it('unattended: a symmetric backup without PASSPHRASE fails at once naming the variable, uploading nothing', () => {
    const dir = fresh();
    const r = cli(dir, ['full', 'src', 'file://t']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('PASSPHRASE');
    expect(existsSync(path.join(dir, 't')) ? readdirSync(path.join(dir, 't')) : []).toEqual([]);
    const ok = cli(dir, ['full', '--current-time', '1700000000', 'src', 'file://t'], { PASSPHRASE: 'cron secret' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(readdirSync(path.join(dir, 't')).sort()).toEqual([
      'duplicity-full-signatures.20231114T221320Z.sigtar.gpg',
      'duplicity-full.20231114T221320Z.manifest.gpg',
      'duplicity-full.20231114T221320Z.vol1.difftar.gpg',
    ]);
    expect(ok.stdout + ok.stderr).not.toContain('cron secret');
  });

  it('selection errors exit 14 and 16 from the command line', () => {
    const dir = fresh();
    expect(cli(dir, ['full', '--no-encryption', '--exclude', 'other/x', 'src', 'file://t']).status).toBe(14);
    expect(cli(dir, ['full', '--no-encryption', '--include', 'src/a.txt', 'src', 'file://t']).status).toBe(16);
    const r = cli(dir, ['full', '--no-encryption', '-v', 'info', '--include', 'src/sub', '--exclude', '**', 'src', 'file://t']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^A sub\/b\.txt$/m);
    expect(r.stdout).not.toMatch(/^A a\.txt$/m);
  });

  it('--compare-size sees a size change that kept the mtime, which duplicity (and the default) misses', () => {
    const dir = fresh();
    const big = Buffer.alloc(300_000, 'x');
    writeFileSync(path.join(dir, 'src/big.bin'), big);
    for (const f of ['a.txt', 'sub/b.txt', 'big.bin']) utimesSync(path.join(dir, 'src', f), 1700000000, 1700000000);
    const a = ['--no-encryption', '--archive-dir', 'cache', '--name', 'n'];
    expect(cli(dir, ['full', ...a, '--current-time', '1700000100', 'src', 'file://t']).status).toBe(0);
    // Edits that keep the whole-second mtime (cp -p, tar x, rsync -t do this): a few bytes longer,
    // inside the same signature block, and a tail appended to a file of many blocks.
    writeFileSync(path.join(dir, 'src/a.txt'), 'alpha, longer\n');
    writeFileSync(path.join(dir, 'src/big.bin'), Buffer.concat([big, Buffer.from('tail')]));
    for (const f of ['a.txt', 'big.bin']) utimesSync(path.join(dir, 'src', f), 1700000000, 1700000000);
    const plain = cli(dir, ['inc', ...a, '--current-time', '1700000200', 'src', 'file://t']);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/^ChangedFiles 0$/m);
    const sized = cli(dir, ['inc', '-v', 'info', '--compare-size', ...a, '--current-time', '1700000300', 'src', 'file://t']);
    expect(sized.status, sized.stderr).toBe(0);
    expect(sized.stdout).toMatch(/^ChangedFiles 2$/m);
    expect(sized.stdout).toMatch(/^M a\.txt$/m);
    expect(sized.stdout).toMatch(/^M big\.bin$/m);
    expect(sized.stdout).not.toMatch(/^M sub\/b\.txt$/m);
    const out = path.join(dir, 'restored');
    expect(cli(dir, ['restore', ...a, 'file://t', out]).status).toBe(0);
    expect(readFileSync(path.join(out, 'a.txt'), 'utf8')).toBe('alpha, longer\n');
    expect(readFileSync(path.join(out, 'big.bin')).equals(Buffer.concat([big, Buffer.from('tail')]))).toBe(true);
  });

  it('--progress without a terminal prints plain progress lines', () => {
    const dir = fresh();
    const r = cli(dir, ['full', '--no-encryption', '--progress', '--progress-rate', '1', 'src', 'file://t']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/100% ETA 0sec/);
    expect(r.stdout).not.toContain('\r');
    const bad = cli(dir, ['full', '--no-encryption', '--progress', '--progress-rate', 'often', 'src', 'file://t2']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
