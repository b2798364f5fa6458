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
import { deriveKey, deriveKeyOnPool } from './s2k.js';
import { stripZeros } from './mpi.js';

export interface AgentKey {
  path: string;
  /** `rsa`, `dsa`, `elg`, `ecc`, `ecdsa`, `eddsa`, `ecdh`. */
  algorithm: string;
  /** The value that identifies the key among OpenPGP packets: n (RSA), y (DSA, ElGamal) or q (ECC). */
  matchValue: Buffer;
  /** Returns the secret parameters by name (d, p, q, u, x). */
  unlock(passphrase: string | undefined): Record<string, Buffer>;
  /** Derives the protection key on the thread pool ahead of unlock() (s2k.ts deriveKeyOnPool); never fails. */
  prepare(passphrase: string | undefined): Promise<void>;
  protected: boolean;
  /**
   * For keys gpg imported but the agent has not converted yet (`openpgp-native` protection): the OpenPGP secret
   * key packet fields after the public part (S2K usage, cipher, S2K, IV, encrypted MPIs), to decrypt as OpenPGP.
   */
  openpgpNative?: Buffer;
}

export class WrongPassphraseError extends Error {}
export class MissingPassphraseError extends Error {}

function keyExpression(file: Buffer): Sexp {
  const text = file.toString('latin1');
  if (file[0] === 0x28 /* ( */) return parseSexp(file).value;
  // Extended key format: "Name: value" headers; a value continues on lines that start with one space or tab.
  // gpg wraps the Key: value at a fixed width wherever the column falls, even inside a token ("(pr" /
  // " otected-at") or a quoted string, so a continuation line is joined by dropping that one marker character
  // and the line break, nothing else. Joining with the line break kept split tokens apart; with OCB the public
  // part is authenticated, so such a key failed as if the passphrase were wrong (seen at s2k-count 65536, where
  // the shorter count string moves the wrap points into "protected-at").
  const m = /^Key:[ \t]*/m.exec(text);
  if (!m) throw new Error('no Key: item in extended-format key file');
  const lines = text.slice(m.index + m[0].length).split('\n').map((l) => l.replace(/\r$/, ''));
  const parts = [lines[0]!];
  for (const l of lines.slice(1)) {
    if (/^[ \t]/.test(l)) parts.push(l.slice(1));
    else break;
  }
  return parseSexp(Buffer.from(parts.join(''), 'latin1')).value;
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
  const openpgpNative = prot && atomText(prot[1]) === 'openpgp-native' ? nativeProtection(prot[2]) : undefined;
  return {
    openpgpNative,
    path,
    algorithm,
    matchValue,
    protected: !!prot,
    async prepare(passphrase) {
      const spec = prot?.[2];
      const s2kList = spec && !Buffer.isBuffer(spec) ? spec[0] : undefined;
      if (passphrase === undefined || !s2kList || Buffer.isBuffer(s2kList) || atomText(s2kList[0]) !== 'sha1' || !Buffer.isBuffer(s2kList[1])) return;
      const count = Number(atomText(s2kList[2]));
      if (!(count > 0)) return;
      // Whatever goes wrong here, unlock() meets it again and says what.
      await deriveKeyOnPool(passphrase, { type: 3, hash: 2, salt: s2kList[1], count }, 16).catch(() => undefined);
    },
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
        const parsed = parseSexp(plain).value;
        // "(((d #..#)(p #..#)..))": the parameter lists are wrapped once more.
        secret = !Buffer.isBuffer(parsed) && parsed[0] && !Buffer.isBuffer(parsed[0]) && !Buffer.isBuffer(parsed[0][0]) ? parsed[0] : parsed;
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

const NATIVE_CIPHERS: Record<string, number> = { IDEA: 1, '3DES': 2, CAST5: 3, BLOWFISH: 4, AES: 7, AES192: 8, AES256: 9, TWOFISH: 10, CAMELLIA128: 11, CAMELLIA192: 12, CAMELLIA256: 13 };
const NATIVE_HASHES: Record<string, number> = { MD5: 1, SHA1: 2, RIPEMD160: 3, SHA256: 8, SHA384: 9, SHA512: 10, SHA224: 11 };

/** `(openpgp-private-key (version "4")(algo ..)(skey _ #..# e #..#)(csum ..)(protection sha1 AES #iv# "3" SHA1 #salt# "255"))`. */
function nativeProtection(spec: Sexp | undefined): Buffer {
  if (!spec || Buffer.isBuffer(spec)) throw new Error('malformed openpgp-native key');
  const skey = findList(spec, 'skey');
  const prot = findList(spec, 'protection');
  if (!skey || !prot) throw new Error('malformed openpgp-native key');
  const enc: Buffer[] = [];
  for (let i = 1; i + 1 < skey.length; i += 2) if (atomText(skey[i]) === 'e') enc.push(skey[i + 1] as Buffer);
  const [, check, cipher, iv, s2kType, s2kHash, salt, count] = prot.map((x) => x as Buffer);
  const usage = atomText(check) === 'sha1' ? 254 : atomText(check) === 'sum' ? 255 : 0;
  if (usage === 0) throw new Error('unprotected openpgp-native key');
  const cipherId = NATIVE_CIPHERS[atomText(cipher) ?? ''];
  const hashId = NATIVE_HASHES[atomText(s2kHash) ?? ''];
  const type = Number(atomText(s2kType));
  if (!cipherId || !hashId || enc.length !== 1) throw new Error('unsupported openpgp-native key protection');
  const s2k = type === 3 ? Buffer.concat([Buffer.from([3, hashId]), salt!, Buffer.from([Number(atomText(count))])])
    : type === 1 ? Buffer.concat([Buffer.from([1, hashId]), salt!]) : Buffer.from([0, hashId]);
  return Buffer.concat([Buffer.from([usage, cipherId]), s2k, iv!, enc[0]!]);
}
