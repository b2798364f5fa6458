/**
 * duplicity's shell globs (FORMAT.md §14.3), compiled to regular expressions over the *full path
 * string* (source root as given, canonicalised, joined with `/` to the relative path).
 *
 * Paths and patterns are handled as "binary" strings: one char per byte (latin1), so file names
 * that are not UTF-8 match like any other and no decoding can fail.
 */

/** A glob turned into the three questions selection asks of it. */
export interface CompiledGlob {
  readonly pattern: string;
  /** The path itself or one of its parent directories matches. */
  matches(path: string, isDir: boolean): boolean;
  /** A directory that could contain a match, so an include must look inside it. */
  mayContainMatch(dirPath: string): boolean;
}

/** Converts a UTF-8 command-line string to the binary-string form paths are matched in. */
export function toBinaryString(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

function escapeRegexChar(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}

/** Translates glob syntax to a regular-expression source (not anchored). */
export function globToRegexSource(glob: string): string {
  let out = '';
  let i = 0;
  while (i < glob.length) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        out += '.*';
        i += 2;
      } else {
        out += '[^/]*';
        i += 1;
      }
    } else if (c === '?') {
      out += '[^/]';
      i += 1;
    } else if (c === '[') {
      // A class runs to the next `]` (a `]` right after `[`, `[!` or `[^` belongs to the class);
      // an unclosed `[` is a literal.
      let j = i + 1;
      if (glob[j] === '!' || glob[j] === '^') j++;
      if (glob[j] === ']') j++;
      while (j < glob.length && glob[j] !== ']') j++;
      if (j >= glob.length) {
        out += '\\[';
        i += 1;
      } else {
        let body = glob.slice(i + 1, j);
        let neg = '';
        if (body[0] === '!' || body[0] === '^') {
          neg = '^';
          body = body.slice(1);
        }
        out += `[${neg}${body.replace(/\\/g, '\\\\').replace(/\[/g, '\\[').replace(/^\]/, '\\]')}]`;
        i = j + 1;
      }
    } else {
      out += escapeRegexChar(c);
      i += 1;
    }
  }
  return out;
}

/** Compiles a glob (already in binary-string form, `ignorecase:` prefix allowed). */
export function compileGlob(rawPattern: string): CompiledGlob {
  let pattern = rawPattern;
  let flags = 's';
  if (pattern.toLowerCase().startsWith('ignorecase:')) {
    pattern = pattern.slice('ignorecase:'.length);
    flags += 'i';
  }
  // A trailing `/` asks for a directory at an exact match; `/` alone is the filesystem root.
  const dirOnly = pattern.length > 1 && pattern.endsWith('/');
  const body = dirOnly ? pattern.replace(/\/+$/, '') : pattern;
  const src = globToRegexSource(body);
  const exact = new RegExp(`^${src}$`, flags);
  const below = body === '/' ? /^\/./s : new RegExp(`^${src}/`, flags);

  // Directories that may hold a match: every leading run of whole components of the glob,
  // and, once a `**` appears, anything that starts with the text before it.
  const prefixes: RegExp[] = [];
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '/') {
      const head = i === 0 ? '/' : body.slice(0, i);
      prefixes.push(new RegExp(`^${globToRegexSource(head)}$`, flags));
    }
  }
  const star2 = body.indexOf('**');
  const beforeStar2 = star2 >= 0 ? new RegExp(`^${globToRegexSource(body.slice(0, star2))}`, flags) : undefined;

  return {
    pattern: rawPattern,
    matches(path, isDir) {
      if (exact.test(path)) return isDir || !dirOnly;
      return below.test(path);
    },
    mayContainMatch(dirPath) {
      if (beforeStar2?.test(dirPath)) return true;
      return prefixes.some((re) => re.test(dirPath));
    },
  };
}
