/**
 * Writes restored items under the restore target (FORMAT.md §11.5), as duplicity does: directories
 * first with their mode and mtime set after their contents (root too), regular files' content then
 * owner, mode, mtime; symlinks with their target only; fifos and devices. Nothing is ever written
 * outside the target: names with empty, `.` or `..` components are refused, and every parent on the
 * way is checked to be a real directory (not a symlink restored earlier), files are opened
 * O_NOFOLLOW|O_EXCL.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
} from 'node:fs';
import { promisify } from 'node:util';
import type { Index, TarHeader } from '@duplicity-ts/archive';
import { OwnerMap } from '../owners.js';
import { PieceWriter, writeFully } from './piece-writer.js';
import { FileBatches, SMALL_FILE, type SmallFile } from './file-batches.js';
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
  /**
   * Small files of a fresh target are created on a helper thread (default true); their errors then
   * surface from a later write() or finish(). --ignore-errors turns it off, so that an error is
   * blamed on its own item.
   */
  backgroundFiles?: boolean;
  /**
   * Items do not come in index order (--rename): directory metadata waits for finish(), and parents
   * created on the way get the umask's mode, since no entry of the archive describes them.
   */
  deferDirMetadata?: boolean;
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
  /**
   * The target was missing or empty when checked: nothing can be in the way of an item, so the
   * lstat that clears an existing one is skipped (O_EXCL / mkdir still refuse anything unexpected).
   */
  private fresh = false;
  private pieces?: PieceWriter;
  /** Small files of a fresh target go to a helper thread (file-batches.ts); the rest is written here. */
  private readonly batches: FileBatches | undefined;
  /** Gathers a file's content to see whether it is small (reused; see gather()). */
  private stage?: Buffer;
  written = 0;

  constructor(
    root: string,
    private readonly opts: TargetWriterOptions,
  ) {
    this.root = Buffer.from(root.length > 1 ? root.replace(/\/+$/, '') : root);
    this.owners = new OwnerMap(opts.numericOwner ?? false);
    this.now = opts.now ?? Math.floor(Date.now() / 1000);
    this.log = opts.log ?? quietLog;
    if (opts.backgroundFiles ?? true) this.batches = new FileBatches(this.log, (f, data) => this.writeSmallHere(f, data));
  }

  /** Refuses an existing target that is not an empty directory, unless --force (exit 11). */
  async checkTarget(): Promise<void> {
    let st;
    try {
      st = statSync(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.fresh = true;
        return;
      }
      throw err;
    }
    const empty = st.isDirectory() && readdirSync(this.root).length === 0;
    this.fresh = empty;
    if (this.opts.force) return;
    if (!empty) {
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
  private ensureParents(rel: Index): void {
    // The usual case: the parent is the directory restored just before (still open).
    const top = this.pending[this.pending.length - 1];
    if (top && top.rel.length === rel.length - 1 && top.rel.every((c, i) => c.equals(rel[i]))) return;
    for (let i = 0; i < rel.length; i++) {
      const p = this.pathOf(rel.slice(0, i));
      const key = p.toString('latin1');
      if (this.verified.has(key)) continue;
      let st;
      try {
        // The root may be a symlink the user chose; nothing below it may be.
        st = i === 0 ? statSync(p) : lstatSync(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        mkdirSync(p, { mode: this.opts.deferDirMetadata ? 0o777 : 0o700 });
        this.verified.add(key);
        continue;
      }
      if (!st.isDirectory()) {
        throw userError(`refusing to restore ${JSON.stringify(showIndex(rel))}: ${JSON.stringify(showIndex(rel.slice(0, i)))} is not a directory`, 30);
      }
      this.verified.add(key);
    }
  }

  /**
   * Sets owner, mode and mtime of directories whose contents are complete (those not above `rel`),
   * once the small files queued in them exist: the helper thread goes on creating them meanwhile.
   */
  private closeDirsNotAbove(rel: Index | null): void {
    if (rel && this.opts.deferDirMetadata) return;
    while (this.pending.length) {
      const top = this.pending[this.pending.length - 1];
      if (rel && top.rel.length < rel.length && top.rel.every((c, i) => c.equals(rel[i]))) break;
      this.pending.pop();
      const apply = () => this.applyMetadata(top.path, top.header, false);
      if (this.batches) this.batches.afterQueued(apply);
      else apply();
    }
  }

  private applyMetadata(p: Buffer, h: TarHeader, isLink: boolean): void {
    if (this.opts.restoreOwnership) {
      const uid = this.owners.uid(h.uname, h.uid);
      const gid = this.owners.gid(h.gname, h.gid);
      try {
        (isLink ? lchownSync : chownSync)(p, uid, gid);
      } catch (err) {
        this.log.warn(`failed to set the owner of ${p.toString()}: ${(err as Error).message}`);
      }
    }
    if (isLink) return;
    // chmod after chown: chown clears setuid/setgid.
    chmodSync(p, h.mode & 0o7777);
    utimesSync(p, this.now, Math.max(0, h.mtime));
  }

  private clearExisting(p: Buffer, keepDir: boolean): boolean {
    let st;
    try {
      st = lstatSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    if (keepDir && st.isDirectory()) return true;
    rmSync(p, { recursive: true, force: true });
    return false;
  }

  /** Runs `make` (which creates `p` exclusively), clearing whatever is in the way first, or on EEXIST when the target was fresh. */
  private create<T>(p: Buffer, make: () => T): T {
    if (!this.fresh) this.clearExisting(p, false);
    try {
      return make();
    } catch (err) {
      if (!this.fresh || (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      this.clearExisting(p, false);
      return make();
    }
  }

  /**
   * Writes one item at `rel` (relative to the target). `content` is the regular file's data.
   * File system calls are synchronous on purpose: they are small and hit the page cache, and a
   * thread-pool round trip for each of the five or so calls per item would cost more than the calls
   * (thousands of small files); the thread pool stays free for inflating the next volume. Only the
   * content of a big file is written on the pool, one buffer while the next fills (PieceWriter).
   */
  async write(rel: Index, h: TarHeader, content?: AsyncIterable<Uint8Array>, writeInto?: (fd: number, pieces: PieceWriter) => Promise<void>): Promise<void> {
    TargetWriter.checkIndex(rel);
    this.closeDirsNotAbove(rel);
    this.ensureParents(rel);
    const p = this.pathOf(rel);
    const isRoot = rel.length === 0;
    switch (h.type) {
      case 'directory': {
        let exists: boolean;
        if (isRoot) exists = this.rootIsDir();
        else if (this.fresh) {
          try {
            mkdirSync(p, { mode: 0o700 });
            exists = true;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
            exists = this.clearExisting(p, true);
            // Until its metadata is applied it must stay writable for its contents.
            if (exists) chmodSync(p, 0o700);
          }
        } else {
          exists = this.clearExisting(p, true);
          if (exists) chmodSync(p, 0o700);
        }
        if (!exists) mkdirSync(p, { mode: 0o700 });
        else if (isRoot) chmodSync(p, 0o700);
        this.verified.add(p.toString('latin1'));
        this.pending.push({ rel, path: p, header: h });
        break;
      }
      case 'file': {
        // A file with later diffs writes itself, those diffs in place where they allow it (patch-chain.ts).
        if (this.fresh && this.batches && !writeInto) {
          const gathered = await this.gather(content);
          if ('data' in gathered) {
            await this.batches.add(this.smallFile(p, h), gathered.data);
            break;
          }
          content = gathered.rest;
        }
        const access = writeInto ? constants.O_RDWR : constants.O_WRONLY;
        const fd = this.create(p, () => openSync(p, access | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
        try {
          if (content || writeInto) {
            try {
              const pieces = (this.pieces ??= new PieceWriter());
              await (writeInto ? writeInto(fd, pieces) : pieces.write(fd, content!));
            } catch (err) {
              // Content that failed midway (a damaged volume, a bad delta) must not stay as a short file.
              rmSync(p, { force: true });
              throw err;
            }
          }
          if (this.opts.restoreOwnership) {
            try {
              fchownSync(fd, this.owners.uid(h.uname, h.uid), this.owners.gid(h.gname, h.gid));
            } catch (err) {
              this.log.warn(`failed to set the owner of ${p.toString()}: ${(err as Error).message}`);
            }
          }
          fchmodSync(fd, h.mode & 0o7777);
          futimesSync(fd, this.now, Math.max(0, h.mtime));
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'symlink': {
        this.create(p, () => symlinkSync(h.linkname, p));
        this.applyMetadata(p, h, true);
        break;
      }
      case 'fifo': {
        this.clearExisting(p, false);
        // Node has no mkfifo(2); the coreutils command makes it.
        await run('mkfifo', ['-m', '600', '--', p.toString()]);
        this.applyMetadata(p, h, false);
        break;
      }
      case 'chardev':
      case 'blockdev': {
        if (process.getuid?.() !== 0) {
          this.log.warn(`skipping device file ${showIndex(rel)}: only root can create devices`);
          return;
        }
        this.clearExisting(p, false);
        await run('mknod', ['-m', '600', '--', p.toString(), h.type === 'chardev' ? 'c' : 'b', String(h.devmajor), String(h.devminor)]);
        this.applyMetadata(p, h, false);
        break;
      }
      default:
        this.log.warn(`skipping ${showIndex(rel)}: unsupported entry type ${h.type}`);
        return;
    }
    this.written++;
  }

  private rootIsDir(): boolean {
    try {
      return statSync(this.root).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** Applies the metadata of every directory still open, deepest first, the root last. */
  async finish(): Promise<void> {
    await this.batches?.drain();
    this.closeDirsNotAbove(null);
  }

  /**
   * After a failure elsewhere (a damaged volume): the files queued so far are still created, as they
   * would have been had they been written at once; the failure to report is the caller's, so the
   * writer's own errors are dropped here.
   */
  async abandon(): Promise<void> {
    await this.batches?.drain().catch(() => undefined);
  }

  private smallFile(p: Buffer, h: TarHeader): SmallFile {
    return {
      path: p,
      mode: h.mode & 0o7777,
      atime: this.now,
      mtime: Math.max(0, h.mtime),
      owner: this.opts.restoreOwnership ? { uid: this.owners.uid(h.uname, h.uid), gid: this.owners.gid(h.gname, h.gid) } : undefined,
    };
  }

  /**
   * Reads a file's content into the stage while it fits in SMALL_FILE: `data` is the whole content
   * (valid until the next call), else `rest` is the content to write here, the gathered start
   * included. Nothing is created before the content is known to be small, so a content error leaves
   * no file behind either way.
   */
  private async gather(content: AsyncIterable<Uint8Array> | undefined): Promise<{ data: Uint8Array } | { rest: AsyncIterable<Uint8Array> }> {
    const stage = (this.stage ??= Buffer.allocUnsafe(SMALL_FILE));
    if (!content) return { data: stage.subarray(0, 0) };
    const it = content[Symbol.asyncIterator]();
    let len = 0;
    for (;;) {
      const r = await it.next();
      if (r.done) return { data: stage.subarray(0, len) };
      const piece = r.value;
      if (len + piece.length > stage.length) {
        // The piece stays valid until the next is asked for, and PieceWriter copies each piece first.
        async function* rest(): AsyncGenerator<Uint8Array> {
          let finished = false;
          try {
            yield stage.subarray(0, len);
            yield piece;
            for (;;) {
              const n = await it.next();
              if (n.done) break;
              yield n.value;
            }
            finished = true;
          } finally {
            if (!finished) await it.return?.(undefined);
          }
        }
        return { rest: rest() };
      }
      stage.set(piece, len);
      len += piece.length;
    }
  }

  /** A small file the helper found in the way (EEXIST), written here after clearing it. */
  private writeSmallHere(f: SmallFile, data: Uint8Array): void {
    this.clearExisting(f.path, false);
    const fd = openSync(f.path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeFully(fd, data);
      if (f.owner) {
        try {
          fchownSync(fd, f.owner.uid, f.owner.gid);
        } catch (err) {
          this.log.warn(`failed to set the owner of ${f.path.toString()}: ${(err as Error).message}`);
        }
      }
      fchmodSync(fd, f.mode);
      futimesSync(fd, f.atime, f.mtime);
    } finally {
      closeSync(fd);
    }
  }
}
