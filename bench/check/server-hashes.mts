/**
 * `check` against `check --server-hashes` on a 100 MB archive (5 volumes of 20 MiB) on a local
 * throwaway sshd: the second checks the volume hashes with sha1sum on the server instead of
 * downloading, decrypting and patching everything. Needs `npm run build` and sshd (run as root
 * for the throwaway user). Run: npx tsx bench/check/server-hashes.mts
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSshd } from '../../test-fixtures/sshd/sshd.ts';

async function main(): Promise<void> {
  const base = mkdtempSync(path.join(tmpdir(), 'bench-check-'));
  const s = await startSshd();
  try {
    const src = path.join(base, 'src');
    mkdirSync(src);
    for (let i = 0; i < 4; i++) writeFileSync(path.join(src, `f${i}.bin`), randomBytes(25_000_000));
    const env = { ...s.env, TZ: 'UTC' } as Record<string, string>;
    const bin = new URL('../../node_modules/.bin/duplicity-ts', import.meta.url).pathname;
    const common = ['--no-encryption', '--volsize', '20', '--archive-dir', path.join(base, 'cache'), '--name', 'n'];
    const url = s.url('sftp', 'bench');
    const timed = (label: string, args: string[]) => {
      const t0 = Date.now();
      const r = spawnSync(bin, args, { env, encoding: 'utf8' });
      console.log(`${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s, exit ${r.status}`);
    };
    timed('backup (100 MB)', ['full', ...common, src, url]);
    for (let i = 0; i < 2; i++) {
      timed('check', ['check', ...common, url]);
      timed('check --server-hashes', ['check', '--server-hashes', ...common, url]);
    }
  } finally {
    await s.stop();
    rmSync(base, { recursive: true, force: true });
  }
}
void main();
