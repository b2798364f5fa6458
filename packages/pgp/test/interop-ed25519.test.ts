import { interopSuite } from './interop-suite.js';
// gpg 2.4's default shape; the agent here writes old-style CBC-protected key files (no extended key format).
interopSuite('ed25519', 'ed25519', 'cv25519', 'disable-extended-key-format\n');
