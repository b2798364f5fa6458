/**
 * What a user checks after a restore, as one comparable value: every entry under a directory by
 * relative path, with its type, permission bits and content (files, base64) or target (symlinks),
 * and optionally its whole-second mtime (the resolution duplicity keeps). Shared by the tests that
 * compare a source tree with what a tool restored.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export interface SnapshotOptions {
  /** Include each file's and directory's mtime in whole seconds. */
  mtimes?: boolean;
}

export async function treeSnapshot(dir: string, o: SnapshotOptions = {}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string) => {
    const entries = (await fsp.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const r = path.join(rel, e.name);
      const st = await fsp.lstat(path.join(dir, r));
      const mode = (st.mode & 0o7777).toString(8);
      const mtime = o.mtimes ? ` ${Math.floor(st.mtimeMs / 1000)}` : '';
      if (e.isDirectory()) {
        out[r] = `dir ${mode}${mtime}`;
        await walk(r);
      } else if (e.isSymbolicLink()) out[r] = `link -> ${await fsp.readlink(path.join(dir, r))}`;
      else out[r] = `file ${mode}${mtime} ${(await fsp.readFile(path.join(dir, r))).toString('base64')}`;
    }
  };
  await walk('');
  return out;
}
