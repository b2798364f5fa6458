// Real duplicity 0.8.22 and duplicity-ts talking SSH to the same real sshd, both ways (FORMAT.md §15):
// duplicity-ts writes over sftp:// and real duplicity restores over sftp:// (its paramiko backend);
// real duplicity writes over sftp:// and scp:// and duplicity-ts restores over the same URL; and the
// seed's `scp://user@host/relative/path` form lands in the same directory for both tools.
// Needs the built CLI (`npm run build`) and python3-paramiko for real duplicity.
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
const PASSPHRASE = 'correct horse battery staple';
/** Fixed backup times (--current-time): full at T1, incremental at T2. */
const T1 = 1_700_000_000;
const T2 = T1 + 3600;

let s: SshdServer;
let work: string;
beforeAll(async () => {
  if (!existsSync(BUILT)) throw new Error('the CLI is not built: run `npm run build` first');
  s = await startSshd();
  work = await fsp.mkdtemp(path.join(os.tmpdir(), 'dts-dup-ssh-'));
});
afterAll(async () => {
  await s?.stop();
  if (work) await fsp.rm(work, { recursive: true, force: true });
});

type Tool = 'duplicity' | 'duplicity-ts';

/**
 * Runs one tool with its own archive dir (so nothing is shared through a local cache: each tool reads
 * the server) and the harness's client HOME (its ~/.ssh holds the key and known_hosts both tools read).
 */
function run(tool: Tool, args: string[], opts: { passphrase?: string; cache: string }): { status: number | null; out: string } {
  const env: NodeJS.ProcessEnv = { ...s.env, TMPDIR: work };
  if (opts.passphrase) env.PASSPHRASE = opts.passphrase;
  else delete env.PASSPHRASE;
  const cmd = tool === 'duplicity' ? 'duplicity' : CLI;
  const r = spawnSync(cmd, [...args, '--archive-dir', path.join(work, opts.cache)], {
    env, encoding: 'utf8', cwd: work, timeout: 60_000,
  });
  return { status: r.status, out: `${tool} ${args.join(' ')}\n${r.stdout}\n${r.stderr}\n${r.error?.message ?? ''}` };
}

/**
 * Both tools notice a change only through the integer mtime (FORMAT.md §10): give each state of a
 * file its own second, or an edit made within the second of the last write goes unseen.
 */
async function stamp(dir: string, t: number, ...files: string[]): Promise<void> {
  for (const f of files) await fsp.utimes(path.join(dir, f), t, t);
}

/** Changes for the incremental: an appended file, a new file, a removed link, a patched big file. */
async function changeSource(dir: string): Promise<void> {
  await fsp.appendFile(path.join(dir, 'etc', 'hosts'), '10.0.0.2 backup\n');
  await fsp.writeFile(path.join(dir, 'etc', 'new.txt'), 'new file\n');
  await fsp.rm(path.join(dir, 'etc', 'hosts.link'));
  const big = await fsp.open(path.join(dir, 'etc', 'deep', 'big.bin'), 'r+');
  await big.write(randomBytes(4096), 0, 4096, 700_000);
  await big.close();
  await stamp(dir, 1600000100, 'etc/hosts', 'etc/new.txt', 'etc/deep/big.bin');
}

/**
 * `writer` backs up src to url (full at T1, incremental at T2); `reader` restores both times from the
 * same url into fresh dirs; each restore must equal the source as it was at that time.
 */
async function roundTrip(writer: Tool, reader: Tool, url: string, name: string, passphrase?: string): Promise<void> {
  const crypto = passphrase ? [] : ['--no-encryption'];
  const src = path.join(work, `${name}-src`);
  await makeSource(src);
  const atFull = await treeSnapshot(src);
  let r = run(writer, ['full', ...crypto, '--volsize', '1', '--current-time', String(T1), src, url], { passphrase, cache: `${name}-w` });
  expect(r.status, r.out).toBe(0);
  await changeSource(src);
  const atInc = await treeSnapshot(src);
  r = run(writer, ['incremental', ...crypto, '--volsize', '1', '--current-time', String(T2), src, url], { passphrase, cache: `${name}-w` });
  expect(r.status, r.out).toBe(0);

  const outFull = path.join(work, `${name}-out-full`);
  r = run(reader, ['restore', ...crypto, '--time', String(T1), url, outFull], { passphrase, cache: `${name}-r` });
  expect(r.status, r.out).toBe(0);
  expect(await treeSnapshot(outFull)).toEqual(atFull);
  const outInc = path.join(work, `${name}-out-inc`);
  r = run(reader, ['restore', ...crypto, url, outInc], { passphrase, cache: `${name}-r` });
  expect(r.status, r.out).toBe(0);
  expect(await treeSnapshot(outInc)).toEqual(atInc);
}

/** The archive's file names in the server directory (login-dir relative). */
async function serverNames(rel: string): Promise<string[]> {
  return (await fsp.readdir(path.join(s.userHome, rel))).sort();
}

