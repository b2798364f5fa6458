/**
 * npm run bench:pgp — encrypt+compress and decrypt+decompress BENCH_MIB (default 64) MiB of random and of text
 * data with @duplicity-ts/pgp and with gpg 2.2 in the same run, symmetric and public-key (signed), and print
 * MB/s and the ratio (gpg time / our time: above 1 means we are faster), plus CPU seconds of each side (ours:
 * this process with its thread pool; gpg: the gpg process, not gpg-agent) and their ratio, which a loaded machine
 * disturbs less than wall time. Each row runs BENCH_RUNS (default 3)
 * times per side, ours and gpg's interleaved so machine load hits both alike, and keeps each side's best.
 * Uses a throwaway GnuPG home; cleans up after itself.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, writeFileSync, statSync, openSync, writeSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { decrypt, encrypt, loadKeyring } from '@duplicity-ts/pgp';

const MIB = Number(process.env.BENCH_MIB ?? 64);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'pgp-bench-'));
const home = join(dir, 'gnupg');
spawnSync('mkdir', ['-m', '700', home]);
const PASS = 'bench-passphrase';
const ppFile = join(dir, 'pp');
writeFileSync(ppFile, PASS, { mode: 0o600 });

const GPG_FIXED = ['--homedir', home, '--batch', '--yes', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase-file', ppFile];

function gpg(args: string[]): void {
  const r = spawnSync('gpg', [...GPG_FIXED, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`gpg ${args.join(' ')}: ${r.stderr}`);
}

interface Cost { wall: number; cpu: number }

/** Runs gpg under bash and reads its CPU time (user + system) from bash's `times` (gpg-agent's share is not counted). */
function gpgTimed(args: string[]): Cost {
  const t = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', 'gpg "$@" >/dev/null || exit 1; times', 'bash', ...GPG_FIXED, ...args], { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`gpg ${args.join(' ')}: ${r.stderr}`);
  const children = r.stdout.trim().split('\n')[1] ?? '';
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { wall, cpu: secs.reduce((a, b) => a + b, 0) };
}

function makeInputs(): { random: string; text: string } {
  const random = join(dir, 'random.bin');
  const text = join(dir, 'text.txt');
  let fd = openSync(random, 'w');
  for (let i = 0; i < MIB; i++) writeSync(fd, randomBytes(1 << 20));
  closeSync(fd);
  const words = ['backup', 'volume', 'duplicity', 'signature', 'manifest', 'restore', 'incremental', 'chain', 'archive', 'delta', 'rsync', 'key'];
  fd = openSync(text, 'w');
  let seed = 42;
  for (let i = 0; i < MIB; i++) {
    let s = '';
    while (s.length < (1 << 20)) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      s += `${words[seed % words.length]} ${seed % 100000} ${words[(seed >> 8) % words.length]}\n`;
    }
    writeSync(fd, s.slice(0, 1 << 20));
  }
  closeSync(fd);
  return { random, text };
}

async function pump(src: AsyncIterable<Uint8Array>, out: string): Promise<void> {
  const w = createWriteStream(out);
  for await (const c of src) if (!w.write(c)) await once(w, 'drain');
  w.end();
  await once(w, 'finish');
}

/** Wall and CPU time (user + system of this process, thread pool included) of an operation of ours. */
async function timed(f: () => Promise<void>): Promise<Cost> {
  const t = process.hrtime.bigint();
  const c = process.cpuUsage();
  await f();
  const u = process.cpuUsage(c);
  return { wall: Number(process.hrtime.bigint() - t) / 1e9, cpu: (u.user + u.system) / 1e6 };
}

const best = (a: Cost, b: Cost): Cost => ({ wall: Math.min(a.wall, b.wall), cpu: Math.min(a.cpu, b.cpu) });
const NONE: Cost = { wall: Infinity, cpu: Infinity };

function row(mode: string, kind: string, op: string, mb: number, ours: Cost, theirs: Cost): string[] {
  return [mode, kind, op, (mb / ours.wall).toFixed(1), (mb / theirs.wall).toFixed(1), (theirs.wall / ours.wall).toFixed(2),
    ours.cpu.toFixed(2), theirs.cpu.toFixed(2), (theirs.cpu / ours.cpu).toFixed(2)];
}

async function main(): Promise<void> {
  console.log(`generating ${MIB} MiB inputs and a gpg key in ${dir} (best of ${RUNS} runs per side) ...`);
  const inputs = makeInputs();
  gpg(['--quick-gen-key', 'Bench <bench@bench.invalid>', 'rsa3072', 'sign', 'never']);
  const fpr = spawnSync('gpg', ['--homedir', home, '--with-colons', '--list-keys'], { encoding: 'utf8' }).stdout.split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9]!;
  gpg(['--quick-add-key', fpr, 'rsa3072', 'encr', 'never']);
  const ring = await loadKeyring({ gnupgHome: home });
  const mb = (MIB * 1048576) / 1e6;
  const rows: string[][] = [['mode', 'data', 'operation', 'ours MB/s', 'gpg MB/s', 'ratio', 'ours CPU s', 'gpg CPU s', 'CPU ratio']];
  for (const mode of ['symmetric', 'public-key+sign'] as const) {
    for (const kind of ['random', 'text'] as const) {
      const input = inputs[kind];
      const oursOut = join(dir, 'ours.gpg');
      const gpgOut = join(dir, 'gpg.gpg');
      const encOpts = mode === 'symmetric' ? { passphrase: PASS } : { keyring: ring, recipients: [fpr], signKey: fpr, signPassphrase: PASS };
      const gpgArgs = mode === 'symmetric' ? ['--symmetric'] : ['--default-key', fpr, '--recipient', fpr, '--sign', '--encrypt'];
      let oursEnc = NONE;
      let gpgEnc = NONE;
      for (let i = 0; i < RUNS; i++) {
        oursEnc = best(oursEnc, await timed(() => pump(encrypt(createReadStream(input, { highWaterMark: 1 << 20 }), encOpts), oursOut)));
        gpgEnc = best(gpgEnc, gpgTimed(['--output', gpgOut, ...gpgArgs, input]));
      }
      rows.push(row(mode, kind, `encrypt (${(statSync(oursOut).size / 1e6).toFixed(1)} / ${(statSync(gpgOut).size / 1e6).toFixed(1)} MB)`, mb, oursEnc, gpgEnc));
      // Each side decrypts gpg's output, so both read the same message.
      const decOpts = { keyring: ring, passphrase: PASS, requireSigner: mode === 'symmetric' ? undefined : fpr };
      let oursDec = NONE;
      let gpgDec = NONE;
      for (let i = 0; i < RUNS; i++) {
        oursDec = best(oursDec, await timed(() => pump(decrypt(createReadStream(gpgOut, { highWaterMark: 1 << 20 }), decOpts), '/dev/null')));
        gpgDec = best(gpgDec, gpgTimed(['--output', '/dev/null', '--decrypt', gpgOut]));
      }
      rows.push(row(mode, kind, 'decrypt', mb, oursDec, gpgDec));
      console.log(rows.slice(-2).map((r) => r.join('\t')).join('\n'));
    }
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log('\n' + rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ')).join('\n'));
}

main().finally(() => {
  spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
  rmSync(dir, { recursive: true, force: true });
});
