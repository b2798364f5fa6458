/**
 * One SSH connection (ssh2) as a backup client needs it: settings resolved from the URL,
 * `--ssh-options`, `~/.ssh/config` and the environment; the host key checked against known_hosts
 * before anything is sent; authentication in duplicity's order (FORMAT.md §15): password (URL,
 * FTP_PASSWORD, BACKEND_PASSWORD), ssh agent, default key files, configured identity files.
 * Nothing secret is ever put in a message: passwords and key contents stay inside ssh2.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ssh2 from 'ssh2';
import type { AuthenticationType, ConnectConfig, NextAuthHandler, SFTPWrapper } from 'ssh2';
import type { BackendOptions } from './backend.js';
import { BackendError, classifyFailure, ExitCode } from './errors.js';
import {
  appendKnownHost, judgeHostKey, keyBlobType, knownHostsName, lookupKnownHosts, preferredHostKeyAlgorithms, type KnownKey,
} from './known-hosts.js';
import { expandPath, resolveSshConfig } from './ssh-config.js';
import { parseSshOptions } from './ssh-options.js';
import type { SshUrl } from './url.js';

const { Client, utils } = ssh2;
type Client = InstanceType<typeof Client>;

export interface SshSettings {
  host: string;
  port: number;
  user: string;
  /** Name the host key is recorded under in known_hosts. */
  knownHostsName: string;
  knownHostsFiles: string[];
  /** Where a newly accepted key is written (StrictHostKeyChecking=no or accept-new). */
  knownHostsWriteFile: string;
  strictHostKeyChecking: 'yes' | 'no' | 'accept-new';
  password?: string;
  agentSocket?: string;
  /** Key files to try, in order, with the display form used in messages. */
  identityFiles: string[];
  timeoutMs: number;
  home: string;
}

const DEFAULT_KEY_FILES = ['id_ed25519', 'id_ecdsa', 'id_rsa', 'id_dsa'];

export function resolveSshSettings(url: SshUrl, options: BackendOptions): SshSettings {
  const env = options.env ?? process.env;
  const home = env.HOME ?? os.homedir();
  const cli = parseSshOptions(options.sshOptions);
  const o = (name: string) => cli.options.get(name);
  const alias = url.host;
  const cfg = resolveSshConfig(alias, [path.join(home, '.ssh', 'config'), '/etc/ssh/ssh_config'], home);
  const host = o('hostname') ?? cfg.hostName ?? alias;
  const optPort = o('port');
  const port = url.port ?? (optPort !== undefined ? Number(optPort) : undefined) ?? cfg.port ?? 22;
  if (!(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new BackendError(`bad --ssh-options: port ${optPort} is not a port number`, { exitCode: ExitCode.userError });
  }
  let localUser = 'root';
  try { localUser = os.userInfo().username; } catch { /* no passwd entry: keep a name for %u */ }
  const user = url.user ?? o('user') ?? cfg.user ?? env.USER ?? localUser;
  const ctx = { home, host, localUser, remoteUser: user, port };
  const expand = (p: string) => expandPath(p, ctx);

  const userKnown = (o('userknownhostsfile')?.split(/\s+/) ?? cfg.userKnownHostsFiles ?? ['~/.ssh/known_hosts', '~/.ssh/known_hosts2']).map(expand);
  const globalKnown = (o('globalknownhostsfile')?.split(/\s+/) ?? cfg.globalKnownHostsFiles ?? ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']).map(expand);
  const strictRaw = (o('stricthostkeychecking') ?? cfg.strictHostKeyChecking ?? 'ask').toLowerCase();
  // "ask" (OpenSSH's default) needs a person at a terminal; unattended it means refuse, as "yes" does.
  const strict = strictRaw === 'no' || strictRaw === 'off' ? 'no' : strictRaw === 'accept-new' ? 'accept-new' : 'yes';

  const password = url.password ?? nonEmpty(env.FTP_PASSWORD) ?? nonEmpty(env.BACKEND_PASSWORD);
  const identitiesOnly = (o('identitiesonly') ?? (cfg.identitiesOnly ? 'yes' : 'no')).toLowerCase() === 'yes';
  const agentSocket = identitiesOnly ? undefined : nonEmpty(env.SSH_AUTH_SOCK);
  const explicit = [...cli.identityFiles, ...cfg.identityFiles].map(expand);
  const defaults = DEFAULT_KEY_FILES.map((f) => path.join(home, '.ssh', f));
  const identityFiles = dedupe([...defaults, ...explicit]);

  const timeoutS = options.timeoutS ?? cfg.connectTimeout ?? 30;
  return {
    host, port, user,
    knownHostsName: knownHostsName(host, port),
    knownHostsFiles: [...userKnown, ...globalKnown],
    knownHostsWriteFile: userKnown[0],
    strictHostKeyChecking: strict,
    password, agentSocket, identityFiles,
    timeoutMs: timeoutS * 1000,
    home,
  };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)];
}

