/**
 * @duplicity-ts/cli: the `duplicity-ts` command.
 *
 * main.ts parses duplicity's command line (options.ts: every option, include/exclude rules kept in
 * argv order) and dispatches to one module per action in actions/, loaded only when used; rdiff.ts
 * is librsync's own tool. session.ts is what every action shares: the archive dir, the backend,
 * crypto settings from options and environment, the lock and the log. Errors carrying an `exitCode`
 * become one line on stderr and duplicity's exit code (errors.ts).
 */
export { main, runCli, resolveActionWord, parseCommandLine, type CommandLine } from './main.js';
