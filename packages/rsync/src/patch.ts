// Applying a delta (FORMAT.md §8.4) to a random-access basis, streaming the new file out.
import { copyWidths, literalLengthWidth, OP_COPY, OP_END, OP_RESERVED, reservedOpcode, zeroLength } from './delta-encoding.js';
import { RsyncError } from './errors.js';
import { DELTA_MAGIC } from './params.js';

export interface PatchBasis {
  size: number;
  read(position: number, length: number): Promise<Uint8Array>;
  /** Optional: reads into `target` and returns the byte count, saving an allocation and a copy per COPY. */
  readInto?(position: number, target: Uint8Array, offset: number, length: number): Promise<number>;
}

/** Output is gathered into pieces of this size: yielding tiny pieces would cost more than copying. */
const OUT_PIECE = 1 << 20;
/** Largest single basis read for a COPY; longer copies are read in several steps. */
const READ_PIECE = 4 << 20;

/** Pull-based reader over the delta stream with byte offsets for error messages. */
class DeltaReader {
  private chunk: Uint8Array = new Uint8Array(0);
  private pos = 0;
  /** Offset in the delta of chunk[0]. */
  private base = 0;
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(src: AsyncIterable<Uint8Array>) {
    this.it = src[Symbol.asyncIterator]();
  }

  get offset(): number {
    return this.base + this.pos;
  }

  /** Makes at least `n` bytes available in `chunk` from `pos`; false at end of input. */
  async fill(n: number): Promise<boolean> {
    while (this.chunk.length - this.pos < n) {
      // Copy the unread rest first: the source may refill the same buffer for its next chunk.
      // (new Uint8Array(view) copies; Buffer#slice would not.)
      const rest = new Uint8Array(this.chunk.subarray(this.pos));
      const next = await this.it.next();
      if (next.done) return false;
      this.base += this.pos;
      if (rest.length === 0) this.chunk = next.value;
      else {
        const joined = new Uint8Array(rest.length + next.value.length);
        joined.set(rest);
        joined.set(next.value, rest.length);
        this.chunk = joined;
      }
      this.pos = 0;
    }
    return true;
  }

  /** True when `n` bytes can be read without waiting (lets the command loop skip an await). */
  has(n: number): boolean {
    return this.chunk.length - this.pos >= n;
  }

