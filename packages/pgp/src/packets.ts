/**
 * OpenPGP packet framing (RFC 4880 §4.2), streaming both ways. Hand-written rather than taken from openpgp.js
 * because the bulk data path (SEIPD, compressed and literal packets of 200 MB volumes) must run through
 * node:crypto and node:zlib chunk by chunk with partial body lengths, which openpgp.js's packet classes do not
 * let us do at speed. Small packets (session keys, signatures) are read whole and handed to their parsers.
 */
import { ByteReader } from './byte-reader.js';

export const enum Tag {
  PKESK = 1,
  Signature = 2,
  SKESK = 3,
  OnePassSignature = 4,
  SecretKey = 5,
  PublicKey = 6,
  SecretSubkey = 7,
  Compressed = 8,
  SymEncrypted = 9,
  Marker = 10,
  Literal = 11,
  Trust = 12,
  UserId = 13,
  PublicSubkey = 14,
  UserAttribute = 17,
  SEIPD = 18,
  MDC = 19,
  AEAD = 20,
  Padding = 21,
}

export interface PacketHeader {
  tag: number;
  /** Length of the first body part; `undefined` for old-format indeterminate length (to end of stream). */
  length: number | undefined;
  /** True when the body continues in further partial-length parts. */
  partial: boolean;
}

/** Largest packet we agree to hold in memory whole (keys, signatures, session keys). */
export const MAX_SMALL_PACKET = 1 << 20;

async function readNewLength(r: ByteReader, first: number): Promise<{ length: number; partial: boolean }> {
  if (first < 192) return { length: first, partial: false };
  if (first < 224) return { length: ((first - 192) << 8) + (await r.readByte('packet length')) + 192, partial: false };
  if (first < 255) return { length: 1 << (first & 0x1f), partial: true };
  const b = await r.readExact(4, 'packet length');
  return { length: Buffer.from(b).readUInt32BE(0), partial: false };
}

/** Reads the next packet header, or returns null at a clean end of stream. */
export async function readPacketHeader(r: ByteReader): Promise<PacketHeader | null> {
  if (await r.atEnd()) return null;
  const ctb = await r.readByte('packet header');
  if ((ctb & 0x80) === 0) throw new Error(`not an OpenPGP packet (header byte 0x${ctb.toString(16).padStart(2, '0')})`);
  if (ctb & 0x40) {
    const { length, partial } = await readNewLength(r, await r.readByte('packet length'));
    return { tag: ctb & 0x3f, length, partial };
  }
  const tag = (ctb >> 2) & 0x0f;
  const lt = ctb & 3;
  if (lt === 3) return { tag, length: undefined, partial: false };
  const n = lt === 0 ? 1 : lt === 1 ? 2 : 4;
  const b = Buffer.from(await r.readExact(n, 'packet length'));
  return { tag, length: b.readUIntBE(0, n), partial: false };
}

/**
 * Bytes per chunk packetBody() hands on. gpg frames streamed data in 8 KiB partial bodies; passing each part on by
 * itself made every layer above (decryption, MDC, inflate on the thread pool, literal) pay its per-chunk cost 4096
 * times per 32 MiB, so parts are joined up to this size (one copy) before they go up. (64 KiB measured no worse
 * than 256 KiB and keeps less memory in flight.)
 */
const BODY_CHUNK = 1 << 16;

function join(parts: Uint8Array[], n: number): Uint8Array {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
}

/** The body of the packet whose header was just read, as chunks; must be consumed fully before the next header. */
export async function* packetBody(r: ByteReader, h: PacketHeader): AsyncGenerator<Uint8Array> {
  if (h.length === undefined) {
    yield* r.rest();
    return;
  }
  let left = h.length;
  let partial = h.partial;
  let parts: Uint8Array[] = [];
  let have = 0;
  for (;;) {
    while (left > 0) {
      const c = await r.readSome(Math.min(left, BODY_CHUNK - have));
      if (c.length === 0) throw new Error('truncated packet body');
      left -= c.length;
      parts.push(c);
      have += c.length;
      if (have >= BODY_CHUNK) {
        yield join(parts, have);
        parts = [];
        have = 0;
      }
    }
    if (!partial) break;
    const next = await readNewLength(r, await r.readByte('partial body length'));
    left = next.length;
    partial = next.partial;
  }
  if (have) yield join(parts, have);
}

