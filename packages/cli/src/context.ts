/**
 * What every action receives: the parsed options, its positional arguments and the output streams.
 * Actions return duplicity's exit code; user-facing failures are thrown as errors carrying an
 * `exitCode` (see errors.ts) and printed as one line by main.ts.
 */
import type { DuplicityOptions } from './options.js';

export type ActionName =
  | 'full'
  | 'incremental'
  | 'backup' // no action word, URL second: incremental, or full when there is no chain
  | 'restore'
  | 'verify'
  | 'collection-status'
  | 'list-current-files'
  | 'cleanup'
  | 'remove-older-than'
  | 'remove-all-but-n-full'
  | 'remove-all-inc-of-but-n-full'
  | 'check'; // duplicity-ts's own: the archive's integrity, no live tree needed

export interface ActionContext {
  action: ActionName;
  /** Positional arguments after the action word (and after its own argument, for remove-*). */
  args: string[];
  /** The argument of remove-older-than / remove-all-but-n-full / remove-all-inc-of-but-n-full. */
  actionArg?: string;
  options: DuplicityOptions;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

export type Action = (ctx: ActionContext) => Promise<number>;
