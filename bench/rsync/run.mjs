// npm run bench:rsync — signature, delta and patch on a generated 256 MiB file, ours against rdiff.
//
// Both tools run as separate processes on the same files, files in and files out. Ours runs the CLI's
// own code (runRdiff from the built CLI, via ours.mjs): "ours" is the time inside it, which includes
// WebAssembly compilation and worker start-up but not Node's ~0.1-0.2 s of process start-up and module
// loading; "whole process" adds that. rdiff's time is its whole process. Each case runs
// RSYNC_BENCH_RUNS times (default 3), alternating tools, keeping the best time of each, because other
// processes may share the CPU. Environment: RSYNC_BENCH_MB (default 256). Needs `npm run build`.
import { spawnSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MB = Number(process.env.RSYNC_BENCH_MB ?? 256);
const RUNS = Number(process.env.RSYNC_BENCH_RUNS ?? 3);
const SIZE = MB << 20;
const OURS = fileURLToPath(new URL('./ours.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rsync-bench-'));
const f = (name) => join(dir, name);

/** Deterministic-enough generator: crypto random bytes; edits at random places. */
function writeRandom(path, size) {
  const fd = openSync(path, 'w');
  for (let o = 0; o < size; o += 1 << 24) writeSync(fd, randomBytes(Math.min(1 << 24, size - o)));
  closeSync(fd);
}

/** About 1% of the file changed: overwrites, inserts and deletes of 100-2000 bytes, scattered. */
function writeEdited(src, dst) {
  const old = readFileSync(src);
  const parts = [];
  let pos = 0;
  let changed = 0;
  const target = old.length / 100;
  const edits = [];
  while (changed < target) {
    const len = 100 + Math.floor(Math.random() * 1900);
    edits.push({ at: Math.floor(Math.random() * (old.length - 4000)), len, kind: Math.floor(Math.random() * 3) });
    changed += len;
  }
  edits.sort((a, b) => a.at - b.at);
  for (const e of edits) {
    if (e.at < pos) continue;
    parts.push(old.subarray(pos, e.at));
    if (e.kind === 0) { parts.push(randomBytes(e.len)); pos = e.at + e.len; } // overwrite
    else if (e.kind === 1) { parts.push(randomBytes(e.len)); pos = e.at; } // insert
    else pos = e.at + e.len; // delete
  }
  parts.push(old.subarray(pos));
  const fd = openSync(dst, 'w');
  for (const p of parts) writeSync(fd, p);
  closeSync(fd);
  return edits.length;
}

function time(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const whole = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const inner = /\{"code":0,"seconds":([0-9.e-]+)\}/.exec(String(r.stderr));
  return { whole, inner: inner ? Number(inner[1]) : whole };
}

const sha = (p) => createHash('sha256').update(readFileSync(p)).digest('hex');

const results = [];
function bench(label, inputBytes, rdiffArgs, ourArgs, check) {
  let bestR = Infinity;
  let bestO = Infinity;
  let bestW = Infinity;
  for (let i = 0; i < RUNS; i++) {
    bestR = Math.min(bestR, time('rdiff', rdiffArgs).whole);
    const o = time(process.execPath, [OURS, ...ourArgs]);
    bestO = Math.min(bestO, o.inner);
    bestW = Math.min(bestW, o.whole);
  }
  const note = check ? check() : '';
  const mbs = (s) => inputBytes / s / 1e6;
  const row = { label, rdiff: mbs(bestR), ours: mbs(bestO), whole: mbs(bestW) };
  results.push(row);
  const fmt = (v) => v.toFixed(0).padStart(5);
  console.log(`${label.padEnd(36)} rdiff ${fmt(row.rdiff)} MB/s | ours ${fmt(row.ours)} MB/s, ratio ${(row.ours / row.rdiff).toFixed(2)} | whole process ${fmt(row.whole)} MB/s, ratio ${(row.whole / row.rdiff).toFixed(2)}  ${note}`);
}

try {
  console.log(`generating ${MB} MiB files in ${dir} ...`);
  writeRandom(f('old'), SIZE);
  const nEdits = writeEdited(f('old'), f('new'));
  writeRandom(f('unrelated'), SIZE);
  console.log(`new = old with ${nEdits} scattered edits (~1%); unrelated = independent random data; best of ${RUNS} runs\n`);

  const formats = [
    ['duplicity (md4, rollsum, -b 2048 -S 8)', ['-H', 'md4', '-R', 'rollsum', '-b', '2048', '-S', '8']],
    ['rdiff default (blake2, rabinkarp)', []],
  ];
  for (const [name, opts] of formats) {
    console.log(`== ${name}`);
    bench('signature', SIZE, ['signature', '-f', ...opts, f('old'), f('sig.r')], ['signature', '-f', ...opts, f('old'), f('sig.o')], () =>
      sha(f('sig.r')) === sha(f('sig.o')) ? '(identical bytes)' : '(SIGNATURES DIFFER)');
    const newSize = statSync(f('new')).size;
    bench('delta, 1% scattered edits', newSize, ['delta', '-f', f('sig.r'), f('new'), f('delta.r')], ['delta', '-f', f('sig.r'), f('new'), f('delta.o')], () => {
      const r = statSync(f('delta.r')).size;
      const o = statSync(f('delta.o')).size;
      return `(delta ${o} bytes vs rdiff's ${r}: ${((o / r - 1) * 100).toFixed(1)}%)`;
    });
    bench('delta, unrelated file (all literal)', SIZE, ['delta', '-f', f('sig.r'), f('unrelated'), f('udelta.r')], ['delta', '-f', f('sig.r'), f('unrelated'), f('udelta.o')], () =>
      `(delta ${statSync(f('udelta.o')).size} bytes vs rdiff's ${statSync(f('udelta.r')).size})`);
    bench('patch, 1% scattered edits', newSize, ['patch', '-f', f('old'), f('delta.r'), f('new.r')], ['patch', '-f', f('old'), f('delta.r'), f('new.o')], () => {
      const want = sha(f('new'));
      spawnSync('rdiff', ['patch', '-f', f('old'), f('delta.o'), f('new.x')]);
      const ok = sha(f('new.o')) === want && sha(f('new.r')) === want && sha(f('new.x')) === want;
      return ok ? '(outputs verified; rdiff applies our delta too)' : '(OUTPUT MISMATCH)';
    });
    console.log('');
  }
  const worst = Math.min(...results.map((r) => r.ours / r.rdiff));
  const worstWhole = Math.min(...results.map((r) => r.whole / r.rdiff));
  console.log(`lowest ratio ours/rdiff: ${worst.toFixed(2)} (whole process: ${worstWhole.toFixed(2)})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
