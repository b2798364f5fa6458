/**
 * OpenPGP packet framing (RFC 4880 §4.2) as a push parser: fed chunks synchronously, it calls its sink with
 * each packet's start, body slices (partial body lengths removed) and end. The bulk decrypt path uses it instead of
 * packets.ts's pull reader so a whole 1 MiB chunk goes through every layer in one synchronous pass: no promise,
 * generator hop or join per 8 KiB part. Body slices are views of the input chunk, not copies.
 */
export interface PacketSink {
  start(tag: number): void;
  data(tag: number, body: Uint8Array): void;
  end(tag: number): void;
}

const enum State { Header, Body, PartLength }

export class PacketPushParser {
  private state = State.Header;
  private readonly head = new Uint8Array(6);
  private headLen = 0;
  private tag = -1;
  /** Bytes left in the current body part; -1 while an old-format packet runs to the end of the data. */
  private left = 0;
  private partial = false;

  constructor(private readonly sink: PacketSink) {}

  /** Continues in the body of a packet whose header someone else read (length undefined: to the end of the data). */
  resumeBody(tag: number, length: number | undefined, partial: boolean): void {
    this.tag = tag;
    this.left = length ?? -1;
    this.partial = partial;
    this.headLen = 0;
    this.state = State.Body;
    this.maybeEnd();
  }

  /** Bytes the header (or part length) being read needs in all, from what is in `head` so far; 0 if unknown yet. */
  private needed(): number {
    const h = this.head;
    if (this.state === State.PartLength) {
      if (this.headLen < 1) return 1;
      const f = h[0]!;
      return f < 192 ? 1 : f < 224 ? 2 : f < 255 ? 1 : 5;
    }
    if (this.headLen < 1) return 1;
    const ctb = h[0]!;
    if ((ctb & 0x80) === 0) throw new Error(`not an OpenPGP packet (header byte 0x${ctb.toString(16).padStart(2, '0')})`);
    if ((ctb & 0x40) === 0) {
      const lt = ctb & 3;
      return lt === 3 ? 1 : 1 + (lt === 0 ? 1 : lt === 1 ? 2 : 4);
    }
    if (this.headLen < 2) return 2;
    const f = h[1]!;
    return f < 192 ? 2 : f < 224 ? 3 : f < 255 ? 2 : 6;
  }

  /** Decodes a new-format length starting at head[off]. */
  private newLength(off: number): void {
    const h = this.head;
    const f = h[off]!;
    this.partial = false;
    if (f < 192) this.left = f;
    else if (f < 224) this.left = ((f - 192) << 8) + h[off + 1]! + 192;
    else if (f < 255) { this.left = 2 ** (f & 0x1f); this.partial = true; }
    else this.left = ((h[off + 1]! << 24) >>> 0) + (h[off + 2]! << 16) + (h[off + 3]! << 8) + h[off + 4]!;
  }

  private headerDone(): void {
    const h = this.head;
    if (this.state === State.PartLength) {
      this.newLength(0);
    } else {
      const ctb = h[0]!;
      if (ctb & 0x40) {
        this.tag = ctb & 0x3f;
        this.newLength(1);
      } else {
        this.tag = (ctb >> 2) & 0x0f;
        const lt = ctb & 3;
        this.partial = false;
        if (lt === 3) this.left = -1;
        else {
          let n = 0;
          for (let i = 1; i < this.headLen; i++) n = n * 256 + h[i]!;
          this.left = n;
        }
      }
      this.sink.start(this.tag);
    }
    this.headLen = 0;
    this.state = State.Body;
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.left !== 0) return;
    if (this.partial) {
      this.state = State.PartLength;
    } else {
      this.state = State.Header;
      this.sink.end(this.tag);
    }
  }

  feed(b: Uint8Array): void {
    let i = 0;
    const n = b.length;
    while (i < n) {
      if (this.state === State.Body) {
        if (this.left < 0) {
          this.sink.data(this.tag, i === 0 ? b : b.subarray(i));
          return;
        }
        const take = Math.min(this.left, n - i);
        this.sink.data(this.tag, take === n ? b : b.subarray(i, i + take));
        i += take;
        this.left -= take;
        this.maybeEnd();
        continue;
      }
      this.head[this.headLen++] = b[i++]!;
      if (this.headLen >= this.needed()) this.headerDone();
    }
  }

  /** The data ended: fine between packets or in an old-format packet of indeterminate length, else truncated. */
  finish(): void {
    if (this.state === State.Body && this.left < 0) {
      this.state = State.Header;
      this.sink.end(this.tag);
      return;
    }
    if (this.state === State.Body || this.state === State.PartLength) throw new Error('truncated packet body');
    if (this.headLen > 0) throw new Error('truncated packet header');
  }
}
