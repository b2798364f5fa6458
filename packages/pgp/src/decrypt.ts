/**
 * Decrypting (and verifying) a message as `gpg --decrypt` does, streaming: session-key packets, then the
 * encrypted container, then compressed / one-pass-signature / literal / signature packets inside it. Memory is
 * bounded by one source chunk plus one 1 MiB step of decompressed output, whatever the message size. Checks happen where the data ends: the MDC after the
 * last plaintext byte, the signature after the literal data; the iterable throws there, so a consumer must not
 * treat output as valid until iteration completes.
 */
import { ByteReader } from './byte-reader.js';
import { packetBody, readPacketBody, readPacketHeader, skipPacketBody, Tag } from './packets.js';
import { openSeipd, openSeipdV1, seipdPlaintext } from './seipd.js';
import type { ParsedSignature } from './signature.js';
import { verifyDigest } from './key-material.js';
import { parsePkesk, parseSkesk, pkeskSessionKey, skeskSessionKey, type SessionKey, type Skesk } from './session-key.js';
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
    if (o.requireSigner !== undefined) {
      const good = results.filter((s) => s.status === 'good');
      const ok = good.some((s) => keyIdMatches(s.keyId, o.requireSigner!) || (s.primaryKeyId !== undefined && keyIdMatches(s.primaryKeyId, o.requireSigner!))
        || (s.fingerprint !== undefined && keyIdMatches(s.fingerprint, o.requireSigner!)));
      if (!ok) {
        const actual = good[0]?.keyId ?? 'None';
        throw new SignerError(`Volume was signed by key ${actual}, not ${o.requireSigner.replace(/^0x/i, '')}`);
      }
    }
  } catch (err) {
    if (err instanceof PgpError) throw err;
    throw new PgpError(`gpg-compatible decryption failed: ${describe(err)}`, undefined, { cause: err });
  } finally {
    await r.close();
  }
}

async function* decryptOuter(r: ByteReader, o: DecryptOptions, results: SignatureResult[]): AsyncGenerator<Uint8Array> {
  const pkesks: ReturnType<typeof parsePkesk>[] = [];
  const skesks: Skesk[] = [];
  for (;;) {
    const h = await readPacketHeader(r);
    if (!h) throw new Error('no encrypted data in the message');
    switch (h.tag) {
      case Tag.PKESK:
        pkesks.push(parsePkesk(await readPacketBody(r, h, 'public-key session key')));
        continue;
      case Tag.SKESK:
        skesks.push(parseSkesk(await readPacketBody(r, h, 'symmetric session key')));
        continue;
      case Tag.Marker:
      case Tag.Padding:
        await skipPacketBody(r, h);
        continue;
      case Tag.SEIPD: {
        const candidates = await sessionKeys(pkesks, skesks, o);
        if (h.length !== 0 && (await r.peek(1, 'SEIPD version'))[0] === 1) {
          const plaintext = await openSeipdV1(r, h, candidates.keys.filter((k): k is Required<SessionKey> => k.cipher !== undefined));
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
        return;
      }
      case Tag.AEAD: {
        const candidates = await sessionKeys(pkesks, skesks, o);
        yield* aeadMessage(r, new ByteReader(packetBody(r, h)), Tag.AEAD, candidates, o, results);
        return;
      }
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
async function sessionKeys(pkesks: ReturnType<typeof parsePkesk>[], skesks: Skesk[], o: DecryptOptions): Promise<{ keys: SessionKey[]; error?: PgpError }> {
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
  const level = new PacketLevel((p, sig) => checkSignature(p, sig, o, results));
  try {
    for await (const c of src) for await (const ready of level.push(c)) yield* ready;
    for await (const ready of level.finishAll()) yield* ready;
  } finally {
    level.close();
  }
}

function checkSignature(p: Pending, sig: ParsedSignature, o: DecryptOptions, results: SignatureResult[]): void {
  const keyId = sig.issuerFingerprint?.slice(-16) ?? sig.issuerKeyId ?? p.ops?.keyId ?? 'unknown';
  p.hash.update(sig.trailer);
  const digest = p.hash.digest();
  const entry = o.keyring?.byKeyId(keyId)[0];
  let result: SignatureResult;
  if (!entry) {
    result = { keyId, status: 'no-public-key' };
  } else {
    const ok = digest.subarray(0, 2).equals(sig.left16) && (sig.sigType === 0x00 || sig.sigType === 0x01)
      && safeVerify(entry, p.hashName, digest, sig);
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

function safeVerify(entry: KeyEntry, hashNode: string, digest: Buffer, sig: ParsedSignature): boolean {
  try {
    return verifyDigest(entry.packet, hashNode, digest, sig.fields);
  } catch {
    return false;
  }
}
