/**
 * Uploads finished files while the next volume is being built (FORMAT.md §11.8 order is kept: a
 * file is handed over only after the previous ones, and `drain` waits for all). At most
 * `concurrency` uploads run at once, which also bounds the temp files on disk.
 */
import { rm } from 'node:fs/promises';
import type { Backend } from '@duplicity-ts/backends';

export class Uploader {
  private readonly inFlight = new Set<Promise<void>>();
  private failure?: unknown;

  constructor(
    private readonly backend: Backend,
    private readonly concurrency = 1,
    /** Settles before the first upload starts; its failure is every enqueue's (WriteSetOptions.ready). */
    private readonly ready?: Promise<void>,
  ) {}

  /** Starts uploading `file` as `name`; waits first for `ready`, and while `concurrency` uploads are running. */
  async enqueue(name: string, file: string, size: number, keepLocal = false): Promise<void> {
    await this.ready;
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    this.throwIfFailed();
    const p = this.upload(name, file, size, keepLocal).then(
      () => {
        this.inFlight.delete(p);
      },
      (err) => {
        this.inFlight.delete(p);
        this.failure ??= err;
      },
    );
    this.inFlight.add(p);
  }

  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private async upload(name: string, file: string, size: number, keepLocal: boolean): Promise<void> {
    try {
      // A file not kept locally may be moved into place rather than copied (file:// links it).
      await this.backend.put(name, file, { consume: !keepLocal });
    } catch (err) {
      const e = err as { exitCode?: number; message?: string };
      throw Object.assign(new Error(`failed to upload ${name}: ${e.message ?? String(err)}`), {
        exitCode: typeof e.exitCode === 'number' ? e.exitCode : 50,
      });
    }
    // duplicity compares the remote size with the local one when the backend can tell (§11.8).
    const remote = await this.backend.stat(name).catch(() => null);
    if (remote && remote.size !== size) {
      throw Object.assign(new Error(`uploaded file ${name} has size ${remote.size}, expected ${size}`), { exitCode: 44 });
    }
    if (!keepLocal) await rm(file, { force: true });
  }
}
