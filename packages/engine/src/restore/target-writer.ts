/**
 * Writes restored items under the restore target (FORMAT.md §11.5), as duplicity does: directories
 * first with their mode and mtime set after their contents (root too), regular files' content then
 * owner, mode, mtime; symlinks with their target only; fifos and devices. Nothing is ever written
 * outside the target: names with empty, `.` or `..` components are refused, and every parent on the
 * way is checked to be a real directory (not a symlink restored earlier), files are opened
 * O_NOFOLLOW|O_EXCL.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { chmod, chown, lchown, lstat, mkdir, open, readdir, rm, stat, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Index, TarHeader } from '@duplicity-ts/archive';
import { OwnerMap } from './owners.js';
import { userError, type ReadLog, quietLog } from './remote-file.js';

const run = promisify(execFile);

export interface TargetWriterOptions {
  /** chown restored items (duplicity does when run as root). */
  restoreOwnership: boolean;
  numericOwner?: boolean;
  /** Restore into an existing non-empty target. */
  force?: boolean;
  log?: ReadLog;
  /** The atime given to restored items (epoch s); defaults to now. */
  now?: number;
}

interface PendingDir {
  rel: Index;
  path: Buffer;
  header: TarHeader;
}

const SLASH = Buffer.from('/');

function showIndex(i: Index): string {
  return i.length ? Buffer.concat(i.flatMap((c, n) => (n ? [SLASH, c] : [c]))).toString('utf8') : '.';
}

export class TargetWriter {
  private readonly root: Buffer;
  private readonly owners: OwnerMap;
  private readonly pending: PendingDir[] = [];
  /** Directories (as latin1 keys of their path bytes) checked to be real directories. */
  private readonly verified = new Set<string>();
  private readonly now: number;
  private readonly log: ReadLog;
  written = 0;

  constructor(
    root: string,
    private readonly opts: TargetWriterOptions,
  ) {
    this.root = Buffer.from(root.length > 1 ? root.replace(/\/+$/, '') : root);
    this.owners = new OwnerMap(opts.numericOwner ?? false);
    this.now = opts.now ?? Math.floor(Date.now() / 1000);
    this.log = opts.log ?? quietLog;
  }

