/**
 * Tar headers exactly as Python 3's tarfile writes them in pax format for duplicity 0.8.22
 * (FORMAT.md §2.1, §2.2): a ustar block, preceded by a `././@PaxHeader` extended header only when a
 * name is too long or not ASCII, or a number does not fit its field.
 *
 * Written here rather than with tar-stream's packer because the archive's bytes (and so the volume
 * SHA1s in the manifest) must equal what real duplicity produces: tar-stream differs in field layout,
 * devmajor/devminor, pax record choice and order, and cannot express non-UTF-8 names (`hdrcharset=BINARY`).
 */
import { ArchiveFormatError, showBytes } from './errors.js';
import { BLOCK, TYPEFLAG, type TarHeader, tarPadding } from './tar-header-type.js';

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function isAscii(b: Buffer): boolean {
  for (const c of b) if (c > 0x7f) return false;
  return true;
}

function isUtf8(b: Buffer): boolean {
  try {
    UTF8.decode(b);
    return true;
  } catch {
    return false;
  }
}

/** Length of the well-formed UTF-8 sequence starting at `i`, or 0 if there is none. */
function utf8SequenceAt(b: Buffer, i: number): number {
  const c = b[i];
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const [lo, hi] = c === 0xe0 ? [0xa0, 0xbf] : c === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const [lo, hi] = c === 0xf0 ? [0x90, 0xbf] : c === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/**
 * What Python puts in a ustar field for a name it decoded with surrogateescape and encodes with
 * ("ascii", "replace"): one `?` per non-ASCII character, where each byte of invalid UTF-8 is a character.
 */
function asciiReplaceBytes(b: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < b.length; ) {
    if (b[i] < 0x80) {
      out.push(b[i++]);
    } else {
      out.push(0x3f);
      i += utf8SequenceAt(b, i) || 1;
    }
  }
  return Buffer.from(out);
}

function asciiReplaceString(s: string): Buffer {
  let out = '';
  for (const ch of s) out += ch.codePointAt(0)! < 0x80 ? ch : '?';
  return Buffer.from(out, 'latin1');
}

/** `%0{n-1}o` plus NUL, as Python's tarfile writes numbers in ustar/pax headers. */
function octal(block: Buffer, at: number, width: number, n: number): void {
  block.write(n.toString(8).padStart(width - 1, '0') + '\0', at, 'latin1');
}

function field(block: Buffer, at: number, width: number, value: Buffer): void {
  value.copy(block, at, 0, Math.min(width, value.length));
}

interface UstarFields {
  name: Buffer;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: Buffer;
  uname: Buffer;
  gname: Buffer;
  /** only for character and block devices; otherwise the fields stay NUL */
  dev?: { major: number; minor: number };
}

function ustarBlock(f: UstarFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  field(block, 0, 100, f.name);
  octal(block, 100, 8, f.mode & 0o7777);
  octal(block, 108, 8, f.uid);
  octal(block, 116, 8, f.gid);
  octal(block, 124, 12, f.size);
  octal(block, 136, 12, f.mtime);
  block.fill(0x20, 148, 156);
  block.write(f.typeflag, 156, 'latin1');
  field(block, 157, 100, f.linkname);
  block.write('ustar\x0000', 257, 'latin1');
  field(block, 265, 32, f.uname);
  field(block, 297, 32, f.gname);
  if (f.dev) {
    octal(block, 329, 8, f.dev.major);
    octal(block, 337, 8, f.dev.minor);
  }
  let sum = 0;
  for (const c of block) sum += c;
  block.write(sum.toString(8).padStart(6, '0') + '\0', 148, 'latin1'); // byte 155 keeps its space
  return block;
}

const TYPEFLAG_BYTE: Record<string, number> = Object.fromEntries(Object.entries(TYPEFLAG).map(([k, v]) => [k, v.charCodeAt(0)]));
const USTAR_MAGIC = Buffer.from('ustar\x0000', 'latin1');
const SLASH = 0x2f;

/** `%0{width-1}o` plus NUL without building a string; `n` must fit `width - 1` octal digits. */
function octalInto(block: Buffer, at: number, width: number, n: number): void {
  block[at + width - 1] = 0;
  for (let i = at + width - 2; i >= at; i--) {
    block[i] = 0x30 + (n % 8);
    n = Math.floor(n / 8);
  }
}

/** Copies `value` to `at` when it is ASCII and at most `limit` bytes; false (and a partial copy) otherwise. */
function asciiFieldInto(block: Buffer, at: number, limit: number, value: Buffer): boolean {
  const n = value.length;
  if (n > limit) return false;
  for (let i = 0; i < n; i++) {
    const c = value[i];
    if (c > 0x7f) return false;
    block[at + i] = c;
  }
  return true;
}

function asciiStringInto(block: Buffer, at: number, limit: number, value: string): boolean {
  const n = value.length;
  if (n > limit) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c > 0x7f) return false;
    block[at + i] = c;
  }
  return true;
}

/**
 * The common case of encodeTarEntry, written straight into `target` at `at` (512 bytes, zeroed
 * first): no pax header, because every name is ASCII and short and every number fits. Returns
 * false when the entry needs more than that; the block is then garbage.
 */
