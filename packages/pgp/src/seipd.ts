/**
 * Symmetrically Encrypted Integrity Protected Data, version 1 (RFC 4880 §5.13): CFB with a zero IV over
 * random prefix (block size + 2 bytes, the last two repeating the two before), the data, and an MDC packet
 * (0xD3 0x14 + SHA-1 of everything before the hash). Hand-written over node:crypto CFB and SHA-1 because this is
 * the bulk path: openpgp.js runs it several times slower. v1 uses no CFB resync, so plain CFB is exact.
 */
import { createCipheriv, createHash, randomBytes, type Cipher, type Hash } from 'node:crypto';
import { CfbDecryptor } from './cfb-decryptor.js';
import type { CipherInfo } from './cipher-algorithms.js';
import { ByteReader } from './byte-reader.js';

const MDC_LEN = 22;

/** Decrypts the prefix with each candidate key and returns the first whose quick check matches. */
export async function openSeipd(
  body: ByteReader,
  candidates: { cipher: CipherInfo; key: Buffer }[],
): Promise<{ decipher: CfbDecryptor; mdc: Hash } | null> {
  const version = await body.readByte('SEIPD version');
  if (version !== 1) throw new Error(`unsupported SEIPD version ${version}`);
  for (const c of candidates) {
    const bs = c.cipher.blockSize;
    const prefixCt = await body.peek(bs + 2, 'SEIPD prefix');
    const decipher = new CfbDecryptor(c.cipher, c.key);
    const prefix = decipher.update(prefixCt);
    if (prefix[bs - 2] === prefix[bs] && prefix[bs - 1] === prefix[bs + 1]) {
      await body.readExact(bs + 2, 'SEIPD prefix');
      const mdc = createHash('sha1').update(prefix);
      return { decipher, mdc };
    }
  }
  return null;
}

/** The plaintext of an opened SEIPD body; throws at the end if the MDC does not match. */
export async function* seipdPlaintext(body: ByteReader, s: { decipher: CfbDecryptor; mdc: Hash }): AsyncGenerator<Uint8Array> {
  // The last 22 bytes may be the MDC packet, so each decrypted chunk is held until the next one arrives; only the
  // last one is split. (Splitting off 22 bytes of every chunk sent tiny pieces up through every layer.)
  let held: Buffer = Buffer.alloc(0);
  for await (const ct of body.rest()) {
    const pt = s.decipher.update(ct);
    if (pt.length === 0) continue;
    if (pt.length < MDC_LEN || held.length < MDC_LEN) {
      held = Buffer.concat([held, pt]);
      continue;
    }
    s.mdc.update(held);
    yield held;
    held = pt;
  }
  const fin = s.decipher.final();
  if (fin.length) held = Buffer.concat([held, fin]);
  if (held.length < MDC_LEN) throw new Error('integrity check failed: no modification detection code (MDC) packet at the end');
  const out = held.subarray(0, held.length - MDC_LEN);
  const tail = held.subarray(held.length - MDC_LEN);
  if (tail[0] !== 0xd3 || tail[1] !== 0x14) {
    throw new Error('integrity check failed: no modification detection code (MDC) packet at the end');
  }
  s.mdc.update(out);
  s.mdc.update(tail.subarray(0, 2));
  if (!s.mdc.digest().equals(tail.subarray(2))) {
    throw new Error('integrity check failed: modification detection code (MDC) mismatch, the data was altered');
  }
  if (out.length) yield out;
}

/** Encrypts a SEIPD v1 body incrementally: start(), update()*, final(). */
export class SeipdEncryptor {
  private readonly cipher: Cipher;
  private readonly mdc = createHash('sha1');

  constructor(private readonly info: CipherInfo, key: Buffer) {
    this.cipher = createCipheriv(info.cfb, key, Buffer.alloc(info.blockSize));
  }

  start(): Buffer {
    const bs = this.info.blockSize;
    const prefix = Buffer.concat([randomBytes(bs), Buffer.alloc(2)]);
    prefix[bs] = prefix[bs - 2]!;
    prefix[bs + 1] = prefix[bs - 1]!;
    this.mdc.update(prefix);
    return Buffer.concat([Buffer.from([1]), this.cipher.update(prefix)]);
  }

  update(data: Uint8Array): Buffer {
    this.mdc.update(data);
    return this.cipher.update(data);
  }

  final(): Buffer {
    const head = Buffer.from([0xd3, 0x14]);
    this.mdc.update(head);
    return Buffer.concat([this.cipher.update(Buffer.concat([head, this.mdc.digest()])), this.cipher.final()]);
  }
}