  /** Up to `max` bytes that are already here, or undefined when none are. */
  takeAvailable(max: number): Uint8Array | undefined {
    if (this.pos >= this.chunk.length) return undefined;
    const n = Math.min(max, this.chunk.length - this.pos);
    const v = this.chunk.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  async need(n: number, what: string): Promise<void> {
    if (!(await this.fill(n))) {
      throw new RsyncError('input-ended', `delta is truncated: input ended in ${what} at offset ${this.offset}`);
    }
  }

  u8(): number {
    return this.chunk[this.pos++];
  }

  uint(width: number): number {
    const c = this.chunk;
    let v = 0;
    for (let i = 0; i < width; i++) v = v * 256 + c[this.pos + i];
    this.pos += width;
    if (!Number.isSafeInteger(v)) throw new RsyncError('corrupt', `corrupt delta: parameter too large at offset ${this.offset - width}`);
    return v;
  }

  /** Up to `max` bytes that are available now (reads more only when none are), as a view. */
  async some(max: number): Promise<Uint8Array | undefined> {
    if (this.pos >= this.chunk.length && !(await this.fill(1))) return undefined;
    const n = Math.min(max, this.chunk.length - this.pos);
    const v = this.chunk.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  async end(): Promise<void> {
    // Bytes after END are ignored (§8.4); stop pulling so the source can clean up.
    await this.it.return?.();
  }
}

/** Gathers small output pieces into OUT_PIECE-sized arrays; large ones pass through. */
class OutputGatherer {
  private buf = Buffer.allocUnsafe(OUT_PIECE);
  private len = 0;

  /** With `reuse`, one piece buffer is refilled after each yield instead of allocating a new one. */
  constructor(private readonly reuse: boolean) {}

  /**
   * Adds `data`, yielding each piece as it fills (so that a reused buffer is consumed before it is
   * refilled). An `owned` large array is passed through as it is.
   */
  *add(data: Uint8Array, owned: boolean): Generator<Uint8Array> {
    if (data.length >= OUT_PIECE / 2 && owned && !this.reuse) {
      yield* this.flush();
      yield data;
      return;
    }
    let off = 0;
    while (off < data.length) {
      const n = Math.min(OUT_PIECE - this.len, data.length - off);
      this.buf.set(data.subarray(off, off + n), this.len);
      this.len += n;
      off += n;
      if (this.len === OUT_PIECE) yield* this.flush();
    }
  }

  /** Free space at the end of the current piece, for reading straight into it. */
  space(): { buf: Uint8Array; offset: number; length: number } {
    return { buf: this.buf, offset: this.len, length: OUT_PIECE - this.len };
  }

  /** Copies `data` in when it fits without filling the piece; false (nothing done) otherwise. */
  put(data: Uint8Array): boolean {
    if (this.len + data.length >= OUT_PIECE) return false;
    this.buf.set(data, this.len);
    this.len += data.length;
    return true;
  }

  /** Marks `n` bytes of space() as filled; true when the piece is full and must be flushed. */
  filled(n: number): boolean {
    this.len += n;
    return this.len === OUT_PIECE;
  }

  flush(): Uint8Array[] {
    if (this.len === 0) return [];
    const out = this.buf.subarray(0, this.len);
    // Fresh memory costs page faults on every first touch, which show up as a large share of the time.
    if (!this.reuse) this.buf = Buffer.allocUnsafe(OUT_PIECE);
    this.len = 0;
    return [out];
  }
}

export interface PatchOptions {
  /**
   * Reuse one output buffer: each yielded array is valid only until the iterator is resumed. For
   * consumers that write each piece out before asking for the next; it saves allocation and page faults.
   */
  reuseOutput?: boolean;
}

/**
 * Applies `delta` to `basis` and yields the new file. Throws RsyncError on a bad magic, a reserved
 * opcode, a zero-length or out-of-range COPY, or a delta without END.
 */
export async function* patch(basis: PatchBasis, delta: AsyncIterable<Uint8Array>, opts: PatchOptions = {}): AsyncGenerator<Uint8Array> {
  const r = new DeltaReader(delta);
  const out = new OutputGatherer(opts.reuseOutput ?? false);
  await r.need(4, 'the magic number');
  const magic = r.uint(4);
  if (magic !== DELTA_MAGIC) {
    throw new RsyncError('bad-magic', `not a delta: bad magic number 0x${magic.toString(16).padStart(8, '0')}`);
  }
  for (;;) {
    const at = r.offset;
    // The awaits are skipped when the bytes are already buffered: a delta has many small commands.
    if (!r.has(1)) await r.need(1, 'a command');
    const op = r.u8();
    if (op === OP_END) break;
    if (op >= OP_RESERVED) throw reservedOpcode(op, at);
    if (op < OP_COPY) {
      let len = op;
      const width = literalLengthWidth(op);
      if (width) {
        if (!r.has(width)) await r.need(width, 'a LITERAL length');
        len = r.uint(width);
        if (len === 0) throw zeroLength('LITERAL', at);
      }
      while (len > 0) {
        const piece = r.takeAvailable(len) ?? (await r.some(len));
        if (!piece) throw new RsyncError('input-ended', `delta is truncated: input ended inside a LITERAL at offset ${r.offset}`);
        len -= piece.length;
        if (!out.put(piece)) yield* out.add(piece, false);
      }
    } else {
      const [pw, lw] = copyWidths(op);
      if (!r.has(pw + lw)) await r.need(pw + lw, 'a COPY command');
      const pos = r.uint(pw);
      let len = r.uint(lw);
      if (len === 0) throw zeroLength('COPY', at);
      if (pos + len > basis.size) {
        throw new RsyncError(
          'input-ended',
          `corrupt delta: COPY ${pos}+${len} at offset ${at} reaches past the end of the ${basis.size}-byte basis`,
        );
      }
      let p = pos;
      while (len > 0 && basis.readInto) {
        const { buf, offset, length } = out.space();
        const n = Math.min(len, length);
        const got = await basis.readInto(p, buf, offset, n);
        if (got !== n) throw new RsyncError('input-ended', `basis ended early: read ${got} of ${n} bytes at ${p}`);
        p += n;
        len -= n;
        if (out.filled(n)) yield* out.flush();
      }
      while (len > 0) {
        const n = Math.min(len, READ_PIECE);
        const data = await basis.read(p, n);
        if (data.length !== n) {
          throw new RsyncError('input-ended', `basis ended early: read ${data.length} of ${n} bytes at ${p}`);
        }
        p += n;
        len -= n;
        yield* out.add(data, true);
      }
    }
  }
  yield* out.flush();
  await r.end();
}
