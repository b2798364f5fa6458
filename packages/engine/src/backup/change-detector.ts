/**
 * What goes into a backup set (FORMAT.md §10): the source walk merged, index by index, with the
 * state the previous chain ended in. duplicity's notion of "unchanged" compares type, mode,
 * owner and whole-second mtime (not size, unless --compare-size), so this does too.
 */
import { compareIndex, type TarHeader } from '@duplicity-ts/archive';
import { closeSync, readSync } from 'node:fs';
import { Signature, SignatureBuilder } from '@duplicity-ts/rsync';
import { signatureOf, type BaseEntry } from './base-signatures.js';
import type { SourceEntry, SourceType } from './source-walk.js';
import { openRegularFileSync } from './payload-chunks.js';

export type Change =
  | { op: 'unchanged'; src: SourceEntry; base: BaseEntry }
  /** New, or changed in a way a delta cannot express: the full state is written. */
  | { op: 'snapshot'; src: SourceEntry; base?: BaseEntry }
  /** A regular file that was a regular file: a delta against its old signature. */
  | { op: 'diff'; src: SourceEntry; base: BaseEntry }
  | { op: 'deleted'; base: BaseEntry };

/** Resolves a signature header's owner the way duplicity reads it back (§5.3): by name first. */
export interface OwnerResolver {
  uid(uname: string, uid: number): number;
  gid(gname: string, gid: number): number;
}

export interface DetectOptions {
  owners: OwnerResolver;
  /** --compare-size: a regular file whose size (or last block) no longer matches its old signature counts as changed. */
  compareSize?: boolean;
}

const intMtime = (ms: number) => Math.trunc(ms / 1000);

export function typeOfHeader(h: TarHeader): SourceType | undefined {
  switch (h.type) {
    case 'file':
    case 'directory':
    case 'symlink':
    case 'fifo':
    case 'chardev':
    case 'blockdev':
      return h.type;
    default:
      return undefined;
  }
}

export function deviceNumbers(rdev: number): { major: number; minor: number } {
  // glibc's encoding of dev_t.
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  return {
    major: ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0),
    minor: (lo & 0xff) | ((lo >>> 12) & 0xffffff00),
  };
}

/** Whether the source item is "equal" to its recorded state, by duplicity's rules (§10). */
export function isUnchanged(src: SourceEntry, base: BaseEntry, o: DetectOptions): boolean {
  const h = base.header;
  if (typeOfHeader(h) !== src.type) return false;
  if (src.type === 'file' && base.kind !== 'signature') return false;
  const st = src.stat;
  if (src.type === 'symlink') return !!src.linkname && src.linkname.equals(h.linkname);
  const ownerAndMode =
    (st.mode & 0o7777) === (h.mode & 0o7777) && st.uid === o.owners.uid(h.uname, h.uid) && st.gid === o.owners.gid(h.gname, h.gid);
  if (!ownerAndMode) return false;
  if (src.type === 'chardev' || src.type === 'blockdev') {
    const d = deviceNumbers(st.rdev);
    return d.major === h.devmajor && d.minor === h.devminor;
  }
  const m = intMtime(st.mtimeMs);
  if (!(m === h.mtime || (m <= 0 && h.mtime <= 0))) return false;
  if (o.compareSize && src.type === 'file' && base.signature) return sizeFitsSignature(src, base.signature);
  return true;
}

/**
 * The sigtar does not record a file's size, only its signature. The block count pins the size down
 * to within one block; within the same count, the last block's length is what changed, so that
 * block is read and its signature record compared with the old one. Exact for any size change (and
 * it also catches a rewrite of the last block), at the cost of one read of at most one block per
 * unchanged-looking file, which is why it is a flag.
 */
function sizeFitsSignature(src: SourceEntry, sigBytes: Buffer): boolean {
  let sig: Signature;
  try {
    sig = Signature.parse(sigBytes);
  } catch {
    return false;
  }
  const size = src.stat.size;
  const blockLen = sig.params.blockLen;
  if (Math.ceil(size / blockLen) !== sig.blockCount) return false;
  if (size === 0) return true;
  const lastLen = size - (sig.blockCount - 1) * blockLen;
  let last: Buffer;
  try {
    last = readAt(src.fsPath, size - lastLen, lastLen);
  } catch {
    return false; // Unreadable now: the backup reports it when it tries to read the file.
  }
  if (last.length !== lastLen) return false;
  const builder = new SignatureBuilder(sig.params);
  const fresh = Buffer.concat([builder.update(last), builder.final()]);
  const recordLen = 4 + sig.params.strongLen;
  // The fresh signature is the 12-byte header and one record.
  return Buffer.from(sig.records.subarray(sig.records.length - recordLen)).equals(fresh.subarray(12));
}

/** `length` bytes at `position`, synchronously: one small read, from the page cache as a rule. */
function readAt(p: Buffer, position: number, length: number): Buffer {
  const fd = openRegularFileSync(p);
  try {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, position + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** Merges the walk with the base state (both in index order). Without a base everything is new. */
export async function* detectChanges(
  walk: AsyncIterable<SourceEntry>,
  base: AsyncIterable<BaseEntry> | undefined,
  o: DetectOptions,
): AsyncGenerator<Change> {
  if (!base) {
    for await (const src of walk) yield { op: 'snapshot', src };
    return;
  }
  const bi = base[Symbol.asyncIterator]();
  try {
    let b = await bi.next();
    for await (const src of walk) {
      while (!b.done && compareIndex(b.value.index, src.index) < 0) {
        // The root is never deleted.
        if (b.value.index.length > 0) yield { op: 'deleted', base: b.value };
        b = await bi.next();
      }
      if (!b.done && compareIndex(b.value.index, src.index) === 0) {
        const old = b.value;
        // A lazy signature must be read before the base moves on: by --compare-size, and for a delta.
        const sigFile = src.type === 'file' && old.kind === 'signature';
        if (sigFile && o.compareSize) await signatureOf(old);
        let change: Change;
        if (isUnchanged(src, old, o)) change = { op: 'unchanged', src, base: old };
        else if (sigFile && typeOfHeader(old.header) === 'file' && (await signatureOf(old))) change = { op: 'diff', src, base: old };
        else change = { op: 'snapshot', src, base: old };
        b = await bi.next();
        yield change;
      } else {
        yield { op: 'snapshot', src };
      }
    }
    while (!b.done) {
      if (b.value.index.length > 0) yield { op: 'deleted', base: b.value };
      b = await bi.next();
    }
  } finally {
    // Closes the chain's sigtars (files and inflaters) when the backup stops early.
    await bi.return?.(undefined);
  }
}
