/**
 * One volume (or signature file) as it is written to a local temp file before upload: the tar
 * bytes go through gzip (level 6, FORMAT.md §9.1), OpenPGP encryption, or nothing, and the SHA1 of
 * the bytes that reach the file (what the manifest records, §6.1) is computed on the way.
 *
 * gzip runs in node:zlib's async mode, on the libuv thread pool, so compression overlaps with the
 * reading, signature and delta work on the main thread. Chunks marked incompressible switch the
 * deflate level to 0 (stored blocks) so random or media data costs no deflate time.
 */
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { constants as zc, createGzip, type Gzip } from 'node:zlib';
import { encrypt, type EncryptOptions } from '@duplicity-ts/pgp';
import { ByteChannel } from './byte-channel.js';

export type VolumeEncoding = { kind: 'plain' } | { kind: 'gzip' } | { kind: 'pgp'; options: EncryptOptions };

export interface ClosedFile {
  path: string;
  size: number;
  sha1: string;
}

export class VolumeFile {
  /** Bytes that reached the file so far (what duplicity measures to cut volumes, §4.6). */
  written = 0;
  /** Bytes handed to `write` so far. */
  input = 0;
  private readonly out: WriteStream;
  private readonly hash: Hash = createHash('sha1');
  private gzip?: Gzip;
  private stored = false;
  private channel?: ByteChannel;
  private readonly finished: Promise<void>;

  constructor(
    readonly path: string,
    encoding: VolumeEncoding,
  ) {
    const out = createWriteStream(path, { highWaterMark: 1 << 20 });
    this.out = out;
    const outDone = new Promise<void>((resolve, reject) => {
      out.on('finish', resolve);
      out.on('error', reject);
    });
    if (encoding.kind === 'gzip') {
      const gz = createGzip({ level: 6, chunkSize: 1 << 16, writableHighWaterMark: 1 << 20 } as object);
      this.gzip = gz;
      const gzDone = new Promise<void>((resolve, reject) => {
        gz.on('end', resolve);
        gz.on('error', reject);
      });
      gz.on('data', (c: Buffer) => this.emit(c, gz));
      gz.on('end', () => out.end());
      this.finished = Promise.all([gzDone, outDone]).then(() => undefined);
    } else if (encoding.kind === 'pgp') {
      const channel = new ByteChannel(4 << 20);
      this.channel = channel;
      this.finished = (async () => {
        try {
          for await (const c of encrypt(channel, encoding.options)) {
            const b = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
            this.hash.update(b);
            this.written += b.length;
            if (!out.write(b)) await once(out, 'drain');
          }
        } catch (err) {
          channel.fail(err);
          out.destroy();
          throw err;
        }
        out.end();
        await outDone;
      })();
      // Reported by close(); avoid an unhandled rejection before that.
      this.finished.catch(() => undefined);
    } else {
      this.finished = outDone;
    }
  }

  private emit(c: Buffer, src: Gzip): void {
    this.hash.update(c);
    this.written += c.length;
    if (!this.out.write(c)) {
      src.pause();
      this.out.once('drain', () => src.resume());
    }
  }

  async write(data: Buffer, incompressible = false): Promise<void> {
    this.input += data.length;
    if (this.gzip) {
      const gz = this.gzip;
      if (incompressible !== this.stored) {
        this.stored = incompressible;
        // params() flushes what is pending at the old level, then switches (typed loosely in @types/node 20).
        const withParams = gz as unknown as { params(level: number, strategy: number, cb: () => void): void };
        await new Promise<void>((r) => withParams.params(incompressible ? zc.Z_NO_COMPRESSION : 6, zc.Z_DEFAULT_STRATEGY, () => r()));
      }
      if (!gz.write(data)) await once(gz, 'drain');
    } else if (this.channel) {
      await this.channel.push(data);
    } else {
      this.hash.update(data);
      this.written += data.length;
      if (!this.out.write(data)) await once(this.out, 'drain');
    }
  }

  async close(): Promise<ClosedFile> {
    if (this.gzip) this.gzip.end();
    else if (this.channel) this.channel.close();
    else this.out.end();
    await this.finished;
    return { path: this.path, size: this.written, sha1: this.hash.digest('hex') };
  }

  /** Stops writing after a failure elsewhere; the caller removes the file. */
  abort(): void {
    this.gzip?.destroy();
    this.channel?.fail(new Error('aborted'));
    this.out.destroy();
  }
}
