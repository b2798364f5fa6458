/**
 * Reads every unencrypted volume and sigtar that real duplicity 0.8.22 wrote, and checks the entries
 * against GNU tar's own listing, the restored trees in expected/0.tsv and the manifests.
 */
import { describe, expect, it } from 'vitest';
import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  Manifest,
  compareIndex,
  formatEntryName,
  indexToPath,
  parseEntryName,
  parseFileName,
  readTar,
  type Index,
  type ParsedName,
  type TarHeader,
} from '@duplicity-ts/archive';
import { FIXTURES } from './environment.js';

const PLAIN_SCENARIOS = ['plain', 'multivol', 'long-chain'];

function gunzip(path: string): AsyncIterable<Uint8Array> {
  return createReadStream(path).pipe(createGunzip());
}

const TYPE_CHAR: Record<TarHeader['type'], string> = {
  file: '-', directory: 'd', symlink: 'l', fifo: 'p', chardev: 'c', blockdev: 'b', hardlink: 'h', other: '?',
};

function modeString(h: TarHeader): string {
  const m = h.mode;
  const bit = (mask: number, c: string) => (m & mask ? c : '-');
  const special = (x: number, sp: number, lower: string, upper: string) => (m & sp ? (m & x ? lower : upper) : bit(x, 'x'));
  return (
    TYPE_CHAR[h.type] + bit(0o400, 'r') + bit(0o200, 'w') + special(0o100, 0o4000, 's', 'S') +
    bit(0o40, 'r') + bit(0o20, 'w') + special(0o10, 0o2000, 's', 'S') +
    bit(0o4, 'r') + bit(0o2, 'w') + special(0o1, 0o1000, 't', 'T')
  );
}

/** One line in the shape of `tar tv --numeric-owner --full-time --quoting-style=literal` (TZ=UTC), spaces collapsed. */
function tvLine(h: TarHeader): string {
  const t = new Date(h.mtime * 1000).toISOString().replace('T', ' ').slice(0, 19);
  const name = h.name.toString('latin1') + (h.type === 'symlink' ? ` -> ${h.linkname.toString('latin1')}` : '');
  return `${modeString(h)} ${h.uid}/${h.gid} ${h.size} ${t} ${name}`;
}

function gnuTarListing(path: string): string[] {
  const out = execFileSync('tar', ['tvzf', path, '--numeric-owner', '--full-time', '--quoting-style=literal'], {
    env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return out.toString('latin1').split('\n').filter((l) => l !== '').map((l) => l.replace(/^(\S+) (\S+) +(\S+) /, '$1 $2 $3 '));
}

interface ReadEntry {
  header: TarHeader;
  sha256: string;
}

async function readAll(src: AsyncIterable<Uint8Array>): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const { header, body } of readTar(src)) {
    const h = createHash('sha256');
    let n = 0;
    for await (const c of body) {
      h.update(c);
      n += c.length;
    }
    expect(n).toBe(header.size);
    out.push({ header, sha256: h.digest('hex') });
  }
  return out;
}

function tarFiles(scenario: string): { name: string; path: string; parsed: ParsedName }[] {
  const dir = join(FIXTURES, scenario, 'archive');
  return readdirSync(dir)
    .map((name) => ({ name, path: join(dir, name), parsed: parseFileName(name)! }))
    .filter((f) => f.parsed.kind !== 'manifest');
}

