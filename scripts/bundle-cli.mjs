#!/usr/bin/env node
/**
 * Bundles the CLI's compiled modules (packages/<name>/dist, after `tsc -b`) into packages/cli/dist/bundle/, which
 * the launcher (packages/cli/bin/duplicity-ts.js) loads instead of the ~130 separate modules: Node's ESM loader
 * resolves, reads and links each of those one by one, ~60 ms of every command's start here.
 *
 * - Only our packages are bundled. Third-party packages stay where npm put them (ssh2 loads a native binding
 *   relative to its own files, openpgp is loaded only when keys are involved).
 * - Modules loaded later stay separate chunks (`splitting`), as the lazy imports intend.
 * - Each module's `import.meta.url` is rewritten to its own file's URL, relative to the bundle: worker entries,
 *   the WASM file and the addon are found next to the module that names them, as without the bundle.
 * - inputs.json lists the bundled files and the time the bundling started; the launcher falls back to the
 *   separate modules when any of them is newer (a `tsc -b` without a new bundle), so a stale bundle never runs.
 */
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(repo, 'packages/cli/dist/bundle');
const started = Date.now();

const thirdParty = new Set();
for (const pkg of ['archive', 'backends', 'cli', 'engine', 'libdeflate', 'pgp', 'rsync']) {
  const deps = JSON.parse(readFileSync(path.join(repo, 'packages', pkg, 'package.json'), 'utf8')).dependencies ?? {};
  for (const name of Object.keys(deps)) if (!name.startsWith('@duplicity-ts/')) thirdParty.add(name);
}

const ownMetaUrl = {
  name: 'own-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /[\\/]packages[\\/][^\\/]+[\\/]dist[\\/].*\.js$/ }, (args) => {
      let contents = readFileSync(args.path, 'utf8');
      if (contents.includes('import.meta.url')) {
        const rel = path.relative(outdir, args.path).split(path.sep).join('/');
        contents = contents.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`);
      }
      return { contents, loader: 'js' };
    });
  },
};

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
const result = await esbuild.build({
  entryPoints: { main: path.join(repo, 'packages/cli/dist/main.js') },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunk-[hash]',
  external: [...thirdParty, '*.node'],
  plugins: [ownMetaUrl],
  metafile: true,
  absWorkingDir: repo,
  logLevel: 'warning',
});
const inputs = Object.keys(result.metafile.inputs).map((p) => path.relative(outdir, path.resolve(repo, p)).split(path.sep).join('/'));
writeFileSync(path.join(outdir, 'inputs.json'), JSON.stringify({ started, inputs }) + '\n');
console.log(`bundled ${inputs.length} modules into ${path.relative(repo, outdir)}`);
