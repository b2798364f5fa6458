/**
 * Keys as gpg finds them, without running gpg: public keys from `$GNUPGHOME/pubring.kbx` (keybox) or
 * `pubring.gpg`, secret keys from `private-keys-v1.d` (gpg-agent format, see agent-key.ts) or gpg 1.x
 * `secring.gpg`, plus armored or binary key files. Certificates are parsed by openpgp.js; this module indexes
 * them by key id, fingerprint (primary and subkeys) and user id, and unlocks secret keys on demand.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type * as openpgp from 'openpgp';
import { openpgpModule } from './openpgp-module.js';
import { splitPackets, Tag } from './packets.js';
import { readAgentKey, WrongPassphraseError, MissingPassphraseError, type AgentKey } from './agent-key.js';
import { encodeMpi, stripZeros } from './mpi.js';
import { PgpError, describe } from './errors.js';
import { OPENPGP_CONFIG } from './openpgp-config.js';
import { clearSecretBody, decryptSecretMpis, readSecretPacket, SecretKeyChecksumError } from './secret-key-packet.js';
import { PK_DSA, PK_ECDH, PK_ECDSA, PK_EDDSA_LEGACY, PK_ELGAMAL, PK_RSA, PK_RSA_ENCRYPT, PK_RSA_SIGN, type KeyParams } from './key-material.js';

/** What callers may learn about a key. */
export interface KeyInfo {
  fingerprint: string;
  keyId: string;
  userIds: string[];
  hasSecret: boolean;
  subkeys: { fingerprint: string; keyId: string; hasSecret: boolean }[];
}

/** An openpgp.js key packet with the fields we use (the library's typings leave them loose). */
export interface KeyPacket extends KeyParams {
  getKeyID(): { toHex(): string };
  getFingerprint(): string;
  getFingerprintBytes(): Uint8Array | null;
  write(): Uint8Array;
  version: number;
  isDecrypted?(): boolean | null;
  isDummy?(): boolean;
  decrypt?(passphrase: string): Promise<void>;
  writePublicKey?(): Uint8Array;
  validate?(): Promise<void>;
}

interface SecretSource {
  unlock(passphrase: string | undefined): Promise<KeyPacket>;
}

/** One primary key or subkey of a certificate. */
export class KeyEntry {
  secret?: SecretSource;
  private unlocked?: KeyPacket;
  private unlocking?: { passphrase: string | undefined; promise: Promise<KeyPacket> };
  constructor(readonly cert: Certificate, readonly packet: KeyPacket, readonly primary: boolean) {}
  get keyId(): string {
    return this.packet.getKeyID().toHex().toUpperCase();
  }
  get fingerprint(): string {
    return this.packet.getFingerprint().toUpperCase();
  }
  /**
   * The decrypted secret key packet. `passphraseVar` names the environment variable the user sets, for the
   * error message when a passphrase is missing.
   */
  unlock(passphrase: string | undefined, passphraseVar: string): Promise<KeyPacket> {
    if (this.unlocked) return Promise.resolve(this.unlocked);
    // One unlock however many messages ask at once with the same passphrase (a signature file may start while a
    // volume is being signed); a failed one is forgotten, so another passphrase can be tried.
    if (this.unlocking && this.unlocking.passphrase === passphrase) return this.unlocking.promise;
    const promise = this.unlockOnce(passphrase, passphraseVar);
    this.unlocking = { passphrase, promise };
    promise.catch(() => {
      if (this.unlocking?.promise === promise) this.unlocking = undefined;
    });
    return promise;
  }
  private async unlockOnce(passphrase: string | undefined, passphraseVar: string): Promise<KeyPacket> {
    if (this.unlocked) return this.unlocked;
    if (!this.secret) throw new PgpError(`no secret key for ${this.describe()}`);
    try {
      this.unlocked = await this.secret.unlock(passphrase);
    } catch (err) {
      if (err instanceof PgpError) throw err;
      if (err instanceof MissingPassphraseError) {
        throw new PgpError(`secret key ${this.describe()} is protected by a passphrase and none was given: set ${passphraseVar}`);
      }
      if (err instanceof WrongPassphraseError || /passphrase/i.test(describe(err))) {
        throw new PgpError(`wrong passphrase for secret key ${this.describe()} (from ${passphraseVar})`);
      }
      throw new PgpError(`failed to unlock secret key ${this.describe()}: ${describe(err)}`);
    }
    return this.unlocked;
  }
  describe(): string {
    const uid = this.cert.userIds[0];
    return `${this.keyId}${uid ? ` (${uid})` : ''}`;
  }
}

