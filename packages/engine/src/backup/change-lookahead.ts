/**
 * Reading the change stream ahead of the set writer, so that the deltas of big changed files can
 * start on worker threads (rsync's DeltaWorkers) while earlier entries are still being written:
 * the entries must reach the volumes in index order, but nothing stops the walk, the change
 * detection and the deltas from running ahead. Unchanged entries write nothing and are handed to
 * `onUnchanged` at once; the rest wait in a queue bounded by entries and by started jobs.
 */
import type { Change } from './change-detector.js';

export interface Ahead<J> {
  change: Change;
  /** Started by `start` when the change was read. */
  job?: J;
}

export interface LookaheadOptions<J> {
  /** Changes waiting at most (entries that write something). */
  maxEntries: number;
  /** Started jobs not yet taken by the consumer, at most. */
  maxJobs: number;
  /** A job for this change, started now, or undefined. */
  start(change: Change): J | undefined;
  onUnchanged(change: Change): void;
  /** Called for every started job never taken (the run failed). */
  cancel(job: J): void;
}

export class ChangeLookahead<J> {
  private readonly queue: Ahead<J>[] = [];
  private jobs = 0;
  private ended = false;
  private stopped = false;
  private error?: unknown;
  private wakeConsumer?: () => void;
  private wakeReader?: () => void;
  private readonly reading: Promise<void>;

  constructor(
    private readonly changes: AsyncIterator<Change>,
    private readonly o: LookaheadOptions<J>,
  ) {
    this.reading = this.read();
  }

  /** The next change that writes something (with its job), or undefined at the end. */
  async next(): Promise<Ahead<J> | undefined> {
    while (this.queue.length === 0) {
      if (this.error !== undefined) throw this.error;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
      this.wakeConsumer = undefined;
    }
    const item = this.queue.shift()!;
    if (item.job !== undefined) this.jobs--;
    this.wakeReader?.();
    return item;
  }

  /** Stops reading ahead and cancels the jobs nobody took; the change stream is closed. */
  async close(): Promise<void> {
    this.stopped = true;
    this.wakeReader?.();
    await this.reading;
    for (const item of this.queue.splice(0)) if (item.job !== undefined) this.o.cancel(item.job);
  }

  private async read(): Promise<void> {
    try {
      for (;;) {
        while (!this.stopped && (this.queue.length >= this.o.maxEntries || this.jobs >= this.o.maxJobs)) {
          await new Promise<void>((resolve) => (this.wakeReader = resolve));
          this.wakeReader = undefined;
        }
        if (this.stopped) break;
        const r = await this.changes.next();
        if (r.done) break;
        const change = r.value;
        if (change.op === 'unchanged') {
          this.o.onUnchanged(change);
          continue;
        }
        const job = this.o.start(change);
        if (job !== undefined) this.jobs++;
        this.queue.push({ change, job });
        this.wakeConsumer?.();
      }
    } catch (err) {
      this.error = err;
    } finally {
      this.ended = true;
      this.wakeConsumer?.();
      // Its own failure is not the run's: the run already has one, or is ending.
      if (this.stopped) await this.changes.return?.(undefined).catch(() => undefined);
    }
  }
}
