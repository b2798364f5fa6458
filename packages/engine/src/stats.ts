/**
 * The statistics block duplicity prints after every backup (FORMAT.md §12): the counters a backup
 * run collects and their rendering in duplicity 0.8.22's exact layout.
 */

export class BackupStatistics {
  startTime = 0;
  endTime = 0;
  sourceFiles = 0;
  sourceFileSize = 0;
  newFiles = 0;
  newFileSize = 0;
  deletedFiles = 0;
  changedFiles = 0;
  changedFileSize = 0;
  /** Never updated by duplicity 0.8.22; kept so the block has every line. */
  changedDeltaSize = 0;
  rawDeltaSize = 0;
  totalDestinationSizeChange = 0;
  errors = 0;

  get deltaEntries(): number {
    return this.newFiles + this.changedFiles + this.deletedFiles;
  }

  get elapsedTime(): number {
    return this.endTime - this.startTime;
  }

  /** The block with its header and footer lines, each line ending in `\n`. */
  format(): string {
    const header = '--------------[ Backup Statistics ]--------------';
    const lines = [
      header,
      `StartTime ${this.startTime.toFixed(2)} (${asctime(this.startTime)})`,
      `EndTime ${this.endTime.toFixed(2)} (${asctime(this.endTime)})`,
      `ElapsedTime ${this.elapsedTime.toFixed(2)} (${durationString(this.elapsedTime)})`,
      `SourceFiles ${this.sourceFiles}`,
      `SourceFileSize ${this.sourceFileSize} (${byteSummary(this.sourceFileSize)})`,
      `NewFiles ${this.newFiles}`,
      `NewFileSize ${this.newFileSize} (${byteSummary(this.newFileSize)})`,
      `DeletedFiles ${this.deletedFiles}`,
      `ChangedFiles ${this.changedFiles}`,
      `ChangedFileSize ${this.changedFileSize} (${byteSummary(this.changedFileSize)})`,
      `ChangedDeltaSize ${this.changedDeltaSize} (${byteSummary(this.changedDeltaSize)})`,
      `DeltaEntries ${this.deltaEntries}`,
      `RawDeltaSize ${this.rawDeltaSize} (${byteSummary(this.rawDeltaSize)})`,
      `TotalDestinationSizeChange ${this.totalDestinationSizeChange} (${byteSummary(this.totalDestinationSizeChange)})`,
      `Errors ${this.errors}`,
      '-'.repeat(header.length),
    ];
    return lines.map((l) => `${l}\n`).join('');
  }
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** C's asctime of local time, as Python's time.asctime prints it: `Thu Jan  2 03:04:05 2020`. */
export function asctime(epochSeconds: number): string {
  const d = new Date(Math.floor(epochSeconds) * 1000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  return (
    `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ` +
    `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`
  );
}

/**
 * `1 hour 2 minutes 3.50 seconds`, as duplicity renders a (float) elapsed time: zero hours or
 * minutes are left out, and so are seconds below one once a larger unit is shown.
 */
export function durationString(seconds: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds - hours * 3600) / 60);
  const secs = seconds - hours * 3600 - minutes * 60;
  const parts: string[] = [];
  if (hours > 0) parts.push(plural(hours, 'hour'));
  if (minutes > 0) parts.push(plural(minutes, 'minute'));
  if (parts.length === 0 || Math.trunc(secs) !== 0) parts.push(secs === 1 ? '1 second' : `${secs.toFixed(2)} seconds`);
  return parts.join(' ');
}

const UNITS: [number, string][] = [
  [1024 ** 4, 'TB'],
  [1024 ** 3, 'GB'],
  [1024 ** 2, 'MB'],
  [1024, 'KB'],
];

/** Base-1024 size with three significant figures: `2.88 MB`, `12.0 KB`, `100 KB`, `1 byte`. */
export function byteSummary(bytes: number): string {
  const sign = bytes < 0 ? '-' : '';
  const n = Math.abs(bytes);
  for (const [size, unit] of UNITS) {
    if (n >= size) {
      const v = n / size;
      const decimals = v >= 100 ? 0 : v >= 10 ? 1 : 2;
      return `${sign}${v.toFixed(decimals)} ${unit}`;
    }
  }
  return `${sign}${n} ${n === 1 ? 'byte' : 'bytes'}`;
}