export class Certificate {
  readonly entries: KeyEntry[];
  constructor(readonly key: openpgp.Key) {
    this.entries = [
      new KeyEntry(this, key.keyPacket as unknown as KeyPacket, true),
      ...key.subkeys.map((s) => new KeyEntry(this, s.keyPacket as unknown as KeyPacket, false)),
    ];
  }
  get userIds(): string[] {
    return this.key.getUserIDs();
  }
  get primary(): KeyEntry {
    return this.entries[0]!;
  }
  entry(fingerprint: string): KeyEntry | undefined {
    return this.entries.find((e) => e.fingerprint === fingerprint);
  }
  /** The key gpg encrypts to: the newest valid encryption-capable subkey, else the primary. */
  async encryptionEntry(): Promise<KeyEntry> {
    let k;
    try {
      k = await this.key.getEncryptionKey(undefined, new Date(), undefined, OPENPGP_CONFIG);
    } catch (err) {
      throw new PgpError(`key ${this.primary.describe()} has no usable encryption key: ${describe(err)}`);
    }
    return this.entry((k.keyPacket as unknown as KeyPacket).getFingerprint().toUpperCase())!;
  }
  /** The key gpg signs with: the newest valid signing-capable (sub)key that has a secret part. */
  async signingEntry(): Promise<KeyEntry> {
    const candidates = this.entries.filter((e) => e.secret);
    if (candidates.length === 0) throw new PgpError(`no secret key for signing key ${this.primary.describe()}`);
    let k;
    try {
      k = await this.key.getSigningKey(undefined, new Date(), undefined, OPENPGP_CONFIG);
    } catch (err) {
      // getSigningKey refuses some locked or partial secret keys; fall back to a secret primary key.
      if (this.primary.secret) return this.primary;
      throw new PgpError(`key ${this.primary.describe()} has no usable signing key: ${describe(err)}`);
    }
    const e = this.entry((k.keyPacket as unknown as KeyPacket).getFingerprint().toUpperCase())!;
    if (!e.secret) throw new PgpError(`no secret key for signing key ${e.describe()}`);
    return e;
  }
}

function isHexId(q: string): string | undefined {
  const s = q.replace(/^0x/i, '').replace(/\s+/g, '').toUpperCase();
  if (/^[0-9A-F]+$/.test(s) && [8, 16, 32, 40, 64].includes(s.length)) return s;
  return undefined;
}

export class Keyring {
  readonly certificates: Certificate[] = [];
  /** Problems met while loading (unreadable key files, unsupported keys); loading itself does not fail on them. */
  readonly warnings: string[] = [];

  /** Adds a certificate, or attaches the secret parts of `key` to the certificate already present. */
  add(key: openpgp.Key): Certificate {
    const fpr = key.getFingerprint().toUpperCase();
    let cert = this.certificates.find((c) => c.primary.fingerprint === fpr);
    if (!cert) {
      cert = new Certificate(key);
      this.certificates.push(cert);
    }
    if (key.isPrivate()) {
      const packets = [key.keyPacket, ...key.subkeys.map((s) => s.keyPacket)] as unknown as KeyPacket[];
      for (const p of packets) {
        if (p.isDummy?.()) continue;
        const e = cert.entry(p.getFingerprint().toUpperCase());
        if (e && !e.secret) e.secret = openpgpSecret(p, e.primary);
      }
    }
    return cert;
  }

