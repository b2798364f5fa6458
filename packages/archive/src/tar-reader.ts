/**
 * Streaming reader for the tar dialects duplicity archives contain (FORMAT.md §2): ustar and pax as
 * Python 3 writes them, and GNU (`L`/`K` long names, base-256 numbers) from older runtimes.
 *
 * Written here rather than taken from tar-stream because duplicity's volumes need what that extractor
 * does not do: gpg volumes have arbitrary "top-off" junk after a zero block, so reading must stop at the
 * first all-zero header block and never look further (tar-stream skips zero blocks and parses on, then
 * fails on the junk), and names must come out as raw bytes including pax `hdrcharset=BINARY` values
 * (tar-stream decodes names to strings).
 */
import { ByteSource, SyncByteSource } from './byte-source.js';
import { ArchiveFormatError, showBytes } from './errors.js';
import { BLOCK, type TarEntryType, type TarHeader } from './tar-header-type.js';

export interface TarEntry {
  header: TarHeader;
  /** the payload; must be read before asking for the next entry, or it is skipped */
  body: AsyncIterable<Uint8Array>;
}

// Extended headers are small (a few names); a hostile server must not make us buffer gigabytes.
const MAX_EXTENDED_HEADER = 1 << 20;

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'chardev',
  '4': 'blockdev',
  '5': 'directory',
  '6': 'fifo',
};

/** Types that carry no payload even if their size field says otherwise (as Python's tarfile reads them). */
const NO_DATA: ReadonlySet<TarEntryType> = new Set(['hardlink', 'symlink', 'chardev', 'blockdev', 'directory', 'fifo']);

const EMPTY = Buffer.alloc(0);

/** The bytes of a NUL-terminated field, copied so that the entry does not pin the source chunk. */
function cString(b: Buffer): Buffer {
  const nul = b.indexOf(0);
  const end = nul < 0 ? b.length : nul;
  return end === 0 ? EMPTY : Buffer.from(b.subarray(0, end));
}

function cText(b: Buffer, from: number, to: number, encoding: 'utf8' | 'latin1'): string {
  const nul = b.indexOf(0, from);
  return b.toString(encoding, from, nul < 0 || nul > to ? to : nul);
}

/**
 * A numeric field: octal digits, NUL- or space-terminated, possibly space-padded (parsed byte by byte:
 * this runs several times per entry), or GNU base-256 when the first byte is 0x80 or 0xff.
 */
function number(block: Buffer, from: number, to: number, what: string, at: number): number {
  const first = block[from];
  if (first === 0x80 || first === 0xff) {
    let n = 0;
    for (let i = from + 1; i < to; i++) n = n * 256 + block[i];
    if (first === 0xff) n = -(Math.pow(256, to - from - 1) - n);
    if (!Number.isSafeInteger(n)) throw new ArchiveFormatError(`tar header at offset ${at}: ${what} is out of range`);
    return n;
  }
  let n = 0;
  let i = from;
  while (i < to && block[i] === 0x20) i++;
  for (; i < to; i++) {
    const c = block[i];
    if (c >= 0x30 && c <= 0x37) n = n * 8 + (c - 0x30);
    else break;
  }
  for (; i < to && block[i] !== 0; i++) {
    if (block[i] !== 0x20) {
      throw new ArchiveFormatError(`tar header at offset ${at}: bad ${what} field "${cText(block, from, to, 'latin1')}"`);
    }
  }
  return n;
}

