/**
 * The shared fixture check, end to end through the built CLI: every backup time of every fixture
 * scenario (plain, multivol, long-chain, symmetric, pubkey-signed) restored by
 * `duplicity-ts restore --time T file://... OUT` must list exactly like what real duplicity
 * restored. Needs `npm run build` (npm test builds first).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const shared = path.resolve(repoRoot, '../shared');

it('check-restores.sh passes for every fixture scenario', () => {
  const cache = mkdtempSync(path.join(tmpdir(), 'check-restores-cache-'));
  try {
    // The stop hook allows the script 50 s; the limit here is wider so
    // a machine busy with other work does not turn a slow run into a failed restore check.
    const started = Date.now();
    const r = spawnSync(
      path.join(shared, 'tools/check-restores.sh'),
      [path.join(shared, 'fixtures/duplicity-0.8.22'), path.join(repoRoot, 'node_modules/.bin/duplicity-ts')],
      { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: cache, TZ: 'UTC' }, timeout: 150_000 },
    );
    console.log(`check-restores.sh: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(r.stdout).toMatch(/restores: (\d+)\/\1 match\n$/);
    expect(r.status).toBe(0);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}, 160_000);

it('a .gz volume that matches its manifest hash but does not inflate is exit 30 naming it, after the files before the damage', () => {
  const bin = path.join(repoRoot, 'node_modules/.bin/duplicity-ts');
  const work = mkdtempSync(path.join(tmpdir(), 'restore-cli-gz-'));
  try {
    const src = path.join(work, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'a.txt'), 'first file\n'.repeat(1000));
    writeFileSync(path.join(src, 'b.bin'), randomBytes(3 << 20));
    const target = path.join(work, 'target');
    const cache = path.join(work, 'cache');
    const env = { PATH: process.env.PATH!, HOME: work, TZ: 'UTC' };
    const full = spawnSync(bin, ['full', '--no-encryption', '--archive-dir', cache, src, `file://${target}`], { encoding: 'utf8', env });
    expect(full.stderr).toBe('');
    // The volume remade as one gzip member whose deflate data is cut in the middle of b.bin, and the
    // cache's manifest made to vouch for it: the hash check passes, inflating fails.
    const vol = path.join(target, readdirSync(target).find((n) => n.endsWith('.vol1.difftar.gz'))!);
    const volBytes = readFileSync(vol);
    const oldSha1 = createHash('sha1').update(volBytes).digest('hex');
    const whole = gzipSync(spawnSync('gzip', ['-dc'], { input: volBytes, maxBuffer: 64 << 20 }).stdout);
    const damaged = Buffer.from(whole.subarray(0, whole.length >> 1));
    damaged.fill(0xff, damaged.length - 64);
    writeFileSync(vol, damaged);
    const manifestDir = readdirSync(cache).map((d) => path.join(cache, d)).find((d) => readdirSync(d).some((n) => n.endsWith('.manifest')))!;
    const manifest = path.join(manifestDir, readdirSync(manifestDir).find((n) => n.endsWith('.manifest'))!);
    writeFileSync(manifest, readFileSync(manifest, 'latin1').replace(oldSha1, createHash('sha1').update(damaged).digest('hex')), 'latin1');
    const out = path.join(work, 'out');
    const r = spawnSync(bin, ['restore', '--no-encryption', '--archive-dir', cache, `file://${target}`, out], { encoding: 'utf8', env });
    expect(r.stderr).toMatch(new RegExp(`^duplicity-ts: failed to decompress ${path.basename(vol).replace(/\./g, '\\.')}: [^\n]+\n$`));
    expect(r.status).toBe(30);
    expect(readFileSync(path.join(out, 'a.txt'), 'utf8')).toBe('first file\n'.repeat(1000));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

describe('encrypted archives through the CLI', () => {
  const fx = path.join(shared, 'fixtures/duplicity-0.8.22');
  const bin = path.join(repoRoot, 'node_modules/.bin/duplicity-ts');
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'restore-cli-'));
  });
  afterAll(() => {
    spawnSync('gpgconf', ['--homedir', path.join(work, 'gnupg'), '--kill', 'all']);
    rmSync(work, { recursive: true, force: true });
  });
  const restoreCli = (args: string[], env: Record<string, string>) =>
    spawnSync(bin, ['restore', ...args], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH!, HOME: work, XDG_CACHE_HOME: path.join(work, `cache-${Math.random()}`), ...env },
    });
  const out = () => path.join(work, `out-${Math.random().toString(36).slice(2)}`);

  it('a wrong passphrase is exit 31 with one line naming the file', () => {
    const r = restoreCli([`file://${fx}/symmetric/archive`, out()], { PASSPHRASE: 'not-the-passphrase-x7' });
    expect(r.status).toBe(31);
    expect(r.stderr).toMatch(/^duplicity-ts: failed to decrypt duplicity-[^ ]+\.gpg: [^\n]+\n$/);
    expect(r.stderr).not.toContain('not-the-passphrase-x7'); // the passphrase is never echoed
  });

  it('no PASSPHRASE for a symmetric archive is exit 30 (as duplicity, whose prompt meets end of input) naming the variable', () => {
    const r = restoreCli([`file://${fx}/symmetric/archive`, out()], {});
    expect(r.status).toBe(30);
    expect(r.stderr).toMatch(/^duplicity-ts: failed to decrypt duplicity-[^ ]+\.gpg: [^\n]*set PASSPHRASE[^\n]*\n$/);
    // Real duplicity, unattended (no terminal, stdin at its end), ends with the same code.
    const d = spawnSync('setsid', ['duplicity', 'restore', `file://${fx}/symmetric/archive`, out()], {
      encoding: 'utf8',
      input: '',
      env: { PATH: process.env.PATH!, HOME: work, XDG_CACHE_HOME: path.join(work, `cache-${Math.random()}`) },
    });
    expect(d.status).toBe(30);
  });

  it('--sign-key is enforced on volumes: unsigned volumes are exit 22, a good signer restores', () => {
    let r = restoreCli(['--sign-key', 'EC5E36C15C296022', `file://${fx}/symmetric/archive`, out()], { PASSPHRASE: 'fixture-symmetric-b377f3ce0c7d' });
    expect(r.status).toBe(22);
    expect(r.stderr).toMatch(/vol1\.difftar\.gpg: Volume was signed by key None, not EC5E36C15C296022\n$/);
    const gnupg = path.join(work, 'gnupg');
    mkdirSync(gnupg, { mode: 0o700 });
    const keys = readFileSync(path.join(fx, 'pubkey-signed/keys/keys.tsv'), 'utf8').split('\n').map((l) => l.split('\t'));
    for (const role of ['encrypt', 'sign']) {
      const pass = keys.find((k) => k[0] === role)![3];
      spawnSync('gpg', ['--homedir', gnupg, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', pass, '--import', path.join(fx, `pubkey-signed/keys/${role}-secret.asc`)]);
    }
    const env = { PASSPHRASE: keys.find((k) => k[0] === 'encrypt')![3], GNUPGHOME: gnupg };
    r = restoreCli(['--sign-key', 'EC5E36C15C296022', `file://${fx}/pubkey-signed/archive`, out()], env);
    expect(r.status).toBe(22);
    expect(r.stderr).toContain('Volume was signed by key 572BA39CF3188FFB, not EC5E36C15C296022');
    r = restoreCli(['--sign-key', '572BA39CF3188FFB', `file://${fx}/pubkey-signed/archive`, out()], env);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('a volume that matches its manifest hash streams into the restore, and its MDC is still checked at the end', () => {
    const src = path.join(work, 'mdc-src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'a.txt'), 'some content\n'.repeat(1000));
    const target = path.join(work, 'mdc-target');
    const cache = path.join(work, 'mdc-cache');
    const passphrase = 'mdc-test-passphrase';
    const env = { PATH: process.env.PATH!, HOME: work, PASSPHRASE: passphrase, TZ: 'UTC' };
    const full = spawnSync(bin, ['full', '--archive-dir', cache, src, `file://${target}`], { encoding: 'utf8', env });
    expect(full.stderr).toBe('');
    const restoreWith = (dest: string) =>
      spawnSync(bin, ['restore', '--archive-dir', cache, `file://${target}`, dest], { encoding: 'utf8', env });
    expect(restoreWith(out()).status).toBe(0);

    // The volume remade with an end mark and 3 MiB of junk after it (as gpg volumes may carry), so
    // the tar reader is done long before the MDC is reached; then the junk is damaged, and the
    // cache's manifest is made to vouch for the damaged bytes.
    const vol = path.join(target, readdirSync(target).find((n) => n.endsWith('.vol1.difftar.gpg'))!);
    const oldSha1 = createHash('sha1').update(readFileSync(vol)).digest('hex');
    const gnupg = path.join(work, 'mdc-gnupg');
    mkdirSync(gnupg, { mode: 0o700 });
    const gpg = (args: string[], input?: Buffer) =>
      spawnSync('gpg', ['--homedir', gnupg, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', passphrase, ...args], { input, maxBuffer: 64 << 20 });
    const plain = gpg(['--decrypt', vol]).stdout;
    expect(plain.length).toBeGreaterThan(0);
    const remade = gpg(['--symmetric', '--compress-algo', 'none', '-o', '-'], Buffer.concat([plain, Buffer.alloc(1024), randomBytes(3 << 20)])).stdout;
    remade[remade.length - 1000] ^= 1;
    writeFileSync(vol, remade);
    const manifestDir = readdirSync(cache).map((d) => path.join(cache, d)).find((d) => readdirSync(d).some((n) => n.endsWith('.manifest')))!;
    const manifest = path.join(manifestDir, readdirSync(manifestDir).find((n) => n.endsWith('.manifest'))!);
    writeFileSync(manifest, readFileSync(manifest, 'latin1').replace(oldSha1, createHash('sha1').update(remade).digest('hex')), 'latin1');

    const r = restoreWith(out());
    expect(r.stderr).toMatch(new RegExp(`^duplicity-ts: failed to decrypt ${path.basename(vol).replace(/\./g, '\\.')}: [^\n]*MDC[^\n]*\n$`));
    expect(r.status).toBe(31);
  });
});
