/**
 * Symmetrically Encrypted Integrity Protected Data, version 1 (RFC 4880 §5.13): CFB with a zero IV over
 * random prefix (block size + 2 bytes, the last two repeating the two before), the data, and an MDC packet
 * (0xD3 0x14 + SHA-1 of everything before the hash). Hand-written over node:crypto CFB and SHA-1 because this is
 * the bulk path: openpgp.js runs it several times slower. v1 uses no CFB resync, so plain CFB is exact.
 */
import { createCipheriv, createHash, randomBytes, type Cipher, type Hash } from 'node:crypto';
import { Opener, openerAvailable, Sealer } from '@duplicity-ts/libdeflate';
import { CfbDecryptor } from './cfb-decryptor.js';
import { ecbName, type CipherInfo } from './cipher-algorithms.js';
import { ByteReader } from './byte-reader.js';
import { PacketPushParser } from './packet-push-parser.js';
import { encodeLength, PART, PART_HEAD, Tag, type PacketHeader } from './packets.js';

const MDC_LEN = 22;

/** The MDC check's failures, worded the same on every decryption path. */
const noMdc = () => new Error('integrity check failed: no modification detection code (MDC) packet at the end');
const mdcMismatch = () => new Error('integrity check failed: modification detection code (MDC) mismatch, the data was altered');

/** Decrypts the prefix with each candidate key and returns the first whose quick check matches. */
export async function openSeipd(
  body: ByteReader,
  candidates: { cipher: CipherInfo; key: Buffer }[],
): Promise<{ decipher: CfbDecryptor; mdc: Hash } | null> {
  const version = await body.readByte('SEIPD version');
  if (version !== 1) throw new Error(`unsupported SEIPD version ${version}`);
  for (const c of candidates) {
    const bs = c.cipher.blockSize;
    const prefixCt = await body.peek(bs + 2, 'SEIPD prefix');
    const decipher = new CfbDecryptor(c.cipher, c.key);
    const prefix = decipher.update(prefixCt);
    if (prefix[bs - 2] === prefix[bs] && prefix[bs - 1] === prefix[bs + 1]) {
      await body.readExact(bs + 2, 'SEIPD prefix');
      const mdc = createHash('sha1').update(prefix);
      return { decipher, mdc };
    }
  }
  return null;
}

/** The plaintext of an opened SEIPD body; throws at the end if the MDC does not match. */
export async function* seipdPlaintext(body: ByteReader, s: { decipher: CfbDecryptor; mdc: Hash }): AsyncGenerator<Uint8Array> {
  // The last 22 bytes may be the MDC packet, so each decrypted chunk is held until the next one arrives; only the
  // last one is split. (Splitting off 22 bytes of every chunk sent tiny pieces up through every layer.)
  let held: Buffer = Buffer.alloc(0);
  for await (const ct of body.rest()) {
    const pt = s.decipher.update(ct);
    if (pt.length === 0) continue;
    if (pt.length < MDC_LEN || held.length < MDC_LEN) {
      held = Buffer.concat([held, pt]);
      continue;
    }
    s.mdc.update(held);
    yield held;
    held = pt;
  }
  const fin = s.decipher.final();
  if (fin.length) held = Buffer.concat([held, fin]);
  if (held.length < MDC_LEN) throw noMdc();
  const out = held.subarray(0, held.length - MDC_LEN);
  const tail = held.subarray(held.length - MDC_LEN);
  if (tail[0] !== 0xd3 || tail[1] !== 0x14) {
    throw noMdc();
  }
  s.mdc.update(out);
  s.mdc.update(tail.subarray(0, 2));
  if (!s.mdc.digest().equals(tail.subarray(2))) {
    throw mdcMismatch();
  }
  if (out.length) yield out;
}

/**
 * Writes a whole SEIPD v1 packet (header, 64 KiB partial-length framing, CFB ciphertext ending in the MDC packet)
 * from plaintext pieces. Pieces are copied into one reused 64 KiB staging buffer, and each full part is hashed and
 * encrypted in one call while it is hot in the cache; its ciphertext is the part's body as it stands (framing
 * octets are separate shared pieces), so nothing is joined or copied again on the way out.
 */
