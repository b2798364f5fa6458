/**
 * Pull-style reading of exact byte counts from an async iterable of chunks. Packet parsing needs "give me the
 * next n bytes" while the data arrives in arbitrary chunks; this keeps at most one pending chunk plus the bytes
 * asked for, so memory stays bounded by the largest single read, not by the stream.
 */
export class ByteReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Uint8Array = new Uint8Array(0);
  private done = false;

  constructor(src: AsyncIterable<Uint8Array>) {
    this.it = src[Symbol.asyncIterator]();
  }

  /** Make at least `n` bytes available unless the stream ends first; returns how many are available. */
  private async fill(n: number): Promise<number> {
    if (this.buf.length >= n || this.done) return this.buf.length;
    // Gather, then join once: joining per chunk would copy a large read (an AEAD chunk) many times over.
    const parts: Uint8Array[] = this.buf.length ? [this.buf] : [];
    let have = this.buf.length;
    while (have < n) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        break;
      }
      if (r.value.length === 0) continue;
      parts.push(r.value);
      have += r.value.length;
    }
    this.buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
    return have;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    return (await this.fill(1)) === 0;
  }

  /** Exactly `n` bytes, or an error naming `what` if the stream ends early. */
  async readExact(n: number, what: string): Promise<Uint8Array> {
    if ((await this.fill(n)) < n) throw new Error(`truncated ${what}: needed ${n} bytes, stream ended`);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next `n` bytes without consuming them. */
  async peek(n: number, what: string): Promise<Uint8Array> {
    if ((await this.fill(n)) < n) throw new Error(`truncated ${what}: needed ${n} bytes, stream ended`);
    return this.buf.subarray(0, n);
  }

  /** Up to `n` bytes without consuming them; fewer only where the stream ends. */
  async peekUpTo(n: number): Promise<Uint8Array> {
    await this.fill(n);
    return this.buf.subarray(0, Math.min(n, this.buf.length));
  }

  async readByte(what: string): Promise<number> {
    return (await this.readExact(1, what))[0]!;
  }

  /** Up to `max` bytes (at least 1) without waiting for more than one chunk; empty at the end. */
  async readSome(max: number): Promise<Uint8Array> {
    if (this.buf.length === 0) await this.fill(1);
    const n = Math.min(max, this.buf.length);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Everything left, chunk by chunk. */
  async *rest(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const c = await this.readSome(Number.MAX_SAFE_INTEGER);
      if (c.length === 0) return;
      yield c;
    }
  }

  /** Stop reading the source (lets a generator upstream run its cleanup). */
  async close(): Promise<void> {
    this.done = true;
    this.buf = new Uint8Array(0);
    await this.it.return?.();
  }
}
