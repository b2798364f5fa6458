#!/usr/bin/env node
/**
 * npm run bench:backup — duplicity-ts against the real duplicity 0.8.22 (and restic / borg when
 * installed) on one generated corpus, in the same run: full backup, incremental after ~1% change,
 * and restore of the latest state, with --no-encryption and with symmetric encryption.
 *
 * Environment:
 *   BENCH_SIZE_MB   corpus size (default 1024; e.g. 100 for a quick run)
 *   BENCH_MODES     comma list of plain,symmetric (default both)
 *   BENCH_TOOLS     comma list of duplicity-ts,duplicity,restic,borg (default: all installed)
 *   BENCH_BIGFILE_MB  instead: back up one random file of this size with duplicity-ts and report
 *                   its peak RSS (e.g. 2048 for the 2 GiB memory check)
 *   BENCH_CHAIN_MB  instead: one random file of this size, BENCH_CHAIN_INCS (default 10) incrementals each
 *                   changing 1 % of it, then a restore with duplicity-ts and duplicity (--no-encryption)
 *   BENCH_KEEP=1    keep the work dir
 *   BENCH_FLOORS=0  skip the machine floors
 *   BENCH_RUNS=n    n chains per tool and mode (default 1): each op is timed n times, interleaved
 *                   between the tools, and the ratios use each op's fastest run
 * Every command runs under /usr/bin/time to read its peak RSS.
 *
 * Machine floors, measured on the same corpus in the same run, say what any tool must at least
 * spend here: reading the tree (tar into a pipe), gzip -6 of it on one core and with pigz on every
 * core (a full --no-encryption backup deflates at level 6 too), and writing the tree (cp -a, what
 * a restore must at least do). On this kind of VM writing fresh pages is costly, so the cp floor
 * is seconds, not the page-cache copy it is on bare metal.
 */
import { spawnSync, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync, utimesSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const OURS = path.join(repo, 'node_modules/.bin/duplicity-ts');
const MB = 1024 * 1024;
const sizeMB = Number(process.env.BENCH_SIZE_MB ?? 1024);
const modes = (process.env.BENCH_MODES ?? 'plain,symmetric,pubkey').split(',');
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const tools = (process.env.BENCH_TOOLS ?? 'duplicity-ts,duplicity,restic,borg').split(',').filter((t) => t === 'duplicity-ts' || has(t));
const work = mkdtempSync(path.join(process.env.BENCH_DIR ?? tmpdir(), 'dts-bench-'));
const PASS = 'bench passphrase';
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 1));

