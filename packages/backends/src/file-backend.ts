/** `file://` backend: a local (or mounted) directory, created on open. */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { type Backend, isPlainName, type PutOptions, UPLOAD_TEMP_PREFIX, uploadTempName } from './backend.js';
import { BackendError, backendFailure, ExitCode } from './errors.js';

export async function openFileBackend(dir: string, display: string): Promise<Backend> {
  try {
    await fsp.mkdir(dir, { recursive: true });
  } catch (err) {
    throw backendFailure(`create target directory ${display}`, err);
  }
  return new FileBackend(path.resolve(dir), display);
}

class FileBackend implements Backend {
  constructor(private readonly dir: string, private readonly display: string) {}

  private target(name: string, what: string): string {
    if (!isPlainName(name)) {
      throw new BackendError(`failed to ${what} ${JSON.stringify(name)}: not a plain file name`, { exitCode: ExitCode.codeError });
    }
    return path.join(this.dir, name);
  }

  async put(name: string, localFile: string, opts: PutOptions = {}): Promise<void> {
    const final = this.target(name, 'upload');
    if (opts.consume && (await this.moveInto(name, localFile, final))) return;
    const temp = path.join(this.dir, uploadTempName(name));
    try {
      await fsp.copyFile(localFile, temp);
      // fsync before the rename: after a crash the final name holds either nothing or the whole file.
      const fh = await fsp.open(temp, 'r+');
      try { await fh.sync(); } finally { await fh.close(); }
      await fsp.rename(temp, final);
    } catch (err) {
      await fsp.rm(temp, { force: true }).catch(() => {});
      throw backendFailure(`upload ${name} to ${this.display}`, err);
    }
  }

  /**
   * Moves a file the caller is done with into place: copying a volume of hundreds of MB into fresh
   * page cache costs far more than a link. link() fails with EEXIST rather than replace anything,
   * so an existing backup file is never overwritten. Returns false when the file system cannot
   * link it here (another file system, no hard links), and the caller copies instead.
   */
  private async moveInto(name: string, localFile: string, final: string): Promise<boolean> {
    try {
      // fsync before the link, as the copy path does before its rename: after a crash the final
      // name holds either nothing or the whole file.
      const fh = await fsp.open(localFile, 'r+');
      try { await fh.sync(); } finally { await fh.close(); }
      await fsp.link(localFile, final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EXDEV' || code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EMLINK') return false;
      throw backendFailure(`upload ${name} to ${this.display}`, err);
    }
    // The file is in place; a temp name that cannot be removed is the caller's to clean up.
    await fsp.unlink(localFile).catch(() => undefined);
    return true;
  }

  async get(name: string, localFile: string): Promise<void> {
    const src = this.target(name, 'download');
    try {
      await fsp.copyFile(src, localFile);
    } catch (err) {
      throw backendFailure(`download ${name} from ${this.display}`, err);
    }
  }

  async localPath(name: string): Promise<string> {
    const src = this.target(name, 'read');
    try {
      await fsp.access(src, fsConstants.R_OK);
    } catch (err) {
      throw backendFailure(`read ${name} from ${this.display}`, err);
    }
    return src;
  }

  async list(): Promise<string[]> {
    try {
      const entries = await fsp.readdir(this.dir, { withFileTypes: true });
      return entries.filter((e) => !e.isDirectory() && !e.name.startsWith(UPLOAD_TEMP_PREFIX)).map((e) => e.name);
    } catch (err) {
      throw backendFailure(`list ${this.display}`, err);
    }
  }

  async remove(name: string): Promise<void> {
    const p = this.target(name, 'delete');
    try {
      await fsp.unlink(p);
    } catch (err) {
      throw backendFailure(`delete ${name} from ${this.display}`, err);
    }
  }

  async stat(name: string): Promise<{ size: number } | null> {
    const p = this.target(name, 'stat');
    try {
      const st = await fsp.stat(p);
      return { size: st.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw backendFailure(`stat ${name} in ${this.display}`, err);
    }
  }

  async close(): Promise<void> {}
}