/** `~/.ssh/id_rsa` rather than the full path, for messages. */
function displayPath(p: string, home: string): string {
  return p.startsWith(home + '/') ? `~${p.slice(home.length)}` : p;
}

export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export interface SshConnection {
  client: Client;
  sftp: SFTPWrapper;
  /** Set once the connection has dropped; the next operation reconnects. */
  closed: boolean;
  /** Resolves when the connection closes. */
  whenClosed: Promise<void>;
  /**
   * Settles with `op`, or rejects (as a transient failure) when the connection closes first: ssh2 does
   * not always call back requests cut off by a dropped connection (fastPut/fastGet try to close their
   * handles on the dead channel and wait forever).
   */
  guard<T>(op: Promise<T>): Promise<T>;
}

/**
 * Connects, verifies the host key, authenticates and opens the SFTP subsystem.
 * Errors are BackendErrors with exit code 23; network errors are marked transient.
 */
export async function connectSsh(s: SshSettings): Promise<SshConnection> {
  const known = await lookupKnownHosts(s.knownHostsFiles, s.knownHostsName);
  let hostKeyProblem: BackendError | undefined;
  let newHostKey: Buffer | undefined;

  const auths = authAttempts(s);
  const skipped = auths.skipped;
  const tried: string[] = [];
  const client = new Client();
  const config: ConnectConfig = {
    host: s.host,
    port: s.port,
    username: s.user,
    readyTimeout: s.timeoutMs,
    keepaliveInterval: Math.max(1000, Math.floor(s.timeoutMs / 2)), // half of --timeout, as duplicity (§15)
    keepaliveCountMax: 3,
    algorithms: {
      serverHostKey: preferredHostKeyAlgorithms(known, DEFAULT_HOST_KEY_ALGORITHMS) as never,
      // AES-GCM first: Node's native AES (AES-NI) is much faster than ssh2's chacha20 fallback.
      cipher: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr', 'chacha20-poly1305@openssh.com'] as never,
    },
    hostVerifier: (key: Buffer) => {
      const verdict = judgeHostKey(known, key);
      if (verdict === 'known') return true;
      const what = `${keyBlobType(key)} ${fingerprint(key)}`;
      const files = s.knownHostsFiles.map((f) => displayPath(f, s.home)).join(', ');
      if (verdict === 'unknown' && s.strictHostKeyChecking !== 'yes') {
        newHostKey = key;
        return true;
      }
      if (verdict === 'unknown') {
        hostKeyProblem = new BackendError(
          `host key for ${s.knownHostsName} is unknown (${what}): not in ${files}; refusing to connect ` +
          `(add it with ssh-keyscan or one interactive ssh login, or pass --ssh-options="-oStrictHostKeyChecking=accept-new")`,
          { exitCode: ExitCode.userError });
      } else if (verdict === 'revoked') {
        hostKeyProblem = new BackendError(`host key for ${s.knownHostsName} is revoked (${what}) in ${files}; refusing to connect`, { exitCode: ExitCode.userError });
      } else {
        hostKeyProblem = new BackendError(
          `host key for ${s.knownHostsName} has changed (now ${what}), it does not match ${files}: ` +
          'refusing to connect, someone may be intercepting the connection; if the change is expected, remove the old key from known_hosts',
          { exitCode: ExitCode.userError });
      }
      return false;
    },
    authHandler: (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, next: NextAuthHandler) => {
      for (;;) {
        const a = auths.shift();
        if (!a) return next(false as never);
        // methodsLeft is null before the first attempt: the server has not said what it allows yet.
        if (methodsLeft && !methodsLeft.includes(a.auth.type)) continue;
        tried.push(a.label);
        return next(a.auth as never);
      }
    },
  };

  const conn = await new Promise<Client>((resolve, reject) => {
    let settled = false;
    client.once('ready', () => { settled = true; resolve(client); });
    client.on('error', (err: Error & { level?: string }) => {
      if (settled) return; // later errors surface through 'close' and the failing requests
      settled = true;
      client.end();
      if (hostKeyProblem) return reject(hostKeyProblem);
      if (err.level === 'client-authentication') {
        const notes = skipped.length ? `; skipped ${skipped.join(', ')}` : '';
        return reject(new BackendError(
          `authentication as ${s.user} failed (tried ${tried.length ? tried.join(', ') : 'nothing: no password, agent or key file'}${notes})`,
          { exitCode: ExitCode.userError }));
      }
      const k = classifyFailure(err);
      reject(new BackendError(`cannot connect to ${s.host} port ${s.port}: ${k.cause}`, { exitCode: ExitCode.userError, transient: k.transient || err.level === 'client-socket' || err.level === 'client-timeout', cause: err }));
    });
    try {
      client.connect(config);
    } catch (err) {
      settled = true;
      reject(new BackendError(`cannot connect to ${s.host} port ${s.port}: ${classifyFailure(err).cause}`, { exitCode: ExitCode.userError, cause: err }));
    }
  });

  if (newHostKey) {
    await appendKnownHost(s.knownHostsWriteFile, s.knownHostsName, newHostKey).catch(() => {
      // Accepting the key still works for this run; the next one will accept it again.
    });
  }

  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
    conn.sftp((err, w) => (err ? reject(new BackendError(`cannot start the SFTP subsystem on ${s.host}: ${classifyFailure(err).cause}`, { exitCode: ExitCode.userError, transient: classifyFailure(err).transient, cause: err })) : resolve(w)));
  }).catch((err) => { conn.end(); throw err; });

  let markClosed!: () => void;
  const whenClosed = new Promise<void>((resolve) => { markClosed = resolve; });
  const result: SshConnection = {
    client: conn, sftp, closed: false, whenClosed,
    guard: <T>(op: Promise<T>) => Promise.race([
      op,
      whenClosed.then((): never => { throw Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }); }),
    ]),
  };
  const done = () => { result.closed = true; markClosed(); };
  conn.once('close', done);
  conn.once('end', done);
  sftp.once('close', done);
  sftp.once('end', done);
  // Late errors (keepalive timeout, socket reset) close the connection; the guarded requests report them.
  conn.on('error', () => {});
  return result;
}

