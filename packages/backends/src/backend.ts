/** The Backend interface every scheme implements, and the options `openBackend` takes. */

export interface Backend {
  /** Uploads localFile as `name`, atomically: under a temporary name first, then renamed. */
  put(name: string, localFile: string, opts?: PutOptions): Promise<void>;
  /** Downloads `name` to localFile (created or truncated). */
  get(name: string, localFile: string): Promise<void>;
  /** Names of the files in the target directory (no directories, no upload temporaries). */
  list(): Promise<string[]>;
  remove(name: string): Promise<void>;
  /** Size of `name`, or null when it does not exist. */
  stat(name: string): Promise<{ size: number } | null>;
  close(): Promise<void>;
  /**
   * Optional: SHA1 (lowercase hex) of files computed where they are stored, without a download
   * (`check --server-hashes`). Names that cannot be read are left out of the map.
   */
  sha1?(names: string[]): Promise<Map<string, string>>;
  /**
   * Optional: the local path where `name` can be read in place, for backends whose files already
   * are on a local (or mounted) file system. Restore then reads volumes there instead of copying
   * each one to a temp file first. Only for reading; `name` is checked as in every other operation,
   * and a file that cannot be read fails here as get() would.
   */
  localPath?(name: string): Promise<string>;
}

export interface PutOptions {
  /**
   * The caller no longer needs localFile: a backend may move it into place instead of copying it
   * (and then it is gone). Backends that cannot move ignore this; the caller removes what is left.
   */
  consume?: boolean;
}

export interface BackendOptions {
  /** duplicity's `--ssh-options` string, e.g. `-oIdentityFile=/k -oPort=2222` or `-i /k`. */
  sshOptions?: string;
  /** Retries after the first try for transient failures; duplicity's default is 5. */
  numRetries?: number;
  /** Delay before the first retry, doubled on each further retry (default 1000 ms). */
  retryDelayMs?: number;
  /** Network timeout in seconds (connect, and no answer to a request); default 30. */
  timeoutS?: number;
  /** Environment for HOME, SSH_AUTH_SOCK, FTP_PASSWORD, BACKEND_PASSWORD; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Prefix of in-flight upload names; list() hides them, so a dead upload never looks like a volume. */
export const UPLOAD_TEMP_PREFIX = '.duplicity-ts-upload-';

export function uploadTempName(name: string): string {
  return `${UPLOAD_TEMP_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 10)}-${name}`;
}

/**
 * Names come from the engine and, through list(), from an untrusted server: only plain file names
 * are accepted, so no operation can reach outside the target directory.
 */
export function isPlainName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}
