/**
 * `npm run bench:sftp`: upload and download of a 256 MiB file over loopback SSH, duplicity-ts's
 * sftp:// and scp:// backends against OpenSSH's `sftp` and `scp` clients, in the same run against the
 * same throwaway sshd (test-fixtures/sshd). Prints MB/s and the ratio to OpenSSH.
 * BENCH_MIB=64 changes the size; BENCH_ROUNDS=3 keeps the best of several rounds (the machine is shared).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openBackend } from '../../packages/backends/src/index.js';
import { startSshd } from '../../test-fixtures/sshd/sshd.js';

const MIB = Number(process.env.BENCH_MIB ?? 256);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

async function timed(fn: () => Promise<void> | void): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const s = await startSshd();
const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'dts-bench-'));
try {
  const src = path.join(work, 'src.bin');
  const fh = await fsp.open(src, 'w');
  for (let i = 0; i < MIB; i++) await fh.write(randomBytes(1 << 20));
  await fh.close();
  const srcHash = await sha256(src);
  const back = path.join(work, 'back.bin');
  const sshArgs = ['-F', '/dev/null', '-o', `UserKnownHostsFile=${s.knownHosts}`, '-o', 'BatchMode=yes', '-i', s.clientKey, '-P', String(s.port)];
  const remote = `${s.user}@127.0.0.1`;
  const run = (cmd: string, args: string[], input?: string) => {
    const r = spawnSync(cmd, args, { input, encoding: 'utf8', env: s.env });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  };
  const verify = async () => { if ((await sha256(back)) !== srcHash) throw new Error('downloaded bytes differ'); await fsp.rm(back); };

  const best: Record<string, number> = {};
  const record = (k: string, secs: number) => { best[k] = Math.min(best[k] ?? Infinity, secs); };
  for (let round = 0; round < ROUNDS; round++) {
    for (const scheme of ['sftp', 'scp'] as const) {
      const b = await openBackend(s.url(scheme, path.join(s.remoteDir, `dts-${scheme}`)), { env: s.env });
      record(`duplicity-ts ${scheme}:// put`, await timed(() => b.put('vol1', src)));
      record(`duplicity-ts ${scheme}:// get`, await timed(() => b.get('vol1', back)));
      await verify();
      await b.remove('vol1');
      await b.close();
    }
    const rfile = path.join(s.remoteDir, 'openssh.bin');
    record('OpenSSH sftp put', await timed(() => run('sftp', ['-b', '-', ...sshArgs, remote], `put ${src} ${rfile}\n`)));
    record('OpenSSH sftp get', await timed(() => run('sftp', ['-b', '-', ...sshArgs, remote], `get ${rfile} ${back}\n`)));
    await verify();
    record('OpenSSH scp put', await timed(() => run('scp', ['-q', ...sshArgs, src, `${remote}:${rfile}`])));
    record('OpenSSH scp get', await timed(() => run('scp', ['-q', ...sshArgs, `${remote}:${rfile}`, back])));
    await verify();
    record('OpenSSH scp -O put', await timed(() => run('scp', ['-q', '-O', ...sshArgs, src, `${remote}:${rfile}`])));
    record('OpenSSH scp -O get', await timed(() => run('scp', ['-q', '-O', ...sshArgs, `${remote}:${rfile}`, back])));
    await verify();
    await fsp.rm(rfile);
  }
  const mbps = (k: string) => (MIB * 1.048576) / best[k];
  console.log(`${MIB} MiB over loopback, best of ${ROUNDS} round(s), MB/s = 10^6 bytes/s`);
  for (const k of Object.keys(best)) console.log(`${k.padEnd(28)} ${mbps(k).toFixed(1).padStart(8)} MB/s`);
  const ratio = (ours: string, theirs: string) => console.log(`ratio ${ours} / ${theirs}: ${(mbps(ours) / mbps(theirs)).toFixed(2)}x`);
  for (const dir of ['put', 'get']) {
    ratio(`duplicity-ts sftp:// ${dir}`, `OpenSSH sftp ${dir}`);
    ratio(`duplicity-ts scp:// ${dir}`, `OpenSSH scp ${dir}`);
    ratio(`duplicity-ts scp:// ${dir}`, `OpenSSH scp -O ${dir}`);
  }
} finally {
  await s.stop();
  await fsp.rm(work, { recursive: true, force: true });
}
