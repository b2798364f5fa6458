/**
 * AEAD-encrypted messages as gpg 2.4 (LibrePGP: SKESK v5 / PKESK v3 + AEAD packet tag 20, OCB) and RFC 9580
 * implementations (SKESK v6 / PKESK v6 + SEIPD v2) write them. gpg 2.4 is not installed, so openpgp.js 6 writes the
 * messages (its AEAD packet class for tag 20, `aeadProtect` for SEIPD v2) and our streaming reader must return the
 * same bytes, across chunk boundaries; altered, truncated or wrongly keyed data fails with exit 31.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { decrypt, loadKeyring } from '@duplicity-ts/pgp';
import { chunks, collect, failure, sampleData } from './gpg-home.js';
import { aeadPlaintext } from '../src/aead.js';
import { ByteReader } from '../src/byte-reader.js';
import { readPacketBody, readPacketHeader } from '../src/packets.js';

const PASS = 'aead passphrase';
const { aead, symmetric } = openpgp.enums;
// Cheap S2K (count 1024) keeps the tests fast; the count has its own tests elsewhere.
const base = { s2kIterationCountByte: 0 } as const;

type Packet = { write(): Uint8Array };
type AnyPacketClass = new (...args: unknown[]) => Packet & Record<string, unknown>;
const P = openpgp as unknown as Record<string, AnyPacketClass>;

function literal(data: Uint8Array): Packet {
  const lit = new P.LiteralDataPacket!() as unknown as { setBytes(b: Uint8Array, f: unknown): void } & Packet;
  lit.setBytes(data, openpgp.enums.literal.binary);
  return lit;
}

/** openpgp.js returns web streams where it streamed internally (the AEAD packet's ciphertext). */
async function bytes(x: Uint8Array | ReadableStream<Uint8Array>): Promise<Buffer> {
  if (x instanceof Uint8Array) return Buffer.from(x);
  const parts: Uint8Array[] = [];
  const reader = x.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) return Buffer.concat(parts);
    parts.push(r.value);
  }
}

function packetList(packets: Packet[]): { write(): Uint8Array | ReadableStream<Uint8Array> } & Packet[] {
  const list = new P.PacketList!() as unknown as { write(): Uint8Array | ReadableStream<Uint8Array> } & Packet[];
  list.push(...packets);
  return list;
}

/** An AEAD packet (tag 20, version 1) around a literal packet, sealed by openpgp.js. */
async function aeadPacket(data: Uint8Array, key: Uint8Array, algo: number, chunkSizeByte: number): Promise<Packet> {
  const p = new P.AEADEncryptedDataPacket!() as unknown as Packet & { aeadAlgorithm: number; packets: unknown; encrypt(a: number, k: Uint8Array, c: unknown): Promise<void> };
  p.aeadAlgorithm = algo;
  p.packets = packetList([literal(data)]);
  await p.encrypt(symmetric.aes256, key, { ...openpgp.config, aeadChunkSizeByte: chunkSizeByte });
  return p;
}

/** gpg 2.4's symmetric shape: SKESK v5 (AEAD-sealed session key) + AEAD packet. */
async function librepgpSymmetric(data: Uint8Array, algo: number, chunkSizeByte: number, passphrase = PASS): Promise<Buffer> {
  const skesk = new P.SymEncryptedSessionKeyPacket!() as unknown as Packet & { version: number; aeadAlgorithm: number; sessionKeyAlgorithm: number; sessionKey: Uint8Array; encrypt(p: string, c: unknown): Promise<void> };
  skesk.version = 5;
  skesk.aeadAlgorithm = algo;
  skesk.sessionKeyAlgorithm = symmetric.aes256;
  await skesk.encrypt(passphrase, { ...openpgp.config, ...base });
  return bytes(packetList([skesk, await aeadPacket(data, skesk.sessionKey, algo, chunkSizeByte)]).write());
}

async function rfc9580Symmetric(data: Uint8Array, algo: number, chunkSizeByte: number, compress = false): Promise<Buffer> {
  const message = await openpgp.createMessage({ binary: data });
  const config = { ...base, aeadProtect: true, preferredAEADAlgorithm: algo, aeadChunkSizeByte: chunkSizeByte,
    preferredCompressionAlgorithm: compress ? openpgp.enums.compression.zlib : openpgp.enums.compression.uncompressed };
  return Buffer.from(await openpgp.encrypt({ message, passwords: [PASS], config, format: 'binary' }) as Uint8Array);
}

