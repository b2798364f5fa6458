/**
 * How failures reach the user: one line on stderr and duplicity's exit code.
 * Any error with a numeric `exitCode` property (from any package) is a user-facing error;
 * anything else is a bug and exits 30, as duplicity does for an unhandled exception.
 */
export function exitCodeOf(err: unknown): number {
  const code = (err as { exitCode?: unknown })?.exitCode;
  return typeof code === 'number' ? code : 30;
}

export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n').filter((l) => l.trim() !== '').join(' ').trim() || 'unknown error';
}
