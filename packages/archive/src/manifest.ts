/**
 * The manifest of a backup set (FORMAT.md §6): which volumes the set has, the index range and hash of
 * each, and the list of changed regular files. Written byte-exact as duplicity 0.8.22 does; read
 * leniently as duplicity does (case-insensitive keys, repeated volumes from resumed backups).
 */
import { type Index, compareIndex, indexToPath } from './entry-index.js';
import { ArchiveFormatError } from './errors.js';

export interface ManifestVolume {
  number: number;
  start: Index;
  /** chunk number when the volume starts inside a multivol payload (§6.2) */
  startBlock?: number;
  end: Index;
  /** chunk number when the volume ends on a non-final chunk of a multivol payload */
  endBlock?: number;
  /** e.g. `SHA1`; absent when the manifest gives no hash (then the volume is not checked) */
  hashType?: string;
  /** hex, as written (duplicity writes lowercase) */
  hash?: string;
}

export type FilelistChange = 'new' | 'changed' | 'deleted';

export interface FilelistEntry {
  type: FilelistChange;
  path: Buffer;
}

// Bytes that force quoting (§6.3): ASCII whitespace, backslash and both quote characters.
const NEEDS_QUOTE = new Set([0x20, 0x09, 0x0a, 0x0d, 0x0c, 0x0b, 0x5c, 0x22, 0x27]);

/** §6.3: `"…"` with `\xHH` for each special byte when there is one; otherwise the raw bytes. */
export function quoteManifestPath(p: Buffer): Buffer {
  if (!p.some((c) => NEEDS_QUOTE.has(c))) return p;
  const parts: Buffer[] = [Buffer.from('"')];
  let from = 0;
  for (let i = 0; i < p.length; i++) {
    if (NEEDS_QUOTE.has(p[i])) {
      parts.push(p.subarray(from, i), Buffer.from(`\\x${p[i].toString(16).padStart(2, '0')}`, 'latin1'));
      from = i + 1;
    }
  }
  parts.push(p.subarray(from), Buffer.from('"'));
  return Buffer.concat(parts);
}

/** §6.3: only strings that start with `"` are unquoted; `\xHH` escapes are decoded. */
export function unquoteManifestPath(q: Buffer): Buffer {
  if (q[0] !== 0x22) return q;
  const inner = q.subarray(1, q.length > 1 && q[q.length - 1] === 0x22 ? q.length - 1 : q.length).toString('latin1');
  return Buffer.from(
    inner.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  );
}

/**
 * The hash a volume is checked with (§6.4): SHA1, else MD5, else the first other type listed; a
 * repeated type keeps its later value. Type names are case-sensitive, as in duplicity.
 */
function bestHash(hashes: Map<string, string>): { hashType: string; hash: string } | undefined {
  for (const t of ['SHA1', 'MD5']) if (hashes.has(t)) return { hashType: t, hash: hashes.get(t)! };
  for (const [hashType, hash] of hashes) return { hashType, hash };
  return undefined;
}

