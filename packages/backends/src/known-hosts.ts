/**
 * known_hosts files (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): which keys a host may present.
 * Host fields are comma-separated patterns (`host`, `[host]:port`, wildcards, `!negation`) or a
 * hashed name `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`. A host on a non-default port is
 * looked up as `[host]:port`, as OpenSSH writes it. `@revoked` keys are refused, `@cert-authority`
 * lines are ignored (no certificate support).
 */
import { createHmac } from 'node:crypto';
import { promises as fsp } from 'node:fs';

export interface KnownKey {
  type: string;
  /** The key blob (the base64 field, decoded). */
  blob: Buffer;
  revoked: boolean;
}

/** The name a host is recorded under: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Keys recorded for `name` in the given files (missing files are skipped). */
export async function lookupKnownHosts(files: string[], name: string): Promise<KnownKey[]> {
  const out: KnownKey[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = await fsp.readFile(f, 'utf8');
    } catch {
      continue;
    }
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const fields = line.split(/\s+/);
      let marker: string | undefined;
      if (fields[0].startsWith('@')) marker = fields.shift();
      if (fields.length < 3 || marker === '@cert-authority') continue;
      const [hosts, type, b64] = fields;
      if (!hostFieldMatches(hosts, name)) continue;
      out.push({ type, blob: Buffer.from(b64, 'base64'), revoked: marker === '@revoked' });
    }
  }
  return out;
}

export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return mac.equals(Buffer.from(hash, 'base64'));
  }
  let matched = false;
  for (const raw of field.split(',')) {
    const negated = raw.startsWith('!');
    const pat = negated ? raw.slice(1) : raw;
    const re = new RegExp(`^${pat.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
    if (re.test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** The key type a host key blob declares (its first SSH string). */
export function keyBlobType(blob: Buffer): string {
  if (blob.length < 4) return '';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

export type HostKeyVerdict = 'known' | 'unknown' | 'changed' | 'revoked';

export function judgeHostKey(known: KnownKey[], presented: Buffer): HostKeyVerdict {
  if (known.some((k) => k.revoked && k.blob.equals(presented))) return 'revoked';
  if (known.some((k) => !k.revoked && k.blob.equals(presented))) return 'known';
  const type = keyBlobType(presented);
  // A recorded key of the same type that differs is the man-in-the-middle signal; a host known only
  // under other key types is still not verified, so it is refused as unknown.
  return known.some((k) => !k.revoked && k.type === type) ? 'changed' : 'unknown';
}

/** Host key algorithms for ssh2, ordered so the types already recorded for the host come first (as OpenSSH does). */
export function preferredHostKeyAlgorithms(known: KnownKey[], all: string[]): string[] {
  const algsFor = (type: string): string[] => (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type]);
  const first: string[] = [];
  for (const k of known) if (!k.revoked) for (const a of algsFor(k.type)) if (all.includes(a) && !first.includes(a)) first.push(a);
  return [...first, ...all.filter((a) => !first.includes(a))];
}

export async function appendKnownHost(file: string, name: string, blob: Buffer): Promise<void> {
  await fsp.appendFile(file, `${name} ${keyBlobType(blob)} ${blob.toString('base64')}\n`, { mode: 0o600 });
}
