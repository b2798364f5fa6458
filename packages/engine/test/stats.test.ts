import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { BackupStatistics, byteSummary, durationString } from '../src/stats.js';

// asctime() prints local time; pin the zone so the reference and ours agree.
process.env.TZ = 'UTC';

// duplicity's own statistics code is the reference: run it (the Python that /usr/bin/duplicity uses)
// on the same numbers and compare the text.
function duplicityPython(): string {
  const first = execFileSync('head', ['-1', '/usr/bin/duplicity']).toString().trim();
  return first.replace(/^#!\s*/, '').split(/\s+/)[0];
}

function reference(script: string): string {
  return execFileSync(duplicityPython(), ['-c', script], { env: { ...process.env, TZ: 'UTC' } }).toString();
}

const SIZES = [0, 1, 2, 1023, 1024, 1536, 10239, 10240, 12306, 102400, 1048575, 1048576, 2772, 3021521, 3364455, 27933523, 5 * 2 ** 40, -5000];
const DURATIONS = [0, 0.04, 1, 2, 1.8, 26.68, 59.999, 60, 61, 62, 120, 120.5, 3600, 3601, 3660, 3661.5, 7322, 172805];

describe('statistics block', () => {
  it('byte summaries match duplicity', () => {
    const want = reference(
      `from duplicity import statistics as s\nst = s.StatsObj()\nfor v in ${JSON.stringify(SIZES)}: print(st.get_byte_summary_string(v))`,
    );
    expect(SIZES.map(byteSummary).join('\n') + '\n').toBe(want);
  });

  it('the whole block, durations included, matches duplicity', () => {
    const counters = {
      sourceFiles: 17,
      sourceFileSize: 3021521,
      newFiles: 6,
      newFileSize: 12306,
      deletedFiles: 2,
      changedFiles: 2,
      changedFileSize: 3001001,
      rawDeltaSize: 2772,
      totalDestinationSizeChange: 2151,
      errors: 0,
    };
    const start = 1796027355.45;
    const want = reference(
      [
        'from duplicity import statistics as s',
        `for d in ${JSON.stringify(DURATIONS)}:`,
        '  st = s.StatsObj()',
        `  st.StartTime = ${start}; st.EndTime = st.StartTime + d; st.ElapsedTime = st.EndTime - st.StartTime`,
        '  st.SourceFiles = 17; st.SourceFileSize = 3021521; st.NewFiles = 6; st.NewFileSize = 12306',
        '  st.DeletedFiles = 2; st.ChangedFiles = 2; st.ChangedFileSize = 3001001; st.ChangedDeltaSize = 0',
        '  st.DeltaEntries = 10; st.RawDeltaSize = 2772; st.TotalDestinationSizeChange = 2151; st.Errors = 0',
        '  print(st.get_stats_logstring("Backup Statistics"), end="")',
      ].join('\n'),
    );
    const got = DURATIONS.map((d) => {
      const st = Object.assign(new BackupStatistics(), counters);
      st.startTime = start;
      st.endTime = start + d;
      return st.format();
    }).join('');
    expect(got).toBe(want);
  });

  it('the spec example (FORMAT.md §12) renders exactly', () => {
    expect(durationString(0.04)).toBe('0.04 seconds');
    expect(byteSummary(3021521)).toBe('2.88 MB');
    expect(byteSummary(12306)).toBe('12.0 KB');
    expect(byteSummary(0)).toBe('0 bytes');
  });
});
