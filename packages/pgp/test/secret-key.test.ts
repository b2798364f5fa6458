/**
 * Secret key packets unlocked natively (node:crypto S2K and CFB) instead of by openpgp.js: the parameters match
 * what openpgp.js decrypts, for gpg's exports (AES-128, SHA-1, count 65011712) and openpgp.js's own protection
 * (AES-256, SHA-256); a wrong passphrase fails the check; and the keyring never falls back to openpgp.js's S2K.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { decrypt, loadKeyring } from '@duplicity-ts/pgp';
import { clearSecretBody, decryptSecretMpis, readSecretPacket, SecretKeyChecksumError } from '../src/secret-key-packet.js';
import { chunks, collect } from './gpg-home.js';

const FIX = '/work/shared/fixtures/duplicity-0.8.22/pubkey-signed';
const ENC_PASS = 'fixture-encrypt-7338e4bfdad1';

type Packet = { version: number; isDecrypted(): boolean; write(): Uint8Array; writePublicKey(): Uint8Array; decrypt(p: string): Promise<void>; privateParams: Record<string, Uint8Array> };

async function secretPackets(armored: string): Promise<{ packet: Packet; primary: boolean }[]> {
  const key = await openpgp.readPrivateKey({ armoredKey: armored });
  return [
    { packet: key.keyPacket as unknown as Packet, primary: true },
    ...key.subkeys.map((s) => ({ packet: s.keyPacket as unknown as Packet, primary: false })),
  ];
}

/** Decrypts natively and with openpgp.js; the secret parameters must agree. */
async function crossCheck(armored: string, passphrase: string): Promise<number> {
  let n = 0;
  for (const { packet, primary } of await secretPackets(armored)) {
    const pub = Buffer.from(packet.writePublicKey());
    const secretPart = Buffer.from(packet.write()).subarray(pub.length);
    const mpis = decryptSecretMpis(secretPart, passphrase);
    expect(mpis).toBeInstanceOf(Buffer);
    const ours = await readSecretPacket<Packet>(primary, clearSecretBody(pub, mpis!));
    expect(() => decryptSecretMpis(secretPart, passphrase + '!')).toThrow(SecretKeyChecksumError);
    await packet.decrypt(passphrase);
    const names = Object.keys(packet.privateParams);
    expect(names.length).toBeGreaterThan(0);
    for (const k of names) expect(Buffer.from(ours.privateParams[k]!).equals(Buffer.from(packet.privateParams[k]!))).toBe(true);
    n++;
  }
  return n;
}

describe('secret key packets', () => {
  afterEach(() => vi.restoreAllMocks());

  it('decrypts gpg-exported secret keys (AES-128, iterated SHA-1, 65011712) as openpgp.js does', async () => {
    const armored = readFileSync(join(FIX, 'keys/encrypt-secret.asc'), 'utf8');
    expect(await crossCheck(armored, ENC_PASS)).toBe(2);
  });

  it('decrypts openpgp.js-protected keys (AES-256, iterated SHA-256) as openpgp.js does', async () => {
    const { privateKey } = await openpgp.generateKey({
      userIDs: [{ name: 'native s2k', email: 'n@test.invalid' }], type: 'ecc', curve: 'curve25519Legacy', format: 'armored',
      passphrase: 'pässphrase with ünicode', config: { s2kIterationCountByte: 96 },
    });
    expect(await crossCheck(privateKey, 'pässphrase with ünicode')).toBe(2);
  });

  it('unlocks key files without openpgp.js\'s S2K and decrypts a fixture volume with them', async () => {
    const spy = vi.spyOn(openpgp.SecretKeyPacket.prototype, 'decrypt');
    const ring = await loadKeyring({ keyFiles: [join(FIX, 'keys/encrypt-secret.asc'), join(FIX, 'keys/sign-public.asc')] });
    const name = 'duplicity-full.20220218T102111Z.vol1.difftar.gpg';
    const out = await collect(decrypt(chunks(readFileSync(join(FIX, 'archive', name))), { keyring: ring, passphrase: ENC_PASS, requireSigner: '572BA39CF3188FFB' }));
    expect(out.length).toBeGreaterThan(0);
    expect(spy).not.toHaveBeenCalled();
  });
});
