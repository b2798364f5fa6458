/**
 * AEAD-encrypted data, read streaming: the AEAD Encrypted Data packet (tag 20, version 1; LibrePGP, what gpg 2.4
 * writes with OCB) and the SEIPD packet version 2 (RFC 9580). Both cut the plaintext into chunks of 2^(c+6) bytes,
 * each sealed with its own nonce and tag, and end with a tag over nothing that authenticates the chunk count and
 * total length, so truncation and reordering are caught. A chunk's plaintext is released only after its tag
 * matched; chunks are limited to 4 MiB (c <= 16, the RFC 9580 and gpg limit), which bounds memory.
 *
 * - tag 20: message key = session key; nonce = IV with the chunk index XORed into its last 8 bytes; associated
 *   data = 0xD4, version, cipher, AEAD algorithm, c, then the 8-byte chunk index (and for the final tag also the
 *   8-byte plaintext length).
 * - SEIPD v2: HKDF-SHA256 over the session key with the packet's 32-byte salt and info 0xD2, version, cipher,
 *   AEAD algorithm, c yields the message key and the first nonceLength-8 nonce bytes; the chunk index fills the
 *   last 8. Associated data = those 5 bytes (plus the 8-byte total for the final tag).
 */
import { hkdfSync } from 'node:crypto';
import type { ByteReader } from './byte-reader.js';
import { cipherInfo, type CipherInfo } from './cipher-algorithms.js';
import { AEAD_TAG, aeadCipherName, aeadMode, aeadOpen, type AeadMode } from './aead-modes.js';
import type { SessionKey } from './session-key.js';
import { PgpError } from './errors.js';

const MAX_CHUNK_BITS = 16;

interface AeadHeader { version: 1 | 2; cipher: CipherInfo; mode: AeadMode; chunkBits: number; iv?: Buffer; salt?: Buffer; prefix: Buffer }

/** Reads the packet's fixed fields; `tag` is 20 (AEAD packet) or 18 (SEIPD, whose version byte must be 2). */
async function readHeader(body: ByteReader, tag: number): Promise<AeadHeader> {
  const version = await body.readByte('AEAD packet version');
  if ((tag === 20 && version !== 1) || (tag === 18 && version !== 2)) throw new Error(`unsupported ${tag === 20 ? 'AEAD packet' : 'SEIPD'} version ${version}`);
  const [c, a, chunkBits] = await body.readExact(3, 'AEAD packet header');
  const cipher = cipherInfo(c!);
  const mode = aeadMode(a!);
  aeadCipherName(mode.id, cipher); // refuse what node:crypto cannot do before reading on
  if (chunkBits! > MAX_CHUNK_BITS) throw new Error(`AEAD chunk size 2^${chunkBits! + 6} is above the 4 MiB limit`);
  const prefix = Buffer.from([tag === 20 ? 0xd4 : 0xd2, version, c!, a!, chunkBits!]);
  if (version === 1) return { version, cipher, mode, chunkBits: chunkBits!, prefix, iv: Buffer.from(await body.readExact(mode.nonceLength, 'AEAD IV')) };
  return { version: 2, cipher, mode, chunkBits: chunkBits!, prefix, salt: Buffer.from(await body.readExact(32, 'SEIPD v2 salt')) };
}

interface MessageKey { key: Buffer; nonce(index: number): Buffer }

function messageKey(h: AeadHeader, session: Buffer): MessageKey {
  if (session.length !== h.cipher.keySize) throw new Error(`session key length ${session.length} does not fit ${h.cipher.name}`);
  const index8 = (i: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(i));
    return b;
  };
  if (h.version === 1) {
    return {
      key: session,
      nonce: (i) => {
        const n = Buffer.from(h.iv!);
        const x = index8(i);
        for (let j = 0; j < 8; j++) n[n.length - 8 + j]! ^= x[j]!;
        return n;
      },
    };
  }
  const okm = Buffer.from(hkdfSync('sha256', session, h.salt!, h.prefix, h.cipher.keySize + h.mode.nonceLength - 8));
  const ivPart = okm.subarray(h.cipher.keySize);
  return { key: okm.subarray(0, h.cipher.keySize), nonce: (i) => Buffer.concat([ivPart, index8(i)]) };
}

function associatedData(h: AeadHeader, index: number, total?: number): Buffer {
  const parts = [h.prefix];
  const n = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(v));
    return b;
  };
  if (h.version === 1) parts.push(n(index));
  if (total !== undefined) parts.push(n(total));
  return Buffer.concat(parts);
}

/**
 * The plaintext of an AEAD packet (tag 20) or SEIPD v2 packet (tag 18) body, trying each candidate session key on
 * the first sealed unit. Throws PgpError (exit 31) when no key authenticates or a later tag fails.
 */
export async function* aeadPlaintext(body: ByteReader, tag: number, candidates: SessionKey[]): AsyncGenerator<Uint8Array> {
  const h = await readHeader(body, tag);
  const chunk = 2 ** (h.chunkBits + 6);
  const sealedChunk = chunk + AEAD_TAG;
  const keys = candidates.filter((k) => k.key.length === h.cipher.keySize && (!k.cipher || k.cipher.id === h.cipher.id));
  if (keys.length === 0) throw new PgpError(`no session key fits the ${h.cipher.name}-${h.mode.name} encrypted data`);
  let mk: MessageKey | undefined;
  let index = 0;
  let total = 0;

  const open = (sealed: Buffer, ad: Buffer, i: number): Buffer => {
    if (mk) {
      const pt = aeadOpen(h.mode.id, h.cipher, mk.key, mk.nonce(i), ad, sealed);
      if (!pt) throw new PgpError(`AEAD authentication failed at chunk ${i}: the data was altered or truncated`);
      return pt;
    }
    for (const k of keys) {
      const candidate = messageKey(h, k.key);
      const pt = aeadOpen(h.mode.id, h.cipher, candidate.key, candidate.nonce(i), ad, sealed);
      if (pt) {
        mk = candidate;
        return pt;
      }
    }
    throw new PgpError('decryption failed: no session key authenticates the AEAD-encrypted data (wrong passphrase or key, or altered data)');
  };

  for (;;) {
    const avail = await body.peekUpTo(sealedChunk + AEAD_TAG + 1);
    if (avail.length > sealedChunk + AEAD_TAG) {
      const sealed = Buffer.from(await body.readExact(sealedChunk, 'AEAD chunk'));
      const pt = open(sealed, associatedData(h, index), index);
      index++;
      total += pt.length;
      yield pt;
      continue;
    }
    // What is left: the last chunk (possibly none) and the final tag.
    const rest = Buffer.from(await body.readExact(avail.length, 'AEAD data'));
    if (rest.length !== AEAD_TAG && rest.length < 2 * AEAD_TAG) throw new PgpError('AEAD-encrypted data is truncated');
    if (rest.length > AEAD_TAG) {
      const pt = open(rest.subarray(0, rest.length - AEAD_TAG), associatedData(h, index), index);
      index++;
      total += pt.length;
      if (pt.length) yield pt;
    }
    const fin = open(rest.subarray(rest.length - AEAD_TAG), associatedData(h, index, total), index);
    if (fin.length) throw new Error('AEAD final tag carries data');
    return;
  }
}