const DEFAULT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
];

interface AuthAttempt {
  label: string;
  auth: { type: AuthenticationType; username: string; [k: string]: unknown };
}

/** The attempts in duplicity's order; key files that cannot be used unattended are listed in `skipped`. */
function authAttempts(s: SshSettings): AuthAttempt[] & { skipped: string[] } {
  const list = [] as unknown as AuthAttempt[] & { skipped: string[] };
  list.skipped = [];
  const username = s.user;
  if (s.password !== undefined) {
    const password = s.password;
    list.push({ label: 'password', auth: { type: 'password', username, password } });
    list.push({
      label: 'keyboard-interactive password',
      auth: {
        type: 'keyboard-interactive', username,
        prompt: (_n: string, _i: string, _l: string, prompts: { prompt: string }[], finish: (answers: string[]) => void) => {
          finish(prompts.map((p) => (/password/i.test(p.prompt) ? password : '')));
        },
      },
    });
  }
  if (s.agentSocket) list.push({ label: 'ssh-agent', auth: { type: 'agent', username, agent: s.agentSocket } });
  for (const file of s.identityFiles) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      continue; // absent default key files are normal
    }
    const shown = displayPath(file, s.home);
    const parsed = utils.parseKey(data);
    if (parsed instanceof Error) {
      list.skipped.push(/encrypted|passphrase/i.test(parsed.message) ? `${shown} (passphrase-protected: load it into ssh-agent)` : `${shown} (unreadable key)`);
      continue;
    }
    list.push({ label: shown, auth: { type: 'publickey', username, key: data } });
  }
  return list;
}
