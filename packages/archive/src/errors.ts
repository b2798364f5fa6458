/**
 * Errors raised on bad archive input. They carry duplicity's exit code (FORMAT.md §14.6) so the CLI can
 * print one line and exit the way duplicity would; callers add the file they were reading as context.
 */
export class ArchiveFormatError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 30) {
    super(message);
    this.name = 'ArchiveFormatError';
    this.exitCode = exitCode;
  }
}

/**
 * Printable form of raw name bytes for one-line messages: the text itself when it is valid UTF-8,
 * otherwise `\xHH` for every byte outside printable ASCII; control characters are always escaped.
 */
export function showBytes(b: Uint8Array): string {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const text = buf.toString('utf8');
  const valid = Buffer.from(text, 'utf8').equals(buf);
  let out = '';
  if (valid) {
    for (const ch of text) {
      const c = ch.codePointAt(0)!;
      out += c < 0x20 || c === 0x7f ? `\\x${c.toString(16).padStart(2, '0')}` : ch;
    }
  } else {
    for (const c of buf) out += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return out;
}
