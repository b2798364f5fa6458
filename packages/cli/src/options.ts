/**
 * duplicity's command line: every option the duplicity-ts front end accepts, parsed with commander.
 *
 * duplicity lets options appear before or after the action word, and include/exclude rules are
 * evaluated in command-line order, so all selection options feed one ordered list
 * (`selection`) through commander's per-occurrence callbacks, which run in argv order.
 */
import { Command, Option } from 'commander';

// The rule model is the engine's (type-only import: nothing is loaded at start-up).
import type { SelectionRule, SelectionRuleKind } from '@duplicity-ts/engine';
export type { SelectionRule, SelectionRuleKind };

/** Parsed options, named as duplicity names them (camel-cased). */
export interface DuplicityOptions {
  allowSourceMismatch?: boolean;
  archiveDir?: string;
  asynchronousUpload?: boolean;
  compareData?: boolean;
  concurrency?: number;
  copyLinks?: boolean;
  currentTime?: number;
  dryRun?: boolean;
  encryptKey: string[];
  encryptSignKey?: string;
  hiddenEncryptKey: string[];
  fileChanged?: string;
  filePrefix?: string;
  filePrefixArchive?: string;
  filePrefixManifest?: string;
  filePrefixSignature?: string;
  fileToRestore?: string;
  force?: boolean;
  fullIfOlderThan?: string;
  gpgBinary?: string;
  gpgOptions?: string;
  ignoreErrors?: boolean;
  keyFile: string[];
  logFd?: number;
  logFile?: string;
  logTimestamp?: boolean;
  progressRate?: number;
  maxBlocksize?: number;
  metadataSyncMode?: string;
  name?: string;
  noCompression?: boolean;
  noEncryption?: boolean;
  noFilesChanged?: boolean;
  noPrintStatistics?: boolean;
  nullSeparator?: boolean;
  numRetries?: number;
  backendRetryDelay?: number;
  numericOwner?: boolean;
  doNotRestoreOwnership?: boolean;
  oldFilenames?: boolean;
  progress?: boolean;
  rename: [string, string][];
  restoreTime?: string;
  shortFilenames?: boolean;
  showChangesInSet?: number;
  signKey?: string;
  sshOptions?: string;
  tempdir?: string;
  timeSeparator?: string;
  timeout?: number;
  useAgent?: boolean;
  verbosity?: string;
  /** duplicity 0.4's `--verify` flag (the seed's verify script): the verify action. */
  verify?: boolean;
  volsize?: number;
  compareSize?: boolean;
  /** check: hash volumes on the server (sha1sum over SSH) instead of downloading them. */
  serverHashes?: boolean;
  selection: SelectionRule[];
}

const int = (name: string) => (v: string) => {
  if (!/^-?\d+$/.test(v)) throw new CliUsageError(`option ${name} needs an integer, got '${v}'`);
  return Number(v);
};
const repeat = (v: string, prev: string[] = []) => [...prev, v];

/** A command-line error: duplicity exits 2 for these. */
export class CliUsageError extends Error {
  readonly exitCode = 2;
}

/**
 * Builds the commander program. `selection` receives the include/exclude rules in argv order.
 */
