/**
 * Decrypting (and verifying) a message as `gpg --decrypt` does, streaming: session-key packets, then the
 * encrypted container, then compressed / one-pass-signature / literal / signature packets inside it. Memory is
 * bounded by one source chunk plus one 1 MiB step of decompressed output, whatever the message size. Checks happen where the data ends: the MDC after the
 * last plaintext byte, the signature after the literal data; the iterable throws there, so a consumer must not
 * treat output as valid until iteration completes.
 *
 * The work can be split across threads: recoverSessionKeys() opens the session-key packets where the keyring and
 * passphrase are, decrypt() with `sessionKeys` and `deferSignatures` then needs neither (a worker thread), and
 * checkSignatures() judges the deferred signature digests back where the keyring is.
 */
import { ByteReader } from './byte-reader.js';
import { packetBody, readPacketBody, readPacketHeader, skipPacketBody, Tag, type PacketHeader } from './packets.js';
import { openSeipd, openSeipdV1, seipdPlaintext } from './seipd.js';
import type { ParsedSignature } from './signature.js';
import { verifyDigest } from './key-material.js';
import { parsePkesk, parseSkesk, pkeskSessionKey, skeskSessionKey, type Pkesk, type SessionKey, type Skesk } from './session-key.js';
import { PgpError, SignerError, describe, EXIT_BAD_SIGNER } from './errors.js';
import type { Keyring, KeyEntry } from './keyring.js';
import { aeadPlaintext } from './aead.js';
import { PacketLevel, type Pending } from './plaintext-pass.js';

/** A signature found in a message. */
export interface SignatureResult {
  /** Long key id (16 hex) of the key that made the signature, as gpg's GOODSIG reports it. */
  keyId: string;
  /** Long key id of that key's primary key, when the key is in the keyring. */
  primaryKeyId?: string;
  fingerprint?: string;
  status: 'good' | 'bad' | 'no-public-key';
}

export interface DecryptOptions {
  keyring?: Keyring;
  /** Symmetric passphrase, or the passphrase of the secret key that decrypts (duplicity's PASSPHRASE). */
  passphrase?: string;
  /** Key id (8, 16 hex) or fingerprint the message must carry a good signature from (duplicity's --sign-key). */
  requireSigner?: string;
  /** Called once per signature after it was checked. */
  onSignature?: (s: SignatureResult) => void;
  /**
   * Session keys recovered beforehand (recoverSessionKeys()); the message's session-key packets are then only
   * counted, not opened, so neither keyring nor passphrase is needed.
   */
  sessionKeys?: SessionKey[];
  /**
   * Signatures are not judged here: each one's digest goes to this callback, for checkSignatures() where the
   * keyring is. `requireSigner` is then not enforced here either; checkSignatures() does it.
   */
  deferSignatures?: (s: SignedDigest) => void;
  /**
   * The output pieces may be views of buffers decryption reuses: each is valid only until the next is asked
   * for. Saves a fresh buffer per MiB of decompressed data for consumers that copy what they keep.
   */
  reuseOutput?: boolean;
}

/**
 * A signature with the digest of the data it signs, everything needed to judge it with a keyring. Plain data, so
 * it can cross to another thread (which turns its Buffers into Uint8Arrays).
 */
export interface SignedDigest {
  keyId: string;
  hashName: string;
  digest: Uint8Array;
  sigType: number;
  left16: Uint8Array;
  fields: Uint8Array[];
}

const ZERO_KEY_ID = '0000000000000000';


/** True when `actual` (a key id or fingerprint) names the key `wanted`, comparing the common suffix as duplicity does. */
export function keyIdMatches(actual: string, wanted: string): boolean {
  const a = actual.replace(/^0x/i, '').toUpperCase();
  const w = wanted.replace(/^0x/i, '').toUpperCase();
  const n = Math.min(a.length, w.length);
  return n > 0 && a.slice(-n) === w.slice(-n);
}

export function decrypt(src: AsyncIterable<Uint8Array>, o: DecryptOptions): AsyncIterable<Uint8Array> {
  return decryptMessage(src, o);
}

