// sftp:// and scp:// against a real OpenSSH server (test-fixtures/sshd).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openBackend, BackendError, type Backend, type BackendOptions } from '@duplicity-ts/backends';
import { startSshd, type SshdServer } from '../../../test-fixtures/sshd/sshd.js';

let s: SshdServer;
let local: string;
const FAST: BackendOptions = { numRetries: 2, retryDelayMs: 50, timeoutS: 10 };

beforeAll(async () => {
  s = await startSshd();
  local = await fsp.mkdtemp(path.join(os.tmpdir(), 'dts-ssh-local-'));
});
afterAll(async () => {
  await s?.stop();
  if (local) await fsp.rm(local, { recursive: true, force: true });
});

async function localFile(name: string, size: number): Promise<{ file: string; data: Buffer }> {
  const data = randomBytes(size);
  const file = path.join(local, name);
  await fsp.writeFile(file, data);
  return { file, data };
}

async function failure(p: Promise<unknown>): Promise<BackendError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(BackendError);
  return err as BackendError;
}

/** Every operation, checked against what is on the server's disk. */
async function roundTrip(b: Backend, remoteDir: string): Promise<void> {
  const { file, data } = await localFile('vol.bin', 3 * 1024 * 1024 + 17);
  const name = 'duplicity-full.20261130T082734Z.vol1.difftar.gpg';
  await b.put(name, file);
  expect((await fsp.readFile(path.join(remoteDir, name))).equals(data)).toBe(true);
  expect(await fsp.readdir(remoteDir)).toEqual([name]); // no temporary left behind
  expect(await b.list()).toEqual([name]);
  expect(await b.stat(name)).toEqual({ size: data.length });
  expect(await b.stat('nothing-here')).toBeNull();
  const back = path.join(local, 'back.bin');
  await b.get(name, back);
  expect((await fsp.readFile(back)).equals(data)).toBe(true);
  // put over an existing name replaces it
  const small = await localFile('small.bin', 10);
  await b.put(name, small.file);
  expect((await fsp.readFile(path.join(remoteDir, name))).equals(small.data)).toBe(true);
  // an empty file
  const empty = await localFile('empty.bin', 0);
  await b.put('empty', empty.file);
  await b.get('empty', back);
  expect((await fsp.readFile(back)).length).toBe(0);
  await b.remove('empty');
  await b.remove(name);
  expect(await b.list()).toEqual([]);
  expect(await fsp.readdir(remoteDir)).toEqual([]);
}

describe.each(['sftp', 'scp'] as const)('%s://', (scheme) => {
  it('works on a path relative to the login dir, creating missing dirs', async () => {
    const rel = `${scheme}-rel/a/b`;
    const b = await openBackend(s.url(scheme, rel), { ...FAST, env: s.env });
    try {
      expect((await fsp.stat(path.join(s.userHome, rel))).isDirectory()).toBe(true);
      await roundTrip(b, path.join(s.userHome, rel));
    } finally {
      await b.close();
    }
  });

  it('works on a //absolute path', async () => {
    const abs = path.join(s.remoteDir, `${scheme}-abs`, 'x y'); // a space: quoting for scp's remote shell
    const b = await openBackend(`${scheme}://${s.user}@127.0.0.1:${s.port}/${abs.replace(/ /g, '%20')}`, { ...FAST, env: s.env });
    try {
      await roundTrip(b, abs);
    } finally {
      await b.close();
    }
  });

  it('runs concurrent puts and gets on one backend', async () => {
    const dir = path.join(s.remoteDir, `${scheme}-conc`);
    const b = await openBackend(s.url(scheme, dir), { ...FAST, env: s.env });
    try {
      // 12 at once: more than OpenSSH's 10 sessions per connection, which scp:// channels count against
      const files = await Promise.all(Array.from({ length: 12 }, (_, i) => localFile(`c${i}`, 300_000 + i)));
      await Promise.all(files.map((f, i) => b.put(`vol${String(i).padStart(2, '0')}`, f.file)));
      expect(await b.list()).toEqual(files.map((_, i) => `vol${String(i).padStart(2, '0')}`));
      await Promise.all(files.map((_, i) => b.get(`vol${String(i).padStart(2, '0')}`, path.join(local, `g${i}`))));
      for (let i = 0; i < files.length; i++) expect((await fsp.readFile(path.join(local, `g${i}`))).equals(files[i].data)).toBe(true);
    } finally {
      await b.close();
    }
  });

  it('reports a missing remote file as not found (52)', async () => {
    const b = await openBackend(s.url(scheme, 'nf'), { ...FAST, env: s.env });
    try {
      const err = await failure(b.get('missing.vol', path.join(local, 'm')));
      expect(err.exitCode).toBe(52);
      expect(err.message).toMatch(new RegExp(`^failed to download missing\\.vol from ${scheme}://${s.user}@127\\.0\\.0\\.1:${s.port}/nf: .*no such file`, 'i'));
      expect(err.message).not.toContain('\n');
    } finally {
      await b.close();
    }
  });

  it('refuses a remote dir that is not writable with a one-line permission error (51)', async () => {
    const dir = path.join(s.remoteDir, `${scheme}-ro`);
    await fsp.mkdir(dir);
    spawnSync('chown', [`${s.user}:`, dir]);
    await fsp.chmod(dir, 0o555);
    const b = await openBackend(s.url(scheme, dir), { ...FAST, env: s.env });
    try {
      const { file } = await localFile('ro.bin', 1000);
      const err = await failure(b.put('vol1', file));
      expect(err.message).toBe(`failed to upload vol1 to ${scheme}://${s.user}@127.0.0.1:${s.port}/${dir}: permission denied`);
      expect(err.exitCode).toBe(51);
      expect(await fsp.readdir(dir)).toEqual([]);
    } finally {
      await b.close();
    }
  });
});

