/**
 * The committed launcher (bin/duplicity-ts.js) runs the bundle that `npm run build` makes (scripts/bundle-cli.mjs)
 * when it is current, and the compiled modules when there is no bundle or any bundled module is newer than it:
 * a `tsc -b` after the last bundling must never leave older code running.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/duplicity-ts.js', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../dist/bundle/', import.meta.url));

let dir: string;

/** A copy of the launcher beside stand-ins for the modules and the bundle, which say which one ran. */
function layout(started: number, inputMtime: number, withBundle = true): string {
  const root = mkdtempSync(path.join(dir, 'l-'));
  mkdirSync(path.join(root, 'bin'));
  mkdirSync(path.join(root, 'dist', 'bundle'), { recursive: true });
  copyFileSync(BIN, path.join(root, 'bin', 'duplicity-ts.js'));
  writeFileSync(path.join(root, 'package.json'), '{"type":"module"}');
  const stub = (what: string) => `export function runCli(args) { console.log('${what}', args.join(' ')); }\n`;
  writeFileSync(path.join(root, 'dist', 'main.js'), stub('modules'));
  writeFileSync(path.join(root, 'dist', 'engine.js'), '');
  utimesSync(path.join(root, 'dist', 'engine.js'), inputMtime / 1000, inputMtime / 1000);
  if (withBundle) {
    writeFileSync(path.join(root, 'dist', 'bundle', 'main.mjs'), stub('bundle'));
    writeFileSync(path.join(root, 'dist', 'bundle', 'inputs.json'), JSON.stringify({ started, inputs: ['../main.js', '../engine.js'] }));
    utimesSync(path.join(root, 'dist', 'main.js'), started / 1000 - 10, started / 1000 - 10);
  }
  return path.join(root, 'bin', 'duplicity-ts.js');
}

const run = (bin: string) => execFileSync('node', [bin, '--version'], { encoding: 'utf8' }).trim();

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'dts-launcher-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the launcher', () => {
  const t = Date.now() - 60_000;
  it('runs the bundle when no bundled module is newer than it', () => {
    expect(run(layout(t, t - 5_000))).toBe('bundle --version');
  });
  it('runs the modules when a bundled module changed after the bundling', () => {
    expect(run(layout(t, t + 5_000))).toBe('modules --version');
  });
  it('runs the modules when there is no bundle', () => {
    expect(run(layout(t, t, false))).toBe('modules --version');
  });
  it.runIf(process.env.CI === 'true')('has a current bundle after the build, holding the CLI and the engine', () => {
    const { started, inputs } = JSON.parse(readFileSync(path.join(BUNDLE, 'inputs.json'), 'utf8')) as { started: number; inputs: string[] };
    expect(inputs.filter((p) => statSync(path.join(BUNDLE, p)).mtimeMs > started)).toEqual([]);
    expect(inputs).toContain('../main.js');
    expect(inputs.some((p) => p.endsWith('engine/dist/backup/set-writer.js'))).toBe(true);
    expect(execFileSync('node', [BIN, '--version'], { encoding: 'utf8' })).toMatch(/^duplicity-ts \d/);
  });
});
