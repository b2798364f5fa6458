/**
 * The difftar stream of one backup set cut into volumes (FORMAT.md §4.5-4.6): whole tar entries
 * are appended greedily; before each entry, the volume is closed when fewer than 64 KiB of room
 * are left under --volsize (measured on the bytes written to the volume file). Each closed volume
 * gets its manifest entry (index range, chunk numbers of split payloads, SHA1) and is handed to
 * the uploader while the next one is built.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Index, ManifestVolume } from '@duplicity-ts/archive';
import { VolumeFile, type VolumeEncoding } from './volume-file.js';
import type { Uploader } from './uploader.js';
import type { ResumePoint } from './resume.js';

/** One tar entry of the difftar: header bytes, payload, and where it sits in the index order. */
export interface DifftarEntry {
  header: Buffer;
  payload?: Buffer;
  index: Index;
  /** Chunk number of a multivol payload piece. */
  chunk?: number;
  /** A multivol piece that is not the last (the manifest records its chunk number at a boundary). */
  moreChunks?: boolean;
}

export interface VolumeWriterOptions {
  volsize: number;
  encoding: VolumeEncoding;
  tempDir: string;
  /** The backend name of volume n. */
  nameOf(n: number): string;
  /** null in --dry-run: nothing is uploaded. */
  uploader: Uploader | null;
  onVolume(v: ManifestVolume, size: number): void | Promise<void>;
  /** Continuing a partial set (resume.ts): the entries its kept volumes hold are dropped, numbering goes on after them. */
  resume?: Pick<ResumePoint, 'afterVolume' | 'holds'>;
}

const ZERO = Buffer.alloc(512);
const ROOM = 65536;

export class VolumeWriter {
  private current?: VolumeFile;
  private number = 0;
  private first?: DifftarEntry;
  private last?: DifftarEntry;
  private readonly limit: number;

  constructor(private readonly o: VolumeWriterOptions) {
    this.limit = o.volsize - ROOM;
    this.number = o.resume?.afterVolume ?? 0;
  }

  get volumeCount(): number {
    return this.number;
  }

  /**
   * Appends one entry. Synchronous, without a promise, when it fits in the current volume's block
   * (most small files): a promise per header, payload and padding showed in small-file backups.
   */
  add(e: DifftarEntry): Promise<void> | undefined {
    if (this.o.resume?.holds(e)) return undefined;
    const vol = this.current;
    // While the compressor still holds input, its size counts as if stored: volumes may come out
    // smaller than --volsize, never larger by more than an entry.
    if (!vol || vol.projectedSize >= this.limit) return this.addToNextVolume(e);
    return this.append(vol, e);
  }

  private async addToNextVolume(e: DifftarEntry): Promise<void> {
    if (this.current) await this.closeVolume();
    await this.append(this.openVolume(), e);
  }

  private append(vol: VolumeFile, e: DifftarEntry): Promise<void> | undefined {
    this.first ??= e;
    this.last = e;
    const wrote = vol.write(e.header);
    return wrote ? wrote.then(() => this.appendPayload(vol, e)) : this.appendPayload(vol, e);
  }

  private appendPayload(vol: VolumeFile, e: DifftarEntry): Promise<void> | undefined {
    if (!e.payload || e.payload.length === 0) return undefined;
    const pad = (512 - (e.payload.length % 512)) % 512;
    const wrote = vol.write(e.payload);
    if (pad === 0) return wrote;
    return wrote ? wrote.then(() => vol.write(ZERO.subarray(0, pad))) : vol.write(ZERO.subarray(0, pad));
  }

  /**
   * Closes the last volume; a set with no entries still gets one empty volume (§6.2). A resumed
   * set whose entries all were in its kept volumes gets none.
   */
  async finish(): Promise<void> {
    if (!this.current && this.number === 0) this.openVolume();
    if (this.current) await this.closeVolume();
  }

  abort(): void {
    this.current?.abort();
  }

  private openVolume(): VolumeFile {
    this.number++;
    this.first = undefined;
    this.last = undefined;
    // Blocks small enough that small --volsize values still cut close to the size asked for.
    const blockSize = Math.min(1 << 20, Math.max(1 << 16, 2 ** Math.floor(Math.log2(this.o.volsize / 8))));
    this.current = new VolumeFile(path.join(this.o.tempDir, `vol${this.number}.tmp`), this.o.encoding, { blockSize });
    return this.current;
  }

  private async closeVolume(): Promise<void> {
    const vol = this.current!;
    this.current = undefined;
    const closed = await vol.close();
    const boundaryBlock = (e: DifftarEntry | undefined) => (e?.moreChunks ? e.chunk : undefined);
    const mv: ManifestVolume = {
      number: this.number,
      start: this.first?.index ?? [],
      startBlock: boundaryBlock(this.first),
      end: this.last?.index ?? [],
      endBlock: boundaryBlock(this.last),
      hashType: 'SHA1',
      hash: closed.sha1,
    };
    if (this.o.uploader) await this.o.uploader.enqueue(this.o.nameOf(this.number), closed.path, closed.size);
    else await rm(closed.path, { force: true });
    await this.o.onVolume(mv, closed.size);
  }
}
