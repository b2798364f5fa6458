/**
 * An incremental's previous state: the chain's cached sigtars merged (combineCachedSignatures). Read through the
 * addon's inflater and readTarSync where the addon is built, through node:zlib and readTar otherwise; both must
 * give the same entries, headers and signatures for a chain of several sets, and a damaged sigtar must fail with
 * its file's name and exit code 30 either way.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inflaterEngine } from '@duplicity-ts/libdeflate';
import { combineCachedSignatures, signatureOf } from '../src/backup/base-signatures.js';
import { withAddon } from '../../../test-fixtures/addon-switch.js';

const BIN = fileURLToPath(new URL('../../cli/bin/duplicity-ts.js', import.meta.url));
let dir: string;
let sigtars: string[];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'dts-base-'));
  const src = path.join(dir, 'src');
  mkdirSync(path.join(src, 'd'), { recursive: true });
  for (let i = 0; i < 40; i++) writeFileSync(path.join(src, 'd', `f${i}`), `file ${i}\n`.repeat(500 + i * 97));
  writeFileSync(path.join(src, 'big'), Buffer.alloc(3 << 20, 7));
  const env = { ...process.env, HOME: dir, TZ: 'UTC', PASSPHRASE: 'x' };
  const run = (action: string, t: number) =>
    execFileSync('node', [BIN, action, '--no-encryption', '--current-time', String(t), '--archive-dir', path.join(dir, 'cache'), src, `file://${dir}/target`], { env });
  run('full', 1_700_000_000);
  appendFileSync(path.join(src, 'd', 'f3'), 'more\n');
  unlinkSync(path.join(src, 'd', 'f7'));
  writeFileSync(path.join(src, 'new'), 'new\n');
  run('incremental', 1_700_000_100);
  appendFileSync(path.join(src, 'big'), 'tail');
  writeFileSync(path.join(src, 'd', 'f3'), 'rewritten\n');
  run('incremental', 1_700_000_200);
  const cache = path.join(dir, 'cache', readdirSync(path.join(dir, 'cache'))[0]);
  // Oldest first: the full signatures, then the new signatures in time order.
  sigtars = readdirSync(cache)
    .filter((n) => n.endsWith('.sigtar.gz'))
    .sort((a, b) => (a.includes('full-') ? -1 : b.includes('full-') ? 1 : a.localeCompare(b)))
    .map((n) => path.join(cache, n));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function entries(files: string[], addon: boolean) {
  return withAddon(addon, async () => {
    const out = [];
    for await (const e of combineCachedSignatures(files)) {
      const sig = e.kind === 'signature' && e.index.join('/').endsWith('3') ? await signatureOf(e) : undefined;
      out.push({ index: e.index.map((c) => c.toString()).join('/'), kind: e.kind, header: { ...e.header }, sig: sig?.toString('hex') });
    }
    return out;
  });
}

describe('the chain of cached sigtars', () => {
  it('is read through the addon where CI runs the tests', () => {
    if (process.env.CI === 'true') expect(inflaterEngine()).toBeDefined();
  });

  it('merges to the same entries, headers and signatures in this thread as through node:zlib', async () => {
    expect(sigtars).toHaveLength(3);
    const here = await entries(sigtars, true);
    const zlib = await entries(sigtars, false);
    expect(here).toEqual(zlib);
    const names = here.map((e) => e.index);
    expect(names).toContain('new');
    expect(names).not.toContain('d/f7');
    const f3 = here.find((e) => e.index === 'd/f3')!;
    expect(f3.sig).toMatch(/^72730136/); // a librsync MD4 signature's magic, from the newest set
  });

  it('names the damaged file and exits 30, either way', async () => {
    const cut = path.join(dir, 'cut.sigtar.gz');
    const whole = readFileSync(sigtars[0]);
    writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    for (const addon of [true, false]) {
      await expect(entries([cut], addon)).rejects.toMatchObject({
        message: expect.stringMatching(/^failed to read signatures cut\.sigtar\.gz: unexpected end of file/),
        exitCode: 30,
      });
    }
  });
});
