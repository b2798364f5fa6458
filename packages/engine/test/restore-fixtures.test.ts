/**
 * Restores every backup time of the unencrypted fixtures made by real duplicity 0.8.22 through the
 * engine (no CLI) and compares the tree with what real duplicity restored (expected/<n>.tsv, listed
 * by the fixtures' own list-tree.py). Also: --file-to-restore of a file and of a subtree, restore
 * times between and before backups, and the non-empty-target refusal.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackend } from '@duplicity-ts/backends';
import { restore, scanCollection, type ReadContext } from '@duplicity-ts/engine';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const shared = path.resolve(repoRoot, '../shared');
const fixtures = path.join(shared, 'fixtures/duplicity-0.8.22');
const listTree = path.join(shared, 'fixtures/tools/list-tree.py');

function times(scenario: string): { n: string; time: string; epoch: number }[] {
  return readFileSync(path.join(fixtures, scenario, 'expected/times.tsv'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [n, , time, epoch] = l.split('\t');
      return { n, time, epoch: Number(epoch) };
    });
}

function tree(dir: string): string {
  return execFileSync('python3', [listTree, dir], { encoding: 'utf8' });
}

/** expected/<n>.tsv minus the lines of entries outside `sub`, re-rooted at `sub`. */
function subtreeOf(expected: string, sub: string): string {
  const lines = expected.split('\n').filter(Boolean);
  const out = [lines[0]];
  for (const l of lines.slice(1)) {
    const [p, ...rest] = l.split('\t');
    if (p === sub) out.push(['.', ...rest].join('\t'));
    else if (p.startsWith(`${sub}/`)) out.push([p.slice(sub.length + 1), ...rest].join('\t'));
  }
  return `${out.join('\n')}\n`;
}

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'restore-fixtures-'));
});
afterAll(() => {
  execFileSync('chmod', ['-R', 'u+rwx', work]);
  rmSync(work, { recursive: true, force: true });
});

async function context(scenario: string): Promise<{ ctx: ReadContext; col: ReturnType<typeof scanCollection> }> {
  const backend = await openBackend(`file://${path.join(fixtures, scenario, 'archive')}`);
  const archiveDir = mkdtempSync(path.join(work, 'cache-'));
  const tempDir = mkdtempSync(path.join(work, 'tmp-'));
  const col = scanCollection(await backend.list(), []);
  return { ctx: { backend, archiveDir, tempDir }, col };
}

let outN = 0;
const freshOut = () => path.join(work, `out-${outN++}`);

describe.each(['plain', 'multivol', 'long-chain'])('restore of fixture %s', (scenario) => {
  it.skipIf(!existsSync(path.join(fixtures, scenario)))('matches real duplicity at every backup time', async () => {
    const { ctx, col } = await context(scenario);
    for (const t of times(scenario)) {
      const out = freshOut();
      await restore(ctx, col, { time: t.epoch, target: out, restoreOwnership: false });
      expect(tree(out), `${scenario}@${t.n}`).toBe(readFileSync(path.join(fixtures, scenario, `expected/${t.n}.tsv`), 'utf8'));
    }
  });

  it('restores halfway between backups and before the first one like duplicity', async () => {
    const { ctx, col } = await context(scenario);
    const ts = times(scenario);
    const half = Math.floor((ts[0].epoch + ts[1].epoch) / 2);
    let out = freshOut();
    await restore(ctx, col, { time: half, target: out, restoreOwnership: false });
    expect(tree(out)).toBe(readFileSync(path.join(fixtures, scenario, 'expected/0.tsv'), 'utf8'));
    out = freshOut();
    await restore(ctx, col, { time: ts[0].epoch - 86400, target: out, restoreOwnership: false });
    expect(tree(out)).toBe(readFileSync(path.join(fixtures, scenario, 'expected/0.tsv'), 'utf8'));
  });
});

describe('restore options', () => {
  it('--file-to-restore of a subtree and of a single file', async () => {
    const { ctx, col } = await context('plain');
    const last = times('plain').at(-1)!;
    const expected = readFileSync(path.join(fixtures, 'plain', `expected/${last.n}.tsv`), 'utf8');
    let out = freshOut();
    await restore(ctx, col, { time: last.epoch, target: out, fileToRestore: 'data', restoreOwnership: false });
    expect(tree(out)).toBe(subtreeOf(expected, 'data'));
    out = freshOut();
    await restore(ctx, col, { time: last.epoch, target: out, fileToRestore: 'data/log.txt', restoreOwnership: false });
    const line = expected.split('\n').find((l) => l.startsWith('data/log.txt\t'))!;
    const [, , mode, size, sha] = line.split('\t');
    const got = execFileSync('python3', ['-c', `import os,sys,hashlib;st=os.lstat(sys.argv[1]);print('%04o'%(st.st_mode&0o7777),st.st_size,hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())`, out], { encoding: 'utf8' }).trim();
    expect(got).toBe(`${mode} ${size} ${sha}`);
  });

  it('a path not in the archive is exit 19; a non-empty target is exit 11 unless --force', async () => {
    const { ctx, col } = await context('plain');
    const last = times('plain').at(-1)!;
    await expect(restore(ctx, col, { time: last.epoch, target: freshOut(), fileToRestore: 'no/such', restoreOwnership: false })).rejects.toMatchObject({ exitCode: 19 });
    const out = freshOut();
    mkdirSync(out);
    writeFileSync(path.join(out, 'keep'), 'x');
    await expect(restore(ctx, col, { time: last.epoch, target: out, restoreOwnership: false })).rejects.toMatchObject({
      exitCode: 11,
      message: expect.stringContaining('already exists'),
    });
    expect(readFileSync(path.join(out, 'keep'), 'utf8')).toBe('x');
    await restore(ctx, col, { time: last.epoch, target: out, force: true, restoreOwnership: false });
    chmodSync(out, 0o755);
    expect(existsSync(path.join(out, 'data/log.txt'))).toBe(true);
  });
});
