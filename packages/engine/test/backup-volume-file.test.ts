/**
 * A volume file's gzip encoding (parallel members; incompressible blocks stored): the file must
 * read back as the input with gzip(1) and with Python's gzip module (what duplicity uses), and the
 * SHA1 must be that of the bytes in the file. An encrypted volume (whose blocks are reused once
 * the encrypter has taken them) must decrypt with gpg to the input.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { VolumeFile } from '../src/backup/volume-file.js';

const work = mkdtempSync(path.join(tmpdir(), 'volume-file-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function text(n: number): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
  let s = '';
  for (let i = 0; s.length < n; i++) s += words[(i * 7) % words.length] + (i % 13 === 0 ? '\n' : ' ');
  return Buffer.from(s.slice(0, n));
}

it.each([
  ['random (stored members)', randomBytes(3 * 65536 + 17)],
  ['random, exactly 65535-byte blocks', randomBytes(2 * 65535)],
  ['text (deflated members)', text(300_000)],
  ['mixed', Buffer.concat([randomBytes(200_000), text(200_000), randomBytes(70_000)])],
  ['empty', Buffer.alloc(0)],
])('gzip volume of %s reads back with gzip(1) and Python', async (_name, data) => {
  const file = path.join(work, `v-${Math.random().toString(36).slice(2)}.gz`);
  const vf = new VolumeFile(file, { kind: 'gzip' }, { blockSize: 65536 });
  // Uneven writes, so blocks are cut across write boundaries.
  for (let off = 0; off < data.length; off += 40_000) await vf.write(data.subarray(off, off + 40_000));
  const closed = await vf.close();
  const bytes = readFileSync(file);
  expect(closed.size).toBe(bytes.length);
  expect(closed.sha1).toBe(createHash('sha1').update(bytes).digest('hex'));
  expect(execFileSync('gzip', ['-dc', file], { maxBuffer: 64 << 20 }).equals(data)).toBe(true);
  const py = execFileSync('python3', ['-c', 'import gzip,sys,hashlib; print(hashlib.sha1(gzip.open(sys.argv[1]).read()).hexdigest())', file], {
    encoding: 'utf8',
  });
  expect(py.trim()).toBe(createHash('sha1').update(data).digest('hex'));
});

it('stores random blocks (output barely larger than the input) and deflates text', async () => {
  const rnd = randomBytes(1 << 20);
  const a = new VolumeFile(path.join(work, 'r.gz'), { kind: 'gzip' });
  await a.write(rnd);
  const ra = await a.close();
  expect(ra.size).toBeGreaterThan(rnd.length);
  expect(ra.size).toBeLessThan(rnd.length + 200);
  const t = text(1 << 20);
  const b = new VolumeFile(path.join(work, 't.gz'), { kind: 'gzip' });
  await b.write(t);
  expect((await b.close()).size).toBeLessThan(t.length / 3);
});

it('an encrypted volume of many blocks (mixed text and random, blocks reused, several deflate segments) decrypts with gpg to the input', async () => {
  // Over 1 MiB of text (deflated in segments, each primed with the one before) and of random data (stored).
  const data = Buffer.concat([text(2_500_000), randomBytes(2_500_000), text(100_000), randomBytes(90_001)]);
  const file = path.join(work, 'p.gpg');
  const vf = new VolumeFile(file, { kind: 'pgp', options: { passphrase: 'volume test' } }, { blockSize: 65536 });
  for (let off = 0; off < data.length; off += 40_000) await vf.write(data.subarray(off, off + 40_000));
  const closed = await vf.close();
  expect(closed.sha1).toBe(createHash('sha1').update(readFileSync(file)).digest('hex'));
  const home = mkdtempSync(path.join(work, 'gnupg-'));
  const plain = execFileSync('gpg', ['--homedir', home, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', 'volume test', '--decrypt', file], {
    maxBuffer: 64 << 20,
  });
  expect(plain.equals(data)).toBe(true);
});
