/**
 * An index is the path of an entry relative to the source root, as raw byte-string components
 * (FORMAT.md §0.2); the root is the empty index `[]`.
 */
export type Index = Buffer[];

/**
 * Tuple order of §4.4: component by component, each compared as raw bytes, a proper prefix first.
 * This is the order of every stream duplicity writes (`a/b` before `a-b`), not the order of joined paths.
 */
export function compareIndex(a: Index, b: Index): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = Buffer.compare(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

const SLASH = 0x2f;
const DOT = Buffer.from('.');

/** The components joined with `/`; the root is `.` (as in manifests and duplicity's messages). */
export function indexToPath(i: Index): Buffer {
  if (i.length === 0) return Buffer.from(DOT);
  return Buffer.concat(i.flatMap((c, k) => (k === 0 ? [c] : [Buffer.of(SLASH), c])));
}

/** Splits a relative path on `/`; empty and `.` components are dropped, so `.` and `` are the root. */
export function pathToIndex(p: Buffer): Index {
  const out: Index = [];
  let start = 0;
  for (let i = 0; i <= p.length; i++) {
    if (i === p.length || p[i] === SLASH) {
      const c = p.subarray(start, i);
      if (c.length > 0 && !(c.length === 1 && c[0] === 0x2e)) out.push(Buffer.from(c));
      start = i + 1;
    }
  }
  return out;
}