  /** All keys matching `query` (key id, fingerprint, `<email>` or user-id substring), in keyring order. */
  findAll(query: string): { cert: Certificate; entry?: KeyEntry }[] {
    const hex = isHexId(query);
    const out: { cert: Certificate; entry?: KeyEntry }[] = [];
    for (const cert of this.certificates) {
      if (hex) {
        const e = cert.entries.find((x) => x.fingerprint.endsWith(hex));
        if (e) out.push({ cert, entry: e });
        continue;
      }
      const q = query.startsWith('=') ? query.slice(1) : query.toLowerCase();
      const hit = cert.userIds.some((u) => {
        if (query.startsWith('=')) return u === q;
        if (query.startsWith('<')) return u.toLowerCase().includes(q);
        return u.toLowerCase().includes(q.replace(/^\*/, ''));
      });
      if (hit) out.push({ cert });
    }
    return out;
  }

  /** The first certificate matching `query`, or an error naming it. */
  find(query: string, role: string): Certificate {
    const m = this.findAll(query);
    if (m.length === 0) throw new PgpError(`${role} ${query} not found in the keyring`);
    return m[0]!.cert;
  }

  /** Entries whose key id (last 16 hex digits of the fingerprint) is `keyId`. */
  byKeyId(keyId: string): KeyEntry[] {
    const id = keyId.toUpperCase();
    return this.certificates.flatMap((c) => c.entries.filter((e) => e.keyId === id));
  }

  /** Every (sub)key with a secret part. */
  secretEntries(): KeyEntry[] {
    return this.certificates.flatMap((c) => c.entries.filter((e) => e.secret));
  }

  keys(): KeyInfo[] {
    return this.certificates.map((c) => ({
      fingerprint: c.primary.fingerprint,
      keyId: c.primary.keyId,
      userIds: c.userIds,
      hasSecret: !!c.primary.secret,
      subkeys: c.entries.slice(1).map((e) => ({ fingerprint: e.fingerprint, keyId: e.keyId, hasSecret: !!e.secret })),
    }));
  }
}

/** Decrypts a protected openpgp.js secret key packet with openpgp.js itself (protections we do not handle). */
async function openpgpDecrypt(p: KeyPacket, passphrase: string): Promise<KeyPacket> {
  try {
    await p.decrypt!(passphrase);
  } catch (err) {
    if (/passphrase|checksum|decrypt/i.test(describe(err))) throw new WrongPassphraseError('bad passphrase');
    throw err;
  }
  return p;
}

/**
 * A version 4 secret key packet: `publicBody` is the public key packet body, `secretPart` what follows it
 * (S2K usage, cipher, S2K, IV, encrypted MPIs). Decrypted natively (secret-key-packet.ts); protections we do not
 * handle go to openpgp.js.
 */
function packetSecret(primary: boolean, publicBody: Uint8Array, secretPart: Buffer): SecretSource {
  const whole = () => readSecretPacket<KeyPacket>(primary, Buffer.concat([publicBody, secretPart]));
  return {
    async unlock(passphrase) {
      if (secretPart[0] === 0) return whole();
      if (passphrase === undefined) throw new MissingPassphraseError('no passphrase');
      let mpis: Buffer | undefined;
      try {
        mpis = decryptSecretMpis(secretPart, passphrase);
      } catch (err) {
        if (err instanceof SecretKeyChecksumError) throw new WrongPassphraseError('bad passphrase');
        throw err;
      }
      if (!mpis) return openpgpDecrypt(await whole(), passphrase);
      try {
        return await readSecretPacket<KeyPacket>(primary, clearSecretBody(publicBody, mpis));
      } catch {
        // A check value that passed by chance (1 in 65536 with the 16-bit checksum) leaves garbage MPIs.
        throw new WrongPassphraseError('bad passphrase');
      }
    },
  };
}

/** The secret source of an openpgp.js secret key packet (from a key file or secring.gpg). */
function openpgpSecret(p: KeyPacket, primary: boolean): SecretSource {
  if (p.isDecrypted?.()) return { unlock: async () => p };
  const whole = Buffer.from(p.write());
  const publicBody = Buffer.from(p.writePublicKey!());
  if (p.version === 4 && whole.subarray(0, publicBody.length).equals(publicBody)) {
    return packetSecret(primary, publicBody, whole.subarray(publicBody.length));
  }
  return {
    async unlock(passphrase) {
      if (passphrase === undefined) throw new MissingPassphraseError('no passphrase');
      return openpgpDecrypt(p, passphrase);
    },
  };
}

