#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node --openssl-legacy-provider
// Committed launcher, so npm can link the bin before the TypeScript build has run. The legacy provider holds
// OpenSSL 3's IDEA, CAST5 and Blowfish, which old OpenPGP archives and keys use (pgp cipher-algorithms.ts).
// NODE_EXTRA_CA_CERTS is dropped: Node parses that CA bundle at every start (~50 ms here for the system's
// bundle, on every cron run), and duplicity-ts makes no TLS connection (its backends are file://, SFTP, SCP).
// The bundle of the compiled modules (scripts/bundle-cli.mjs, part of `npm run build`) starts ~60 ms sooner than
// the ~130 modules themselves; they run instead when there is no bundle or it is older than any module in it.
import { readFileSync, statSync } from 'node:fs';

function bundleIsCurrent() {
  try {
    const dir = new URL('../dist/bundle/', import.meta.url);
    const { started, inputs } = JSON.parse(readFileSync(new URL('inputs.json', dir), 'utf8'));
    return inputs.every((p) => statSync(new URL(p, dir)).mtimeMs <= started);
  } catch {
    return false;
  }
}

const { runCli } = await import(bundleIsCurrent() ? '../dist/bundle/main.mjs' : '../dist/main.js');
runCli(process.argv.slice(2));
