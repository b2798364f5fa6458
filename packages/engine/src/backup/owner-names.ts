/**
 * The user and group names duplicity writes in tar headers (FORMAT.md §4.2): looked up for the
 * numeric ids in the local databases at backup time, empty when there is none. Node has no
 * getpwuid, so /etc/passwd and /etc/group are read once.
 */
import { readFileSync } from 'node:fs';

function readNames(file: string): Map<number, string> {
  const m = new Map<number, string>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return m;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0] && /^\d+$/.test(f[2]) && !m.has(Number(f[2]))) m.set(Number(f[2]), f[0]);
  }
  return m;
}

export class OwnerNames {
  private users?: Map<number, string>;
  private groups?: Map<number, string>;

  uname(uid: number): string {
    this.users ??= readNames('/etc/passwd');
    return this.users.get(uid) ?? '';
  }

  gname(gid: number): string {
    this.groups ??= readNames('/etc/group');
    return this.groups.get(gid) ?? '';
  }
}
