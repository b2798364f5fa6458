/**
 * Volumes whose blocks mix text with random-looking files (compressed images, archives): the random runs are
 * stored (as gzip members of their own, or as stored blocks inside the OpenPGP deflate segments) and the text
 * between them deflated. The real duplicity restores such a backup, plain and symmetric, as the source was, and
 * so do we. Needs the CLI build (`npm run build`).
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipInto, isAvailable } from '@duplicity-ts/libdeflate';
import { compatWorkDir, listTree, runOk, seededBytes, type CompatTool } from './fault-harness.js';

const workDir = compatWorkDir('dts-random-runs-');
const run = (tool: CompatTool, args: string[], env: NodeJS.ProcessEnv) => runOk(tool, args, env, workDir());

/** Text that deflates well: words from a small vocabulary. */
function text(seed: number, n: number): Buffer {
  const words = ['backup', 'volume', 'signature', 'delta', 'chain', 'restore', 'manifest', 'archive'];
  let s = '';
  for (let i = seed; s.length < n; i++) s += words[(i * 7 + (i >> 3)) % words.length] + (i % 11 === 0 ? '\n' : ' ');
  return Buffer.from(s.slice(0, n));
}

/** The gzip members of a file, counted one by one. */
async function members(file: string): Promise<number> {
  const data = readFileSync(file);
  const out = Buffer.alloc(4 << 20);
  let count = 0;
  for (let at = 0; at < data.length; count++) {
    const [status, consumed] = await gunzipInto(data.subarray(at), out);
    expect(status).toBe(0);
    at += consumed;
  }
  return count;
}

describe('random runs inside volume blocks', () => {
  it('are stored, and the real duplicity restores the backup, plain and symmetric', async () => {
    const work = workDir();
    const src = path.join(work, 'src');
    mkdirSync(path.join(src, 'mixed'), { recursive: true });
    // Text and random files in turns (index order: name order), ~3 MiB: every 1 MiB block mixes both.
    for (let i = 0; i < 120; i++) {
      const random = i % 2 === 1;
      const n = random ? 9000 + ((i * 3571) % 32000) : 5000 + ((i * 7919) % 25000);
      writeFileSync(path.join(src, 'mixed', `f${String(i).padStart(3, '0')}.${random ? 'jpg' : 'txt'}`), random ? seededBytes(i + 1, n) : text(i, n));
    }
    const t0 = 1700000000;
    for (const p of [path.join(src, 'mixed'), src]) utimesSync(p, t0, t0);
    const expected = listTree(src).replaceAll(src, '');
    const env = { ...process.env, HOME: work, TZ: 'UTC', PASSPHRASE: 'random runs' } as NodeJS.ProcessEnv;

    for (const mode of ['plain', 'symmetric'] as const) {
      const enc = mode === 'plain' ? ['--no-encryption'] : [];
      const target = path.join(work, `target-${mode}`);
      run('ours', ['full', ...enc, '--archive-dir', path.join(work, `cache-${mode}`), src, `file://${target}`], env);
      if (mode === 'plain' && isAvailable()) {
        const volumes = readdirSync(target).filter((f) => f.includes('.difftar.'));
        expect(volumes).toHaveLength(1);
        // One member per 1 MiB block without runs; the stored runs and the text between them make many more.
        expect(await members(path.join(target, volumes[0]))).toBeGreaterThan(20);
      }
      for (const tool of ['duplicity', 'ours'] as const) {
        const out = path.join(work, `restored-${mode}-${tool}`);
        run(tool, ['restore', ...enc, '--archive-dir', path.join(work, `rcache-${mode}-${tool}`), `file://${target}`, out], env);
        expect({ mode, tool, tree: listTree(out).replaceAll(out, '') }).toEqual({ mode, tool, tree: expected });
      }
    }
  });
});
