/**
 * Retrying backend operations: transient failures (dropped connection, timeout) are tried again up
 * to `numRetries` times, with a delay that doubles from `retryDelayMs` (capped at a minute); anything
 * else fails at once. The final error is one line: `failed to <what>: <cause>`.
 */
import { BackendError, classifyFailure } from './errors.js';

export interface RetryPolicy {
  numRetries: number;
  retryDelayMs: number;
}

const MAX_DELAY_MS = 60_000;

export async function withRetries<T>(
  policy: RetryPolicy,
  what: string,
  op: () => Promise<T>,
  /** Recognizes errors that need their own message (e.g. a local file that cannot be read). */
  special?: (err: unknown) => BackendError | undefined,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      const own = special?.(err);
      if (own) throw own;
      const k = classifyFailure(err);
      if (!k.transient || attempt >= policy.numRetries) {
        const tries = k.transient && attempt > 0 ? ` (gave up after ${attempt + 1} tries)` : '';
        throw new BackendError(`failed to ${what}: ${k.cause}${tries}`, { exitCode: k.exitCode, transient: k.transient, cause: err });
      }
      await new Promise((r) => setTimeout(r, Math.min(MAX_DELAY_MS, policy.retryDelayMs * 2 ** attempt)));
    }
  }
}
