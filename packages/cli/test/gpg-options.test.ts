// `--gpg-options`, which duplicity appends to its gpg command lines: the options that change what is written or
// where keys are found are applied natively (checked in the volumes with gpg --list-packets and by real duplicity
// restoring them with the same --gpg-options), the others give a warning that names the option, never its value.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyringPaths, parseGpgOptions } from '../src/gpg-options.js';
import { pseudoRandomBytes } from './pseudo-random.js';

const BIN = fileURLToPath(new URL('../bin/duplicity-ts.js', import.meta.url));
const haveDuplicity = spawnSync('duplicity', ['--version']).status === 0;
if (!haveDuplicity && process.env.CI === 'true') throw new Error('duplicity is required in CI but is not installed');

describe('parseGpgOptions', () => {
  const env = { HOME: '/home/u' };

  it('applies --homedir in both forms, with ~, over nothing else', () => {
    expect(parseGpgOptions('--homedir=/etc/dup/gnupg', env).homedir).toBe('/etc/dup/gnupg');
    expect(parseGpgOptions('--batch --homedir ~/.gnupg-backup', env).homedir).toBe('/home/u/.gnupg-backup');
    expect(parseGpgOptions(undefined, env)).toEqual({ warnings: [] });
  });

  it('reads ciphers, compressions and digests by name, by id and from preference lists', () => {
    expect(parseGpgOptions('--cipher-algo AES128').cipher).toBe(7);
    expect(parseGpgOptions('--cipher-algo=camellia256').cipher).toBe(13);
    expect(parseGpgOptions('--personal-cipher-preferences S8').cipher).toBe(8);
    expect(parseGpgOptions('--compress-algo none').compressAlgo).toBe(0);
    expect(parseGpgOptions('--compress-algo=zip').compressAlgo).toBe(1);
    expect(parseGpgOptions('--personal-compress-preferences Z2').compressAlgo).toBe(2);
    expect(parseGpgOptions('-z 0').compressLevel).toBe(0);
    expect(parseGpgOptions('-z9').compressLevel).toBe(9);
    expect(parseGpgOptions('--compress-level=3').compressLevel).toBe(3);
    expect(parseGpgOptions('--digest-algo SHA256').digest).toBe(8);
    expect(parseGpgOptions('--personal-digest-preferences h9').digest).toBe(9);
  });

  it('collects --keyring files, found as gpg finds them, and --no-default-keyring', () => {
    const o = parseGpgOptions('--no-default-keyring --keyring backup.kbx --keyring=~/keys/extra.gpg --keyring ./rel/k.gpg --secret-keyring sec.gpg', env);
    expect(o.noDefaultKeyring).toBe(true);
    expect(o.warnings).toEqual([]);
    expect(keyringPaths(o, '/etc/dup/gnupg', env)).toEqual(['/etc/dup/gnupg/backup.kbx', '/home/u/keys/extra.gpg', join(process.cwd(), 'rel/k.gpg')]);
  });

  it('writes ZLIB for BZIP2, with a warning', () => {
    const o = parseGpgOptions('--compress-algo=bzip2 --bzip2-compress-level=9');
    expect(o.compressAlgo).toBe(2);
    expect(o.warnings).toEqual(['--gpg-options: --compress-algo bzip2: duplicity-ts does not write BZIP2; it writes ZLIB instead']);
  });

  it('accepts what only steers gpg silently, warns about the rest by name only', () => {
    expect(parseGpgOptions('--batch --no-tty --pinentry-mode loopback --trust-model always --yes --use-agent').warnings).toEqual([]);
    const o = parseGpgOptions('--armor --passphrase hunter2-secret --s2k-count=65011712');
    expect(o.warnings).toEqual([
      '--gpg-options: --armor has no effect in duplicity-ts (OpenPGP is native)',
      '--gpg-options: --passphrase has no effect in duplicity-ts (OpenPGP is native)',
      '--gpg-options: --s2k-count has no effect in duplicity-ts (OpenPGP is native)',
    ]);
    expect(o.warnings.join('\n')).not.toContain('hunter2');
  });

  it('refuses what it cannot do, in one line with exit code 2', () => {
    const fails = (text: string) => {
      try {
        parseGpgOptions(text);
      } catch (err) {
        return { message: (err as Error).message, code: (err as { exitCode?: number }).exitCode };
      }
      return undefined;
    };
    expect(fails('--cipher-algo ROT13')).toEqual({ message: expect.stringMatching(/^--gpg-options: --cipher-algo ROT13: no cipher duplicity-ts can write/), code: 2 });
    expect(fails('--cipher-algo TWOFISH')?.message).toBe('--gpg-options: --cipher-algo TWOFISH: Twofish is in no OpenSSL provider; choose AES256');
    expect(fails('--digest-algo MD5')?.message).toMatch(/MD5 signatures are refused/);
    expect(fails('-z 11')?.message).toBe('--gpg-options: -z 11: the level must be 0-9');
    expect(fails('--homedir')?.message).toBe('--gpg-options: --homedir needs a value');
  });
});

