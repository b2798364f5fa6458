/**
 * @duplicity-ts/pgp: OpenPGP as duplicity needs it from gpg 2.2, natively, with no gpg binary at run time.
 *
 * - keyring.ts finds keys as gpg does (GnuPG home: pubring.kbx / pubring.gpg, private-keys-v1.d via
 *   agent-key.ts and sexp.ts; or armored key files) and unlocks secret keys with the caller's passphrase:
 *   agent key files and OpenPGP secret key packets (secret-key-packet.ts) are decrypted with s2k.ts on
 *   node:crypto; openpgp.js (configured in openpgp-config.ts) parses certificates and key parameters.
 * - decrypt.ts and encrypt.ts are the message layer; they stream through packets.ts (framing, partial body
 *   lengths), session-key.ts (SKESK v4/v5/v6 with s2k.ts; PKESK via openpgp.js), seipd.ts (AES-CFB + MDC on
 *   node:crypto; decryption as ECB + XOR in cfb-decryptor.ts). Decryption reads the SEIPD body and the packets inside
 *   it in one synchronous pass per source chunk: packet-push-parser.ts strips framing from the chunk in place and
 *   plaintext-pass.ts handles the inner packets, leaving the pass only for decompression; aead.ts with aead-modes.ts (gpg 2.4's AEAD packet and RFC 9580's SEIPD v2, OCB/GCM, read only),
 *   compression.ts (inflate: @duplicity-ts/libdeflate's addon, else node:zlib; deflate: node:zlib; bzip2.ts on unbzip2-stream's decoder) and signature.ts with key-material.ts (one-pass signatures hashed by
 *   node:crypto, signed/verified over that digest).
 * - errors.ts: user-facing errors carry duplicity's exit codes (31 gpg failure, 22 signer problem).
 */
export { loadKeyring, Keyring, type KeyInfo } from './keyring.js';
export { encrypt, type EncryptOptions } from './encrypt.js';
export { decrypt, keyIdMatches, recoverSessionKeys, checkSignatures, type DecryptOptions, type SignatureResult, type SignedDigest } from './decrypt.js';
export type { SessionKey } from './session-key.js';
export { PgpError, SignerError } from './errors.js';
