/**
 * S-expressions as gpg-agent stores secret keys (private-keys-v1.d/*.key): the canonical form
 * (`(3:rsa(1:n3:...))`, gpg ≤ 2.2 default) and the advanced text form inside the extended key format
 * (`Key: (protected-private-key (rsa (n #00CC..#) ...))`, gpg ≥ 2.2.x / 2.4). There is no maintained npm
 * parser for this gpg-specific dialect, so this small one is written here.
 */
export type Sexp = Buffer | Sexp[];

const TOKEN = /[A-Za-z0-9\-./_:*+=]/;

export function parseSexp(input: Uint8Array): { value: Sexp; end: number } {
  const b = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  let i = 0;
  const ws = () => {
    while (i < b.length && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
  };
  const value = (): Sexp => {
    ws();
    if (i >= b.length) throw new Error('unexpected end of S-expression');
    const c = b[i]!;
    if (c === 0x28 /* ( */) {
      i++;
      const list: Sexp[] = [];
      for (;;) {
        ws();
        if (i >= b.length) throw new Error('unterminated S-expression list');
        if (b[i] === 0x29 /* ) */) {
          i++;
          return list;
        }
        list.push(value());
      }
    }
    if (c >= 0x30 && c <= 0x39) {
      // Canonical "N:bytes" (also allowed inside the advanced form).
      let j = i;
      while (j < b.length && b[j]! >= 0x30 && b[j]! <= 0x39) j++;
      if (b[j] === 0x3a /* : */) {
        const n = Number(b.subarray(i, j).toString('latin1'));
        const start = j + 1;
        if (start + n > b.length) throw new Error('truncated S-expression atom');
        i = start + n;
        return Buffer.from(b.subarray(start, start + n));
      }
    }
    if (c === 0x23 /* # */) {
      const end = b.indexOf(0x23, i + 1);
      if (end < 0) throw new Error('unterminated hex atom');
      const hex = b.subarray(i + 1, end).toString('latin1').replace(/\s+/g, '');
      i = end + 1;
      return Buffer.from(hex, 'hex');
    }
    if (c === 0x7c /* | */) {
      const end = b.indexOf(0x7c, i + 1);
      if (end < 0) throw new Error('unterminated base64 atom');
      const s = b.subarray(i + 1, end).toString('latin1');
      i = end + 1;
      return Buffer.from(s.replace(/\s+/g, ''), 'base64');
    }
    if (c === 0x22 /* " */) {
      i++;
      const out: number[] = [];
      while (i < b.length && b[i] !== 0x22) {
        if (b[i] === 0x5c /* \ */) {
          i++;
          const e = String.fromCharCode(b[i]!);
          const simple: Record<string, number> = { n: 10, r: 13, t: 9, b: 8, f: 12, v: 11, '"': 34, "'": 39, '\\': 92 };
          if (e in simple) { out.push(simple[e]!); i++; }
          else if (e === 'x') { out.push(parseInt(b.subarray(i + 1, i + 3).toString('latin1'), 16)); i += 3; }
          else if (e >= '0' && e <= '7') { out.push(parseInt(b.subarray(i, i + 3).toString('latin1'), 8)); i += 3; }
          else if (e === '\n' || e === '\r') { i++; }
          else throw new Error('bad escape in S-expression string');
        } else out.push(b[i++]!);
      }
      if (i >= b.length) throw new Error('unterminated string atom');
      i++;
      return Buffer.from(out);
    }
    if (TOKEN.test(String.fromCharCode(c))) {
      const start = i;
      while (i < b.length && TOKEN.test(String.fromCharCode(b[i]!))) i++;
      return Buffer.from(b.subarray(start, i));
    }
    throw new Error(`unexpected byte 0x${c.toString(16)} in S-expression`);
  };
  const v = value();
  return { value: v, end: i };
}

/** Canonical encoding, the form gpg-agent hashes and authenticates. */
export function canonicalSexp(s: Sexp): Buffer {
  if (Buffer.isBuffer(s)) return Buffer.concat([Buffer.from(`${s.length}:`, 'latin1'), s]);
  return Buffer.concat([Buffer.from('('), ...s.map(canonicalSexp), Buffer.from(')')]);
}

export function atomText(s: Sexp | undefined): string | undefined {
  return Buffer.isBuffer(s) ? s.toString('latin1') : undefined;
}

/** The first sub-list whose head atom is `name`. */
export function findList(s: Sexp, name: string): Sexp[] | undefined {
  if (Buffer.isBuffer(s)) return undefined;
  for (const e of s) if (!Buffer.isBuffer(e) && atomText(e[0]) === name) return e;
  return undefined;
}
