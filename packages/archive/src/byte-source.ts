/**
 * Pull-based reading of a byte stream in exact amounts, for the tar reader: ByteSource over an async
 * stream, SyncByteSource over a synchronous one. Chunks are handed out as views of the source's own
 * chunks where possible, so bodies stream without copies and memory stays at one source chunk plus a
 * header block. A source may reuse a chunk's memory once the next chunk is asked for: bytes that span
 * chunks are copied before that.
 */
const EMPTY = Buffer.alloc(0);

/** The chunk being read and the position in the stream, shared by both kinds of source. */
abstract class ChunkCursor {
  protected buf: Buffer = EMPTY;
  protected pos = 0;
  protected ended = false;
  /** bytes handed out or skipped so far */
  offset = 0;

  /** Takes the next chunk from `r`; false at the end of the stream. */
  protected accept(r: IteratorResult<Uint8Array>): boolean {
    if (r.done) {
      this.ended = true;
      return false;
    }
    this.buf = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    this.pos = 0;
    return true;
  }

  /** Up to `n` bytes of the current chunk (a view; empty when it is used up). */
  protected take(n: number): Buffer {
    const end = Math.min(this.buf.length, this.pos + n);
    const out = this.buf.subarray(this.pos, end);
    this.offset += end - this.pos;
    this.pos = end;
    return out;
  }

  protected get used(): boolean {
    return this.pos >= this.buf.length;
  }
}

export class ByteSource extends ChunkCursor {
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(src: AsyncIterable<Uint8Array>) {
    super();
    this.it = src[Symbol.asyncIterator]();
  }

  /** Makes unread bytes available; false at end of stream. */
  private async fill(): Promise<boolean> {
    while (this.used) {
      if (this.ended || !this.accept(await this.it.next())) return false;
    }
    return true;
  }

  /** At most `n` bytes, a view of the current chunk; empty only at end of stream. */
  async readUpTo(n: number): Promise<Buffer> {
    if (n <= 0 || !(this.used ? await this.fill() : true)) return EMPTY;
    return this.take(n);
  }

  /** Exactly `n` bytes (a copy when they span chunks), or fewer if the stream ends first. */
  async readExact(n: number): Promise<Buffer> {
    const first = await this.readUpTo(n);
    if (first.length === n || first.length === 0) return first;
    // Every piece is copied out before the next is asked for.
    const out = Buffer.allocUnsafe(n);
    let got = first.copy(out);
    while (got < n) {
      const more = await this.readUpTo(n - got);
      if (more.length === 0) break;
      got += more.copy(out, got);
    }
    return got === n ? out : out.subarray(0, got);
  }

  /** Skips up to `n` bytes; returns how many were skipped (fewer only at end of stream). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const got = await this.readUpTo(left);
      if (got.length === 0) break;
      left -= got.length;
    }
    return n - left;
  }

  /** Lets the source release its resources when we stop early (e.g. at a zero block). */
  async close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      await this.it.return?.();
    }
  }
}

/** ByteSource's synchronous twin, for readTarSync: the same methods, returning at once. */
export class SyncByteSource extends ChunkCursor {
  private readonly it: Iterator<Uint8Array>;

  constructor(src: Iterable<Uint8Array>) {
    super();
    this.it = src[Symbol.iterator]();
  }

  private fill(): boolean {
    while (this.used) {
      if (this.ended || !this.accept(this.it.next())) return false;
    }
    return true;
  }

  readUpTo(n: number): Buffer {
    if (n <= 0 || !this.fill()) return EMPTY;
    return this.take(n);
  }

  readExact(n: number): Buffer {
    const first = this.readUpTo(n);
    if (first.length === n || first.length === 0) return first;
    // Every piece is copied out before the next is asked for.
    const out = Buffer.allocUnsafe(n);
    let got = first.copy(out);
    while (got < n) {
      const more = this.readUpTo(n - got);
      if (more.length === 0) break;
      got += more.copy(out, got);
    }
    return got === n ? out : out.subarray(0, got);
  }

  skip(n: number): number {
    let left = n;
    while (left > 0) {
      const got = this.readUpTo(left);
      if (got.length === 0) break;
      left -= got.length;
    }
    return n - left;
  }

  close(): void {
    if (!this.ended) {
      this.ended = true;
      this.it.return?.();
    }
  }
}