export function buildProgram(selection: SelectionRule[], version: string): Command {
  const rule = (kind: SelectionRuleKind) => (v: string) => {
    selection.push({ kind, value: v });
    return v;
  };
  const flagRule = (kind: SelectionRuleKind) => () => {
    selection.push({ kind, value: '' });
    return true;
  };
  const p = new Command('duplicity-ts');
  p.usage('[full|incremental|restore|verify|collection-status|list-current-files|cleanup|remove-older-than T|remove-all-but-n-full N|remove-all-inc-of-but-n-full N|check] [options] args')
    .description('Encrypted, bandwidth-efficient backups in the duplicity format')
    .version(`duplicity-ts ${version}`, '-V, --version', 'print the version (as duplicity: the program name, then the version)')
    .argument('[args...]')
    .allowExcessArguments(true)
    .helpOption('-h, --help')
    .configureOutput({ outputError: (str, write) => write(str.split('\n')[0] + '\n') })
    .exitOverride()
    .option('--allow-source-mismatch', 'do not check hostname and source directory of the chain')
    .option('--archive-dir <path>', 'local archive (cache) base directory')
    .option('--asynchronous-upload', 'upload volumes while the next one is built')
    .option('--compare-data', 'verify: compare file contents too')
    .option('--compare-size', 'backup: also treat a size change as a change (duplicity-ts extension)')
    .option('--concurrency <n>', 'upload this many volumes at once (duplicity-ts extension)', int('--concurrency'))
    .option('--copy-links', 'follow symlinks')
    .option('--current-time <epoch>', 'fix the current time (testing)', int('--current-time'))
    .option('--dry-run', 'compute without writing')
    .option('--encrypt-key <keyid>', 'public-key encryption to this key (repeatable)', repeat, [])
    .option('--encrypt-sign-key <keyid>', 'same as --encrypt-key K --sign-key K')
    .option('--hidden-encrypt-key <keyid>', 'encrypt to a hidden recipient (repeatable)', repeat, [])
    .option('--file-changed <path>', 'collection-status: show the history of one file')
    .option('--show-changes-in-set <n>', 'collection-status: the files changed in set n of the current chain (0 = newest)', int('--show-changes-in-set'))
    .option('--file-prefix <p>', 'prefix for every file name')
    .option('--file-prefix-archive <p>', 'prefix for volume names')
    .option('--file-prefix-manifest <p>', 'prefix for manifest names')
    .option('--file-prefix-signature <p>', 'prefix for signature names')
    .option('-r, --file-to-restore <path>', 'restore only this path')
    .option('--path-to-restore <path>', 'same as --file-to-restore (duplicity 2.x)')
    // Listed for --help only: main.ts takes the two arguments out of argv before commander parses.
    .option('--rename <from> <to>', 'restore: write what the backup holds at FROM to TO (relative paths, repeatable)')
    .option('--force', 'really delete; restore into a non-empty directory')
    .option('--full-if-older-than <time>', 'full backup when the last full is older than this')
    .option('--gpg-binary <path>', 'accepted for compatibility; OpenPGP is native')
    .option('--gpg-options <opts>', 'gpg options: --homedir, --keyring, --no-default-keyring, --cipher-algo, --compress-algo, -z/--compress-level and --digest-algo are applied (OpenPGP is native; others are accepted)')
    .option('--ignore-errors', 'continue past damaged volumes')
    .option('--key-file <file>', 'armored OpenPGP key file to use besides the GnuPG home (duplicity-ts extension, repeatable)', repeat, [])
    .option('--log-fd <fd>', 'machine-readable log to this fd', int('--log-fd'))
    .option('--log-file <file>', 'machine-readable log to this file')
    .option('--log-timestamp', 'start each log message with the local time and its level')
    .option('--max-blocksize <n>', 'signature block size cap', int('--max-blocksize'))
    .option('--metadata-sync-mode <mode>', 'full or partial')
    .option('--name <name>', 'backup name (archive dir subfolder)')
    .option('--no-compression', 'do not gzip volumes')
    .option('--no-encryption', 'no OpenPGP; gzip instead')
    .option('--no-files-changed', 'write Filelist 0 in the manifest')
    .option('--no-print-statistics', 'do not print the statistics block')
    .option('--null-separator', 'filelists are NUL-separated')
    .option('--num-retries <n>', 'backend retries', int('--num-retries'))
    .option('--backend-retry-delay <s>', 'seconds between backend retries', int('--backend-retry-delay'))
    .option('--numeric-owner', 'restore owners by number, not name')
    .option('--do-not-restore-ownership', 'do not chown restored files')
    .option('--old-filenames', 'write the old W3C time form in file names')
    .option('--progress', 'print progress')
    .option('--progress-rate <seconds>', 'with --progress: seconds between progress lines (default 3)', int('--progress-rate'))
    .option('-t, --time <time>', 'the backup time to restore, list or verify')
    .option('--restore-time <time>', 'same as --time')
    .option('--server-hashes', 'check: hash volumes on the server (sha1sum over SSH) instead of downloading them')
    .option('--short-filenames', 'write short file names')
    .option('--sign-key <keyid>', 'sign with this key; enforce this signer on restore')
    .option('--ssh-options <opts>', 'ssh options (-oName=value forms)')
    .option('--tempdir <dir>', 'temporary directory')
    .option('--time-separator <c>', 'separator for old-form times')
    .option('--timeout <s>', 'network timeout in seconds', int('--timeout'))
    .option('--use-agent', 'let gpg-agent supply passphrases')
    .option('-v, --verbosity <level>', 'verbosity: 0-9 or e,w,n,i,d')
    .option('--verify', 'same as the verify action (duplicity 0.4 form)')
    .option('--volsize <mib>', 'volume size in MiB', int('--volsize'))
    .option('--exclude <glob>', 'exclude matching paths', rule('exclude'))
    .option('--include <glob>', 'include matching paths', rule('include'))
    .option('--exclude-filelist <file>', 'exclude the globs listed in a file', rule('exclude-filelist'))
    .option('--include-filelist <file>', 'include the globs listed in a file', rule('include-filelist'))
    .option('--exclude-regexp <re>', 'exclude paths matching a regular expression', rule('exclude-regexp'))
    .option('--include-regexp <re>', 'include paths matching a regular expression', rule('include-regexp'))
    .option('--exclude-if-present <name>', 'exclude directories holding this file', rule('exclude-if-present'))
    .option('--exclude-older-than <time>', 'exclude files older than this', rule('exclude-older-than'))
    .option('--exclude-device-files', 'exclude device files', flagRule('exclude-device-files'))
    .option('--exclude-other-filesystems', 'stay on the source filesystem', flagRule('exclude-other-filesystems'));
  void Option;
  return p;
}
