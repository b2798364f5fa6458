/**
 * The signature tar of a backup set (FORMAT.md §5.1), written plain to a local file (the
 * archive dir's `.sigtar.part`, §11.8). A regular file's signature is streamed while the file is
 * read, so its header is written first with the length the file's stat size predicts and patched
 * in place if the file turned out to have another length: memory stays bounded whatever the size.
 *
 * With `gzipCopy`, the bytes are also gzipped (as the archive dir's `.sigtar.gz` is) while they are
 * written: gzipping the finished file took a serial ~0.3 s at the end of a 1 GiB full backup, after
 * the last volume, where this overlaps with the backup. `remoteCopy` does the same for the backend's
 * copy of an encrypted set (its OpenPGP encryption took another serial ~0.25 s there). A header
 * patched after its bytes were flushed makes the copies stale; `gzipCopyPath` and `remoteCopyFile`
 * then say so and the caller encodes the file instead.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { type ClosedFile, VolumeFile, type VolumeEncoding } from './volume-file.js';

const BUFFER_SIZE = 1 << 20;
const RECORD = 10240;

export class SigtarWriter {
  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    private gz?: VolumeFile,
    private remote?: VolumeFile,
  ) {}
  private gzDone = false;
  private remoteClosed?: ClosedFile;
  private buf = Buffer.allocUnsafe(BUFFER_SIZE);
  private bufLen = 0;
  /** File offset of buf[0]. */
  private bufStart = 0;
  private payloadLen = 0;

  static async create(path: string, o: { gzipCopy?: string; remoteCopy?: { path: string; encoding: VolumeEncoding } } = {}): Promise<SigtarWriter> {
    return new SigtarWriter(
      await open(path, 'w'),
      path,
      o.gzipCopy ? new VolumeFile(o.gzipCopy, { kind: 'gzip' }) : undefined,
      o.remoteCopy ? new VolumeFile(o.remoteCopy.path, o.remoteCopy.encoding) : undefined,
    );
  }

  /** After `finish`: the gzipped copy's path, unless there was none or it went stale. */
  get gzipCopyPath(): string | undefined {
    return this.gzDone ? this.gz?.path : undefined;
  }

  /** After `finish`: the backend's copy, unless there was none or it went stale. */
  get remoteCopyFile(): ClosedFile | undefined {
    return this.remoteClosed;
  }

  /** Writes file bytes at `position` (the end, but for header patches) and to the copies. */
  private async put(data: Uint8Array, position: number): Promise<void> {
    await this.fh.write(data, 0, data.length, position);
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (this.gz) await this.gz.write(bytes);
    if (this.remote) await this.remote.write(bytes);
  }

  /** Stops writing a copy (`gz` or `remote`) and removes its file. */
  private async dropCopy(which: 'gz' | 'remote'): Promise<void> {
    const copy = this[which];
    if (!copy) return;
    this[which] = undefined;
    copy.abort();
    await rm(copy.path, { force: true });
  }

  get position(): number {
    return this.bufStart + this.bufLen;
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.bufLen + data.length > BUFFER_SIZE) await this.flush();
    if (data.length >= BUFFER_SIZE) {
      await this.put(data, this.bufStart);
      this.bufStart += data.length;
      return;
    }
    this.buf.set(data, this.bufLen);
    this.bufLen += data.length;
  }

  /**
   * Lets `fill` write bytes straight into the write buffer at `at`, with at least `room` bytes
   * free there (up to `buf.length - at`); `fill` returns how many it wrote, or 0 to write nothing
   * (the caller then writes another way). Synchronous unless the buffer must be flushed first: a
   * small file's whole entry (header, signature, padding) costs no allocation and no await.
   * Returns whether anything was written; false at once when `room` exceeds the buffer.
   */
  inPlace(room: number, fill: (buf: Buffer, at: number) => number): boolean | Promise<boolean> {
    if (room > BUFFER_SIZE) return false;
    if (this.bufLen + room > BUFFER_SIZE) return this.flush().then(() => this.fillNow(fill));
    return this.fillNow(fill);
  }

  private fillNow(fill: (buf: Buffer, at: number) => number): boolean {
    const n = fill(this.buf, this.bufLen);
    this.bufLen += n;
    return n > 0;
  }

  /** An entry without payload (snapshot/ of a non-regular item, deleted/). */
  async addEntry(header: Buffer): Promise<void> {
    await this.write(header);
  }

  /**
   * Starts an entry whose payload follows through `payload()`; returns the header's offset for
   * `endPayload`, which pads the payload and patches the header when the length differs.
   */
  async beginPayload(header: Buffer): Promise<number> {
    const at = this.position;
    await this.write(header);
    this.payloadLen = 0;
    return at;
  }

  async payload(data: Uint8Array): Promise<void> {
    this.payloadLen += data.length;
    await this.write(data);
  }

  /** Pads the payload; `reencode(actualLength)` gives the header again when the length was not the predicted one. */
  async endPayload(headerAt: number, predicted: number, reencode: (actual: number) => Buffer): Promise<void> {
    const actual = this.payloadLen;
    const pad = (512 - (actual % 512)) % 512;
    if (pad) await this.write(Buffer.alloc(pad));
    if (actual === predicted) return;
    const fixed = reencode(actual);
    const oldLen = reencode(predicted).length;
    if (fixed.length !== oldLen) {
      throw new Error(`signature header size changed while patching (${oldLen} -> ${fixed.length} bytes)`);
    }
    if (headerAt >= this.bufStart) fixed.copy(this.buf, headerAt - this.bufStart);
    else {
      await this.flush();
      await this.fh.write(fixed, 0, fixed.length, headerAt);
      await this.dropCopy('gz');
      await this.dropCopy('remote');
    }
  }

  private async flush(): Promise<void> {
    if (this.bufLen === 0) return;
    await this.put(this.buf.subarray(0, this.bufLen), this.bufStart);
    this.bufStart += this.bufLen;
    this.bufLen = 0;
  }

  /** Two zero blocks, zero padding to a 10240-byte record, then sync and close. Returns the size. */
  async finish(): Promise<number> {
    await this.write(Buffer.alloc(1024));
    const rest = (RECORD - (this.position % RECORD)) % RECORD;
    if (rest) await this.write(Buffer.alloc(rest));
    await this.flush();
    const size = this.bufStart;
    await this.fh.sync();
    await this.fh.close();
    // A copy that fails to close is dropped: the caller encodes the file instead.
    const [gz, remote] = await Promise.allSettled([this.gz?.close(), this.remote?.close()]);
    if (this.gz) {
      if (gz.status === 'fulfilled') this.gzDone = true;
      else await this.dropCopy('gz');
    }
    if (this.remote) {
      if (remote.status === 'fulfilled') this.remoteClosed = remote.value;
      else await this.dropCopy('remote');
    }
    return size;
  }

  /**
   * Writes out what is buffered and returns the fsync of everything written so far, which may run while
   * writing goes on (after each volume, §11.8; set-writer.ts says why it does not wait).
   */
  async flushForSync(): Promise<() => Promise<void>> {
    await this.flush();
    return () => this.fh.sync();
  }

  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await this.dropCopy('gz').catch(() => undefined);
    await this.dropCopy('remote').catch(() => undefined);
  }
}
