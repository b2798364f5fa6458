/**
 * Archives written by real duplicity 0.8.22 + gpg 2.2.40 (shared fixtures) decrypt byte for byte like gpg
 * decrypts them, symmetric and public-key signed, with the signer check on and off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkSignatures, decrypt, loadKeyring, recoverSessionKeys, type Keyring, type SignatureResult, type SignedDigest } from '@duplicity-ts/pgp';
import { GpgHome, chunks, collect, failure } from './gpg-home.js';

const FIX = '/work/shared/fixtures/duplicity-0.8.22';

function keysTsv(scenario: string): Record<string, { keyId: string; fingerprint: string; passphrase: string; pub: string; sec: string }> {
  const rows = readFileSync(join(FIX, scenario, 'keys/keys.tsv'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  return Object.fromEntries(rows.map((l) => {
    const [role, keyId, fingerprint, passphrase, pub, sec] = l.split('\t') as [string, string, string, string, string, string];
    return [role, { keyId, fingerprint, passphrase, pub, sec }];
  }));
}

describe('symmetric fixture', () => {
  const dir = join(FIX, 'symmetric/archive');
  const { passphrase } = keysTsv('symmetric').symmetric!;
  let home: GpgHome;
  beforeAll(() => { home = new GpgHome(); });
  afterAll(() => home.cleanup());

  for (const name of readdirSync(dir)) {
    it(`decrypts ${name} exactly as gpg does`, async () => {
      const bytes = readFileSync(join(dir, name));
      const expected = home.ok(['--decrypt'], bytes, passphrase);
      expect(expected.length).toBeGreaterThan(0);
      const ours = await collect(decrypt(chunks(bytes, 1000), { passphrase }));
      expect(ours.equals(expected)).toBe(true);
    });
  }

  it('refuses a wrong passphrase with exit code 31', async () => {
    const bytes = readFileSync(join(dir, readdirSync(dir).find((n) => n.includes('difftar'))!));
    const err = await failure(collect(decrypt(chunks(bytes), { passphrase: passphrase + 'x' })));
    expect(err.exitCode).toBe(31);
    expect(err.message).toMatch(/wrong passphrase/);
    expect(err.message).not.toContain(passphrase);
  });

  it('asks for PASSPHRASE when none is given', async () => {
    const bytes = readFileSync(join(dir, readdirSync(dir)[0]!));
    const err = await failure(collect(decrypt(chunks(bytes), {})));
    expect(err.exitCode).toBe(31);
    expect(err.message).toMatch(/set PASSPHRASE/);
  });
});

describe('pubkey-signed fixture', () => {
  const dir = join(FIX, 'pubkey-signed/archive');
  const keys = keysTsv('pubkey-signed');
  const enc = keys.encrypt!;
  const sign = keys.sign!;
  let home: GpgHome;
  let ring: Keyring;
  beforeAll(async () => {
    home = new GpgHome();
    home.ok(['--import', join(FIX, 'pubkey-signed/keys', enc.sec), join(FIX, 'pubkey-signed/keys', sign.pub)], undefined, enc.passphrase);
    ring = await loadKeyring({ gnupgHome: home.dir });
  });
  afterAll(() => home.cleanup());

  it('loads both keys from the GnuPG home gpg made, the secret one from private-keys-v1.d', () => {
    const info = ring.keys();
    const e = info.find((k) => k.fingerprint === enc.fingerprint)!;
    const s = info.find((k) => k.fingerprint === sign.fingerprint)!;
    expect(e.hasSecret).toBe(true);
    expect(e.subkeys.some((k) => k.hasSecret)).toBe(true);
    expect(s.hasSecret).toBe(false);
    expect(ring.findAll('Duplicity Fixture Signing')[0]!.cert.primary.fingerprint).toBe(sign.fingerprint);
  });

  for (const name of readdirSync(dir)) {
    it(`decrypts ${name} like gpg and checks the signer`, async () => {
      const bytes = readFileSync(join(dir, name));
      const r = home.run(['--decrypt'], bytes, enc.passphrase);
      expect(r.status).toBe(0);
      expect(r.statusFd).toContain(`GOODSIG ${sign.keyId}`);
      const sigs: SignatureResult[] = [];
      for (const requireSigner of [sign.keyId, sign.keyId.slice(-8), sign.fingerprint, `0x${sign.keyId}`]) {
        const ours = await collect(decrypt(chunks(bytes, 777), { keyring: ring, passphrase: enc.passphrase, requireSigner, onSignature: (s) => sigs.push(s) }));
        expect(ours.equals(r.stdout)).toBe(true);
      }
      expect(sigs[0]).toMatchObject({ keyId: sign.keyId, status: 'good' });
      const unchecked = await collect(decrypt(chunks(bytes), { keyring: ring, passphrase: enc.passphrase }));
      expect(unchecked.equals(r.stdout)).toBe(true);
      const err = await failure(collect(decrypt(chunks(bytes), { keyring: ring, passphrase: enc.passphrase, requireSigner: enc.keyId })));
      expect(err.exitCode).toBe(22);
      expect(err.message).toBe(`Volume was signed by key ${sign.keyId}, not ${enc.keyId}`);
    });
  }

  it('decrypts split as a worker thread does: keys recovered with the keyring, decryption without it, signatures judged after', async () => {
    const name = readdirSync(dir).find((n) => n.includes('difftar'))!;
    const bytes = readFileSync(join(dir, name));
    const expected = home.ok(['--decrypt'], bytes, enc.passphrase);
    const opts = { keyring: ring, passphrase: enc.passphrase, requireSigner: sign.keyId };
    const sessionKeys = await recoverSessionKeys(chunks(bytes, 100), opts);
    // As a worker receives them: structured cloning turns Buffers into Uint8Arrays.
    const cloned = structuredClone(sessionKeys).map((k) => ({ ...k, key: Buffer.from(k.key) }));
    const signed: SignedDigest[] = [];
    const ours = await collect(decrypt(chunks(bytes, 777), { sessionKeys: cloned, deferSignatures: (s) => signed.push(s) }));
    expect(ours.equals(expected)).toBe(true);
    expect(signed).toHaveLength(1);
    const back = structuredClone(signed);
    expect(checkSignatures(back, opts)).toMatchObject([{ keyId: sign.keyId, status: 'good' }]);
    // A digest that is not the signed one is a bad signature; another required signer is exit 22.
    const altered = structuredClone(signed);
    altered[0]!.digest[5]! ^= 1;
    expect(() => checkSignatures(altered, { keyring: ring })).toThrow(/bad signature from key/);
    expect(() => checkSignatures(back, { keyring: ring, requireSigner: enc.keyId })).toThrow(`Volume was signed by key ${sign.keyId}, not ${enc.keyId}`);
    // Without the keyring's secret key no session key is recovered: the same error decrypt() gives.
    const pubOnly = await loadKeyring({ keyFiles: [join(FIX, 'pubkey-signed/keys', enc.pub)] });
    const err = await failure(recoverSessionKeys(chunks(bytes), { keyring: pubOnly, passphrase: enc.passphrase }));
    expect(err.exitCode).toBe(31);
    expect(err.message).toMatch(/no secret key/);
  });

  it('also decrypts with the armored key files instead of a GnuPG home', async () => {
    const files = await loadKeyring({ keyFiles: [join(FIX, 'pubkey-signed/keys', enc.sec), join(FIX, 'pubkey-signed/keys', sign.pub)] });
    const name = readdirSync(dir).find((n) => n.includes('difftar'))!;
    const bytes = readFileSync(join(dir, name));
    const expected = home.ok(['--decrypt'], bytes, enc.passphrase);
    const ours = await collect(decrypt(chunks(bytes), { keyring: files, passphrase: enc.passphrase, requireSigner: sign.keyId }));
    expect(ours.equals(expected)).toBe(true);
  });

  it('fails with exit 31 and a clear message on the wrong or a missing key passphrase', async () => {
    const bytes = readFileSync(join(dir, readdirSync(dir)[0]!));
    const fresh = await loadKeyring({ gnupgHome: home.dir });
    const wrong = await failure(collect(decrypt(chunks(bytes), { keyring: fresh, passphrase: 'nope' })));
    expect(wrong.exitCode).toBe(31);
    expect(wrong.message).toMatch(/wrong passphrase for secret key [0-9A-F]{16}/);
    const missing = await failure(collect(decrypt(chunks(bytes), { keyring: fresh })));
    expect(missing.exitCode).toBe(31);
    expect(missing.message).toMatch(/set PASSPHRASE/);
  });

  it('fails with exit 31 when the secret key is not in the keyring', async () => {
    const bytes = readFileSync(join(dir, readdirSync(dir)[0]!));
    const pubOnly = await loadKeyring({ keyFiles: [join(FIX, 'pubkey-signed/keys', enc.pub)] });
    const err = await failure(collect(decrypt(chunks(bytes), { keyring: pubOnly, passphrase: enc.passphrase })));
    expect(err.exitCode).toBe(31);
    expect(err.message).toMatch(/no secret key/);
  });
});
