/**
 * The source tree as a backup sees it: a depth-first, pre-order walk with every directory's
 * children sorted by raw name bytes, which is exactly duplicity's index order (FORMAT.md §4.4),
 * filtered by the selection rules. Directories that were only "scanned" for an include appear
 * just before their first kept descendant, or not at all.
 */
import { readlink, stat as statFollow } from 'node:fs/promises';
import { lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import { STAT_NAMES_FIELDS, STAT_NAMES_MAX, statNames, statNamesAvailable } from '@duplicity-ts/libdeflate';
import { Decision, fullPath, type Selector } from '../selection/selector.js';

export type SourceType = 'file' | 'directory' | 'symlink' | 'fifo' | 'chardev' | 'blockdev';

/** The lstat fields a backup, a verify and the selection rules read: a Stats, or an EntryStat of the walk's. */
export type SourceStat = Pick<
  Stats,
  'mode' | 'uid' | 'gid' | 'size' | 'mtimeMs' | 'dev' | 'rdev' | 'ino' | 'nlink' | 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isCharacterDevice' | 'isBlockDevice' | 'isSocket'
>;

const S_IFMT = 0o170000;

/** An entry's lstat as the addon's statNames gives it: the fields of a Stats object (same values) without the rest. */
class EntryStat implements SourceStat {
  constructor(
    readonly mode: number,
    readonly uid: number,
    readonly gid: number,
    readonly size: number,
    readonly mtimeMs: number,
    readonly dev: number,
    readonly rdev: number,
    readonly ino: number,
    readonly nlink: number,
  ) {}
  isFile(): boolean {
    return (this.mode & S_IFMT) === 0o100000;
  }
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === 0o040000;
  }
  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === 0o120000;
  }
  isFIFO(): boolean {
    return (this.mode & S_IFMT) === 0o010000;
  }
  isCharacterDevice(): boolean {
    return (this.mode & S_IFMT) === 0o020000;
  }
  isBlockDevice(): boolean {
    return (this.mode & S_IFMT) === 0o060000;
  }
  isSocket(): boolean {
    return (this.mode & S_IFMT) === 0o140000;
  }
}

export interface SourceEntry {
  /** Path components relative to the source root (root: []). */
  index: Buffer[];
  /** Filesystem path, for opening. */
  fsPath: Buffer;
  /**
   * The index joined with `/` (`.` for the root), as entry names, manifests and messages write it:
   * the tail of `fsPath`, shared rather than joined again for each of them.
   */
  path: Buffer;
  type: SourceType;
  stat: SourceStat;
  /** Symlink target bytes. */
  linkname?: Buffer;
}

export interface WalkOptions {
  selector?: Selector;
  /** The canonicalised root string paths are matched against. */
  matchRoot: string;
  /** --copy-links: follow symlinks. */
  followLinks?: boolean;
  /** Called for items that cannot be read (counted in Errors) and for skipped sockets. */
  onError?(fsPath: Buffer, err: Error): void;
  onSkip?(fsPath: Buffer, why: string): void;
}

export function sourceType(st: SourceStat): SourceType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  return undefined; // sockets: never stored
}

const SLASH = Buffer.from('/');
const DOT = Buffer.from('.');

function childPath(dir: Buffer, name: Buffer): Buffer {
  return dir.length > 0 && dir[dir.length - 1] === 0x2f ? Buffer.concat([dir, name]) : Buffer.concat([dir, SLASH, name]);
}

/** Walks `root` (which must be a directory) in index order. */
export async function* walkSource(root: string, o: WalkOptions): AsyncGenerator<SourceEntry> {
  const rootPath = Buffer.from(root);
  const st = await statFollow(rootPath);
  yield { index: [], fsPath: rootPath, path: DOT, type: 'directory', stat: st };
  yield* walkTree(rootPath, o);
}

/** A directory being listed: its sorted names and the next one to look at. */
interface Frame {
  dir: Buffer;
  index: Buffer[];
  names: Buffer[];
  next: number;
  /** A directory only scanned for an include: yielded just before its first kept descendant. */
  unannounced?: SourceEntry;
  /** lstat of names[statFrom .. statTo) by statNames (STAT_NAMES_FIELDS each); none when `statFailed`. */
  stats?: Float64Array;
  statFrom: number;
  statTo: number;
  statFailed?: boolean;
}

/**
 * The depth-first walk below `root`, with an explicit stack of directories rather than one nested
 * generator per level: every entry used to pass through a `yield*` per directory level, a promise
 * hop each, which over tens of thousands of entries was a measurable share of an incremental
 * backup's fixed cost.
 */
