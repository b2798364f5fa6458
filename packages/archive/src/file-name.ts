/**
 * Backend file names (FORMAT.md §1): which set a listed file belongs to, which part of it it is, and
 * the suffix flags. Names that do not classify are not duplicity's and are ignored (null).
 */
import { formatTimeString, parseTimeString } from './time-string.js';

export interface ParsedName {
  type: 'full' | 'inc' | 'full-sig' | 'new-sig';
  kind: 'volume' | 'manifest' | 'signature';
  /** full, full-sig: the set's time, epoch seconds */
  time?: number;
  /** inc, new-sig: the time of the set it extends and its own time */
  startTime?: number;
  endTime?: number;
  /** volumes only, from 1 */
  volume?: number;
  encrypted: boolean;
  compressed: boolean;
  /** manifests and signature files only (`.part` in the local cache) */
  partial: boolean;
}

/** `--file-prefix`, `--file-prefix-archive`, `--file-prefix-manifest`, `--file-prefix-signature` (§1.5). */
export interface NamePrefixes {
  file?: string;
  archive?: string;
  manifest?: string;
  signature?: string;
}

export type NameToFormat = Omit<ParsedName, 'encrypted' | 'compressed' | 'partial'> &
  Partial<Pick<ParsedName, 'encrypted' | 'compressed' | 'partial'>>;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function prefixOf(kind: ParsedName['kind'], p: NamePrefixes = {}): string {
  const own = kind === 'volume' ? p.archive : kind === 'manifest' ? p.manifest : p.signature;
  return (p.file ?? '') + (own ?? '');
}

interface Pattern {
  type: ParsedName['type'];
  kind: ParsedName['kind'];
  short: boolean;
  /** groups: time | t1,t2; then volume for volumes; then the partial marker */
  body: string;
}

// Times are matched lazily: the time is everything up to the next fixed part (§1.6).
const PATTERNS: Pattern[] = [
  { type: 'full', kind: 'volume', short: true, body: String.raw`df\.([0-9a-z]+?)\.([0-9a-z]+)\.dt()` },
  { type: 'full', kind: 'manifest', short: true, body: String.raw`df\.([0-9a-z]+?)\.m(\.p)?` },
  { type: 'inc', kind: 'volume', short: true, body: String.raw`di\.([0-9a-z]+?)\.([0-9a-z]+?)\.([0-9a-z]+)\.dt()` },
  { type: 'inc', kind: 'manifest', short: true, body: String.raw`di\.([0-9a-z]+?)\.([0-9a-z]+?)\.m(\.p)?` },
  { type: 'full-sig', kind: 'signature', short: true, body: String.raw`dfs\.([0-9a-z]+?)\.st(\.p)?` },
  { type: 'new-sig', kind: 'signature', short: true, body: String.raw`dns\.([0-9a-z]+?)\.([0-9a-z]+?)\.st(\.p)?` },
  { type: 'full', kind: 'volume', short: false, body: String.raw`duplicity-full\.(.+?)\.vol([0-9]+)\.difftar(\.part)?` },
  { type: 'full', kind: 'manifest', short: false, body: String.raw`duplicity-full\.(.+?)\.manifest(\.part)?` },
  { type: 'inc', kind: 'volume', short: false, body: String.raw`duplicity-inc\.(.+?)\.to\.(.+?)\.vol([0-9]+)\.difftar(\.part)?` },
  { type: 'inc', kind: 'manifest', short: false, body: String.raw`duplicity-inc\.(.+?)\.to\.(.+?)\.manifest(\.part)?` },
  { type: 'full-sig', kind: 'signature', short: false, body: String.raw`duplicity-full-signatures\.(.+?)\.sigtar(\.part)?` },
  { type: 'new-sig', kind: 'signature', short: false, body: String.raw`duplicity-new-signatures\.(.+?)\.to\.(.+?)\.sigtar(\.part)?` },
];

/** Base 36 as short names write it; very long strings give inexact (but equal for equal strings) values, as duplicity accepts them. */
function parseBase36(s: string): number | null {
  if (!/^[0-9a-z]+$/.test(s)) return null;
  return parseInt(s, 36);
}

/**
 * Classifies a backend or cache file name (§1.6): short forms first, then (unless `short` is set, as
 * with `--short-filenames`) the long forms. The recognised part must be followed by the end of the name
 * or a `.`; flags come from the suffix. Returns null for anything that is not a duplicity file.
 * Checked against duplicity 0.8.22's own classifier (test/name-oracle.test.ts), with two deliberate
 * differences: prefixes are matched literally (duplicity uses them as regular expressions), and a
 * time written as an interval (`3D`) is not a file-name time (duplicity crashes on it).
 */
