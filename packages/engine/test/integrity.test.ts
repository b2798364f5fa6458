/**
 * Damage, through the CLI: a flipped byte in a volume, a truncated volume, a missing volume, a
 * missing manifest, a signature file from another chain, a wrong passphrase, a volume signed by
 * another key. `check` and `restore` must each fail with one line naming the file, a non-zero exit
 * code and no stack trace; `restore --ignore-errors` restores everything the damage does not reach.
 * `check --server-hashes` runs against a real sshd. Archives are copies of the fixtures made by the
 * real duplicity. Needs `npm run build`.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdServer } from '../../../test-fixtures/sshd/sshd.js';
import { baseEnv, fixtures, run, treeDigest } from './fault-harness.js';

let work: string;
let env: Record<string, string>;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'integrity-'));
  env = baseEnv(work);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const MV_VOL3 = 'duplicity-full.20221025T231558Z.vol3.difftar.gz';
const SYM_PASS = 'fixture-symmetric-b377f3ce0c7d';

function copy(scenario: string, damage?: (dir: string) => void): string {
  const dir = mkdtempSync(path.join(work, `${scenario}-`));
  cpSync(path.join(fixtures, scenario, 'archive'), dir, { recursive: true });
  damage?.(dir);
  return dir;
}

function flipByte(file: string, at: number): void {
  const b = readFileSync(file);
  b[at] ^= 0x01;
  writeFileSync(file, b);
}

/** One or more lines on stderr, each naming `file`, no stack trace. */
function expectOneLineErrors(stderr: string, file: string): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines.length).toBeGreaterThan(0);
  expect(lines[0]).toContain(file);
  expect(stderr).not.toMatch(/^\s+at /m);
}

const check = (dir: string, extra: string[] = [], e: Record<string, string> = {}) =>
  run('duplicity-ts', ['check', '--no-encryption', ...extra, `file://${dir}`], { ...env, ...e });
const restore = (dir: string, into: string, extra: string[] = [], e: Record<string, string> = {}) =>
  run('duplicity-ts', ['restore', '--no-encryption', '--archive-dir', path.join(into + '-cache'), ...extra, `file://${dir}`, into], { ...env, ...e });

describe('check on sound archives made by duplicity', () => {
  for (const sc of ['multivol', 'long-chain']) {
    it(sc, () => {
      const r = check(path.join(fixtures, sc, 'archive'));
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/Check complete: 1 chain\(s\), \d+ set\(s\), \d+ volumes read, \d+ item\(s\) rebuilt; no problems found\.\n$/);
    });
  }
});

