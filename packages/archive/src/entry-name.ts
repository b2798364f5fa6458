/**
 * Entry names inside difftars and sigtars (FORMAT.md §3): `<prefix>/<relative path>`, with the
 * multivol chunk number as a last component. Parsing is the security boundary for restore: an entry
 * whose path could escape the restore target is refused here.
 */
import { type Index, indexToPath } from './entry-index.js';
import { ArchiveFormatError, showBytes } from './errors.js';

export type EntryKind = 'snapshot' | 'diff' | 'deleted' | 'multivol_snapshot' | 'multivol_diff' | 'signature';
export type EntryStream = 'difftar' | 'sigtar';

export interface EntryName {
  kind: EntryKind;
  index: Index;
  /** multivol chunk number, from 1 */
  chunk?: number;
}

const ACCEPTED: Record<EntryStream, readonly EntryKind[]> = {
  difftar: ['snapshot', 'diff', 'deleted', 'multivol_snapshot', 'multivol_diff'],
  sigtar: ['signature', 'snapshot', 'deleted'],
};

const SLASH = 0x2f;

function splitComponents(p: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= p.length; i++) {
    if (i === p.length || p[i] === SLASH) {
      out.push(Buffer.from(p.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

/**
 * Splits an entry name into kind, index and chunk. The root may be `snapshot/./`, `snapshot/.` or
 * `snapshot/`. Throws (exit code 30, as duplicity's unhandled error) on an unknown prefix for the
 * stream, and on unsafe paths: absolute names, empty, `.` or `..` components, NUL bytes.
 */
export function parseEntryName(name: Buffer, stream: EntryStream): EntryName {
  const slash = name.indexOf(SLASH);
  const prefix = slash < 0 ? name.toString('latin1') : name.subarray(0, slash).toString('latin1');
  const kind = ACCEPTED[stream].find((k) => k === prefix);
  if (!kind) {
    const why = name[0] === SLASH ? 'absolute name' : `unknown prefix "${showBytes(Buffer.from(prefix, 'latin1'))}"`;
    throw new ArchiveFormatError(`unrecognised ${stream} entry name "${showBytes(name)}": ${why}`);
  }
  if (slash < 0) throw new ArchiveFormatError(`unrecognised ${stream} entry name "${showBytes(name)}": no path after the prefix`);
  let rest = name.subarray(slash + 1);
  while (rest.length > 0 && rest[rest.length - 1] === SLASH) rest = rest.subarray(0, rest.length - 1);
  const isRoot = rest.length === 0 || (rest.length === 1 && rest[0] === 0x2e);
  const unsafe = (why: string) => new ArchiveFormatError(`refusing ${stream} entry "${showBytes(name)}": ${why}`);
  if (isRoot) {
    if (kind !== 'snapshot') throw unsafe('only a snapshot can name the root');
    return { kind, index: [] };
  }
  const components = splitComponents(rest);
  let chunk: number | undefined;
  if (kind === 'multivol_snapshot' || kind === 'multivol_diff') {
    const last = components.pop()!.toString('latin1');
    if (!/^[0-9]+$/.test(last) || components.length === 0) throw unsafe('multivol entry without a chunk number');
    chunk = Number(last);
  }
  for (const c of components) {
    if (c.length === 0) throw unsafe(rest[0] === SLASH ? 'absolute path' : 'empty path component');
    if (c.length === 1 && c[0] === 0x2e) throw unsafe('"." path component');
    if (c.length === 2 && c[0] === 0x2e && c[1] === 0x2e) throw unsafe('".." path component');
    if (c.includes(0)) throw unsafe('NUL byte in path');
  }
  return chunk === undefined ? { kind, index: components } : { kind, index: components, chunk };
}

/**
 * The entry name duplicity writes (§3, §4.1, §5.1): directories get a trailing `/` (not in `deleted/`),
 * the root is `snapshot/./` in a difftar and `snapshot/` in a sigtar, multivol chunks end in `/<k>`.
 */
export function formatEntryName(kind: EntryKind, index: Index, opts: { isDir: boolean; chunk?: number; stream: EntryStream }): Buffer {
  if (!ACCEPTED[opts.stream].includes(kind)) throw new Error(`formatEntryName: no ${kind} entries in a ${opts.stream}`);
  const multivol = kind === 'multivol_snapshot' || kind === 'multivol_diff';
  if (multivol !== (opts.chunk !== undefined)) throw new Error(`formatEntryName: a chunk number goes with multivol entries only`);
  if (index.length === 0) {
    if (kind !== 'snapshot') throw new Error(`formatEntryName: the root is always a snapshot`);
    return Buffer.from(opts.stream === 'difftar' ? 'snapshot/./' : 'snapshot/');
  }
  const parts: Buffer[] = [Buffer.from(`${kind}/`), indexToPath(index)];
  if (multivol) parts.push(Buffer.from(`/${opts.chunk}`));
  else if (opts.isDir && kind !== 'deleted') parts.push(Buffer.from('/'));
  return Buffer.concat(parts);
}
