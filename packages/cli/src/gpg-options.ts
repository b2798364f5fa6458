/**
 * `--gpg-options "..."`: duplicity splits the string on whitespace and appends it to every gpg command line
 * (FORMAT.md §9.3). There is no gpg here, so the options that change what gets written or where keys are found
 * are applied natively, the ones that only steer gpg's own running (batch mode, pinentry, trust) are accepted
 * silently, and anything else is named in a warning rather than ignored without a word: a backup script that
 * relies on an option should not lose it unnoticed.
 *
 * Applied: --homedir (the GnuPG home keys are looked up in; beats $GNUPGHOME, as in gpg), --cipher-algo and
 * --personal-cipher-preferences (the session cipher), --compress-algo / --personal-compress-preferences,
 * -z / --compress-level (0 writes no Compressed packet, as gpg), --digest-algo / --personal-digest-preferences
 * (the signature's hash), --keyring and --no-default-keyring (where public keys are read from).
 */
import { homedir } from 'node:os';
import path from 'node:path';

export interface GpgOptions {
  /** --homedir: where keys are looked up instead of $GNUPGHOME or ~/.gnupg. */
  homedir?: string;
  /** OpenPGP cipher id (RFC 4880 §9.2). */
  cipher?: number;
  /** OpenPGP compression id (RFC 4880 §9.3): 0 none, 1 ZIP, 2 ZLIB. */
  compressAlgo?: number;
  /** 0-9; 0 means no compression, as gpg's -z 0. */
  compressLevel?: number;
  /** OpenPGP hash id (RFC 4880 §9.4) for signatures. */
  digest?: number;
  /** --keyring files as given (gpg resolves a name without a slash in the home: keyringPaths()). */
  keyrings?: string[];
  /** --no-default-keyring: the home's own public keyrings are not read. */
  noDefaultKeyring?: boolean;
  /** One line per option given that has no effect here. */
  warnings: string[];
}

const CIPHERS: Record<string, number> = {
  IDEA: 1, '3DES': 2, TRIPLEDES: 2, CAST5: 3, BLOWFISH: 4, AES: 7, AES128: 7, AES192: 8, AES256: 9,
  CAMELLIA128: 11, CAMELLIA192: 12, CAMELLIA256: 13,
};
const COMPRESSIONS: Record<string, number> = { NONE: 0, UNCOMPRESSED: 0, ZIP: 1, ZLIB: 2, BZIP2: 3 };
const DIGESTS: Record<string, number> = { SHA1: 2, RIPEMD160: 3, SHA256: 8, SHA384: 9, SHA512: 10, SHA224: 11 };

/** Options that steer how gpg runs (or that duplicity itself passes); they change nothing written. */
const NO_EFFECT = new Set([
  '--batch', '--no-batch', '--no-tty', '--yes', '--quiet', '-q', '--verbose', '-v', '--use-agent', '--no-use-agent',
  '--always-trust', '--no-secmem-warning', '--no-permission-warning', '--ignore-mdc-error', '--force-mdc', '--no-greeting',
  '--no-auto-key-locate', '--no-auto-key-retrieve', '--no-random-seed-file', '--no-options', '--expert', '--no-expert',
  '--mdc', '--force-v4-certs', '--no-verbose', '--no-default-recipient', '--with-colons',
]);
/** The same, taking a value. */
const NO_EFFECT_WITH_VALUE = new Set(['--pinentry-mode', '--trust-model', '--keyserver', '--keyserver-options', '--auto-key-locate', '--agent-program']);
const VALUED = new Set([
  '--homedir', '--cipher-algo', '--personal-cipher-preferences', '--compress-algo', '--personal-compress-preferences',
  '--compress-level', '-z', '--bzip2-compress-level', '--digest-algo', '--personal-digest-preferences', '--s2k-count',
  '--s2k-mode', '--s2k-digest-algo', '--s2k-cipher-algo', '--keyring', '--secret-keyring', '--trustdb-name',
  '--default-key', '--local-user', '-u', '--recipient', '-r', '--hidden-recipient', '-R', '--encrypt-to',
  '--passphrase', '--passphrase-file', '--passphrase-fd', ...NO_EFFECT_WITH_VALUE,
]);

/** A command-line error (exit 2, as a bad option value elsewhere). */
function bad(message: string): Error {
  return Object.assign(new Error(`--gpg-options: ${message}`), { exitCode: 2 });
}

