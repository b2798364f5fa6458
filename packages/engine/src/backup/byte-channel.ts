/**
 * A bounded hand-over of byte chunks from a producer to one async consumer (for example the
 * OpenPGP encrypter, which reads an async iterable): `push` waits while `limit` bytes are queued,
 * so the producer never runs ahead of the consumer by more than that. A consumer that is done
 * with a chunk once it asks for the next one (the encrypter copies what it keeps) lets the
 * producer reuse the chunk's buffer: `push`'s `done` is called then.
 */
export class ByteChannel implements AsyncIterable<Uint8Array> {
  private readonly queue: { chunk: Uint8Array; done?: () => void }[] = [];
  private queued = 0;
  private closed = false;
  private failure?: unknown;
  private wakeConsumer?: () => void;
  private wakeProducer?: () => void;

  constructor(private readonly limit = 4 << 20) {}

  /** Bytes pushed and not yet taken by the consumer. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Queues `chunk`; `done` is called when the consumer comes back for the chunk after it. */
  async push(chunk: Uint8Array, done?: () => void): Promise<void> {
    while (this.queued >= this.limit && this.failure === undefined) {
      await new Promise<void>((r) => (this.wakeProducer = r));
    }
    if (this.failure !== undefined) throw this.failure;
    this.queue.push({ chunk, done });
    this.queued += chunk.length;
    this.wake('consumer');
  }

  close(): void {
    this.closed = true;
    this.wake('consumer');
  }

  /** The consumer failed: pending and later pushes throw this. */
  fail(err: unknown): void {
    this.failure = err;
    this.wake('producer');
  }

  private wake(who: 'consumer' | 'producer'): void {
    const f = who === 'consumer' ? this.wakeConsumer : this.wakeProducer;
    if (who === 'consumer') this.wakeConsumer = undefined;
    else this.wakeProducer = undefined;
    f?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const next = this.queue.shift();
      if (next !== undefined) {
        this.queued -= next.chunk.length;
        this.wake('producer');
        yield next.chunk;
        next.done?.();
      } else if (this.closed) {
        return;
      } else {
        await new Promise<void>((r) => (this.wakeConsumer = r));
      }
    }
  }
}
