/**
 * verify (FORMAT.md §13.1): the state at a time, rebuilt with restore's entry stream (every volume
 * fetched, hash-checked, decrypted, every delta applied), walked together with the live tree in
 * index order. duplicity 0.8.22 compares nothing unless --compare-data is given; with it, each pair
 * is checked for type, then owner and permissions, then mtime, then data / symlink target / device
 * numbers, and the first difference is reported.
 */
import { open } from 'node:fs/promises';
import { compareIndex, indexToPath, type Index, type TarHeader } from '@duplicity-ts/archive';
import type { BackupSet } from '../collection/backup-set.js';
import type { ReadContext } from '../restore/remote-file.js';
import { restoredEntries, type RestoredEntry } from '../restore/restore.js';
import { OwnerMap } from '../owners.js';
import { deviceNumbers } from '../backup/change-detector.js';
import type { SourceEntry } from '../backup/source-walk.js';
import { asctime } from '../listing/time-format.js';
import { pythonBytesRepr } from './python-bytes.js';

export interface VerifyOptions {
  /** The sets of the state to verify (chain.setsAt(time)). */
  sets: BackupSet[];
  /** --file-to-restore as an index ([] for everything). */
  prefix: Index;
  /** The live tree, already filtered by the selection options, in index order. */
  local: AsyncIterable<SourceEntry>;
  compareData: boolean;
  numericOwner?: boolean;
  /** Receives each `Difference found: ...` line. */
  report(line: string): void;
}

export interface VerifyResult {
  /** Items on either side. */
  compared: number;
  differences: number;
}

const TYPE_NAMES: Record<string, string> = { file: 'reg', directory: 'dir', symlink: 'sym', fifo: 'fifo', chardev: 'chr', blockdev: 'blk' };

function show(index: Index): string {
  return index.length === 0 ? '.' : indexToPath(index).toString('utf8');
}

async function drain(content: AsyncIterable<Uint8Array> | undefined): Promise<void> {
  if (content) for await (const _ of content) void _;
}

/** Whether a local file's bytes equal the restored content (which is always read to the end). */
async function sameData(fsPath: Buffer, content: AsyncIterable<Uint8Array> | undefined): Promise<boolean> {
  const fh = await open(fsPath, 'r');
  let same = true;
  try {
    const buf = Buffer.alloc(1 << 20);
    for await (const chunk of content ?? []) {
      let off = 0;
      while (same && off < chunk.length) {
        const want = Math.min(buf.length, chunk.length - off);
        const { bytesRead } = await fh.read(buf, 0, want, null);
        if (bytesRead === 0 || !buf.subarray(0, bytesRead).equals(Buffer.from(chunk.buffer, chunk.byteOffset + off, bytesRead))) same = false;
        off += bytesRead;
      }
    }
    if (same) same = (await fh.read(buf, 0, 1, null)).bytesRead === 0;
  } finally {
    await fh.close();
  }
  return same;
}

/** The first difference between a live item and its restored state, or null. */
async function difference(src: SourceEntry, e: RestoredEntry, owners: OwnerMap): Promise<string | null> {
  const h: TarHeader = e.header;
  const p = show(e.rel);
  const st = src.stat;
  if (src.type !== h.type) {
    return `File ${p} has type ${TYPE_NAMES[src.type] ?? src.type}, expected ${TYPE_NAMES[h.type] ?? h.type}`;
  }
  if (src.type !== 'symlink') {
    const uid = owners.uid(h.uname, h.uid);
    const gid = owners.gid(h.gname, h.gid);
    const mode = h.mode & 0o7777;
    if (st.uid !== uid || st.gid !== gid || (st.mode & 0o7777) !== mode) {
      return `File ${p} has permissions ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}, expected ${uid}:${gid} ${mode.toString(8)}`;
    }
    const mtime = Math.trunc(st.mtimeMs / 1000);
    if (mtime !== h.mtime) return `File ${p} has mtime ${asctime(mtime)}, expected ${asctime(h.mtime)}`;
  }
  switch (src.type) {
    case 'file':
      return (await sameData(src.fsPath, e.content)) ? null : `Data for file ${p} is different`;
    case 'symlink': {
      const target = src.linkname ?? Buffer.alloc(0);
      return target.equals(h.linkname) ? null : `Symlink ${p} points to ${pythonBytesRepr(target)}, expected ${pythonBytesRepr(h.linkname)}`;
    }
    case 'chardev':
    case 'blockdev': {
      const d = deviceNumbers(st.rdev);
      return d.major === h.devmajor && d.minor === h.devminor
        ? null
        : `Device file ${p} has numbers (${d.major}, ${d.minor}), expected (${h.devmajor}, ${h.devminor})`;
    }
    default:
      return null;
  }
}

export async function verify(ctx: ReadContext, o: VerifyOptions): Promise<VerifyResult> {
  const owners = new OwnerMap(!!o.numericOwner);
  const archive = restoredEntries(ctx, o.sets, o.prefix)[Symbol.asyncIterator]();
  const local = o.local[Symbol.asyncIterator]();
  let a = await archive.next();
  let l = await local.next();
  let compared = 0;
  let differences = 0;
  const found = (line: string) => {
    differences++;
    o.report(`Difference found: ${line}`);
  };
  try {
    while (!a.done || !l.done) {
      compared++;
      const order = a.done ? 1 : l.done ? -1 : compareIndex(a.value.rel, l.value.index);
      if (order < 0) {
        const e = a.value as RestoredEntry;
        await drain(e.content);
        if (o.compareData) found(`File ${show(e.rel)} is missing`);
        a = await archive.next();
      } else if (order > 0) {
        if (o.compareData) found(`New file ${show((l.value as SourceEntry).index)}`);
        l = await local.next();
      } else {
        const e = a.value as RestoredEntry;
        if (o.compareData) {
          const d = await difference(l.value as SourceEntry, e, owners);
          if (d) found(d);
        }
        // Every item is rebuilt in full even when not compared: that is what checks the archive.
        await drain(e.content);
        a = await archive.next();
        l = await local.next();
      }
    }
  } finally {
    await archive.return?.(undefined);
  }
  return { compared, differences };
}

export function verifySummary(r: VerifyResult): string {
  return `Verify complete: ${r.compared} ${r.compared === 1 ? 'file' : 'files'} compared, ${r.differences} ${r.differences === 1 ? 'difference' : 'differences'} found.`;
}
