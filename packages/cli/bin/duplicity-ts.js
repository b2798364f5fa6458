#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node --openssl-legacy-provider
// Committed launcher, so npm can link the bin before the TypeScript build has run. The legacy provider holds
// OpenSSL 3's IDEA, CAST5 and Blowfish, which old OpenPGP archives and keys use (pgp cipher-algorithms.ts).
// NODE_EXTRA_CA_CERTS is dropped: Node parses that CA bundle at every start (~50 ms here for the system's
// bundle, on every cron run), and duplicity-ts makes no TLS connection (its backends are file://, SFTP, SCP).
import { runCli } from '../dist/main.js';
runCli(process.argv.slice(2));