describe.runIf(haveDuplicity)('--gpg-options with real gpg and duplicity', () => {
  let dir: string;
  let keys: { home: string; encrypt: string; sign: string };
  const p = (...names: string[]) => join(dir, ...names);
  const gpg = (home: string, args: string[], input?: Buffer) =>
    execFileSync('gpg', ['--homedir', home, '--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', 'opts pass', ...args], { input, stdio: ['pipe', 'pipe', 'pipe'] });
  // GNUPGHOME points at an empty home: keys are found only through --homedir.
  const env = () => ({ ...process.env, PASSPHRASE: 'opts pass', SIGN_PASSPHRASE: 'opts pass', GNUPGHOME: p('empty-gnupg'), TZ: 'UTC' });
  const ours = (args: string[]) => spawnSync(BIN, args, { env: env(), encoding: 'utf8' });
  const sameTree = (out: string) => {
    expect(readFileSync(join(out, 'random.bin')).equals(readFileSync(p('src', 'random.bin')))).toBe(true);
    expect(readFileSync(join(out, 'sub', 'text.txt'), 'utf8')).toBe(readFileSync(p('src', 'sub', 'text.txt'), 'utf8'));
  };
  /** gpg -v --list-packets of the first volume in `target`, decrypted with the keys of `home` (what it says on stderr too). */
  const packets = (target: string, home: string) => {
    const vol = readdirSync(target).find((n) => /\.vol1\.difftar\.gpg$/.test(n))!;
    const r = spawnSync('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', 'opts pass', '-v', '--list-packets', join(target, vol)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    return r.stdout + r.stderr;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gpg-options-'));
    mkdirSync(p('src', 'sub'), { recursive: true });
    mkdirSync(p('empty-gnupg'), { mode: 0o700 });
    writeFileSync(p('src', 'random.bin'), pseudoRandomBytes(300_000, 11));
    writeFileSync(p('src', 'sub', 'text.txt'), 'options on the command line\n'.repeat(20_000));
    const home = p('keys');
    mkdirSync(home, { mode: 0o700 });
    const ids: Record<string, string> = {};
    for (const role of ['encrypt', 'sign']) {
      const uid = `Opts ${role} <${role}@opts.invalid>`;
      gpg(home, ['--quick-gen-key', uid, 'rsa2048', role === 'sign' ? 'cert,sign' : 'cert', 'never']);
      const fpr = gpg(home, ['--with-colons', '--list-keys', uid]).toString().split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9]!;
      if (role === 'encrypt') gpg(home, ['--quick-add-key', fpr, 'rsa2048', 'encr', 'never']);
      ids[role] = fpr.slice(-16);
    }
    keys = { home, encrypt: ids.encrypt!, sign: ids.sign! };
  }, 120_000);
  afterAll(() => {
    spawnSync('gpgconf', ['--homedir', p('keys'), '--kill', 'all']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('public key + sign: keys from --homedir, AES128, SHA256, no compression; real duplicity restores it', () => {
    const opts = `--homedir=${keys.home} --cipher-algo AES128 --digest-algo SHA256 -z 0 --batch`;
    const r = ours(['full', '--encrypt-key', keys.encrypt, '--sign-key', keys.sign, '--gpg-options', opts, '--archive-dir', p('arch-pk'), p('src'), `file://${p('t-pk')}`]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('WARNING');
    const listed = packets(p('t-pk'), keys.home);
    expect(listed).toContain(`pubkey enc packet: version 3, algo 1, keyid `);
    expect(listed).toContain('gpg: AES encrypted data'); // gpg's name for AES-128
    expect(listed).not.toContain('compressed packet');
    expect(listed).toMatch(/onepass_sig packet: keyid \w+\n\s+version 3, sigclass 0x00, digest 8, pubkey 1/);

    execFileSync('duplicity', ['restore', '--sign-key', keys.sign, '--gpg-options', `--homedir=${keys.home}`, '--archive-dir', p('dup-arch-pk'), `file://${p('t-pk')}`, p('dup-out-pk')], { env: env(), stdio: 'pipe' });
    sameTree(p('dup-out-pk'));
  }, 120_000);

  it('symmetric: CAMELLIA256 and ZLIB as asked, a warning for --armor; real duplicity restores it', () => {
    const r = ours(['full', '--gpg-options', '--cipher-algo=CAMELLIA256 --compress-algo=zlib --armor', '--archive-dir', p('arch-sym'), p('src'), `file://${p('t-sym')}`]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--gpg-options: --armor has no effect in duplicity-ts (OpenPGP is native)');
    const listed = packets(p('t-sym'), keys.home);
    expect(listed).toMatch(/symkey enc packet: version 4, cipher 13/);
    expect(listed).toMatch(/compressed packet: algo=2/);
    execFileSync('duplicity', ['restore', '--archive-dir', p('dup-arch-sym'), `file://${p('t-sym')}`, p('dup-out-sym')], { env: env(), stdio: 'pipe' });
    sameTree(p('dup-out-sym'));
  }, 120_000);

  it('public keys from --keyring files only (a keybox by path, a binary keyring by name in --homedir); real duplicity restores', () => {
    // The client side of the seed's setup: the encryption key's public half only, in a keyring of its own.
    const pub = gpg(keys.home, ['--export', keys.encrypt]);
    const kbx = p('pub-only.kbx');
    execFileSync('gpg', ['--homedir', p('empty-gnupg'), '--batch', '--no-default-keyring', '--keyring', kbx, '--import'], { input: pub, stdio: ['pipe', 'pipe', 'pipe'] });
    const ok = ours(['full', '--encrypt-key', keys.encrypt, '--gpg-options', `--no-default-keyring --keyring ${kbx}`, '--archive-dir', p('arch-kr'), p('src'), `file://${p('t-kr')}`]);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    execFileSync('duplicity', ['restore', '--gpg-options', `--homedir=${keys.home}`, '--archive-dir', p('dup-arch-kr'), `file://${p('t-kr')}`, p('dup-out-kr')], { env: env(), stdio: 'pipe' });
    sameTree(p('dup-out-kr'));

    mkdirSync(p('home-with-ring'), { mode: 0o700 });
    writeFileSync(p('home-with-ring', 'exported.gpg'), pub);
    const byName = ours(['full', '--encrypt-key', keys.encrypt, '--gpg-options', `--homedir ${p('home-with-ring')} --keyring exported.gpg`, '--archive-dir', p('arch-kr2'), p('src'), `file://${p('t-kr2')}`]);
    expect(byName.stderr).toBe('');
    expect(byName.status).toBe(0);

    const without = ours(['full', '--encrypt-key', keys.encrypt, '--archive-dir', p('arch-kr3'), p('src'), `file://${p('t-kr3')}`]);
    expect(without.status).not.toBe(0);
    expect(without.stderr.trim().split('\n')).toEqual([expect.stringContaining(`encryption key ${keys.encrypt} not found`)]);
  }, 120_000);

  it('symmetric CAST5 (8-byte blocks, OpenSSL\'s legacy provider through the launcher); real duplicity restores it', () => {
    const r = ours(['full', '--gpg-options', '--cipher-algo CAST5', '--archive-dir', p('arch-cast5'), p('src'), `file://${p('t-cast5')}`]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(packets(p('t-cast5'), keys.home)).toMatch(/symkey enc packet: version 4, cipher 3,/);
    execFileSync('duplicity', ['restore', '--archive-dir', p('dup-arch-cast5'), `file://${p('t-cast5')}`, p('dup-out-cast5')], { env: env(), stdio: 'pipe' });
    sameTree(p('dup-out-cast5'));
  }, 120_000);

  it('a wrong SIGN_PASSPHRASE (the key unlocks while the first volume is written) stops the backup: one line, nothing uploaded', () => {
    mkdirSync(p('t-wrong'));
    const r = spawnSync(BIN, ['full', '--encrypt-key', keys.encrypt, '--sign-key', keys.sign, '--gpg-options', `--homedir=${keys.home}`, '--archive-dir', p('arch-wrong'), p('src'), `file://${p('t-wrong')}`],
      { env: { ...env(), SIGN_PASSPHRASE: 'not it' }, encoding: 'utf8' });
    expect(r.status).toBe(31);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^duplicity-ts: .*wrong passphrase for secret key ${keys.sign} .*\\(from SIGN_PASSPHRASE\\)$`))]);
    expect(readdirSync(p('t-wrong'))).toEqual([]);
  }, 60_000);

  it('restores a real duplicity backup whose keys are in --homedir only, and says which key is missing without it', () => {
    execFileSync('duplicity', ['full', '--encrypt-key', keys.encrypt, '--sign-key', keys.sign, '--gpg-options', `--homedir=${keys.home}`, '--archive-dir', p('dup-arch-made'), p('src'), `file://${p('t-dup')}`], { env: env(), stdio: 'pipe' });
    const ok = ours(['restore', '--sign-key', keys.sign, '--gpg-options', `--homedir ${keys.home}`, '--archive-dir', p('arch-restore'), `file://${p('t-dup')}`, p('out-dup')]);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    sameTree(p('out-dup'));

    const missing = ours(['restore', '--sign-key', keys.sign, '--archive-dir', p('arch-restore-2'), `file://${p('t-dup')}`, p('out-dup-2')]);
    expect(missing.status).toBe(31);
    expect(missing.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^duplicity-ts: failed to decrypt duplicity-full-signatures\.\S+: no secret key for the message: it is encrypted to key [0-9A-F]{16}$/)]);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
  }, 180_000);
});
