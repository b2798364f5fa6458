/**
 * The manifest check before an incremental (FORMAT.md §11.3), against the real duplicity 0.8.22 in
 * the same cases: a remote manifest that disagrees with the archive dir's copy stops the backup with
 * exit 5 and duplicity's message, and nothing new is uploaded; one that cannot be decrypted is
 * reported and the backup goes on; differences duplicity tolerates (a volume hash) pass.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const TOOLS = { 'duplicity-ts': path.join(repo, 'node_modules/.bin/duplicity-ts'), duplicity: 'duplicity' } as const;
type Tool = keyof typeof TOOLS;
const MISMATCH = 'Fatal Error: Remote manifest does not match local one.  Either the remote backup set or the local archive directory has been corrupted.';

let work: string;
let n = 0;
beforeAll(() => {
  if (!existsSync(path.join(repo, 'packages/cli/dist/main.js'))) throw new Error('build the CLI first: npm run build');
  work = mkdtempSync(path.join(tmpdir(), 'dts-mcheck-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(tool: Tool, dir: string, args: string[], passphrase?: string) {
  const r = spawnSync(TOOLS[tool], [...args, '--archive-dir', path.join(dir, 'cache'), '--name', 'm', 'src', 'file://t'], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: dir, TZ: 'UTC', LC_ALL: 'C.UTF-8', ...(passphrase ? { PASSPHRASE: passphrase } : {}) },
    timeout: 120_000,
  });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

/** A full backup by `tool`, then a source edit with its own mtime, ready for an incremental. */
function fullBackup(tool: Tool, crypt: string[], passphrase?: string): string {
  const dir = path.join(work, `case${n++}-${tool}`);
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  writeFileSync(path.join(dir, 'src/a.txt'), 'alpha\n');
  utimesSync(path.join(dir, 'src/a.txt'), 1700000000, 1700000000);
  const r = run(tool, dir, ['full', ...crypt, '--current-time', '1700000100'], passphrase);
  expect(r.status, r.out).toBe(0);
  writeFileSync(path.join(dir, 'src/a.txt'), 'alpha changed\n');
  utimesSync(path.join(dir, 'src/a.txt'), 1700000200, 1700000200);
  return dir;
}

const remoteManifest = (dir: string) => path.join(dir, 't', readdirSync(path.join(dir, 't')).find((f) => f.includes('.manifest'))!);
const incremental = (tool: Tool, dir: string, crypt: string[], passphrase?: string) =>
  run(tool, dir, ['incremental', ...crypt, '--current-time', '1700000300'], passphrase);

describe.each(['duplicity', 'duplicity-ts'] as const)('%s before an incremental', (tool) => {
  it('stops with exit 5 when the remote manifest names another host, and uploads nothing', () => {
    const dir = fullBackup(tool, ['--no-encryption']);
    const m = remoteManifest(dir);
    writeFileSync(m, readFileSync(m, 'latin1').replace(/^Hostname .*$/m, 'Hostname elsewhere'), 'latin1');
    const before = readdirSync(path.join(dir, 't')).sort();
    const r = incremental(tool, dir, ['--no-encryption']);
    expect(r.status, r.out).toBe(5);
    expect(r.out).toContain('Manifests not equal because hosts or directories differ');
    expect(r.out).toContain(MISMATCH);
    expect(readdirSync(path.join(dir, 't')).sort()).toEqual(before);
  });

  it('stops with exit 5 when the remote manifest lists another number of volumes', () => {
    const dir = fullBackup(tool, ['--no-encryption']);
    writeFileSync(remoteManifest(dir), `Hostname ${readFileSync(remoteManifest(dir), 'latin1').match(/^Hostname (.*)$/m)![1]}\nLocaldir src\nFilelist 0\n`);
    const r = incremental(tool, dir, ['--no-encryption']);
    expect(r.status, r.out).toBe(5);
    expect(r.out).toContain('Manifests not equal because different volume numbers');
  });

  it('goes on when only a volume hash differs, as duplicity does', () => {
    const dir = fullBackup(tool, ['--no-encryption']);
    const m = remoteManifest(dir);
    writeFileSync(m, readFileSync(m, 'latin1').replace(/Hash SHA1 ./, 'Hash SHA1 0'), 'latin1');
    const r = incremental(tool, dir, ['--no-encryption']);
    expect(r.status, r.out).toBe(0);
  });

  it('encrypted, a remote manifest of another host: exit 5, and the target and the archive dir stay as they were', () => {
    const dir = fullBackup(tool, [], 'right passphrase');
    // Changed content to write while the remote manifest is fetched and decrypted.
    for (let i = 0; i < 40; i++) writeFileSync(path.join(dir, `src/f${i}.txt`), `file ${i}\n`.repeat(20_000));
    const m = remoteManifest(dir);
    const gnupghome = mkdtempSync(path.join(work, 'gpg-'));
    const gpg = (args: string[], input?: Buffer) =>
      spawnSync('gpg', ['--homedir', gnupghome, '--batch', '--pinentry-mode', 'loopback', '--passphrase', 'right passphrase', ...args], { input, env: { PATH: process.env.PATH } });
    const plain = gpg(['--decrypt'], readFileSync(m));
    expect(plain.status, plain.stderr?.toString()).toBe(0);
    const forged = gpg(['--symmetric', '--output', '-'], Buffer.from(plain.stdout.toString('latin1').replace(/^Hostname .*$/m, 'Hostname elsewhere'), 'latin1'));
    expect(forged.status, forged.stderr?.toString()).toBe(0);
    writeFileSync(m, forged.stdout);
    const listing = () => [readdirSync(path.join(dir, 't')).sort(), readdirSync(path.join(dir, 'cache', 'm')).filter((f) => f !== 'lockfile').sort()];
    const before = listing();
    const r = incremental(tool, dir, [], 'right passphrase');
    expect(r.status, r.out).toBe(5);
    expect(r.out).toContain('Manifests not equal because hosts or directories differ');
    expect(listing()).toEqual(before);
  });

  it('reports a remote manifest it cannot decrypt and goes on', () => {
    const dir = fullBackup(tool, [], 'right passphrase');
    const m = remoteManifest(dir);
    const gnupghome = mkdtempSync(path.join(work, 'gpg-'));
    const enc = spawnSync('gpg', ['--homedir', gnupghome, '--batch', '--pinentry-mode', 'loopback', '--passphrase', 'another passphrase', '--symmetric', '--output', '-'], {
      input: 'Hostname x\nLocaldir src\nFilelist 0\n',
      env: { PATH: process.env.PATH },
    });
    expect(enc.status, enc.stderr?.toString()).toBe(0);
    writeFileSync(m, enc.stdout);
    const r = incremental(tool, dir, [], 'right passphrase');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain(`Error processing remote manifest (${path.basename(m)})`);
    expect(readdirSync(path.join(dir, 't')).some((f) => f.startsWith('duplicity-inc.'))).toBe(true);
  });
});
