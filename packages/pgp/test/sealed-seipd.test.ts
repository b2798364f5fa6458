/**
 * The SEIPD packet sealed on the thread pool (sealedSeipd, the addon's Sealer) against the one written on the
 * calling thread (SeipdWriter): with the same key and random prefix they must be the same bytes whatever the
 * data's length (across the 64 KiB parts, the stages and the MDC's 22 bytes) and the source's chunking. Then the
 * real gpg decrypts messages written each way (signed ones too: the signature's hash runs on the pool as well),
 * and the addon refuses misuse of a sealer.
 */
import { Sealer, sealerAvailable } from '@duplicity-ts/libdeflate';
import fc from 'fast-check';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { encrypt, loadKeyring } from '@duplicity-ts/pgp';
import { cipherInfo, AES256 } from '../src/cipher-algorithms.js';
import { PART } from '../src/packets.js';
import { SeipdWriter, sealedSeipd } from '../src/seipd.js';
import { GpgHome, chunks, collect, type TestKey } from './gpg-home.js';

const info = cipherInfo(AES256);

/** `data` cut into batches of pieces of about `chunk` bytes, through one scratch buffer overwritten after each batch. */
async function* batches(data: Buffer, chunk: number): AsyncGenerator<Uint8Array[]> {
  const scratch = Buffer.alloc(2 * chunk);
  for (let i = 0; i < data.length; i += 2 * chunk) {
    const a = data.subarray(i, i + chunk);
    const b = data.subarray(i + chunk, i + 2 * chunk);
    a.copy(scratch);
    b.copy(scratch, chunk);
    yield [scratch.subarray(0, a.length), scratch.subarray(chunk, chunk + b.length)];
    scratch.fill(0xee);
  }
}

function written(key: Buffer, prefix: Buffer, data: Buffer, cipher = info): Buffer {
  const w = new SeipdWriter(cipher, key, prefix);
  const out = w.write(data);
  w.end(out);
  return Buffer.concat(out);
}

async function sealed(key: Buffer, prefix: Buffer, data: Buffer, chunk: number, stageParts: number, held = { bytes: 0 }, cipher = info, reuseOutput = false): Promise<Buffer> {
  const out: Buffer[] = [];
  // Each piece is copied before the next is asked for, as reuseOutput requires.
  for await (const p of sealedSeipd(cipher, key, batches(data, chunk), { prefix, stageParts, held, reuseOutput })) out.push(Buffer.from(p));
  return Buffer.concat(out);
}

/** Lengths at the edges: the first part (one octet short for the version, 18 of it taken by the prefix), stages, the MDC. */
const edge = (stageParts: number) =>
  fc.constantFrom(0, 1, PART - 1 - 18, PART - 1 - 18 - 22, PART - 18 - 22, stageParts * PART - 19, stageParts * PART - 19 - 22,
    stageParts * PART - 19 - 21, 2 * stageParts * PART - 19, 3 * PART + 5).chain((n) => fc.integer({ min: Math.max(0, n - 2), max: n + 2 }));

describe.skipIf(!sealerAvailable() && process.env.CI !== 'true')('sealedSeipd', () => {
  it('is available where the addon is built', () => {
    expect(sealerAvailable()).toBe(true);
  });

  it('writes the same packet as SeipdWriter for any length and chunking, reusing its stages or not, and counts nothing as held at the end', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(1, 2, 16).chain((stageParts) =>
          fc.record({
            stageParts: fc.constant(stageParts),
            len: fc.oneof(edge(stageParts), fc.integer({ min: 0, max: 5 * PART })),
            chunk: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 301, max: 3 * PART })),
            seed: fc.integer(),
            reuse: fc.boolean(),
          })),
        async ({ stageParts, len, chunk, seed, reuse }) => {
          const data = Buffer.alloc(len);
          for (let i = 0, x = seed >>> 0 || 1; i < len; i++) {
            x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
            data[i] = x & 0xff;
          }
          const key = randomBytes(32);
          const prefix = randomBytes(18);
          const held = { bytes: 0 };
          const got = await sealed(key, prefix, data, Math.max(chunk, Math.ceil(len / 3000)), stageParts, held, info, reuse);
          expect(got.equals(written(key, prefix, data))).toBe(true);
          expect(held.bytes).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('the same for the other ciphers gpg can be told to use (--cipher-algo): 8-byte blocks (3DES), Camellia, AES-128', async () => {
    for (const id of [2, 7, 11]) {
      const cipher = cipherInfo(id);
      for (const len of [0, PART - 1 - (cipher.blockSize + 2), 3 * PART + 7]) {
        const data = randomBytes(len);
        const key = randomBytes(cipher.keySize);
        const prefix = randomBytes(cipher.blockSize + 2);
        const got = await sealed(key, prefix, data, 5000, 1, { bytes: 0 }, cipher);
        expect(got.equals(written(key, prefix, data, cipher)), `${cipher.name}, ${len} bytes`).toBe(true);
      }
    }
  });

  it('seals in place: CFB continued across calls, then the MDC digest over all but the room left for it', async () => {
    const key = randomBytes(32);
    const pt = randomBytes(100_000);
    const s = new Sealer('aes-256-cfb', key);
    const data = Buffer.concat([pt, Buffer.alloc(20)]);
    await s.seal(data.subarray(0, 40_003));
    await s.sealLast(data.subarray(40_003));
    const want = createCipheriv('aes-256-cfb', key, Buffer.alloc(16)).update(Buffer.concat([pt, createHash('sha1').update(pt).digest()]));
    expect(data.equals(want)).toBe(true);
  });

  it('refuses a second job while one runs, any job after the last, a wrong handle and a wrong key length', async () => {
    const s = new Sealer('aes-256-cfb', randomBytes(32));
    const running = s.seal(Buffer.alloc(1 << 20));
    expect(() => s.seal(Buffer.alloc(16))).toThrow('sealer: a job is already running on this sealer');
    await running;
    await s.sealLast(Buffer.alloc(20));
    expect(() => s.seal(Buffer.alloc(16))).toThrow('sealer: used after its end');
    expect(() => new Sealer('aes-256-cfb', randomBytes(16))).toThrow('sealer: unknown CFB cipher, or a key of the wrong length');
    expect(() => new Sealer('aes-256-cbc', randomBytes(32))).toThrow('sealer: unknown CFB cipher');
  });
});

