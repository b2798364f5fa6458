/**
 * Time strings: the ones in backend file names (FORMAT.md §1.2) and the general `--time` argument
 * forms (§14.4). All times are integer epoch seconds.
 */
import { ArchiveFormatError } from './errors.js';

/** `YYYYMMDDTHHMMSSZ`, always UTC: the form duplicity writes in file names. */
export function formatTimeString(epoch: number): string {
  const d = new Date(epoch * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `T${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`
  );
}

/**
 * The old W3C form of `--old-filenames`: local wall-clock time with the local offset including DST,
 * `Z` when the offset is zero. `sep` is the `--time-separator` character.
 */
export function formatOldTimeString(epoch: number, sep = ':'): string {
  const d = new Date(epoch * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const west = d.getTimezoneOffset();
  let zone = 'Z';
  if (west !== 0) {
    const east = -west;
    zone = `${east < 0 ? '-' : '+'}${p(Math.floor(Math.abs(east) / 60))}${sep}${p(Math.abs(east) % 60)}`;
  }
  return (
    `${p(d.getFullYear(), 4)}-${p(d.getMonth() + 1)}-${p(d.getDate())}` +
    `T${p(d.getHours())}${sep}${p(d.getMinutes())}${sep}${p(d.getSeconds())}${zone}`
  );
}

/**
 * Seconds east of UTC of local *standard* time (no DST), as Python's `time.timezone` gives it for the
 * current year: what a zoneless W3C time and the date-only forms mean (checked against duplicity 0.8.22).
 */
function standardOffsetEast(): number {
  const year = new Date().getFullYear();
  const jan = new Date(year, 0, 1).getTimezoneOffset();
  const jul = new Date(year, 6, 1).getTimezoneOffset();
  return -Math.max(jan, jul) * 60;
}

/** `Z` or `±HH:MM` for local standard time. */
function localZoneDesignator(sep = ':'): string {
  const east = standardOffsetEast();
  if (east === 0) return 'Z';
  const a = Math.abs(east);
  return `${east < 0 ? '-' : '+'}${String(Math.floor(a / 3600)).padStart(2, '0')}${sep}${String(Math.floor((a % 3600) / 60)).padStart(2, '0')}`;
}

const DIGITS = /^[0-9]+$/;

function num(s: string): number | null {
  return DIGITS.test(s) ? Number(s) : null;
}

/** Date.UTC with duplicity's range checks (§1.2); out-of-range fields make the string invalid. */
function utcEpoch(y: number | null, mo: number | null, d: number | null, h: number | null, mi: number | null, s: number | null): number | null {
  if (y === null || mo === null || d === null || h === null || mi === null || s === null) return null;
  if (y < 1901 || y > 2099 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 61) return null;
  return Date.UTC(y, mo - 1, d, h, mi, s) / 1000;
}

/**
 * Parses a time found in a file name (§1.2), the way duplicity does: upper-cased, then a pure decimal
 * integer is epoch seconds, 16 characters are the compact UTC form, 19 or more are
 * `YYYY-MM-DDTHH:MM:SS` plus `Z` or `±HH:MM` (`:` being `sep`). Returns null when the string does not
 * parse or parses to 0 (such a file is not recognised).
 */
export function parseTimeString(s: string, sep = ':'): number | null {
  const t = parseGeneralTime(s.toUpperCase(), sep);
  return t === null || t === 0 || !Number.isFinite(t) ? null : t;
}

/** The compact and W3C forms, and epoch seconds, case-sensitive (`--time` does not upper-case). */
function parseExactTime(t: string, sep: string): number | null {
  let epoch: number | null = null;
  if (DIGITS.test(t)) {
    epoch = Number(t);
  } else if (t.length === 16) {
    if (t[8] !== 'T' || t[15] !== 'Z') return null;
    epoch = utcEpoch(num(t.slice(0, 4)), num(t.slice(4, 6)), num(t.slice(6, 8)), num(t.slice(9, 11)), num(t.slice(11, 13)), num(t.slice(13, 15)));
  } else if (t.length >= 19) {
    if (t[4] !== '-' || t[7] !== '-' || t[10] !== 'T' || t[13] !== sep || t[16] !== sep) return null;
    const y = num(t.slice(0, 4));
    const wall = utcEpoch(y, num(t.slice(5, 7)), num(t.slice(8, 10)), num(t.slice(11, 13)), num(t.slice(14, 16)), num(t.slice(17, 19)));
    if (wall === null || y === null) return null;
    const zone = t.slice(19);
    let east: number;
    if (zone === 'Z') east = 0;
    else {
      if (zone.length !== 6 || (zone[0] !== '+' && zone[0] !== '-') || zone[3] !== sep) return null;
      const zh = num(zone.slice(1, 3));
      const zm = num(zone.slice(4, 6));
      if (zh === null || zm === null) return null;
      east = (zone[0] === '-' ? -1 : 1) * (zh * 3600 + zm * 60);
    }
    epoch = wall - east;
  }
  return epoch;
}

/**
 * What `--time` and file names share: epoch seconds, the compact and W3C forms, the same retried with
 * the local standard zone appended (so a zoneless W3C time is local standard time, and `…T082800`
 * without `Z` passes where that zone is UTC), and the date-only forms at local standard midnight.
 */
function parseGeneralTime(t: string, sep: string): number | null {
  const exact = parseExactTime(t, sep) ?? parseExactTime(t + localZoneDesignator(sep), sep);
  if (exact !== null) return exact;
  let m: RegExpMatchArray | null;
  if ((m = t.match(/^([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})$/))) return localMidnight(Number(m[1]), Number(m[2]), Number(m[3]));
  if ((m = t.match(/^([0-9]{1,2})[-/]([0-9]{1,2})[-/]([0-9]{4})$/))) return localMidnight(Number(m[3]), Number(m[1]), Number(m[2]));
  if ((m = t.match(/^([0-9]{4})([0-9]{2})([0-9]{2})Z$/))) return localMidnight(Number(m[1]), Number(m[2]), Number(m[3]));
  return null;
}

const INTERVAL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, D: 86400, W: 7 * 86400, M: 30 * 86400, Y: 365 * 86400 };

