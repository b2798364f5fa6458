// Delta commands (FORMAT.md §8.4): opcode numbers, their fields, and the smallest-width encoding librsync uses.
import { RsyncError } from './errors.js';
export const OP_END = 0x00;
export const OP_LITERAL_N1 = 0x41;
export const OP_COPY = 0x45;
export const OP_RESERVED = 0x55;

/** A LITERAL opcode's length-field width in bytes (0: the opcode itself is the length, 1-64). */
export function literalLengthWidth(op: number): number {
  return op >= OP_LITERAL_N1 ? 1 << (op - OP_LITERAL_N1) : 0;
}

/** A COPY opcode's position and length field widths in bytes. */
export function copyWidths(op: number): [position: number, length: number] {
  return [1 << ((op - OP_COPY) >> 2), 1 << ((op - OP_COPY) & 3)];
}

/** The error for an opcode no delta holds (OP_RESERVED and above), at delta offset `at`. */
export function reservedOpcode(op: number, at: number): RsyncError {
  return new RsyncError('corrupt', `corrupt delta: reserved opcode 0x${op.toString(16).padStart(2, '0')} at offset ${at}`);
}

/** The error for a command of length 0, at delta offset `at`. */
export function zeroLength(command: 'LITERAL' | 'COPY', at: number): RsyncError {
  return new RsyncError('corrupt', `corrupt delta: ${command} of length 0 at offset ${at}`);
}

/** Index into [1, 2, 4, 8] of the narrowest width that holds `v`. */
export function widthIndex(v: number): number {
  if (v < 0x100) return 0;
  if (v < 0x10000) return 1;
  if (v < 0x100000000) return 2;
  return 3;
}

/** Growable output buffer for command bytes and literal data. */
export class CommandWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initial = 1 << 16) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.len;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  private uint(v: number, wi: number): void {
    const b = this.buf;
    switch (wi) {
      case 0: b[this.len] = v; break;
      case 1: b.writeUInt16BE(v, this.len); break;
      case 2: b.writeUInt32BE(v, this.len); break;
      default: b.writeBigUInt64BE(BigInt(v), this.len);
    }
    this.len += 1 << wi;
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  byte(v: number): void {
    this.reserve(1);
    this.buf[this.len++] = v;
  }

  /** LITERAL header for `n` bytes; the caller appends the data. */
  literalHeader(n: number): void {
    this.reserve(9);
    if (n <= 64) this.buf[this.len++] = n;
    else {
      const wi = widthIndex(n);
      this.buf[this.len++] = OP_LITERAL_N1 + wi;
      this.uint(n, wi);
    }
  }

  copy(pos: number, n: number): void {
    this.reserve(17);
    const pi = widthIndex(pos);
    const li = widthIndex(n);
    this.buf[this.len++] = OP_COPY + 4 * pi + li;
    this.uint(pos, pi);
    this.uint(n, li);
  }

  /** The bytes written so far copied into `target` at `at` (room for `length` needed); the writer starts over. */
  takeInto(target: Uint8Array, at: number): number {
    const n = this.len;
    target.set(this.buf.subarray(0, n), at);
    this.len = 0;
    return n;
  }

  /** The bytes written so far, as a new array; the writer starts over. */
  take(): Uint8Array {
    const out = Buffer.from(this.buf.subarray(0, this.len));
    this.len = 0;
    return out;
  }
}