describe('gpg decrypts what encrypt() writes, sealed on the pool and on the calling thread', () => {
  const home = new GpgHome();
  let signer: TestKey | undefined;
  afterAll(() => home.cleanup());
  afterEach(() => {
    delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
  });

  it.each([
    ['on the pool (the addon)', false],
    ['on the calling thread (DUPLICITY_TS_NO_LIBDEFLATE=1)', true],
  ])('%s', async (_name, noAddon) => {
    if (noAddon) process.env.DUPLICITY_TS_NO_LIBDEFLATE = '1';
    // 3.5 MB: several stages, text and random data, so deflate and stored segments both occur.
    const data = Buffer.concat([Buffer.from('sealed on the pool '.repeat(100_000)), randomBytes(1_600_000)]);
    const msg = await collect(encrypt(chunks(data, 100_000), { passphrase: 'pool passphrase' }));
    const r = home.run(['--decrypt'], msg, 'pool passphrase');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.equals(data)).toBe(true);
    expect(r.statusFd).toContain('GOODMDC');
  });

  it.each([
    ['hashed on the pool (the addon)', false],
    ['hashed on the calling thread (DUPLICITY_TS_NO_LIBDEFLATE=1)', true],
  ])('signed, %s: gpg checks the signature (SHA-512, as gpg signs)', async (_name, noAddon) => {
    signer ??= home.genKey('Pool Signer <pool@test.invalid>', 'rsa2048', 'rsa2048', 'signer pass');
    const key = signer;
    const keyring = await loadKeyring({ gnupgHome: home.dir });
    if (noAddon) process.env.DUPLICITY_TS_NO_LIBDEFLATE = '1';
    const data = Buffer.concat([randomBytes(1_500_000), Buffer.from('signed on the pool '.repeat(80_000))]);
    const msg = await collect(encrypt(chunks(data, 300_000), { keyring, recipients: [key.keyId], signKey: key.keyId, signPassphrase: 'signer pass' }));
    const r = home.run(['--decrypt'], msg, 'signer pass');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.equals(data)).toBe(true);
    expect(r.statusFd).toMatch(new RegExp(`VALIDSIG ${key.fingerprint} .* 00 ${key.fingerprint}`));
    expect(r.statusFd).toMatch(/VALIDSIG \S+ \S+ \d+ \d+ 4 0 1 10 00/);
  });

  it('the signing key unlocks while the message is written: a wrong or missing passphrase still fails it, naming the variable', async () => {
    signer ??= home.genKey('Pool Signer <pool@test.invalid>', 'rsa2048', 'rsa2048', 'signer pass');
    const keyring = await loadKeyring({ gnupgHome: home.dir });
    const data = randomBytes(3_000_000);
    const attempt = (signPassphrase: string | undefined) =>
      collect(encrypt(chunks(data, 100_000), { keyring, passphrase: 'p', signKey: signer!.keyId, signPassphrase })).then(() => undefined, (e: Error) => e);
    expect((await attempt('not the passphrase'))?.message).toBe(`wrong passphrase for secret key ${signer.keyId} (Pool Signer <pool@test.invalid>) (from SIGN_PASSPHRASE)`);
    expect((await attempt(undefined))?.message).toMatch(/is protected by a passphrase and none was given: set SIGN_PASSPHRASE$/);
    // A failed unlock is not remembered: the right passphrase works next.
    expect(await attempt('signer pass')).toBeUndefined();
  });
});
