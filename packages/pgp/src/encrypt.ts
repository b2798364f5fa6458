/**
 * Encrypting (and signing) a message the way gpg 2.2 writes it for duplicity: session-key packets, then SEIPD v1
 * with MDC (AES-256) holding a Compressed packet (ZLIB, or ZIP for passphrase-only as gpg does) holding an
 * optional One-Pass Signature, the Literal data ('b', empty name) and the Signature. Streams with back-pressure;
 * every layer uses 64 KiB partial body lengths.
 */
import { createHash, randomBytes } from 'node:crypto';
import { AES256, cipherInfo, hashName, hashSize } from './cipher-algorithms.js';
import { encodePacket, PartialBodyWriter, Tag } from './packets.js';
import { poolDigest, sealerAvailable } from '@duplicity-ts/libdeflate';
import { SeipdWriter, sealedSeipd } from './seipd.js';
import { ALGO_ZIP, ALGO_ZLIB } from './compression.js';
import { parallelDeflate } from './parallel-deflate.js';
import { encodeOnePass, encodeSignature, signatureHead } from './signature.js';
import { canSignNatively, preferredHash, signDigest, PK_DSA, PK_ECDSA } from './key-material.js';
import { encodePkesk, encodeSkesk, type SessionKey } from './session-key.js';
import { PgpError, describe } from './errors.js';
import type { Keyring, KeyEntry, KeyPacket } from './keyring.js';

export interface EncryptOptions {
  keyring?: Keyring;
  /** Keys to encrypt to (gpg --recipient): key id, fingerprint or user id. */
  recipients?: string[];
  /** Keys to encrypt to without naming them in the message (gpg --hidden-recipient). */
  hiddenRecipients?: string[];
  /** Symmetric passphrase (gpg --symmetric). May be combined with recipients. */
  passphrase?: string;
  /** Key to sign with (gpg --default-key ... --sign). */
  signKey?: string;
  /** Passphrase of the sign key (duplicity's SIGN_PASSPHRASE). */
  signPassphrase?: string;
  /** Compress inside the message (default true). */
  compress?: boolean;
  /**
   * The Compressed packet's algorithm (RFC 4880 §9.3): 0 none (no Compressed packet), 1 ZIP, 2 ZLIB. Default as gpg
   * writes for duplicity: ZLIB with recipients, ZIP for passphrase-only messages.
   */
  compressAlgo?: number;
  /** The session cipher (RFC 4880 §9.2 id, gpg's --cipher-algo); default AES-256. */
  cipher?: number;
  /** The signature's hash (RFC 4880 §9.4 id, gpg's --digest-algo); default SHA-512 as gpg (DSA: its q size). */
  digest?: number;
  /**
   * Level 0-9 (gpg's -z). Default: parallel-deflate.ts's DEFAULT_LEVEL (ISA-L's level 3 where the addon has it,
   * else the cheapest level whose output is still no bigger than gpg's). Level 0 writes no Compressed packet, as
   * gpg's -z 0.
   */
  compressLevel?: number;
  /**
   * Kept up to date with the plaintext bytes taken in but not yet out as ciphertext (the deflate
   * segments being filled or compressed, a few MiB). A caller cutting the output into volumes of a
   * given size counts them as if stored, so a volume does not overshoot by that much.
   */
  held?: { bytes: number };
  /**
   * Each piece yielded is valid only until the next one is asked for: the output buffers are reused (a consumer
   * that writes every piece before asking for more, as a volume file does). Spares the garbage collector ~1 GiB
   * of fresh buffers per GiB encrypted.
   */
  reuseOutput?: boolean;
}

/**
 * The signing key as encryption starts: what the One-Pass Signature needs comes from the public key, and the secret
 * key is being unlocked meanwhile (its S2K on the thread pool, ~0.2 s for gpg-agent's calibrated counts), awaited
 * only for the signature at the end; a failed unlock stops the message at the next piece.
 */
interface Signer { entry: KeyEntry; algorithm: number; secret: Promise<KeyPacket>; failed: boolean; hash: { id: number; node: string } }

export function encrypt(src: AsyncIterable<Uint8Array>, o: EncryptOptions): AsyncIterable<Uint8Array> {
  return encryptMessage(src, o);
}

async function* encryptMessage(src: AsyncIterable<Uint8Array>, o: EncryptOptions): AsyncGenerator<Uint8Array> {
  let head: Buffer[];
  let session: Required<SessionKey>;
  let signer: Signer | undefined;
  try {
    const cipher = cipherInfo(o.cipher ?? AES256);
    session = { cipher, key: randomBytes(cipher.keySize) };
    head = await sessionPackets(o, session);
    signer = o.signKey !== undefined ? await prepareSigner(o) : undefined;
  } catch (err) {
    if (err instanceof PgpError) throw err;
    throw new PgpError(`failed to prepare encryption: ${describe(err)}`, undefined, { cause: err });
  }
  yield Buffer.concat(head);

  const publicKey = (o.recipients?.length ?? 0) + (o.hiddenRecipients?.length ?? 0) > 0;
  const compressAlgo = o.compress === false || o.compressLevel === 0 ? 0 : (o.compressAlgo ?? (publicKey ? ALGO_ZLIB : ALGO_ZIP));
  if (compressAlgo !== 0 && compressAlgo !== ALGO_ZIP && compressAlgo !== ALGO_ZLIB) throw new PgpError(`cannot write compression algorithm ${compressAlgo}`);
  let inner: AsyncIterable<Uint8Array[]> = signedLiteral(src, signer);
  if (compressAlgo) inner = compressed(inner, compressAlgo, o.compressLevel, o.held);

  // Each batch of pieces is staged (copied) by the writer before the next is asked for, as the layers below need.
  if (sealerAvailable()) {
    yield* sealedSeipd(session.cipher, session.key, inner, { held: o.held, reuseOutput: o.reuseOutput });
    return;
  }
  const seipd = new SeipdWriter(session.cipher, session.key);
  for await (const batch of inner) {
    const out: Uint8Array[] = [];
    for (const c of batch) seipd.write(c, out);
    yield* out;
  }
  yield* seipd.end();
}

