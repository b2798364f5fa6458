import { describe, expect, it } from 'vitest';
import { formatEntryName, parseEntryName } from '@duplicity-ts/archive';

const b = (s: string) => Buffer.from(s, 'latin1');
const names = (i: Buffer[]) => i.map((c) => c.toString('latin1'));

describe('parseEntryName (§3)', () => {
  it('reads every prefix of both streams', () => {
    const cases: [string, 'difftar' | 'sigtar', string, string[], number?][] = [
      ['snapshot/a/b.txt', 'difftar', 'snapshot', ['a', 'b.txt']],
      ['snapshot/dir/', 'difftar', 'snapshot', ['dir']],
      ['diff/a', 'difftar', 'diff', ['a']],
      ['deleted/gone/dir', 'difftar', 'deleted', ['gone', 'dir']],
      ['multivol_snapshot/big.bin/16', 'difftar', 'multivol_snapshot', ['big.bin'], 16],
      ['multivol_diff/d/exact128k/1', 'difftar', 'multivol_diff', ['d', 'exact128k'], 1],
      ['signature/dir1/a.txt', 'sigtar', 'signature', ['dir1', 'a.txt']],
      ['snapshot/link', 'sigtar', 'snapshot', ['link']],
      ['deleted/x', 'sigtar', 'deleted', ['x']],
      ['snapshot/bad\xffname.txt', 'sigtar', 'snapshot', ['bad\xffname.txt']],
      ['snapshot/..a/b..', 'difftar', 'snapshot', ['..a', 'b..']],
    ];
    for (const [name, stream, kind, index, chunk] of cases) {
      const e = parseEntryName(b(name), stream);
      expect({ kind: e.kind, index: names(e.index), chunk: e.chunk }, name).toEqual({ kind, index, chunk });
    }
  });
  it('takes snapshot/./, snapshot/. and snapshot/ as the root in both streams', () => {
    for (const stream of ['difftar', 'sigtar'] as const)
      for (const n of ['snapshot/./', 'snapshot/.', 'snapshot/']) expect(parseEntryName(b(n), stream), n).toEqual({ kind: 'snapshot', index: [] });
  });
  it('refuses hostile names with a clear message', () => {
    const hostile: [string, RegExp][] = [
      ['snapshot/../x', /refusing difftar entry "snapshot\/..\/x": ".." path component/],
      ['/abs', /unrecognised difftar entry name "\/abs": absolute name/],
      ['diff/a/../../b', /".." path component/],
      ['snapshot//etc/passwd', /absolute path/],
      ['snapshot/a//b', /empty path component/],
      ['snapshot/./x', /"." path component/],
      ['multivol_snapshot/../1', /".." path component/],
      ['multivol_snapshot/a/../b/3', /".." path component/],
      ['multivol_diff/x', /without a chunk number/],
      ['multivol_diff/x/y', /without a chunk number/],
      ['deleted/..', /".." path component/],
      ['diff/', /only a snapshot can name the root/],
      ['signature/a', /unrecognised difftar entry name "signature\/a": unknown prefix "signature"/],
      ['Snapshot/a', /unknown prefix/],
      ['../etc', /unknown prefix/],
      ['snapshot', /no path after the prefix/],
    ];
    for (const [n, re] of hostile) expect(() => parseEntryName(b(n), 'difftar'), n).toThrow(re);
    for (const n of ['diff/a', 'multivol_snapshot/a/1', 'snapshot/../x', 'signature/../../x'])
      expect(() => parseEntryName(b(n), 'sigtar'), n).toThrow(/sigtar entry/);
    let err: unknown;
    try {
      parseEntryName(b('snapshot/../x'), 'difftar');
    } catch (e) {
      err = e;
    }
    expect((err as { exitCode: number }).exitCode).toBe(30);
  });
});

describe('formatEntryName (§3, §4.1, §5.1)', () => {
  const fmt = (kind: Parameters<typeof formatEntryName>[0], idx: string[], o: Parameters<typeof formatEntryName>[2]) =>
    formatEntryName(kind, idx.map(b), o).toString('latin1');
  it('writes the root, directories, files, deletions and chunks as duplicity does', () => {
    expect(fmt('snapshot', [], { isDir: true, stream: 'difftar' })).toBe('snapshot/./');
    expect(fmt('snapshot', [], { isDir: true, stream: 'sigtar' })).toBe('snapshot/');
    expect(fmt('snapshot', ['dir1'], { isDir: true, stream: 'difftar' })).toBe('snapshot/dir1/');
    expect(fmt('snapshot', ['dir1'], { isDir: true, stream: 'sigtar' })).toBe('snapshot/dir1/');
    expect(fmt('snapshot', ['dir1', 'a.txt'], { isDir: false, stream: 'difftar' })).toBe('snapshot/dir1/a.txt');
    expect(fmt('deleted', ['gone'], { isDir: true, stream: 'difftar' })).toBe('deleted/gone');
    expect(fmt('diff', ['a'], { isDir: false, stream: 'difftar' })).toBe('diff/a');
    expect(fmt('signature', ['d', 'bad\xff'], { isDir: false, stream: 'sigtar' })).toBe('signature/d/bad\xff');
    expect(fmt('multivol_snapshot', ['big.bin'], { isDir: false, chunk: 15, stream: 'difftar' })).toBe('multivol_snapshot/big.bin/15');
    expect(fmt('multivol_diff', ['x', 'y'], { isDir: false, chunk: 1, stream: 'difftar' })).toBe('multivol_diff/x/y/1');
  });
  it('refuses combinations duplicity never writes', () => {
    expect(() => fmt('signature', ['a'], { isDir: false, stream: 'difftar' })).toThrow();
    expect(() => fmt('diff', ['a'], { isDir: false, stream: 'sigtar' })).toThrow();
    expect(() => fmt('multivol_diff', ['a'], { isDir: false, stream: 'difftar' })).toThrow();
    expect(() => fmt('snapshot', ['a'], { isDir: false, chunk: 2, stream: 'difftar' })).toThrow();
    expect(() => fmt('deleted', [], { isDir: true, stream: 'difftar' })).toThrow();
  });
});