function checksumOk(block: Buffer, at: number): boolean {
  const stored = number(block, 148, 156, 'checksum', at);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

function isZero(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** pax `len key=value\n` records; values stay raw bytes (hdrcharset only says how to decode them). */
function parsePax(data: Buffer, at: number): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // NUL padding some writers leave after the records
    const sp = data.indexOf(0x20, pos);
    const len = sp > pos ? Number(data.subarray(pos, sp).toString('latin1')) : NaN;
    if (!Number.isSafeInteger(len) || len <= sp - pos + 1 || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw new ArchiveFormatError(`tar header at offset ${at}: bad pax extended header record`);
    }
    const rec = data.subarray(sp + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw new ArchiveFormatError(`tar header at offset ${at}: pax record without key`);
    out.set(rec.subarray(0, eq).toString('utf8'), Buffer.from(rec.subarray(eq + 1)));
    pos += len;
  }
  return out;
}

function applyPax(h: TarHeader, pax: Map<string, Buffer>, at: number): void {
  const int = (key: string, v: Buffer) => {
    const s = v.toString('latin1');
    const n = key === 'mtime' ? Math.floor(Number(s)) : Number(s);
    if (s === '' || !Number.isSafeInteger(n)) throw new ArchiveFormatError(`tar header at offset ${at}: bad pax ${key} "${s}"`);
    return n;
  };
  for (const [key, v] of pax) {
    switch (key) {
      case 'path': h.name = v; break;
      case 'linkpath': h.linkname = v; break;
      case 'uname': h.uname = v.toString('utf8'); break;
      case 'gname': h.gname = v.toString('utf8'); break;
      case 'uid': h.uid = int(key, v); break;
      case 'gid': h.gid = int(key, v); break;
      case 'size': h.size = int(key, v); break;
      case 'mtime': h.mtime = int(key, v); break;
      default: break; // hdrcharset, atime, ctime, GNU.sparse.*, vendor keys: not used by duplicity
    }
  }
}

/** What the header parser (tarSteps) asks its driver for; one object of each kind, reused. */
type Step = { op: 'read'; n: number } | { op: 'skip'; n: number } | { op: 'entry'; header: TarHeader };

/**
 * The tar format without the I/O, for both drivers (readTar, readTarSync): it asks for exact reads
 * (answered with the bytes, fewer only at the end of the stream) and skips (answered with the count),
 * and hands out each entry's header; the driver streams the entry's body to its consumer and answers
 * with the bytes left unread, which are skipped next, then the padding.
 * `offset()` is the driver's position in the stream, for messages.
 */
function* tarSteps(offset: () => number): Generator<Step, void, Buffer | number | undefined> {
  const read = { op: 'read' as const, n: 0 };
  const skip = { op: 'skip' as const, n: 0 };
  const readExact = function* (n: number): Generator<Step, Buffer, Buffer | number | undefined> {
    read.n = n;
    return (yield read) as Buffer;
  };
  const globalPax = new Map<string, Buffer>();
  for (;;) {
    let pax: Map<string, Buffer> | undefined;
    let longName: Buffer | undefined;
    let longLink: Buffer | undefined;
    let header: TarHeader | undefined;
    while (!header) {
      const at = offset();
      const block = yield* readExact(BLOCK);
      if (block.length === 0) return;
      if (block.length < BLOCK) throw new ArchiveFormatError(`tar stream ends inside the header at offset ${at}`);
      if (isZero(block)) return;
      if (!checksumOk(block, at)) throw new ArchiveFormatError(`tar header at offset ${at}: checksum mismatch (not a tar header)`);
      const flag = String.fromCharCode(block[156]);
      const size = number(block, 124, 136, 'size', at);
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > MAX_EXTENDED_HEADER) throw new ArchiveFormatError(`tar header at offset ${at}: extended header of ${size} bytes is too large`);
        const data = yield* readExact(size);
        if (data.length < size) throw new ArchiveFormatError(`tar stream ends inside the extended header at offset ${at}`);
        // Parsed before the next step: the driver's bytes may be a view of a chunk it reuses.
        if (flag === 'x') for (const [k, v] of parsePax(data, at)) (pax ??= new Map()).set(k, v);
        else if (flag === 'g') for (const [k, v] of parsePax(data, at)) globalPax.set(k, v);
        else if (flag === 'L') longName = cString(data);
        else longLink = cString(data);
        skip.n = (BLOCK - (size % BLOCK)) % BLOCK;
        yield skip;
        continue;
      }
      const magic = block.toString('latin1', 257, 263);
      let name = cString(block.subarray(0, 100));
      if (magic === 'ustar\0' && block[345] !== 0) name = Buffer.concat([cString(block.subarray(345, 500)), Buffer.from('/'), name]);
      let type: TarEntryType = TYPES[flag] ?? 'other';
      // Pre-POSIX archives mark directories only by the trailing slash.
      if (flag === '\0' && name[name.length - 1] === 0x2f) type = 'directory';
      const h: TarHeader = {
        name,
        type,
        mode: number(block, 100, 108, 'mode', at) & 0o7777,
        uid: number(block, 108, 116, 'uid', at),
        gid: number(block, 116, 124, 'gid', at),
        size,
        mtime: number(block, 136, 148, 'mtime', at),
        linkname: cString(block.subarray(157, 257)),
        uname: cText(block, 265, 297, 'utf8'),
        gname: cText(block, 297, 329, 'utf8'),
        devmajor: type === 'chardev' || type === 'blockdev' ? number(block, 329, 337, 'devmajor', at) : 0,
        devminor: type === 'chardev' || type === 'blockdev' ? number(block, 337, 345, 'devminor', at) : 0,
      };
      if (longName) h.name = longName;
      if (longLink) h.linkname = longLink;
      if (globalPax.size > 0) applyPax(h, globalPax, at);
      if (pax) applyPax(h, pax, at);
      if (NO_DATA.has(h.type)) h.size = 0;
      header = h;
    }
    // The driver answers with the bytes of the body its consumer left unread.
    const unread = (yield { op: 'entry', header }) as number;
    if (unread > 0) {
      skip.n = unread;
      const skipped = (yield skip) as number;
      if (skipped < unread) throw payloadCutShort(header, unread - skipped);
    }
    // The padding may be missing at the very end of a stream; that is tolerated.
    skip.n = (BLOCK - (header.size % BLOCK)) % BLOCK;
    yield skip;
  }
}