/** Index of a manifest path: `.` is the root, anything else is split on every `/` (as duplicity does). */
function manifestIndex(p: Buffer): Index {
  if (p.length === 1 && p[0] === 0x2e) return [];
  const out: Index = [];
  let start = 0;
  for (let i = 0; i <= p.length; i++) {
    if (i === p.length || p[i] === 0x2f) {
      out.push(Buffer.from(p.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

// Manifests carry raw file-name bytes (possibly not UTF-8): latin1 maps bytes 1:1 to string units.
const bytesOf = (s: string) => Buffer.from(s, 'latin1');
// Only ASCII whitespace separates words, as in duplicity: JS `\s` would also split on byte 0xA0
// (NBSP in latin1), which occurs inside UTF-8 names such as "à".
const WS = '[ \\t\\n\\r\\f\\v]';
const WORD = '[^ \\t\\n\\r\\f\\v]';
const WS_RUN = new RegExp(`${WS}+`);
const splitWords = (line: string) => line.split(WS_RUN).filter((w) => w !== '');
// The value is the rest of the line after one whitespace character, as duplicity reads it.
const HOSTNAME_LINE = new RegExp(`^hostname${WS}([^\\n]*)`, 'im');
const LOCALDIR_LINE = new RegExp(`^localdir${WS}([^\\n]*)`, 'im');
const VOLUME_LINE = new RegExp(`^volume${WS}+([0-9]+):`, 'i');
const FILELIST_LINE = new RegExp(`^filelist${WS}+([0-9]+)`, 'im');
const FILELIST_ENTRY = new RegExp(`^${WS}+(new|changed|deleted)${WS}+(${WORD}+)${WS}*$`, 'i');
const INDENTED = new RegExp(`^${WS}`);

function parseBlock(word: string | undefined, what: string): number | undefined {
  if (word === undefined) return undefined;
  if (!/^[0-9]+$/.test(word)) throw new ArchiveFormatError(`bad block number "${word}" in ${what}`, 6);
  return Number(word);
}

/** The entries under a manifest's Filelist line; `text` starts at that line. */
function readFilelist(text: string): FilelistEntry[] {
  const list: FilelistEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const e = FILELIST_ENTRY.exec(line);
    if (!e) {
      if (splitWords(line).length > 0 && INDENTED.test(line)) continue;
      break;
    }
    list.push({ type: e[1].toLowerCase() as FilelistChange, path: unquoteManifestPath(bytesOf(e[2])) });
  }
  return list;
}

export class Manifest {
  hostname?: string;
  /** the source root as given on the command line (raw bytes) */
  localdir?: Buffer;
  /** by volume number; `toBuffer` writes them in number order */
  volumes = new Map<number, ManifestVolume>();
  private listed?: FilelistEntry[];
  /** The manifest text from its Filelist line on, read on first use of `filelist` (see parse). */
  private unreadFilelist?: string;

  /** The Filelist section (§6.1), or undefined when the manifest has none. */
  get filelist(): FilelistEntry[] | undefined {
    if (this.unreadFilelist !== undefined) {
      this.listed = readFilelist(this.unreadFilelist);
      this.unreadFilelist = undefined;
    }
    return this.listed;
  }

  set filelist(list: FilelistEntry[] | undefined) {
    this.unreadFilelist = undefined;
    this.listed = list;
  }

  /**
   * Lenient reader of §6.4. Throws an error with exit code 6 when a volume block lacks its paths.
   * The caller adds the manifest's file name to the message.
   */
  static parse(bytes: Uint8Array): Manifest {
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    const m = new Manifest();
    const host = HOSTNAME_LINE.exec(text);
    if (host) m.hostname = bytesOf(host[1]).toString('utf8');
    const local = LOCALDIR_LINE.exec(text);
    if (local) m.localdir = unquoteManifestPath(bytesOf(local[1]));

    const lines = text.split('\n');
    let current: (Partial<ManifestVolume> & { number: number; hashes: Map<string, string> }) | null = null;
    let lastNumber: number | null = null;
    const finish = () => {
      if (!current) return;
      const what = `volume ${current.number}`;
      if (current.start === undefined) throw new ArchiveFormatError(`${what} has no StartingPath`, 6);
      if (current.end === undefined) throw new ArchiveFormatError(`${what} has no EndingPath`, 6);
      const { hashes, ...vol } = current;
      const best = bestHash(hashes);
      // A resumed backup appends the same volume again; the later one wins (§6.4).
      m.volumes.delete(current.number);
      m.volumes.set(current.number, { ...(vol as ManifestVolume), ...best });
      lastNumber = current.number;
      current = null;
    };
    for (const line of lines) {
      // A full set's Filelist has a line per file (15k+ in a home directory): none belongs to a
      // volume block, so they are passed over without being split into words.
      if (/^filelist/i.test(line)) {
        finish();
        continue;
      }
      if (/^volume /i.test(line)) {
        finish();
        const v = VOLUME_LINE.exec(line);
        if (!v) throw new ArchiveFormatError(`bad volume line "${line}"`, 6);
        current = { number: Number(v[1]), hashes: new Map() };
        continue;
      }
      if (!current) continue;
      const words = splitWords(line);
      if (words.length === 0) continue;
      const key = words[0].toLowerCase();
      const what = `volume ${current.number}`;
      if (key === 'startingpath' || key === 'endingpath') {
        if (words.length < 2) throw new ArchiveFormatError(`${what}: ${words[0]} without a path`, 6);
        const index = manifestIndex(unquoteManifestPath(bytesOf(words[1])));
        const block = parseBlock(words[2], `${what} ${words[0]}`);
        if (key === 'startingpath') {
          current.start = index;
          if (block !== undefined) current.startBlock = block;
        } else {
          current.end = index;
          if (block !== undefined) current.endBlock = block;
        }
      } else if (key === 'hash') {
        if (words.length < 3) throw new ArchiveFormatError(`${what}: Hash line needs a type and a value`, 6);
        current.hashes.set(words[1], words[2]);
      }
    }
    finish();
    // Volumes numbered above the last block belong to an abandoned earlier attempt (§6.4). They must
    // run on without a gap, or the manifest is inconsistent (duplicity refuses it too).
    if (lastNumber !== null) {
      const max = Math.max(...m.volumes.keys());
      for (let n = lastNumber + 1; n <= max; n++) {
        if (!m.volumes.delete(n)) throw new ArchiveFormatError(`volume ${n} is missing between volumes ${lastNumber} and ${max}`, 6);
      }
    }

    // Read when asked for: the check before an incremental and restores need only the volumes.
    const fl = FILELIST_LINE.exec(text);
    if (fl) m.unreadFilelist = text.slice(fl.index);
    return m;
  }

  /** The exact layout of §6.1. */
  toBuffer(): Buffer {
    const out: Buffer[] = [];
    const line = (...parts: (string | Buffer)[]) => out.push(...parts.map((p) => (typeof p === 'string' ? bytesOf(p) : p)), bytesOf('\n'));
    if (this.hostname) line('Hostname ', Buffer.from(this.hostname, 'utf8'));
    if (this.localdir !== undefined) line('Localdir ', quoteManifestPath(this.localdir));
    const pathField = (i: Index, block?: number) => [quoteManifestPath(indexToPath(i)), ' ', block === undefined ? ' ' : String(block)];
    for (const v of [...this.volumes.values()].sort((a, b) => a.number - b.number)) {
      line(`Volume ${v.number}:`);
      line('    StartingPath   ', ...pathField(v.start, v.startBlock));
      line('    EndingPath     ', ...pathField(v.end, v.endBlock));
      if (v.hash !== undefined) line(`    Hash ${v.hashType ?? 'SHA1'} ${v.hash}`);
    }
    if (this.filelist) {
      line(`Filelist ${this.filelist.length}`);
      for (const f of this.filelist) line(`    ${f.type.padEnd(7)}  `, quoteManifestPath(f.path));
    }
    return Buffer.concat(out);
  }
}

/**
 * Whether a volume's index range may hold entries at or under `prefix` (§11.4 step 3):
 * `start[:len(prefix)] <= prefix <= end` as tuples. For the whole tree (`[]`) every volume qualifies.
 */
export function volumeMayContain(vol: Pick<ManifestVolume, 'start' | 'end'>, prefix: Index): boolean {
  return compareIndex(vol.start.slice(0, prefix.length), prefix) <= 0 && compareIndex(prefix, vol.end) <= 0;
}
