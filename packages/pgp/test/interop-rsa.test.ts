import { interopSuite } from './interop-suite.js';
// gpg 2.2 default key shape: RSA primary for signing, RSA encryption subkey (gpg-agent OCB-protected keys).
interopSuite('rsa', 'rsa2048', 'rsa2048');
