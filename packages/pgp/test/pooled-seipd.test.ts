/**
 * SEIPD v1 decrypted on the thread pool (libdeflate's Opener, used when the caller takes reused output, as the
 * restore's decode worker does) against the in-thread decryptor: messages gpg and we write decrypt to the same
 * bytes, at any chunking and across the pool path's buffer boundaries, and damage or truncation fails with the
 * same errors (MDC) either way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openerAvailable, poolDigestAvailable } from '@duplicity-ts/libdeflate';
import { decrypt, encrypt, loadKeyring, type SignatureResult } from '@duplicity-ts/pgp';
import { deflateRawSync } from 'node:zlib';
import { GpgHome, chunks, collect, sampleData } from './gpg-home.js';
import { PacketLevel } from '../src/plaintext-pass.js';

const PASS = 'correct horse battery staple';

/** The plaintext, or the error's message and exit code. Copies each piece before asking for the next, as a consumer of reused output must. */
async function outcome(msg: Uint8Array, size: number, reuseOutput: boolean): Promise<Buffer | string> {
  const parts: Buffer[] = [];
  try {
    for await (const c of decrypt(chunks(msg, size), { passphrase: PASS, reuseOutput })) parts.push(Buffer.from(c));
    return Buffer.concat(parts);
  } catch (err) {
    const e = err as Error & { exitCode?: number };
    return `${e.exitCode}: ${e.message}`;
  }
}

async function outcomeWith(msg: Uint8Array, o: Parameters<typeof decrypt>[1]): Promise<Buffer | string> {
  try {
    const parts: Buffer[] = [];
    for await (const c of decrypt(chunks(msg, 1 << 20), o)) parts.push(Buffer.from(c));
    return Buffer.concat(parts);
  } catch (err) {
    return (err as Error).message;
  }
}