/** The value that matches an OpenPGP key packet to a gpg-agent key file (see AgentKey.matchValue). */
function matchValue(p: KeyPacket): string | undefined {
  const pp = p.publicParams as Record<string, Uint8Array>;
  const v = p.algorithm === PK_RSA || p.algorithm === PK_RSA_ENCRYPT || p.algorithm === PK_RSA_SIGN ? pp.n
    : p.algorithm === PK_DSA || p.algorithm === PK_ELGAMAL ? pp.y : pp.Q;
  return v ? stripZeros(v).toString('hex') : undefined;
}

/** Builds an unprotected openpgp.js secret key packet from a public packet and gpg-agent's secret parameters. */
async function agentSecretPacket(pub: KeyPacket, primary: boolean, s: Record<string, Buffer>): Promise<KeyPacket> {
  const orders: Buffer[][] = [];
  switch (pub.algorithm) {
    case PK_RSA: case PK_RSA_ENCRYPT: case PK_RSA_SIGN:
      orders.push([s.d!, s.p!, s.q!, s.u!]);
      break;
    case PK_DSA: case PK_ELGAMAL:
      orders.push([s.x!]);
      break;
    case PK_ECDH:
      // gpg-agent may hold the Curve25519 scalar in either byte order relative to OpenPGP's MPI; validate() picks.
      orders.push([s.d!], [Buffer.from(s.d!).reverse()]);
      break;
    case PK_EDDSA_LEGACY:
    case PK_ECDSA:
      orders.push([s.d!]);
      break;
    default:
      throw new Error(`unsupported key algorithm ${pub.algorithm}`);
  }
  let lastErr: unknown;
  for (const mpis of orders) {
    const pkt = await readSecretPacket<KeyPacket>(primary, clearSecretBody(pub.write(), Buffer.concat(mpis.map((m) => encodeMpi(m)))));
    try {
      await pkt.validate!();
      return pkt;
    } catch (err) {
      lastErr = err;
    }
  }
  throw new Error(`secret key parameters do not match the public key: ${describe(lastErr)}`);
}

/** Splits a binary keyring into one byte run per certificate, dropping gpg's trust packets. */
function certificateBlocks(bin: Uint8Array): Buffer[] {
  const blocks: Buffer[][] = [];
  for (const p of splitPackets(bin)) {
    if (p.tag === Tag.Trust) continue;
    if (p.tag === Tag.PublicKey || p.tag === Tag.SecretKey) blocks.push([]);
    blocks.at(-1)?.push(p.raw);
  }
  return blocks.map((b) => Buffer.concat(b));
}

/** The OpenPGP keyblocks in a keybox file (pubring.kbx): blobs of type 2 point at their keyblock. */
function keyboxBlocks(kbx: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + 16 <= kbx.length) {
    const len = kbx.readUInt32BE(off);
    if (len < 5 || off + len > kbx.length) throw new Error(`bad keybox blob at offset ${off}`);
    const type = kbx[off + 4];
    if (type === 2) {
      const kbOff = kbx.readUInt32BE(off + 8);
      const kbLen = kbx.readUInt32BE(off + 12);
      if (kbOff + kbLen > len) throw new Error(`bad keybox blob at offset ${off}`);
      out.push(kbx.subarray(off + kbOff, off + kbOff + kbLen));
    }
    off += len;
  }
  return out;
}

async function addBinary(ring: Keyring, bin: Uint8Array, source: string): Promise<void> {
  const pgp = await openpgpModule();
  for (const block of certificateBlocks(bin)) {
    try {
      const isSecret = block[0] !== undefined && ((block[0] & 0x40 ? block[0] & 0x3f : (block[0] >> 2) & 0xf) === Tag.SecretKey);
      const key = isSecret
        ? await pgp.readPrivateKey({ binaryKey: block, config: OPENPGP_CONFIG })
        : await pgp.readKey({ binaryKey: block, config: OPENPGP_CONFIG });
      ring.add(key);
    } catch (err) {
      ring.warnings.push(`skipped a key in ${source}: ${describe(err)}`);
    }
  }
}

