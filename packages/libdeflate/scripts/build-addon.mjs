// Builds the libdeflate addon (build/Release/deflate_addon.node) with node-gyp, which npm bundles.
// Never fails: without a compiler, libdeflate-dev, zlib1g-dev (OpenPGP segments) or Node's headers the addon is simply absent and
// src/index.ts reports it unavailable, so gzip goes through node:zlib. One line says which it was.
// Runs as this package's install script and again from the root build; the second run finds the
// addon newer than its sources and does nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const addon = `${root}/build/Release/deflate_addon.node`;
const sources = ['binding.gyp', 'src/addon.c', 'src/md4-lanes.c', 'src/md4-lanes.h', 'src/ofd-lock.c', 'src/ofd-lock.h', 'scripts/has-isal.mjs'].map((f) => `${root}/${f}`);

const mtime = (f) => statSync(f).mtimeMs;
if (existsSync(addon) && sources.every((s) => mtime(s) <= mtime(addon))) process.exit(0);

// Inside npm scripts npm names its own node-gyp; outside them, try one on PATH.
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 300_000 });
if (r.status === 0 && existsSync(addon)) {
  const { createRequire } = await import('node:module');
  const engine = createRequire(import.meta.url)(addon).inflaterEngine();
  console.log(`libdeflate addon built: gzip volumes use libdeflate, restores inflate with ${engine}`);
} else {
  const why = r.error?.message ?? (`${r.stderr ?? ''}`.split('\n').find((l) => /error/i.test(l)) || `exit ${r.status}`);
  console.log(`libdeflate addon not built (${why.trim()}); gzip volumes use node:zlib`);
}
