/**
 * Passphrase-only messages both ways with gpg 2.2 (every compression and several ciphers gpg can write),
 * tampering, and a large stream through encrypt and decrypt with bounded memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decrypt, encrypt, loadKeyring } from '@duplicity-ts/pgp';
import { GpgHome, chunks, collect, failure, sampleData } from './gpg-home.js';
import { bunzip2 } from '../src/bzip2.js';

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

  it('reads the same plaintext whatever the source chunking (1 byte to 1 MiB, across partial-length parts)', async () => {
    const small = sampleData(120_000, 11);
    for (const algo of ['zip', 'none']) {
      const msg = home.ok(['--compress-algo', algo, '--s2k-count', '65536', '--symmetric'], small, PASS);
      for (const size of [1, 13, 8191, 8193, 1 << 20]) {
        expect((await collect(decrypt(chunks(msg, size), { passphrase: PASS }))).equals(small), `${algo} in ${size} B chunks`).toBe(true);
      }
    }
  });

  it('holds a compression bomb to bounded memory (256 MiB of zeros from a 260 kB message, consumed slowly)', async () => {
    const pp = join(home.dir, 'bomb-pp');
    writeFileSync(pp, PASS, { mode: 0o600 });
    const msg = spawnSync('bash', ['-c', 'head -c 268435456 /dev/zero | gpg --homedir "$1" --batch --no-tty --pinentry-mode loopback '
      + '--passphrase-file "$2" --s2k-count 65536 --compress-algo zlib --compress-level 9 --symmetric', 'bash', home.dir, pp], { maxBuffer: 1 << 24 }).stdout;
    expect(msg.length).toBeLessThan(1 << 20);
    let total = 0;
    let peak = 0;
    for await (const c of decrypt(chunks(msg, 1 << 20), { passphrase: PASS })) {
      total += c.length;
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(total).toBe(268435456);
    // Inflated output is handed on in steps of about 1 MiB (zlib pauses on back-pressure); the peak counts garbage not yet
    // collected. Holding the whole output at once would be over 256 MiB.
    expect(peak).toBeLessThan(224 * 1048576);
  });

  it('reads gpg --compress-algo bzip2, several 900 kB blocks, in small and large chunks', async () => {
    const big = Buffer.concat([sampleData(1_000_000, 5), Buffer.from('duplicity bzip2 block '.repeat(50_000))]);
    const msg = home.ok(['--compress-algo', 'bzip2', '--bzip2-compress-level', '9', '--s2k-count', '65536', '--symmetric'], big, PASS);
    expect(home.ok(['--list-packets'], msg, PASS).toString()).toContain('compressed packet: algo=3');
    for (const size of [777, 1 << 20]) {
      expect((await collect(decrypt(chunks(msg, size), { passphrase: PASS }))).equals(big)).toBe(true);
    }
    const empty = home.ok(['--compress-algo', 'bzip2', '--s2k-count', '65536', '--symmetric'], Buffer.alloc(0), PASS);
    expect((await collect(decrypt(chunks(empty), { passphrase: PASS }))).length).toBe(0);
  });

  it('refuses corrupt or truncated BZip2 data with a clear error, reads concatenated streams', async () => {
    const bz = spawnSync('bzip2', ['-c'], { input: sampleData(400_000, 9) }).stdout;
    const flipped = Buffer.from(bz);
    flipped[Math.floor(bz.length / 2)]! ^= 0x10;
    for (const bad of [flipped, bz.subarray(0, bz.length - 20)]) {
      await expect(collect(bunzip2(chunks(bad, 4096)))).rejects.toThrow(/BZip2/);
    }
    expect((await collect(bunzip2(chunks(bz, 4096)))).equals(sampleData(400_000, 9))).toBe(true);
    // concatenated streams (what `cat a.bz2 b.bz2` makes) decode as one
    const second = spawnSync('bzip2', ['-1', '-c'], { input: Buffer.from('second stream') }).stdout;
    const both = await collect(bunzip2(chunks(Buffer.concat([bz, second]), 1000)));
    expect(both.equals(Buffer.concat([sampleData(400_000, 9), Buffer.from('second stream')]))).toBe(true);
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

  it('deflates in parallel segments that gpg inflates as one stream (ZIP and ZLIB, text and random)', async () => {
    const MiB = 1 << 20;
    const text = Buffer.from('segment boundary dictionary carry-over\n'.repeat(Math.ceil(2.5 * MiB / 39))).subarray(0, 2.5 * MiB + 12345);
    const mixed = Buffer.concat([text, sampleData(1.5 * MiB, 8), text.subarray(0, MiB)]);
    const fix = '/work/shared/fixtures/duplicity-0.8.22/pubkey-signed/keys';
    home.ok(['--batch', '--import', `${fix}/encrypt-secret.asc`], undefined, 'fixture-encrypt-7338e4bfdad1');
    const ring = await loadKeyring({ keyFiles: [`${fix}/encrypt-public.asc`] });
    for (const [label, opts, pass, algo] of [['ZIP', { passphrase: PASS }, PASS, 1], ['ZLIB', { keyring: ring, recipients: ['EC5E36C15C296022'] }, 'fixture-encrypt-7338e4bfdad1', 2]] as const) {
      const msg = await collect(encrypt(chunks(mixed, 100_000), opts));
      const r = home.run(['--trust-model', 'always', '--decrypt'], msg, pass);
      expect(r.status, `${label}: ${r.stderr}`).toBe(0);
      expect(r.stdout.equals(mixed)).toBe(true);
      expect(home.run(['--list-packets'], msg, pass).stdout.toString()).toContain(`compressed packet: algo=${algo}`);
      // the text compresses nearly as well as one stream would, segment boundaries or not
      expect(msg.length).toBeLessThan(1.5 * MiB * 1.01 + 200_000);
    }
    const empty = await collect(encrypt(chunks(Buffer.alloc(0)), { keyring: ring, recipients: ['EC5E36C15C296022'] }));
    expect(home.ok(['--trust-model', 'always', '--decrypt'], empty, 'fixture-encrypt-7338e4bfdad1').length).toBe(0);
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
