/**
 * What every action that touches a backup needs, resolved once from the options and environment:
 * the archive dir (local cache, FORMAT.md §11.7), the backend opened from the URL, the crypto
 * settings (§9.3-9.5), a private temp dir, the file-name prefixes (§1.5) and duplicity's log levels.
 * Shared by the backup and the read-side actions.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeSync, appendFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { keyringPaths, parseGpgOptions, type GpgOptions } from './gpg-options.js';
import path from 'node:path';
import { openBackend, type Backend, type BackendOptions } from '@duplicity-ts/backends';
import type { Keyring, DecryptOptions, EncryptOptions } from '@duplicity-ts/pgp';
import type { NamePrefixes } from '@duplicity-ts/archive';
import {
  acquireArchiveLock,
  collectionWarnings,
  lastFullBackupLine,
  listArchiveDir,
  scanCollection,
  syncArchiveDir,
  type Collection,
  type MetadataSyncMode,
  type ReadContext,
} from '@duplicity-ts/engine';
import type { ActionContext } from './context.js';
import type { DuplicityOptions } from './options.js';

/** A user-facing failure with duplicity's exit code (§14.6). */
export function userError(message: string, exitCode: number): Error & { exitCode: number } {
  return Object.assign(new Error(message), { exitCode });
}

// ---------------------------------------------------------------------------------------------
// Logging: duplicity's verbosity levels; errors go to stderr, everything else to stdout (§14.6).

export const LogLevel = { error: 0, warning: 2, notice: 3, info: 5, debug: 9 } as const;
export type LogLevelName = keyof typeof LogLevel;

/** `-v` accepts 0-9 or a level name or its first letter (e, w, n, i, d). Default: notice. */
export function parseVerbosity(v: string | undefined): number {
  if (v === undefined) return LogLevel.notice;
  if (/^[0-9]$/.test(v)) return Number(v);
  const word = v.toLowerCase();
  for (const [name, level] of Object.entries(LogLevel)) {
    if (name === word || name[0] === word || (name === 'warning' && word === 'warn')) return level;
  }
  throw userError(`verbosity must be 0-9 or one of e, w, n, i, d, got '${v}'`, 2);
}

