/**
 * File selection with duplicity's semantics (FORMAT.md §14.3): the include/exclude rules in
 * command-line order, first rule that decides wins, no decision means include; include globs make
 * the directories on the way to a possible match "scanned" (entered, and kept only if something
 * inside is kept).
 */
import { readFile } from 'node:fs/promises';
import type { SourceStat } from '../backup/source-walk.js';
import { compileGlob, toBinaryString, type CompiledGlob } from './glob.js';

export type SelectionRuleKind =
  | 'exclude'
  | 'include'
  | 'exclude-filelist'
  | 'include-filelist'
  | 'exclude-regexp'
  | 'include-regexp'
  | 'exclude-if-present'
  | 'exclude-older-than'
  | 'exclude-device-files'
  | 'exclude-other-filesystems';

/** One command-line selection option, in argv order; `value` is empty for the flag-only ones. */
export interface SelectionRule {
  kind: SelectionRuleKind;
  value: string;
}

/** Exclude, include, or enter the directory and keep it only if something inside is kept. */
export const Decision = { Exclude: 0, Include: 1, Scan: 2 } as const;
export type Decision = (typeof Decision)[keyof typeof Decision];

/** What a rule looks at: the full path string (binary form), and the lstat of the item. */
export interface Candidate {
  path: string;
  stat: SourceStat;
  /** Reads a directory's entry names (only asked for by --exclude-if-present). */
  hasChild?(name: Buffer): Promise<boolean>;
}

type Rule = {
  describe: string;
  include: boolean;
  decide(c: Candidate): Decision | undefined | Promise<Decision | undefined>;
};

export class SelectionError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface SelectorOptions {
  /** The source root as given on the command line, canonicalised (see canonicalRoot). */
  root: string;
  /** The root's device, for --exclude-other-filesystems. */
  rootDev: number;
  /** --exclude-older-than is relative to this (epoch s); parses the time argument. */
  parseTime: (s: string) => number;
  /** --null-separator: filelists are NUL-separated. */
  nullSeparator?: boolean;
}

/**
 * The source root as duplicity writes it in `Localdir` and prefixes to every path it matches:
 * `.` components and trailing `/` removed, relative stays relative.
 */
export function canonicalRoot(given: string): string {
  const abs = given.startsWith('/');
  const parts = given.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) return abs ? '/' : '.';
  return (abs ? '/' : '') + parts.join('/');
}

/** Joins the root and an index into the string paths are matched against. */
export function fullPath(root: string, index: Buffer[]): string {
  if (index.length === 0) return root;
  const rel = index.map((c) => c.toString('latin1')).join('/');
  return root.endsWith('/') ? root + rel : `${root}/${rel}`;
}

export class Selector {
  private constructor(private readonly rules: Rule[]) {}