async function* walkTree(root: Buffer, o: WalkOptions): AsyncGenerator<SourceEntry> {
  const stack: Frame[] = [];
  /** Where the relative path starts in a child's fsPath (childPath joins with one `/`). */
  const relStart = root.length > 0 && root[root.length - 1] === 0x2f ? root.length : root.length + 1;
  /** Frames whose `unannounced` entry is still waiting. */
  let waiting = 0;
  // --copy-links stats through links: per entry, as below.
  const batched = !o.followLinks && statNamesAvailable();
  const enter = (dir: Buffer, index: Buffer[], unannounced?: SourceEntry): void => {
    let names: Buffer[];
    try {
      names = readdirSync(dir, { encoding: 'buffer' });
    } catch (err) {
      o.onError?.(dir, err as Error);
      return;
    }
    names.sort(Buffer.compare);
    stack.push({ dir, index, names, next: 0, unannounced, statFrom: 0, statTo: 0, statFailed: !batched });
    if (unannounced) waiting++;
  };
  enter(root, []);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (frame.next === frame.names.length) {
      stack.pop();
      if (frame.unannounced) waiting--;
      continue;
    }
    const k = frame.next++;
    const name = frame.names[k];
    const fsPath = childPath(frame.dir, name);
    const index = [...frame.index, name];
    const got = (!frame.statFailed && batchedStat(frame, k)) || statEntry(fsPath, o);
    if (got instanceof Error) {
      o.onError?.(fsPath, got);
      continue;
    }
    const st = got;
    const type = sourceType(st);
    if (type === undefined) {
      o.onSkip?.(fsPath, 'socket');
      continue;
    }
    let decision: Decision = Decision.Include;
    if (o.selector && !o.selector.empty) {
      decision = await o.selector.decide({
        path: fullPath(o.matchRoot, index),
        stat: st,
        hasChild: async (child) => {
          try {
            return readdirSync(fsPath, { encoding: 'buffer' }).some((n) => n.equals(child));
          } catch {
            return false;
          }
        },
      });
    }
    if (decision === Decision.Exclude) continue;
    let linkname: Buffer | undefined;
    if (type === 'symlink') {
      try {
        linkname = await readlink(fsPath, { encoding: 'buffer' });
      } catch (err) {
        o.onError?.(fsPath, err as Error);
        continue;
      }
    }
    const entry: SourceEntry = { index, fsPath, path: fsPath.subarray(relStart), type, stat: st, linkname };
    if (decision === Decision.Scan && type === 'directory') {
      enter(fsPath, index, entry);
      continue;
    }
    if (waiting > 0) {
      // The scanned directories above this entry, outermost first.
      for (const f of stack) {
        if (f.unannounced) {
          yield f.unannounced;
          f.unannounced = undefined;
        }
      }
      waiting = 0;
    }
    yield entry;
    if (type === 'directory') enter(fsPath, index);
  }
}

/**
 * names[k]'s lstat from the frame's batch (statNames, STAT_NAMES_MAX names per call), or undefined when
 * that entry reported an error or the directory could not be opened (then lstatSync, with Node's message).
 */
function batchedStat(frame: Frame, k: number): EntryStat | undefined {
  if (k >= frame.statTo) {
    const count = Math.min(STAT_NAMES_MAX, frame.names.length - k);
    frame.stats ??= new Float64Array(Math.min(STAT_NAMES_MAX, frame.names.length) * STAT_NAMES_FIELDS);
    if (statNames(frame.dir, frame.names, k, count, frame.stats) !== 0) {
      frame.statFailed = true;
      return undefined;
    }
    frame.statFrom = k;
    frame.statTo = k + count;
  }
  const s = frame.stats!;
  const i = (k - frame.statFrom) * STAT_NAMES_FIELDS;
  if (s[i] !== 0) return undefined;
  return new EntryStat(s[i + 1], s[i + 2], s[i + 3], s[i + 4], s[i + 5], s[i + 6], s[i + 7], s[i + 8], s[i + 9]);
}

/**
 * lstat (or stat, following links). Synchronous on purpose: metadata calls are microseconds when
 * the inode is cached, while a promise round trip through the thread pool costs far more per
 * file; file contents are still read asynchronously.
 */
function statEntry(p: Buffer, o: WalkOptions): SourceStat | Error {
  try {
    const st = lstatSync(p);
    if (o.followLinks && st.isSymbolicLink()) {
      try {
        return statSync(p);
      } catch {
        return st; // A dangling link is stored as the link itself.
      }
    }
    return st;
  } catch (err) {
    return err as Error;
  }
}
