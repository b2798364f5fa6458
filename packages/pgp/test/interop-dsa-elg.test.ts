import { interopSuite } from './interop-suite.js';
// The seed article's key shape: DSA signing key with an ElGamal encryption subkey.
interopSuite('dsa-elg', 'dsa2048', 'elg2048');