export class SeipdWriter {
  private readonly cipher: Cipher;
  private readonly mdc = createHash('sha1');
  private readonly stage = Buffer.allocUnsafe(PART);
  private fill = 0;
  /** Plaintext bytes that fill the current part: the first part also holds the (unencrypted) version octet. */
  private room = PART - 1;

  /** `prefix` is for tests (the same output from two writers); by default a fresh random one. */
  constructor(info: CipherInfo, key: Buffer, prefix: Buffer = randomPrefix(info.blockSize)) {
    this.cipher = createCipheriv(info.cfb, key, Buffer.alloc(info.blockSize));
    this.write(prefix);
  }

  /** Stages `data`, appending the framed ciphertext of every part it completes to `out`; returns `out`. */
  write(data: Uint8Array, out: Uint8Array[] = []): Uint8Array[] {
    this.mdc.update(data);
    this.put(data, out);
    return out;
  }

  /** Appends the MDC packet and the rest of the packet to `out`; returns `out`. */
  end(out: Uint8Array[] = []): Uint8Array[] {
    this.write(MDC_HEAD, out);
    this.put(this.mdc.digest(), out);
    const first = this.room === PART - 1;
    const ct = this.cipher.update(this.stage.subarray(0, this.fill));
    this.cipher.final();
    const len = ct.length + (first ? 1 : 0);
    if (first) out.push(Buffer.from([0xc0 | Tag.SEIPD]));
    out.push(encodeLength(len));
    if (first) out.push(VERSION);
    out.push(ct);
    return out;
  }

  private put(data: Uint8Array, out: Uint8Array[]): void {
    let off = 0;
    while (off < data.length) {
      const n = Math.min(data.length - off, this.room - this.fill);
      this.stage.set(n === data.length ? data : data.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === this.room) {
        if (this.room === PART - 1) out.push(FIRST_PART_HEAD);
        else out.push(PART_HEAD);
        out.push(this.cipher.update(this.stage.subarray(0, this.fill)));
        this.fill = 0;
        this.room = PART;
      }
    }
  }
}

/** The SEIPD prefix: block size + 2 random octets, the last two repeating the two before (the quick check). */
function randomPrefix(bs: number): Buffer {
  const prefix = randomBytes(bs + 2);
  prefix[bs] = prefix[bs - 2]!;
  prefix[bs + 1] = prefix[bs - 1]!;
  return prefix;
}

/** Parts per sealing job: 1 MiB per thread-pool round trip. */
const STAGE_PARTS = 16;

/**
 * The same SEIPD v1 packet as SeipdWriter, byte for byte, with the CFB encryption and the MDC's SHA-1 on the
 * thread pool (the addon's Sealer, through node's OpenSSL) instead of the calling thread: they were a quarter
 * of the main thread's time in an encrypted backup, and serial, so they could not spread over cores. Plaintext
 * pieces are copied into 1 MiB stages; a full stage is sealed in place while the next one fills, then framed
 * as 64 KiB parts (views of the stage). `held` counts the staged bytes not yet yielded, as the deflate segments
 * are counted (EncryptOptions.held). Needs the addon (`sealerAvailable()`).
 *
 * `reuseOutput` (EncryptOptions.reuseOutput): a yielded piece is valid only until the next is asked for, and two
 * stages take turns instead of a fresh 1 MiB buffer per stage. Fresh buffers are V8 external memory, and that
 * many of them set off a major GC every ~13 MiB of output (59 in a 1 GiB backup, ~0.9 s of CPU).
 */
