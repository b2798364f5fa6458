/**
 * Backend URLs as duplicity reads them (FORMAT.md §14.1, §15):
 * `file://rel/dir`, `file:///abs/dir`, `sftp://[user[:password]@]host[:port]/path` where a single
 * slash after the host starts a path relative to the login directory and a double slash an absolute one.
 */
import { BackendError, ExitCode } from './errors.js';

export interface FileUrl {
  scheme: 'file';
  path: string;
}

export interface SshUrl {
  scheme: 'sftp' | 'scp';
  user?: string;
  password?: string;
  host: string;
  port?: number;
  /** Remote directory: absolute when it starts with `/`, else relative to the login directory ('' = login dir). */
  path: string;
}

export type BackendUrl = FileUrl | SshUrl;

export function parseBackendUrl(url: string): BackendUrl {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(url);
  if (!m) throw badUrl(url, 'not of the form scheme://...');
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  if (scheme === 'file') {
    if (rest === '') throw badUrl(url, 'no path');
    // As duplicity 0.8.22 does (checked by experiment): the part before the first slash (the
    // "netloc" of `file://rel/dir`) is taken as is, the rest is %-decoded.
    const slash = rest.indexOf('/');
    const path = slash < 0 ? rest : rest.slice(0, slash) + decode(rest.slice(slash), url);
    return { scheme: 'file', path };
  }
  if (scheme === 'sftp' || scheme === 'scp') {
    const slash = rest.indexOf('/');
    const authority = slash < 0 ? rest : rest.slice(0, slash);
    const path = slash < 0 ? '' : rest.slice(slash + 1);
    const at = authority.lastIndexOf('@');
    const userInfo = at < 0 ? undefined : authority.slice(0, at);
    const hostPort = at < 0 ? authority : authority.slice(at + 1);
    let user: string | undefined;
    let password: string | undefined;
    if (userInfo !== undefined) {
      const colon = userInfo.indexOf(':');
      user = decode(colon < 0 ? userInfo : userInfo.slice(0, colon), url);
      if (colon >= 0) password = decode(userInfo.slice(colon + 1), url);
      if (user === '') user = undefined;
    }
    const hp = /^(\[[^\]]+\]|[^:]*)(?::(\d*))?$/.exec(hostPort);
    if (!hp || hp[1] === '') throw badUrl(url, 'no host');
    const host = hp[1].startsWith('[') ? hp[1].slice(1, -1) : hp[1];
    let port: number | undefined;
    if (hp[2] !== undefined && hp[2] !== '') {
      port = Number(hp[2]);
      if (!(port > 0 && port < 65536)) throw badUrl(url, `bad port ${hp[2]}`);
    }
    return { scheme, user, password, host, port, path: decode(path, url) };
  }
  if (scheme === 'ssh') {
    throw new BackendError(`unsupported backend scheme ssh:// in ${redactUrl(url)} (use sftp:// or scp://)`, { exitCode: ExitCode.userError });
  }
  throw new BackendError(`unsupported backend scheme ${scheme}:// in ${redactUrl(url)}`, { exitCode: ExitCode.userError });
}

/** The URL as safe to print: any password replaced by `***`. */
export function redactUrl(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/@]*?):[^/@]*@/s, '$1$2:***@');
}

/** How a parsed SSH URL is shown in messages (never with the password). */
export function displaySshUrl(u: SshUrl): string {
  const user = u.user ? `${u.user}@` : '';
  const port = u.port ? `:${u.port}` : '';
  return `${u.scheme}://${user}${u.host}${port}/${u.path}`;
}

function decode(s: string, url: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw badUrl(url, 'bad %-escape');
  }
}

function badUrl(url: string, why: string): BackendError {
  return new BackendError(`bad backend URL ${redactUrl(url)}: ${why}`, { exitCode: ExitCode.badUrl });
}
