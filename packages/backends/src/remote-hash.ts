/**
 * Server-side hashing for `check --server-hashes`: `sha1sum` run on the server over an SSH exec
 * channel, so the volumes of a big remote archive are checked against their manifest hashes without
 * being downloaded. Needs a server that lets the user run a command (not an sftp-only account).
 */
import type { Client, ClientChannel } from 'ssh2';
import { BackendError, ExitCode } from './errors.js';

const BATCH = 200; // names per command: far below any ARG_MAX

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function run(client: Client, command: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err: Error | undefined, ch: ClientChannel) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        ch.close();
        reject(new BackendError(`sha1sum on the server timed out after ${timeoutMs / 1000} s`, { exitCode: ExitCode.commandError }));
      }, timeoutMs);
      ch.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      ch.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      ch.on('close', (code: number | null) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  });
}

/**
 * SHA1 (lowercase hex) of each named file in `dir` on the server; names the server could not read
 * are left out. Throws when the server cannot run sha1sum at all.
 */
export async function sha1OnServer(client: Client, dir: string, names: string[], timeoutMs: number): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < names.length; i += BATCH) {
    const batch = names.slice(i, i + BATCH);
    const r = await run(client, `cd ${shellQuote(dir)} && sha1sum -- ${batch.map(shellQuote).join(' ')}`, timeoutMs);
    for (const line of r.stdout.split('\n')) {
      const m = /^([0-9a-f]{40}) [ *](.+)$/.exec(line);
      if (m && batch.includes(m[2])) out.set(m[2], m[1]);
    }
    // sha1sum exits 1 when some files are missing; anything else without output means no sha1sum or no shell.
    if (r.code !== 0 && r.code !== 1) {
      const why = r.stderr.trim().split('\n')[0] || `exit status ${r.code}`;
      throw new BackendError(`the server cannot run sha1sum (${why}); --server-hashes needs shell access`, { exitCode: ExitCode.commandError });
    }
  }
  return out;
}
