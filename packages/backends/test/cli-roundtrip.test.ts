// Full + incremental backup and restore through the built CLI (npm run build first) over sftp:// and
// scp://, against a real sshd; and the archives on the server read and written by real duplicity 0.8.22.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSshd, type SshdServer } from '../../../test-fixtures/sshd/sshd.js';
import { treeSnapshot } from '../../../test-fixtures/tree/tree-snapshot.js';
import { makeSmallTree as makeSource } from '../../../test-fixtures/tree/small-tree.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = path.join(repo, 'node_modules', '.bin', 'duplicity-ts');
const BUILT = path.join(repo, 'packages', 'cli', 'dist');

let s: SshdServer;
let work: string;
beforeAll(async () => {
  if (!existsSync(BUILT)) throw new Error('the CLI is not built: run `npm run build` first');
  s = await startSshd();
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'dts-cli-ssh-'));
});
afterAll(async () => {
  await s?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

/**
 * Here real duplicity reads and writes the server's directory with file://: the bytes on the server
 * are what an SSH backend moves (FORMAT.md §15: the same files as file://). Real duplicity over its
 * own sftp:// and scp:// transports is in duplicity-ssh-interop.test.ts.
 */
function serverDirUrl(remotePath: string): string {
  return `file://${path.isAbsolute(remotePath) ? remotePath : path.join(s.userHome, remotePath)}`;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', cwd: work, timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

describe.each([
  { scheme: 'sftp' as const, crypto: ['--no-encryption'], passphrase: undefined },
  { scheme: 'scp' as const, crypto: [], passphrase: 'correct horse battery staple' },
])('duplicity-ts CLI over $scheme://', ({ scheme, crypto, passphrase }) => {
  it('backs up (full, then incremental) and restores; real duplicity restores the same archive', async () => {
    const src = path.join(work, `${scheme}-src`);
    await makeSource(src);
    const remoteRel = `backups/${scheme}/host1`; // relative to the login dir, created on first use
    const url = s.url(scheme, remoteRel);
    const env: NodeJS.ProcessEnv = { ...s.env, XDG_CACHE_HOME: path.join(work, `${scheme}-cache`), TMPDIR: work };
    if (passphrase) env.PASSPHRASE = passphrase;

    let r = run(CLI, ['full', ...crypto, '--volsize', '1', src, url], env);
    expect(r.status, r.out).toBe(0);
    await fsp.appendFile(path.join(src, 'etc', 'hosts'), '10.0.0.2 backup\n');
    await fsp.writeFile(path.join(src, 'etc', 'new.txt'), 'new file\n');
    await fsp.rm(path.join(src, 'etc', 'hosts.link'));
    await new Promise((res) => setTimeout(res, 1100)); // time strings have 1 s resolution
    r = run(CLI, ['incremental', ...crypto, src, url], env);
    expect(r.status, r.out).toBe(0);

    const remoteNames = await fsp.readdir(path.join(s.userHome, remoteRel));
    expect(remoteNames.filter((n) => n.includes('.vol')).length, remoteNames.join(' ')).toBeGreaterThanOrEqual(2);
    expect(remoteNames.some((n) => n.startsWith('duplicity-inc.'))).toBe(true);
    expect(remoteNames.some((n) => n.startsWith('.duplicity-ts-upload-'))).toBe(false);

    const out = path.join(work, `${scheme}-out`);
    r = run(CLI, ['restore', ...crypto, url, out], env);
    expect(r.status, r.out).toBe(0);
    expect(await treeSnapshot(out)).toEqual(await treeSnapshot(src));

    // Real duplicity 0.8.22 reads what duplicity-ts wrote over SSH.
    const dupOut = path.join(work, `${scheme}-dup-out`);
    const dupEnv = { ...env, XDG_CACHE_HOME: path.join(work, `${scheme}-dup-cache`) };
    r = run('duplicity', ['restore', ...crypto, serverDirUrl(remoteRel), dupOut], dupEnv);
    expect(r.status, r.out).toBe(0);
    expect(await treeSnapshot(dupOut)).toEqual(await treeSnapshot(src));
  });
});

it('restores over scp:// what real duplicity 0.8.22 backed up', async () => {
  const src = path.join(work, 'dup-src');
  await makeSource(src);
  const remoteAbs = path.join(s.remoteDir, 'from-duplicity');
  const env: NodeJS.ProcessEnv = { ...s.env, XDG_CACHE_HOME: path.join(work, 'dup2-cache'), TMPDIR: work };
  let r = run('duplicity', ['full', '--no-encryption', src, serverDirUrl(remoteAbs)], env);
  expect(r.status, r.out).toBe(0);
  const out = path.join(work, 'dup2-out');
  r = run(CLI, ['restore', '--no-encryption', s.url('scp', remoteAbs), out], { ...env, XDG_CACHE_HOME: path.join(work, 'dup2-ts-cache') });
  expect(r.status, r.out).toBe(0);
  expect(await treeSnapshot(out)).toEqual(await treeSnapshot(src));
});

it('fails a backup with exit code 23 and one line when the host key is unknown', async () => {
  const src = path.join(work, 'hk-src');
  await fsp.mkdir(src);
  await fsp.writeFile(path.join(src, 'f'), 'x');
  const home = path.join(work, 'hk-home');
  await fsp.mkdir(path.join(home, '.ssh'), { recursive: true });
  await fsp.copyFile(s.clientKey, path.join(home, '.ssh', 'id_ed25519'));
  const r = spawnSync(CLI, ['full', '--no-encryption', src, s.url('sftp', 'hk')], {
    env: { ...s.env, HOME: home, XDG_CACHE_HOME: path.join(work, 'hk-cache') }, encoding: 'utf8', timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(23);
  expect(r.stderr).toMatch(/host key for \[127\.0\.0\.1\]:\d+ is unknown/);
});
