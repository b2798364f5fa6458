/**
 * The archive dir's lockfile (FORMAT.md §11.10): `<archive dir>/lockfile` keeps two runs on one
 * backup from interleaving. duplicity holds an fcntl lock on an empty file; Node cannot take fcntl
 * locks itself, so duplicity-ts creates the file exclusively and writes `<pid> <hostname>` into it.
 *
 * While held, a python3 helper also holds an fcntl lock on the file (fcntl-holder.ts), so a real
 * duplicity started meanwhile stops with its own "already running" error.
 *
 * A lockfile that exists is taken to be held when
 * - some process holds a POSIX or flock lock on it (/proc/locks lists its inode): a running duplicity;
 * - or it names a live process on this host (a running duplicity-ts), or a process on another host
 *   (an archive dir shared over NFS: we cannot tell whether that one is alive).
 * Otherwise it is stale (its run was killed) and is taken over.
 */
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { readFileSync, statSync, unlinkSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import path from 'node:path';
import { holdFcntlLock, type FcntlHold } from './fcntl-holder.js';

export const LOCK_HELD_EXIT = 23;

export interface ArchiveLock {
  readonly path: string;
  release(): Promise<void>;
}

export interface LockOptions {
  hostname?: string;
  pid?: number;
  /** Called when a stale lock is taken over (for a log line). */
  onStale?(detail: string): void;
  /** Also hold an fcntl lock for the real duplicity to see (fcntl-holder.ts); default true. */
  fcntl?: boolean;
}

function lockError(file: string, detail: string): Error & { exitCode: number } {
  return Object.assign(
    new Error(`Another duplicity instance is already running with this archive directory (${file}: ${detail})`),
    { exitCode: LOCK_HELD_EXIT },
  );
}

/** Whether a process holds a lock on this inode, per /proc/locks (Linux). */
async function inodeIsLocked(file: string): Promise<boolean> {
  let ino: number;
  let dev: number;
  try {
    const st = statSync(file);
    ino = st.ino;
    dev = st.dev;
  } catch {
    return false;
  }
  let text: string;
  try {
    text = await readFile('/proc/locks', 'utf8');
  } catch {
    return false;
  }
  // Linux encodes dev_t as major:minor with major = bits 8-19 (and 32-43), minor = bits 0-7 (and 20-31).
  const major = ((dev >>> 8) & 0xfff) | Math.floor(dev / 2 ** 32) & ~0xfff;
  const minor = (dev & 0xff) | ((dev >>> 12) & ~0xff);
  for (const line of text.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 29678 fe:00:2156578 0 EOF" (blocked waiters have "->" and are skipped)
    const f = line.trim().split(/\s+/);
    if (f[1] === '->') continue;
    const where = f[5];
    if (!where) continue;
    const [ma, mi, in_] = where.split(':');
    if (Number(in_) === ino && parseInt(ma, 16) === major && parseInt(mi, 16) === minor) return true;
  }
  return false;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Why the existing lockfile is held, or null when it is stale. */
async function holder(file: string, host: string, ownPid: number): Promise<string | null> {
  if (await inodeIsLocked(file)) return 'locked by a running process';
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const m = /^(\d+) (\S+)/.exec(text);
  if (!m) return null; // an empty file nobody locks: a duplicity run that was killed
  const pid = Number(m[1]);
  if (m[2] !== host) return `held by process ${pid} on host ${m[2]}`;
  // Our own pid in it can only be a dead run's (pid reuse, e.g. in containers).
  return pid !== ownPid && processAlive(pid) ? `held by process ${pid}` : null;
}

/**
 * Takes the lock on `archiveDir` or throws (exit 23). Release it with release(); it is also removed
 * when the process exits normally. A SIGKILLed run leaves it behind, and the next run takes it over.
 */
export async function acquireArchiveLock(archiveDir: string, o: LockOptions = {}): Promise<ArchiveLock> {
  const file = path.join(archiveDir, 'lockfile');
  const host = o.hostname ?? osHostname();
  const pid = o.pid ?? process.pid;
  const content = `${pid} ${host}\n`;
  // Written under a private name and hard-linked into place, so the lockfile never exists empty
  // (an empty unlocked file would look like a dead duplicity's to a run starting at that moment).
  const staged = `${file}.${pid}.tmp`;
  try {
    await writeFile(staged, content, { mode: 0o600 });
  } catch (err) {
    throw Object.assign(new Error(`failed to create lockfile ${file}: ${(err as Error).message}`), { exitCode: 9 });
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(staged, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw Object.assign(new Error(`failed to create lockfile ${file}: ${(err as Error).message}`), { exitCode: 9 });
        }
        const why = await holder(file, host, pid);
        if (why !== null || attempt >= 2) throw lockError(file, why ?? 'could not take over a stale lock');
        o.onStale?.(`Taking over the stale lockfile ${file}`);
        await unlink(file).catch(() => undefined);
        continue;
      }
      // Two runs that removed the same stale lock at once: only one of them still finds its own content.
      if ((await readFile(file, 'utf8').catch(() => '')) !== content) throw lockError(file, 'taken by another run at the same moment');
      const fcntl = o.fcntl === false ? null : await holdFcntlLock(file);
      if (fcntl === 'busy') throw lockError(file, 'locked by a running process'); // a duplicity that started just now
      return makeLock(file, content, fcntl);
    }
  } finally {
    await unlink(staged).catch(() => undefined);
  }
}

function makeLock(file: string, content: string, fcntl: FcntlHold | null): ArchiveLock {
  let released = false;
  const removeIfOurs = () => {
    if (released) return;
    released = true;
    process.removeListener('exit', removeIfOurs);
    try {
      // Only our own file: a run that took over after us must keep its lock.
      if (readFileSync(file, 'utf8') === content) unlinkSync(file);
    } catch {
      /* already gone */
    }
    fcntl?.release();
  };
  process.on('exit', removeIfOurs);
  return {
    path: file,
    async release() {
      removeIfOurs();
    },
  };
}
