/**
 * The small source tree the SSH round-trip tests back up: a mode-0640 text file, a symlink, and one
 * random file larger than a 1 MB volume (so a set with --volsize 1 has several volumes). Files get
 * an old fixed mtime: both tools see a change only through the whole-second mtime, so a later edit
 * must not fall in the same second as these writes.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export async function makeSmallTree(dir: string): Promise<void> {
  await fsp.mkdir(path.join(dir, 'etc', 'deep'), { recursive: true });
  await fsp.writeFile(path.join(dir, 'etc', 'hosts'), '127.0.0.1 localhost\n');
  await fsp.writeFile(path.join(dir, 'etc', 'deep', 'big.bin'), randomBytes(1_500_000));
  await fsp.symlink('hosts', path.join(dir, 'etc', 'hosts.link'));
  await fsp.chmod(path.join(dir, 'etc', 'hosts'), 0o640);
  for (const f of ['etc/hosts', 'etc/deep/big.bin']) await fsp.utimes(path.join(dir, f), 1600000000, 1600000000);
}