async function addKeyFile(ring: Keyring, path: string): Promise<void> {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new PgpError(`failed to read key file ${path}: ${describe(err)}`);
  }
  // A keybox (gpg's --keyring may name one): its first blob is the header, type 1 with magic "KBXf" at offset 8.
  if (data.length >= 32 && data[4] === 1 && data.toString('latin1', 8, 12) === 'KBXf') {
    try {
      for (const block of keyboxBlocks(data)) await addBinary(ring, block, path);
    } catch (err) {
      throw new PgpError(`failed to read keybox ${path}: ${describe(err)}`);
    }
    return;
  }
  const text = data.toString('latin1');
  if (!text.includes('-----BEGIN PGP')) {
    await addBinary(ring, data, path);
    return;
  }
  const blocks = text.match(/-----BEGIN PGP [A-Z ]+-----[\s\S]*?-----END PGP [A-Z ]+-----/g) ?? [];
  for (const armored of blocks) {
    try {
      const { data: bin } = await (await openpgpModule()).unarmor(armored, OPENPGP_CONFIG);
      await addBinary(ring, bin as Uint8Array, path);
    } catch (err) {
      throw new PgpError(`failed to read key file ${path}: ${describe(err)}`);
    }
  }
}

function attachAgentKeys(ring: Keyring, dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.key'));
  } catch {
    return;
  }
  const agentKeys = new Map<string, AgentKey>();
  for (const n of names) {
    try {
      const k = readAgentKey(join(dir, n));
      agentKeys.set(k.matchValue.toString('hex'), k);
    } catch (err) {
      ring.warnings.push(`skipped secret key file ${join(dir, n)}: ${describe(err)}`);
    }
  }
  for (const cert of ring.certificates) {
    for (const e of cert.entries) {
      if (e.secret) continue;
      const mv = matchValue(e.packet);
      const ak = mv ? agentKeys.get(mv) : undefined;
      if (!ak) continue;
      const native = ak.openpgpNative;
      e.secret = native
        ? packetSecret(e.primary, e.packet.write(), native)
        : {
            unlock: async (passphrase) => {
              await ak.prepare(passphrase);
              return agentSecretPacket(e.packet, e.primary, ak.unlock(passphrase));
            },
          };
    }
  }
}

/**
 * Loads keys from a GnuPG home (default `$GNUPGHOME` or `~/.gnupg`) and/or key files (armored, binary keyrings or
 * keyboxes). `noDefaultKeyring` (gpg's --no-default-keyring) skips the home's public keyrings but still takes its
 * secret keys from private-keys-v1.d.
 */
export async function loadKeyring(opts: { gnupgHome?: string; keyFiles?: string[]; noDefaultKeyring?: boolean } = {}): Promise<Keyring> {
  const ring = new Keyring();
  const useHome = opts.gnupgHome !== undefined || !opts.keyFiles?.length;
  if (useHome && !opts.noDefaultKeyring) {
    const home = opts.gnupgHome ?? process.env.GNUPGHOME ?? join(homedir(), '.gnupg');
    const kbx = join(home, 'pubring.kbx');
    const gpgRing = join(home, 'pubring.gpg');
    try {
      if (existsSync(kbx)) {
        for (const block of keyboxBlocks(readFileSync(kbx))) await addBinary(ring, block, kbx);
      }
      if (existsSync(gpgRing)) await addBinary(ring, readFileSync(gpgRing), gpgRing);
      const secring = join(home, 'secring.gpg');
      if (existsSync(secring)) await addBinary(ring, readFileSync(secring), secring);
    } catch (err) {
      throw new PgpError(`failed to read the GnuPG keyring in ${home}: ${describe(err)}`);
    }
  }
  for (const f of opts.keyFiles ?? []) await addKeyFile(ring, f);
  if (useHome) attachAgentKeys(ring, join(opts.gnupgHome ?? process.env.GNUPGHOME ?? join(homedir(), '.gnupg'), 'private-keys-v1.d'));
  return ring;
}