function payloadCutShort(h: TarHeader, missing: number): ArchiveFormatError {
  return new ArchiveFormatError(`tar stream ends inside the payload of ${showBytes(h.name)} (${missing} bytes missing)`);
}

/** An entry's body as its driver hands it out: readable once, and only until the next entry. */
class BodyState {
  remaining: number;
  current = true;
  constructor(readonly header: TarHeader) {
    this.remaining = header.size;
  }

  /** Before a read: the body is still the current one. */
  check(): void {
    if (!this.current) throw new Error(`tar entry ${showBytes(this.header.name)}: body read after moving to the next entry`);
  }

  /** After a read of `got` bytes (none: the stream ended inside the body). */
  took(got: number): void {
    if (got === 0) throw payloadCutShort(this.header, this.remaining);
    this.remaining -= got;
  }
}

/**
 * Yields the entries of a tar stream in order. Ends at the first all-zero header block (without
 * reading anything after it), or when the stream ends where a header would start; a stream of zero
 * bytes is an empty archive. A stream that ends inside a header or a payload is an error.
 */
export async function* readTar(src: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const r = new ByteSource(src);
  const steps = tarSteps(() => r.offset);
  try {
    for (let s = steps.next(); !s.done; ) {
      const step = s.value;
      if (step.op === 'read') s = steps.next(await r.readExact(step.n));
      else if (step.op === 'skip') s = steps.next(await r.skip(step.n));
      else {
        const b = new BodyState(step.header);
        const body: AsyncIterable<Uint8Array> = {
          [Symbol.asyncIterator]: async function* () {
            for (b.check(); b.remaining > 0; ) {
              const chunk = await r.readUpTo(b.remaining);
              b.took(chunk.length);
              yield chunk;
            }
          },
        };
        yield { header: step.header, body };
        b.current = false;
        s = steps.next(b.remaining);
      }
    }
  } finally {
    await r.close();
  }
}

export interface TarEntrySync {
  header: TarHeader;
  /** the payload; must be read before asking for the next entry, or it is skipped */
  body: Iterable<Uint8Array>;
}

/**
 * readTar over a synchronous byte stream (a file inflated in this thread): the same entries, errors
 * and end-of-archive rules, without a promise per header, read or skip. Reading a big sigtar through
 * readTar cost an incremental backup's main thread ~16 µs per entry, most of it in those promises.
 */
export function* readTarSync(src: Iterable<Uint8Array>): Generator<TarEntrySync> {
  const r = new SyncByteSource(src);
  const steps = tarSteps(() => r.offset);
  try {
    for (let s = steps.next(); !s.done; ) {
      const step = s.value;
      if (step.op === 'read') s = steps.next(r.readExact(step.n));
      else if (step.op === 'skip') s = steps.next(r.skip(step.n));
      else {
        const b = new BodyState(step.header);
        const body: Iterable<Uint8Array> = {
          [Symbol.iterator]: function* () {
            for (b.check(); b.remaining > 0; ) {
              const chunk = r.readUpTo(b.remaining);
              b.took(chunk.length);
              yield chunk;
            }
          },
        };
        yield { header: step.header, body };
        b.current = false;
        s = steps.next(b.remaining);
      }
    }
  } finally {
    r.close();
  }
}
