/**
 * CFB decryption (the full-block CFB of OpenPGP's SEIPD v1, no resync) computed as ECB plus XOR: plaintext block i
 * is ciphertext block i XOR E(ciphertext block i-1). node:crypto's CFB runs block after block, while ECB over all
 * the previous ciphertext blocks at once lets OpenSSL pipeline AES-NI; with the XOR in 32-bit words this decrypts
 * about twice as fast (measured 33 vs 61-87 ms per 32 MiB). Encryption cannot be split like this and stays CFB.
 * Behaves as a stream cipher: update() returns exactly as many bytes as it is given.
 */
import type { Cipher } from 'node:crypto';
import { openCipher, type CipherInfo } from './cipher-algorithms.js';

/** XORs `src` into `dst` (same length), in 32-bit words when both are 4-byte aligned. */
function xorInto(dst: Uint8Array, src: Uint8Array): void {
  const n = dst.length;
  let i = 0;
  if (dst.byteOffset % 4 === 0 && src.byteOffset % 4 === 0) {
    const words = n >> 2;
    const d = new Int32Array(dst.buffer, dst.byteOffset, words);
    const s = new Int32Array(src.buffer, src.byteOffset, words);
    for (let w = 0; w < words; w++) d[w]! ^= s[w]!;
    i = words << 2;
  }
  for (; i < n; i++) dst[i]! ^= src[i]!;
}

/** Bytes per output buffer of decryptBlocks(). */
const OUT_SLICE = 1 << 16;

export class CfbDecryptor {
  private readonly ecb: Cipher;
  private readonly bs: number;
  /** The last complete ciphertext block (the IV at first). */
  private prev: Buffer;
  /** Ciphertext bytes of the block in progress and the keystream block for it. */
  private part: Buffer;
  private partLen = 0;
  private keystream: Buffer = Buffer.alloc(0);
  private scratch: Buffer = Buffer.alloc(0);

  constructor(info: CipherInfo, key: Buffer, iv: Buffer = Buffer.alloc(info.blockSize)) {
    this.ecb = openCipher(info, 'ecb', key, null, false) as Cipher;
    this.ecb.setAutoPadding(false);
    this.bs = info.blockSize;
    this.prev = Buffer.from(iv);
    this.part = Buffer.alloc(this.bs);
  }

  update(ct: Uint8Array): Buffer {
    const bs = this.bs;
    const pieces: Buffer[] = [];
    let i = 0;
    if (this.partLen > 0) {
      // Finish the block in progress with the keystream already computed for it.
      const n = Math.min(bs - this.partLen, ct.length);
      const out = Buffer.from(ct.subarray(0, n));
      xorInto(out, this.keystream.subarray(this.partLen, this.partLen + n));
      this.part.set(ct.subarray(0, n), this.partLen);
      this.partLen += n;
      i = n;
      pieces.push(out);
      if (this.partLen === bs) {
        this.prev = Buffer.from(this.part);
        this.partLen = 0;
      }
    }
    const full = Math.floor((ct.length - i) / bs) * bs;
    if (full > 0) {
      // x = prev || these blocks: E(x[0..full]) XOR x[bs..full+bs] is the plaintext. x is scratch space, reused:
      // both reads of it finish before update() returns.
      if (this.scratch.length < full + bs) this.scratch = Buffer.allocUnsafe(Math.max(full + bs, 1 << 18) + bs);
      const x = this.scratch.subarray(0, full + bs);
      this.prev.copy(x, 0);
      x.set(ct.subarray(i, i + full), bs);
      const out = this.ecb.update(x.subarray(0, full));
      xorInto(out, x.subarray(bs));
      this.prev = Buffer.from(x.subarray(full));
      i += full;
      pieces.push(out);
    }
    if (i < ct.length) {
      this.keystream = this.ecb.update(this.prev);
      const r = ct.length - i;
      const out = Buffer.from(ct.subarray(i));
      xorInto(out, this.keystream.subarray(0, r));
      this.part.set(ct.subarray(i), 0);
      this.partLen = r;
      pieces.push(out);
    }
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  }

  /**
   * decryptBlocks()'s window: the previous ciphertext block, then ciphertext not yet decrypted (`fill` bytes). Each
   * OUT_SLICE bytes are decrypted as soon as they are in, so the slice is still in the cache for the caller's next
   * pass (the MDC hash), and the window is reused: no buffer per call besides the ECB output.
   */
  private window: Buffer | undefined;
  private fill = 0;

  /**
   * Decrypts `parts` (ciphertext cut anywhere, for example by partial-length framing) and hands the plaintext of
   * every whole block to `each` in slices of at most OUT_SLICE bytes, copying each slice once into the window
   * behind the previous block for one ECB call. Bytes after the last whole block wait for the next call or final().
   * Must not be mixed with update() on one decryptor.
   */
  decryptBlocks(parts: Uint8Array[], each: (plain: Buffer) => void): void {
    const bs = this.bs;
    let x = this.window;
    if (!x) {
      x = this.window = Buffer.allocUnsafe(bs + OUT_SLICE);
      this.prev.copy(x, 0);
    }
    for (const p of parts) {
      for (let off = 0; off < p.length;) {
        const n = Math.min(p.length - off, OUT_SLICE - this.fill);
        x.set(n === p.length ? p : p.subarray(off, off + n), bs + this.fill);
        this.fill += n;
        off += n;
        if (this.fill === OUT_SLICE) each(this.slice(OUT_SLICE));
      }
    }
    const full = this.fill - (this.fill % bs);
    if (full > 0) each(this.slice(full));
  }

  /** Decrypts the window's first `full` (whole blocks of) ciphertext bytes and moves the rest to its front. */
  private slice(full: number): Buffer {
    const x = this.window!;
    const bs = this.bs;
    // x = prev || ciphertext: E(x[0..full]) XOR x[bs..full+bs] is the plaintext.
    const out = this.ecb.update(x.subarray(0, full));
    xorInto(out, x.subarray(bs, bs + full));
    x.copyWithin(0, full, bs + this.fill);
    this.fill -= full;
    return out;
  }

  /** The plaintext of ciphertext bytes decryptBlocks() still holds (less than a block). */
  final(): Buffer {
    const x = this.window;
    if (!x || this.fill === 0) return Buffer.alloc(0);
    const out = Buffer.from(x.subarray(this.bs, this.bs + this.fill));
    xorInto(out, this.ecb.update(x.subarray(0, this.bs)));
    this.fill = 0;
    return out;
  }
}