describe.runIf(openerAvailable())('SEIPD decryption on the pool', () => {
  let home: GpgHome;
  beforeAll(() => { home = new GpgHome(); });
  afterAll(() => home.cleanup());

  it('gpg messages (AES-128/256, stored, ZIP, ZLIB, bzip2) decrypt to the same bytes as in-thread, at any chunking', async () => {
    const data = Buffer.concat([sampleData(2_700_000, 7), Buffer.from('compressible text line\n'.repeat(150_000))]);
    for (const [cipher, algo] of [['AES256', 'none'], ['AES256', 'zip'], ['AES', 'zlib'], ['AES256', 'bzip2']] as const) {
      const msg = home.ok(['--cipher-algo', cipher, '--compress-algo', algo, '--s2k-count', '65536', '--symmetric'], data, PASS);
      for (const size of [1000, 65536, (1 << 20) + 3, 3 << 20]) {
        const out = await outcome(msg, size, true);
        expect(Buffer.isBuffer(out) && out.equals(data), `${cipher} ${algo}, ${size} B chunks: ${typeof out === 'string' ? out : ''}`).toBe(true);
      }
    }
  }, 120_000);

  it('plaintext lengths around the MDC, the block and the pool buffers decrypt exactly', async () => {
    const MiB = 1 << 20;
    for (const n of [0, 1, 5, 21, 22, 23, 40, MiB - 30, MiB + 1, 2 * MiB + 17, 3 * MiB]) {
      const data = sampleData(n, n + 1);
      const msg = await collect(encrypt(chunks(data), { passphrase: PASS, compress: false }));
      for (const size of [7, 4096, MiB]) {
        if (size === 7 && n > 100_000) continue;
        const out = await outcome(msg, size, true);
        expect(Buffer.isBuffer(out) && out.equals(data), `${n} bytes in ${size} B chunks: ${typeof out === 'string' ? out : ''}`).toBe(true);
      }
    }
  }, 120_000);

  it('damaged and truncated messages fail as in-thread, with exit 31', async () => {
    const data = sampleData(3_000_000, 3);
    const msg = await collect(encrypt(chunks(data), { passphrase: PASS, compress: false }));
    const cases: [string, Buffer][] = [];
    for (const at of [200, 1_500_000, msg.length - 30, msg.length - 21, msg.length - 1]) {
      const b = Buffer.from(msg);
      b[at]! ^= 0x10;
      cases.push([`byte ${at} flipped`, b]);
    }
    for (const cut of [1, 15, 22, 23, 1_000_000]) cases.push([`${cut} bytes cut`, msg.subarray(0, msg.length - cut)]);
    for (const [what, bad] of cases) {
      const pooled = await outcome(bad, 1 << 20, true);
      const inThread = await outcome(bad, 1 << 20, false);
      expect(typeof pooled, what).toBe('string');
      expect(pooled, what).toBe(inThread);
      expect(pooled, what).toMatch(/^31: /);
    }
  }, 120_000);

  it.runIf(poolDigestAvailable())('signed messages: the signature hashed on the pool is judged as in-thread (good, bad, wrong signer)', async () => {
    // The key's passphrase is the message's: gpg takes one passphrase file.
    const S = home.genKey('Sign pool <sign-pool@test.invalid>', 'ed25519', 'cv25519', PASS);
    const ring = await loadKeyring({ gnupgHome: home.dir });
    const data = Buffer.concat([sampleData(2_500_000, 5), Buffer.from('signed text\n'.repeat(300_000))]);
    for (const [algo, digest] of [['zip', 'SHA512'], ['zlib', 'SHA256'], ['bzip2', 'SHA1']] as const) {
      const args = ['--local-user', S.keyId, '--digest-algo', digest, '--compress-algo', algo, '--s2k-count', '65536', '--symmetric', '--sign'];
      const msg = home.ok(args, data, PASS);
      for (const reuseOutput of [true, false]) {
        const sigs: SignatureResult[] = [];
        const parts: Buffer[] = [];
        for await (const c of decrypt(chunks(msg, 1 << 20), { keyring: ring, passphrase: PASS, requireSigner: S.keyId, reuseOutput, onSignature: (x) => sigs.push(x) })) parts.push(Buffer.from(c));
        expect(Buffer.concat(parts).equals(data), `${algo} ${digest} reuse ${reuseOutput}`).toBe(true);
        expect(sigs.map((x) => x.status)).toEqual(['good']);
        const wrong = await outcomeWith(msg, { keyring: ring, passphrase: PASS, requireSigner: 'DEADBEEFDEADBEEF', reuseOutput });
        expect(wrong, `${algo} wrong signer`).toMatch(/not DEADBEEFDEADBEEF/);
      }
    }
  }, 120_000);

  it.runIf(poolDigestAvailable())('the pooled signature digest equals the in-thread one, for intact and altered data', async () => {
    const S = home.genKey('Sign digest <sign-digest@test.invalid>', 'ed25519', 'cv25519', PASS);
    const data = Buffer.concat([sampleData(3_000_000, 11), Buffer.from('digest text\n'.repeat(200_000))]);
    // One-pass signature, literal, signature, not compressed: wrapped below in a compressed packet of our own, so
    // the literal sits at depth 1 where hashing is pooled, and no MDC stands in the way of altering it.
    const signed = home.ok(['--local-user', S.keyId, '--digest-algo', 'SHA512', '--compress-algo', 'none', '--sign'], data, PASS);
    const altered = Buffer.from(signed);
    altered[Math.floor(signed.length / 2)]! ^= 0x01;
    const wrap = (inner: Buffer) => {
      const body = Buffer.concat([Buffer.from([1]), deflateRawSync(inner)]);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length);
      return Buffer.concat([Buffer.from([0xc8, 0xff]), len, body]);
    };
    const digests = async (inner: Buffer, reuse: boolean) => {
      const found: { digest: Buffer; left16: Uint8Array; onPool: boolean }[] = [];
      const level = new PacketLevel((p, sig) => found.push({ digest: p.digest ?? p.hash.update(sig.trailer).digest(), left16: sig.left16, onPool: p.pool !== undefined }), 0, reuse);
      const packed = wrap(inner);
      try {
        for (let i = 0; i < packed.length; i += 1 << 18) for await (const ready of level.push([packed.subarray(i, i + (1 << 18))])) void ready;
        for await (const ready of level.finishAll()) void ready;
      } finally {
        level.close();
      }
      return found;
    };
    for (const [what, inner] of [['intact', signed], ['altered', altered]] as const) {
      const pooled = await digests(inner, true);
      const inThread = await digests(inner, false);
      expect(pooled.map((f) => f.onPool), what).toEqual([true]);
      expect(inThread.map((f) => f.onPool), what).toEqual([false]);
      expect(pooled[0]!.digest.equals(inThread[0]!.digest), what).toBe(true);
      expect(pooled[0]!.digest.subarray(0, 2).equals(Buffer.from(pooled[0]!.left16)), what).toBe(what === 'intact');
    }
  }, 60_000);

  it('a consumer that stops early leaves nothing running that breaks the next message', async () => {
    const data = sampleData(5_000_000, 9);
    const msg = await collect(encrypt(chunks(data), { passphrase: PASS, compress: false }));
    for await (const piece of decrypt(chunks(msg, 1 << 20), { passphrase: PASS, reuseOutput: true })) {
      if (piece.length) break;
    }
    const out = await outcome(msg, 1 << 20, true);
    expect(Buffer.isBuffer(out) && out.equals(data)).toBe(true);
  });
});