async function sessionPackets(o: EncryptOptions, session: Required<SessionKey>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const targets = [...(o.recipients ?? []).map((q) => ({ q, hidden: false })), ...(o.hiddenRecipients ?? []).map((q) => ({ q, hidden: true }))];
  if (targets.length && !o.keyring) throw new PgpError('public-key encryption needs a keyring');
  for (const t of targets) {
    const entry = await o.keyring!.find(t.q, 'encryption key').encryptionEntry();
    out.push(encodePacket(Tag.PKESK, await encodePkesk(entry.packet, session, t.hidden)));
  }
  if (o.passphrase !== undefined) {
    if (o.passphrase === '') throw new PgpError('refusing an empty passphrase for symmetric encryption', 23);
    out.push(encodePacket(Tag.SKESK, encodeSkesk(o.passphrase, session)));
  }
  if (out.length === 0) throw new PgpError('nothing to encrypt to: give recipients or a passphrase');
  return out;
}

async function prepareSigner(o: EncryptOptions): Promise<Signer> {
  if (!o.keyring) throw new PgpError('signing needs a keyring');
  const entry = await o.keyring.find(o.signKey!, 'sign key').signingEntry();
  const pub = entry.packet;
  if (!canSignNatively(pub)) throw new PgpError(`cannot sign with key ${entry.describe()}: unsupported algorithm ${pub.algorithm}`);
  let hash = preferredHash(pub);
  if (o.digest !== undefined) {
    // As gpg: DSA needs a hash at least as long as its q (preferredHash's choice), ECDSA one of at least 256 bits.
    const need = pub.algorithm === PK_DSA ? hashSize(hash.id) : pub.algorithm === PK_ECDSA ? 32 : 0;
    hash = { id: o.digest, node: hashName(o.digest) };
    if (hashSize(hash.id) < need) throw new PgpError(`cannot sign with key ${entry.describe()}: its algorithm needs a hash of at least ${need * 8} bits`);
  }
  const signer: Signer = { entry, algorithm: pub.algorithm, secret: entry.unlock(o.signPassphrase, 'SIGN_PASSPHRASE'), failed: false, hash };
  signer.secret.catch(() => {
    signer.failed = true;
  });
  return signer;
}

/** [One-Pass Signature] Literal [Signature], the literal body framed with partial lengths, as batches of pieces. */
async function* signedLiteral(src: AsyncIterable<Uint8Array>, signer: Signer | undefined): AsyncGenerator<Uint8Array[]> {
  // The signature's hash runs on the thread pool when the addon is there: each piece is hashed while the layer
  // below copies it, and awaited before the next piece is asked for (the source may reuse a piece's buffer then).
  const pooled = signer ? poolDigest(signer.hash.node) : undefined;
  const hash = signer && !pooled ? createHash(signer.hash.node) : undefined;
  const keyId = signer ? Buffer.from(signer.entry.keyId, 'hex') : undefined;
  if (signer) yield [encodePacket(Tag.OnePassSignature, encodeOnePass(signer.hash.id, signer.algorithm, keyId!))];
  const created = new Date();
  const lit = new PartialBodyWriter(Tag.Literal);
  const litHead = Buffer.alloc(6);
  litHead[0] = 0x62; // 'b'
  litHead.writeUInt32BE(Math.floor(created.getTime() / 1000), 2);
  yield lit.write(litHead);
  for await (const c of src) {
    if (signer?.failed) await signer.secret; // throws why: a wrong or missing passphrase stops the message now
    if (pooled) {
      const hashed = pooled.update(c);
      hashed.catch(() => undefined); // awaited below, once the next layer has taken the piece
      yield lit.write(c);
      await hashed;
      continue;
    }
    hash?.update(c);
    // Views of c: the next layer copies them (into deflate segments or the encryption stage) before asking for more.
    yield lit.write(c);
  }
  const last = lit.end();
  if (signer) {
    const fpr = Buffer.from(signer.entry.fingerprint, 'hex');
    const { head, trailer } = signatureHead(signer.algorithm, signer.hash.id, fpr, created);
    let digest: Buffer;
    if (pooled) {
      await pooled.update(trailer);
      digest = pooled.digest();
    } else {
      hash!.update(trailer);
      digest = hash!.digest();
    }
    const fields = signDigest(await signer.secret, signer.hash.node, digest);
    last.push(encodePacket(Tag.Signature, encodeSignature(head, signer.algorithm, keyId!, digest, fields)));
  }
  yield last;
}

/** A Compressed packet around `src`, deflated on the thread pool (parallel-deflate.ts), as batches of pieces. */
async function* compressed(src: AsyncIterable<Uint8Array[]>, algo: number, level: number | undefined, held?: { bytes: number }): AsyncGenerator<Uint8Array[]> {
  const frame = new PartialBodyWriter(Tag.Compressed);
  let out = frame.write(Buffer.from([algo]));
  for await (const batch of parallelDeflate(src, algo === ALGO_ZLIB, level, held)) {
    for (const c of batch) frame.write(c, out);
    yield out;
    out = [];
  }
  yield frame.end(out);
}
