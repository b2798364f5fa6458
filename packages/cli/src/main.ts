/**
 * The duplicity-ts command: duplicity's command line (action word anywhere, unique prefixes,
 * options before or after the action), plus `duplicity-ts rdiff ...` with rdiff's own arguments.
 * Each action lives in actions/<name>.ts and is loaded only when used.
 */
import { readFileSync } from 'node:fs';
import { CommanderError } from 'commander';
import { keepFreedMemory } from '@duplicity-ts/libdeflate';
import { buildProgram, CliUsageError, type DuplicityOptions, type SelectionRule } from './options.js';
import type { Action, ActionContext, ActionName } from './context.js';
import { exitCodeOf, oneLine } from './errors.js';

const VERSION: string = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
).version;

const ACTION_WORDS: ActionName[] = [
  'full',
  'incremental',
  'restore',
  'verify',
  'collection-status',
  'list-current-files',
  'cleanup',
  'remove-older-than',
  'remove-all-but-n-full',
  'remove-all-inc-of-but-n-full',
  'check',
];
const TAKES_ARG = new Set<ActionName>(['remove-older-than', 'remove-all-but-n-full', 'remove-all-inc-of-but-n-full']);

const ACTION_MODULES: Record<ActionName, () => Promise<{ run: Action }>> = {
  full: () => import('./actions/backup.js'),
  incremental: () => import('./actions/backup.js'),
  backup: () => import('./actions/backup.js'),
  restore: () => import('./actions/restore.js'),
  verify: () => import('./actions/verify.js'),
  'collection-status': () => import('./actions/collection-status.js'),
  'list-current-files': () => import('./actions/list-current-files.js'),
  cleanup: () => import('./actions/remove.js'),
  'remove-older-than': () => import('./actions/remove.js'),
  'remove-all-but-n-full': () => import('./actions/remove.js'),
  'remove-all-inc-of-but-n-full': () => import('./actions/remove.js'),
  check: () => import('./actions/check.js'),
};

/** duplicity accepts any unique prefix of an action word ("inc", "col"); "incr" too. */
export function resolveActionWord(word: string): ActionName | undefined {
  if (ACTION_WORDS.includes(word as ActionName)) return word as ActionName;
  const hits = ACTION_WORDS.filter((a) => a.startsWith(word));
  return hits.length === 1 ? hits[0] : undefined;
}

/** Pulls `--rename FROM TO` (two arguments, which commander options cannot take) out of argv. */
function extractRenames(argv: string[]): { rest: string[]; renames: [string, string][] } {
  const rest: string[] = [];
  const renames: [string, string][] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rename') {
      if (i + 2 >= argv.length) throw new CliUsageError('--rename needs two arguments: FROM TO');
      renames.push([argv[i + 1], argv[i + 2]]);
      i += 2;
    } else rest.push(argv[i]);
  }
  return { rest, renames };
}

export interface CommandLine {
  action: ActionName;
  args: string[];
  actionArg?: string;
  options: DuplicityOptions;
}

/**
 * Parses duplicity's command line. Returns the exit code instead when commander already handled it
 * (--help, --version: 0; an unknown option: 2, after printing one line).
 */
export function parseCommandLine(argv: string[]): CommandLine | number {
  const selection: SelectionRule[] = [];
  const { rest, renames } = extractRenames(argv);
  const program = buildProgram(selection, VERSION);
  try {
    program.parse(rest, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help / --version exit 0 after commander printed them; errors were printed as one line.
      return err.exitCode === 0 ? 0 : 2;
    }
    throw err;
  }
  const raw = program.opts();
  const options: DuplicityOptions = {
    ...raw,
    encryptKey: raw.encryptKey ?? [],
    hiddenEncryptKey: raw.hiddenEncryptKey ?? [],
    keyFile: raw.keyFile ?? [],
    rename: renames,
    restoreTime: raw.time ?? raw.restoreTime,
    fileToRestore: raw.fileToRestore ?? raw.pathToRestore,
    // commander's --no-X sets X=false
    noCompression: raw.compression === false,
    noEncryption: raw.encryption === false,
    noFilesChanged: raw.filesChanged === false,
    noPrintStatistics: raw.printStatistics === false,
    selection,
  } as DuplicityOptions;
  if (options.encryptSignKey) {
    options.encryptKey.push(options.encryptSignKey);
    options.signKey ??= options.encryptSignKey;
  }

  const positional: string[] = program.args;
  let action: ActionName;
  let args: string[];
  let actionArg: string | undefined;
  const word = positional[0] !== undefined && !positional[0].includes('://') ? resolveActionWord(positional[0]) : undefined;
  if (word) {
    action = word;
    args = positional.slice(1);
    if (TAKES_ARG.has(word)) {
      actionArg = args.shift();
      if (actionArg === undefined) throw new CliUsageError(`${word} needs an argument`);
    }
  } else if (positional.length === 2) {
    // No action word: the URL's position decides, as in duplicity.
    if (options.verify) {
      if (!positional[0].includes('://')) throw new CliUsageError('--verify needs the URL first: --verify URL LOCAL_DIR');
      action = 'verify';
    } else if (positional[1].includes('://')) action = 'backup';
    else if (positional[0].includes('://')) action = 'restore';
    else throw new CliUsageError('one of the two arguments must be a URL (scheme://...)');
    args = positional;
  } else if (positional.length === 0) {
    throw new CliUsageError('no action given; see duplicity-ts --help');
  } else {
    throw new CliUsageError(`unknown action or bad arguments: ${positional.join(' ')}`);
  }
  return { action, args, actionArg, options };
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv[0] === 'rdiff') {
    const { runRdiff } = await import('./actions/rdiff.js');
    return runRdiff(argv.slice(1), { stdout: process.stdout, stderr: process.stderr });
  }
  const cl = parseCommandLine(argv);
  if (typeof cl === 'number') return cl;
  const ctx: ActionContext = { ...cl, stdout: process.stdout, stderr: process.stderr, env };
  const mod = await ACTION_MODULES[cl.action]();
  return mod.run(ctx);
}

/** Runs the command for a process: one-line errors, duplicity's exit codes, no stack traces. */
export function runCli(argv: string[]): void {
  // Process-wide, so here at the entry rather than in main(), which tests also call in-process.
  keepFreedMemory();
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`duplicity-ts: ${oneLine(err)}\n`);
      if (process.env.DUPLICITY_TS_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
      process.exitCode = exitCodeOf(err);
    },
  );
}
