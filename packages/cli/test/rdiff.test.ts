// `duplicity-ts rdiff`: rdiff's arguments, byte-identical signatures, exit codes, one-line errors, stdin/stdout.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pseudoRandomBytes } from './pseudo-random.js';
import { runRdiff } from '../src/actions/rdiff.js';

const BIN = fileURLToPath(new URL('../bin/duplicity-ts.js', import.meta.url));
const haveRdiff = spawnSync('rdiff', ['--version']).status === 0;
if (!haveRdiff && process.env.CI === 'true') throw new Error('rdiff is required in CI but is not installed');


async function run(argv: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const code = await runRdiff(argv, { stdout, stderr });
  return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() };
}

let dir: string;
let oldFile: string;
let newFile: string;
const p = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rdiff-cli-'));
  const old = pseudoRandomBytes(300_000, 1);
  const next = Buffer.concat([old.subarray(0, 100_000), Buffer.from('inserted text'), old.subarray(100_500), pseudoRandomBytes(777, 2)]);
  oldFile = p('old');
  newFile = p('new');
  writeFileSync(oldFile, old);
  writeFileSync(newFile, next);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.runIf(haveRdiff)('duplicity-ts rdiff against rdiff', () => {
  it('signature: rdiff defaults and duplicity\'s options give rdiff\'s bytes', async () => {
    for (const opts of [[], ['-H', 'md4', '-R', 'rollsum', '-b', '2048', '-S', '8'], ['--hash=md4'], ['-S', '-1'], ['--block-size', '1000', '--sum-size', '5']]) {
      execFileSync('rdiff', ['signature', '-f', ...opts, oldFile, p('sig.rdiff')]);
      const r = await run(['signature', '-f', ...opts, oldFile, p('sig.ours')]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(readFileSync(p('sig.ours')).equals(readFileSync(p('sig.rdiff')))).toBe(true);
    }
  });

  it('signature of a file read in several pieces, block length not dividing the read size', async () => {
    writeFileSync(p('big'), pseudoRandomBytes(2_500_000, 9));
    for (const b of ['1000', '3000', '4097']) {
      execFileSync('rdiff', ['signature', '-f', '-b', b, p('big'), p('bsig.rdiff')]);
      expect((await run(['signature', '-f', '-b', b, p('big'), p('bsig.ours')])).code).toBe(0);
      expect(readFileSync(p('bsig.ours')).equals(readFileSync(p('bsig.rdiff')))).toBe(true);
    }
  });

  it('delta: rdiff patches ours; patch: we apply rdiff\'s', async () => {
    execFileSync('rdiff', ['signature', '-f', oldFile, p('s')]);
    expect((await run(['delta', '-f', p('s'), newFile, p('d.ours')])).code).toBe(0);
    execFileSync('rdiff', ['patch', '-f', oldFile, p('d.ours'), p('n.rdiff')]);
    expect(readFileSync(p('n.rdiff')).equals(readFileSync(newFile))).toBe(true);
    execFileSync('rdiff', ['delta', '-f', p('s'), newFile, p('d.rdiff')]);
    expect(readFileSync(p('d.ours')).length).toBeLessThanOrEqual(readFileSync(p('d.rdiff')).length * 1.1);
    expect((await run(['patch', '-f', oldFile, p('d.rdiff'), p('n.ours')])).code).toBe(0);
    expect(readFileSync(p('n.ours')).equals(readFileSync(newFile))).toBe(true);
  });

  it('stdin and stdout, through the installed binary', () => {
    // A pipe has no size, so rdiff's block length is 2048; a redirected file has one.
    const viaPipe = execFileSync('node', [BIN, 'rdiff', 'signature'], { input: readFileSync(oldFile) });
    const rdiffPipe = execFileSync('rdiff', ['signature'], { input: readFileSync(oldFile) });
    expect(viaPipe.readUInt32BE(4)).toBe(2048);
    expect(viaPipe.equals(rdiffPipe)).toBe(true);
    writeFileSync(p('s.pipe'), viaPipe);
    const delta = execFileSync('node', [BIN, 'rdiff', 'delta', p('s.pipe'), '-', '-'], { input: readFileSync(newFile) });
    const patched = execFileSync('node', [BIN, 'rdiff', 'patch', oldFile], { input: delta });
    expect(patched.equals(readFileSync(newFile))).toBe(true);
  });
});

describe('duplicity-ts rdiff errors', () => {
  it('refuses to overwrite an output without -f (exit 100, like rdiff)', async () => {
    writeFileSync(p('exists'), 'keep me');
    const r = await run(['signature', oldFile, p('exists')]);
    expect(r.code).toBe(100);
    expect(r.stderr).toBe(`duplicity-ts rdiff: failed to open ${p('exists')} for writing: file exists (use -f to overwrite)\n`);
    expect(readFileSync(p('exists'), 'utf8')).toBe('keep me');
  });

  it('missing input (exit 100)', async () => {
    const r = await run(['signature', p('nope'), p('x')]);
    expect(r.code).toBe(100);
    expect(r.stderr).toMatch(/^duplicity-ts rdiff: failed to open .*nope for reading: ENOENT[^\n]*\n$/);
  });

  it('usage errors (exit 101): unknown option, bad choice, bad number, unknown command, too many files', async () => {
    for (const argv of [['-z', 'signature'], ['-H', 'sha1', 'signature'], ['-b', 'big', 'signature'], ['frobnicate'], ['patch', 'a', 'b', 'c', 'd'], ['patch', '-']]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(101);
      expect(r.stderr).toMatch(/^duplicity-ts rdiff: [^\n]+\n$/);
    }
  });

  it('bad parameters (exit 108)', async () => {
    const r = await run(['signature', '-f', '-S', '33', oldFile, p('x')]);
    expect(r.code).toBe(108);
    expect(r.stderr).toBe('duplicity-ts rdiff: strong sum length 33 is out of range 1..32 for blake2\n');
  });

  it('corrupt signature and delta: rdiff\'s exit codes, one line, no partial output left', async () => {
    writeFileSync(p('badsig'), Buffer.from('7273013600000800000000080102', 'hex'));
    let r = await run(['delta', '-f', p('badsig'), newFile, p('out1')]);
    expect(r.code).toBe(103);
    expect(r.stderr).toMatch(/^duplicity-ts rdiff: failed to load signature .*badsig: signature is truncated[^\n]*\n$/);
    expect(existsSync(p('out1'))).toBe(false);

    const cases: [string, number, RegExp][] = [
      ['72730136', 104, /bad magic number 0x72730136/],
      ['72730236 03 6162 63 66', 106, /reserved opcode 0x66 at offset 8/],
      ['72730236 4d 000493d6 10 00', 103, /COPY 299990\+16 at offset 4 reaches past the end of the 300000-byte basis/],
      ['72730236 03 616263', 103, /input ended in a command at offset 8/],
    ];
    for (const [hex, code, msg] of cases) {
      writeFileSync(p('baddelta'), Buffer.from(hex.replace(/ /g, ''), 'hex'));
      r = await run(['patch', '-f', oldFile, p('baddelta'), p('out2')]);
      expect(r.code, hex).toBe(code);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.split('\n')).toHaveLength(2);
      expect(existsSync(p('out2'))).toBe(false);
    }
  });
});
