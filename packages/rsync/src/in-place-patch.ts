// Applying a delta (FORMAT.md §8.4) over its basis in the same file, instead of streaming the new file out of a
// separate basis (patch.ts). A restore rebuilds a big file from its snapshot and each later diff; through patch()
// every diff rewrites the whole file into a new stage, where in place it costs what the diff changed: a COPY
// whose source is where its output goes (most of an incremental's delta of a file edited in place or appended to)
// writes nothing. The delta is read whole first (from memory or from a file it was spooled to: DeltaBytes), and
// applied only when that is safe: no COPY may read bytes an earlier command has already overwritten (an insertion
// shifts data towards the end and is not safe; a deletion shifts it towards the start and is).
import { fstatSync, ftruncateSync, readSync, writeSync } from 'node:fs';
import { copyWidths, literalLengthWidth, OP_COPY, OP_END, OP_RESERVED, reservedOpcode, zeroLength } from './delta-encoding.js';
import { RsyncError } from './errors.js';
import { DELTA_MAGIC } from './params.js';

/**
 * A command with where its output goes: a COPY of `length` bytes from basis position `from`, or a LITERAL of
 * `length` bytes found at `literal` in the delta.
 */
type Command = { at: number; length: number; from: number; literal?: undefined } | { at: number; length: number; literal: number; from?: undefined };

/** A delta's bytes with random access, read synchronously (`into` is filled completely, or it throws). */
export interface DeltaBytes {
  readonly size: number;
  read(position: number, into: Uint8Array): void;
}

/** A delta held in memory. */
export function deltaInMemory(delta: Uint8Array): DeltaBytes {
  return { size: delta.length, read: (position, into) => into.set(delta.subarray(position, position + into.length)) };
}

/** A delta in the file open on `fd` (a spool: the page cache serves it back). */
export function deltaInFile(fd: number, size: number): DeltaBytes {
  return { size, read: (position, into) => readAt(fd, into, position, 'delta') };
}

/** Commands a delta may have to be applied in place: the list is held in memory (a few dozen bytes each). */
const MAX_COMMANDS = 1 << 20;
/** Delta bytes looked at per read while parsing. */
const PARSE_WINDOW = 64 << 10;

/** Bytes moved per read and write of a COPY whose source is elsewhere. */
const MOVE_PIECE = 1 << 20;

export class InPlacePatch {
  private constructor(
    private readonly commands: Command[],
    /** The size of the file the delta makes. */
    readonly outputSize: number,
    /** The largest basis position any COPY reads up to (COPYs must stay within the basis). */
    private readonly basisReach: number,
    /** Whether applying the commands in order over the basis reads only bytes no earlier command changed. */
    readonly safe: boolean,
  ) {}

