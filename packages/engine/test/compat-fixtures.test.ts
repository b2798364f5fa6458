/**
 * The shared fixture generator drives duplicity-ts as if it were duplicity (the same options and
 * environment), then the REAL duplicity 0.8.22 restores every backup time of what we wrote and
 * compares the trees. Needs the CLI build (`npm run build`, which `npm test` runs first).
 * DUPLICITY_TS_COMPAT_OURS=1 also restores with duplicity-ts during generation;
 * DUPLICITY_TS_COMPAT_FULL=1 adds the long-chain scenario (chains are also covered by compat-mixed
 * and compat-fuzz). Scenarios run one after another: in parallel they only slow each other down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const ours = path.join(repo, 'node_modules/.bin/duplicity-ts');
const makeFixtures = '/work/shared/fixtures/tools/make-fixtures.sh';
const SCENARIOS = ['plain:7101', 'multivol:7105', 'symmetric:7102', 'pubkey-signed:7103'];
if (process.env.DUPLICITY_TS_COMPAT_FULL === '1') SCENARIOS.push('long-chain:7104');

let out: string;
beforeAll(() => {
  if (!existsSync(path.join(repo, 'packages/cli/dist/main.js'))) throw new Error('build the CLI first: npm run build');
  out = mkdtempSync(path.join(tmpdir(), 'dts-fx-'));
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

function run(env: NodeJS.ProcessEnv, args: string[]): Promise<{ status: number | null; text: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [makeFixtures, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, text }));
  });
}

describe('make-fixtures.sh with duplicity-ts writing and real duplicity restoring', () => {
  it.each(SCENARIOS)('%s', async (spec) => {
    const name = spec.split(':')[0];
    const verifyOurs = process.env.DUPLICITY_TS_COMPAT_OURS === '1';
    const made = await run({ DUPLICITY: ours }, [...(verifyOurs ? [] : ['--no-verify']), out, spec]);
    expect(made.status, made.text).toBe(0);
    expect(made.text).toMatch(new RegExp(`ok\\s+${name}`));
    const checked = await run({ DUPLICITY: 'duplicity' }, ['--verify-only', out, name]);
    expect(checked.status, checked.text).toBe(0);
    expect(checked.text).toMatch(new RegExp(`ok\\s+${name} \\(\\d+ restores matched\\)`));
    rmSync(path.join(out, name), { recursive: true, force: true });
  }, 600_000);
});
