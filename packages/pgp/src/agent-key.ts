/**
 * gpg-agent's secret key files (`$GNUPGHOME/private-keys-v1.d/<keygrip>.key`): an S-expression holding the
 * public parameters in clear and the secret ones either clear (`private-key`) or protected (`protected-private-key`)
 * with the passphrase: `openpgp-s2k3-sha1-aes-cbc` (AES-128-CBC, then a SHA-1 over the key expression) or
 * `openpgp-s2k3-ocb-aes` (AES-128-OCB, the public part as associated data), the key derived by iterated+salted
 * SHA-1 S2K. Read natively so no gpg or gpg-agent runs at restore time.
 */
import { readFileSync } from 'node:fs';
import { createDecipheriv, createHash } from 'node:crypto';
import { atomText, canonicalSexp, findList, parseSexp, type Sexp } from './sexp.js';
import { deriveKey } from './s2k.js';
import { stripZeros } from './mpi.js';

export interface AgentKey {
  path: string;
  /** `rsa`, `dsa`, `elg`, `ecc`, `ecdsa`, `eddsa`, `ecdh`. */
  algorithm: string;
  /** The value that identifies the key among OpenPGP packets: n (RSA), y (DSA, ElGamal) or q (ECC). */
  matchValue: Buffer;
  /** Returns the secret parameters by name (d, p, q, u, x). */
  unlock(passphrase: string | undefined): Record<string, Buffer>;
  protected: boolean;
}

export class WrongPassphraseError extends Error {}
export class MissingPassphraseError extends Error {}

function keyExpression(file: Buffer): Sexp {
  const text = file.toString('latin1');
  if (file[0] === 0x28 /* ( */) return parseSexp(file).value;
  // Extended key format: "Name: value" headers, continuation lines start with whitespace.
  const m = /^Key:/m.exec(text);
  if (!m) throw new Error('no Key: item in extended-format key file');
  const lines = text.slice(m.index + 4).split('\n');
  const parts = [lines[0]!];
  for (const l of lines.slice(1)) {
    if (/^[ \t]/.test(l)) parts.push(l);
    else break;
  }
  return parseSexp(Buffer.from(parts.join('\n'), 'latin1')).value;
}

function params(alg: Sexp[]): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const e of alg.slice(1)) {
    if (!Buffer.isBuffer(e) && e.length >= 2 && Buffer.isBuffer(e[0]) && Buffer.isBuffer(e[1])) out[e[0].toString('latin1')] = e[1];
  }
  return out;
}

export function readAgentKey(path: string): AgentKey {
  const top = keyExpression(readFileSync(path));
  if (Buffer.isBuffer(top)) throw new Error('key file holds no list');
  const kind = atomText(top[0]);
  if (kind === 'shadowed-private-key') throw new Error('the secret key is on a smartcard (shadowed key)');
  if (kind !== 'private-key' && kind !== 'protected-private-key') throw new Error(`unknown key file type ${kind}`);
  const alg = top[1];
  if (!alg || Buffer.isBuffer(alg)) throw new Error('key file has no algorithm list');
  const algorithm = atomText(alg[0]) ?? '';
  const pub = params(alg);
  const matchValue = stripZeros(algorithm === 'rsa' ? pub.n! : algorithm === 'dsa' || algorithm === 'elg' ? pub.y! : pub.q!);
  if (!matchValue) throw new Error('key file lacks its public parameters');
  const prot = findList(alg, 'protected');
  return {
    path,
    algorithm,
    matchValue,
    protected: !!prot,
    unlock(passphrase) {
      if (!prot) return pub;
      if (passphrase === undefined) throw new MissingPassphraseError('no passphrase given');
      const mode = atomText(prot[1]);
      const spec = prot[2];
      const enc = prot[3];
      if (!spec || Buffer.isBuffer(spec) || !Buffer.isBuffer(enc)) throw new Error('malformed protected key');
      const s2kList = spec[0];
      const iv = spec[1];
      if (!s2kList || Buffer.isBuffer(s2kList) || atomText(s2kList[0]) !== 'sha1' || !Buffer.isBuffer(iv)) throw new Error('unsupported key protection parameters');
      const salt = s2kList[1] as Buffer;
      const count = Number(atomText(s2kList[2]));
      const kek = deriveKey(passphrase, { type: 3, hash: 2, salt, count }, 16);
      const withoutProt = alg.filter((e) => e !== prot);
      let secret: Sexp;
      if (mode === 'openpgp-s2k3-ocb-aes') {
        const d = createDecipheriv('aes-128-ocb', kek, iv, { authTagLength: 16 });
        d.setAAD(canonicalSexp(withoutProt));
        d.setAuthTag(enc.subarray(enc.length - 16));
        let plain: Buffer;
        try {
          plain = Buffer.concat([d.update(enc.subarray(0, enc.length - 16)), d.final()]);
        } catch {
          throw new WrongPassphraseError('bad passphrase');
        }
        secret = parseSexp(plain).value;
      } else if (mode === 'openpgp-s2k3-sha1-aes-cbc') {
        const d = createDecipheriv('aes-128-cbc', kek, iv);
        d.setAutoPadding(false);
        const plain = Buffer.concat([d.update(enc), d.final()]);
        let parsed: Sexp;
        try {
          parsed = parseSexp(plain).value;
        } catch {
          throw new WrongPassphraseError('bad passphrase');
        }
        if (Buffer.isBuffer(parsed) || Buffer.isBuffer(parsed[0])) throw new WrongPassphraseError('bad passphrase');
        secret = parsed[0]!;
        const hashList = findList(parsed, 'hash');
        const i = alg.indexOf(prot);
        const expr = [...alg.slice(0, i), ...(secret as Sexp[]), ...alg.slice(i + 1)];
        const want = hashList?.[2];
        if (!Buffer.isBuffer(want) || !createHash('sha1').update(canonicalSexp(expr)).digest().equals(want)) {
          throw new WrongPassphraseError('bad passphrase');
        }
      } else {
        throw new Error(`unsupported key protection ${mode}`);
      }
      if (Buffer.isBuffer(secret)) throw new Error('malformed secret key parameters');
      return { ...pub, ...params([Buffer.alloc(0), ...secret]) };
    },
  };
}