// A small deterministic PRNG, so the corpus (and its 1% change) is the same on every run.
function prng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function textBytes(r, n) {
  const words = [];
  for (let i = 0; i < 4000; i++) {
    let w = '';
    const len = 2 + (r() % 9);
    for (let j = 0; j < len; j++) w += String.fromCharCode(97 + (r() % 26));
    words.push(w);
  }
  const parts = [];
  let got = 0;
  while (got < n) {
    let line = '';
    for (let k = 0; k < 12; k++) line += words[r() % words.length] + ' ';
    line += '\n';
    parts.push(line);
    got += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

function makeCorpus(src) {
  const r = prng(42);
  const total = sizeMB * MB;
  mkdirSync(src, { recursive: true });
  const t0 = 1_700_000_000;
  // 45% large random (media-like), 30% compressible text, 25% small files.
  const randomTotal = Math.floor(total * 0.45);
  const nRandom = 4;
  for (let i = 0; i < nRandom; i++) {
    const fd = openSync(path.join(src, `media-${i}.bin`), 'w');
    let left = Math.floor(randomTotal / nRandom);
    while (left > 0) {
      const n = Math.min(left, 8 * MB);
      writeSync(fd, randomBytes(n));
      left -= n;
    }
    closeSync(fd);
  }
  mkdirSync(path.join(src, 'text'));
  const textTotal = Math.floor(total * 0.3);
  const nText = 8;
  for (let i = 0; i < nText; i++) writeFileSync(path.join(src, 'text', `log-${i}.txt`), textBytes(r, Math.floor(textTotal / nText)));
  const smallTotal = total - randomTotal - textTotal;
  let made = 0;
  let i = 0;
  while (made < smallTotal) {
    const dir = path.join(src, 'small', `d${Math.floor(i / 200)}`);
    if (i % 200 === 0) mkdirSync(dir, { recursive: true });
    const n = 2048 + (r() % 30000);
    writeFileSync(path.join(dir, `f${i}.${i % 3 === 0 ? 'bin' : 'txt'}`), i % 3 === 0 ? randomBytes(n) : textBytes(r, n));
    made += n;
    i++;
  }
  execFileSync('find', [src, '-exec', 'touch', '-h', '-d', `@${t0}`, '{}', '+']);
  return i;
}

/** About 1% of the bytes change: regions of the big files, appends, a few small files edited, added, deleted. */
function mutateCorpus(src, smallCount) {
  const r = prng(7);
  const t1 = 1_700_100_000;
  const touched = [];
  for (let i = 0; i < 4; i++) {
    const p = path.join(src, `media-${i}.bin`);
    const fd = openSync(p, 'r+');
    const size = Math.floor(Math.floor(sizeMB * MB * 0.45) / 4);
    for (let k = 0; k < 4; k++) writeSync(fd, randomBytes(Math.floor(size * 0.0025)), 0, Math.floor(size * 0.0025), r() % Math.max(1, size - size * 0.003));
    closeSync(fd);
    touched.push(p);
  }
  for (let i = 0; i < 8; i += 2) {
    const p = path.join(src, 'text', `log-${i}.txt`);
    appendFileSync(p, textBytes(r, Math.floor(sizeMB * MB * 0.3 * 0.01)));
    touched.push(p);
  }
  for (let k = 0; k < Math.max(1, Math.floor(smallCount * 0.01)); k++) {
    const i = r() % smallCount;
    const p = path.join(src, 'small', `d${Math.floor(i / 200)}`, `f${i}.${i % 3 === 0 ? 'bin' : 'txt'}`);
    if (!existsSync(p)) continue;
    if (k % 5 === 0) rmSync(p);
    else {
      appendFileSync(p, textBytes(r, 500));
      touched.push(p);
    }
  }
  mkdirSync(path.join(src, 'new'), { recursive: true });
  for (let k = 0; k < 50; k++) {
    const p = path.join(src, 'new', `n${k}.txt`);
    writeFileSync(p, textBytes(r, 4000));
    touched.push(p);
  }
  for (const p of [...touched, path.join(src, 'new'), path.join(src, 'text')]) utimesSync(p, t1, t1);
}

function timed(cmd, args, env, cwd = work) {
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', cmd, ...args], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  const secs = Number(process.hrtime.bigint() - t) / 1e9;
  const lines = r.stderr.trim().split('\n');
  const [user, sys, rssKB] = lines[lines.length - 1].split(' ').map(Number);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  // CPU seconds (user + system) next to wall-clock: on a shared machine they vary far less.
  return { secs, cpu: user + sys, rssMB: rssKB / 1024 };
}

function treeDigest(dir) {
  return execFileSync('sh', ['-c', `cd "${dir}" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum`]).toString().split(' ')[0];
}

const results = [];
function record(tool, mode, op, r, mb, target) {
  // The target's total size after the operation (backups only): what the run added there.
  const size = target && existsSync(target) ? Number(execFileSync('du', ['-sb', target]).toString().split('\t')[0]) / MB : undefined;
  results.push({ tool, mode, op, ...r, mbps: mb / r.secs, sizeMB: size });
  const sz = size === undefined ? '' : `  target ${size.toFixed(1)} MB`;
  console.log(`${tool.padEnd(13)} ${mode.padEnd(10)} ${op.padEnd(12)} ${r.secs.toFixed(2).padStart(8)} s ${(mb / r.secs).toFixed(1).padStart(8)} MB/s  CPU ${r.cpu.toFixed(2).padStart(6)} s  peak RSS ${r.rssMB.toFixed(0)} MB${sz}`);
}

/**
 * The seed's mode: volumes encrypted to one RSA key and signed with another (FORMAT.md §9.2), both in one
 * throwaway GnuPG home here so that the restore has the encryption key's secret half too. Made once per
 * bench; PASSPHRASE unlocks the signing key while backing up and the encryption key while restoring.
 */
let pubkeyIds;
function pubkeySetup() {
  if (pubkeyIds) return pubkeyIds;
  const home = path.join(work, 'gnupg');
  mkdirSync(home, { mode: 0o700 });
  const gpg = (args) => execFileSync('gpg', ['--homedir', home, '--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', PASS, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ids = {};
  for (const role of ['encrypt', 'sign']) {
    const uid = `Bench ${role} <${role}@bench.invalid>`;
    gpg(['--quick-gen-key', uid, 'rsa3072', role === 'sign' ? 'cert,sign' : 'cert', 'never']);
    const fpr = gpg(['--with-colons', '--list-keys', uid]).split('\n').find((l) => l.startsWith('fpr:')).split(':')[9];
    if (role === 'encrypt') gpg(['--quick-add-key', fpr, 'rsa3072', 'encr', 'never']);
    ids[role] = fpr.slice(-16);
  }
  spawnSync('gpgconf', ['--homedir', home, '--kill', 'all']);
  pubkeyIds = { home, ...ids };
  return pubkeyIds;
}

function dupArgs(tool, mode, state) {
  if (mode === 'plain') return ['--no-encryption'];
  if (mode !== 'pubkey') return [];
  const { encrypt, sign } = pubkeySetup();
  // A restore names the signing key so that signatures are checked, as the seed's restore.sh does.
  return state === 'restore' ? ['--sign-key', sign] : ['--encrypt-key', encrypt, '--sign-key', sign];
}

/**
 * Reads the whole corpus (untimed) before a backup: this VM's memory reclaim (DAMON) evicts page
 * cache between runs, and whichever tool ran second would otherwise read from a warmer cache.
 */
function warm(src) {
  spawnSync('sh', ['-c', 'tar -cf - . | wc -c >/dev/null'], { cwd: src });
}

/**
 * Before each run (untimed): the earlier runs' writes go to disk and, where this process may (root), the
 * page cache is emptied; warm() then reads back what the run reads. Without it the later runs of a bench
 * (the restores, after ~20 GB written) paid for reclaiming the earlier runs' pages: a restore of ours took
 * 3-7 s of system time there against 1.2 s on an emptied cache, and which tool ran after which decided
 * who paid more.
 */
function settle() {
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch {
    // not root: the runs share the cache as it is
  }
}

function runTool(tool, mode, src, srcMB, state, run = 0) {
  // restic and borg have no public-key mode to compare.
  if (mode === 'pubkey' && tool !== 'duplicity-ts' && tool !== 'duplicity') return undefined;
  const tag = run ? `${tool}-${mode}-${run}` : `${tool}-${mode}`;
  const env = { HOME: path.join(work, `home-${tag}`), PASSPHRASE: PASS, TZ: 'UTC' };
  // duplicity asks for the signing key's passphrase separately (SIGN_PASSPHRASE) when it signs with
  // another key than it encrypts to; duplicity-ts reads it too, falling back to PASSPHRASE.
  if (mode === 'pubkey') Object.assign(env, { GNUPGHOME: pubkeySetup().home, SIGN_PASSPHRASE: PASS });
  mkdirSync(env.HOME, { recursive: true });
  const target = path.join(work, `target-${tag}`);
  const out = path.join(work, `restore-${tag}`);
  settle();
  warm(state !== 'restore' ? src : target);
  if (tool === 'duplicity-ts' || tool === 'duplicity') {
    const bin = tool === 'duplicity' ? 'duplicity' : OURS;
    const a = [...dupArgs(tool, mode, state), '--archive-dir', path.join(env.HOME, 'cache')];
    if (state === 'full') record(tool, mode, 'full', timed(bin, ['full', ...a, src, `file://${target}`], env), srcMB, target);
    else if (state === 'inc') record(tool, mode, 'incremental', timed(bin, ['incremental', ...a, src, `file://${target}`], env), srcMB, target);
    else {
      record(tool, mode, 'restore', timed(bin, ['restore', ...a, `file://${target}`, out], env), srcMB);
      return out;
    }
  } else if (tool === 'restic') {
    const renv = { ...env, RESTIC_REPOSITORY: target, RESTIC_PASSWORD: PASS };
    if (state === 'full') {
      timed('restic', ['init'], renv);
      record(tool, mode, 'full', timed('restic', ['backup', '-q', src], renv), srcMB);
    } else if (state === 'inc') record(tool, mode, 'incremental', timed('restic', ['backup', '-q', src], renv), srcMB);
    else {
      record(tool, mode, 'restore', timed('restic', ['restore', 'latest', '--target', out], renv), srcMB);
      return path.join(out, src);
    }
  } else if (tool === 'borg') {
    const benv = { ...env, BORG_PASSPHRASE: PASS, BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes' };
    if (state === 'full') {
      spawnSync('borg', ['init', '-e', mode === 'plain' ? 'none' : 'repokey', target], { env: { ...process.env, ...benv } });
      record(tool, mode, 'full', timed('borg', ['create', `${target}::a`, src], benv), srcMB);
    } else if (state === 'inc') record(tool, mode, 'incremental', timed('borg', ['create', `${target}::b`, src], benv), srcMB);
    else {
      mkdirSync(out, { recursive: true });
      record(tool, mode, 'restore', timed('borg', ['extract', `${target}::b`], benv, out), srcMB);
      return path.join(out, src.replace(/^\//, ''));
    }
  }
  return undefined;
}

const floors = {};
function measureFloors(src) {
  const sh = (name, script) => {
    const r = timed('sh', ['-c', script], {}, src);
    floors[name] = r;
    console.log(`floor  ${name.padEnd(34)} ${r.secs.toFixed(2).padStart(8)} s ${(sizeMB / r.secs).toFixed(1).padStart(8)} MB/s  CPU ${r.cpu.toFixed(2).padStart(6)} s`);
  };
  // tar into a pipe: GNU tar skips reading file contents when its output is /dev/null.
  sh('read (tar | wc)', 'tar -cf - . | wc -c >/dev/null');
  sh('gzip -6, one core (tar | gzip)', 'tar -cf - . | gzip -6 | wc -c >/dev/null');
  if (has('pigz')) sh(`gzip -6, all cores (tar | pigz)`, 'tar -cf - . | pigz -6 | wc -c >/dev/null');
  const copy = path.join(work, 'floor-copy');
  sh('write (cp -a)', `cp -a . "${copy}"`);
  rmSync(copy, { recursive: true, force: true });
}

/** The fastest of an op's runs. */
function best(tool, mode, op) {
  return results.filter((r) => r.tool === tool && r.mode === mode && r.op === op).sort((a, b) => a.secs - b.secs)[0];
}

function summary() {
  const of = RUNS > 1 ? `, fastest of ${RUNS} runs each` : '';
  for (const peer of tools.filter((t) => t !== 'duplicity-ts')) {
    console.log(`\nratios (${peer} seconds / duplicity-ts seconds${of}; higher is better for duplicity-ts):`);
    for (const mode of modes) {
      for (const op of ['full', 'incremental', 'restore']) {
        const ours = best('duplicity-ts', mode, op);
        const theirs = best(peer, mode, op);
        if (ours && theirs) console.log(`  ${mode.padEnd(10)} ${op.padEnd(12)} ${(theirs.secs / ours.secs).toFixed(2)}x wall, ${(theirs.cpu / ours.cpu).toFixed(2)}x CPU`);
      }
    }
  }
  const floorOf = { full: floors['gzip -6, all cores (tar | pigz)'] ?? floors['read (tar | wc)'], restore: floors['write (cp -a)'] };
  const lines = [];
  const fastest = [...new Set(results.map((r) => `${r.tool}\0${r.mode}\0${r.op}`))].map((k) => best(...k.split('\0')));
  for (const r of fastest) {
    const f = r.mode === 'plain' ? floorOf[r.op] : undefined;
    if (r.tool === 'duplicity-ts' && f) lines.push(`  ${r.mode.padEnd(10)} ${r.op.padEnd(12)} ${(r.secs / f.secs).toFixed(2)}x the floor's time`);
  }
  if (lines.length) console.log('\nduplicity-ts against the machine floor (full: pigz -6 when installed, else reading; restore: cp -a):\n' + lines.join('\n'));
}

function bigFile() {
  const mb = Number(process.env.BENCH_BIGFILE_MB);
  const src = path.join(work, 'big');
  mkdirSync(src);
  const fd = openSync(path.join(src, 'big.bin'), 'w');
  for (let left = mb * MB; left > 0; left -= 8 * MB) writeSync(fd, randomBytes(Math.min(left, 8 * MB)));
  closeSync(fd);
  const env = { HOME: path.join(work, 'home'), TZ: 'UTC' };
  mkdirSync(env.HOME);
  record('duplicity-ts', 'plain', `full ${mb} MiB file`, timed(OURS, ['full', '--no-encryption', src, `file://${path.join(work, 't')}`], env), mb);
  const r = results[results.length - 1];
  console.log(`peak RSS backing up one ${mb} MiB file: ${r.rssMB.toFixed(0)} MB`);
}

/**
 * One big file changed a little by each of a chain of incrementals (a VM image, a database file), then restored:
 * BENCH_CHAIN_MB of random data, BENCH_CHAIN_INCS incrementals each overwriting four regions of 0.25 %,
 * --no-encryption, every tool on its own target; the restore time is what the chain costs.
 */
function chainRestore() {
  const mb = Number(process.env.BENCH_CHAIN_MB);
  const incs = Number(process.env.BENCH_CHAIN_INCS ?? 10);
  const src = path.join(work, 'chain');
  mkdirSync(src);
  const file = path.join(src, 'image.bin');
  const fd = openSync(file, 'w');
  for (let left = mb * MB; left > 0; left -= 8 * MB) writeSync(fd, randomBytes(Math.min(left, 8 * MB)));
  closeSync(fd);
  const r = prng(11);
  const envOf = (tool) => ({ HOME: path.join(work, `home-chain-${tool}`), TZ: 'UTC' });
  const args = (tool) => ['--no-encryption', '--archive-dir', path.join(envOf(tool).HOME, 'cache')];
  const targetOf = (tool) => `file://${path.join(work, `target-chain-${tool}`)}`;
  for (const tool of tools.filter((t) => t.startsWith('duplicity'))) {
    mkdirSync(envOf(tool).HOME);
    timed(tool === 'duplicity-ts' ? OURS : tool, ['full', ...args(tool), src, targetOf(tool)], envOf(tool));
  }
  for (let k = 1; k <= incs; k++) {
    const f = openSync(file, 'r+');
    const n = Math.floor(mb * MB * 0.0025);
    for (let j = 0; j < 4; j++) writeSync(f, randomBytes(n), 0, n, r() % (mb * MB - n));
    closeSync(f);
    utimesSync(file, 1_700_000_000 + k * 1000, 1_700_000_000 + k * 1000);
    for (const tool of tools.filter((t) => t.startsWith('duplicity'))) {
      timed(tool === 'duplicity-ts' ? OURS : tool, ['incremental', ...args(tool), src, targetOf(tool)], envOf(tool));
    }
  }
  const want = treeDigest(src);
  for (const tool of tools.filter((t) => t.startsWith('duplicity'))) {
    const out = path.join(work, `restore-chain-${tool}`);
    record(tool, 'plain', `restore through ${incs} incs`, timed(tool === 'duplicity-ts' ? OURS : tool, ['restore', ...args(tool), targetOf(tool), out], envOf(tool)), mb);
    if (treeDigest(out) !== want) console.log(`  !! ${tool} restore differs from the source`);
    rmSync(out, { recursive: true, force: true });
  }
  const ours = best('duplicity-ts', 'plain', `restore through ${incs} incs`);
  const theirs = best('duplicity', 'plain', `restore through ${incs} incs`);
  if (ours && theirs) console.log(`\nratio (duplicity / duplicity-ts), restore of a ${mb} MiB file through ${incs} incrementals: ${(theirs.secs / ours.secs).toFixed(2)}x wall, ${(theirs.cpu / ours.cpu).toFixed(2)}x CPU`);
}

try {
  console.log(`work dir ${work}; tools: ${tools.join(', ')}`);
  if (process.env.BENCH_BIGFILE_MB) {
    bigFile();
  } else if (process.env.BENCH_CHAIN_MB) {
    chainRestore();
  } else {
    const src = path.join(work, 'corpus');
    const t = process.hrtime.bigint();
    const smallCount = makeCorpus(src);
    console.log(`corpus: ${sizeMB} MiB, ${smallCount} small files (made in ${(Number(process.hrtime.bigint() - t) / 1e9).toFixed(1)} s)`);
    if (process.env.BENCH_FLOORS !== '0') measureFloors(src);
    const runs = RUNS > 1 ? Array.from({ length: RUNS }, (_, i) => i + 1) : [0];
    for (const run of runs) for (const mode of modes) for (const tool of tools) runTool(tool, mode, src, sizeMB, 'full', run);
    mutateCorpus(src, smallCount);
    const want = treeDigest(src);
    for (const run of runs) for (const mode of modes) for (const tool of tools) runTool(tool, mode, src, sizeMB, 'inc', run);
    for (const run of runs) {
      for (const mode of modes) {
        for (const tool of tools) {
          const out = runTool(tool, mode, src, sizeMB, 'restore', run);
          if (out) {
            const got = treeDigest(out);
            if (got !== want) console.log(`  !! ${tool} ${mode} restore differs from the source`);
            // Kept until the end: on this VM's ext4, creating files soon after deleting thousands
            // pays a recently-deleted-inode scan (~0.5 ms a file), which would slow the next restore.
          }
        }
      }
    }
    summary();
  }
} finally {
  if (process.env.BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true });
}