async function* decryptMessage(src: AsyncIterable<Uint8Array>, o: DecryptOptions): AsyncGenerator<Uint8Array> {
  const r = new ByteReader(src);
  try {
    const results: SignatureResult[] = [];
    yield* decryptOuter(r, o, results);
    if (!o.deferSignatures) checkRequiredSigner(results, o);
  } catch (err) {
    throw asPgpError(err);
  } finally {
    await r.close();
  }
}

function asPgpError(err: unknown): PgpError {
  if (err instanceof PgpError) return err;
  return new PgpError(`gpg-compatible decryption failed: ${describe(err)}`, undefined, { cause: err });
}

/** Throws unless `requireSigner` (if any) made one of the good signatures. */
function checkRequiredSigner(results: SignatureResult[], o: DecryptOptions): void {
  if (o.requireSigner === undefined) return;
  const good = results.filter((s) => s.status === 'good');
  const ok = good.some((s) => keyIdMatches(s.keyId, o.requireSigner!) || (s.primaryKeyId !== undefined && keyIdMatches(s.primaryKeyId, o.requireSigner!))
    || (s.fingerprint !== undefined && keyIdMatches(s.fingerprint, o.requireSigner!)));
  if (!ok) {
    const actual = good[0]?.keyId ?? 'None';
    throw new SignerError(`Volume was signed by key ${actual}, not ${o.requireSigner.replace(/^0x/i, '')}`);
  }
}

/**
 * The session keys of the message in `src` (read up to its encrypted container), recovered with `o`'s keyring
 * and passphrase, for decrypt()'s `sessionKeys`. Throws what decrypt() would throw when none can be recovered.
 * A key that fails the container's quick check is only found out by decrypt().
 */
export async function recoverSessionKeys(src: AsyncIterable<Uint8Array>, o: DecryptOptions): Promise<SessionKey[]> {
  const r = new ByteReader(src);
  try {
    const { pkesks, skesks } = await sessionPackets(r);
    const candidates = await sessionKeys(pkesks, skesks, o);
    if (candidates.keys.length === 0) throw noFittingKey(candidates, pkesks.length, skesks.length);
    return candidates.keys;
  } catch (err) {
    throw asPgpError(err);
  } finally {
    await r.close();
  }
}

/** Judges deferred signatures (see DecryptOptions.deferSignatures) as decrypt() would have; throws where it would. */
export function checkSignatures(signed: SignedDigest[], o: DecryptOptions): SignatureResult[] {
  const results: SignatureResult[] = [];
  for (const s of signed) judgeSignature(s, o, results);
  checkRequiredSigner(results, o);
  return results;
}

/**
 * Reads the packets before the encrypted container: the session-key packets, and the container's header (left
 * unread in `r`). Refuses messages that are not encrypted or lack integrity protection.
 */
async function sessionPackets(r: ByteReader): Promise<{ pkesks: Pkesk[]; skesks: Skesk[]; h: PacketHeader }> {
  const pkesks: Pkesk[] = [];
  const skesks: Skesk[] = [];
  for (;;) {
    const h = await readPacketHeader(r);
    if (!h) throw new Error('no encrypted data in the message');
    switch (h.tag) {
      case Tag.PKESK:
        pkesks.push(await parsePkesk(await readPacketBody(r, h, 'public-key session key')));
        continue;
      case Tag.SKESK:
        skesks.push(parseSkesk(await readPacketBody(r, h, 'symmetric session key')));
        continue;
      case Tag.Marker:
      case Tag.Padding:
        await skipPacketBody(r, h);
        continue;
      case Tag.SEIPD:
      case Tag.AEAD:
        return { pkesks, skesks, h };
      case Tag.SymEncrypted:
        throw new PgpError('the message is encrypted without integrity protection (no MDC); refusing it');
      case Tag.Compressed:
      case Tag.Literal:
      case Tag.OnePassSignature:
      case Tag.Signature:
        // A server could swap in plaintext for an encrypted file; a backup volume is never legitimately unencrypted.
        throw new PgpError('the message is not encrypted');
      default:
        throw new Error(`unexpected packet (tag ${h.tag}) before the encrypted data`);
    }
  }
}

