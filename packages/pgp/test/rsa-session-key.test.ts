/**
 * RSA session keys decrypted natively (key-material.ts's rsaDecryptBlock, then session-key.ts's EME-PKCS1-v1_5
 * decoding): gpg's messages decrypt; PKESKs re-encrypted here under fresh padding decrypt to the same data;
 * forged ones (random, bad padding, bad checksum, wrong key size) fail with the same one line, so a server that
 * forges packets learns nothing from which check failed; a well-formed key for a cipher we lack is named.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { constants, createPublicKey, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import * as openpgp from 'openpgp';
import { decrypt, loadKeyring, type Keyring } from '@duplicity-ts/pgp';
import { GpgHome, chunks, collect, failure, sampleData, type TestKey } from './gpg-home.js';

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** A message's leading PKESK (gpg writes an old-format packet with a two-octet length) and the rest. */
function splitPkesk(msg: Buffer): { body: Buffer; rest: Buffer } {
  expect(msg[0]).toBe(0x85); // old format, tag 1, two-octet length
  const len = msg.readUInt16BE(1);
  return { body: msg.subarray(3, 3 + len), rest: msg.subarray(3 + len) };
}

/** The message with its PKESK's MPI replaced by `c`. */
function withCiphertext(msg: Buffer, c: Buffer): Buffer {
  const { body, rest } = splitPkesk(msg);
  let start = 0;
  while (start < c.length - 1 && c[start] === 0) start++; // an MPI has no leading zero octets
  const v = c.subarray(start);
  const bits = v.length * 8 - Math.clz32(v[0]!) + 24;
  const mpi = Buffer.concat([Buffer.from([bits >> 8, bits & 0xff]), v]);
  const newBody = Buffer.concat([body.subarray(0, 10), mpi]); // version, key id, algorithm
  const head = Buffer.from([0x85, newBody.length >> 8, newBody.length & 0xff]);
  return Buffer.concat([head, newBody, rest]);
}

describe('RSA session keys', () => {
  let home: GpgHome;
  let A: TestKey;
  let ring: Keyring;
  let pub: KeyObject;
  let k: number;
  const data = sampleData(100_000, 3);
  let msg: Buffer;
  let session: { cipher: number; key: Buffer };

  beforeAll(async () => {
    home = new GpgHome();
    A = home.genKey('RSA session <rsa-session@test.invalid>', 'rsa2048', 'rsa2048', 'pass-A');
    ring = await loadKeyring({ gnupgHome: home.dir });
    const key = await openpgp.readKey({ armoredKey: home.ok(['--armor', '--export', A.fingerprint]).toString() });
    const params = (key.subkeys[0]!.keyPacket as unknown as { publicParams: { n: Uint8Array; e: Uint8Array } }).publicParams;
    pub = createPublicKey({ key: { kty: 'RSA', n: b64u(params.n), e: b64u(params.e) }, format: 'jwk' });
    k = params.n.length;
    msg = home.ok(['--recipient', A.keyId, '--encrypt'], data);
    const shown = home.run(['--show-session-key', '--decrypt'], msg, A.passphrase).statusFd.match(/SESSION_KEY (\d+):([0-9A-F]+)/);
    session = { cipher: Number(shown![1]), key: Buffer.from(shown![2]!, 'hex') };
  }, 120_000);
  afterAll(() => home?.cleanup());

  /** `m` (cipher id, key, checksum) as an EME-PKCS1-v1_5 block (00 02, `padding` nonzero octets, 00), encrypted to A. */
  function encryptBlock(m: Buffer, padding = k - 3 - m.length, head = [0, 2]): Buffer {
    const ps = Buffer.alloc(padding);
    for (let i = 0; i < padding; i++) ps[i] = 1 + (randomBytes(1)[0]! % 255);
    const em = Buffer.concat([Buffer.from(head), ps, Buffer.from([0]), m]);
    expect(em.length).toBe(k);
    return publicEncrypt({ key: pub, padding: constants.RSA_NO_PADDING }, em);
  }

  function sessionBlock(cipher: number, key: Buffer, checksumDelta = 0): Buffer {
    let sum = 0;
    for (const b of key) sum = (sum + b) & 0xffff;
    const check = Buffer.alloc(2);
    check.writeUInt16BE((sum + checksumDelta) & 0xffff);
    return Buffer.concat([Buffer.from([cipher]), key, check]);
  }

  const open = (m: Buffer) => collect(decrypt(chunks(m, 4096), { keyring: ring, passphrase: A.passphrase }));

  it("decrypts gpg's message", async () => {
    expect((await open(msg)).equals(data)).toBe(true);
  });

  it('decrypts the session key re-encrypted here under fresh padding', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await open(withCiphertext(msg, encryptBlock(sessionBlock(session.cipher, session.key))))).equals(data)).toBe(true);
    }
  });

  it('rejects forged blocks with one line, the same whichever check fails', async () => {
    const m = sessionBlock(session.cipher, session.key);
    // Seven padding octets: the rest of the block is then a key of the wrong size, with a right checksum.
    const long = sessionBlock(session.cipher, randomBytes(k - 3 - 7 - 3));
    const forged = {
      random: randomBytes(k - 1),
      badChecksum: encryptBlock(sessionBlock(session.cipher, session.key, 1)),
      shortPadding: encryptBlock(long, 7),
      wrongKeySize: encryptBlock(sessionBlock(session.cipher, session.key.subarray(0, 16))),
      notType2: encryptBlock(m, undefined, [0, 1]),
      noSeparator: publicEncrypt({ key: pub, padding: constants.RSA_NO_PADDING }, Buffer.concat([Buffer.from([0, 2]), Buffer.alloc(k - 2, 7)])),
    };
    const messages = new Set<string>();
    for (const [name, c] of Object.entries(forged)) {
      const err = await failure(open(withCiphertext(msg, c)));
      expect(err.message, name).not.toContain('\n');
      expect(err.message, name).toMatch(/: Decryption error$/);
      messages.add(err.message);
    }
    expect([...messages]).toHaveLength(1);
  });

  it('names a cipher it lacks when the block is otherwise well formed', async () => {
    const err = await failure(open(withCiphertext(msg, encryptBlock(sessionBlock(10, randomBytes(32))))));
    expect(err.message).toMatch(/unsupported cipher algorithm 10 \(TWOFISH\)/);
  });
});
