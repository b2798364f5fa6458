/**
 * The shared fixture check, end to end through the built CLI: every backup time of every fixture
 * scenario (plain, multivol, long-chain, symmetric, pubkey-signed) restored by
 * `duplicity-ts restore --time T file://... OUT` must list exactly like what real duplicity
 * restored. Needs `npm run build` (npm test builds first).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const shared = path.resolve(repoRoot, '../shared');

it('check-restores.sh passes for every fixture scenario', () => {
  const cache = mkdtempSync(path.join(tmpdir(), 'check-restores-cache-'));
  try {
    const r = spawnSync(
      path.join(shared, 'tools/check-restores.sh'),
      [path.join(shared, 'fixtures/duplicity-0.8.22'), path.join(repoRoot, 'node_modules/.bin/duplicity-ts')],
      { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: cache, TZ: 'UTC' }, timeout: 50_000 },
    );
    expect(r.stdout).toMatch(/restores: (\d+)\/\1 match\n$/);
    expect(r.status).toBe(0);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}, 60_000);
