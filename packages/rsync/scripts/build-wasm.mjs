// Compiles the AssemblyScript hot path (assembly/*.ts) to build/rsync.wasm, which src/wasm.ts loads
// relative to its own file (from src/ under vitest and from dist/ after tsc).
import asc from 'assemblyscript/asc';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
mkdirSync(`${root}/build`, { recursive: true });
const { error } = await asc.main(
  [
    'assembly/index.ts',
    '--outFile', 'build/rsync.wasm',
    '-O3', '--converge',
    '--runtime', 'stub',
    '--noAssert',
    '--enable', 'simd',
    '--initialMemory', '2',
    '--exportStart', '_initialize',
  ],
  { stdout: process.stdout, stderr: process.stderr, baseDir: root },
);
if (error) {
  console.error(`build-wasm: ${error.message}`);
  process.exit(1);
}
