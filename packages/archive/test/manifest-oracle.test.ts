/** Manifest.parse against the real duplicity 0.8.22's manifest reader, on generated manifests. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DUPLICITY_PYTHON } from './environment.js';
import { Manifest, compareIndex, indexToPath, quoteManifestPath, volumeMayContain } from '@duplicity-ts/archive';

const ORACLE = fileURLToPath(new URL('./duplicity-manifest-oracle.py', import.meta.url));
const WRITER_ORACLE = fileURLToPath(new URL('./duplicity-manifest-writer-oracle.py', import.meta.url));
const CONTAINS_ORACLE = fileURLToPath(new URL('./duplicity-volume-contains-oracle.py', import.meta.url));
const RUNS = Number(process.env.ARCHIVE_FUZZ_RUNS ?? 400) / 2;

// Path components: plain, with bytes that need quoting, non-ASCII and non-UTF-8 (never '/' or NUL).
const component = fc.oneof(
  fc.constantFrom('a', 'big.bin', 'dir1', 'x y', `q"'\\`, 'tab\there', 'nl\nx', 'é', '\xa0nbsp', 'bad\xff', '..a', 'Volume'),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 8 }),
).map((s) => Buffer.from(s.replace(/[/\0]/g, '_'), 'latin1'));
const index = fc.array(component, { maxLength: 3 });
const ws = fc.constantFrom(' ', '  ', '\t', ' \t ');
const key = (k: string) => fc.constantFrom(k, k.toLowerCase(), k.toUpperCase());
const line = (parts: (string | Buffer)[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));
const pathLine = (k: string) =>
  fc.tuple(fc.constantFrom('    ', ' ', ''), key(k), ws, index, fc.option(fc.integer({ min: 0, max: 99 }), { nil: undefined }), fc.constantFrom('', ' ', '  '))
    .map(([lead, kk, w, idx, block, trail]) => line([lead, kk, w, quoteManifestPath(indexToPath(idx)), block === undefined ? trail : ` ${block}${trail}`, '\n']));
const hashLine = fc
  .tuple(key('Hash'), fc.constantFrom('SHA1', 'MD5', 'sha1', 'SHA256'), fc.constantFrom('a'.repeat(40), 'b'.repeat(32), 'C'.repeat(40)))
  .map(([k, t, h]) => line(['    ', k, ' ', t, ' ', h, '\n']));
const volume = fc
  .tuple(key('Volume'), fc.integer({ min: 1, max: 5 }), pathLine('StartingPath'), pathLine('EndingPath'), fc.array(hashLine, { maxLength: 3 }), fc.boolean())
  .map(([k, n, s, e, hashes, endFirst]) => line([`${k} ${n}:\n`, ...(endFirst ? [e, s] : [s, e]), ...hashes]));
const manifestText = fc
  .tuple(
    fc.option(fc.tuple(key('Hostname'), ws, fc.constantFrom('vm', 'host.example.org', 'h-1')), { nil: undefined }),
    fc.option(fc.tuple(key('Localdir'), ws, index), { nil: undefined }),
    fc.array(volume, { minLength: 1, maxLength: 6 }),
    fc.option(fc.array(fc.tuple(fc.constantFrom('new', 'changed', 'deleted'), index), { maxLength: 3 }), { nil: undefined }),
  )
  .map(([host, local, vols, files]) =>
    line([
      host ? `${host[0]}${host[1]}${host[2]}\n` : '',
      local ? line([local[0], local[1], quoteManifestPath(indexToPath(local[2])), '\n']) : '',
      ...vols,
      files ? line([`Filelist ${files.length}\n`, ...files.map(([t, i]) => line([`    ${t.padEnd(7)}  `, quoteManifestPath(indexToPath(i)), '\n']))]) : '',
    ]),
  );

describe.skipIf(!DUPLICITY_PYTHON)('manifests agree with duplicity 0.8.22', () => {
  it(`reads ${RUNS} generated manifests as duplicity does (repeats, case, quoting, blocks, hash preference)`, () => {
    const texts = fc.sample(manifestText, { numRuns: RUNS });
    const want = JSON.parse(execFileSync(DUPLICITY_PYTHON!, [ORACLE], { input: JSON.stringify(texts.map((t) => t.toString('hex'))), maxBuffer: 1 << 26 }).toString());
    const hex = (b: Buffer) => b.toString('hex');
    for (let i = 0; i < texts.length; i++) {
      if (want[i].crash) {
        // duplicity fails on it (e.g. a non-numeric block); so must we, with a clear error
        expect(() => Manifest.parse(texts[i]), `duplicity: ${want[i].crash}\n${texts[i].toString('latin1')}`).toThrow(expect.objectContaining({ exitCode: 6 }));
        continue;
      }
      const m = Manifest.parse(texts[i]);
      const got = {
        hostname: m.hostname ?? null,
        localdir: m.localdir ? hex(m.localdir) : null,
        volumes: [...m.volumes.values()].sort((a, b) => a.number - b.number).map((v) => ({
          number: v.number, start: v.start.map(hex), startBlock: v.startBlock ?? null, end: v.end.map(hex), endBlock: v.endBlock ?? null,
          hash: v.hash ? [v.hashType, v.hash] : null,
        })),
      };
      expect(got, texts[i].toString('latin1')).toEqual(want[i]);
    }
  });

  it(`writes volume entries as duplicity does, for ${RUNS} volumes with any byte in their paths`, () => {
    // Any bytes a file name can hold: not '/' or NUL, and not the names '.' or '..' (no directory entry
    // has them; a lone '.' is how a manifest writes the root, so it could not round-trip anyway).
    const anyComponent = fc
      .uint8Array({ minLength: 1, maxLength: 6 })
      .map((a) => Buffer.from(a.map((c) => (c === 0x2f || c === 0 ? 0x20 : c))))
      .filter((b) => b.toString('latin1') !== '.' && b.toString('latin1') !== '..');
    const vols = fc.sample(
      fc.record({
        number: fc.integer({ min: 1, max: 300 }),
        start: fc.array(anyComponent, { maxLength: 3 }),
        startBlock: fc.option(fc.integer({ min: 1, max: 5000 }), { nil: undefined }),
        end: fc.array(anyComponent, { maxLength: 3 }),
        endBlock: fc.option(fc.integer({ min: 1, max: 5000 }), { nil: undefined }),
        hash: fc.option(fc.constantFrom('3e2c973fed78d2f45dc97db70032e196bac10548', 'f'.repeat(40)), { nil: undefined }),
      }),
      { numRuns: RUNS },
    );
    const input = JSON.stringify(vols.map((v) => ({ ...v, start: v.start.map((c) => c.toString('hex')), end: v.end.map((c) => c.toString('hex')), startBlock: v.startBlock ?? null, endBlock: v.endBlock ?? null, hash: v.hash ?? null })));
    const want = JSON.parse(execFileSync(DUPLICITY_PYTHON!, [WRITER_ORACLE], { input, maxBuffer: 1 << 26 }).toString()) as string[];
    for (let i = 0; i < vols.length; i++) {
      const m = new Manifest();
      const { hash, ...v } = vols[i];
      m.volumes.set(v.number, hash ? { ...v, hashType: 'SHA1', hash } : v);
      expect(m.toBuffer().toString('latin1')).toBe(Buffer.from(want[i], 'hex').toString('latin1'));
      expect(Manifest.parse(m.toBuffer()).volumes.get(v.number)).toEqual(m.volumes.get(v.number));
    }
  });

  it(`volumeMayContain picks the volumes duplicity reads for a restore prefix (${RUNS * 5} cases)`, () => {
    // a small alphabet, so that prefixes, equal components and a/b vs a-b orderings are frequent
    const idx = fc.array(fc.constantFrom('a', 'b', 'a-b', 'c').map((s) => Buffer.from(s)), { maxLength: 3 });
    const cases = fc.sample(
      fc.tuple(idx, idx, idx).map(([x, y, p]) => (compareIndex(x, y) <= 0 ? [x, y, p] : [y, x, p])),
      { numRuns: RUNS * 5 },
    );
    const hex = (i: Buffer[]) => i.map((c) => c.toString('hex'));
    const want = JSON.parse(execFileSync(DUPLICITY_PYTHON!, [CONTAINS_ORACLE], { input: JSON.stringify(cases.map((c) => c.map(hex))) }).toString()) as boolean[];
    const got = cases.map(([start, end, prefix]) => volumeMayContain({ start, end }, prefix));
    const show = (i: Buffer[]) => indexToPath(i).toString();
    const diff = cases.filter((_, i) => got[i] !== want[i]).map(([s, e, p]) => `${show(s)}..${show(e)} ∋ ${show(p)}`);
    expect(diff).toEqual([]);
    expect(want.filter(Boolean).length).toBeGreaterThan(RUNS / 2);
  });
});
