/**
 * One backup set (FORMAT.md §11.1): the volumes, manifest and signature file that one backup run
 * wrote, grouped by type and time(s) from their names.
 */
import type { ParsedName } from '@duplicity-ts/archive';

export type SetType = 'full' | 'inc';

/** A backend or cache file name with what its name says. */
export interface NamedFile {
  name: string;
  parsed: ParsedName;
}

export class BackupSet {
  readonly type: SetType;
  /** Full: the backup time; inc: the time of the set it extends. */
  readonly startTime: number;
  /** Full: the backup time; inc: this backup's time. */
  readonly endTime: number;
  /** Remote volume files by number. */
  readonly volumes = new Map<number, NamedFile>();
  /** The remote manifest, when there is one. */
  remoteManifest?: NamedFile;
  /** A local `.manifest.part` from an interrupted backup (§11.9). */
  localPartialManifest?: NamedFile;

  constructor(type: SetType, startTime: number, endTime: number) {
    this.type = type;
    this.startTime = startTime;
    this.endTime = endTime;
  }

  static keyOf(p: ParsedName): string | null {
    if (p.type === 'full' || p.type === 'full-sig') return p.time !== undefined ? `full:${p.time}` : null;
    return p.startTime !== undefined && p.endTime !== undefined ? `inc:${p.startTime}:${p.endTime}` : null;
  }

  static fromParsed(p: ParsedName): BackupSet {
    return p.type === 'full' ? new BackupSet('full', p.time!, p.time!) : new BackupSet('inc', p.startTime!, p.endTime!);
  }

  get key(): string {
    return this.type === 'full' ? `full:${this.startTime}` : `inc:${this.startTime}:${this.endTime}`;
  }

  /** Complete: it has a manifest (a local partial one makes it a partial set). */
  get complete(): boolean {
    return this.remoteManifest !== undefined || this.localPartialManifest !== undefined;
  }

  get partial(): boolean {
    return this.remoteManifest === undefined && this.localPartialManifest !== undefined;
  }

  get encrypted(): boolean {
    const any = this.remoteManifest ?? [...this.volumes.values()][0];
    return any?.parsed.encrypted ?? false;
  }

  /** Every remote file of the set: volumes in order, then the manifest. */
  get remoteNames(): string[] {
    const names = [...this.volumes.keys()].sort((a, b) => a - b).map((n) => this.volumes.get(n)!.name);
    if (this.remoteManifest) names.push(this.remoteManifest.name);
    return names;
  }

  add(f: NamedFile): void {
    const p = f.parsed;
    if (p.kind === 'volume') {
      if (p.volume === undefined) return;
      const had = this.volumes.get(p.volume);
      if (had && had.name !== f.name) {
        throw Object.assign(new Error(`two files for volume ${p.volume} of one backup set: ${had.name} and ${f.name}`), {
          exitCode: 30,
        });
      }
      this.volumes.set(p.volume, f);
    } else if (p.kind === 'manifest') {
      if (p.partial) this.localPartialManifest = f;
      else this.remoteManifest = f;
    }
  }
}
