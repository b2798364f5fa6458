/**
 * File transfer with the scp protocol over an SSH exec channel (`scp -t` to upload, `scp -f` to
 * download), which is what scp:// means for duplicity: the server's own scp does the file I/O, and the
 * data flows as one stream whose pace is set by the SSH channel window, so no request pipelining is
 * needed. Written here because no maintained npm package speaks the (small) scp sink/source protocol
 * over an existing ssh2 connection.
 *
 * Protocol: each side acknowledges with a 0 byte; 1 is a warning and 2 a fatal error, both followed by a
 * message line. A file is announced as `C<mode> <size> <name>\n`, followed by its bytes and a 0 byte.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { ClientChannel } from 'ssh2';
import ssh2 from 'ssh2';
import { BackendError, ExitCode } from './errors.js';

type Client = InstanceType<typeof ssh2.Client>;

/** Quotes a path for the remote POSIX shell that runs the exec command. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function exec(client: Client, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    try {
      client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch)));
    } catch (err) {
      reject(err);
    }
  });
}

/** The server side reported an error: classify it from its text (the server's scp prints strerror). */
function remoteError(text: string): BackendError {
  const msg = text.replace(/^scp: /, '').trim();
  // The server names its own (temporary) path; the caller's message already says which file.
  if (/permission denied/i.test(msg)) return new BackendError('permission denied', { exitCode: ExitCode.permissionDenied });
  if (/no such file/i.test(msg)) return new BackendError('no such file or directory', { exitCode: ExitCode.notFound });
  if (/no space|quota/i.test(msg)) return new BackendError('no space left on device', { exitCode: ExitCode.noSpace });
  return new BackendError(`scp on the server: ${msg}`, { exitCode: ExitCode.commandError });
}

/**
 * Reads the channel's bytes on demand. Data beyond what is asked for stays queued; the channel is paused
 * while the queue is non-empty so a slow consumer holds back the sender (SSH window).
 */
class ChannelReader {
  private queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  private stderr = '';

  constructor(private readonly ch: ClientChannel) {
    ch.on('data', (d: Buffer) => { this.queue.push(d); this.queued += d.length; if (this.queued > 1 << 20) ch.pause(); this.notify(); });
    ch.on('end', () => { this.ended = true; this.notify(); });
    ch.on('close', () => { this.ended = true; this.notify(); });
    ch.on('error', (e: Error) => { this.error = e; this.notify(); });
    ch.stderr.on('data', (d: Buffer) => { if (this.stderr.length < 4096) this.stderr += d.toString('utf8'); });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async fill(): Promise<boolean> {
    while (this.queued === 0) {
      if (this.error) throw this.error;
      if (this.ended) return false;
      this.ch.resume();
      await new Promise<void>((r) => { this.wake = r; });
    }
    return true;
  }

  /** Up to `max` bytes (at least one), or null at the end of the stream. */
  async read(max: number): Promise<Buffer | null> {
    if (!(await this.fill())) return null;
    const head = this.queue[0];
    let out: Buffer;
    if (head.length <= max) { this.queue.shift(); out = head; } else { out = head.subarray(0, max); this.queue[0] = head.subarray(max); }
    this.queued -= out.length;
    if (this.queued <= 1 << 20) this.ch.resume();
    return out;
  }

  async readByte(): Promise<number> {
    const b = await this.read(1);
    if (!b) throw this.closedError();
    return b[0];
  }

  async readLine(): Promise<string> {
    const bytes: number[] = [];
    for (;;) {
      const b = await this.readByte();
      if (b === 0x0a) return Buffer.from(bytes).toString('utf8');
      bytes.push(b);
      if (bytes.length > 64 * 1024) throw new BackendError('scp on the server: protocol line too long', { exitCode: ExitCode.commandError });
    }
  }

  /** Reads the 0 acknowledgment, or throws the server's warning/error. */
  async expectAck(): Promise<void> {
    const b = await this.readByte();
    if (b === 0) return;
    if (b === 1 || b === 2) throw remoteError(await this.readLine());
    throw new BackendError(`scp on the server: protocol error (unexpected byte ${b})${this.stderrNote()}`, { exitCode: ExitCode.commandError });
  }

  closedError(): Error {
    const note = this.stderrNote();
    if (note) return remoteError(this.stderr);
    // No message at all: the connection went away under us.
    return Object.assign(new Error('connection closed'), { code: 'ECONNRESET' });
  }

  private stderrNote(): string {
    const s = this.stderr.trim();
    return s ? ` (${s.split('\n')[0]})` : '';
  }
}

function write(ch: ClientChannel, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }));
    ch.once('close', onClose);
    const ok = ch.write(data);
    const done = () => { ch.off('close', onClose); resolve(); };
    if (ok) done(); else ch.once('drain', done);
  });
}

