/**
 * Public-key restores under --sign-key: volumes stream into the restore only when the backend's manifest is
 * signed by the required signer (restore.ts signerVouches()). A server that swaps in a volume made with the
 * public key, and a manifest naming its hash, gets exit 22 before anything of that volume is written, signed
 * manifest or not; the untouched archive restores exactly what real duplicity restores.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const fx = path.resolve(repoRoot, '../shared/fixtures/duplicity-0.8.22/pubkey-signed');
const bin = path.join(repoRoot, 'node_modules/.bin/duplicity-ts');
const haveTools = spawnSync('gpg', ['--version']).status === 0 && spawnSync('duplicity', ['--version']).status === 0;
if (!haveTools && process.env.CI === 'true') throw new Error('gpg and duplicity are required in CI but are not installed');

const keys = Object.fromEntries(
  readFileSync(path.join(fx, 'keys/keys.tsv'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split('\t')).map((k) => [k[0], { id: k[1], pass: k[3] }]),
);
let work: string;
let gnupg: string;
let n = 0;
const fresh = (name: string) => path.join(work, `${name}-${n++}`);
const env = () => ({ PATH: process.env.PATH!, HOME: work, GNUPGHOME: gnupg, PASSPHRASE: keys.encrypt.pass, TZ: 'UTC' });
const gpg = (args: string[], input?: Buffer) => {
  const r = spawnSync('gpg', ['--homedir', gnupg, '--batch', '--quiet', '--yes', '--pinentry-mode', 'loopback', '--passphrase', keys.encrypt.pass, '--trust-model', 'always', ...args], { input, maxBuffer: 64 << 20 });
  expect(r.status, r.stderr?.toString()).toBe(0);
  return r.stdout;
};
const restore = (archive: string, out: string) =>
  spawnSync(bin, ['restore', '--sign-key', keys.sign.id, '--archive-dir', fresh('cache'), `file://${archive}`, out], { encoding: 'utf8', env: env() });

/** Regular files under `dir`, relative, with their SHA1. */
function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath, e.name);
    out[path.relative(dir, p)] = createHash('sha1').update(readFileSync(p)).digest('hex');
  }
  return out;
}

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'restore-signer-'));
  gnupg = path.join(work, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  for (const role of ['encrypt', 'sign']) gpg(['--passphrase', keys[role].pass, '--import', path.join(fx, `keys/${role}-secret.asc`)]);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.runIf(haveTools)('restore --sign-key: which volumes may stream', () => {
  it('the untouched archive (signed manifests) restores what real duplicity restores', () => {
    const ours = fresh('ours');
    const r = restore(path.join(fx, 'archive'), ours);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const theirs = fresh('theirs');
    const d = spawnSync('duplicity', ['restore', '--sign-key', keys.sign.id, '--archive-dir', fresh('dcache'), `file://${path.join(fx, 'archive')}`, theirs], { encoding: 'utf8', env: { ...env(), SIGN_PASSPHRASE: keys.sign.pass } });
    expect(d.status, d.stderr).toBe(0);
    expect(Object.keys(files(ours)).length).toBeGreaterThan(0);
    expect(files(ours)).toEqual(files(theirs));
  });

  for (const signManifest of [false, true]) {
    it(`a volume swapped for one made with the public key: exit 22, nothing of it written (forged manifest ${signManifest ? 'signed by another key' : 'unsigned'})`, () => {
      const archive = fresh('archive');
      cpSync(path.join(fx, 'archive'), archive, { recursive: true });
      const full = readdirSync(archive).find((f) => /^duplicity-full\.[^.]+\.vol1\.difftar\.gpg$/.test(f))!;
      const manifestName = full.replace(/\.vol1\.difftar\.gpg$/, '.manifest.gpg');
      // The server's forgery: the same tar, encrypted to the public key, unsigned, and a manifest naming it.
      const plain = gpg(['--decrypt', path.join(archive, full)]);
      const forged = gpg(['--encrypt', '--recipient', keys.encrypt.id, '--compress-algo', 'none', '-o', '-'], plain);
      const oldSha1 = createHash('sha1').update(readFileSync(path.join(archive, full))).digest('hex');
      writeFileSync(path.join(archive, full), forged);
      const manifest = gpg(['--decrypt', path.join(archive, manifestName)]).toString('latin1');
      expect(manifest).toContain(oldSha1);
      const forgedManifest = Buffer.from(manifest.replace(oldSha1, createHash('sha1').update(forged).digest('hex')), 'latin1');
      // "Another key": the encryption key, which the server does not have; it stands for any key but the signer.
      const signArgs = signManifest ? ['--sign', '--local-user', keys.encrypt.id] : [];
      writeFileSync(path.join(archive, manifestName), gpg(['--encrypt', ...signArgs, '--recipient', keys.encrypt.id, '-o', '-'], forgedManifest));

      const out = fresh('out');
      const r = restore(archive, out);
      expect(r.status).toBe(22);
      expect(r.stderr).toMatch(new RegExp(`${full.replace(/\./g, '\\.')}: Volume was signed by key (None|${keys.encrypt.id}), not ${keys.sign.id}\\n$`));
      expect(files(out)).toEqual({});
    });
  }
});