/** The first name of `list` (whitespace or comma separated, as gpg's preference lists) found in `table`, by id. */
function pick(option: string, value: string, table: Record<string, number>, what: string): number {
  const names = value.split(/[\s,]+/).filter(Boolean);
  for (const n of names) {
    // gpg also takes ids, bare or as in its preference strings (S9, Z2, H10).
    const up = n.toUpperCase().replace(/^[SZH](\d+)$/, '$1');
    const byNumber = /^\d+$/.test(up) ? Object.values(table).find((id) => id === Number(up)) : undefined;
    const id = table[up] ?? byNumber;
    if (id !== undefined) return id;
    if (option.startsWith('--personal-')) continue; // gpg skips what it does not know in a preference list
  }
  throw bad(`${option} ${value}: no ${what} duplicity-ts can write (known: ${Object.keys(table).join(', ')})`);
}

/** The --keyring files as gpg finds them: `~/` is $HOME, a name without a slash is in the GnuPG home. */
export function keyringPaths(o: GpgOptions, gnupgHome: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || homedir();
  return (o.keyrings ?? []).map((k) => (k.startsWith('~/') ? path.join(home, k.slice(2)) : k.includes('/') ? path.resolve(k) : path.join(gnupgHome, k)));
}

export function parseGpgOptions(text: string | undefined, env: NodeJS.ProcessEnv = process.env): GpgOptions {
  const out: GpgOptions = { warnings: [] };
  if (text === undefined) return out;
  const words = text.split(/\s+/).filter(Boolean);
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    let name = word;
    let value: string | undefined;
    const eq = word.indexOf('=');
    if (word.startsWith('--') && eq > 2) {
      name = word.slice(0, eq);
      value = word.slice(eq + 1);
    } else if (/^-z\d$/.test(word)) {
      name = '-z';
      value = word.slice(2);
    }
    if (value === undefined && VALUED.has(name)) {
      value = words[++i];
      if (value === undefined) throw bad(`${name} needs a value`);
    }
    switch (name) {
      case '--homedir': {
        const home = env.HOME || homedir();
        out.homedir = path.resolve(value === '~' || value!.startsWith('~/') ? path.join(home, value!.slice(1)) : value!);
        break;
      }
      case '--cipher-algo':
      case '--personal-cipher-preferences':
        if (/^TWOFISH$/i.test(value!)) throw bad(`${name} ${value}: Twofish is in no OpenSSL provider; choose AES256`);
        out.cipher = pick(name, value!, CIPHERS, 'cipher');
        break;
      case '--compress-algo':
      case '--personal-compress-preferences': {
        const algo = pick(name, value!, COMPRESSIONS, 'compression');
        if (algo === 3) {
          out.warnings.push(`--gpg-options: ${name} ${value}: duplicity-ts does not write BZIP2; it writes ZLIB instead`);
          out.compressAlgo = 2;
        } else out.compressAlgo = algo;
        break;
      }
      case '-z':
      case '--compress-level': {
        const level = Number(value);
        if (!/^\d+$/.test(value!) || level > 9) throw bad(`${name} ${value}: the level must be 0-9`);
        out.compressLevel = level;
        break;
      }
      case '--digest-algo':
      case '--personal-digest-preferences':
        if (/^MD5$/i.test(value!)) throw bad(`${name} ${value}: MD5 signatures are refused (gpg refuses them too)`);
        out.digest = pick(name, value!, DIGESTS, 'digest');
        break;
      case '--keyring':
        (out.keyrings ??= []).push(value!);
        break;
      case '--no-default-keyring':
        out.noDefaultKeyring = true;
        break;
      case '--bzip2-compress-level': // only for BZIP2, which is not written
      case '--secret-keyring': // obsolete in gpg 2 too: secret keys live in private-keys-v1.d
        break;
      default:
        if (NO_EFFECT.has(name) || NO_EFFECT_WITH_VALUE.has(name)) break;
        // A word that is no option is the value of an unknown one, already warned about. Values are never
        // repeated in warnings: one may be a secret (--passphrase).
        if (!name.startsWith('-')) break;
        out.warnings.push(`--gpg-options: ${name} has no effect in duplicity-ts (OpenPGP is native)`);
    }
  }
  return out;
}
