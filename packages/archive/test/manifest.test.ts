import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Manifest, indexToPath, quoteManifestPath, unquoteManifestPath, volumeMayContain, type Index } from '@duplicity-ts/archive';
import { FIXTURES } from './environment.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const idx = (...c: string[]) => c.map(b);
const paths = (i: Index) => indexToPath(i).toString('latin1');

describe('Manifest', () => {
  it('parses every plain fixture manifest and writes it back byte-identically', () => {
    let n = 0;
    for (const scenario of readdirSync(FIXTURES)) {
      const dir = join(FIXTURES, scenario, 'archive');
      for (const name of readdirSync(dir).filter((f) => f.endsWith('.manifest'))) {
        const bytes = readFileSync(join(dir, name));
        const m = Manifest.parse(bytes);
        expect(m.hostname).toBe('duplicity-fixtures');
        expect(m.localdir?.toString()).toBe('src');
        expect(m.volumes.size).toBeGreaterThan(0);
        for (const v of m.volumes.values()) {
          expect(v.hashType).toBe('SHA1');
          expect(v.hash).toMatch(/^[0-9a-f]{40}$/);
        }
        expect(m.toBuffer().equals(bytes), name).toBe(true);
        n++;
      }
    }
    expect(n).toBe(3 + 3 + 9);
  });

  it('reads the multivol fixture volumes with their block numbers (§6.2)', () => {
    const dir = join(FIXTURES, 'multivol', 'archive');
    const m = Manifest.parse(readFileSync(join(dir, 'duplicity-full.20221025T231558Z.manifest')));
    const vols = [...m.volumes.values()].map((v) => [v.number, paths(v.start), v.startBlock, paths(v.end), v.endBlock]);
    expect(vols).toEqual([
      [1, '.', undefined, 'big-1.bin', 15],
      [2, 'big-1.bin', 16, 'big-1.bin', 30],
      [3, 'big-1.bin', 31, 'sub/big-2.bin', 5],
      [4, 'sub/big-2.bin', 6, 'sub/big-2.bin', 20],
      [5, 'sub/big-2.bin', 21, 'sub/big-2.bin', 35],
      [6, 'sub/big-2.bin', 36, 'sub/big-2.bin', undefined],
    ]);
    expect(m.volumes.get(6)!.hash).toBe('f56a43dfc307daab9cf94cd874f1d02a6d4f985e');
    expect(m.filelist!.map((f) => `${f.type} ${f.path}`)).toEqual(['new big-1.bin', 'new notes/small-0.txt', 'new notes/small-1.txt', 'new sub/big-2.bin']);
  });

  it('writes the §4.7 example byte for byte (169 bytes, trailing spaces)', () => {
    const m = new Manifest();
    m.hostname = 'vm';
    m.localdir = b('s6');
    m.volumes.set(1, { number: 1, start: [], end: idx('a.txt'), hashType: 'SHA1', hash: '3e2c973fed78d2f45dc97db70032e196bac10548' });
    m.filelist = [{ type: 'new', path: b('a.txt') }];
    const text =
      'Hostname vm\nLocaldir s6\nVolume 1:\n    StartingPath   .  \n    EndingPath     a.txt  \n' +
      '    Hash SHA1 3e2c973fed78d2f45dc97db70032e196bac10548\nFilelist 1\n    new      a.txt\n';
    expect(m.toBuffer().toString('latin1')).toBe(text);
    expect(m.toBuffer().length).toBe(169);
  });

  it('quotes and unquotes as §6.3 says, leaving other bytes raw', () => {
    expect(quoteManifestPath(b(`dir1/sp ace'q"uote.txt`)).toString()).toBe('"dir1/sp\\x20ace\\x27q\\x22uote.txt"');
    expect(quoteManifestPath(b('a\nb')).toString()).toBe('"a\\x0ab"');
    expect(quoteManifestPath(b('a\\b\t\r\f\v')).toString()).toBe('"a\\x5cb\\x09\\x0d\\x0c\\x0b"');
    expect(quoteManifestPath(b('bad\xffname.txt')).equals(b('bad\xffname.txt'))).toBe(true);
    expect(quoteManifestPath(Buffer.from('unicodé dir/à', 'utf8')).toString('utf8')).toBe('"unicodé\\x20dir/à"');
    expect(unquoteManifestPath(b('"dir1/sp\\x20ace\\x27q\\x22uote.txt"')).toString()).toBe(`dir1/sp ace'q"uote.txt`);
    expect(unquoteManifestPath(b('plain\\x20')).toString()).toBe('plain\\x20');
  });

  it('round-trips names with special bytes through the §6.1 layout', () => {
    const m = new Manifest();
    m.hostname = 'host';
    m.localdir = b('/srv/my data');
    // "à" is C3 A0 in UTF-8: A0 must not be taken for whitespace
    const odd = [Buffer.from('unicodé dir', 'utf8'), Buffer.from('à\xff', 'latin1'), b(`q"'\\\n`)];
    m.volumes.set(1, { number: 1, start: [], end: odd, endBlock: 7, hashType: 'SHA1', hash: 'ab'.repeat(20) });
    m.volumes.set(2, { number: 2, start: odd, startBlock: 8, end: odd, hashType: 'SHA1', hash: 'cd'.repeat(20) });
    m.filelist = [
      { type: 'changed', path: indexToPath(odd) },
      { type: 'deleted', path: Buffer.from('x à', 'utf8') },
    ];
    const bytes = m.toBuffer();
    const back = Manifest.parse(bytes);
    expect(back.localdir!.toString()).toBe('/srv/my data');
    expect(back.volumes.get(1)!.end).toEqual(odd);
    expect(back.volumes.get(1)!.endBlock).toBe(7);
    expect(back.volumes.get(2)!.start).toEqual(odd);
    expect(back.filelist).toEqual(m.filelist);
    expect(back.toBuffer().equals(bytes)).toBe(true);
  });

  it('reads leniently: case-insensitive keys, repeated volumes (later wins), volumes above the last block dropped', () => {
    const text = [
      'hostname myhost',
      'LOCALDIR "my\\x20dir"',
      'Volume 1:',
      '  startingpath .',
      '  ENDINGPATH a 3',
      '  hash md5 00112233445566778899aabbccddeeff',
      '  Hash SHA1 1111111111111111111111111111111111111111',
      'Volume 2:',
      '    StartingPath   a 4',
      '    EndingPath     b  ',
      '    Hash SHA1 2222222222222222222222222222222222222222',
      'Volume 3:',
      '    StartingPath   c  ',
      '    EndingPath     d  ',
      '    Hash SHA1 3333333333333333333333333333333333333333',
      'volume 2:',
      '    StartingPath   a 4',
      '    EndingPath     bb  ',
      '    Hash MD5 44444444444444444444444444444444',
      'Filelist 2',
      '    new      a',
      '    changed  "b\\x20c"',
      '',
    ].join('\n');
    const m = Manifest.parse(b(text));
    expect(m.hostname).toBe('myhost');
    expect(m.localdir!.toString()).toBe('my dir');
    expect([...m.volumes.keys()]).toEqual([1, 2]);
    expect(m.volumes.get(1)).toEqual({
      number: 1, start: [], end: idx('a'), endBlock: 3, hashType: 'SHA1', hash: '1111111111111111111111111111111111111111',
    });
    expect(m.volumes.get(2)).toMatchObject({ end: idx('bb'), startBlock: 4, hashType: 'MD5', hash: '44444444444444444444444444444444' });
    expect(m.filelist).toEqual([
      { type: 'new', path: b('a') },
      { type: 'changed', path: b('b c') },
    ]);
  });

  it('reads the resumed-backup shape of §6.4 (Volume 2 twice, then 3 and 4)', () => {
    const vol = (n: number, h: string) => `Volume ${n}:\n    StartingPath   .  \n    EndingPath     .  \n    Hash SHA1 ${h.repeat(40)}\n`;
    const m = Manifest.parse(b('Hostname h\nLocaldir src\n' + vol(1, '1') + vol(2, 'a') + vol(2, 'b') + vol(3, '3') + vol(4, '4')));
    expect([...m.volumes.keys()]).toEqual([1, 2, 3, 4]);
    expect(m.volumes.get(2)!.hash).toBe('b'.repeat(40));
    expect(m.filelist).toBeUndefined();
  });

  it('accepts a manifest with no hash and no hostname', () => {
    const m = Manifest.parse(b('Volume 1:\n    StartingPath   .  \n    EndingPath     .  \n'));
    expect(m.hostname).toBeUndefined();
    expect(m.volumes.get(1)).toEqual({ number: 1, start: [], end: [] });
    expect(m.toBuffer().toString()).toBe('Volume 1:\n    StartingPath   .  \n    EndingPath     .  \n');
  });

  it('refuses volume blocks without paths, with exit code 6', () => {
    for (const bad of ['Volume 1:\n    EndingPath     .  \n', 'Volume 1:\n    StartingPath   .  \n', 'Volume x:\n', 'Volume 1:\n StartingPath . z\n EndingPath . \n']) {
      expect(() => Manifest.parse(b(bad))).toThrow(expect.objectContaining({ exitCode: 6 }));
    }
  });
});

describe('volumeMayContain (§11.4 step 3)', () => {
  const vol = (s: Index, e: Index) => ({ start: s, end: e });
  it('takes every volume for the whole tree', () => {
    expect(volumeMayContain(vol(idx('m'), idx('z')), [])).toBe(true);
  });
  it('compares start cut to the prefix length, and the prefix with end', () => {
    expect(volumeMayContain(vol(idx('a', 'x'), idx('b')), idx('a'))).toBe(true);
    expect(volumeMayContain(vol([], idx('a')), idx('a'))).toBe(true);
    expect(volumeMayContain(vol([], idx('a', 'b')), idx('a'))).toBe(true);
    expect(volumeMayContain(vol(idx('a', 'y'), idx('a', 'z')), idx('a', 'b'))).toBe(false);
    expect(volumeMayContain(vol(idx('b'), idx('c')), idx('a'))).toBe(false);
    expect(volumeMayContain(vol([], idx('a-b')), idx('b'))).toBe(false);
    expect(volumeMayContain(vol(idx('big'), idx('big')), idx('big'))).toBe(true);
  });
});
