/** parseFileName against the real duplicity 0.8.22's classifier, on hand-picked and generated names. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DUPLICITY_PYTHON, FIXTURES } from './environment.js';
import { parseFileName, type NamePrefixes } from '@duplicity-ts/archive';

const ORACLE = fileURLToPath(new URL('./duplicity-name-oracle.py', import.meta.url));
const RUNS = Number(process.env.ARCHIVE_FUZZ_RUNS ?? 400);

function oracle(names: string[], prefixes: NamePrefixes, short: boolean): unknown[] {
  const input = JSON.stringify({ prefixes, short, names });
  return JSON.parse(execFileSync(DUPLICITY_PYTHON!, [ORACLE], { input, env: { ...process.env, TZ: 'UTC' }, maxBuffer: 1 << 26 }).toString());
}

const HAND = [
  'duplicity-full.20261130T082734Z.vol1.difftar.gz', 'duplicity-full.20261130T082734Z.vol1.difftar.gz.part',
  'duplicity-full.20261130T082734Z.vol12.difftar.xyz', 'duplicity-full.20261130t082734z.vol1.difftar',
  'duplicity-full.1234567890.vol1.difftar', 'duplicity-full.2005-03-10T13:40:45-07:00.vol1.difftar.gpg',
  'duplicity-full.20261130T082734Z.manifest.part', 'duplicity-full.20261130T082734Z.manifest.gpg',
  'duplicity-inc.20261130T082734Z.to.20261130T082915Z.manifest', 'duplicity-inc.20261130T082734Z.to.20261130T082915Z.vol3.difftar.gpg',
  'duplicity-new-signatures.20261130T082734Z.to.20261130T082915Z.sigtar.part', 'duplicity-full-signatures.20261130T082734Z.sigtar.gz',
  'df.tpb3lj.1.dt.z', 'df.tpb3lj.m', 'dfs.tpb3lj.st.z', 'di.tpb3lj.tpb3m0.a.dt.g', 'dns.tpb3lj.tpb3m0.st.p', 'df.tpb3lj.m.p',
  'lockfile', '.duplicity-full.20261130T082734Z.vol1.difftar.gz.part', 'duplicity-full.20261130T082734Z.vol1.difftarX',
  'duplicity-full.garbage.vol1.difftar.gz', 'duplicity-full.0.manifest', 'duplicity-full.20261130T082734Z.volx.difftar',
  'duplicity-inc.20261130T082734Z.manifest', 'xduplicity-full.20261130T082734Z.manifest', 'duplicity-full.20261130T082734Z.manifestx',
  'duplicity-full-signatures.20261130T082734Z.sigtarx', 'P_A_duplicity-full.20261130T082734Z.vol1.difftar.gz', 'README',
  'duplicity-full.20261130T082734Z.manifest.gz', 'duplicity-full.20261130T082734Z.vol1.difftar.gpg.gz',
  'duplicity-full.20261130T082734Z.vol1.difftar.gz.gpg', 'duplicity-full.20261130T082734Z.vol1.difftar.', 'duplicity-full..vol1.difftar',
];

const fixtureNames = () => readdirSync(FIXTURES).flatMap((s) => readdirSync(join(FIXTURES, s, 'archive')));

// Names built from the pieces of real names, so that many of them are valid or nearly so.
const piece = {
  prefix: fc.constantFrom('', '', '', 'P_', 'A_', 'M_', 'S_', 'P_A_', 'P_M_', 'P_S_', 'x'),
  time: fc.constantFrom('20261130T082734Z', '20261130T082915Z', '20261130t082734z', '1234567890', '0', 'tpb3lj', 'tpb3m0',
    '2005-03-10T13:40:45-07:00', '2005-03-10T13:40:45Z', '2005-03-10T13:40:45', 'bogus', '', '20261130T082734Z.x', '99991130T082734Z'),
  vol: fc.constantFrom('1', '12', '0', 'a', 'z', '01', ''),
  suffix: fc.array(fc.constantFrom('.gz', '.gpg', '.part', '.z', '.g', '.p', '.xyz', 'gz', 'x', '.'), { maxLength: 3 }).map((a) => a.join('')),
};
const generated = fc.oneof(
  fc.tuple(piece.prefix, fc.constantFrom('duplicity-full', 'duplicity-full-signatures', 'df', 'dfs'), piece.time, fc.constantFrom('vol', 'manifest', 'sigtar', 'm', 'st', ''), piece.vol, fc.constantFrom('difftar', 'dt', ''), piece.suffix)
    .map(([p, k, t, what, v, dt, suf]) => `${p}${k}.${t}.${what === 'vol' ? `vol${v}.${dt}` : what === '' ? `${v}.${dt}` : what}${suf}`),
  fc.tuple(piece.prefix, fc.constantFrom('duplicity-inc', 'duplicity-new-signatures', 'di', 'dns'), piece.time, fc.constantFrom('.to.', '.'), piece.time, fc.constantFrom('vol', 'manifest', 'sigtar', 'm', 'st', ''), piece.vol, fc.constantFrom('difftar', 'dt', ''), piece.suffix)
    .map(([p, k, t1, to, t2, what, v, dt, suf]) => `${p}${k}.${t1}${to}${t2}.${what === 'vol' ? `vol${v}.${dt}` : what === '' ? `${v}.${dt}` : what}${suf}`),
);

describe.skipIf(!DUPLICITY_PYTHON)('file names agree with duplicity 0.8.22', () => {
  const cases: [string, NamePrefixes, boolean][] = [
    ['no prefixes', {}, false],
    ['prefixes', { file: 'P_', archive: 'A_', manifest: 'M_', signature: 'S_' }, false],
    ['a file prefix alone', { file: 'x-y_' }, false],
    ['short mode', {}, true],
  ];
  for (const [what, prefixes, short] of cases) {
    it(`${what}: hand-picked, fixture and ${RUNS} generated names`, () => {
      const gen = fc.sample(generated, { numRuns: RUNS });
      const kindPrefix = (n: string) => {
        const own = /\.(vol|[0-9a-z]+\.dt)/.test(n) ? prefixes.archive : /manifest|\.m(\.|$)/.test(n) ? prefixes.manifest : prefixes.signature;
        return (prefixes.file ?? '') + (own ?? '');
      };
      const fixtures = fixtureNames();
      const names = [
        ...HAND, ...fixtures, ...fixtures.map((n) => kindPrefix(n) + n), ...fixtures.map((n) => 'P_A_' + n),
        ...gen, ...gen.map((n) => kindPrefix(n) + n),
      ];
      // where duplicity itself fails on a name, we ignore it
      const want = oracle(names, prefixes, short).map((w) => (w === 'crash' ? null : w));
      const saved = process.env.TZ;
      process.env.TZ = 'UTC'; // the oracle's zone: zoneless times are local standard time on both sides
      const got = names.map((n) => parseFileName(n, prefixes, { short }));
      process.env.TZ = saved;
      const diff = names.filter((_, i) => JSON.stringify(got[i]) !== JSON.stringify(want[i]) && !isEqual(got[i], want[i]));
      expect(diff.map((n) => [n, got[names.indexOf(n)], want[names.indexOf(n)]])).toEqual([]);
      expect(want.filter((w) => w !== null).length).toBeGreaterThan(short ? 5 : 60);
    });
  }
});

function isEqual(a: unknown, b: unknown): boolean {
  try {
    expect(a).toEqual(b);
    return true;
  } catch {
    return false;
  }
}