function plainUstarInto(h: TarHeader, target: Buffer, at: number): boolean {
  if (h.type === 'other') return false;
  const mtime = Math.max(0, h.mtime);
  const fits = (n: number, digits: number) => Number.isSafeInteger(n) && n >= 0 && n < 8 ** (digits - 1);
  if (!fits(h.uid, 8) || !fits(h.gid, 8) || !fits(h.size, 12) || !fits(mtime, 12)) return false;
  const isDevice = h.type === 'chardev' || h.type === 'blockdev';
  if (isDevice && !(fits(h.devmajor, 8) && fits(h.devminor, 8))) return false;
  target.fill(0, at, at + BLOCK);
  const name = h.name;
  const slash = h.type === 'directory' && name[name.length - 1] !== SLASH;
  if (!asciiFieldInto(target, at, slash ? 99 : 100, name)) return false;
  if (slash) target[at + name.length] = SLASH;
  if (!asciiFieldInto(target, at + 157, 100, h.linkname)) return false;
  if (!asciiStringInto(target, at + 265, 32, h.uname)) return false;
  if (!asciiStringInto(target, at + 297, 32, h.gname)) return false;
  octalInto(target, at + 100, 8, h.mode & 0o7777);
  octalInto(target, at + 108, 8, h.uid);
  octalInto(target, at + 116, 8, h.gid);
  octalInto(target, at + 124, 12, h.size);
  octalInto(target, at + 136, 12, mtime);
  target.fill(0x20, at + 148, at + 156);
  target[at + 156] = TYPEFLAG_BYTE[h.type];
  USTAR_MAGIC.copy(target, at + 257);
  if (isDevice) {
    octalInto(target, at + 329, 8, h.devmajor);
    octalInto(target, at + 337, 8, h.devminor);
  }
  let sum = 0;
  for (let i = at; i < at + BLOCK; i++) sum += target[i];
  octalInto(target, at + 148, 7, sum); // six digits and NUL; byte 155 keeps its space
  return true;
}

/**
 * encodeTarEntry's bytes written into `target` at `offset`, without allocating for the common
 * entry (one ustar block): a backup writes two headers per file, and building them from pieces
 * with Buffer.concat cost about as much as reading and hashing a small file. Returns the number
 * of bytes written, or 0 (nothing written that matters) when they do not fit between `offset`
 * and the end of `target`; encodeTarEntry(h) then gives them.
 */
export function encodeTarEntryInto(h: TarHeader, target: Buffer, offset: number): number {
  if (target.length - offset >= BLOCK && plainUstarInto(h, target, offset)) return BLOCK;
  const bytes = encodeTarEntry(h);
  if (bytes.length > target.length - offset) return 0;
  bytes.copy(target, offset);
  return bytes.length;
}

/** `<len> key=value\n`, where len counts the whole record including its own digits. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'latin1'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

/**
 * The header block(s) for one entry: an optional pax extended header (with its records, padded) and
 * the ustar block. The caller writes the payload of `h.size` bytes and `tarPadding(h.size)` after it.
 * A negative mtime is written as 0 (§2.1); a directory name gets its trailing `/` as tarfile adds it.
 */
export function encodeTarEntry(h: TarHeader): Buffer {
  if (h.type === 'other') throw new ArchiveFormatError(`cannot write a tar entry of unknown type for ${showBytes(h.name)}`);
  let name = h.name;
  if (h.type === 'directory' && name[name.length - 1] !== 0x2f) name = Buffer.concat([name, Buffer.from('/')]);
  const uname = Buffer.from(h.uname, 'utf8');
  const gname = Buffer.from(h.gname, 'utf8');

  const pax: [string, Buffer][] = [];
  for (const [key, value, limit] of [
    ['path', name, 100],
    ['linkpath', h.linkname, 100],
    ['uname', uname, 32],
    ['gname', gname, 32],
  ] as const) {
    if (!isAscii(value) || value.length > limit) pax.push([key, value]);
  }
  const fit = (key: string, n: number, digits: number) => {
    if (!Number.isSafeInteger(n)) throw new ArchiveFormatError(`tar entry ${showBytes(h.name)}: ${key} ${n} is not an integer`);
    if (n >= 0 && n < 8 ** (digits - 1)) return n;
    pax.push([key, Buffer.from(String(n), 'latin1')]);
    return 0;
  };
  const uid = fit('uid', h.uid, 8);
  const gid = fit('gid', h.gid, 8);
  const size = fit('size', h.size, 12);
  const mtime = fit('mtime', Math.max(0, h.mtime), 12);

  const parts: Buffer[] = [];
  if (pax.length > 0) {
    const binary = pax.some(([, v]) => !isUtf8(v));
    const records = Buffer.concat([...(binary ? [Buffer.from('21 hdrcharset=BINARY\n')] : []), ...pax.map(([k, v]) => paxRecord(k, v))]);
    parts.push(
      ustarBlock({
        name: Buffer.from('././@PaxHeader'), typeflag: 'x', mode: 0, uid: 0, gid: 0, size: records.length, mtime: 0,
        linkname: Buffer.alloc(0), uname: Buffer.alloc(0), gname: Buffer.alloc(0),
      }),
      records,
      tarPadding(records.length),
    );
  }
  const isDevice = h.type === 'chardev' || h.type === 'blockdev';
  if (isDevice && (h.devmajor >= 8 ** 7 || h.devminor >= 8 ** 7 || h.devmajor < 0 || h.devminor < 0)) {
    throw new ArchiveFormatError(`tar entry ${showBytes(h.name)}: device number ${h.devmajor},${h.devminor} does not fit a ustar header`);
  }
  parts.push(
    ustarBlock({
      name: asciiReplaceBytes(name), typeflag: TYPEFLAG[h.type], mode: h.mode, uid, gid, size, mtime,
      linkname: asciiReplaceBytes(h.linkname), uname: asciiReplaceString(h.uname), gname: asciiReplaceString(h.gname),
      dev: isDevice ? { major: h.devmajor, minor: h.devminor } : undefined,
    }),
  );
  return Buffer.concat(parts);
}
