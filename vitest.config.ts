import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Tests import sibling packages from their TypeScript sources, so `vitest` needs no build
// for unit tests; tests that run the CLI binary use the build that `npm test` makes first.
export default defineConfig({
  resolve: {
    alias: {
      '@duplicity-ts/rsync': pkg('rsync'),
      '@duplicity-ts/archive': pkg('archive'),
      '@duplicity-ts/pgp': pkg('pgp'),
      '@duplicity-ts/libdeflate': pkg('libdeflate'),
      '@duplicity-ts/backends': pkg('backends'),
      '@duplicity-ts/engine': pkg('engine'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    setupFiles: ['./test-fixtures/fast-check-seed.ts'],
  },
});
