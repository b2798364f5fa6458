/**
 * OpenSSH client configuration (`~/.ssh/config`, then `/etc/ssh/ssh_config`), reduced to the keywords
 * a backup connection needs. Semantics as ssh_config(5): `Host` blocks match the name given on the
 * command line (wildcards `*` `?`, negation `!`), the first value found for a keyword wins, except
 * IdentityFile which accumulates. `Match` blocks are skipped (their conditions need a shell); `Include`
 * is followed (globs in the last path component).
 *
 * Written here rather than taken from npm: the available parsers keep the file's text structure but do
 * not resolve a host's settings, which is the part that matters.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface SshHostConfig {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  userKnownHostsFiles?: string[];
  globalKnownHostsFiles?: string[];
  strictHostKeyChecking?: string;
  connectTimeout?: number;
  identitiesOnly?: boolean;
}

type Settings = Map<string, string[]>;

/** The settings for `host` from the given config files, in order (first value wins). */
export function resolveSshConfig(host: string, files: string[], home: string): SshHostConfig {
  const settings: Settings = new Map();
  for (const f of files) readConfigFile(f, host, settings, home, 0);
  const one = (k: string) => settings.get(k)?.[0];
  const num = (k: string) => {
    const v = one(k);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  return {
    hostName: one('hostname'),
    user: one('user'),
    port: num('port'),
    identityFiles: settings.get('identityfile') ?? [],
    userKnownHostsFiles: one('userknownhostsfile')?.split(/\s+/),
    globalKnownHostsFiles: one('globalknownhostsfile')?.split(/\s+/),
    strictHostKeyChecking: one('stricthostkeychecking')?.toLowerCase(),
    connectTimeout: num('connecttimeout'),
    identitiesOnly: one('identitiesonly')?.toLowerCase() === 'yes',
  };
}

/** Splits a config line into words: `Key value`, `Key=value`; double quotes group words. */
export function splitConfigLine(line: string): string[] {
  const m = /^\s*([^\s=]+)\s*(?:=\s*)?(.*)$/s.exec(line);
  if (!m) return [];
  const words = [m[1]];
  const re = /"([^"]*)"|(\S+)/g;
  let w: RegExpExecArray | null;
  while ((w = re.exec(m[2]))) words.push(w[1] ?? w[2]);
  return words;
}

function readConfigFile(file: string, host: string, out: Settings, home: string, depth: number): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return; // a missing config file is normal
  }
  let active = true;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const words = splitConfigLine(line);
    if (words.length === 0) continue;
    const key = words[0].toLowerCase();
    const args = words.slice(1);
    if (key === 'host') { active = hostMatches(host, args); continue; }
    if (key === 'match') { active = args.length === 1 && args[0].toLowerCase() === 'all'; continue; }
    if (!active) continue;
    if (key === 'include') {
      if (depth > 8) continue;
      for (const pattern of args) {
        for (const f of expandInclude(pattern, home, path.dirname(file))) readConfigFile(f, host, out, home, depth + 1);
      }
      continue;
    }
    if (args.length === 0) continue;
    if (key === 'identityfile') {
      const list = out.get(key) ?? [];
      list.push(args.join(' '));
      out.set(key, list);
    } else if (!out.has(key)) {
      out.set(key, [args.join(' ')]);
    }
  }
}

function expandInclude(pattern: string, home: string, dir: string): string[] {
  let p = pattern.startsWith('~/') ? path.join(home, pattern.slice(2)) : pattern;
  if (!path.isAbsolute(p)) p = path.join(dir, p);
  const base = path.basename(p);
  if (!/[*?]/.test(base)) return [p];
  try {
    const re = globToRegExp(base);
    return readdirSync(path.dirname(p)).filter((n) => re.test(n)).sort().map((n) => path.join(path.dirname(p), n));
  } catch {
    return [];
  }
}

/** ssh_config pattern lists: any positive match and no negated match. */
export function hostMatches(host: string, patterns: string[]): boolean {
  let matched = false;
  for (const raw of patterns.flatMap((p) => p.split(','))) {
    if (raw === '') continue;
    const negated = raw.startsWith('!');
    const pat = negated ? raw.slice(1) : raw;
    if (globToRegExp(pat, true).test(host)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function globToRegExp(glob: string, caseInsensitive = false): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, caseInsensitive ? 'i' : '');
}

/**
 * `~` and the `%` tokens ssh_config allows in IdentityFile and UserKnownHostsFile:
 * %d home, %h remote host name, %u local user, %r remote user, %p port, %% a percent sign.
 */
export function expandPath(p: string, ctx: { home: string; host: string; localUser: string; remoteUser: string; port: number }): string {
  let out = p.replace(/%([%dhurp])/g, (_, c: string) => {
    switch (c) {
      case '%': return '%';
      case 'd': return ctx.home;
      case 'h': return ctx.host;
      case 'u': return ctx.localUser;
      case 'r': return ctx.remoteUser;
      default: return String(ctx.port);
    }
  });
  if (out === '~') out = ctx.home;
  else if (out.startsWith('~/')) out = path.join(ctx.home, out.slice(2));
  return out;
}