describe('reading the fixture volumes and sigtars', () => {
  for (const scenario of PLAIN_SCENARIOS) {
    it(`${scenario}: entries match GNU tar's listing and every name parses and formats back`, async () => {
      for (const f of tarFiles(scenario)) {
        const entries = await readAll(gunzip(f.path));
        expect(entries.map((e) => tvLine(e.header)), f.name).toEqual(gnuTarListing(f.path));
        const stream = f.parsed.kind === 'volume' ? 'difftar' : 'sigtar';
        for (const { header } of entries) {
          const e = parseEntryName(header.name, stream);
          const back = formatEntryName(e.kind, e.index, { isDir: header.type === 'directory', chunk: e.chunk, stream });
          expect(back.toString('latin1'), f.name).toBe(header.name.toString('latin1'));
        }
      }
    });
  }

  it('plain: the full volume holds exactly the files, dirs and links of expected/0.tsv, with their bytes', async () => {
    const expected = readFileSync(join(FIXTURES, 'plain/expected/0.tsv'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split('\t'));
    const vol = tarFiles('plain').find((f) => f.parsed.type === 'full' && f.parsed.kind === 'volume')!;
    const got: string[][] = [];
    for (const { header, sha256 } of await readAll(gunzip(vol.path))) {
      const { index } = parseEntryName(header.name, 'difftar');
      const path = indexToPath(index).toString('utf8');
      const mode = header.mode.toString(8).padStart(4, '0');
      if (header.type === 'directory') got.push([path, 'dir', mode, '-', '-', '-', String(header.mtime)]);
      else if (header.type === 'symlink') got.push([path, 'symlink', '-', '-', '-', header.linkname.toString('utf8'), '-']);
      else got.push([path, 'file', mode, String(header.size), sha256, '-', String(header.mtime)]);
    }
    // the listing is sorted by path string, the stream by index
    const byPath = (a: string[], b: string[]) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0]));
    expect(got.sort(byPath)).toEqual(expected.sort(byPath));
  });

  it('multivol: volumes form one stream in index order, chunks are consecutive, manifests match each volume', async () => {
    const files = tarFiles('multivol').filter((f) => f.parsed.kind === 'volume');
    const sets = new Map<string, typeof files>();
    for (const f of files) {
      const key = `${f.parsed.type}.${f.parsed.time ?? f.parsed.startTime}.${f.parsed.endTime ?? ''}`;
      sets.set(key, [...(sets.get(key) ?? []), f]);
    }
    const expected0 = readFileSync(join(FIXTURES, 'multivol/expected/0.tsv'), 'utf8').split('\n').map((l) => l.split('\t'));
    let bigFiles = 0;
    for (const vols of sets.values()) {
      vols.sort((a, b) => a.parsed.volume! - b.parsed.volume!);
      const manifestName = vols[0].name.replace(/\.vol\d+\.difftar\.gz$/, '.manifest');
      const manifest = Manifest.parse(readFileSync(join(FIXTURES, 'multivol/archive', manifestName)));
      expect([...manifest.volumes.keys()]).toEqual(vols.map((v) => v.parsed.volume));

      // the set's logical stream: all volumes in order; multivol payloads joined by hashing their chunks
      const stream: { vol: number; kind: string; index: Index; chunk?: number }[] = [];
      const payloads = new Map<string, ReturnType<typeof createHash>>();
      for (const v of vols) {
        for await (const { header, body } of readTar(gunzip(v.path))) {
          const e = parseEntryName(header.name, 'difftar');
          const key = indexToPath(e.index).toString('latin1');
          if (e.chunk !== undefined && e.chunk === 1) payloads.set(key, createHash('sha256'));
          for await (const c of body) if (e.chunk !== undefined) payloads.get(key)!.update(c);
          if (e.chunk !== undefined) expect(header.size).toBeLessThanOrEqual(65536);
          stream.push({ vol: v.parsed.volume!, ...e });
        }
      }
      const sameMultivol = (a: (typeof stream)[number], b: (typeof stream)[number] | undefined) =>
        b !== undefined && a.chunk !== undefined && b.chunk !== undefined && compareIndex(a.index, b.index) === 0;
      for (let i = 1; i < stream.length; i++) {
        const [a, b] = [stream[i - 1], stream[i]];
        if (sameMultivol(a, b)) {
          expect(b.chunk).toBe(a.chunk! + 1);
          expect(b.kind).toBe(a.kind);
        } else {
          expect(compareIndex(a.index, b.index)).toBeLessThan(0);
          if (b.chunk !== undefined) expect(b.chunk).toBe(1);
        }
      }
      // §6.2: a boundary gets a block number only when it is a non-final chunk of a multivol payload
      const blockOf = (i: number) => (sameMultivol(stream[i], stream[i + 1]) ? stream[i].chunk : undefined);
      for (const v of vols) {
        const first = stream.findIndex((e) => e.vol === v.parsed.volume);
        const last = stream.map((e) => e.vol).lastIndexOf(v.parsed.volume!);
        const mv = manifest.volumes.get(v.parsed.volume!)!;
        expect([indexToPath(mv.start).toString(), mv.startBlock, indexToPath(mv.end).toString(), mv.endBlock], v.name).toEqual([
          indexToPath(stream[first].index).toString(), blockOf(first), indexToPath(stream[last].index).toString(), blockOf(last),
        ]);
      }
      if (vols[0].parsed.type === 'full') {
        for (const [path, hash] of payloads) {
          expect(hash.digest('hex'), path).toBe(expected0.find((r) => r[0] === path)![4]);
          bigFiles++;
        }
      }
    }
    expect(bigFiles).toBe(2);
  });
});
