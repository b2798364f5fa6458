/**
 * Errors the user sees. duplicity maps every gpg failure to exit 31 and a volume that is unsigned or signed by
 * another key than `--sign-key` to exit 22 (FORMAT.md §9.6, §14.6); we carry those codes on the error object.
 */
export const EXIT_GPG_FAILED = 31;
export const EXIT_BAD_SIGNER = 22;
export const EXIT_USER_ERROR = 23;

export class PgpError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = EXIT_GPG_FAILED, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PgpError';
    this.exitCode = exitCode;
  }
}

/** A signer check failed: the volume is unsigned, signed by another key, or the signature is bad. */
export class SignerError extends PgpError {
  constructor(message: string) {
    super(message, EXIT_BAD_SIGNER);
    this.name = 'SignerError';
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
