/**
 * The symmetric fixture, decrypted with the real gpg: encrypted volumes end with tar record padding
 * (§2.3), which the reader must stop at; encrypted manifests have the same layout as plain ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Manifest, encodeTarEntry, parseEntryName, parseFileName, readTar, tarEndBlocks, tarPadding } from '@duplicity-ts/archive';
import { FIXTURES } from './environment.js';

const DIR = join(FIXTURES, 'symmetric');
const hasGpg = (() => {
  try {
    execFileSync('gpg', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!hasGpg && process.env.CI === 'true') throw new Error('gpg is required in CI');

describe.skipIf(!hasGpg)('symmetric fixture through the real gpg', () => {
  let home = '';
  const passphrase = readFileSync(join(DIR, 'keys/keys.tsv'), 'utf8').split('\n')[1].split('\t')[3];
  const decrypt = (file: string) =>
    execFileSync('gpg', ['--homedir', home, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase-fd', '0', '--decrypt', file], {
      input: passphrase + '\n',
      stdio: ['pipe', 'pipe', 'ignore'],
      maxBuffer: 1 << 28,
    });
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'archive-gpg-'));
  });
  afterAll(() => {
    try {
      execFileSync('gpgconf', ['--homedir', home, '--kill', 'all'], { stdio: 'ignore' });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('volumes and sigtars: entries parse, reading stops at the zero padding', async () => {
    const files = readdirSync(join(DIR, 'archive')).filter((n) => parseFileName(n)!.kind !== 'manifest');
    expect(files.length).toBe(8);
    for (const name of files) {
      const p = parseFileName(name)!;
      expect(p.encrypted).toBe(true);
      const tar = decrypt(join(DIR, 'archive', name));
      let off = 0; // end of the last entry; re-encoding gives real duplicity's header lengths (tar-header.test.ts)
      let n = 0;
      async function* once() {
        yield tar;
      }
      for await (const { header } of readTar(once())) {
        parseEntryName(header.name, p.kind === 'volume' ? 'difftar' : 'sigtar');
        off += encodeTarEntry(header).length + header.size + tarPadding(header.size).length;
        n++;
      }
      expect(n, name).toBeGreaterThan(0);
      const rest = tar.subarray(off);
      if (p.kind === 'signature') expect(rest.equals(tarEndBlocks(off)), name).toBe(true);
      else {
        // single-volume sets: the last volume has record padding and no top-off junk after it
        expect(rest.length, name).toBeGreaterThanOrEqual(512);
        expect(tar.length % 10240, name).toBe(0);
        expect(rest.every((c) => c === 0), name).toBe(true);
      }
    }
  });

  it('manifests parse and write back byte-identically', () => {
    const names = readdirSync(join(DIR, 'archive')).filter((n) => parseFileName(n)!.kind === 'manifest');
    expect(names.length).toBe(4);
    for (const name of names) {
      const bytes = decrypt(join(DIR, 'archive', name));
      const m = Manifest.parse(bytes);
      expect(m.volumes.get(1)!.hash).toMatch(/^[0-9a-f]{40}$/);
      expect(m.toBuffer().equals(bytes), name).toBe(true);
    }
  });
});