async function* decryptOuter(r: ByteReader, o: DecryptOptions, results: SignatureResult[]): AsyncGenerator<Uint8Array> {
  const { pkesks, skesks, h } = await sessionPackets(r);
  const candidates = o.sessionKeys ? { keys: o.sessionKeys } : await sessionKeys(pkesks, skesks, o);
  if (h.tag === Tag.AEAD) {
    yield* aeadMessage(r, new ByteReader(packetBody(r, h)), Tag.AEAD, candidates, o, results);
    return;
  }
  if (h.length !== 0 && (await r.peek(1, 'SEIPD version'))[0] === 1) {
    const plaintext = await openSeipdV1(r, h, candidates.keys.filter((k): k is Required<SessionKey> => k.cipher !== undefined),
      { reuseOutput: o.reuseOutput });
    if (!plaintext) throw noFittingKey(candidates, pkesks.length, skesks.length);
    yield* inner(plaintext, o, results);
    if (!(await r.atEnd())) throw new Error('trailing data after the encrypted packet');
    return;
  }
  const body = new ByteReader(packetBody(r, h));
  if ((await body.peek(1, 'SEIPD version'))[0] === 2) {
    yield* aeadMessage(r, body, Tag.SEIPD, candidates, o, results);
    return;
  }
  const opened = await openSeipd(body, candidates.keys.filter((k): k is Required<SessionKey> => k.cipher !== undefined));
  if (!opened) throw noFittingKey(candidates, pkesks.length, skesks.length);
  yield* inner(batches(seipdPlaintext(body, opened)), o, results);
  if (!(await r.atEnd())) throw new Error('trailing data after the encrypted packet');
}

/** The rest of a message whose encrypted container is an AEAD packet (tag 20) or a SEIPD v2 packet. */
async function* aeadMessage(r: ByteReader, body: ByteReader, tag: number, candidates: { keys: SessionKey[]; error?: PgpError }, o: DecryptOptions,
  results: SignatureResult[]): AsyncGenerator<Uint8Array> {
  if (candidates.keys.length === 0) throw candidates.error ?? new PgpError('no session key for the encrypted data');
  yield* inner(batches(aeadPlaintext(body, tag, candidates.keys)), o, results);
  if (!(await r.atEnd())) throw new Error('trailing data after the encrypted packet');
}

function noFittingKey(candidates: { keys: SessionKey[]; error?: PgpError }, pkesks: number, skesks: number): PgpError {
  if (candidates.keys.length === 0 && candidates.error) return candidates.error;
  return new PgpError(skesks && !pkesks
    ? 'wrong passphrase (the decrypted session key fails the quick check)'
    : candidates.error?.message ?? 'decryption failed: no session key fits the encrypted data');
}

/** Every session key we can recover, in the order gpg tries them; `error` explains why others failed. */
async function sessionKeys(pkesks: Pkesk[], skesks: Skesk[], o: DecryptOptions): Promise<{ keys: SessionKey[]; error?: PgpError }> {
  const keys: SessionKey[] = [];
  let error: PgpError | undefined;
  const missing: string[] = [];
  for (const p of pkesks) {
    const id = p.publicKeyID.toHex().toUpperCase();
    let entries: KeyEntry[];
    if (id === ZERO_KEY_ID) {
      entries = (o.keyring?.secretEntries() ?? []).filter((e) => e.packet.algorithm === p.publicKeyAlgorithm);
    } else {
      entries = (o.keyring?.byKeyId(id) ?? []).filter((e) => e.secret);
      if (entries.length === 0) missing.push(id);
    }
    for (const e of entries) {
      try {
        const secret = await e.unlock(o.passphrase, 'PASSPHRASE');
        keys.push(await pkeskSessionKey(p, secret));
        return { keys };
      } catch (err) {
        if (err instanceof PgpError) error ??= err;
        // Anonymous recipients: a failing key is simply not the right one.
        else if (id !== ZERO_KEY_ID) error ??= new PgpError(`failed to decrypt the session key for ${e.describe()}: ${describe(err)}`);
      }
    }
  }
  for (const s of skesks) {
    if (o.passphrase === undefined) {
      error ??= new PgpError('the message is encrypted with a passphrase and none was given: set PASSPHRASE');
      continue;
    }
    try {
      const k = skeskSessionKey(s, o.passphrase);
      if (k) keys.push(k);
      else error ??= new PgpError('wrong passphrase (the session key does not decrypt)');
    } catch (err) {
      error ??= new PgpError(`cannot use the passphrase-encrypted session key: ${describe(err)}`);
    }
  }
  if (keys.length === 0 && !error) {
    if (missing.length) error = new PgpError(`no secret key for the message: it is encrypted to key ${missing.join(', ')}`);
    else if (pkesks.length) error = new PgpError('no secret key in the keyring decrypts the message (anonymous recipient)');
    else error = new PgpError('the message has no session key packet');
  }
  return { keys, error };
}