describe('authentication and host keys', () => {
  async function bareHome(): Promise<string> {
    const home = await fsp.mkdtemp(path.join(os.tmpdir(), 'dts-home-'));
    await fsp.mkdir(path.join(home, '.ssh'));
    await fsp.copyFile(s.knownHosts, path.join(home, '.ssh', 'known_hosts'));
    return home;
  }

  it('logs in with a key held by ssh-agent', async () => {
    const home = await bareHome();
    const sock = path.join(home, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100; i++) { if (await fsp.stat(sock).catch(() => null)) break; await new Promise((r) => setTimeout(r, 50)); }
      const add = spawnSync('ssh-add', [s.clientKey], { env: { ...s.env, SSH_AUTH_SOCK: sock }, encoding: 'utf8' });
      expect(add.status, add.stderr).toBe(0);
      const b = await openBackend(s.url('sftp', 'agent'), { ...FAST, env: { ...s.env, HOME: home, SSH_AUTH_SOCK: sock } });
      expect(await b.list()).toEqual([]);
      await b.close();
      // the same HOME without the agent has no way in
      const err = await failure(openBackend(s.url('sftp', 'agent'), { ...FAST, env: { ...s.env, HOME: home } }));
      expect(err.exitCode).toBe(23);
      expect(err.message).toMatch(/authentication as \S+ failed/);
    } finally {
      agent.kill('SIGTERM');
      await fsp.rm(home, { recursive: true, force: true });
    }
  });

  it('says why a passphrase-protected key file could not be used unattended', async () => {
    const home = await bareHome();
    try {
      const key = path.join(home, '.ssh', 'id_ed25519');
      await fsp.copyFile(s.clientKey, key);
      const r = spawnSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'throwaway-passphrase', '-f', key], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const err = await failure(openBackend(s.url('sftp', 'enc'), { ...FAST, env: { ...s.env, HOME: home } }));
      expect(err.exitCode).toBe(23);
      expect(err.message).toMatch(/authentication as \S+ failed \(tried nothing.*; skipped ~\/\.ssh\/id_ed25519 \(passphrase-protected: load it into ssh-agent\)\)$/);
    } finally {
      await fsp.rm(home, { recursive: true, force: true });
    }
  });

  it('follows a ~/.ssh/config Host alias (HostName, User, Port, IdentityFile, UserKnownHostsFile)', async () => {
    const home = await fsp.mkdtemp(path.join(os.tmpdir(), 'dts-home-'));
    try {
      await fsp.mkdir(path.join(home, '.ssh'));
      const keyDir = path.join(home, 'keys');
      await fsp.mkdir(keyDir);
      await fsp.copyFile(s.clientKey, path.join(keyDir, 'backup_key'));
      await fsp.copyFile(s.knownHosts, path.join(keyDir, 'kh'));
      await fsp.writeFile(path.join(home, '.ssh', 'config'), [
        'Host other', '  Port 1', '',
        'Host backupbox',
        `  HostName 127.0.0.1`, `  User ${s.user}`, `  Port ${s.port}`,
        '  IdentityFile ~/keys/backup_key', `  UserKnownHostsFile ${path.join(keyDir, 'kh')}`, '',
        'Host *', '  Port 9', '',
      ].join('\n'));
      for (const scheme of ['sftp', 'scp'] as const) {
        const b = await openBackend(`${scheme}://backupbox/${scheme}-alias`, { ...FAST, env: { ...s.env, HOME: home } });
        await roundTrip(b, path.join(s.userHome, `${scheme}-alias`));
        await b.close();
      }
    } finally {
      await fsp.rm(home, { recursive: true, force: true });
    }
  });

  it('takes IdentityFile, UserKnownHostsFile and Port from --ssh-options', async () => {
    const home = await fsp.mkdtemp(path.join(os.tmpdir(), 'dts-home-'));
    try {
      const sshOptions = `-oIdentityFile=${s.clientKey} -oUserKnownHostsFile=${s.knownHosts} -oPort=${s.port}`;
      const b = await openBackend(`sftp://${s.user}@127.0.0.1/opts`, { ...FAST, sshOptions, env: { ...s.env, HOME: home } });
      expect(await b.list()).toEqual([]);
      await b.close();
      const b2 = await openBackend(s.url('sftp', 'opts'), { ...FAST, sshOptions: `-i '${s.clientKey}' -o "UserKnownHostsFile ${s.knownHosts}"`, env: { ...s.env, HOME: home } });
      await b2.close();
    } finally {
      await fsp.rm(home, { recursive: true, force: true });
    }
  });

  it('accepts a hashed known_hosts entry', async () => {
    const home = await bareHome();
    try {
      await fsp.copyFile(s.clientKey, path.join(home, '.ssh', 'id_ed25519'));
      const r = spawnSync('ssh-keygen', ['-H', '-f', path.join(home, '.ssh', 'known_hosts')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(await fsp.readFile(path.join(home, '.ssh', 'known_hosts'), 'utf8')).toMatch(/^\|1\|/);
      const b = await openBackend(s.url('sftp', 'hashed'), { ...FAST, env: { ...s.env, HOME: home } });
      await b.close();
    } finally {
      await fsp.rm(home, { recursive: true, force: true });
    }
  });

  it('refuses an unknown host key, and accepts it with StrictHostKeyChecking=accept-new', async () => {
    const home = await bareHome();
    try {
      await fsp.copyFile(s.clientKey, path.join(home, '.ssh', 'id_ed25519'));
      await fsp.writeFile(path.join(home, '.ssh', 'known_hosts'), '');
      const err = await failure(openBackend(s.url('sftp', 'hk'), { ...FAST, env: { ...s.env, HOME: home } }));
      expect(err.exitCode).toBe(23);
      expect(err.message).toMatch(new RegExp(`^failed to connect to sftp://.*: host key for \\[127\\.0\\.0\\.1\\]:${s.port} is unknown \\(ssh-ed25519 SHA256:`));
      expect(err.message).not.toContain('\n');
      const b = await openBackend(s.url('sftp', 'hk'), { ...FAST, sshOptions: '-oStrictHostKeyChecking=accept-new', env: { ...s.env, HOME: home } });
      await b.close();
      expect(await fsp.readFile(path.join(home, '.ssh', 'known_hosts'), 'utf8')).toBe(`[127.0.0.1]:${s.port} ${s.hostKeyPub}\n`);
      // now known: accepted without the option
      await (await openBackend(s.url('sftp', 'hk'), { ...FAST, env: { ...s.env, HOME: home } })).close();
    } finally {
      await fsp.rm(home, { recursive: true, force: true });
    }
  });

  it('refuses a changed host key, even with accept-new', async () => {
    const home = await bareHome();
    try {
      await fsp.copyFile(s.clientKey, path.join(home, '.ssh', 'id_ed25519'));
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(home, 'other')]);
      const other = (await fsp.readFile(path.join(home, 'other.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
      await fsp.writeFile(path.join(home, '.ssh', 'known_hosts'), `[127.0.0.1]:${s.port} ${other}\n`);
      for (const sshOptions of [undefined, '-oStrictHostKeyChecking=accept-new']) {
        const err = await failure(openBackend(s.url('scp', 'hk2'), { ...FAST, sshOptions, env: { ...s.env, HOME: home } }));
        expect(err.exitCode).toBe(23);
        expect(err.message).toMatch(/host key for \[127\.0\.0\.1\]:\d+ has changed \(now ssh-ed25519 SHA256:.*refusing to connect/);
      }
      await expect(fsp.stat(path.join(s.userHome, 'hk2'))).rejects.toThrow(); // nothing was done on the server
    } finally {
      await fsp.rm(home, { recursive: true, force: true });
    }
  });

  it('logs in with FTP_PASSWORD (and BACKEND_PASSWORD); a wrong one fails without showing it', async () => {
    if (!s.password) throw new Error('password auth needs the root-run throwaway user');
    const home = await bareHome();
    try {
      for (const v of ['FTP_PASSWORD', 'BACKEND_PASSWORD']) {
        const b = await openBackend(s.url('sftp', 'pw'), { ...FAST, env: { ...s.env, HOME: home, [v]: s.password } });
        expect(await b.list()).toEqual([]);
        await b.close();
      }
      const wrong = 'not-the-password-' + randomBytes(4).toString('hex');
      const err = await failure(openBackend(s.url('sftp', 'pw'), { ...FAST, env: { ...s.env, HOME: home, FTP_PASSWORD: wrong } }));
      expect(err.exitCode).toBe(23);
      expect(err.message).toMatch(/authentication as \S+ failed \(tried password/);
      expect(err.message).not.toContain(wrong);
    } finally {
      await fsp.rm(home, { recursive: true, force: true });
    }
  });
});

describe('dropped connections', () => {
  it.each(['sftp', 'scp'] as const)('%s: reconnects and finishes an upload whose connection was killed', async (scheme) => {
    const dir = path.join(s.remoteDir, `${scheme}-drop`);
    const b = await openBackend(s.url(scheme, dir), { numRetries: 3, retryDelayMs: 100, timeoutS: 10, env: s.env });
    try {
      const { file, data } = await localFile('big.bin', 24 * 1024 * 1024);
      const put = b.put('vol1', file);
      await waitForTempFile(dir);
      s.killConnections();
      await put;
      expect((await fsp.readFile(path.join(dir, 'vol1'))).equals(data)).toBe(true);
      expect(await b.list()).toEqual(['vol1']);
    } finally {
      await b.close();
    }
  });

  it('gives up after the retries with a clear error and leaves no file under the final name', async () => {
    const dir = path.join(s.remoteDir, 'dead');
    const b = await openBackend(s.url('sftp', dir), { numRetries: 2, retryDelayMs: 50, timeoutS: 5, env: s.env });
    try {
      const { file } = await localFile('big2.bin', 24 * 1024 * 1024);
      const put = b.put('duplicity-full.20261130T082734Z.vol1.difftar.gpg', file);
      await waitForTempFile(dir);
      s.kill();
      const err = await failure(put);
      expect(err.message).toMatch(new RegExp(`^failed to upload duplicity-full\\.20261130T082734Z\\.vol1\\.difftar\\.gpg to sftp://${s.user}@127\\.0\\.0\\.1:${s.port}/${dir}: cannot connect to 127\\.0\\.0\\.1 port ${s.port}: connection failed \\(ECONNREFUSED\\) \\(gave up after 3 tries\\)$`));
      expect(err.exitCode).toBe(23);
      expect((await fsp.readdir(dir)).filter((n) => !n.startsWith('.duplicity-ts-upload-'))).toEqual([]);
    } finally {
      await b.close();
      await s.restart();
    }
  });
});

async function waitForTempFile(dir: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    const temp = names.find((n) => n.startsWith('.duplicity-ts-upload-'));
    if (temp && (await fsp.stat(path.join(dir, temp))).size > 1024 * 1024) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('upload did not start');
}