  /**
   * Reads a whole delta's commands (LITERAL data is only skipped: `apply` reads it from `delta` again). Throws
   * RsyncError as patch() does on a bad magic, a reserved opcode, a zero-length command, or a delta without END;
   * bytes after END are ignored. A delta of more than a million commands is not `safe`, to bound the list.
   */
  static parse(delta: DeltaBytes): InPlacePatch {
    const win = Buffer.allocUnsafe(PARSE_WINDOW);
    let winAt = 0;
    let winLen = 0;
    let p = 0;
    const need = (n: number, what: string) => {
      if (p + n > delta.size) throw new RsyncError('input-ended', `delta is truncated: input ended in ${what} at offset ${p}`);
      if (p < winAt || p + n > winAt + winLen) {
        winAt = p;
        winLen = Math.min(win.length, delta.size - p);
        delta.read(p, win.subarray(0, winLen));
      }
    };
    const uint = (width: number): number => {
      let x = 0;
      for (let i = 0; i < width; i++) x = x * 256 + win[p - winAt + i]!;
      if (!Number.isSafeInteger(x)) throw new RsyncError('corrupt', `corrupt delta: parameter too large at offset ${p}`);
      p += width;
      return x;
    };
    need(4, 'the magic number');
    const magic = uint(4);
    if (magic !== DELTA_MAGIC) throw new RsyncError('bad-magic', `not a delta: bad magic number 0x${magic.toString(16).padStart(8, '0')}`);
    const commands: Command[] = [];
    let out = 0;
    let reach = 0;
    // Output already overwritten by earlier commands (COPYs onto themselves change nothing), as merged ranges in
    // output order; every range ends at or before `out`, so one that ends after a COPY's start is the last one.
    const dirty: [number, number][] = [];
    let safe = true;
    const markDirty = (start: number, end: number) => {
      const last = dirty[dirty.length - 1];
      if (last && last[1] === start) last[1] = end;
      else dirty.push([start, end]);
    };
    const touchesDirty = (start: number, end: number): boolean => {
      if (dirty.length === 0 || start >= dirty[dirty.length - 1]![1]) return false;
      // The last range starting before `end`, by binary search.
      let lo = 0;
      let hi = dirty.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (dirty[mid]![0] < end) lo = mid + 1;
        else hi = mid;
      }
      return lo > 0 && dirty[lo - 1]![1] > start;
    };
    for (;;) {
      const at = p;
      need(1, 'a command');
      const op = win[p++ - winAt]!;
      if (op === OP_END) break;
      if (op >= OP_RESERVED) throw reservedOpcode(op, at);
      if (op < OP_COPY) {
        let len = op;
        const width = literalLengthWidth(op);
        if (width) {
          need(width, 'a LITERAL length');
          len = uint(width);
          if (len === 0) throw zeroLength('LITERAL', at);
        }
        if (p + len > delta.size) throw new RsyncError('input-ended', `delta is truncated: input ended inside a LITERAL at offset ${delta.size}`);
        commands.push({ at: out, literal: p, length: len });
        p += len;
        markDirty(out, out + len);
        out += len;
        continue;
      }
      const [pw, lw] = copyWidths(op);
      need(pw + lw, 'a COPY command');
      const from = uint(pw);
      const len = uint(lw);
      if (len === 0) throw zeroLength('COPY', at);
      reach = Math.max(reach, from + len);
      if (from !== out) {
        // Reading bytes an earlier command changed, or (source before the output, overlapping it) bytes this
        // one changes as it goes: not safe. A source after the output is read ahead of the writes.
        if (touchesDirty(from, from + len) || (from < out && from + len > out)) safe = false;
        commands.push({ at: out, from, length: len });
        markDirty(out, out + len);
      }
      out += len;
    }
    return new InPlacePatch(commands, out, reach, safe && commands.length <= MAX_COMMANDS);
  }

  /**
   * Applies the delta (`delta`, the bytes it was parsed from) to the file open on `fd` (readable and writable),
   * which holds the basis: its size is the basis size. Every COPY is checked to lie within the basis before
   * anything is written. Throws when the delta is not `safe`.
   */
  apply(fd: number, delta: DeltaBytes): void {
    if (!this.safe) throw new Error('this delta cannot be applied in place');
    const basisSize = fstatSync(fd).size;
    if (this.basisReach > basisSize) {
      const c = this.commands.find((c) => c.from !== undefined && c.from + c.length > basisSize);
      // An identity COPY past the end leaves no command behind; report the reach then.
      const what = c ? `COPY ${c.from}+${c.length}` : `a COPY up to ${this.basisReach}`;
      throw new RsyncError('input-ended', `corrupt delta: ${what} reaches past the end of the ${basisSize}-byte basis`);
    }
    let scratch = Buffer.allocUnsafe(0);
    for (const c of this.commands) {
      const want = Math.min(MOVE_PIECE, c.length);
      if (scratch.length < want) scratch = Buffer.allocUnsafe(want);
      for (let done = 0; done < c.length; ) {
        const n = Math.min(scratch.length, c.length - done);
        const piece = scratch.subarray(0, n);
        if (c.literal !== undefined) delta.read(c.literal + done, piece);
        else readAt(fd, piece, c.from + done, 'basis');
        writeAt(fd, piece, c.at + done);
        done += n;
      }
    }
    if (this.outputSize < basisSize) ftruncateSync(fd, this.outputSize);
  }
}

function writeAt(fd: number, data: Uint8Array, position: number): void {
  for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off, position + off);
}

function readAt(fd: number, into: Uint8Array, position: number, what: string): void {
  for (let off = 0; off < into.length; ) {
    const n = readSync(fd, into, off, into.length - off, position + off);
    if (n === 0) throw new RsyncError('input-ended', `${what} ended early: read ${off} of ${into.length} bytes at ${position}`);
    off += n;
  }
}
