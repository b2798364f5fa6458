/**
 * Metadata as duplicity restores it, on archives built with Python's tarfile (duplicity's own tar
 * writer): owners by uname/gname first with the numeric ids as fallback, --numeric-owner,
 * --do-not-restore-ownership; setuid/setgid/sticky modes; fifos; hard links as separate files;
 * directory mtimes set after their contents. And --file-to-restore fetches only the volumes whose
 * manifest range can hold the path.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackend, type Backend } from '@duplicity-ts/backends';
import { restore, scanCollection } from '@duplicity-ts/engine';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const fixtures = path.resolve(repoRoot, '../shared/fixtures/duplicity-0.8.22');

const MAKE_ARCHIVE = String.raw`
import gzip, hashlib, io, json, sys, tarfile
spec = json.loads(sys.argv[2])
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tf:
    for e in spec:
        ti = tarfile.TarInfo(e['name'])
        ti.mtime = e.get('mtime', 1600000000)
        ti.mode = e.get('mode', 0o644)
        ti.uid = e.get('uid', 0); ti.gid = e.get('gid', 0)
        ti.uname = e.get('uname', ''); ti.gname = e.get('gname', '')
        data = (e.get('data', '') * e.get('repeat', 1)).encode()
        t = e['type']
        if t == 'dir': ti.type = tarfile.DIRTYPE
        elif t == 'symlink': ti.type = tarfile.SYMTYPE; ti.linkname = e['target']
        elif t == 'fifo': ti.type = tarfile.FIFOTYPE
        else: ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data) if ti.size else None)
vol = gzip.compress(buf.getvalue())
d = sys.argv[1]
open(d + '/duplicity-full.20200913T122640Z.vol1.difftar.gz', 'wb').write(vol)
open(d + '/duplicity-full.20200913T122640Z.manifest', 'w').write(
    'Hostname h\nLocaldir src\nVolume 1:\n    StartingPath   .  \n    EndingPath     zzz  \n    Hash SHA1 %s\nFilelist 0\n'
    % hashlib.sha1(vol).hexdigest())
`;

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'restore-metadata-'));
});
afterAll(() => {
  execFileSync('chmod', ['-R', 'u+rwx', work]);
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
async function restoreCrafted(entries: object[], opts: { restoreOwnership: boolean; numericOwner?: boolean }) {
  const dir = path.join(work, `archive-${n}`);
  mkdirSync(dir);
  execFileSync('python3', ['-c', MAKE_ARCHIVE, dir, JSON.stringify(entries)]);
  const backend = await openBackend(`file://${dir}`);
  const target = path.join(work, `out-${n++}`);
  const ctx = { backend, archiveDir: mkdtempSync(path.join(work, 'cache-')), tempDir: mkdtempSync(path.join(work, 'tmp-')) };
  await restore(ctx, scanCollection(await backend.list(), []), { time: 1700000000, target, ...opts });
  return target;
}

const passwdId = (db: string, name: string) =>
  Number(readFileSync(db, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))!.split(':')[2]);

const owned = [
  { name: 'snapshot/./', type: 'dir', mode: 0o755, mtime: 1500000000 },
  { name: 'snapshot/by-name', type: 'file', data: 'x', uid: 1234, gid: 1234, uname: 'nobody', gname: 'nogroup' },
  { name: 'snapshot/unknown-name', type: 'file', data: 'y', uid: 4321, gid: 4322, uname: 'no-such-user-here', gname: 'no-such-group-here' },
  { name: 'snapshot/setuid', type: 'file', data: '#!/bin/sh\n', mode: 0o4755 },
  { name: 'snapshot/setgid-dir/', type: 'dir', mode: 0o2775, mtime: 1400000000 },
  { name: 'snapshot/setgid-dir/inner', type: 'file', data: 'z', mtime: 1450000000 },
  { name: 'snapshot/sticky/', type: 'dir', mode: 0o1777, mtime: 1410000000 },
  { name: 'snapshot/pipe', type: 'fifo', mode: 0o640, mtime: 1420000000 },
];

describe('restored metadata', () => {
  const root = process.getuid?.() === 0;

  it.runIf(root)('owners by uname/gname, then numeric ids', async () => {
    const out = await restoreCrafted(owned, { restoreOwnership: true });
    const a = lstatSync(path.join(out, 'by-name'));
    expect([a.uid, a.gid]).toEqual([passwdId('/etc/passwd', 'nobody'), passwdId('/etc/group', 'nogroup')]);
    const b = lstatSync(path.join(out, 'unknown-name'));
    expect([b.uid, b.gid]).toEqual([4321, 4322]);
  });

  it.runIf(root)('--numeric-owner uses the numeric ids; --do-not-restore-ownership leaves the restoring user', async () => {
    let out = await restoreCrafted(owned, { restoreOwnership: true, numericOwner: true });
    const a = lstatSync(path.join(out, 'by-name'));
    expect([a.uid, a.gid]).toEqual([1234, 1234]);
    out = await restoreCrafted(owned, { restoreOwnership: false });
    const b = lstatSync(path.join(out, 'by-name'));
    expect([b.uid, b.gid]).toEqual([process.getuid!(), process.getgid!()]);
  });

  it('setuid, setgid and sticky modes, fifos, and directory mtimes set after their contents', async () => {
    const out = await restoreCrafted(owned, { restoreOwnership: root });
    const mode = (p: string) => lstatSync(path.join(out, p)).mode & 0o7777;
    const mtime = (p: string) => Math.floor(lstatSync(path.join(out, p)).mtimeMs / 1000);
    expect(mode('setuid')).toBe(0o4755);
    expect(mode('setgid-dir')).toBe(0o2775);
    expect(mode('sticky')).toBe(0o1777);
    expect(lstatSync(path.join(out, 'pipe')).isFIFO()).toBe(true);
    expect(mode('pipe')).toBe(0o640);
    expect([mtime('.'), mtime('setgid-dir'), mtime('setgid-dir/inner'), mtime('sticky'), mtime('pipe')]).toEqual([
      1500000000, 1400000000, 1450000000, 1410000000, 1420000000,
    ]);
  });
});

describe('small files created on a helper thread', () => {
  it('hundreds of files in read-only directories, a big one between them, each with its bytes, mode and mtime', async () => {
    const entries: object[] = [{ name: 'snapshot/./', type: 'dir', mode: 0o755, mtime: 1500000000 }];
    const want = new Map<string, { data: string; mode: number; mtime: number }>();
    for (let d = 0; d < 3; d++) {
      entries.push({ name: `snapshot/d${d}/`, type: 'dir', mode: 0o555, mtime: 1300000000 + d });
      for (let f = 0; f < 300; f++) {
        const name = `d${d}/f${String(f).padStart(3, '0')}`;
        // d1/f150 is bigger than a batch: written by the main thread between queued ones.
        const big = d === 1 && f === 150;
        const e = { data: big ? 'b' : `${name} `, repeat: big ? 3 << 20 : f % 50, mode: f % 2 ? 0o600 : 0o444, mtime: 1200000000 + f };
        want.set(name, { data: e.data.repeat(e.repeat), mode: e.mode, mtime: e.mtime });
        entries.push({ name: `snapshot/${name}`, type: 'file', ...e });
      }
    }
    const out = await restoreCrafted(entries, { restoreOwnership: false });
    for (const [name, e] of want) {
      const st = lstatSync(path.join(out, name));
      expect([name, st.mode & 0o7777, Math.floor(st.mtimeMs / 1000)]).toEqual([name, e.mode, e.mtime]);
      expect(readFileSync(path.join(out, name), 'latin1') === e.data).toBe(true);
    }
    for (let d = 0; d < 3; d++) {
      const st = lstatSync(path.join(out, `d${d}`));
      expect([st.mode & 0o7777, Math.floor(st.mtimeMs / 1000)]).toEqual([0o555, 1300000000 + d]);
    }
  });
  it('many small directories, nested and read-only, get their mode and mtime after their files while the helper goes on', async () => {
    // Each directory holds fewer files than a batch, so a batch spans many directories and each
    // directory's metadata waits for the batch that holds its last file.
    const entries: object[] = [{ name: 'snapshot/./', type: 'dir', mode: 0o755, mtime: 1500000000 }];
    const dirs = new Map<string, number>();
    const files = new Map<string, string>();
    for (let d = 0; d < 120; d++) {
      const dir = `d${String(d).padStart(3, '0')}`;
      dirs.set(dir, 1300000000 + d);
      entries.push({ name: `snapshot/${dir}/`, type: 'dir', mode: 0o555, mtime: 1300000000 + d });
      for (let f = 0; f < 3; f++) {
        files.set(`${dir}/f${f}`, `${dir}/f${f} `.repeat(d + f));
        entries.push({ name: `snapshot/${dir}/f${f}`, type: 'file', data: `${dir}/f${f} `, repeat: d + f, mtime: 1200000000 });
      }
      if (d % 10 === 0) {
        // A read-only subdirectory with files, closed before its parent's next file.
        dirs.set(`${dir}/sub`, 1310000000 + d);
        entries.push({ name: `snapshot/${dir}/sub/`, type: 'dir', mode: 0o555, mtime: 1310000000 + d });
        files.set(`${dir}/sub/g`, 'g'.repeat(d));
        entries.push({ name: `snapshot/${dir}/sub/g`, type: 'file', data: 'g', repeat: d, mtime: 1200000000 });
        files.set(`${dir}/zz`, 'zz');
        entries.push({ name: `snapshot/${dir}/zz`, type: 'file', data: 'zz', mtime: 1200000000 });
      }
    }
    const out = await restoreCrafted(entries, { restoreOwnership: false });
    for (const [name, data] of files) expect([name, readFileSync(path.join(out, name), 'latin1') === data]).toEqual([name, true]);
    for (const [dir, mtime] of dirs) {
      const st = lstatSync(path.join(out, dir));
      expect([dir, st.mode & 0o7777, Math.floor(st.mtimeMs / 1000)]).toEqual([dir, 0o555, mtime]);
    }
  });
});

describe('--file-to-restore', () => {
  it('fetches only the volumes whose manifest range can hold the path', async () => {
    const inner = await openBackend(`file://${path.join(fixtures, 'multivol/archive')}`);
    const fetched: string[] = [];
    const backend: Backend = { ...inner, list: () => inner.list(), close: () => inner.close(), get: (name, to) => (fetched.push(name), inner.get(name, to)) };
    const col = scanCollection(await backend.list(), []);
    const ctx = { backend, archiveDir: mkdtempSync(path.join(work, 'cache-')), tempDir: mkdtempSync(path.join(work, 'tmp-')) };
    const full = col.chains[0].fullSet;
    // The fixture's manifest: sub/big-2.bin runs from volume 3 ("big-1.bin 31" .. "sub/big-2.bin 5")
    // to volume 6; volumes 1 and 2 hold only the root and big-1.bin.
    const target = path.join(work, 'one-file');
    await restore(ctx, col, { time: full.endTime, target, fileToRestore: 'sub/big-2.bin', restoreOwnership: false });
    const volumes = fetched.filter((f) => f.includes('.vol')).sort();
    expect(volumes).toEqual([3, 4, 5, 6].map((v) => `duplicity-full.20221025T231558Z.vol${v}.difftar.gz`));
    const line = readFileSync(path.join(fixtures, 'multivol/expected/0.tsv'), 'utf8').split('\n').find((l) => l.startsWith('sub/big-2.bin\t'))!;
    const sha = execFileSync('sha256sum', [target], { encoding: 'utf8' }).split(' ')[0];
    expect(sha).toBe(line.split('\t')[4]);
  });
});
