import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Selector, SelectionError, canonicalRoot, parseFilelist, type SelectionRule } from '../src/selection/selector.js';
import { compileGlob } from '../src/selection/glob.js';
import { walkSource } from '../src/backup/source-walk.js';

// The tree of FORMAT.md §14.3's observed results: g/{a/{x.py,b/{y.py,z.txt}},c/Q.TXT,top.txt}
let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'dts-sel-'));
  for (const d of ['g/a/b', 'g/c']) mkdirSync(path.join(work, d), { recursive: true });
  for (const f of ['g/a/x.py', 'g/a/b/y.py', 'g/a/b/z.txt', 'g/c/Q.TXT', 'g/top.txt']) writeFileSync(path.join(work, f), f);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const ex = (v: string): SelectionRule => ({ kind: 'exclude', value: v });
const inc = (v: string): SelectionRule => ({ kind: 'include', value: v });

async function kept(rules: SelectionRule[], root = 'g'): Promise<string> {
  const abs = path.join(work, root);
  const selector = await Selector.create(rules, {
    root: canonicalRoot(root),
    rootDev: statSync(abs).dev,
    parseTime: (s) => Number(s),
  });
  const out: string[] = [];
  // Match against the root as given (relative), walk the absolute path.
  for await (const e of walkSource(abs, { selector, matchRoot: canonicalRoot(root) })) {
    out.push(e.index.length === 0 ? '.' : e.index.map((c) => c.toString()).join('/'));
  }
  return out.join(' ');
}

describe('selection: the observed results of FORMAT.md §14.3', () => {
  it.each([
    [[ex('g/a/*')], '. a c c/Q.TXT top.txt'],
    [[ex('g/a/*/')], '. a a/x.py c c/Q.TXT top.txt'],
    [[ex('**/b')], '. a a/x.py c c/Q.TXT top.txt'],
    [[ex('g/[ab]')], '. c c/Q.TXT top.txt'],
    [[inc('g/a/b/z.txt'), ex('g/a')], '. a a/b a/b/z.txt c c/Q.TXT top.txt'],
    [[inc('g/**.py'), ex('**')], '. a a/b a/b/y.py a/x.py'],
    [[ex('ignorecase:g/c/q.txt')], '. a a/b a/b/y.py a/b/z.txt a/x.py c top.txt'],
  ])('%j keeps %s', async (rules, want) => {
    expect(await kept(rules)).toBe(want);
  });

  it('keeps everything without rules, in index order', async () => {
    expect(await kept([])).toBe('. a a/b a/b/y.py a/b/z.txt a/x.py c c/Q.TXT top.txt');
  });

  it('canonicalises the root like Localdir', () => {
    expect(canonicalRoot('g/')).toBe('g');
    expect(canonicalRoot('./g/./h/')).toBe('g/h');
    expect(canonicalRoot('/')).toBe('/');
    expect(canonicalRoot('.')).toBe('.');
    expect(canonicalRoot('/srv//data/')).toBe('/srv/data');
  });
});

describe('selection errors carry duplicity exit codes', () => {
  const create = (rules: SelectionRule[], root = 'g') =>
    Selector.create(rules, { root, rootDev: 0, parseTime: Number });

  it('exit 14 for a glob that cannot match under the root', async () => {
    await expect(create([ex('a')])).rejects.toMatchObject({ exitCode: 14 });
    await expect(create([ex('./g/a')])).rejects.toBeInstanceOf(SelectionError);
    await expect(create([ex('/proc')], '/')).resolves.toBeDefined();
    await expect(create([ex('**')])).resolves.toBeDefined();
  });

  it('exit 16 when the last rule is an include', async () => {
    await expect(create([inc('g/a')])).rejects.toMatchObject({ exitCode: 16 });
    await expect(create([ex('g/c'), inc('g/a')])).rejects.toMatchObject({ exitCode: 16 });
  });

  it('exit 7 for a filelist that cannot be read', async () => {
    await expect(create([{ kind: 'exclude-filelist', value: path.join(work, 'missing') }])).rejects.toMatchObject({
      exitCode: 7,
    });
  });
});

describe('globs', () => {
  it('trailing slash: exact match only for directories, contents still match', () => {
    const g = compileGlob('g/a/x.py/');
    expect(g.matches('g/a/x.py', false)).toBe(false);
    expect(g.matches('g/a/x.py', true)).toBe(true);
    expect(g.matches('g/a/x.py/in', false)).toBe(true);
  });
  it('* and ? do not cross /, ** does, classes and negation, unclosed [ is literal', () => {
    expect(compileGlob('g/*.txt').matches('g/a/b.txt', false)).toBe(false);
    expect(compileGlob('g/**.txt').matches('g/a/b.txt', false)).toBe(true);
    expect(compileGlob('g/?').matches('g/a', false)).toBe(true);
    expect(compileGlob('g/?').matches('g/ab', false)).toBe(false);
    expect(compileGlob('g/[!a]*').matches('g/abc', false)).toBe(false);
    expect(compileGlob('g/[!a]*').matches('g/top', false)).toBe(true);
    expect(compileGlob('g/[a').matches('g/[a', false)).toBe(true);
  });
  it('matches a path when a parent directory matches', () => {
    expect(compileGlob('g/a').matches('g/a/b/c', false)).toBe(true);
    expect(compileGlob('g/a').matches('g/ab', false)).toBe(false);
  });
});

describe('filelists', () => {
  it('trims, skips comments and blanks, reads +/- signs and strips quotes', () => {
    expect(parseFilelist('  g/a  \n# c\n\n+ g/b\n- "g/c d"\n\'g/e\'\n', false)).toEqual([
      { sign: undefined, glob: 'g/a' },
      { sign: '+', glob: 'g/b' },
      { sign: '-', glob: 'g/c d' },
      { sign: undefined, glob: 'g/e' },
    ]);
    expect(parseFilelist('g/a\0g/b\n', true)).toEqual([
      { sign: undefined, glob: 'g/a' },
      { sign: undefined, glob: 'g/b' },
    ]);
  });

  it('an exclude-filelist excludes its globs in place', async () => {
    const list = path.join(work, 'list.txt');
    writeFileSync(list, '+ g/a/b/z.txt\ng/a\n');
    expect(await kept([{ kind: 'exclude-filelist', value: list }])).toBe('. a a/b a/b/z.txt c c/Q.TXT top.txt');
  });
});