  /** True when no rule can exclude anything (the walk can skip asking). */
  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** Builds the rules; fails like duplicity: 7 unreadable filelist, 14 glob outside the root, 16 include last. */
  static async create(specs: SelectionRule[], o: SelectorOptions): Promise<Selector> {
    const rules: Rule[] = [];
    const addGlob = (raw: string, include: boolean, from: string) => {
      const glob = compileGlob(toBinaryString(raw));
      checkGlobUnderRoot(glob, raw, o.root);
      rules.push(globRule(glob, include, `${from} ${include ? 'include' : 'exclude'} glob: ${raw}`));
    };
    for (const spec of specs) {
      switch (spec.kind) {
        case 'exclude':
        case 'include':
          addGlob(spec.value, spec.kind === 'include', 'Command-line');
          break;
        case 'exclude-filelist':
        case 'include-filelist': {
          let text: string;
          try {
            text = await readFile(spec.value, 'utf8');
          } catch (err) {
            throw new SelectionError(`failed to read filelist ${spec.value}: ${(err as Error).message}`, 7);
          }
          for (const line of parseFilelist(text, o.nullSeparator ?? false)) {
            const include = line.sign === '+' ? true : line.sign === '-' ? false : spec.kind === 'include-filelist';
            addGlob(line.glob, include, `Filelist ${spec.value}`);
          }
          break;
        }
        case 'exclude-regexp':
        case 'include-regexp': {
          let re: RegExp;
          try {
            re = new RegExp(toBinaryString(spec.value), 's');
          } catch (err) {
            throw new SelectionError(`bad regular expression '${spec.value}': ${(err as Error).message}`, 15);
          }
          const include = spec.kind === 'include-regexp';
          rules.push({
            describe: `Command-line ${include ? 'include' : 'exclude'} regexp: ${spec.value}`,
            include,
            decide: (c) => (re.test(c.path) ? (include ? Decision.Include : Decision.Exclude) : undefined),
          });
          break;
        }
        case 'exclude-if-present': {
          const name = Buffer.from(spec.value, 'utf8');
          rules.push({
            describe: `Command-line exclude-if-present: ${spec.value}`,
            include: false,
            decide: async (c) => (c.stat.isDirectory() && (await c.hasChild?.(name)) ? Decision.Exclude : undefined),
          });
          break;
        }
        case 'exclude-older-than': {
          const limit = o.parseTime(spec.value);
          rules.push({
            describe: `Command-line exclude-older-than: ${spec.value}`,
            include: false,
            decide: (c) => (c.stat.isFile() && Math.trunc(c.stat.mtimeMs / 1000) < limit ? Decision.Exclude : undefined),
          });
          break;
        }
        case 'exclude-device-files':
          rules.push({
            describe: 'Command-line exclude-device-files',
            include: false,
            decide: (c) => (c.stat.isCharacterDevice() || c.stat.isBlockDevice() ? Decision.Exclude : undefined),
          });
          break;
        case 'exclude-other-filesystems':
          rules.push({
            describe: 'Command-line exclude-other-filesystems',
            include: false,
            decide: (c) => (c.stat.dev !== o.rootDev ? Decision.Exclude : undefined),
          });
          break;
      }
    }
    const last = rules[rules.length - 1];
    if (last?.include) {
      throw new SelectionError(
        `last selection expression "${last.describe}" only specifies that files be included; ` +
          'because the default is to include all files, the expression is redundant',
        16,
      );
    }
    return new Selector(rules);
  }

  /** The first rule that decides wins; none deciding means include. */
  async decide(c: Candidate): Promise<Decision> {
    for (const rule of this.rules) {
      const d = await rule.decide(c);
      if (d !== undefined) return d;
    }
    return Decision.Include;
  }
}

function globRule(glob: CompiledGlob, include: boolean, describe: string): Rule {
  return {
    describe,
    include,
    decide(c) {
      const isDir = c.stat.isDirectory();
      if (glob.matches(c.path, isDir)) return include ? Decision.Include : Decision.Exclude;
      if (include && isDir && glob.mayContainMatch(c.path)) return Decision.Scan;
      return undefined;
    },
  };
}

/** duplicity refuses a glob that can match nothing at or under the source root (exit 14). */
function checkGlobUnderRoot(glob: CompiledGlob, raw: string, root: string): void {
  if (glob.matches(root, true) || glob.mayContainMatch(root)) return;
  throw new SelectionError(
    `the file specification '${raw}' cannot match any files in the base directory '${root}'; ` +
      "useful file specifications begin with the base directory or a pattern (such as '**') that matches it",
    14,
  );
}

/** Filelist lines: trimmed, blanks and `#` comments skipped, `+ `/`- ` signs, matching quotes removed. */
export function parseFilelist(text: string, nullSeparator: boolean): { sign?: '+' | '-'; glob: string }[] {
  const out: { sign?: '+' | '-'; glob: string }[] = [];
  for (const rawLine of text.split(nullSeparator ? '\0' : /\r?\n/)) {
    let line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    let sign: '+' | '-' | undefined;
    if (line.startsWith('+ ') || line.startsWith('- ')) {
      sign = line[0] as '+' | '-';
      line = line.slice(2).trim();
    }
    if (line.length >= 2 && (line[0] === '"' || line[0] === "'") && line[line.length - 1] === line[0]) {
      line = line.slice(1, -1);
    }
    if (line !== '') out.push({ sign, glob: line });
  }
  return out;
}