/** Uploads localFile to the remote path `remotePath` (a file path, not a directory). */
export async function scpUpload(client: Client, localFile: string, remotePath: string): Promise<void> {
  const st = await fsp.stat(localFile);
  const input = createReadStream(localFile, { highWaterMark: 256 * 1024 });
  // Open the local file before the channel: a missing local file is reported as such.
  await new Promise<void>((resolve, reject) => { input.once('open', () => resolve()); input.once('error', reject); });
  const ch = await exec(client, `scp -t ${shellQuote(remotePath)}`).catch((err) => { input.destroy(); throw err; });
  const reader = new ChannelReader(ch);
  try {
    await reader.expectAck();
    await write(ch, `C${(st.mode & 0o777).toString(8).padStart(4, '0')} ${st.size} ${path.posix.basename(remotePath)}\n`);
    await reader.expectAck();
    let sent = 0;
    for await (const chunk of input as AsyncIterable<Buffer>) {
      await write(ch, chunk);
      sent += chunk.length;
    }
    if (sent !== st.size) throw new BackendError(`local file ${localFile} changed size during upload`, { exitCode: ExitCode.backendError });
    await write(ch, Buffer.from([0]));
    await reader.expectAck();
    ch.end();
  } finally {
    input.destroy();
    ch.close();
  }
}

/** Downloads the remote file `remotePath` to localFile. */
export async function scpDownload(client: Client, remotePath: string, localFile: string): Promise<void> {
  const ch = await exec(client, `scp -f ${shellQuote(remotePath)}`);
  const reader = new ChannelReader(ch);
  const out = createWriteStream(localFile);
  const outDone = new Promise<void>((resolve, reject) => { out.once('finish', resolve); out.once('error', reject); });
  outDone.catch(() => {});
  try {
    await write(ch, Buffer.from([0]));
    let header: string;
    for (;;) {
      const kind = await reader.readByte();
      if (kind === 1 || kind === 2) throw remoteError(await reader.readLine());
      header = String.fromCharCode(kind) + (await reader.readLine());
      if (header.startsWith('C')) break;
      if (header.startsWith('T')) { await write(ch, Buffer.from([0])); continue; } // times: not asked for, tolerated
      throw new BackendError(`scp on the server: protocol error (unexpected ${JSON.stringify(header.slice(0, 40))})`, { exitCode: ExitCode.commandError });
    }
    const m = /^C[0-7]{4} (\d+) /.exec(header);
    if (!m) throw new BackendError(`scp on the server: protocol error (bad file header ${JSON.stringify(header.slice(0, 40))})`, { exitCode: ExitCode.commandError });
    let left = Number(m[1]);
    await write(ch, Buffer.from([0]));
    while (left > 0) {
      const chunk = await reader.read(Math.min(left, 1 << 20));
      if (!chunk) throw reader.closedError();
      left -= chunk.length;
      if (!out.write(chunk)) await once(out, 'drain'); // rejects if the local write fails
    }
    await reader.expectAck();
    await write(ch, Buffer.from([0]));
    out.end();
    await outDone;
    ch.end();
  } finally {
    if (!out.writableFinished) out.destroy();
    ch.close();
  }
}
