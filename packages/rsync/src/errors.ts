/**
 * The one error type of this package. `status` is librsync's result name for the same failure, so
 * `duplicity-ts rdiff` can exit as rdiff does; `exitCode` is duplicity's generic error code.
 */
export type RsyncStatus = 'input-ended' | 'bad-magic' | 'corrupt' | 'param' | 'io';

export class RsyncError extends Error {
  readonly exitCode = 1;
  constructor(
    readonly status: RsyncStatus,
    message: string,
  ) {
    super(message);
    this.name = 'RsyncError';
  }
}
