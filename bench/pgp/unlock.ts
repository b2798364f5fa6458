/**
 * `tsc -b packages/pgp && npx tsx bench/pgp/unlock.ts` — how long the first secret-key unlock takes in a process, for each place a
 * passphrase meets an S2K: an armored secret key file, a key gpg imported (the agent keeps it in OpenPGP's own
 * protection until first use), the same key after gpg-agent re-protected it (OCB at the agent's count), and a
 * SKESK of a `gpg --symmetric` message. Keys come from the shared duplicity fixtures (S2K count 65,011,712).
 * Each case runs in a fresh child process so no S2K cache carries over.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decrypt, loadKeyring } from '@duplicity-ts/pgp';

const FIX = '/work/shared/fixtures/duplicity-0.8.22/pubkey-signed/keys';
const KEY_FILE = join(FIX, 'encrypt-secret.asc');
const PASS = 'fixture-encrypt-7338e4bfdad1';
const KEY_ID = 'EC5E36C15C296022';

async function unlockOnce(opts: { gnupgHome?: string; keyFiles?: string[] }): Promise<number> {
  const ring = await loadKeyring(opts);
  const entries = ring.find(KEY_ID, 'key').entries.filter((e) => e.secret);
  const t = process.hrtime.bigint();
  for (const e of entries) await e.unlock(PASS, 'PASSPHRASE');
  return Number(process.hrtime.bigint() - t) / 1e6 / entries.length;
}

async function child(kind: string, arg: string): Promise<void> {
  let ms: number;
  if (kind === 'file') ms = await unlockOnce({ keyFiles: [arg] });
  else if (kind === 'home') ms = await unlockOnce({ gnupgHome: arg });
  else {
    const t = process.hrtime.bigint();
    for await (const _ of decrypt((async function* () { yield readFileSync(arg); })(), { passphrase: PASS })) void _;
    ms = Number(process.hrtime.bigint() - t) / 1e6;
  }
  process.stdout.write(`${ms.toFixed(0)}\n`);
}

function run(kind: string, arg: string): string {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), kind, arg], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${kind}: ${r.stderr}`);
  return r.stdout.trim();
}

function gpg(home: string, args: string[], input?: Buffer): Buffer {
  const pp = join(home, '..', 'pp');
  writeFileSync(pp, PASS, { mode: 0o600 });
  const r = spawnSync('gpg', ['--homedir', home, '--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase-file', pp, ...args], { input });
  if (r.status !== 0) throw new Error(`gpg ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pgp-unlock-bench-'));
  const home = join(dir, 'gnupg');
  spawnSync('mkdir', ['-m', '700', home]);
  try {
    gpg(home, ['--import', KEY_FILE]);
    const rows: [string, string][] = [];
    rows.push(['armored secret key file (OpenPGP S2K, count 65011712), per key', run('file', KEY_FILE)]);
    rows.push(['GnuPG home, key as imported (openpgp-native), per key', run('home', home)]);
    // First use by gpg makes the agent re-protect the key in its own format.
    const msg = gpg(home, ['--trust-model', 'always', '--recipient', KEY_ID, '--encrypt'], Buffer.from('x'));
    gpg(home, ['--decrypt'], msg);
    rows.push(['GnuPG home, agent-protected (OCB, agent count), per key', run('home', home)]);
    const sym = join(dir, 'sym.gpg');
    writeFileSync(sym, gpg(home, ['--s2k-count', '65011712', '--symmetric'], Buffer.from('x')));
    rows.push(['SKESK of gpg --symmetric (count 65011712), whole decrypt', run('sym', sym)]);
    for (const [what, ms] of rows) console.log(`${ms.padStart(6)} ms  ${what}`);
  } finally {
    spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2]) await child(process.argv[2], process.argv[3]!);
else await main();
