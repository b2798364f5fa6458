/**
 * sftp:// and scp:// backends over one shared SSH connection (ssh-connection.ts).
 *
 * - Connect (FORMAT.md §15): each component of the remote path is stat'ed and created if missing.
 * - put: uploaded under a temporary name in the target directory, then renamed over the final name
 *   (posix-rename@openssh.com where offered), so an interrupted upload never leaves a half file under a
 *   final name. sftp:// uploads with ssh2's fastPut (many write requests in flight); scp:// uploads with
 *   the scp protocol over an exec channel (scp-transfer.ts).
 * - get: fastGet (many read requests in flight) or `scp -f`.
 * - list, remove, stat: SFTP requests, for both schemes, as duplicity's own SSH backend does.
 * Transient failures (dropped connection, timeout) reconnect and retry (retry.ts); all operations are
 * safe to run concurrently on one backend.
 */
import * as path from 'node:path';
import type { FileEntryWithStats, SFTPWrapper, Stats } from 'ssh2';
import { type Backend, type BackendOptions, isPlainName, UPLOAD_TEMP_PREFIX, uploadTempName } from './backend.js';
import { BackendError, classifyFailure, ExitCode } from './errors.js';
import { withRetries, type RetryPolicy } from './retry.js';
import { scpDownload, scpUpload } from './scp-transfer.js';
import { sha1OnServer } from './remote-hash.js';
import { connectSsh, resolveSshSettings, type SshConnection, type SshSettings } from './ssh-connection.js';
import { displaySshUrl, type SshUrl } from './url.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const SFTP_NO_SUCH_FILE = 2;

/** Write/read requests in flight per transfer and their size: 64 x 32 KiB = 2 MiB, see bench/sftp. */
const TRANSFER = { concurrency: 64, chunkSize: 32 * 1024 };

export async function openSshBackend(url: SshUrl, options: BackendOptions): Promise<Backend> {
  const settings = resolveSshSettings(url, options);
  const backend = new SshBackend(url, settings, {
    numRetries: options.numRetries ?? 5,
    retryDelayMs: options.retryDelayMs ?? 5000,
  });
  await withRetries(backend.policy, `connect to ${backend.display}`, () => backend.connection());
  return backend;
}

interface Live {
  conn: SshConnection;
  /** The target directory, absolute. */
  dir: string;
}

/** ssh2 channels at once for scp transfers; OpenSSH allows 10 sessions per connection (MaxSessions), one is SFTP. */
const MAX_SCP_CHANNELS = 6;

class SshBackend implements Backend {
  readonly display: string;
  private current: Promise<Live> | undefined;
  private closing = false;
  private readonly scpSlots = new Slots(MAX_SCP_CHANNELS);

  constructor(private readonly url: SshUrl, private readonly settings: SshSettings, readonly policy: RetryPolicy) {
    this.display = displaySshUrl(url);
  }

  /** The live connection and the absolute target directory; connects (again) when there is none. */
  async connection(): Promise<Live> {
    for (;;) {
      if (this.closing) throw new BackendError(`failed to use ${this.display}: backend closed`, { exitCode: ExitCode.codeError });
      const cur = this.current;
      if (!cur) break;
      const c = await cur.catch(() => undefined);
      if (c && !c.conn.closed) return c;
      // Dead or failed: forget it, unless another caller already replaced it.
      if (this.current === cur) this.current = undefined;
    }
    const attempt = (async () => {
      const conn = await connectSsh(this.settings);
      try {
        return { conn, dir: await conn.guard(ensureRemoteDir(conn.sftp, this.url.path)) };
      } catch (err) {
        conn.client.end();
        throw err;
      }
    })();
    this.current = attempt;
    attempt.catch(() => { if (this.current === attempt) this.current = undefined; });
    return attempt;
  }

  /**
   * One try of an operation on the live connection. A transient failure also retires that connection
   * (a stuck one is not always closed yet) so the next try reconnects; a connection that another
   * operation has already replaced is left alone.
   */
  private async onConnection<T>(fn: (c: Live) => Promise<T>): Promise<T> {
    const c = await this.connection();
    try {
      return await fn(c);
    } catch (err) {
      if (classifyFailure(err).transient) {
        c.conn.client.end();
        const cur = this.current;
        if (cur && (await cur.catch(() => undefined)) === c && this.current === cur) this.current = undefined;
      }
      throw err;
    }
  }

  private check(name: string, what: string): void {
    if (!isPlainName(name)) {
      throw new BackendError(`failed to ${what} ${JSON.stringify(name)}: not a plain file name`, { exitCode: ExitCode.codeError });
    }
  }

  async put(name: string, localFile: string): Promise<void> {
    this.check(name, 'upload');
    const temp = uploadTempName(name); // one name for all tries: a retry overwrites its own leftovers
    try {
      await withRetries(this.policy, `upload ${name} to ${this.display}`, () => this.onConnection(async ({ conn, dir }) => {
        const tempPath = path.posix.join(dir, temp);
        if (this.url.scheme === 'scp') {
          await this.scpSlots.run(() => conn.guard(scpUpload(conn.client, localFile, tempPath)));
        } else {
          await conn.guard(sftpCall<void>((cb) => conn.sftp.fastPut(localFile, tempPath, TRANSFER, cb)));
        }
        await conn.guard(renameOver(conn.sftp, tempPath, path.posix.join(dir, name)));
      }), localFailure(localFile, 'read'));
    } catch (err) {
      // Best effort: when the connection is gone the leftover keeps its temporary name, hidden from list().
      const c = await this.current?.catch(() => undefined);
      if (c && !c.conn.closed) await c.conn.guard(sftpCall<void>((cb) => c.conn.sftp.unlink(path.posix.join(c.dir, temp), cb))).catch(() => {});
      throw err;
    }
  }