  /** Refuses an existing target that is not an empty directory, unless --force (exit 11). */
  async checkTarget(): Promise<void> {
    let st;
    try {
      st = await stat(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (this.opts.force) return;
    if (!st.isDirectory() || (await readdir(this.root)).length > 0) {
      throw userError(`Restore destination directory ${this.root.toString()} already exists.\nWill not overwrite.`, 11);
    }
  }

  private pathOf(rel: Index): Buffer {
    if (rel.length === 0) return this.root;
    const parts: Buffer[] = [this.root];
    for (const c of rel) parts.push(SLASH, c);
    return Buffer.concat(parts);
  }

  private static checkIndex(rel: Index): void {
    for (const c of rel) {
      const s = c.toString('latin1');
      if (c.length === 0 || s === '.' || s === '..' || c.includes(0x2f) || c.includes(0)) {
        throw userError(`refusing to restore ${JSON.stringify(showIndex(rel))}: unsafe name component ${JSON.stringify(s)}`, 30);
      }
    }
  }

  /** Makes sure every parent of `rel` (the root included) is a real directory inside the target. */
  private async ensureParents(rel: Index): Promise<void> {
    for (let i = 0; i < rel.length; i++) {
      const p = this.pathOf(rel.slice(0, i));
      const key = p.toString('latin1');
      if (this.verified.has(key)) continue;
      let st;
      try {
        // The root may be a symlink the user chose; nothing below it may be.
        st = i === 0 ? await stat(p) : await lstat(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await mkdir(p, { mode: 0o700 });
        this.verified.add(key);
        continue;
      }
      if (!st.isDirectory()) {
        throw userError(`refusing to restore ${JSON.stringify(showIndex(rel))}: ${JSON.stringify(showIndex(rel.slice(0, i)))} is not a directory`, 30);
      }
      this.verified.add(key);
    }
  }

  /** Sets owner, mode and mtime of directories whose contents are complete (those not above `rel`). */
  private async closeDirsNotAbove(rel: Index | null): Promise<void> {
    while (this.pending.length) {
      const top = this.pending[this.pending.length - 1];
      if (rel && top.rel.length < rel.length && top.rel.every((c, i) => c.equals(rel[i]))) break;
      this.pending.pop();
      await this.applyMetadata(top.path, top.header, false);
    }
  }

  private async applyMetadata(p: Buffer, h: TarHeader, isLink: boolean): Promise<void> {
    if (this.opts.restoreOwnership) {
      const uid = this.owners.uid(h.uname, h.uid);
      const gid = this.owners.gid(h.gname, h.gid);
      try {
        await (isLink ? lchown : chown)(p, uid, gid);
      } catch (err) {
        this.log.warn(`failed to set the owner of ${p.toString()}: ${(err as Error).message}`);
      }
    }
    if (isLink) return;
    // chmod after chown: chown clears setuid/setgid.
    await chmod(p, h.mode & 0o7777);
    await utimes(p, this.now, Math.max(0, h.mtime));
  }

  private async clearExisting(p: Buffer, keepDir: boolean): Promise<boolean> {
    let st;
    try {
      st = await lstat(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    if (keepDir && st.isDirectory()) return true;
    await rm(p, { recursive: true, force: true });
    return false;
  }

  /**
   * Writes one item at `rel` (relative to the target). `content` is the regular file's data.
   */
  async write(rel: Index, h: TarHeader, content?: AsyncIterable<Uint8Array>): Promise<void> {
    TargetWriter.checkIndex(rel);
    await this.closeDirsNotAbove(rel);
    await this.ensureParents(rel);
    const p = this.pathOf(rel);
    const isRoot = rel.length === 0;
    switch (h.type) {
      case 'directory': {
        const exists = isRoot ? await this.rootIsDir() : await this.clearExisting(p, true);
        if (!exists) await mkdir(p, { mode: 0o700 });
        // Until its metadata is applied it must stay writable for its contents.
        if (exists) await chmod(p, 0o700);
        this.verified.add(p.toString('latin1'));
        this.pending.push({ rel, path: p, header: h });
        break;
      }
      case 'file': {
        await this.clearExisting(p, false);
        const fh = await open(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          if (content) {
            try {
              await writeBatched(fh, content);
            } catch (err) {
              // Content that failed midway (a damaged volume, a bad delta) must not stay as a short file.
              await rm(p, { force: true });
              throw err;
            }
          }
          if (this.opts.restoreOwnership) {
            await fh.chown(this.owners.uid(h.uname, h.uid), this.owners.gid(h.gname, h.gid)).catch((err: Error) => {
              this.log.warn(`failed to set the owner of ${p.toString()}: ${err.message}`);
            });
          }
          await fh.chmod(h.mode & 0o7777);
          await fh.utimes(this.now, Math.max(0, h.mtime));
        } finally {
          await fh.close();
        }
        break;
      }
      case 'symlink': {
        await this.clearExisting(p, false);
        await symlink(h.linkname, p);
        await this.applyMetadata(p, h, true);
        break;
      }
      case 'fifo': {
        await this.clearExisting(p, false);
        // Node has no mkfifo(2); the coreutils command makes it.
        await run('mkfifo', ['-m', '600', '--', p.toString()]);
        await this.applyMetadata(p, h, false);
        break;
      }
      case 'chardev':
      case 'blockdev': {
        if (process.getuid?.() !== 0) {
          this.log.warn(`skipping device file ${showIndex(rel)}: only root can create devices`);
          return;
        }
        await this.clearExisting(p, false);
        await run('mknod', ['-m', '600', '--', p.toString(), h.type === 'chardev' ? 'c' : 'b', String(h.devmajor), String(h.devminor)]);
        await this.applyMetadata(p, h, false);
        break;
      }
      default:
        this.log.warn(`skipping ${showIndex(rel)}: unsupported entry type ${h.type}`);
        return;
    }
    this.written++;
  }

  private async rootIsDir(): Promise<boolean> {
    try {
      return (await stat(this.root)).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** Applies the metadata of every directory still open, deepest first, the root last. */
  async finish(): Promise<void> {
    await this.closeDirsNotAbove(null);
  }
}

/** Writes a stream of (possibly tiny) chunks in ~1 MiB batches: one syscall per batch, not per chunk. */
async function writeBatched(fh: FileHandle, content: AsyncIterable<Uint8Array>): Promise<void> {
  const BATCH = 1 << 20;
  let parts: Uint8Array[] = [];
  let size = 0;
  const flush = async () => {
    const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
    let off = 0;
    while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
    parts = [];
    size = 0;
  };
  for await (const chunk of content) {
    // Chunks may be views into buffers their producer reuses: copy when keeping them.
    parts.push(Buffer.from(chunk));
    size += chunk.length;
    if (size >= BATCH) await flush();
  }
  if (size) await flush();
}
