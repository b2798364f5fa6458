/**
 * Pull-based reading of an async byte stream in exact amounts, for the tar reader. Chunks are handed
 * out as views of the source's own chunks where possible, so bodies stream without copies and memory
 * stays at one source chunk plus a header block.
 */
const EMPTY = Buffer.alloc(0);

export class ByteSource {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Buffer = EMPTY;
  private pos = 0;
  private ended = false;
  /** bytes handed out or skipped so far */
  offset = 0;

  constructor(src: AsyncIterable<Uint8Array>) {
    this.it = src[Symbol.asyncIterator]();
  }

  /** Makes unread bytes available; false at end of stream. */
  private async fill(): Promise<boolean> {
    while (this.pos >= this.buf.length) {
      if (this.ended) return false;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        return false;
      }
      this.buf = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      this.pos = 0;
    }
    return true;
  }

  /** At most `n` bytes, a view of the current chunk; empty only at end of stream. */
  async readUpTo(n: number): Promise<Buffer> {
    if (n <= 0 || !(await this.fill())) return EMPTY;
    const end = Math.min(this.buf.length, this.pos + n);
    const out = this.buf.subarray(this.pos, end);
    this.offset += end - this.pos;
    this.pos = end;
    return out;
  }

  /** Exactly `n` bytes (a copy when they span chunks), or fewer if the stream ends first. */
  async readExact(n: number): Promise<Buffer> {
    const first = await this.readUpTo(n);
    if (first.length === n || first.length === 0) return first;
    // Copied before the next chunk is asked for: a producer may reuse a chunk's memory after that.
    const parts: Buffer[] = [Buffer.from(first)];
    let got = first.length;
    while (got < n) {
      const more = await this.readUpTo(n - got);
      if (more.length === 0) break;
      parts.push(more);
      got += more.length;
    }
    return Buffer.concat(parts, got);
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