export async function* sealedSeipd(
  info: CipherInfo,
  key: Buffer,
  src: AsyncIterable<Uint8Array[]>,
  o: { held?: { bytes: number }; prefix?: Buffer; stageParts?: number; reuseOutput?: boolean } = {},
): AsyncGenerator<Uint8Array> {
  const sealer = new Sealer(info.cfb, key);
  const held = o.held ?? { bytes: 0 };
  const stageSize = (o.stageParts ?? STAGE_PARTS) * PART;
  /** Stages whose parts the consumer is done with (reuseOutput). */
  const spare: Buffer[] = [];
  // A stage has room for the MDC packet after the last data.
  const newStage = () => spare.pop() ?? Buffer.allocUnsafe(stageSize + MDC_LEN);
  let stage = newStage();
  let first = true;
  // The first part's body starts with the (unencrypted) version octet, so the first stage holds one byte less.
  let room = stageSize - 1;
  const prefix = o.prefix ?? randomPrefix(info.blockSize);
  stage.set(prefix);
  let fill = prefix.length;
  held.bytes += fill;
  let sealing: { done: Promise<void>; stage: Buffer; ct: Buffer; first: boolean } | undefined;
  for await (const batch of src) {
    for (const c of batch) {
      let off = 0;
      while (off < c.length) {
        const n = Math.min(c.length - off, room - fill);
        stage.set(n === c.length ? c : c.subarray(off, off + n), fill);
        fill += n;
        off += n;
        held.bytes += n;
        if (fill < room) continue;
        // The stage before this one has been sealing meanwhile; out it goes, then this one is sealed.
        if (sealing) {
          await sealing.done;
          held.bytes -= sealing.ct.length;
          yield* framedParts(sealing.ct, sealing.first);
          // Asked for more after its last part: the consumer is done with this stage.
          if (o.reuseOutput) spare.push(sealing.stage);
        }
        const ct = stage.subarray(0, fill);
        sealing = { done: sealer.seal(ct), stage, ct, first };
        sealing.done.catch(() => undefined); // awaited above or below
        stage = newStage();
        fill = 0;
        first = false;
        room = stageSize;
      }
    }
  }
  if (sealing) {
    await sealing.done;
    held.bytes -= sealing.ct.length;
    yield* framedParts(sealing.ct, sealing.first);
  }
  stage.set(MDC_HEAD, fill);
  const last = stage.subarray(0, fill + MDC_LEN);
  await sealer.sealLast(last);
  held.bytes -= fill;
  // Whole parts first (the MDC may complete one), then the definite-length rest, possibly empty, as SeipdWriter.
  let off = 0;
  for (let r = first ? PART - 1 : PART; last.length - off >= r; r = PART, first = false) {
    yield* framedParts(last.subarray(off, off + r), first);
    off += r;
  }
  const rest = last.subarray(off);
  if (first) yield Buffer.from([0xc0 | Tag.SEIPD]);
  yield encodeLength(rest.length + (first ? 1 : 0));
  if (first) yield VERSION;
  if (rest.length) yield rest;
}

/** Ciphertext of whole parts (the first part one octet short, for the version octet) with their framing. */
function* framedParts(ct: Buffer, first: boolean): Generator<Uint8Array> {
  let off = 0;
  if (first) {
    yield FIRST_PART_HEAD;
    yield ct.subarray(0, PART - 1);
    off = PART - 1;
  }
  for (; off < ct.length; off += PART) {
    yield PART_HEAD;
    yield ct.subarray(off, off + PART);
  }
}

const MDC_HEAD = Buffer.from([0xd3, 0x14]);
const VERSION = Buffer.from([1]);
/** Packet tag octet, first part's length octet and the version octet, which precedes the ciphertext. */
const FIRST_PART_HEAD = Buffer.from([0xc0 | Tag.SEIPD, PART_HEAD[0]!, 1]);

/** Bytes asked of the source per read: big chunks keep every per-chunk cost negligible. */
const READ_CHUNK = 1 << 20;

/**
 * Opens a SEIPD v1 packet whose header was just read from `r` and returns its plaintext (in batches, one per
 * source chunk), or null if no candidate
 * key passes the quick check. Unlike openSeipd() + seipdPlaintext() this strips the partial-length framing with
 * the push parser straight from the source chunks and decrypts each chunk with one ECB call (decryptBlocks),
 * so a source chunk costs one copy and a few ECB calls. The generator throws at the end if the MDC does not
 * match; bytes after the packet are an error.
 *
 * `reuseOutput`: AES data is decrypted and MDC-hashed on the thread pool (pooledPlaintext()), into a ring of
 * reused buffers, so a batch handed out is valid only until the caller has asked for two more.
 */
