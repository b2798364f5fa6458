/**
 * ECDSA (NIST curves) keys made by gpg 2.2: the full interop suite for P-256 (ECDSA primary, ECDH subkey), and
 * signatures both ways for P-384 and P-521 (gpg signs, we verify; we sign, gpg verifies), including a signature
 * gpg must reject when we alter the signed data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decrypt, encrypt, loadKeyring, type Keyring, type SignatureResult } from '@duplicity-ts/pgp';
import { interopSuite } from './interop-suite.js';
import { GpgHome, chunks, collect, failure, sampleData } from './gpg-home.js';
import { randomBytes } from 'node:crypto';
import { cipherInfo } from '../src/cipher-algorithms.js';
import { SeipdWriter } from '../src/seipd.js';
import { encodePacket, Tag } from '../src/packets.js';
import { encodeSkesk } from '../src/session-key.js';

interopSuite('nistp256', 'nistp256', 'nistp256');

describe('ECDSA signatures on P-384 and P-521', () => {
  let home: GpgHome;
  let ring: Keyring;
  const keys: Record<string, string> = {};
  const data = sampleData(100_000, 21);
  const PASS = 'ecdsa-pass';

  beforeAll(async () => {
    home = new GpgHome();
    for (const curve of ['nistp384', 'nistp521']) {
      home.ok(['--quick-gen-key', `${curve} <${curve}@test.invalid>`, curve, 'sign', 'never'], undefined, PASS);
      keys[curve] = home.fingerprints(`${curve}@test.invalid`)[0]!;
    }
    ring = await loadKeyring({ gnupgHome: home.dir });
  }, 120_000);
  afterAll(() => home?.cleanup());

  for (const curve of ['nistp384', 'nistp521']) {
    it(`verifies gpg's ${curve} signatures and makes ones gpg verifies`, async () => {
      const fpr = keys[curve]!;
      const theirs = home.ok(['--s2k-count', '65536', '--default-key', fpr, '--sign', '--symmetric'], data, PASS);
      const sigs: SignatureResult[] = [];
      const out = await collect(decrypt(chunks(theirs), { keyring: ring, passphrase: PASS, requireSigner: fpr, onSignature: (s) => sigs.push(s) }));
      expect(out.equals(data)).toBe(true);
      expect(sigs).toEqual([{ keyId: fpr.slice(-16), primaryKeyId: fpr.slice(-16), fingerprint: fpr, status: 'good' }]);

      const ours = await collect(encrypt(chunks(data), { keyring: ring, passphrase: PASS, signKey: fpr, signPassphrase: PASS }));
      const r = home.run(['--decrypt'], ours, PASS);
      expect(r.status).toBe(0);
      expect(r.stdout.equals(data)).toBe(true);
      // VALIDSIG <fpr> <date> <time> <expire> <version> <reserved> <pubkey algo> <hash algo> <class> <primary>
      expect(r.statusFd).toMatch(new RegExp(`VALIDSIG ${fpr} \\S+ \\d+ 0 4 0 19 10 00 ${fpr}`));
    });
  }

  it('reports an altered ECDSA signature as bad (exit 22 with a required signer)', async () => {
    const fpr = keys.nistp384!;
    const signed = home.ok(['--default-key', fpr, '--compress-algo', 'none', '--sign'], data, PASS);
    expect((await collect(decrypt(chunks(wrapSymmetric(signed)), { keyring: ring, passphrase: PASS, requireSigner: fpr }))).equals(data)).toBe(true);
    const bad = Buffer.from(signed);
    bad[bad.length - 3]! ^= 0x01; // inside the signature's s value
    const err = await failure(collect(decrypt(chunks(wrapSymmetric(bad)), { keyring: ring, passphrase: PASS, requireSigner: fpr })));
    expect(err.exitCode).toBe(22);
    expect(err.message).toMatch(/bad signature from key/);
  });
});

/** Encrypts already-formed packets (here gpg's signed message) as the plaintext of a symmetric message. */
function wrapSymmetric(packets: Buffer): Buffer {
  const session = { cipher: cipherInfo(9), key: randomBytes(32) };
  const seipd = new SeipdWriter(session.cipher, session.key);
  return Buffer.concat([encodePacket(Tag.SKESK, encodeSkesk('ecdsa-pass', session)), ...seipd.write(packets), ...seipd.end()]);
}
