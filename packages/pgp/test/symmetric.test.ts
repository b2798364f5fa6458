/**
 * Passphrase-only messages both ways with gpg 2.2 (every compression and several ciphers gpg can write),
 * tampering, and a large stream through encrypt and decrypt with bounded memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { decrypt, encrypt } from '@duplicity-ts/pgp';
import { GpgHome, chunks, collect, failure, sampleData } from './gpg-home.js';

const PASS = 'correct horse battery staple';

describe('symmetric messages', () => {
  let home: GpgHome;
  const data = sampleData(500_000, 3);
  beforeAll(() => { home = new GpgHome(); });
  afterAll(() => home.cleanup());

  for (const [algo, cipher] of [['zip', 'AES256'], ['zlib', 'AES128'], ['none', 'AES192'], ['zip', '3DES'], ['zlib', 'CAMELLIA256']] as const) {
    it(`reads gpg --symmetric --compress-algo ${algo} --cipher-algo ${cipher}`, async () => {
      const msg = home.ok(['--compress-algo', algo, '--cipher-algo', cipher, '--s2k-count', '65536', '--symmetric'], data, PASS);
      expect((await collect(decrypt(chunks(msg, 5000), { passphrase: PASS }))).equals(data)).toBe(true);
    });
  }

  it('reports BZip2 messages clearly (not supported yet)', async () => {
    const msg = home.ok(['--compress-algo', 'bzip2', '--s2k-count', '65536', '--symmetric'], data, PASS);
    const err = await failure(collect(decrypt(chunks(msg), { passphrase: PASS })));
    expect(err.exitCode).toBe(31);
    expect(err.message).toMatch(/BZip2/);
  });

  it('writes what gpg decrypts: SKESK v4 AES-256 iterated SHA-1 65011712, SEIPD with MDC, ZIP', async () => {
    for (const compress of [true, false]) {
      const msg = await collect(encrypt(chunks(data), { passphrase: PASS, compress }));
      const r = home.run(['--decrypt'], msg, PASS);
      expect(r.status).toBe(0);
      expect(r.stdout.equals(data)).toBe(true);
      expect(r.statusFd).toContain('GOODMDC');
      const packets = home.run(['--list-packets'], msg, PASS).stdout.toString();
      expect(packets).toMatch(/symkey enc packet: version 4, cipher 9, aead 0, ?s2k 3, hash 2/);
      expect(packets).toContain('count 65011712');
      expect(packets).toContain('mdc_method: 2');
      if (compress) expect(packets).toContain('compressed packet: algo=1');
      else expect(packets).not.toContain('compressed packet');
      expect(packets).toMatch(/literal data packet:\s+mode b/);
    }
  });

  it('empty input round-trips through gpg', async () => {
    const msg = await collect(encrypt(chunks(Buffer.alloc(0)), { passphrase: PASS }));
    expect(home.ok(['--decrypt'], msg, PASS).length).toBe(0);
    expect((await collect(decrypt(chunks(msg), { passphrase: PASS }))).length).toBe(0);
  });

  it('detects tampering (MDC) and truncation with exit 31', async () => {
    const msg = await collect(encrypt(chunks(data), { passphrase: PASS, compress: false }));
    const flipped = Buffer.from(msg);
    flipped[msg.length - 100]! ^= 0x40;
    const e1 = await failure(collect(decrypt(chunks(flipped), { passphrase: PASS })));
    expect(e1.exitCode).toBe(31);
    expect(e1.message).toMatch(/MDC/);
    const e2 = await failure(collect(decrypt(chunks(msg.subarray(0, msg.length - 30)), { passphrase: PASS })));
    expect(e2.exitCode).toBe(31);
    const e3 = await failure(collect(decrypt(chunks(Buffer.from('not an openpgp message')), { passphrase: PASS })));
    expect(e3.exitCode).toBe(31);
  });

  it('refuses an empty passphrase for encryption', async () => {
    const err = await failure(collect(encrypt(chunks(data), { passphrase: '' })));
    expect(err.message).toMatch(/empty passphrase/);
  });

  it('streams 96 MiB (random and text, so both deflate paths) with bounded memory', async () => {
    const MiB = 1 << 20;
    const total = 96 * MiB;
    const inHash = createHash('sha256');
    async function* source(): AsyncGenerator<Uint8Array> {
      const text = Buffer.from('backup volume duplicity manifest signature\n'.repeat(MiB / 43 + 1)).subarray(0, MiB);
      for (let i = 0; i < total / MiB; i++) {
        const c = i % 2 ? text : sampleData(MiB, i + 1);
        inHash.update(c);
        yield c;
      }
    }
    const before = process.memoryUsage().rss;
    let peak = before;
    const outHash = createHash('sha256');
    let n = 0;
    for await (const c of decrypt(encrypt(source(), { passphrase: PASS }), { passphrase: PASS })) {
      outHash.update(c);
      n += c.length;
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(n).toBe(total);
    expect(outHash.digest('hex')).toBe(inHash.digest('hex'));
    expect(peak - before).toBeLessThan(64 * MiB);
  });
});
