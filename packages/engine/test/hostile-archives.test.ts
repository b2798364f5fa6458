/**
 * Hostile archives: the server is untrusted, so a crafted volume must never make a restore write
 * outside its target. Volumes are built with Python's tarfile (what duplicity itself writes with)
 * and carry a correct manifest hash, so only the restore's own checks stand in the way.
 * Also: a volume whose bytes do not match the manifest's SHA1 is refused (exit 21) before use,
 * and a volume missing from the backend is a one-line error naming it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, appendFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackend } from '@duplicity-ts/backends';
import { restore, scanCollection } from '@duplicity-ts/engine';

const MAKE_ARCHIVE = String.raw`
import gzip, hashlib, io, json, sys, tarfile
spec = json.loads(sys.argv[2])
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tf:
    for e in spec:
        ti = tarfile.TarInfo(e['name'])
        ti.mtime = 1600000000
        ti.mode = e.get('mode', 0o644)
        data = e.get('data', '').encode()
        if e['type'] == 'dir':
            ti.type = tarfile.DIRTYPE; ti.mode = 0o755
        elif e['type'] == 'symlink':
            ti.type = tarfile.SYMTYPE; ti.linkname = e['target']
        else:
            ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data) if ti.size else None)
vol = gzip.compress(buf.getvalue())
d = sys.argv[1]
open(d + '/duplicity-full.20200913T122640Z.vol1.difftar.gz', 'wb').write(vol)
open(d + '/duplicity-full.20200913T122640Z.manifest', 'w').write(
    'Hostname h\nLocaldir src\nVolume 1:\n    StartingPath   .  \n    EndingPath     zzz  \n    Hash SHA1 %s\nFilelist 0\n'
    % hashlib.sha1(vol).hexdigest())
`;

let work: string;
let outside: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'hostile-'));
  outside = path.join(work, 'outside');
  mkdirSync(outside);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
function makeArchive(entries: object[]): string {
  const dir = path.join(work, `archive-${n++}`);
  mkdirSync(dir);
  execFileSync('python3', ['-c', MAKE_ARCHIVE, dir, JSON.stringify(entries)]);
  return dir;
}

async function restoreFrom(dir: string, target: string) {
  const backend = await openBackend(`file://${dir}`);
  const ctx = { backend, archiveDir: mkdtempSync(path.join(work, 'cache-')), tempDir: mkdtempSync(path.join(work, 'tmp-')) };
  return restore(ctx, scanCollection(await backend.list(), []), { time: 1700000000, target, restoreOwnership: false });
}

const root = { name: 'snapshot/./', type: 'dir' };

describe('hostile archives write nothing outside the target', () => {
  it('refuses snapshot/../x', async () => {
    const dir = makeArchive([root, { name: 'snapshot/../escaped', type: 'file', data: 'pwned' }]);
    const target = path.join(work, 'out-dotdot');
    await expect(restoreFrom(dir, target)).rejects.toMatchObject({ message: expect.stringContaining('..') });
    expect(existsSync(path.join(work, 'escaped'))).toBe(false);
  });

  it('keeps an absolute name inside the target or refuses it', async () => {
    const abs = path.join(outside, 'abs-pwned');
    const dir = makeArchive([root, { name: `snapshot/${abs}`, type: 'file', data: 'pwned' }, { name: `${abs}2`, type: 'file', data: 'pwned' }]);
    await restoreFrom(dir, path.join(work, 'out-abs')).catch(() => undefined);
    expect(existsSync(abs)).toBe(false);
    expect(existsSync(`${abs}2`)).toBe(false);
  });

  it('refuses a path through a symlink restored earlier in the same archive', async () => {
    const dir = makeArchive([
      root,
      { name: 'snapshot/link', type: 'symlink', target: outside },
      { name: 'snapshot/link/pwned', type: 'file', data: 'pwned' },
      { name: 'snapshot/rel', type: 'symlink', target: '../outside' },
      { name: 'snapshot/rel/pwned2', type: 'file', data: 'pwned' },
    ]);
    await expect(restoreFrom(dir, path.join(work, 'out-link'))).rejects.toMatchObject({ message: expect.stringContaining('not a directory') });
    expect(readdirSync(outside)).toEqual([]);
  });

  it('does not follow a symlink planted in the target by an earlier entry when writing a file of the same name', async () => {
    const victim = path.join(outside, 'victim');
    writeFileSync(victim, 'original');
    const dir = makeArchive([
      root,
      { name: 'snapshot/same', type: 'symlink', target: victim },
      { name: 'snapshot/same', type: 'file', data: 'pwned' },
    ]);
    await restoreFrom(dir, path.join(work, 'out-same')).catch(() => undefined);
    expect(execFileSync('cat', [victim], { encoding: 'utf8' })).toBe('original');
    unlinkSync(victim);
  });
});

describe('volume integrity', () => {
  it('a volume that does not match its manifest SHA1 is exit 21, naming the file, and nothing is restored', async () => {
    const dir = makeArchive([root, { name: 'snapshot/a.txt', type: 'file', data: 'hello' }]);
    appendFileSync(path.join(dir, 'duplicity-full.20200913T122640Z.vol1.difftar.gz'), 'x');
    const target = path.join(work, 'out-sha');
    await expect(restoreFrom(dir, target)).rejects.toMatchObject({
      exitCode: 21,
      message: expect.stringContaining('duplicity-full.20200913T122640Z.vol1.difftar.gz'),
    });
    expect(existsSync(path.join(target, 'a.txt'))).toBe(false);
  });

  it('a volume missing from the backend is a one-line error naming it', async () => {
    const dir = makeArchive([root, { name: 'snapshot/a.txt', type: 'file', data: 'hello' }]);
    unlinkSync(path.join(dir, 'duplicity-full.20200913T122640Z.vol1.difftar.gz'));
    await expect(restoreFrom(dir, path.join(work, 'out-missing'))).rejects.toMatchObject({ message: expect.stringMatching(/volume 1 .*missing/) });
  });
});
