/**
 * Python's repr() of a bytes object (`b'it\'s'` style): duplicity 0.8.22 prints symlink targets
 * this way in verify's "Symlink ... points to ..." lines, so duplicity-ts does too.
 */
export function pythonBytesRepr(b: Buffer): string {
  const quote = b.includes(0x27) && !b.includes(0x22) ? '"' : "'";
  let out = 'b' + quote;
  for (const c of b) {
    if (c === 0x5c) out += '\\\\';
    else if (c === quote.charCodeAt(0)) out += '\\' + quote;
    else if (c === 0x09) out += '\\t';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c < 0x20 || c >= 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += String.fromCharCode(c);
  }
  return out + quote;
}