/** The whole body of a small packet. */
export async function readPacketBody(r: ByteReader, h: PacketHeader, what: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const c of packetBody(r, h)) {
    total += c.length;
    if (total > MAX_SMALL_PACKET) throw new Error(`${what} packet is larger than ${MAX_SMALL_PACKET} bytes`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/** Skips a packet body. */
export async function skipPacketBody(r: ByteReader, h: PacketHeader): Promise<void> {
  for await (const _ of packetBody(r, h)) void _;
}

/** A new-format length (one, two or five octets). */
export function encodeLength(n: number): Buffer {
  if (n < 192) return Buffer.from([n]);
  if (n < 8384) return Buffer.from([((n - 192) >> 8) + 192, (n - 192) & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0xff;
  b.writeUInt32BE(n, 1);
  return b;
}

/** A complete new-format packet with a fixed length. */
export function encodePacket(tag: number, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([0xc0 | tag]), encodeLength(body.length), body]);
}

/** log2 of the partial body part size we write: 64 KiB parts keep the framing overhead under 0.002 %. */
export const PART_BITS = 16;
export const PART = 1 << PART_BITS;
/** The length octet of a full 64 KiB part; shared, since output pieces are never written to. */
export const PART_HEAD = Buffer.from([0xe0 | PART_BITS]);

/**
 * Frames a body of unknown length with partial body lengths (what gpg writes for streamed data). Every part but
 * the last is exactly 64 KiB; the last part carries a normal length (possibly 0). Output is a list of pieces:
 * length octets and views of the data, never joined (the layer above copies or encrypts them piece by piece),
 * so a megabyte written costs no copy here. Only the unfinished part's bytes are copied and held, since the
 * caller may reuse its buffer once write() returns.
 */
export class PartialBodyWriter {
  private pending: Uint8Array[] = [];
  private pendingLen = 0;
  private started = false;

  constructor(private readonly tag: number) {}

  private header(out: Uint8Array[]): void {
    if (this.started) return;
    this.started = true;
    out.push(Buffer.from([0xc0 | this.tag]));
  }

  /** Appends to `out` the framed pieces ready after adding `data`; returns `out`. */
  write(data: Uint8Array, out: Uint8Array[] = []): Uint8Array[] {
    if (data.length === 0) return out;
    let off = 0;
    if (this.pendingLen + data.length >= PART) {
      this.header(out);
      out.push(PART_HEAD, ...this.pending);
      off = PART - this.pendingLen;
      out.push(data.subarray(0, off));
      this.pending = [];
      this.pendingLen = 0;
      for (; data.length - off >= PART; off += PART) out.push(PART_HEAD, data.subarray(off, off + PART));
    }
    if (off < data.length) {
      this.pending.push(Buffer.from(data.subarray(off)));
      this.pendingLen += data.length - off;
    }
    return out;
  }

  /** Appends the final part to `out`; returns `out`. */
  end(out: Uint8Array[] = []): Uint8Array[] {
    this.header(out);
    out.push(encodeLength(this.pendingLen), ...this.pending);
    this.pending = [];
    this.pendingLen = 0;
    return out;
  }
}

/** Splits a buffer holding whole packets (keyrings, key files) into tag + body. */
export function* splitPackets(buf: Uint8Array): Generator<{ tag: number; body: Buffer; raw: Buffer }> {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off < b.length) {
    const start = off;
    const ctb = b[off++]!;
    if ((ctb & 0x80) === 0) throw new Error(`not an OpenPGP packet at offset ${start}`);
    let tag: number;
    const parts: Buffer[] = [];
    if (ctb & 0x40) {
      tag = ctb & 0x3f;
      for (;;) {
        const f = b[off++]!;
        let len: number;
        let partial = false;
        if (f < 192) len = f;
        else if (f < 224) len = ((f - 192) << 8) + b[off++]! + 192;
        else if (f < 255) { len = 1 << (f & 0x1f); partial = true; }
        else { len = b.readUInt32BE(off); off += 4; }
        if (off + len > b.length) throw new Error(`truncated packet at offset ${start}`);
        parts.push(b.subarray(off, off + len));
        off += len;
        if (!partial) break;
      }
    } else {
      tag = (ctb >> 2) & 0x0f;
      const lt = ctb & 3;
      let len: number;
      if (lt === 3) len = b.length - off;
      else {
        const n = lt === 0 ? 1 : lt === 1 ? 2 : 4;
        len = b.readUIntBE(off, n);
        off += n;
      }
      if (off + len > b.length) throw new Error(`truncated packet at offset ${start}`);
      parts.push(b.subarray(off, off + len));
      off += len;
    }
    yield { tag, body: parts.length === 1 ? parts[0]! : Buffer.concat(parts), raw: b.subarray(start, off) };
  }
}
