/**
 * tsx bench/pgp/decrypt.ts — decrypt-only comparison (faster to iterate on than bench.ts): gpg writes BENCH_MIB
 * (default 32) MiB of random and of text data, symmetric and public-key+signed; each side decrypts each message
 * BENCH_RUNS (default 3) times, interleaved, best wall and CPU kept. Ratio = gpg / ours (above 1: we are faster).
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { decrypt, loadKeyring } from '@duplicity-ts/pgp';

const MIB = Number(process.env.BENCH_MIB ?? 32);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'pgp-dbench-'));
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
function gpgTimed(args: string[]): Cost {
  const t = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', 'gpg "$@" >/dev/null || exit 1; times', 'bash', ...GPG_FIXED, ...args], { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`gpg ${args.join(' ')}: ${r.stderr}`);
  const children = r.stdout.trim().split('\n')[1] ?? '';
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { wall, cpu: secs.reduce((a, b) => a + b, 0) };
}
async function timed(f: () => Promise<void>): Promise<Cost> {
  const t = process.hrtime.bigint();
  const c = process.cpuUsage();
  await f();
  const u = process.cpuUsage(c);
  return { wall: Number(process.hrtime.bigint() - t) / 1e9, cpu: (u.user + u.system) / 1e6 };
}
async function pump(src: AsyncIterable<Uint8Array>, out: string): Promise<void> {
  const w = createWriteStream(out);
  for await (const c of src) if (!w.write(c)) await once(w, 'drain');
  w.end();
  await once(w, 'finish');
}
const best = (a: Cost, b: Cost): Cost => ({ wall: Math.min(a.wall, b.wall), cpu: Math.min(a.cpu, b.cpu) });

async function main(): Promise<void> {
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
  gpg(['--quick-gen-key', 'Bench <bench@bench.invalid>', 'rsa3072', 'sign', 'never']);
  const fpr = spawnSync('gpg', ['--homedir', home, '--with-colons', '--list-keys'], { encoding: 'utf8' }).stdout.split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9]!;
  gpg(['--quick-add-key', fpr, 'rsa3072', 'encr', 'never']);
  const ring = await loadKeyring({ gnupgHome: home });
  const only = process.env.BENCH_ONLY;
  for (const mode of ['symmetric', 'public-key+sign'] as const) {
    for (const [kind, input] of [['random', random], ['text', text]] as const) {
      if (only && !`${mode} ${kind}`.includes(only)) continue;
      const msg = join(dir, `${kind}.gpg`);
      gpg(['--output', msg, ...(mode === 'symmetric' ? ['--symmetric'] : ['--default-key', fpr, '--recipient', fpr, '--sign', '--encrypt']), input]);
      const opts = { keyring: ring, passphrase: PASS, requireSigner: mode === 'symmetric' ? undefined : fpr };
      let ours: Cost = { wall: Infinity, cpu: Infinity };
      let theirs: Cost = { wall: Infinity, cpu: Infinity };
      for (let i = 0; i < RUNS; i++) {
        ours = best(ours, await timed(() => pump(decrypt(createReadStream(msg, { highWaterMark: 1 << 20 }), opts), '/dev/null')));
        if (!process.env.BENCH_NO_GPG) theirs = best(theirs, gpgTimed(['--output', '/dev/null', '--decrypt', msg]));
      }
      console.log([mode, kind, 'decrypt', `wall ${ours.wall.toFixed(3)} / ${theirs.wall.toFixed(3)} = ${(theirs.wall / ours.wall).toFixed(2)}`,
        `CPU ${ours.cpu.toFixed(3)} / ${theirs.cpu.toFixed(3)} = ${(theirs.cpu / ours.cpu).toFixed(2)}`].join('\t'));
    }
  }
}
main().finally(() => {
  spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']);
  rmSync(dir, { recursive: true, force: true });
});
