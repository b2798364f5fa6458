/**
 * Owner resolution for restored items (FORMAT.md §5.3, §11.5): by uname/gname through the local
 * user and group databases first, the numeric ids as fallback, or numeric only with --numeric-owner.
 * Node has no getpwnam, so /etc/passwd and /etc/group are read directly (once).
 */
import { readFileSync } from 'node:fs';

function readDb(file: string): Map<string, number> {
  const m = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return m;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0] && /^\d+$/.test(f[2]) && !m.has(f[0])) m.set(f[0], Number(f[2]));
  }
  return m;
}

export class OwnerMap {
  private users?: Map<string, number>;
  private groups?: Map<string, number>;
  constructor(private readonly numericOnly: boolean) {}

  uid(uname: string, uid: number): number {
    if (this.numericOnly || !uname) return uid;
    this.users ??= readDb('/etc/passwd');
    return this.users.get(uname) ?? uid;
  }

  gid(gname: string, gid: number): number {
    if (this.numericOnly || !gname) return gid;
    this.groups ??= readDb('/etc/group');
    return this.groups.get(gname) ?? gid;
  }
}
