/**
 * A throwaway OpenSSH server for tests: `startSshd()` runs /usr/sbin/sshd on 127.0.0.1 and a free
 * port with its own host key, and logs in a throwaway user with a throwaway client key.
 *
 * What you get (see SshdServer below):
 * - `clientHome`: a HOME for the client whose `.ssh/` holds `id_ed25519` (authorized on the server)
 *   and `known_hosts` (the server's host key as `[127.0.0.1]:port`). Pass `env: { ...process.env,
 *   HOME: s.clientHome, SSH_AUTH_SOCK: '' }` to the code under test; `s.env` is exactly that.
 * - `user`, `password`, `userHome` (the login directory: `sftp://user@127.0.0.1:port/rel` lands in
 *   `userHome/rel`), `remoteDir` (an empty dir `userHome/backup` the user owns).
 * - `url(scheme, path)` builds `scheme://user@127.0.0.1:port/path`.
 * - `killConnections()` SIGKILLs the per-connection sshd processes (the listener stays up);
 *   `kill()` SIGKILLs everything; `restart()` starts it again on the same port; `stop()` cleans up.
 *
 * When run as root (here and in CI) the login user is a fresh system user (useradd, removed again by
 * stop()) with a random password, because logging in as root would put relative paths in /root and
 * no directory is ever unwritable for root. As non-root it logs in as the current user
 * (no password auth then: `password` is undefined). Never touches /root/.ssh or the real ~/.ssh.
 *
 * Usage: `const s = await startSshd(); try { ... } finally { await s.stop(); }`
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface SshdServer {
  host: string;
  port: number;
  user: string;
  /** The user's password when it is a throwaway user (root runs only). */
  password?: string;
  userHome: string;
  remoteDir: string;
  clientHome: string;
  clientKey: string;
  knownHosts: string;
  /** The server host key's public line (`ssh-ed25519 AAAA...`). */
  hostKeyPub: string;
  /** Environment for the client: process.env with HOME=clientHome and no SSH agent. */
  env: NodeJS.ProcessEnv;
  /** sshd's own log (-E), handy when a test fails. */
  logFile: string;
  /** Temp base dir holding everything above. */
  baseDir: string;
  url(scheme: 'sftp' | 'scp', remotePath: string): string;
  killConnections(): void;
  kill(): void;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartSshdOptions {
  /** Extra sshd_config lines (e.g. `MaxStartups 1`). */
  extraConfig?: string[];
}

const SSHD = '/usr/sbin/sshd';

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, proc: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) {
      const log = await fsp.readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`sshd exited with ${proc.exitCode}: ${log.trim()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('data', () => { s.destroy(); resolve(true); }); // the SSH banner
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not come up on port ${port}`);
}

/** All descendants of pid, from /proc (sshd's per-connection children call setsid, so no process group). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch { /* process gone */ }
  }
  const out: number[] = [];
  const walk = (p: number) => { for (const c of children.get(p) ?? []) { out.push(c); walk(c); } };
  walk(pid);
  return out;
}

function killPids(pids: number[]): void {
  for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ } }
}