describe('damage', () => {
  it('a flipped byte in a volume: check and restore exit 21 naming it', () => {
    const dir = copy('multivol', (d) => flipByte(path.join(d, MV_VOL3), 5000));
    const c = check(dir);
    expect(c.status).toBe(21);
    expectOneLineErrors(c.stderr, MV_VOL3);
    // By name, from the set's signature file: the fixture's items between the volume's first and last index.
    expect(c.stderr).toContain(
      'affects items big-1.bin to sub/big-2.bin of full backup set of 20221025T231558Z (big-1.bin, latest, notes, notes/small-0.txt, notes/small-1.txt, sub, sub/big-2.bin); restores at 20221025T231558Z and the 2 later backup time(s) of its chain',
    );
    expect(c.stderr.trimEnd().split('\n')).toHaveLength(1);
    const r = restore(dir, path.join(work, 'flip-out'));
    expect(r.status).toBe(21);
    expect(r.stderr).toMatch(new RegExp(`^duplicity-ts: failed to verify ${MV_VOL3.replaceAll('.', '\\.')}: SHA1 [0-9a-f]{40} does not match the manifest's [0-9a-f]{40}\\n$`));
  });

  it('a truncated volume: exit 21', () => {
    const dir = copy('multivol', (d) => truncateSync(path.join(d, MV_VOL3), 10_000));
    const c = check(dir);
    expect(c.status).toBe(21);
    expectOneLineErrors(c.stderr, MV_VOL3);
    const r = restore(dir, path.join(work, 'trunc-out'));
    expect(r.status).toBe(21);
    expectOneLineErrors(r.stderr, MV_VOL3);
  });

  it('a missing volume: exit 53 naming the volume and set', () => {
    const dir = copy('multivol', (d) => unlinkSync(path.join(d, MV_VOL3)));
    const c = check(dir);
    expect(c.status).toBe(53);
    expectOneLineErrors(c.stderr, 'volume 3 of full backup set of 20221025T231558Z');
    const r = restore(dir, path.join(work, 'missing-out'));
    expect(r.status).toBe(53);
    expect(r.stderr).toMatch(/^duplicity-ts: failed to restore: volume 3 of the backup set ending \d+ is missing from the backend\n$/);
  });

  it('a missing manifest: check names the set left without one', () => {
    const manifest = 'duplicity-inc.20221027T003136Z.to.20221028T042635Z.manifest';
    const dir = copy('multivol', (d) => unlinkSync(path.join(d, manifest)));
    const c = check(dir);
    expect(c.status).toBe(6);
    expectOneLineErrors(c.stderr, 'duplicity-inc.20221027T003136Z.to.20221028T042635Z.vol1.difftar.gz');
    expect(c.stderr).toContain('no manifest');
  });

  it('a signature file from another chain: check exit 30 naming it', () => {
    const sig = 'duplicity-full-signatures.20210725T031730Z.sigtar.gz';
    const dir = copy('long-chain', (d) => {
      const other = readdirSync(path.join(fixtures, 'plain/archive')).find((n) => n.startsWith('duplicity-full-signatures'))!;
      cpSync(path.join(fixtures, 'plain/archive', other), path.join(d, sig));
    });
    expect(statSync(path.join(dir, sig)).size).toBeGreaterThan(0);
    const c = check(dir);
    expect(c.status).toBe(30);
    expectOneLineErrors(c.stderr, sig);
    expect(c.stderr).toContain('does not match the data of full backup set of 20210725T031730Z');
  });

  it('a wrong passphrase: check and restore exit 31, one line', () => {
    const dir = path.join(fixtures, 'symmetric/archive');
    const c = run('duplicity-ts', ['check', `file://${dir}`], { ...env, PASSPHRASE: 'not-the-passphrase' });
    expect(c.status).toBe(31);
    expectOneLineErrors(c.stderr, 'duplicity-full.20210726T003115Z.manifest.gpg');
    const r = run('duplicity-ts', ['restore', '--archive-dir', path.join(work, 'wp-cache'), `file://${dir}`, path.join(work, 'wp-out')], { ...env, PASSPHRASE: 'not-the-passphrase' });
    expect(r.status).toBe(31);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^duplicity-ts: failed to decrypt duplicity-\S+\.gpg: /);
    expect(r.stderr).not.toContain('not-the-passphrase');
  });

  it('volumes signed by another key than --sign-key: check exit 22', () => {
    const gnupg = mkdtempSync(path.join(work, 'gnupg-'));
    const keys = readFileSync(path.join(fixtures, 'pubkey-signed/keys/keys.tsv'), 'utf8').split('\n').map((l) => l.split('\t'));
    const enc = keys.find((k) => k[0] === 'encrypt')!;
    spawnSync('gpg', ['--homedir', gnupg, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', enc[3], '--import', path.join(fixtures, 'pubkey-signed/keys/encrypt-secret.asc')]);
    spawnSync('gpg', ['--homedir', gnupg, '--batch', '--quiet', '--import', path.join(fixtures, 'pubkey-signed/keys/sign-public.asc')]);
    const e = { ...env, GNUPGHOME: gnupg, PASSPHRASE: enc[3] };
    const url = `file://${path.join(fixtures, 'pubkey-signed/archive')}`;
    const bad = run('duplicity-ts', ['check', '--sign-key', enc[1], url], e);
    expect(bad.status).toBe(22);
    expectOneLineErrors(bad.stderr, 'duplicity-');
    const good = run('duplicity-ts', ['check', '--sign-key', '572BA39CF3188FFB', url], e);
    expect(good.stderr).toBe('');
    expect(good.status).toBe(0);
  });
});

describe('restore --ignore-errors', () => {
  it('restores everything outside the damaged volume, names what it skipped, exits 0', () => {
    const dir = copy('multivol', (d) => flipByte(path.join(d, MV_VOL3), 5000));
    const clean = path.join(work, 'ie-clean');
    expect(restore(path.join(fixtures, 'multivol/archive'), clean).status).toBe(0);
    const out = path.join(work, 'ie-out');
    const r = restore(dir, out, ['--ignore-errors']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`Error reading volume 3 of the full backup set of 20221025T231558Z (items big-1.bin to sub/big-2.bin), ignored (--ignore-errors)`);
    const skipped = [...r.stdout.matchAll(/^Skipping (\S+): /gm)].map((m) => m[1]);
    expect(skipped).toEqual(expect.arrayContaining(['big-1.bin', 'sub/big-2.bin']));
    // Every restored line is what the clean restore has; what is missing was named as skipped, or
    // lies in the damaged volume's reported range (items only that volume held have no name to report).
    const cmp = (a: string, b: string) => {
      const x = a.split('/');
      const y = b.split('/');
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = Buffer.compare(Buffer.from(x[i]), Buffer.from(y[i]));
        if (c) return c;
      }
      return x.length - y.length;
    };
    const inRange = (p: string) => cmp('big-1.bin', p) <= 0 && cmp(p, 'sub/big-2.bin') <= 0;
    const want = new Map(treeDigest(clean).split('\n').map((l) => [l.split(' ')[1], l]));
    const got = treeDigest(out).split('\n').filter((l) => !l.startsWith('d '));
    for (const l of got) expect(want.get(l.split(' ')[1])).toBe(l);
    for (const [p, l] of want) {
      if (l.startsWith('d ') || got.some((g) => g.split(' ')[1] === p)) continue;
      expect(inRange(p) || skipped.some((s) => p === s || p.startsWith(`${s}/`)), `${p} missing but not reported`).toBe(true);
    }
  });
});

describe('check --server-hashes', () => {
  let sshd: SshdServer;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.stop();
  });

  it('checks volume hashes with sha1sum on the server; a flipped byte is exit 21 naming the file', () => {
    const rel = 'mv';
    const dir = path.join(sshd.userHome, rel);
    cpSync(path.join(fixtures, 'multivol/archive'), dir, { recursive: true });
    if (process.getuid?.() === 0) spawnSync('chown', ['-R', `${sshd.user}:`, dir]);
    const e = { ...env, HOME: sshd.clientHome };
    const url = sshd.url('sftp', rel);
    const ok = run('duplicity-ts', ['check', '--server-hashes', '--no-encryption', url], e);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('8 volume hashes checked on the server');
    flipByte(path.join(dir, MV_VOL3), 100);
    const bad = run('duplicity-ts', ['check', '--server-hashes', '--no-encryption', url], e);
    expect(bad.status).toBe(21);
    expectOneLineErrors(bad.stderr, MV_VOL3);
    expect(bad.stderr).toContain('(computed on the server)');
  });

  it('is refused on a backend that cannot hash on the server (exit 2)', () => {
    const r = check(path.join(fixtures, 'plain/archive'), ['--server-hashes']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^duplicity-ts: --server-hashes needs a backend that can hash files on the server/);
  });
});
