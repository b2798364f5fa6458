/**
 * Errors a backend raises. Every error carries duplicity's exit code (FORMAT.md §14.6) and a
 * `transient` flag the retry loop reads: only transient failures (dropped connections, timeouts)
 * are worth another try; permanent ones (auth, host key, permission, missing dir) fail at once.
 */

/** duplicity's backend exit codes (FORMAT.md §14.6). */
export const ExitCode = {
  badUrl: 8,
  userError: 23, // connect, auth, host key, unsupported scheme
  backendError: 50,
  permissionDenied: 51,
  notFound: 52,
  noSpace: 53,
  commandError: 54,
  codeError: 55,
} as const;

export class BackendError extends Error {
  readonly exitCode: number;
  readonly transient: boolean;
  constructor(message: string, opts: { exitCode: number; transient?: boolean; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BackendError';
    this.exitCode = opts.exitCode;
    this.transient = opts.transient ?? false;
  }
}

/** What went wrong, in a word the user understands, plus the exit code and whether to retry. */
export interface FailureKind {
  cause: string;
  exitCode: number;
  transient: boolean;
}

const SFTP_STATUS = { EOF: 1, NO_SUCH_FILE: 2, PERMISSION_DENIED: 3, FAILURE: 4, BAD_MESSAGE: 5, NO_CONNECTION: 6, CONNECTION_LOST: 7, OP_UNSUPPORTED: 8 } as const;

/**
 * Classifies a low-level error (Node fs errno, ssh2 SFTP status, socket error) into a FailureKind.
 * The text never includes anything the error might echo from the URL (passwords stay out).
 */
export function classifyFailure(err: unknown): FailureKind {
  if (err instanceof BackendError) return { cause: stripContext(err.message), exitCode: err.exitCode, transient: err.transient };
  const e = err as { code?: unknown; message?: unknown; level?: unknown } | null;
  const code = e?.code;
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  if (typeof code === 'number') {
    switch (code) {
      case SFTP_STATUS.NO_SUCH_FILE: return { cause: 'no such file or directory', exitCode: ExitCode.notFound, transient: false };
      case SFTP_STATUS.PERMISSION_DENIED: return { cause: 'permission denied', exitCode: ExitCode.permissionDenied, transient: false };
      case SFTP_STATUS.NO_CONNECTION:
      case SFTP_STATUS.CONNECTION_LOST: return { cause: 'connection lost', exitCode: ExitCode.backendError, transient: true };
      case SFTP_STATUS.OP_UNSUPPORTED: return { cause: 'operation not supported by the server', exitCode: ExitCode.commandError, transient: false };
      case SFTP_STATUS.FAILURE:
        // OpenSSH's sftp-server maps ENOSPC and most other errnos to a bare "Failure".
        return { cause: `server failure (${oneLine(msg)})`, exitCode: ExitCode.backendError, transient: false };
      default: return { cause: oneLine(msg), exitCode: ExitCode.backendError, transient: false };
    }
  }
  switch (code) {
    case 'ENOENT': return { cause: 'no such file or directory', exitCode: ExitCode.notFound, transient: false };
    case 'ENOTDIR': return { cause: 'not a directory', exitCode: ExitCode.notFound, transient: false };
    case 'EACCES': case 'EPERM': case 'EROFS': return { cause: 'permission denied', exitCode: ExitCode.permissionDenied, transient: false };
    case 'ENOSPC': case 'EDQUOT': return { cause: 'no space left on device', exitCode: ExitCode.noSpace, transient: false };
    case 'ECONNRESET': case 'ECONNREFUSED': case 'ECONNABORTED': case 'EPIPE': case 'ETIMEDOUT': case 'EHOSTUNREACH':
    case 'ENETUNREACH': case 'ENETDOWN': case 'EAI_AGAIN': case 'ERR_STREAM_PREMATURE_CLOSE':
      return { cause: `connection failed (${code})`, exitCode: ExitCode.backendError, transient: true };
  }
  if (/no response from server|not connected|connection (lost|closed|reset)|channel (open failure|closed)|timed out|unexpected close/i.test(msg)) {
    return { cause: oneLine(msg).toLowerCase(), exitCode: ExitCode.backendError, transient: true };
  }
  return { cause: oneLine(msg), exitCode: ExitCode.backendError, transient: false };
}

/** Wraps a low-level error as "failed to <what>: <cause>", keeping its classification. */
export function backendFailure(what: string, err: unknown): BackendError {
  const k = classifyFailure(err);
  return new BackendError(`failed to ${what}: ${k.cause}`, { exitCode: k.exitCode, transient: k.transient, cause: err });
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** A BackendError message is "failed to X: cause"; rewrapping keeps only the cause. */
function stripContext(message: string): string {
  const m = /^failed to .*?: (.*)$/s.exec(message);
  return m ? m[1] : message;
}
