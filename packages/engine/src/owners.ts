/**
 * User and group names <-> ids through the local account databases, both ways duplicity uses them:
 * backup writes the names of the numeric ids into tar headers (FORMAT.md §4.2: empty when unknown);
 * restore and verify resolve uname/gname back to ids first, the numeric ids as fallback, or numeric
 * only with --numeric-owner (§5.3, §11.5). Node has neither getpwuid nor getpwnam, so /etc/passwd
 * and /etc/group are read directly, once each.
 */
import { readFileSync } from 'node:fs';

/** `name:x:id:...` lines in file order; a missing or unreadable file gives none. */
function readAccounts(file: string): [name: string, id: number][] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: [string, number][] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0] && /^\d+$/.test(f[2])) out.push([f[0], Number(f[2])]);
  }
  return out;
}

/** The first entry wins, as the C library's lookups return the first match. */
function firstBy<K, V>(rows: [string, number][], key: (r: [string, number]) => K, value: (r: [string, number]) => V): Map<K, V> {
  const m = new Map<K, V>();
  for (const r of rows) if (!m.has(key(r))) m.set(key(r), value(r));
  return m;
}

/** Backup side: id -> name. */
export class OwnerNames {
  private users?: Map<number, string>;
  private groups?: Map<number, string>;

  uname(uid: number): string {
    this.users ??= firstBy(readAccounts('/etc/passwd'), (r) => r[1], (r) => r[0]);
    return this.users.get(uid) ?? '';
  }

  gname(gid: number): string {
    this.groups ??= firstBy(readAccounts('/etc/group'), (r) => r[1], (r) => r[0]);
    return this.groups.get(gid) ?? '';
  }
}

/** Restore side: name -> id, with the stored numeric id as fallback. */
export class OwnerMap {
  private users?: Map<string, number>;
  private groups?: Map<string, number>;
  constructor(private readonly numericOnly: boolean) {}

  uid(uname: string, uid: number): number {
    if (this.numericOnly || !uname) return uid;
    this.users ??= firstBy(readAccounts('/etc/passwd'), (r) => r[0], (r) => r[1]);
    return this.users.get(uname) ?? uid;
  }

  gid(gname: string, gid: number): number {
    if (this.numericOnly || !gname) return gid;
    this.groups ??= firstBy(readAccounts('/etc/group'), (r) => r[0], (r) => r[1]);
    return this.groups.get(gname) ?? gid;
  }
}