function tags(msg: Uint8Array): number[] {
  const out: number[] = [];
  let off = 0;
  while (off < msg.length) {
    const ctb = msg[off]!;
    const tag = ctb & 0x3f;
    out.push(tag);
    let len = msg[off + 1]!;
    let hdr = 2;
    if (len >= 192 && len < 224) { len = ((len - 192) << 8) + msg[off + 2]! + 192; hdr = 3; }
    else if (len === 255) { len = Buffer.from(msg).readUInt32BE(off + 2); hdr = 6; }
    else if (len >= 224) return out; // partial lengths: the encrypted packet runs to the end here
    off += hdr + len;
  }
  return out;
}

describe('AEAD messages', () => {
  const data = sampleData(200_003, 11);

  for (const [name, algo] of [['OCB', aead.ocb], ['GCM', aead.gcm]] as const) {
    it(`reads SKESK v5 + AEAD packet (tag 20, ${name}) as gpg 2.4 writes it, chunked at 64 B, 4 KiB and 4 MiB`, async () => {
      for (const chunkSizeByte of [0, 6, 16]) {
        const msg = await librepgpSymmetric(data, algo, chunkSizeByte);
        expect(msg[0]! & 0x3f).toBe(3);
        expect(msg[1]).toBeGreaterThan(0);
        for (const size of [1000, 65536]) {
          expect((await collect(decrypt(chunks(msg, size), { passphrase: PASS }))).equals(data)).toBe(true);
        }
      }
    });

    it(`reads SKESK v6 + SEIPD v2 (${name}) as openpgp.js writes it, plain and compressed`, async () => {
      for (const [chunkSizeByte, compress] of [[6, false], [10, true], [12, false]] as const) {
        const msg = await rfc9580Symmetric(data, algo, chunkSizeByte, compress);
        expect(tags(msg)[0]).toBe(3);
        expect((await collect(decrypt(chunks(msg, 3000), { passphrase: PASS }))).equals(data)).toBe(true);
      }
    });
  }

  it('reads messages whose length is an exact multiple of the chunk size, and tiny ones', async () => {
    for (const n of [4096 * 3 - 6 /* literal header makes it 3 whole chunks */, 1, 0]) {
      const d = sampleData(n, 3);
      expect((await collect(decrypt(chunks(await librepgpSymmetric(d, aead.ocb, 6)), { passphrase: PASS }))).equals(d)).toBe(true);
      expect((await collect(decrypt(chunks(await rfc9580Symmetric(d, aead.ocb, 6)), { passphrase: PASS }))).equals(d)).toBe(true);
    }
  });

  it('refuses altered and wrongly keyed AEAD messages with exit 31', async () => {
    for (const make of [() => librepgpSymmetric(data, aead.ocb, 6), () => rfc9580Symmetric(data, aead.ocb, 6)]) {
      const msg = await make();
      const flipped = Buffer.from(msg);
      flipped[Math.floor(msg.length / 2)]! ^= 0x01;
      const e1 = await failure(collect(decrypt(chunks(flipped), { passphrase: PASS })));
      expect(e1.exitCode).toBe(31);
      expect(e1.message).toMatch(/AEAD authentication failed at chunk \d+/);
      const e2 = await failure(collect(decrypt(chunks(msg), { passphrase: 'wrong' })));
      expect(e2.exitCode).toBe(31);
      expect(e2.message).toMatch(/wrong passphrase/);
    }
  });

  it('catches chunks dropped at a chunk boundary, reordered, or a changed final tag', async () => {
    // The SEIPD v2 body with a known session key, so the AEAD layer can be fed edited bodies directly.
    const key = Buffer.from(sampleData(32, 5));
    const msg = Buffer.from(await openpgp.encrypt({ message: await openpgp.createMessage({ binary: data }), passwords: [PASS], format: 'binary',
      sessionKey: { data: key, algorithm: 'aes256', aeadAlgorithm: 'ocb' } as unknown as openpgp.SessionKey,
      config: { ...base, aeadProtect: true, preferredAEADAlgorithm: aead.ocb, aeadChunkSizeByte: 6 } }) as Uint8Array);
    const r = new ByteReader(chunks(msg));
    await readPacketBody(r, (await readPacketHeader(r))!, 'skesk');
    const body = await readPacketBody(r, (await readPacketHeader(r))!, 'seipd');
    const head = body.subarray(0, 36);
    const sealed = 4096 + 16;
    const units = body.subarray(36);
    const run = (b: Buffer) => collect(aeadPlaintext(new ByteReader(chunks(b, 10_000)), 18, [{ key }]));
    expect((await run(body)).length).toBeGreaterThan(data.length);
    const dropped = Buffer.concat([head, units.subarray(0, 10 * sealed)]);
    const swapped = Buffer.concat([head, units.subarray(sealed, 2 * sealed), units.subarray(0, sealed), units.subarray(2 * sealed)]);
    const finalChanged = Buffer.from(body);
    finalChanged[finalChanged.length - 1]! ^= 0x80;
    for (const [bad, at] of [[dropped, 9], [swapped, 0], [finalChanged, Math.ceil((units.length - 16) / sealed)]] as const) {
      const err = await failure(run(bad));
      expect(err.exitCode).toBe(31);
      expect(err.message).toBe(at === 0
        ? 'decryption failed: no session key authenticates the AEAD-encrypted data (wrong passphrase or key, or altered data)'
        : `AEAD authentication failed at chunk ${at}: the data was altered or truncated`);
    }
  });

  it('names EAX as unsupported instead of failing obscurely', async () => {
    const msg = await librepgpSymmetric(data, aead.eax, 6);
    const err = await failure(collect(decrypt(chunks(msg), { passphrase: PASS })));
    expect(err.exitCode).toBe(31);
    expect(err.message).toMatch(/EAX/);
  });

  describe('public-key', () => {
    let dir: string;
    let keyFile: string;
    let privateKey: openpgp.PrivateKey;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'pgp-aead-'));
      const k = await openpgp.generateKey({ userIDs: [{ email: 'aead@test.invalid' }], type: 'ecc', curve: 'curve25519Legacy', passphrase: PASS, format: 'object',
        config: { ...base, aeadProtect: true } });
      privateKey = await openpgp.decryptKey({ privateKey: k.privateKey, passphrase: PASS });
      keyFile = join(dir, 'key.asc');
      writeFileSync(keyFile, k.privateKey.armor());
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reads PKESK v6 + SEIPD v2 written by openpgp.js to a v4 key', async () => {
      const msg = Buffer.from(await openpgp.encrypt({ message: await openpgp.createMessage({ binary: data }), encryptionKeys: privateKey.toPublic(),
        config: { aeadProtect: true, preferredAEADAlgorithm: aead.ocb, aeadChunkSizeByte: 8 }, format: 'binary' }) as Uint8Array);
      expect(tags(msg)[0]).toBe(1);
      expect(msg[2]).toBe(6); // PKESK version (after the 2-byte header)
      const ring = await loadKeyring({ keyFiles: [keyFile] });
      expect((await collect(decrypt(chunks(msg, 5000), { keyring: ring, passphrase: PASS }))).equals(data)).toBe(true);
    });

    it('reads PKESK v3 + AEAD packet (tag 20, OCB), gpg 2.4\'s public-key shape', async () => {
      const key = Buffer.from(sampleData(32, 99));
      const sub = privateKey.subkeys[0]!.keyPacket;
      const pkesk = (openpgp.PublicKeyEncryptedSessionKeyPacket as unknown as { fromObject(o: object): Packet & { encrypt(k: unknown): Promise<void> } })
        .fromObject({ version: 3, encryptionKeyPacket: sub, anonymousRecipient: false, sessionKey: key, sessionKeyAlgorithm: symmetric.aes256 });
      await pkesk.encrypt(sub);
      const msg = await bytes(packetList([pkesk, await aeadPacket(data, key, aead.ocb, 16)]).write());
      expect(tags(msg)).toEqual([1, 20]);
      const ring = await loadKeyring({ keyFiles: [keyFile] });
      expect((await collect(decrypt(chunks(msg, 5000), { keyring: ring, passphrase: PASS }))).equals(data)).toBe(true);
    });
  });
});
