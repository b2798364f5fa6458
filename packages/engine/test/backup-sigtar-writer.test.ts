// The sigtar's gzipped copy (written alongside, for the archive dir's `.sigtar.gz`) and its encrypted
// remote copy must hold exactly the sigtar's bytes (the remote one as the real gpg decrypts it), and
// must not be offered once a header was patched after its bytes had already gone out (a file whose
// size changed while it was read).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { SigtarWriter } from '../src/backup/sigtar-writer.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function header(fill: number, len: number): Buffer {
  // Stand-in headers: 512 bytes, the length in the first bytes so that a patch changes them.
  const h = Buffer.alloc(512, fill);
  h.writeUInt32BE(len, 0);
  return h;
}

async function writeEntries(w: SigtarWriter, sizes: number[], wrongAt?: number): Promise<void> {
  for (let i = 0; i < sizes.length; i++) {
    const predicted = i === wrongAt ? sizes[i] + 1000 : sizes[i];
    const at = await w.beginPayload(header(i, predicted));
    for (let left = sizes[i]; left > 0; left -= 65536) await w.payload(randomBytes(Math.min(65536, left)));
    await w.endPayload(at, predicted, (n) => header(i, n));
  }
}

describe('SigtarWriter gzip copy', () => {
  it('holds the same bytes as the sigtar, across many buffer flushes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigtar-gz-'));
    dirs.push(dir);
    const w = await SigtarWriter.create(join(dir, 's.sigtar'), { gzipCopy: join(dir, 's.sigtar.gz') });
    await writeEntries(w, [100, 3 << 20, 70_000, 0, 1_500_000]);
    await w.finish();
    expect(w.gzipCopyPath).toBe(join(dir, 's.sigtar.gz'));
    expect(gunzipSync(readFileSync(join(dir, 's.sigtar.gz'))).equals(readFileSync(join(dir, 's.sigtar')))).toBe(true);
  });

  it('is dropped when a header already flushed is patched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigtar-gz-'));
    dirs.push(dir);
    const w = await SigtarWriter.create(join(dir, 's.sigtar'), { gzipCopy: join(dir, 's.sigtar.gz') });
    // The 3 MiB payload pushes its own header out of the 1 MiB buffer before the patch.
    await writeEntries(w, [100, 3 << 20, 70_000], 1);
    await w.finish();
    expect(w.gzipCopyPath).toBeUndefined();
    expect(existsSync(join(dir, 's.sigtar.gz'))).toBe(false);
    expect(readFileSync(join(dir, 's.sigtar')).readUInt32BE(512 + 100 + 412)).toBe(3 << 20);
  });
});

describe('SigtarWriter encrypted remote copy', () => {
  const encoding = { kind: 'pgp' as const, options: { passphrase: 'sigtar test' } };
  const gpgDecrypt = (dir: string, file: string) =>
    execFileSync('gpg', ['--homedir', mkdtempSync(join(dir, 'gnupg-')), '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', 'sigtar test', '--decrypt', file], {
      maxBuffer: 64 << 20,
    });

  it('decrypts with gpg to the sigtar, and its size and SHA1 are the file\'s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigtar-remote-'));
    dirs.push(dir);
    const remote = join(dir, 's.sigtar.gpg');
    const w = await SigtarWriter.create(join(dir, 's.sigtar'), { gzipCopy: join(dir, 's.sigtar.gz'), remoteCopy: { path: remote, encoding } });
    await writeEntries(w, [100, 3 << 20, 70_000, 0, 1_500_000]);
    await w.finish();
    const closed = w.remoteCopyFile!;
    expect(closed.path).toBe(remote);
    expect(closed.size).toBe(readFileSync(remote).length);
    expect(closed.sha1).toBe(createHash('sha1').update(readFileSync(remote)).digest('hex'));
    expect(gpgDecrypt(dir, remote).equals(readFileSync(join(dir, 's.sigtar')))).toBe(true);
    expect(gunzipSync(readFileSync(join(dir, 's.sigtar.gz'))).equals(readFileSync(join(dir, 's.sigtar')))).toBe(true);
  });

  it('is dropped with the gzipped copy when a header already flushed is patched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigtar-remote-'));
    dirs.push(dir);
    const remote = join(dir, 's.sigtar.gpg');
    const w = await SigtarWriter.create(join(dir, 's.sigtar'), { gzipCopy: join(dir, 's.sigtar.gz'), remoteCopy: { path: remote, encoding } });
    await writeEntries(w, [100, 3 << 20, 70_000], 1);
    await w.finish();
    expect(w.remoteCopyFile).toBeUndefined();
    expect(w.gzipCopyPath).toBeUndefined();
    expect(existsSync(remote)).toBe(false);
  });
});

describe('SigtarWriter in-place entries', () => {
  it('gives the bytes write() gives, across buffer flushes, and falls back when asked for more than the buffer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigtar-inplace-'));
    dirs.push(dir);
    // Entries of 512..~300 KiB, so that some cross the 1 MiB buffer's end and force a flush first.
    const entries = Array.from({ length: 40 }, (_, i) => randomBytes(512 * (1 + ((i * 7919) % 600))));
    const viaWrite = await SigtarWriter.create(join(dir, 'a.sigtar'), { gzipCopy: join(dir, 'a.sigtar.gz') });
    for (const e of entries) await viaWrite.addEntry(e);
    await viaWrite.finish();
    const inPlace = await SigtarWriter.create(join(dir, 'b.sigtar'), { gzipCopy: join(dir, 'b.sigtar.gz') });
    for (const [i, e] of entries.entries()) {
      // Every fifth entry declines (returns 0) and is written the ordinary way instead.
      const done = await inPlace.inPlace(e.length, (buf, at) => (i % 5 === 4 ? 0 : e.copy(buf, at)));
      expect(done).toBe(i % 5 !== 4);
      if (!done) await inPlace.addEntry(e);
    }
    expect(await inPlace.inPlace(2 << 20, () => 1)).toBe(false);
    await inPlace.finish();
    const a = readFileSync(join(dir, 'a.sigtar'));
    expect(readFileSync(join(dir, 'b.sigtar')).equals(a)).toBe(true);
    expect(gunzipSync(readFileSync(join(dir, 'b.sigtar.gz'))).equals(a)).toBe(true);
  });
});
