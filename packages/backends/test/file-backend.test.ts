import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openBackend, BackendError } from '@duplicity-ts/backends';

let tmp: string;
beforeEach(async () => { tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'dts-file-')); });
afterEach(async () => { await fsp.rm(tmp, { recursive: true, force: true }); });

describe('file:// backend', () => {
  it('puts, lists, stats, gets and removes files in an absolute dir it creates', async () => {
    const target = path.join(tmp, 'a', 'b c');
    const b = await openBackend(`file://${target.replace(/ /g, '%20')}`);
    expect((await fsp.stat(target)).isDirectory()).toBe(true);
    const src = path.join(tmp, 'src.bin');
    const data = Buffer.alloc(300_000).map((_, i) => (i * 7919) & 0xff);
    await fsp.writeFile(src, data);
    await b.put('duplicity-full.20261130T082734Z.vol1.difftar.gz', src);
    expect(await b.list()).toEqual(['duplicity-full.20261130T082734Z.vol1.difftar.gz']);
    expect(await fsp.readdir(target)).toEqual(['duplicity-full.20261130T082734Z.vol1.difftar.gz']);
    expect(await b.stat('duplicity-full.20261130T082734Z.vol1.difftar.gz')).toEqual({ size: data.length });
    expect(await b.stat('missing')).toBeNull();
    const out = path.join(tmp, 'out.bin');
    await b.get('duplicity-full.20261130T082734Z.vol1.difftar.gz', out);
    expect((await fsp.readFile(out)).equals(data)).toBe(true);
    await b.remove('duplicity-full.20261130T082734Z.vol1.difftar.gz');
    expect(await b.list()).toEqual([]);
    await b.close();
  });

  it('resolves file://rel/dir against the working directory', async () => {
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      const b = await openBackend('file://rel/dir');
      await fsp.writeFile(path.join(tmp, 'x'), 'x');
      await b.put('f', path.join(tmp, 'x'));
      expect(await fsp.readFile(path.join(tmp, 'rel', 'dir', 'f'), 'utf8')).toBe('x');
    } finally {
      process.chdir(cwd);
    }
  });

  it('hides upload temporaries and directories from list', async () => {
    const b = await openBackend(`file://${tmp}/t`);
    await fsp.writeFile(path.join(tmp, 't', '.duplicity-ts-upload-1-abc-vol1'), 'half');
    await fsp.mkdir(path.join(tmp, 't', 'sub'));
    await fsp.writeFile(path.join(tmp, 't', 'real'), 'r');
    expect(await b.list()).toEqual(['real']);
  });

  it('fails with exit code 52 and a one-line message on a missing file', async () => {
    const b = await openBackend(`file://${tmp}/t`);
    const err = await b.get('nope', path.join(tmp, 'o')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).exitCode).toBe(52);
    expect((err as Error).message).toBe(`failed to download nope from file://${tmp}/t: no such file or directory`);
    const err2 = await b.put('x', path.join(tmp, 'no-such-local')).catch((e: unknown) => e);
    expect((err2 as BackendError).exitCode).toBe(52);
    expect(await fsp.readdir(path.join(tmp, 't'))).toEqual([]);
  });

  it('with consume, moves the local file into place and never replaces an existing file', async () => {
    const b = await openBackend(`file://${tmp}/t`);
    const src = path.join(tmp, 'vol.tmp');
    await fsp.writeFile(src, 'volume bytes');
    await b.put('vol1', src, { consume: true });
    expect(await fsp.readFile(path.join(tmp, 't', 'vol1'), 'utf8')).toBe('volume bytes');
    await expect(fsp.stat(src)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await fsp.readdir(path.join(tmp, 't'))).toEqual(['vol1']);

    await fsp.writeFile(src, 'other bytes');
    const err = await b.put('vol1', src, { consume: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as Error).message).toMatch(/^failed to upload vol1 to file:\/\/.*already exists/);
    expect(await fsp.readFile(path.join(tmp, 't', 'vol1'), 'utf8')).toBe('volume bytes');
    // A dangling symlink planted at the name is not followed either.
    await fsp.symlink(path.join(tmp, 'elsewhere'), path.join(tmp, 't', 'vol2'));
    await expect(b.put('vol2', src, { consume: true })).rejects.toThrow(/already exists/);
    await expect(fsp.stat(path.join(tmp, 'elsewhere'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses names that would leave the target directory', async () => {
    const b = await openBackend(`file://${tmp}/t`);
    await fsp.writeFile(path.join(tmp, 'x'), 'x');
    await expect(b.put('../escape', path.join(tmp, 'x'))).rejects.toThrow(/not a plain file name/);
    await expect(b.get('../x', path.join(tmp, 'y'))).rejects.toThrow(/not a plain file name/);
  });

  it('gives the local path of a file to read in place; plain names only, a missing file fails as get does', async () => {
    const b = await openBackend(`file://${tmp}/t`);
    await fsp.writeFile(path.join(tmp, 't', 'vol'), 'v');
    expect(await b.localPath!('vol')).toBe(path.join(tmp, 't', 'vol'));
    await expect(b.localPath!('../x')).rejects.toThrow(/not a plain file name/);
    const err = await b.localPath!('nope').catch((e: unknown) => e);
    expect((err as BackendError).exitCode).toBe(52);
    expect((err as Error).message).toBe(`failed to read nope from file://${tmp}/t: no such file or directory`);
  });

  it('reports a target that cannot be created as a one-line error', async () => {
    await fsp.writeFile(path.join(tmp, 'plainfile'), 'x');
    const err = await openBackend(`file://${tmp}/plainfile/sub`).catch((e: unknown) => e);
    expect((err as BackendError).exitCode).toBe(52);
    expect((err as Error).message).toBe(`failed to create target directory file://${tmp}/plainfile/sub: not a directory`);
  });

  it('rejects ssh:// and unknown schemes with exit code 23, bad URLs with 8', async () => {
    await expect(openBackend('ssh://h/x')).rejects.toMatchObject({ exitCode: 23 });
    await expect(openBackend('foo://h/x')).rejects.toMatchObject({ exitCode: 23 });
    await expect(openBackend('/just/a/path')).rejects.toMatchObject({ exitCode: 8 });
  });
});
