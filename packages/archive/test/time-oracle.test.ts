/**
 * parseTimeArg and parseTimeString against the real duplicity 0.8.22's time parser, in several time
 * zones (with and without DST, north and south, non-whole-hour offsets).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DUPLICITY_PYTHON } from './environment.js';
import { parseTimeArg, parseTimeString } from '@duplicity-ts/archive';

const ORACLE = fileURLToPath(new URL('./duplicity-time-oracle.py', import.meta.url));

const ARGS = [
  'now', '1700000000', '0', '10', '20010423', '9999999999999', '-5', ' now', 'NOW', '',
  '20261130T082800Z', '20261130t082800z', '20261130T082800', '20261130T242800Z',
  '2002-04-26T04:22:01-07:00', '2002-04-26T04:22:01Z', '2002-04-26T04:22:01', '2002-01-26T04:22:01',
  '2026-11-30T08:28:00+05:30', '2004-04-04T04:04:04-00:00', '2001-04-23T00:00:00-0500', '2026-11-30 08:28:00',
  '2000-12-31T23:59:60Z', '2000-12-31T23:59:61Z', '2000-12-31T23:59:62Z', '2001-02-31T00:00:00Z',
  '3D', '2h30m', '3D2h', '1W', '1M', '1Y10s', '0D', '1s1s', '1m1M', '3d', '3D2', '1h 2m', '1.5h',
  '2001-04-23', '2001/4/23', '2001/04/23', '4/23/2001', '4-23-2001', '04/23/2001', '20010423Z', '2001-4-3',
  '2001-04/23', '4-23/2001', '2001-07-01', '2001-01-01', '12/31/1999', '2099-12-31', '1900-01-01', '2001-13-01',
  '2001-02-30', '2000-02-29', '4/3/01', '2001/04/23Z', '2001-04-23Z', 'yesterday',
];
const NAMES = [
  '20261130T082734Z', '20261130t082734z', '2005-03-10T13:40:45-07:00', '2005-03-10t13:40:45z', '2005-03-10T13:40:45',
  '2005-03-10T13:40:45+7:00', '20261130T242734Z', '19000101T000000Z', 'garbage', '2026-11-30T08:29:43Z',
  '20261130T082800', '2001-04-23', '4/23/2001', '20010423z', '1234567890', '2005-03-10T13:40:45-07:00X',
];

describe.skipIf(!DUPLICITY_PYTHON)('time strings agree with duplicity 0.8.22', () => {
  for (const tz of ['UTC', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata', 'Europe/London']) {
    it(`in ${tz}`, () => {
      const now = 1796027254;
      const input = JSON.stringify({ now, args: ARGS, names: NAMES });
      const want = JSON.parse(execFileSync(DUPLICITY_PYTHON!, [ORACLE], { input, env: { ...process.env, TZ: tz } }).toString()) as {
        args: (number | null)[];
        names: (number | null)[];
      };
      const saved = process.env.TZ;
      process.env.TZ = tz;
      try {
        const got = ARGS.map((s) => {
          try {
            return parseTimeArg(s, now);
          } catch {
            return null;
          }
        });
        expect(Object.fromEntries(ARGS.map((s, i) => [s, got[i]]))).toEqual(Object.fromEntries(ARGS.map((s, i) => [s, want.args[i]])));
        expect(Object.fromEntries(NAMES.map((s) => [s, parseTimeString(s)]))).toEqual(Object.fromEntries(NAMES.map((s, i) => [s, want.names[i]])));
      } finally {
        process.env.TZ = saved;
      }
    });
  }
});
