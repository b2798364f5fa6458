/**
 * The source walk's lstat: batched through the addon's statNames (one directory descriptor per batch of names)
 * where it is built, lstatSync per entry otherwise. A backup and a verify must see the same metadata either way:
 * every entry's fields equal lstatSync's, in the same order, across a batch boundary, for every file type, and
 * when the root is reached through a symlink (statNames then refuses the directory and the walk falls back).
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STAT_NAMES_FIELDS, STAT_NAMES_MAX, statNames, statNamesAvailable } from '@duplicity-ts/libdeflate';
import { walkSource, type SourceEntry } from '../src/backup/source-walk.js';
import { withAddon } from '../../../test-fixtures/addon-switch.js';

let dir: string;
let root: string;
const asRoot = process.getuid?.() === 0;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'dts-walk-'));
  root = path.join(dir, 'tree');
  mkdirSync(path.join(root, 'many'), { recursive: true });
  // More names than one statNames call takes.
  for (let i = 0; i < STAT_NAMES_MAX + 37; i++) writeFileSync(path.join(root, 'many', `f${i}`), 'x'.repeat(i % 50));
  writeFileSync(path.join(root, 'a.txt'), 'hello\n', { mode: 0o640 });
  writeFileSync(path.join(root, 'exec'), '#!/bin/sh\n', { mode: 0o755 });
  utimesSync(path.join(root, 'a.txt'), 1_600_000_000.25, 1_600_000_000.75);
  symlinkSync('a.txt', path.join(root, 'link'));
  symlinkSync('nowhere', path.join(root, 'dangling'));
  execFileSync('mkfifo', [path.join(root, 'fifo')]);
  mkdirSync(path.join(root, 'sub', 'deeper'), { recursive: true });
  writeFileSync(path.join(root, 'sub', 'deeper', 'z'), 'z');
  if (asRoot) execFileSync('mknod', [path.join(root, 'null'), 'c', '1', '3']);
  symlinkSync(root, path.join(dir, 'via-link'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FIELDS = ['mode', 'uid', 'gid', 'size', 'mtimeMs', 'dev', 'rdev', 'ino', 'nlink'] as const;
const KINDS = ['isFile', 'isDirectory', 'isSymbolicLink', 'isFIFO', 'isCharacterDevice', 'isBlockDevice', 'isSocket'] as const;

function described(e: SourceEntry) {
  const st = e.stat;
  return {
    path: e.path.toString(),
    type: e.type,
    ...Object.fromEntries(FIELDS.map((f) => [f, st[f]])),
    ...Object.fromEntries(KINDS.map((k) => [k, st[k]()])),
  };
}

async function walk(from: string, addon: boolean) {
  return withAddon(addon, async () => {
    const out = [];
    for await (const e of walkSource(from, { matchRoot: from })) out.push(described(e));
    return out;
  });
}

describe('the source walk with batched lstat', () => {
  it('is built where CI runs the tests', () => {
    if (process.env.CI === 'true') expect(statNamesAvailable()).toBe(true);
  });

  it('gives every entry the fields lstatSync gives, in the same order as without the addon', async () => {
    const batched = await walk(root, true);
    const single = await walk(root, false);
    expect(batched).toEqual(single);
    // The root, many/ and its files, 5 entries at the top, sub/deeper/z, the device node.
    expect(batched.length).toBe(1 + 1 + STAT_NAMES_MAX + 37 + 5 + 3 + (asRoot ? 1 : 0));
    for (const e of batched.slice(1)) {
      const st = lstatSync(path.join(root, e.path));
      for (const f of FIELDS) expect([e.path, f, e[f]]).toEqual([e.path, f, st[f]]);
    }
    const types = Object.fromEntries(batched.map((e) => [e.path, e.type]));
    expect(types).toMatchObject({ 'a.txt': 'file', link: 'symlink', dangling: 'symlink', fifo: 'fifo', sub: 'directory', 'sub/deeper/z': 'file' });
    if (asRoot) expect(types.null).toBe('chardev');
    expect(batched.find((e) => e.path === 'a.txt')).toMatchObject({ mtimeMs: 1_600_000_000_750, size: 6 });
  });

  it('walks a root reached through a symlink like the tree itself', async () => {
    const strip = (es: Awaited<ReturnType<typeof walk>>) => es.slice(1).map((e) => ({ ...e }));
    expect(strip(await walk(path.join(dir, 'via-link'), true))).toEqual(strip(await walk(root, true)));
  });
});

describe.runIf(statNamesAvailable())('statNames', () => {
  it('reports a missing entry by its errno and fills the others', () => {
    const names = [Buffer.from('a.txt'), Buffer.from('missing'), Buffer.from('sub')];
    const out = new Float64Array(names.length * STAT_NAMES_FIELDS);
    expect(statNames(Buffer.from(root), names, 0, names.length, out)).toBe(0);
    expect(out[0]).toBe(0);
    expect(out[1]).toBe(lstatSync(path.join(root, 'a.txt')).mode);
    expect(out[STAT_NAMES_FIELDS]).toBe(2); // ENOENT
    expect(out[2 * STAT_NAMES_FIELDS + 1]).toBe(lstatSync(path.join(root, 'sub')).mode);
  });

  it('refuses a directory reached through a symlink, a missing one and an over-long path, writing nothing', () => {
    const out = new Float64Array(STAT_NAMES_FIELDS).fill(7);
    const names = [Buffer.from('a.txt')];
    // O_NOFOLLOW with O_DIRECTORY: ENOTDIR on Linux, ELOOP elsewhere.
    expect([20, 40]).toContain(statNames(Buffer.from(path.join(dir, 'via-link')), names, 0, 1, out));
    expect(statNames(Buffer.from(path.join(dir, 'gone')), names, 0, 1, out)).toBe(2); // ENOENT
    expect(statNames(Buffer.from('/x'.repeat(3000)), names, 0, 1, out)).toBe(36); // ENAMETOOLONG
    expect([...out]).toEqual(new Array(STAT_NAMES_FIELDS).fill(7));
  });

  it('refuses bad arguments with an error, not a crash', () => {
    const out = new Float64Array(STAT_NAMES_FIELDS);
    expect(() => statNames(Buffer.from(root), [Buffer.from('a')], 0, 2, out)).toThrow(/bad arguments/);
    expect(() => statNames(Buffer.from(root), ['a' as unknown as Buffer], 0, 1, out)).toThrow(/Buffers/);
    expect(() => statNames(Buffer.from(root), [Buffer.from('a')], 0, 1, new Float64Array(3))).toThrow(/bad arguments/);
  });
});
