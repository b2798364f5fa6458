import { describe, expect, it, afterEach } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  compareIndex,
  formatFileName,
  formatOldTimeString,
  formatTimeString,
  indexToPath,
  parseFileName,
  parseTimeArg,
  parseTimeString,
  pathToIndex,
} from '@duplicity-ts/archive';
import { FIXTURES } from './environment.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const idx = (...c: string[]) => c.map(b);

describe('Index', () => {
  it('orders as tuples of raw bytes, not as joined paths (§4.4)', () => {
    expect(compareIndex(idx('a', 'b'), idx('a-b'))).toBeLessThan(0);
    expect(Buffer.compare(b('a/b'), b('a-b'))).toBeGreaterThan(0);
    expect(compareIndex([], idx('a'))).toBeLessThan(0);
    expect(compareIndex(idx('a'), idx('a', 'x'))).toBeLessThan(0);
    expect(compareIndex(idx('a', 'x'), idx('a', 'x'))).toBe(0);
    expect(compareIndex(idx('\xff'), idx('z'))).toBeGreaterThan(0);
    const sorted = [idx('a-b'), idx('a', 'b'), idx('a'), [], idx('a', 'b', 'c'), idx('B')].sort(compareIndex);
    expect(sorted.map((i) => indexToPath(i).toString())).toEqual(['.', 'B', 'a', 'a/b', 'a/b/c', 'a-b']);
  });
  it('converts to and from paths, root as "."', () => {
    expect(indexToPath([]).toString()).toBe('.');
    expect(indexToPath(idx('d', 'bad\xffname')).equals(b('d/bad\xffname'))).toBe(true);
    expect(pathToIndex(b('.'))).toEqual([]);
    expect(pathToIndex(b(''))).toEqual([]);
    expect(pathToIndex(b('d/bad\xffname'))).toEqual(idx('d', 'bad\xffname'));
  });
});

