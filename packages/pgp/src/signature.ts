/**
 * One-Pass Signature and Signature packets (RFC 4880 §5.2, §5.4) for signed messages: parsing what gpg
 * writes (v3 and v4 signatures), the hashed trailer, and writing a v4 binary-document signature.
 */
import { readMpi, encodeMpi } from './mpi.js';
import { PK_ED25519 } from './key-material.js';

export interface OnePass { sigType: number; hash: number; pkAlgo: number; keyId: string; nested: boolean }

export function parseOnePass(b: Buffer): OnePass {
  if (b.length < 13 || b[0] !== 3) throw new Error(`unsupported one-pass signature packet (version ${b[0]})`);
  return { sigType: b[1]!, hash: b[2]!, pkAlgo: b[3]!, keyId: b.subarray(4, 12).toString('hex').toUpperCase(), nested: b[12] === 0 };
}

export function encodeOnePass(hash: number, pkAlgo: number, keyId: Buffer): Buffer {
  return Buffer.concat([Buffer.from([3, 0x00, hash, pkAlgo]), keyId, Buffer.from([1])]);
}

export interface ParsedSignature {
  version: number;
  sigType: number;
  pkAlgo: number;
  hash: number;
  /** Bytes appended to the data before hashing (RFC 4880 §5.2.4). */
  trailer: Buffer;
  left16: Buffer;
  fields: Buffer[];
  issuerKeyId?: string;
  issuerFingerprint?: string;
}

function parseSubpackets(b: Buffer, out: ParsedSignature): void {
  let off = 0;
  while (off < b.length) {
    let len = b[off]!;
    off++;
    if (len >= 192 && len < 255) {
      len = ((len - 192) << 8) + b[off]! + 192;
      off++;
    } else if (len === 255) {
      len = b.readUInt32BE(off);
      off += 4;
    }
    const type = b[off]! & 0x7f;
    const data = b.subarray(off + 1, off + len);
    if (type === 16 && data.length === 8) out.issuerKeyId = data.toString('hex').toUpperCase();
    if (type === 33 && data.length >= 21) out.issuerFingerprint = data.subarray(1).toString('hex').toUpperCase();
    off += len;
  }
}

function readFields(pkAlgo: number, b: Buffer, off: number): Buffer[] {
  if (pkAlgo === PK_ED25519) return [b.subarray(off, off + 64)];
  const fields: Buffer[] = [];
  while (off < b.length) {
    const m = readMpi(b, off);
    fields.push(m.value);
    off += m.size;
  }
  return fields;
}

export function parseSignature(b: Buffer): ParsedSignature {
  const version = b[0];
  if (version === 3 || version === 2) {
    if (b[1] !== 5) throw new Error('malformed v3 signature');
    const sig: ParsedSignature = {
      version, sigType: b[2]!, pkAlgo: b[15]!, hash: b[16]!, trailer: b.subarray(2, 7), left16: b.subarray(17, 19), fields: [],
      issuerKeyId: b.subarray(7, 15).toString('hex').toUpperCase(),
    };
    sig.fields = readFields(sig.pkAlgo, b, 19);
    return sig;
  }
  if (version !== 4) throw new Error(`unsupported signature version ${version}`);
  const hashedLen = b.readUInt16BE(4);
  const hashedEnd = 6 + hashedLen;
  const unhashedLen = b.readUInt16BE(hashedEnd);
  const unhashedEnd = hashedEnd + 2 + unhashedLen;
  const hashedPart = b.subarray(0, hashedEnd);
  const tail = Buffer.alloc(6);
  tail[0] = 4;
  tail[1] = 0xff;
  tail.writeUInt32BE(hashedPart.length, 2);
  const sig: ParsedSignature = {
    version, sigType: b[1]!, pkAlgo: b[2]!, hash: b[3]!, trailer: Buffer.concat([hashedPart, tail]),
    left16: b.subarray(unhashedEnd, unhashedEnd + 2), fields: [],
  };
  parseSubpackets(b.subarray(6, hashedEnd), sig);
  parseSubpackets(b.subarray(hashedEnd + 2, unhashedEnd), sig);
  sig.fields = readFields(sig.pkAlgo, b, unhashedEnd + 2);
  return sig;
}

function subpacket(type: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([data.length + 1, type]), data]);
}

/** The hashed head of a v4 binary signature and its trailer (to hash after the data). */
export function signatureHead(pkAlgo: number, hash: number, fingerprint: Buffer, created: Date): { head: Buffer; trailer: Buffer } {
  const time = Buffer.alloc(4);
  time.writeUInt32BE(Math.floor(created.getTime() / 1000));
  const hashed = Buffer.concat([subpacket(33, Buffer.concat([Buffer.from([4]), fingerprint])), subpacket(2, time)]);
  const head = Buffer.concat([Buffer.from([4, 0x00, pkAlgo, hash, hashed.length >> 8, hashed.length & 0xff]), hashed]);
  const tail = Buffer.alloc(6);
  tail[0] = 4;
  tail[1] = 0xff;
  tail.writeUInt32BE(head.length, 2);
  return { head, trailer: Buffer.concat([head, tail]) };
}

/** The complete signature packet body. */
export function encodeSignature(head: Buffer, pkAlgo: number, keyId: Buffer, digest: Buffer, fields: Buffer[]): Buffer {
  const unhashed = subpacket(16, keyId);
  const encoded = pkAlgo === PK_ED25519 ? fields : fields.map(encodeMpi);
  return Buffer.concat([head, Buffer.from([unhashed.length >> 8, unhashed.length & 0xff]), unhashed, digest.subarray(0, 2), ...encoded]);
}