/** Midnight in local standard time (no DST), for the date-only forms of §14.4, as duplicity computes it. */
function localMidnight(y: number, mo: number, d: number): number | null {
  if (y < 1901 || y > 2099 || mo < 1 || mo > 12 || d < 1 || d > 31) return null;
  return Date.UTC(y, mo - 1, d) / 1000 - standardOffsetEast();
}

/**
 * The general time argument of `--time`, `remove-older-than`, `--full-if-older-than` (§14.4):
 * `now`, epoch seconds, the compact and W3C forms, intervals (`3D2h`, `1W`: now minus the interval;
 * units s m h D W M Y, case-sensitive) and dates (`2001-04-23`, `2001/4/23`, `4/23/2001`, `4-23-2001`,
 * `20010423Z`: midnight local standard time; month before day; `-` and `/` may be mixed). `now` is
 * epoch seconds. Checked form by form against duplicity 0.8.22's own parser (test/time-oracle.test.ts).
 * Throws an error with exit code 2 (a command-line error) when nothing fits.
 */
export function parseTimeArg(s: string, now: number): number {
  if (s === 'now') return now;
  if (/^([0-9]+[smhDWMY])+$/.test(s)) {
    let total = 0;
    for (const m of s.matchAll(/([0-9]+)([smhDWMY])/g)) total += Number(m[1]) * INTERVAL_UNITS[m[2]];
    return now - total;
  }
  const t = parseGeneralTime(s, ':');
  if (t !== null) return t;
  throw new ArchiveFormatError(
    `bad time string "${s}": expected now, epoch seconds, an interval like 3D2h, YYYYMMDDTHHMMSSZ, ` +
      `YYYY-MM-DDTHH:MM:SS[Z|±HH:MM], YYYY-MM-DD, YYYY/MM/DD or MM/DD/YYYY`,
    2,
  );
}
