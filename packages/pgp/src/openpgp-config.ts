/** openpgp.js settings that accept every key gpg 2.2 accepts (old DSA/ElGamal, 1024-bit RSA, SHA-1 self-signatures). */
import type * as openpgp from 'openpgp';

export const OPENPGP_CONFIG = {
  minRSABits: 1024,
  rejectPublicKeyAlgorithms: new Set<number>(),
  rejectHashAlgorithms: new Set<number>(),
  rejectMessageHashAlgorithms: new Set<number>(),
  rejectCurves: new Set<string>(),
  ignoreUnsupportedPackets: true,
  ignoreMalformedPackets: false,
} as unknown as openpgp.Config;