  async get(name: string, localFile: string): Promise<void> {
    this.check(name, 'download');
    await withRetries(this.policy, `download ${name} from ${this.display}`, () => this.onConnection(async ({ conn, dir }) => {
      const remote = path.posix.join(dir, name);
      if (this.url.scheme === 'scp') await this.scpSlots.run(() => conn.guard(scpDownload(conn.client, remote, localFile)));
      else await conn.guard(sftpCall<void>((cb) => conn.sftp.fastGet(remote, localFile, TRANSFER, cb)));
    }), localFailure(localFile, 'write'));
  }

  async list(): Promise<string[]> {
    return withRetries(this.policy, `list ${this.display}`, () => this.onConnection(async ({ conn, dir }) => {
      const entries = await conn.guard(sftpCall<FileEntryWithStats[]>((cb) => conn.sftp.readdir(dir, cb)));
      return entries
        .filter((e) => (e.attrs.mode & S_IFMT) !== S_IFDIR && isPlainName(e.filename) && !e.filename.startsWith(UPLOAD_TEMP_PREFIX))
        .map((e) => e.filename)
        .sort();
    }));
  }

  async remove(name: string): Promise<void> {
    this.check(name, 'delete');
    await withRetries(this.policy, `delete ${name} from ${this.display}`, () => this.onConnection(async ({ conn, dir }) => {
      await conn.guard(sftpCall<void>((cb) => conn.sftp.unlink(path.posix.join(dir, name), cb)));
    }));
  }

  async stat(name: string): Promise<{ size: number } | null> {
    this.check(name, 'stat');
    return withRetries(this.policy, `stat ${name} in ${this.display}`, () => this.onConnection(async ({ conn, dir }) => {
      try {
        const st = await conn.guard(sftpCall<Stats>((cb) => conn.sftp.stat(path.posix.join(dir, name), cb)));
        return { size: st.size };
      } catch (err) {
        if ((err as { code?: unknown }).code === SFTP_NO_SUCH_FILE) return null;
        throw err;
      }
    }));
  }

  /** sha1sum on the server over an exec channel (remote-hash.ts); fails when there is no shell. */
  async sha1(names: string[]): Promise<Map<string, string>> {
    names.forEach((n) => this.check(n, 'hash'));
    return withRetries(this.policy, `hash files on ${this.display}`, async () => {
      const { conn, dir } = await this.connection();
      return conn.guard(sha1OnServer(conn.client, dir, names, Math.max(60_000, this.settings.timeoutMs * 10)));
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    const c = await this.current?.catch(() => undefined);
    this.current = undefined;
    if (c && !c.conn.closed) {
      c.conn.client.end();
      await c.conn.whenClosed;
    }
  }
}

/** A counting semaphore: at most `n` tasks at once, the rest wait in order. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) { this.free = n; }
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); else this.free++;
    }
  }
}

/** Local file errors are the user's side: say which local file, and never retry them. */
function localFailure(localFile: string, verb: 'read' | 'write') {
  return (err: unknown): BackendError | undefined => {
    const e = err as { code?: unknown; path?: unknown; syscall?: unknown };
    if (typeof e?.code === 'string' && e.path === localFile) {
      const msg = e.code === 'ENOENT' ? 'no such file or directory' : e.code === 'EACCES' ? 'permission denied' : e.code === 'ENOSPC' ? 'no space left on device' : e.code;
      return new BackendError(`cannot ${verb} local file ${localFile}: ${msg}`, { exitCode: e.code === 'ENOSPC' ? ExitCode.noSpace : ExitCode.backendError });
    }
    return undefined;
  };
}

/** Runs one ssh2 SFTP call as a promise; a call on a dead channel throws synchronously, which is caught too. */
export function sftpCall<T>(start: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      start((err, value) => (err ? reject(err) : resolve(value as T)));
    } catch (err) {
      reject(err);
    }
  });
}

/** Rename replacing the target: posix-rename@openssh.com if offered, else remove-then-rename (SFTP v3 rename refuses to overwrite). */
async function renameOver(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  try {
    await sftpCall<void>((cb) => sftp.ext_openssh_rename(from, to, cb));
    return;
  } catch (err) {
    if (!/not supported/i.test(String((err as Error)?.message))) throw err;
  }
  await sftpCall<void>((cb) => sftp.unlink(to, cb)).catch(() => {});
  await sftpCall<void>((cb) => sftp.rename(from, to, cb));
}

/**
 * Resolves the URL path to an absolute directory and creates what is missing, one component at a time
 * (FORMAT.md §15 Connect): `''` is the login directory, `rel/dir` is below it, `/abs/dir` is absolute.
 */
async function ensureRemoteDir(sftp: SFTPWrapper, urlPath: string): Promise<string> {
  let dir = urlPath.startsWith('/') ? '/' : await sftpCall<string>((cb) => sftp.realpath('.', cb));
  for (const part of urlPath.split('/').filter((p) => p !== '' && p !== '.')) {
    dir = path.posix.join(dir, part);
    let st: Stats | undefined;
    try {
      st = await sftpCall<Stats>((cb) => sftp.stat(dir, cb));
    } catch (err) {
      if ((err as { code?: unknown }).code !== SFTP_NO_SUCH_FILE) throw err;
    }
    if (!st) await sftpCall<void>((cb) => sftp.mkdir(dir, cb));
    else if ((st.mode & S_IFMT) !== S_IFDIR) {
      throw new BackendError(`remote path ${dir} is not a directory`, { exitCode: ExitCode.notFound });
    }
  }
  return dir;
}
