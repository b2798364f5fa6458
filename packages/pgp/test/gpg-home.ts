/**
 * Test helper: throwaway GnuPG homes driven by the real gpg 2.2, and small stream utilities.
 * Every home is removed and its gpg-agent killed in cleanup().
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

export interface GpgResult { status: number; stdout: Buffer; stderr: string; statusFd: string }

export class GpgHome {
  readonly dir: string;
  constructor(opts: { agentConf?: string; s2kCount?: number } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'pgp-test-gnupg-'));
    // A low agent S2K count keeps key protection cheap in tests (and once hid a line-wrapping bug in the
    // extended key format, see agent-key.ts); the fixtures cover gpg's default counts.
    writeFileSync(join(this.dir, 'gpg-agent.conf'), `s2k-count ${opts.s2kCount ?? 65536}\n${opts.agentConf ?? ''}`);
  }

  /** Runs gpg in batch mode; the passphrase (if any) goes through fd 0 is not possible with stdin data, so a file. */
  run(args: string[], input?: Uint8Array, passphrase?: string): GpgResult {
    const pre = ['--homedir', this.dir, '--batch', '--no-tty', '--status-fd', '2', '--pinentry-mode', 'loopback'];
    let ppFile: string | undefined;
    if (passphrase !== undefined) {
      ppFile = join(this.dir, `pp-${Math.random().toString(36).slice(2)}`);
      writeFileSync(ppFile, passphrase, { mode: 0o600 });
      pre.push('--passphrase-file', ppFile);
    }
    const r = spawnSync('gpg', [...pre, ...args], { input, maxBuffer: 1 << 30, env: { ...process.env, GNUPGHOME: this.dir, LC_ALL: 'C' } });
    if (ppFile) rmSync(ppFile, { force: true });
    const stderr = r.stderr.toString('utf8');
    return { status: r.status ?? -1, stdout: r.stdout, stderr, statusFd: stderr };
  }

  ok(args: string[], input?: Uint8Array, passphrase?: string): Buffer {
    const r = this.run(args, input, passphrase);
    if (r.status !== 0) throw new Error(`gpg ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  }

  /** Generates a primary key for signing plus an encryption subkey; returns fingerprints and key ids. */
  genKey(uid: string, primaryAlgo: string, subAlgo: string, passphrase: string): TestKey {
    this.ok(['--quick-gen-key', uid, primaryAlgo, 'sign', 'never'], undefined, passphrase);
    const fpr = this.fingerprints(uid)[0]!;
    this.ok(['--quick-add-key', fpr, subAlgo, 'encr', 'never'], undefined, passphrase);
    const all = this.fingerprints(uid);
    return { uid, passphrase, fingerprint: fpr, keyId: fpr.slice(-16), subFingerprint: all[1]!, subKeyId: all[1]!.slice(-16) };
  }

  fingerprints(query: string): string[] {
    const out = this.ok(['--with-colons', '--list-keys', query]).toString();
    return out.split('\n').filter((l) => l.startsWith('fpr:')).map((l) => l.split(':')[9]!);
  }

  cleanup(): void {
    spawnSync('gpgconf', ['--homedir', this.dir, '--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: this.dir } });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface TestKey { uid: string; passphrase: string; fingerprint: string; keyId: string; subFingerprint: string; subKeyId: string }

export async function* chunks(b: Uint8Array, size = 65536): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

/** The rejection an async operation ends with (or throws if it succeeds). */
export async function failure(p: Promise<unknown>): Promise<Error & { exitCode?: number }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { exitCode?: number };
  }
  throw new Error('expected a failure, got success');
}

/** Deterministic pseudo-random bytes plus some text, so compression has something to do on part of it. */
export function sampleData(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = i % 3000 < 1500 ? x & 0xff : 0x61 + (i % 26);
  }
  return b;
}
