#!/usr/bin/env -S node --openssl-legacy-provider
// Committed launcher, so npm can link the bin before the TypeScript build has run. The legacy provider holds
// OpenSSL 3's IDEA, CAST5 and Blowfish, which old OpenPGP archives and keys use (pgp cipher-algorithms.ts).
import { runCli } from '../dist/main.js';
runCli(process.argv.slice(2));