async function* batches(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array[]> {
  for await (const c of src) yield [c];
}

/** The packets inside the encrypted container, one synchronous pass per chunk (plaintext-pass.ts). */
async function* inner(src: AsyncIterable<Uint8Array[]>, o: DecryptOptions, results: SignatureResult[]): AsyncGenerator<Uint8Array> {
  const level = new PacketLevel((p, sig) => checkSignature(p, sig, o, results), 0, o.reuseOutput === true);
  try {
    for await (const c of src) for await (const ready of level.push(c)) yield* ready;
    for await (const ready of level.finishAll()) yield* ready;
  } finally {
    level.close();
  }
}

function checkSignature(p: Pending, sig: ParsedSignature, o: DecryptOptions, results: SignatureResult[]): void {
  const keyId = sig.issuerFingerprint?.slice(-16) ?? sig.issuerKeyId ?? p.ops?.keyId ?? 'unknown';
  // A pooled hash (plaintext-pass.ts) arrives finished, trailer included.
  const digest = p.digest ?? p.hash.update(sig.trailer).digest();
  const signed: SignedDigest = { keyId, hashName: p.hashName, digest, sigType: sig.sigType, left16: sig.left16, fields: sig.fields };
  if (o.deferSignatures) o.deferSignatures(signed);
  else judgeSignature(signed, o, results);
}

/** A Buffer over the same bytes: structured cloning (a worker's messages) turns Buffers into Uint8Arrays. */
function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function judgeSignature(s: SignedDigest, o: DecryptOptions, results: SignatureResult[]): void {
  const { keyId } = s;
  const digest = asBuffer(s.digest);
  const entry = o.keyring?.byKeyId(keyId)[0];
  let result: SignatureResult;
  if (!entry) {
    result = { keyId, status: 'no-public-key' };
  } else {
    const ok = digest.subarray(0, 2).equals(asBuffer(s.left16)) && (s.sigType === 0x00 || s.sigType === 0x01)
      && safeVerify(entry, s.hashName, digest, s.fields.map(asBuffer));
    result = { keyId, primaryKeyId: entry.cert.primary.keyId, fingerprint: entry.fingerprint, status: ok ? 'good' : 'bad' };
  }
  results.push(result);
  o.onSignature?.(result);
  if (result.status === 'bad') {
    const msg = `bad signature from key ${keyId}: the data or the signature was altered`;
    throw o.requireSigner !== undefined ? new SignerError(msg) : new PgpError(msg);
  }
  if (result.status === 'no-public-key' && o.requireSigner !== undefined && keyIdMatches(keyId, o.requireSigner)) {
    throw new PgpError(`cannot check the signature of key ${keyId}: its public key is not in the keyring`, EXIT_BAD_SIGNER);
  }
}

function safeVerify(entry: KeyEntry, hashNode: string, digest: Buffer, fields: Buffer[]): boolean {
  try {
    return verifyDigest(entry.packet, hashNode, digest, fields);
  } catch {
    return false;
  }
}