export function parseFileName(name: string, prefixes?: NamePrefixes, opts: { short?: boolean; timeSeparator?: string } = {}): ParsedName | null {
  for (const pat of PATTERNS) {
    if (!pat.short && opts.short) continue;
    const re = new RegExp(`^${escapeRe(prefixOf(pat.kind, prefixes))}${pat.body}($|\\.)`);
    const m = re.exec(name);
    if (!m) continue;
    const groups = m.slice(1, -1);
    const timeOf = (s: string) => {
      if (pat.short) {
        const n = parseBase36(s);
        return n === null || n === 0 ? null : n;
      }
      return parseTimeString(s, opts.timeSeparator);
    };
    const twoTimes = pat.type === 'inc' || pat.type === 'new-sig';
    const times = (twoTimes ? groups.slice(0, 2) : groups.slice(0, 1)).map(timeOf);
    if (times.some((t) => t === null)) continue;
    const rest = groups.slice(times.length);
    const out: ParsedName = {
      type: pat.type,
      kind: pat.kind,
      // As duplicity 0.8.22 does: in short mode only `.g`/`.z` count, otherwise both styles do.
      encrypted: opts.short ? name.endsWith('.g') : name.endsWith('.gpg') || name.endsWith('.g'),
      compressed: opts.short ? name.endsWith('.z') : name.endsWith('gz') || name.endsWith('.z'),
      partial: false,
    };
    if (twoTimes) [out.startTime, out.endTime] = times as number[];
    else out.time = times[0]!;
    if (pat.kind === 'volume') {
      const v = pat.short ? parseBase36(rest[0]) : Number(rest[0]);
      if (v === null || v === 0) continue; // volumes count from 1; duplicity fails on volume 0
      out.volume = v;
    } else {
      out.partial = rest[0] !== undefined;
    }
    return out;
  }
  return null;
}

/**
 * The name duplicity gives a file (§1.1, §1.4, §1.5). Suffixes follow the flags literally:
 * `.part` (short `.p`) first, then `.gpg` (`.g`) or `.gz` (`.z`); duplicity never compresses manifests
 * and never sets both, so callers pass what §1.3 says for the file at hand.
 */
export function formatFileName(n: NameToFormat, opts: { short?: boolean; prefixes?: NamePrefixes } = {}): string {
  const short = !!opts.short;
  const t = (epoch: number | undefined) => {
    if (epoch === undefined) throw new Error(`formatFileName: ${n.type} ${n.kind} needs its time(s)`);
    return short ? epoch.toString(36) : formatTimeString(epoch);
  };
  const vol = () => {
    if (n.volume === undefined) throw new Error('formatFileName: a volume needs its number');
    return short ? n.volume.toString(36) : String(n.volume);
  };
  let base: string;
  const times = n.type === 'inc' || n.type === 'new-sig' ? (short ? `${t(n.startTime)}.${t(n.endTime)}` : `${t(n.startTime)}.to.${t(n.endTime)}`) : t(n.time);
  if (n.kind === 'volume') {
    if (n.type !== 'full' && n.type !== 'inc') throw new Error(`formatFileName: no volumes in a ${n.type} set`);
    base = short ? `${n.type === 'full' ? 'df' : 'di'}.${times}.${vol()}.dt` : `duplicity-${n.type}.${times}.vol${vol()}.difftar`;
  } else if (n.kind === 'manifest') {
    if (n.type !== 'full' && n.type !== 'inc') throw new Error(`formatFileName: no manifest in a ${n.type} set`);
    base = short ? `${n.type === 'full' ? 'df' : 'di'}.${times}.m` : `duplicity-${n.type}.${times}.manifest`;
  } else {
    if (n.type !== 'full-sig' && n.type !== 'new-sig') throw new Error(`formatFileName: signatures are full-sig or new-sig, not ${n.type}`);
    base = short
      ? `${n.type === 'full-sig' ? 'dfs' : 'dns'}.${times}.st`
      : `duplicity-${n.type === 'full-sig' ? 'full-signatures' : 'new-signatures'}.${times}.sigtar`;
  }
  if (n.partial) base += short ? '.p' : '.part';
  if (n.encrypted) base += short ? '.g' : '.gpg';
  else if (n.compressed) base += short ? '.z' : '.gz';
  return prefixOf(n.kind, opts.prefixes) + base;
}
