// Archives real duplicity made with `--gpg-options "--cipher-algo X"` for the ciphers in OpenSSL 3's legacy provider
// (IDEA, CAST5, Blowfish): the duplicity-ts command restores them byte for byte; node without the provider, and
// Twofish (in no OpenSSL provider), fail with one line naming the cipher and exit 31, as duplicity's gpg errors do.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pseudoRandomBytes } from './pseudo-random.js';

const BIN = fileURLToPath(new URL('../bin/duplicity-ts.js', import.meta.url));
const haveDuplicity = spawnSync('duplicity', ['--version']).status === 0;
if (!haveDuplicity && process.env.CI === 'true') throw new Error('duplicity is required in CI but is not installed');

let dir: string;
const p = (...names: string[]) => join(dir, ...names);
const env = (gnupg: string) => ({ ...process.env, PASSPHRASE: 'legacy pass', GNUPGHOME: gnupg, TZ: 'UTC' });


/** A full backup of p('src') by real duplicity whose volumes gpg encrypts with `cipher`. */
function backUp(cipher: string): string {
  const gnupg = p(`gnupg-${cipher}`);
  mkdirSync(gnupg, { mode: 0o700 });
  execFileSync('duplicity', ['full', '--gpg-options', `--cipher-algo ${cipher}`, '--archive-dir', p(`arch-${cipher}`), p('src'), `file://${p(`t-${cipher}`)}`], { env: env(gnupg), stdio: 'pipe' });
  return gnupg;
}

/** Our restore of that backup, started the way a user's script starts it (the launcher) or by plain `node`. */
function restore(cipher: string, gnupg: string, how: 'command' | 'plain node') {
  const out = p(`out-${cipher}-${how.replace(' ', '-')}`);
  const args = ['restore', '--archive-dir', p(`ours-${cipher}-${how.replace(' ', '-')}`), `file://${p(`t-${cipher}`)}`, out];
  const r = how === 'command'
    ? spawnSync(BIN, args, { env: env(gnupg), encoding: 'utf8' })
    : spawnSync(process.execPath, [BIN, ...args], { env: env(gnupg), encoding: 'utf8' });
  return { ...r, out };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'legacy-ciphers-'));
  mkdirSync(p('src', 'sub'), { recursive: true });
  writeFileSync(p('src', 'random.bin'), pseudoRandomBytes(200_000, 7));
  writeFileSync(p('src', 'sub', 'text.txt'), 'a line of text\n'.repeat(5000));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(haveDuplicity)('restore of duplicity archives under legacy OpenPGP ciphers', () => {
  for (const cipher of ['CAST5', 'BLOWFISH', 'IDEA']) {
    it(`${cipher}: the command restores every byte; node without the legacy provider says what is missing`, () => {
      const gnupg = backUp(cipher);
      const ok = restore(cipher, gnupg, 'command');
      expect(ok.stderr).toBe('');
      expect(ok.status).toBe(0);
      expect(readFileSync(join(ok.out, 'random.bin')).equals(readFileSync(p('src', 'random.bin')))).toBe(true);
      expect(readFileSync(join(ok.out, 'sub', 'text.txt'), 'utf8')).toBe(readFileSync(p('src', 'sub', 'text.txt'), 'utf8'));

      const bare = restore(cipher, gnupg, 'plain node');
      expect(bare.status).toBe(31);
      const errors = bare.stderr.trim().split('\n').filter((l) => l.startsWith('duplicity-ts:'));
      expect(errors).toEqual([expect.stringContaining(`cipher ${cipher} needs OpenSSL's legacy provider`)]);
      expect(bare.stderr).not.toMatch(/\n\s+at /);
    }, 120_000);
  }

  it('TWOFISH: a one-line error naming the cipher, exit 31', () => {
    const gnupg = backUp('TWOFISH');
    const r = restore('TWOFISH', gnupg, 'command');
    expect(r.status).toBe(31);
    expect(r.stderr).toMatch(/^duplicity-ts: .*unsupported cipher algorithm 10 \(TWOFISH\)$/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);
});