export async function startSshd(opts: StartSshdOptions = {}): Promise<SshdServer> {
  const baseDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dts-sshd-'));
  await fsp.chmod(baseDir, 0o755); // the throwaway user must reach its home inside
  const serverDir = path.join(baseDir, 'server');
  const clientHome = path.join(baseDir, 'client-home');
  const sshDir = path.join(clientHome, '.ssh');
  await fsp.mkdir(serverDir, { mode: 0o755 }); // sshd reads authorized_keys as the user
  await fsp.mkdir(sshDir, { recursive: true, mode: 0o700 });

  const hostKey = path.join(serverDir, 'host_ed25519');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'dts-host', '-f', hostKey]);
  const clientKey = path.join(sshDir, 'id_ed25519');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'dts-client', '-f', clientKey]);
  const authorizedKeys = path.join(serverDir, 'authorized_keys');
  await fsp.copyFile(`${clientKey}.pub`, authorizedKeys);
  await fsp.chmod(authorizedKeys, 0o644);

  const isRoot = process.getuid?.() === 0;
  let user: string;
  let password: string | undefined;
  let userHome: string;
  let createdUser = false;
  if (isRoot) {
    user = `dts${randomBytes(4).toString('hex')}`;
    userHome = path.join(baseDir, 'home');
    run('useradd', ['-M', '-d', userHome, '-s', '/bin/sh', user]);
    createdUser = true;
    password = randomBytes(12).toString('base64url');
    // stdin, not argv: the password must not show in ps
    run('chpasswd', [], `${user}:${password}\n`);
    await fsp.mkdir(userHome);
    run('chown', [`${user}:`, userHome]);
  } else {
    user = os.userInfo().username;
    userHome = os.homedir();
  }
  const remoteDir = path.join(userHome, isRoot ? 'backup' : `dts-remote-${randomBytes(4).toString('hex')}`);
  await fsp.mkdir(remoteDir);
  if (isRoot) run('chown', [`${user}:`, remoteDir]);

  const logFile = path.join(serverDir, 'sshd.log');
  const config = path.join(serverDir, 'sshd_config');
  const pidFile = path.join(serverDir, 'sshd.pid');
  await fsp.writeFile(config, [
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKey}`,
    `PidFile ${pidFile}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    'PubkeyAuthentication yes',
    `PasswordAuthentication ${isRoot ? 'yes' : 'no'}`,
    'KbdInteractiveAuthentication no',
    'PermitRootLogin no',
    'UsePAM no',
    'StrictModes no',
    `AllowUsers ${user}`,
    'Subsystem sftp internal-sftp',
    'LogLevel VERBOSE',
    ...(opts.extraConfig ?? []),
    '',
  ].join('\n'));
  if (isRoot) await fsp.mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation dir

  const hostKeyPub = (await fsp.readFile(`${hostKey}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
  let port = 0;
  let proc: ChildProcess | undefined;
  const launch = async (fixedPort?: number): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      port = fixedPort ?? (await freePort());
      proc = spawn(SSHD, ['-D', '-f', config, '-p', String(port), '-E', logFile], { stdio: 'ignore' });
      try {
        await waitForPort(port, proc, logFile);
        return;
      } catch (err) {
        if (attempt >= 3) throw err; // port taken in between: try another
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  try {
    await launch();
  } catch (err) {
    if (createdUser) spawnSync('userdel', [user]);
    await fsp.rm(baseDir, { recursive: true, force: true });
    throw err;
  }
  const knownHosts = path.join(sshDir, 'known_hosts');
  await fsp.writeFile(knownHosts, `[127.0.0.1]:${port} ${hostKeyPub}\n`);

  const env: NodeJS.ProcessEnv = { ...process.env, HOME: clientHome };
  delete env.SSH_AUTH_SOCK;
  delete env.FTP_PASSWORD;
  delete env.BACKEND_PASSWORD;

  const killAll = (): void => {
    if (!proc?.pid) return;
    killPids([...descendants(proc.pid), proc.pid]);
  };
  let stopped = false;
  // If the test process ends without stop() (a crash, a timeout), still take sshd and the user away.
  const onExit = (): void => {
    killAll();
    if (createdUser) spawnSync('userdel', [user]);
    rmSync(baseDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const server: SshdServer = {
    host: '127.0.0.1',
    get port() { return port; },
    user, password, userHome, remoteDir, clientHome, clientKey, knownHosts, hostKeyPub, env, logFile, baseDir,
    url: (scheme, remotePath) => `${scheme}://${user}@127.0.0.1:${port}/${remotePath}`,
    killConnections: () => { if (proc?.pid) killPids(descendants(proc.pid)); },
    kill: killAll,
    restart: async () => {
      killAll();
      await launch(port);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      process.off('exit', onExit);
      killAll();
      if (proc && proc.exitCode === null && proc.signalCode === null) await new Promise((r) => proc!.once('exit', r));
      if (createdUser) spawnSync('userdel', [user]);
      else await fsp.rm(remoteDir, { recursive: true, force: true });
      await fsp.rm(baseDir, { recursive: true, force: true });
    },
  };
  return server;
}