describe('duplicity-ts writes over sftp://, real duplicity 0.8.22 restores over sftp://', () => {
  it.each([
    { label: 'symmetric PASSPHRASE', passphrase: PASSPHRASE },
    { label: '--no-encryption', passphrase: undefined },
  ])('$label', async ({ passphrase }) => {
    const rel = `ts-to-dup/${passphrase ? 'gpg' : 'plain'}`;
    await roundTrip('duplicity-ts', 'duplicity', s.url('sftp', rel), `ts-dup-${passphrase ? 'gpg' : 'plain'}`, passphrase);
    const names = await serverNames(rel);
    expect(names.filter((n) => n.startsWith('duplicity-full.') && n.includes('.vol')).length, names.join(' ')).toBeGreaterThanOrEqual(2);
    expect(names.some((n) => n.startsWith('duplicity-inc.')), names.join(' ')).toBe(true);
  });
});

describe('real duplicity 0.8.22 writes over SSH, duplicity-ts restores over the same URL', () => {
  it.each([
    { scheme: 'sftp' as const, passphrase: PASSPHRASE },
    { scheme: 'scp' as const, passphrase: undefined },
  ])('$scheme://', async ({ scheme, passphrase }) => {
    const rel = `dup-to-ts/${scheme}`;
    await roundTrip('duplicity', 'duplicity-ts', s.url(scheme, rel), `dup-ts-${scheme}`, passphrase);
    const names = await serverNames(rel);
    expect(names.some((n) => n.startsWith('duplicity-inc.')), names.join(' ')).toBe(true);
  });
});

it("the seed's scp://user@host/relative/path lands in the same login-relative directory for both tools", async () => {
  // The seed's form has no port: the host is an ~/.ssh/config alias (both tools read it) for the test sshd.
  const sshConfig = path.join(s.clientHome, '.ssh', 'config');
  await fsp.writeFile(sshConfig, `Host remote\n  HostName 127.0.0.1\n  Port ${s.port}\n`);
  try {
    const url = `scp://${s.user}@remote/seed/backup`;
    const src = path.join(work, 'seed-src');
    await makeSource(src);
    let r = run('duplicity-ts', ['full', '--volsize', '1', '--current-time', String(T1), src, url], { passphrase: PASSPHRASE, cache: 'seed-ts' });
    expect(r.status, r.out).toBe(0);
    const afterFull = await serverNames('seed/backup');
    expect(afterFull.some((n) => n.startsWith('duplicity-full.')), afterFull.join(' ')).toBe(true);

    // Real duplicity continues the chain duplicity-ts started, in the same directory.
    await changeSource(src);
    const atInc = await treeSnapshot(src);
    r = run('duplicity', ['incremental', '--volsize', '1', '--current-time', String(T2), src, url], { passphrase: PASSPHRASE, cache: 'seed-dup' });
    expect(r.status, r.out).toBe(0);
    const afterInc = await serverNames('seed/backup');
    expect(afterInc.filter((n) => !afterFull.includes(n)).some((n) => n.startsWith('duplicity-inc.')), afterInc.join(' ')).toBe(true);

    for (const tool of ['duplicity-ts', 'duplicity'] as const) {
      const out = path.join(work, `seed-out-${tool}`);
      r = run(tool, ['restore', url, out], { passphrase: PASSPHRASE, cache: `seed-${tool}-restore` });
      expect(r.status, r.out).toBe(0);
      expect(await treeSnapshot(out)).toEqual(atInc);
    }
  } finally {
    await fsp.rm(sshConfig, { force: true });
  }
});

it('sftp://user@host//absolute/path (double slash) is the same absolute directory for both tools', async () => {
  const abs = path.join(s.remoteDir, 'absolute');
  const url = s.url('sftp', abs); // `.../` + `/abs...`: the double-slash form
  expect(url).toContain(`:${s.port}//`);
  const src = path.join(work, 'abs-src');
  await fsp.mkdir(path.join(src, 'd'), { recursive: true });
  await fsp.writeFile(path.join(src, 'd', 'a.txt'), 'first\n');
  let r = run('duplicity', ['full', '--no-encryption', '--current-time', String(T1), src, url], { cache: 'abs-dup' });
  expect(r.status, r.out).toBe(0);
  expect((await fsp.readdir(abs)).some((n) => n.startsWith('duplicity-full.'))).toBe(true);
  await fsp.writeFile(path.join(src, 'd', 'b.txt'), 'second\n');
  const atInc = await treeSnapshot(src);
  // duplicity-ts continues the chain real duplicity started there, then real duplicity restores it.
  r = run('duplicity-ts', ['incremental', '--no-encryption', '--current-time', String(T2), src, url], { cache: 'abs-ts' });
  expect(r.status, r.out).toBe(0);
  expect((await fsp.readdir(abs)).some((n) => n.startsWith('duplicity-inc.'))).toBe(true);
  const out = path.join(work, 'abs-out');
  r = run('duplicity', ['restore', '--no-encryption', url, out], { cache: 'abs-dup-restore' });
  expect(r.status, r.out).toBe(0);
  expect(await treeSnapshot(out)).toEqual(atInc);
});