export interface Log {
  readonly level: number;
  error(msg: string): void;
  warn(msg: string): void;
  notice(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
}

/** --log-timestamp's prefix time, as Python's logging writes it: local `2026-11-30 12:48:32,766`. */
function logTime(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())},${p(d.getMilliseconds(), 3)}`;
}

export function createLog(ctx: Pick<ActionContext, 'options' | 'stdout' | 'stderr'>): Log {
  const level = parseVerbosity(ctx.options.verbosity);
  const { logFile, logFd } = ctx.options;
  // --log-file / --log-fd: duplicity's machine format, "LEVEL <code>" then ". "-prefixed lines.
  const machine = (name: string, msg: string) => {
    if (logFile === undefined && logFd === undefined) return;
    const text = `${name.toUpperCase()} 1\n${msg.split('\n').map((l) => `. ${l}`).join('\n')}\n`;
    if (logFile !== undefined) appendFileSync(logFile, text);
    if (logFd !== undefined) writeSync(logFd, text);
  };
  const stamp = ctx.options.logTimestamp ? (name: LogLevelName) => `${logTime(new Date())} ${name.toUpperCase()} ` : () => '';
  const at = (name: LogLevelName, stream: NodeJS.WritableStream) => (msg: string) => {
    if (level < LogLevel[name]) return;
    stream.write(`${stamp(name)}${msg}\n`);
    machine(name, msg);
  };
  return {
    level,
    error: at('error', ctx.stderr),
    warn: at('warning', ctx.stdout),
    notice: at('notice', ctx.stdout),
    info: at('info', ctx.stdout),
    debug: at('debug', ctx.stdout),
  };
}

// ---------------------------------------------------------------------------------------------
// The archive dir (§11.7).

/** `<base>/<name>`: base from --archive-dir, $XDG_CACHE_HOME/duplicity or ~/.cache/duplicity; name from
 * --name or the MD5 of the URL exactly as typed. */
export function resolveArchiveDir(options: Pick<DuplicityOptions, 'archiveDir' | 'name'>, url: string, env: NodeJS.ProcessEnv): string {
  const home = env.HOME || homedir();
  const expand = (p: string) => (p === '~' || p.startsWith('~/') ? path.join(home, p.slice(1)) : p);
  const base = options.archiveDir
    ? path.resolve(expand(options.archiveDir))
    : env.XDG_CACHE_HOME
      ? path.resolve(env.XDG_CACHE_HOME, 'duplicity')
      : path.join(home, '.cache', 'duplicity');
  const name = options.name ?? createHash('md5').update(url, 'utf8').digest('hex');
  return path.join(base, name);
}

// ---------------------------------------------------------------------------------------------
// Crypto settings (§9.3-9.5).

export interface CryptoSettings {
  /** false with --no-encryption. */
  readonly encrypt: boolean;
  /** false with --no-compression (only matters without encryption: .gz suffixes). */
  readonly compress: boolean;
  /** Encryption without --encrypt-key / --hidden-encrypt-key: a passphrase-only message. */
  readonly symmetric: boolean;
  readonly recipients: string[];
  readonly hiddenRecipients: string[];
  readonly signKey?: string;
  /** Options for pgp's encrypt (the keyring loaded on first use). */
  encryptOptions(): Promise<EncryptOptions>;
  /** Options for pgp's decrypt; requireSigner is the --sign-key. */
  decryptOptions(): Promise<DecryptOptions>;
  /** What --gpg-options holds that has no effect here, one line each (for the log). */
  readonly warnings: string[];
}

const KEY_ID = /^(0x)?([0-9a-fA-F]{8}|[0-9a-fA-F]{16}|[0-9a-fA-F]{40})$/;

export function buildCryptoSettings(options: DuplicityOptions, env: NodeJS.ProcessEnv): CryptoSettings {
  for (const k of [options.signKey, ...options.encryptKey, ...options.hiddenEncryptKey]) {
    if (k !== undefined && !KEY_ID.test(k)) {
      throw userError(`bad key id '${k}': it must be 8, 16 or 40 hex digits, optionally with 0x`, 10);
    }
  }
  const encrypt = !options.noEncryption;
  const recipients = [...options.encryptKey];
  const hiddenRecipients = [...options.hiddenEncryptKey];
  const symmetric = encrypt && recipients.length === 0 && hiddenRecipients.length === 0;
  const signKey = options.signKey;
  const passphrase = env.PASSPHRASE;
  // SIGN_PASSPHRASE falls back to PASSPHRASE (duplicity reuses it when the sign key is a recipient).
  const signPassphrase = env.SIGN_PASSPHRASE ?? passphrase;
  // duplicity never runs gpg under --no-encryption, so its options are not even looked at then.
  const gpg: GpgOptions = encrypt ? parseGpgOptions(options.gpgOptions, env) : { warnings: [] };
  let keyring: Promise<Keyring> | undefined;
  // OpenPGP is loaded on first use, so --no-encryption runs never load it.
  const gnupgHome = gpg.homedir ?? (env.GNUPGHOME || path.join(env.HOME || homedir(), '.gnupg'));
  const getKeyring = () =>
    (keyring ??= import('@duplicity-ts/pgp').then(({ loadKeyring }) =>
      loadKeyring({ gnupgHome, keyFiles: [...keyringPaths(gpg, gnupgHome, env), ...options.keyFile], noDefaultKeyring: gpg.noDefaultKeyring }),
    ));
  const needPassphrase = () => {
    if (symmetric && (passphrase === undefined || passphrase === '')) {
      // duplicity would prompt on the terminal; unattended there is none, and it crashes with 30.
      throw userError('PASSPHRASE is not set; symmetric encryption needs it (or use --no-encryption)', 30);
    }
  };
  return {
    encrypt,
    compress: !options.noCompression,
    symmetric,
    recipients,
    hiddenRecipients,
    signKey,
    warnings: gpg.warnings,
    async encryptOptions() {
      needPassphrase();
      if (symmetric && signKey !== undefined && env.SIGN_PASSPHRASE !== undefined && env.SIGN_PASSPHRASE !== passphrase) {
        throw userError('When using symmetric encryption, the signing passphrase must equal the encryption passphrase.', 23);
      }
      const needsKeys = !symmetric || signKey !== undefined;
      return {
        keyring: needsKeys ? await getKeyring() : undefined,
        recipients: symmetric ? undefined : recipients,
        hiddenRecipients: symmetric ? undefined : hiddenRecipients,
        passphrase: symmetric ? passphrase : undefined,
        signKey,
        signPassphrase: signKey !== undefined ? signPassphrase : undefined,
        cipher: gpg.cipher,
        compressAlgo: gpg.compressAlgo,
        compressLevel: gpg.compressLevel,
        digest: gpg.digest,
      };
    },
    async decryptOptions() {
      // Whether a file is symmetric or public-key only shows inside it, so offer both; a missing
      // GnuPG home is no error for symmetric archives.
      const ring = await getKeyring().catch(() => undefined);
      return { keyring: ring, passphrase, requireSigner: signKey };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The session.

export interface Session {
  /** The backend URL exactly as typed. */
  readonly url: string;
  /** `<archive base>/<backup name>`, created if missing. */
  readonly archiveDir: string;
  readonly backend: Backend;
  readonly crypto: CryptoSettings;
  readonly prefixes: NamePrefixes;
  /** A private `duplicity-XXXXXX-tempdir` under --tempdir / $TMPDIR, removed by close(). */
  readonly tempDir: string;
  readonly log: Log;
  /** --current-time, else now (epoch seconds). */
  readonly now: number;
  close(): Promise<void>;
}

export function namePrefixes(options: DuplicityOptions): NamePrefixes {
  return {
    file: options.filePrefix,
    archive: options.filePrefixArchive,
    manifest: options.filePrefixManifest,
    signature: options.filePrefixSignature,
  };
}

export function tempBase(options: DuplicityOptions, env: NodeJS.ProcessEnv): string {
  return options.tempdir ?? env.TMPDIR ?? env.TEMP ?? env.TMP ?? tmpdir();
}

export function backendOptions(options: DuplicityOptions, env: NodeJS.ProcessEnv): BackendOptions {
  return {
    sshOptions: options.sshOptions,
    numRetries: options.numRetries,
    retryDelayMs: options.backendRetryDelay !== undefined ? options.backendRetryDelay * 1000 : undefined,
    timeoutS: options.timeout,
    env,
  };
}

export async function openSession(ctx: ActionContext, url: string): Promise<Session> {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url)) throw userError(`bad URL '${url}': expected scheme://...`, 8);
  const log = createLog(ctx);
  const crypto = buildCryptoSettings(ctx.options, ctx.env);
  for (const w of crypto.warnings) log.warn(w);
  const archiveDir = resolveArchiveDir(ctx.options, url, ctx.env);
  try {
    mkdirSync(archiveDir, { recursive: true });
  } catch (err) {
    throw userError(`failed to create archive dir ${archiveDir}: ${(err as Error).message}`, 9);
  }
  // One run per archive dir at a time (§11.10): exit 23 while another holds it.
  const lock = await acquireArchiveLock(archiveDir, { onStale: (m) => log.info(m) });
  const base = tempBase(ctx.options, ctx.env);
  let tempDir: string;
  try {
    tempDir = mkdtempSync(path.join(base, 'duplicity-'));
  } catch (err) {
    await lock.release();
    throw userError(`failed to create a temp dir in ${base}: ${(err as Error).message}`, 34);
  }
  let backend: Backend;
  try {
    backend = await openBackend(url, backendOptions(ctx.options, ctx.env));
  } catch (err) {
    rmSync(tempDir, { recursive: true, force: true });
    await lock.release();
    throw err;
  }
  const now = ctx.options.currentTime ?? Math.floor(Date.now() / 1000);
  return {
    url,
    archiveDir,
    backend,
    crypto,
    prefixes: namePrefixes(ctx.options),
    tempDir,
    log,
    now,
    async close() {
      try {
        await backend.close();
      } finally {
        rmSync(tempDir, { recursive: true, force: true });
        await lock.release();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Read-side glue: what restore, list-current-files, collection-status (and verify) share.

/** The engine's read context for this session. */
export function readContext(s: Session): ReadContext {
  return {
    backend: s.backend,
    archiveDir: s.archiveDir,
    tempDir: s.tempDir,
    decryptOptions: s.crypto.encrypt ? () => s.crypto.decryptOptions() : undefined,
    log: s.log,
  };
}

/** Lists the backend and the archive dir and groups what is there (FORMAT.md §11.1-11.2). */
export async function loadCollection(s: Session): Promise<Collection> {
  const [remote, local] = await Promise.all([s.backend.list(), listArchiveDir(s.archiveDir)]);
  return scanCollection(remote, local, s.prefixes);
}

/**
 * The collection a restore or listing at `time` reads, after syncing the archive dir. duplicity logs
 * the collection's warnings each time it scans it: before the sync, and again after a sync that
 * changed the cache; then the "Last full backup date" line.
 */
export async function syncedCollection(s: Session, rc: ReadContext, time: number, mode: string | undefined): Promise<Collection> {
  let col = await loadCollection(s);
  for (const w of collectionWarnings(col)) s.log.warn(w);
  if (await syncArchiveDir(rc, col, time, (mode as MetadataSyncMode) ?? 'partial')) {
    col = await loadCollection(s);
    for (const w of collectionWarnings(col)) s.log.warn(w);
  }
  s.log.notice(lastFullBackupLine(col));
  return col;
}

/** The one positional URL of list-current-files / collection-status style actions. */
export function singleUrlArg(ctx: ActionContext): string {
  if (ctx.args.length !== 1) throw userError(`${ctx.action} takes one argument, the backend URL; got ${ctx.args.length}`, 2);
  return ctx.args[0];
}