export async function openSeipdV1(
  r: ByteReader,
  h: PacketHeader,
  candidates: { cipher: CipherInfo; key: Buffer }[],
  o: { reuseOutput?: boolean } = {},
): Promise<AsyncGenerator<Uint8Array[]> | null> {
  let parts: Uint8Array[] = [];
  let partsLen = 0;
  let ended = false;
  const framing = new PacketPushParser({
    start: () => { throw new Error('trailing data after the encrypted packet'); },
    data: (_tag, b) => { parts.push(b); partsLen += b.length; },
    end: () => { ended = true; },
  });
  framing.resumeBody(h.tag, h.length, h.partial);
  /** Reads one source chunk into `parts`; false at the end of the source. */
  const read = async (): Promise<boolean> => {
    if (ended) return false;
    const c = await r.readSome(READ_CHUNK);
    if (c.length === 0) {
      framing.finish();
      return false;
    }
    framing.feed(c);
    return true;
  };
  const maxPrefix = 1 + 16 + 2;
  while (partsLen < maxPrefix && (await read()));
  const head = Buffer.concat(parts, partsLen);
  parts = [head];
  if (head.length < 1) throw new Error('truncated SEIPD version: needed 1 bytes, stream ended');
  if (head[0] !== 1) throw new Error(`unsupported SEIPD version ${head[0]}`);
  for (const c of candidates) {
    const bs = c.cipher.blockSize;
    if (head.length < 1 + bs + 2) throw new Error(`truncated SEIPD prefix: needed ${bs + 2} bytes, stream ended`);
    const prefix = new CfbDecryptor(c.cipher, c.key).update(head.subarray(1, 1 + bs + 2));
    if (prefix[bs - 2] === prefix[bs] && prefix[bs - 1] === prefix[bs + 1]) {
      parts[0] = head.subarray(1);
      partsLen = head.length - 1;
      if (o.reuseOutput && c.cipher.cfb.startsWith('aes-') && openerAvailable()) {
        return pooledPlaintext(new Opener(ecbName(c.cipher), c.key), bs, bs + 2);
      }
      return plaintext(new CfbDecryptor(c.cipher, c.key), bs + 2);
    }
  }
  return null;

  async function* plaintext(decipher: CfbDecryptor, skip: number): AsyncGenerator<Uint8Array[]> {
    const mdc = createHash('sha1');
    // The last 22 bytes may be the MDC packet, so they are neither hashed nor passed on until more follows: each
    // slice is hashed at once but for its last 22 bytes (while it is in the cache), and passed on when the next
    // slice arrives. `lag` holds the bytes not hashed yet, `held` the bytes not passed on yet (which end with
    // lag's).
    let lag: Buffer | null = null;
    let held: Buffer | null = null;
    let prefixLeft = skip;
    let batch: Uint8Array[] = [];
    const pass = (b: Buffer): void => {
      if (prefixLeft === 0) {
        batch.push(b);
        return;
      }
      const n = Math.min(prefixLeft, b.length);
      prefixLeft -= n;
      if (n < b.length) batch.push(b.subarray(n));
    };
    const each = (pt: Buffer): void => {
      if (pt.length >= MDC_LEN) {
        if (lag) mdc.update(lag);
        mdc.update(pt.subarray(0, pt.length - MDC_LEN));
        lag = pt.subarray(pt.length - MDC_LEN);
        if (held) pass(held);
        held = pt;
        return;
      }
      // A slice shorter than the MDC packet (tiny source chunks): join it to what waits.
      const joined: Buffer = lag ? Buffer.concat([lag, pt]) : pt;
      if (joined.length > MDC_LEN) mdc.update(joined.subarray(0, joined.length - MDC_LEN));
      lag = joined.subarray(Math.max(0, joined.length - MDC_LEN));
      held = held ? Buffer.concat([held, pt]) : pt;
      if (held.length > 1 << 16) {
        // Many tiny slices: pass on all but the last 22 bytes rather than let `held` grow.
        pass(held.subarray(0, held.length - MDC_LEN));
        held = Buffer.from(held.subarray(held.length - MDC_LEN));
      }
    };
    for (;;) {
      if (parts.length) {
        decipher.decryptBlocks(parts, each);
        parts = [];
        partsLen = 0;
        if (batch.length) {
          yield batch;
          batch = [];
        }
      }
      if (!(await read())) break;
    }
    const fin = decipher.final();
    if (fin.length) each(fin);
    const last: Buffer = held ?? Buffer.alloc(0);
    if (last.length < MDC_LEN + prefixLeft || lag === null || (lag as Buffer).length < MDC_LEN) {
      throw noMdc();
    }
    const tail = last.subarray(last.length - MDC_LEN);
    if (tail[0] !== 0xd3 || tail[1] !== 0x14) {
      throw noMdc();
    }
    pass(last.subarray(0, last.length - MDC_LEN));
    mdc.update(tail.subarray(0, 2));
    if (!mdc.digest().equals(tail.subarray(2))) {
      throw mdcMismatch();
    }
    if (batch.length) yield batch;
  }

  /**
   * plaintext()'s work on the thread pool (libdeflate's Opener): source chunks are gathered into POOL_RING
   * reused buffers of at least POOL_FILL bytes, each decrypted and hashed in place by one pool job, while the
   * caller works on the batch before it (the decode worker inflates it). The opener takes one job at a time,
   * so a buffer's job starts once the previous one has settled; the MDC checks are plaintext()'s.
   */
  async function* pooledPlaintext(opener: Opener, bs: number, skip: number): AsyncGenerator<Uint8Array[]> {
    const ring = Array.from({ length: POOL_RING }, () => Buffer.allocUnsafe(POOL_FILL + READ_CHUNK + bs));
    let k = 0;
    let fill = 0;
    let more = true;
    let prefixLeft = skip;
    /** The last MDC_LEN plaintext bytes so far: not passed on until more follows (a copy, never reused). */
    let held: Buffer = Buffer.alloc(0);
    let running: { buf: Buffer; len: number; done: Promise<void> } | undefined;
    const take = (): void => {
      const b = ring[k % POOL_RING]!;
      for (const p of parts) {
        b.set(p, fill);
        fill += p.length;
      }
      parts = [];
      partsLen = 0;
    };
    /** The plaintext of a settled job, less the bytes held back and the random prefix. */
    const release = (job: { buf: Buffer; len: number }): Uint8Array[] => {
      const pt = job.buf.subarray(0, job.len);
      const out: Uint8Array[] = [];
      if (pt.length >= MDC_LEN) {
        if (held.length) out.push(held);
        out.push(pt.subarray(0, pt.length - MDC_LEN));
        held = Buffer.from(pt.subarray(pt.length - MDC_LEN));
      } else {
        const joined = Buffer.concat([held, pt]);
        out.push(joined.subarray(0, Math.max(0, joined.length - MDC_LEN)));
        held = joined.subarray(Math.max(0, joined.length - MDC_LEN));
      }
      const batch: Uint8Array[] = [];
      for (let b of out) {
        if (prefixLeft > 0) {
          const n = Math.min(prefixLeft, b.length);
          prefixLeft -= n;
          b = b.subarray(n);
        }
        if (b.length) batch.push(b);
      }
      return batch;
    };
    // A consumer that stops early may leave a job running in a ring buffer: the job holds that buffer (and the
    // opener) by reference, and the ring is never used again.
    for (;;) {
      take();
      while (more && fill < POOL_FILL) {
        more = await read();
        take();
      }
      const cur = ring[k % POOL_RING]!;
      // Whole blocks only until the end: the rest of a block waits at the start of the next buffer.
      const whole = more ? fill - (fill % bs) : fill;
      const settled = running;
      if (settled) await settled.done;
      running = undefined;
      if (whole > 0) {
        const done = opener.open(cur.subarray(0, whole));
        // Awaited in the next round; a failure of the caller meanwhile must not leave it unhandled.
        done.catch(() => {});
        running = { buf: cur, len: whole, done };
      }
      k++;
      if (fill > whole) ring[k % POOL_RING]!.set(cur.subarray(whole, fill), 0);
      fill -= whole;
      if (settled) {
        const batch = release(settled);
        if (batch.length) yield batch;
      }
      if (!running) break;
    }
    const { tail, digest } = opener.end();
    if (prefixLeft > 0 || tail.length < MDC_LEN || tail[0] !== 0xd3 || tail[1] !== 0x14) {
      throw noMdc();
    }
    if (!digest.equals(tail.subarray(2))) {
      throw mdcMismatch();
    }
  }
}

/** Buffers of pooledPlaintext()'s ring: one being filled, one being decrypted, the caller's batch, and one spare. */
const POOL_RING = 4;
/** Ciphertext bytes gathered per pool job. */
const POOL_FILL = 1 << 20;