describe('time strings', () => {
  const savedTz = process.env.TZ;
  afterEach(() => {
    process.env.TZ = savedTz;
  });
  it('reads and writes the compact UTC form (§1.2 example)', () => {
    expect(parseTimeString('20261130T082734Z')).toBe(1796027254);
    expect(parseTimeString('20261130t082734z')).toBe(1796027254);
    expect(formatTimeString(1796027254)).toBe('20261130T082734Z');
    expect(formatTimeString(1700000000)).toBe('20231114T221320Z');
  });
  it('reads the old W3C form with zone (§1.2 example) and writes it in local time', () => {
    expect(parseTimeString('2005-03-10T13:40:45-07:00')).toBe(1110487245);
    expect(parseTimeString('2005-03-10T20:40:45Z')).toBe(1110487245);
    expect(parseTimeString('2005-03-10T13!40!45-07!00', '!')).toBe(1110487245);
    expect(parseTimeString('2005-03-10T13!40!45-07!00')).toBeNull();
    process.env.TZ = 'America/Denver';
    expect(formatOldTimeString(1110487245)).toBe('2005-03-10T13:40:45-07:00');
    process.env.TZ = 'UTC';
    expect(formatOldTimeString(1796027383)).toBe('2026-11-30T08:29:43Z');
    expect(parseTimeString('2026-11-30T08:29:43Z')).toBe(1796027383);
  });
  it('takes a pure integer as epoch seconds and refuses zero, bad ranges and junk', () => {
    expect(parseTimeString('1234567890')).toBe(1234567890);
    expect(parseTimeString('0')).toBeNull();
    expect(parseTimeString('19700101T000000Z')).toBeNull(); // year out of range
    expect(parseTimeString('20261330T082734Z')).toBeNull(); // month 13
    expect(parseTimeString('20261130T242734Z')).toBeNull(); // hour 24
    expect(parseTimeString('2026113XT082734Z')).toBeNull();
    expect(parseTimeString('2005-03-10T13:40:45+7:00')).toBeNull(); // zone must be 6 chars
    expect(parseTimeString('hello')).toBeNull();
    process.env.TZ = 'America/New_York'; // no zone: local standard time (EST), as duplicity reads it
    expect(parseTimeString('2005-03-10T13:40:45')).toBe(1110480045);
  });
  it('parses every --time form of §14.4', () => {
    process.env.TZ = 'America/New_York';
    const now = 1796027254;
    expect(parseTimeArg('now', now)).toBe(now);
    expect(parseTimeArg('1700000000', now)).toBe(1700000000);
    expect(parseTimeArg('20261130T082800Z', now)).toBe(1796027280);
    expect(parseTimeArg('2002-04-26T04:22:01-07:00', now)).toBe(Date.UTC(2002, 3, 26, 11, 22, 1) / 1000);
    expect(parseTimeArg('2002-04-26T04:22:01Z', now)).toBe(Date.UTC(2002, 3, 26, 4, 22, 1) / 1000);
    // no zone: local time without DST (New York standard time is UTC-5 even in April)
    expect(parseTimeArg('2002-04-26T04:22:01', now)).toBe(Date.UTC(2002, 3, 26, 9, 22, 1) / 1000);
    expect(parseTimeArg('3D', now)).toBe(now - 3 * 86400);
    expect(parseTimeArg('2h30m', now)).toBe(now - 9000);
    expect(parseTimeArg('3D2h', now)).toBe(now - 3 * 86400 - 7200);
    expect(parseTimeArg('1W', now)).toBe(now - 7 * 86400);
    expect(parseTimeArg('1M', now)).toBe(now - 30 * 86400);
    expect(parseTimeArg('1Y10s', now)).toBe(now - 365 * 86400 - 10);
    // dates: midnight local *standard* time (EST, UTC-5, even on a DST day), as duplicity computes it
    const midnight = Date.UTC(2001, 3, 23, 5) / 1000;
    for (const d of ['2001-04-23', '2001/4/23', '2001/04/23', '4/23/2001', '4-23-2001', '04/23/2001', '20010423Z', '2001-04/23']) {
      expect(parseTimeArg(d, now), d).toBe(midnight);
    }
    process.env.TZ = 'UTC';
    expect(parseTimeArg('2001-04-23', now)).toBe(Date.UTC(2001, 3, 23) / 1000);
  });
  it('refuses bad --time strings with exit code 2 and the string in the message', () => {
    for (const bad of ['yesterday', '3d', '2001-13-01', '23/4/2001x', '', ' now', '20261130t082800z', '1900-01-01']) {
      let err: unknown;
      try {
        parseTimeArg(bad, 1000);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(Error);
      expect((err as { exitCode: number }).exitCode).toBe(2);
      expect((err as Error).message).toContain(`"${bad}"`);
    }
  });
});

describe('file names', () => {
  it('classifies every file of every fixture archive, and formats it back to the same name', () => {
    let count = 0;
    for (const scenario of readdirSync(FIXTURES)) {
      const times = new Set(
        readFileSync(join(FIXTURES, scenario, 'expected/times.tsv'), 'utf8')
          .split('\n')
          .filter((l) => l && !l.startsWith('#'))
          .map((l) => Number(l.split('\t')[3])),
      );
      for (const name of readdirSync(join(FIXTURES, scenario, 'archive'))) {
        const p = parseFileName(name);
        expect(p, name).not.toBeNull();
        count++;
        const enc = name.endsWith('.gpg');
        expect(p!.encrypted, name).toBe(enc);
        expect(p!.compressed, name).toBe(name.endsWith('.gz'));
        expect(p!.partial).toBe(false);
        if (name.includes('.vol')) {
          expect(p!.kind).toBe('volume');
          expect(p!.volume).toBe(Number(/\.vol(\d+)\./.exec(name)![1]));
        } else expect(p!.kind).toBe(name.includes('manifest') ? 'manifest' : 'signature');
        const ts = [...name.matchAll(/(\d{8}T\d{6}Z)/g)].map((m) => parseTimeString(m[1])!);
        for (const t of ts) expect(times.has(t), `${name}: ${t}`).toBe(true);
        if (ts.length === 1) {
          expect(p!.time).toBe(ts[0]);
          expect(p!.type).toBe(name.includes('signatures') ? 'full-sig' : 'full');
        } else {
          expect([p!.startTime, p!.endTime]).toEqual(ts);
          expect(p!.type).toBe(name.includes('signatures') ? 'new-sig' : 'inc');
        }
        expect(formatFileName(p!)).toBe(name);
      }
    }
    expect(count).toBe(9 + 14 + 12 + 9 + 27);
  });

  it('reads the forms of §1.1-1.6', () => {
    expect(parseFileName('duplicity-full.20261130T082734Z.vol1.difftar.gz')).toEqual({
      type: 'full', kind: 'volume', time: 1796027254, volume: 1, encrypted: false, compressed: true, partial: false,
    });
    expect(parseFileName('duplicity-inc.20261130T082734Z.to.20261130T082915Z.manifest')).toEqual({
      type: 'inc', kind: 'manifest', startTime: 1796027254, endTime: 1796027355, encrypted: false, compressed: false, partial: false,
    });
    expect(parseFileName('duplicity-new-signatures.20261130T082734Z.to.20261130T082915Z.sigtar.part')).toMatchObject({
      type: 'new-sig', kind: 'signature', partial: true, compressed: false,
    });
    expect(parseFileName('duplicity-full.20261130T082734Z.manifest.part')).toMatchObject({ kind: 'manifest', partial: true });
    expect(parseFileName('duplicity-full.20261130T082734Z.manifest.gpg')).toMatchObject({ encrypted: true, partial: false });
    // volume .gz.part: recognised, not compressed, partial not recorded for volumes
    expect(parseFileName('duplicity-full.20261130T082734Z.vol1.difftar.gz.part')).toMatchObject({
      kind: 'volume', volume: 1, compressed: false, partial: false,
    });
    expect(parseFileName('duplicity-full.20261130T082734Z.vol12.difftar.xyz')).toMatchObject({ volume: 12 });
    expect(parseFileName('duplicity-full.20261130t082734z.vol1.difftar')).toMatchObject({ time: 1796027254 });
    expect(parseFileName('duplicity-full.1234567890.vol1.difftar')).toMatchObject({ time: 1234567890 });
    expect(parseFileName('duplicity-full.2005-03-10T13:40:45-07:00.vol1.difftar.gpg')).toMatchObject({ time: 1110487245, encrypted: true });
    // short names (§1.4)
    expect(parseFileName('df.tpb3lj.1.dt.z')).toEqual({
      type: 'full', kind: 'volume', time: 1796027383, volume: 1, encrypted: false, compressed: true, partial: false,
    });
    expect(parseFileName('df.tpb3lj.m')).toMatchObject({ type: 'full', kind: 'manifest', time: 1796027383 });
    expect(parseFileName('dfs.tpb3lj.st.z')).toMatchObject({ type: 'full-sig', compressed: true });
    expect(parseFileName('di.tpb3lj.tpb3m0.a.dt.g')).toMatchObject({ type: 'inc', startTime: 1796027383, endTime: parseInt('tpb3m0', 36), volume: 10, encrypted: true });
    expect(parseFileName('dns.tpb3lj.tpb3m0.st.p')).toMatchObject({ type: 'new-sig', partial: true });
    expect(parseFileName('duplicity-full.20261130T082734Z.vol1.difftar.gz', undefined, { short: true })).toBeNull();
  });

  it('ignores everything else', () => {
    for (const n of [
      'lockfile', '.duplicity-full.20261130T082734Z.vol1.difftar.gz.part', 'duplicity-full.20261130T082734Z.vol1.difftarX',
      'duplicity-full.garbage.vol1.difftar.gz', 'duplicity-full.0.manifest', 'duplicity-full.20261130T082734Z.volx.difftar',
      'duplicity-inc.20261130T082734Z.manifest', 'xduplicity-full.20261130T082734Z.manifest', 'duplicity-full.20261130T082734Z.manifestx',
      'duplicity-full-signatures.20261130T082734Z.sigtarx', 'P_A_duplicity-full.20261130T082734Z.vol1.difftar.gz', 'README',
    ]) expect(parseFileName(n), n).toBeNull();
  });

  it('applies prefixes per kind (§1.5)', () => {
    const prefixes = { file: 'P_', archive: 'A_', manifest: 'M_', signature: 'S_' };
    const names = [
      'P_A_duplicity-full.20261130T082943Z.vol1.difftar.gz',
      'P_M_duplicity-full.20261130T082943Z.manifest',
      'P_S_duplicity-full-signatures.20261130T082943Z.sigtar.gz',
    ];
    for (const n of names) {
      const p = parseFileName(n, prefixes);
      expect(p, n).not.toBeNull();
      expect(formatFileName(p!, { prefixes })).toBe(n);
      expect(parseFileName(n)).toBeNull();
      expect(parseFileName(n, { file: 'P_' })).toBeNull();
    }
    expect(parseFileName('x.y_duplicity-full.20261130T082943Z.manifest', { file: 'x.y_' })).not.toBeNull();
    expect(parseFileName('xzy_duplicity-full.20261130T082943Z.manifest', { file: 'x.y_' })).toBeNull();
  });

  it('formats short names and suffixes (§1.3, §1.4)', () => {
    const t = 1796027383;
    expect(formatFileName({ type: 'full', kind: 'volume', time: t, volume: 1, compressed: true }, { short: true })).toBe('df.tpb3lj.1.dt.z');
    expect(formatFileName({ type: 'full', kind: 'manifest', time: t }, { short: true })).toBe('df.tpb3lj.m');
    expect(formatFileName({ type: 'full-sig', kind: 'signature', time: t, compressed: true }, { short: true })).toBe('dfs.tpb3lj.st.z');
    expect(formatFileName({ type: 'new-sig', kind: 'signature', startTime: t, endTime: t + 1, partial: true })).toBe(
      'duplicity-new-signatures.20261130T082943Z.to.20261130T082944Z.sigtar.part',
    );
    expect(formatFileName({ type: 'inc', kind: 'volume', startTime: t, endTime: t + 1, volume: 3, encrypted: true })).toBe(
      'duplicity-inc.20261130T082943Z.to.20261130T082944Z.vol3.difftar.gpg',
    );
    expect(() => formatFileName({ type: 'full-sig', kind: 'volume', time: t, volume: 1 })).toThrow();
  });
});
