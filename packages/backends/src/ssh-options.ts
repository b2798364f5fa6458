/**
 * duplicity's `--ssh-options` string, e.g. `-oIdentityFile=/k -oPort=2222` or `-i /k -o "UserKnownHostsFile /kh"`.
 * Split like a shell would (quotes, backslashes), then read as ssh's `-o Name=value`, `-i file`, `-p port`.
 * Options this backend does not act on are ignored, as duplicity's paramiko backend ignores them.
 */
import { BackendError, ExitCode } from './errors.js';

export interface SshCommandLineOptions {
  /** `-o` options by lower-case name; a repeated option keeps its first value, except identityfile. */
  options: Map<string, string>;
  identityFiles: string[];
}

export function parseSshOptions(s: string | undefined): SshCommandLineOptions {
  const result: SshCommandLineOptions = { options: new Map(), identityFiles: [] };
  if (!s) return result;
  const words = shellSplit(s);
  const addOption = (text: string) => {
    const m = /^\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*)$/s.exec(text);
    if (!m) throw new BackendError(`bad --ssh-options: cannot read option ${JSON.stringify(text)}`, { exitCode: ExitCode.userError });
    const name = m[1].toLowerCase();
    const value = m[2].trim();
    if (name === 'identityfile') result.identityFiles.push(value);
    else if (!result.options.has(name)) result.options.set(name, value);
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const takeArg = (flag: string): string => {
      if (w.length > 2) return w.slice(2);
      const next = words[++i];
      if (next === undefined) throw new BackendError(`bad --ssh-options: ${flag} needs a value`, { exitCode: ExitCode.userError });
      return next;
    };
    if (w.startsWith('-o')) addOption(takeArg('-o'));
    else if (w.startsWith('-i')) result.identityFiles.push(takeArg('-i'));
    else if (w.startsWith('-p') || w.startsWith('-P')) {
      const port = takeArg('-p');
      if (!result.options.has('port')) result.options.set('port', port);
    }
    // Other flags (-C, -v, -4 ...) change nothing here.
  }
  return result;
}

function shellSplit(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") { quote = c; inWord = true; }
    else if (c === '\\' && i + 1 < s.length) { cur += s[++i]; inWord = true; }
    else if (/\s/.test(c)) { if (inWord) { words.push(cur); cur = ''; inWord = false; } }
    else { cur += c; inWord = true; }
  }
  if (quote) throw new BackendError('bad --ssh-options: unterminated quote', { exitCode: ExitCode.userError });
  if (inWord) words.push(cur);
  return words;
}
