/**
 * Writing one backup set (FORMAT.md §4-6, §10-11.8): the changes between the source and the
 * previous state become difftar entries (cut into volumes, compressed or encrypted, uploaded while
 * the next volume is built), sigtar entries (the new signatures) and the manifest. Upload order is
 * duplicity's: the volumes, then the signature file, then the manifest, which marks the set
 * complete. The archive dir keeps `.part` copies while the set is being written and plain final
 * copies afterwards (§11.7).
 */
import { closeSync, createReadStream, readSync } from 'node:fs';
import { open, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  encodeTarEntry,
  encodeTarEntryInto,
  formatEntryName,
  formatFileName,
  indexToPath,
  Manifest,
  type FilelistEntry,
  type Index,
  type NamePrefixes,
  type TarHeader,
} from '@duplicity-ts/archive';
import {
  DeltaBuilder,
  type DeltaJob,
  DeltaJobError,
  DeltaWorkers,
  duplicitySignatureParams,
  sameSignatureParams,
  Signature,
  SignatureBuilder,
  signatureInto,
  signatureLength,
  signatureOf,
  type SignatureJob,
  type SignatureParams,
  SignatureWorker,
} from '@duplicity-ts/rsync';
import type { Backend } from '@duplicity-ts/backends';
import type { EncryptOptions } from '@duplicity-ts/pgp';
import { BackupStatistics } from '../stats.js';
import type { Selector } from '../selection/selector.js';
import { walkSource, type SourceEntry } from './source-walk.js';
import { detectChanges, deviceNumbers, type Change, type OwnerResolver } from './change-detector.js';
import { ChangeLookahead } from './change-lookahead.js';
import type { BaseEntry } from './base-signatures.js';
import { OwnerNames } from '../owners.js';
import { chunk64k, CHUNK_SIZE, openRegularFileSync, readFileAhead } from './payload-chunks.js';
import { SigtarWriter } from './sigtar-writer.js';
import { Uploader } from './uploader.js';
import { VolumeFile, type ClosedFile, type VolumeEncoding } from './volume-file.js';
import { VolumeWriter } from './volume-writer.js';
import type { ResumePoint } from './resume.js';

export interface BackupLog {
  info(msg: string): void;
  warn(msg: string): void;
  notice(msg: string): void;
}

export interface WriteSetOptions {
  type: 'full' | 'inc';
  /** Full: the backup time; inc: this backup's time (T2). */
  time: number;
  /** Inc: the end time of the chain it extends (T1). */
  baseTime?: number;
  /** Inc: the combined state of the chain (§5.2). */
  base?: AsyncIterable<BaseEntry>;

  /** The source directory to read. */
  source: string;
  /** The source root as written in the manifest and matched by selection (canonicalised, as given). */
  localdir: string;
  hostname: string;
  selector?: Selector;
  followLinks?: boolean;
  /** Owner resolution of old signature headers (by name, or numeric with --numeric-owner). */
  owners: OwnerResolver;

  /** Volume size in bytes (--volsize × 1 MiB). */
  volsize: number;
  maxBlocksize?: number;
  compareSize?: boolean;
  /** undefined: no encryption. */
  encrypt?: EncryptOptions;
  /** gzip when not encrypting (false with --no-compression). */
  compress: boolean;
  prefixes?: NamePrefixes;
  shortFilenames?: boolean;
  noFilesChanged?: boolean;

  backend: Backend;
  archiveDir: string;
  tempDir: string;
  dryRun?: boolean;
  /** Uploads at once; 1 keeps exactly duplicity's order. */
  concurrency?: number;
  log: BackupLog;
  /** Called as source bytes are read. */
  onProgress?(bytesRead: number): void;
  /**
   * A check still running while the set is written (the remote manifest's, which may unlock a key): nothing
   * reaches the backend or the archive dir's set files before it settles, and its failure is the run's.
   */
  ready?: Promise<void>;
  /** Continue a partial set (resume.ts): replay up to its kept volumes, then write on. */
  resume?: ResumePoint;
}

const EMPTY = Buffer.alloc(0);

function displayPath(index: Index): string {
  return index.length === 0 ? '.' : indexToPath(index).toString('utf8');
}

/** Writes one set and returns its statistics (EndTime is set by the caller's clock too). */
export async function writeBackupSet(o: WriteSetOptions): Promise<BackupStatistics> {
  const stats = new BackupStatistics();
  stats.startTime = Date.now() / 1000;
  const names = new OwnerNames();
  const encrypted = o.encrypt !== undefined;
  const compressed = !encrypted && o.compress;
  const times = o.type === 'full' ? { time: o.time } : { startTime: o.baseTime, endTime: o.time };
  const sigType = o.type === 'full' ? ('full-sig' as const) : ('new-sig' as const);
  const fmt = { short: o.shortFilenames, prefixes: o.prefixes };
  const volumeName = (n: number) => formatFileName({ type: o.type, kind: 'volume', ...times, volume: n, encrypted, compressed }, fmt);
  const manifestRemote = formatFileName({ type: o.type, kind: 'manifest', ...times, encrypted }, fmt);
  const manifestLocal = formatFileName({ type: o.type, kind: 'manifest', ...times }, fmt);
  const manifestPart = formatFileName({ type: o.type, kind: 'manifest', ...times, partial: true }, fmt);
  const sigRemote = formatFileName({ type: sigType, kind: 'signature', ...times, encrypted, compressed }, fmt);
  const sigLocal = formatFileName({ type: sigType, kind: 'signature', ...times, compressed: true }, fmt);
  const sigPart = formatFileName({ type: sigType, kind: 'signature', ...times, partial: true }, fmt);

  const encoding: VolumeEncoding = encrypted ? { kind: 'pgp', options: o.encrypt! } : compressed ? { kind: 'gzip' } : { kind: 'plain' };
  const uploader = o.dryRun ? null : new Uploader(o.backend, o.concurrency ?? 1, o.ready);
  // The sigtar starts under a dotfile name (ignored by every name parser, §1.6) and becomes
  // `.sigtar.part` once the first volume is written, as duplicity does (§11.8).
  const metaDir = o.dryRun ? o.tempDir : o.archiveDir;
  const sigTemp = path.join(metaDir, `.duplicity-ts-${process.pid}-${o.time}.sigtar`);
  // The cache's `.sigtar.gz` is gzipped while the sigtar is written (SigtarWriter's gzipCopy), and an encrypted
  // set's remote copy encrypted meanwhile (its remoteCopy), instead of both after the last volume.
  const sigGzipTemp = (compressed || encrypted) && !o.dryRun ? `${sigTemp}.gz` : undefined;
  const sigRemoteCopy = encrypted && !o.dryRun ? { path: path.join(o.tempDir, 'sigtar.streamed'), encoding } : undefined;
  const sigtar = await SigtarWriter.create(sigTemp, { gzipCopy: sigGzipTemp, remoteCopy: sigRemoteCopy });
  let sigtarPath = sigTemp;
  /** The last volume boundary's fsync and manifest `.part` (see onVolume), and the first of them that failed. */
  let boundaryDurable: Promise<void> = Promise.resolve();
  let boundaryFailure: unknown;
  const manifest = o.resume?.manifest ?? new Manifest();
  if (!o.resume) {
    if (o.hostname) manifest.hostname = o.hostname;
    manifest.localdir = Buffer.from(o.localdir);
  }
  const filelist: FilelistEntry[] = [];

  const volumes = new VolumeWriter({
    volsize: o.volsize,
    encoding,
    tempDir: o.tempDir,
    nameOf: volumeName,
    uploader,
    resume: o.resume,
    onVolume: async (v, size) => {
      await o.ready;
      stats.totalDestinationSizeChange += size;
      manifest.volumes.set(v.number, v);
      if (o.dryRun) return;
      if (boundaryFailure !== undefined) throw boundaryFailure;
      // What this boundary makes durable, in order: the sigtar up to here (fsynced), then the manifest's `.part`
      // naming this volume. It runs while the next volume is written: the fsync waits for the journal, which holds
      // the volume just written, 0.1-0.2 s here, and every volume boundary of the set used to wait for it.
      const fsyncSigtar = await sigtar.flushForSync();
      const manifestBytes = manifest.toBuffer();
      const previous = boundaryDurable;
      boundaryDurable = (async () => {
        await previous;
        await fsyncSigtar();
        if (sigtarPath === sigTemp) {
          await rename(sigTemp, path.join(o.archiveDir, sigPart));
          sigtarPath = path.join(o.archiveDir, sigPart);
        }
        // Renamed into place: a run killed mid-write must leave the previous complete `.part`, which
        // the next run resumes from (resume.ts).
        const manifestTemp = path.join(o.archiveDir, `.duplicity-ts-${process.pid}-${o.time}.manifest`);
        try {
          await writeFile(manifestTemp, manifestBytes);
          await rename(manifestTemp, path.join(o.archiveDir, manifestPart));
        } catch (err) {
          await rm(manifestTemp, { force: true });
          throw err;
        }
      })();
      boundaryDurable.catch((err: unknown) => {
        boundaryFailure ??= err;
      });
    },
  });

  const header = (src: SourceEntry | undefined, name: Buffer, size: number): TarHeader => {
    if (!src) {
      return { name, type: 'file', mode: 0, uid: 0, gid: 0, uname: '', gname: '', mtime: 0, size: 0, linkname: EMPTY, devmajor: 0, devminor: 0 };
    }
    const st = src.stat;
    const dev = src.type === 'chardev' || src.type === 'blockdev' ? deviceNumbers(st.rdev) : { major: 0, minor: 0 };
    return {
      name,
      type: src.type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      uname: names.uname(st.uid),
      gname: names.gname(st.gid),
      mtime: Math.max(0, Math.trunc(st.mtimeMs / 1000)),
      size,
      linkname: src.linkname ?? EMPTY,
      devmajor: dev.major,
      devminor: dev.minor,
    };
  };
  const isDir = (src: SourceEntry) => src.type === 'directory';
  let bytesRead = 0;
  /** Started at the first big file; closed when the set is written. */
  let sigWorker: SignatureWorker | undefined;
  /** Read buffers reused from file to file (readFileAhead, readSmallFile). */
  const spareReads: Buffer[] = [];
  const smallRead = { buf: Buffer.allocUnsafe(SMALL_FILE + 1) };

  /** Scratch for entry names and difftar headers: each is copied on by the writer it goes to before the next is built. */
  const sigNameScratch = Buffer.allocUnsafe(NAME_SCRATCH);
  const volNameScratch = Buffer.allocUnsafe(NAME_SCRATCH);
  const volHeaderScratch = Buffer.allocUnsafe(HEADER_SCRATCH);

  /**
   * A new file read whole and shorter than one 64 KiB chunk (most of the files of a typical tree):
   * its sigtar entry is built in place in the sigtar's buffer and its difftar entry is one header
   * and the bytes, without the generators, promises and per-file buffers of the streaming path
   * below, whose bytes these are (a single `snapshot/` entry; the signature's header written with
   * the length it has, which the streaming path reaches by patching its prediction).
   */
  const writeWholeNew = async (src: SourceEntry, whole: Buffer, params: SignatureParams): Promise<void> => {
    const sigLen = signatureLength(params, whole.length);
    const sigPad = (512 - (sigLen % 512)) % 512;
    const sigHeader = header(src, entryName(SIGNATURE_PREFIX, src.path, sigNameScratch), sigLen);
    let inSigtar = sigtar.inPlace(512 + sigLen + sigPad, (buf, at) => {
      const hn = encodeTarEntryInto(sigHeader, buf, at);
      if (hn === 0 || buf.length - at < hn + sigLen + sigPad) return 0;
      signatureInto(params, whole, buf, at + hn);
      buf.fill(0, at + hn + sigLen, at + hn + sigLen + sigPad);
      return hn + sigLen + sigPad;
    });
    if (typeof inSigtar !== 'boolean') inSigtar = await inSigtar;
    if (!inSigtar) await sigtar.addEntry(Buffer.concat([encodeTarEntry(sigHeader), signatureOf(params, whole), Buffer.alloc(sigPad)]));
    const volHeader = header(src, entryName(SNAPSHOT_PREFIX, src.path, volNameScratch), whole.length);
    const hn = encodeTarEntryInto(volHeader, volHeaderScratch, 0);
    const added = volumes.add({
      header: hn > 0 ? volHeaderScratch.subarray(0, hn) : encodeTarEntry(volHeader),
      payload: whole,
      index: src.index,
    });
    if (added) await added;
  };

  /** Writes a file's payload chunks (FORMAT.md §4.3) one after another as difftar entries; `last` marks the final one. */
  const payloadEntries = (src: SourceEntry, kind: 'diff' | 'snapshot') => {
    let k = 0;
    return (chunk: Buffer, last: boolean): Promise<void> | undefined => {
      k++;
      const single = k === 1 && last;
      const name = single
        ? formatEntryName(kind, src.index, { isDir: false, stream: 'difftar' })
        : formatEntryName(kind === 'diff' ? 'multivol_diff' : 'multivol_snapshot', src.index, { isDir: false, chunk: k, stream: 'difftar' });
      return volumes.add({
        header: encodeTarEntry(header(src, name, chunk.length)),
        payload: chunk,
        index: src.index,
        chunk: single ? undefined : k,
        moreChunks: !single && chunk.length === CHUNK_SIZE,
      });
    };
  };

  /** A file's content or delta cut into 64 KiB difftar entries (chunk64k); returns its length. */
  const writePayload = async (src: SourceEntry, kind: 'diff' | 'snapshot', payloadSrc: AsyncIterable<Uint8Array>): Promise<number> => {
    const entry = payloadEntries(src, kind);
    let payload = 0;
    for await (const chunk of chunk64k(payloadSrc)) {
      payload += chunk.length;
      await entry(chunk, chunk.length < CHUNK_SIZE);
    }
    return payload;
  };

  /** Joins the pieces of a worker's delta that straddle 64 KiB chunks, so that no chunk outlives its piece. */
  const assembly = Buffer.allocUnsafe(CHUNK_SIZE);

  /**
   * A changed file whose delta (and new signature, same parameters as the old) a DeltaWorkers
   * thread computed ahead: the same entries as writeRegular's fused delta, from the worker's
   * pieces. A piece goes back to the worker at the next job.next(), so its bytes are in the
   * volume (VolumeWriter.add copies before it settles) or in `assembly` by then.
   */
  const writeWorkerDelta = async (src: SourceEntry, job: DeltaJob): Promise<{ read: number; payload: number } | null> => {
    let piece: Awaited<ReturnType<DeltaJob['next']>>;
    try {
      piece = await job.next();
    } catch (err) {
      if (!(err instanceof DeltaJobError && err.opening)) throw err;
      stats.errors++;
      o.log.warn(`Error reading file ${displayPath(src.index)}: ${err.message}`);
      return null;
    }
    try {
      const params = duplicitySignatureParams(src.stat.size, o.maxBlocksize);
      const sigName = formatEntryName('signature', src.index, { isDir: false, stream: 'sigtar' });
      const predicted = signatureLength(params, src.stat.size);
      const sigAt = await sigtar.beginPayload(encodeTarEntry(header(src, sigName, predicted)));
      const entry = payloadEntries(src, 'diff');
      let read = 0;
      let payload = 0;
      let held = 0;
      for (; piece; piece = await job.next()) {
        read += piece.read;
        bytesRead += piece.read;
        o.onProgress?.(bytesRead);
        if (piece.signature.length) await sigtar.payload(piece.signature);
        const d = piece.delta;
        payload += d.length;
        let off = 0;
        while (off < d.length) {
          if (held === 0 && d.length - off >= CHUNK_SIZE) {
            await entry(Buffer.from(d.buffer, d.byteOffset + off, CHUNK_SIZE), false);
            off += CHUNK_SIZE;
            continue;
          }
          const n = Math.min(CHUNK_SIZE - held, d.length - off);
          assembly.set(d.subarray(off, off + n), held);
          held += n;
          off += n;
          if (held === CHUNK_SIZE) {
            await entry(assembly, false);
            held = 0;
          }
        }
      }
      await entry(assembly.subarray(0, held), true);
      await sigtar.endPayload(sigAt, predicted, (n) => encodeTarEntry(header(src, sigName, n)));
      return { read, payload };
    } finally {
      job.cancel();
    }
  };

  /** A regular file's content or delta as difftar entries, its new signature into the sigtar. */
  const writeRegular = async (
    src: SourceEntry,
    base: BaseEntry | undefined,
    job?: DeltaJob,
  ): Promise<{ read: number; payload: number } | null> => {
    if (job) return writeWorkerDelta(src, job);
    let fh;
    let whole: Buffer | undefined;
    try {
      // The small-file buffer is reused by the next file: everything below copies what it keeps
      // (signature, delta, volume blocks) before this file's entries are done.
      if (src.stat.size <= SMALL_FILE) whole = readSmallFile(src.fsPath, src.stat.size, smallRead);
      else fh = await open(src.fsPath, 'r');
    } catch (err) {
      stats.errors++;
      o.log.warn(`Error reading file ${displayPath(src.index)}: ${(err as Error).message}`);
      return null;
    }
    const params = duplicitySignatureParams(src.stat.size, o.maxBlocksize);
    const old = base ? Signature.parse(base.signature!) : undefined;
    if (whole && !old && whole.length < CHUNK_SIZE) {
      bytesRead += whole.length;
      o.onProgress?.(bytesRead);
      await writeWholeNew(src, whole, params);
      return { read: whole.length, payload: whole.length };
    }
    // A changed file whose signature keeps its parameters gets it from the delta, which reuses the
    // records of the blocks it matched at block boundaries (most of a file with local changes or
    // appends) instead of hashing the file a second time. Otherwise a big file's signature is
    // hashed on a worker thread while this thread compresses or deltas the same bytes; for small
    // files the round trips would cost more than the hashing.
    const fused = old !== undefined && sameSignatureParams(old.params, params);
    const sig = fused
      ? undefined
      : src.stat.size >= BACKGROUND_SIGNATURE_MIN && SignatureWorker.accepts(params)
        ? (sigWorker ??= new SignatureWorker()).job(params)
        : inThreadSignature(params);
    try {
      const sigLen = (n: number) => 12 + Math.ceil(n / params.blockLen) * (4 + params.strongLen);
      const sigName = formatEntryName('signature', src.index, { isDir: false, stream: 'sigtar' });
      const predicted = sigLen(src.stat.size);
      const sigAt = await sigtar.beginPayload(encodeTarEntry(header(src, sigName, predicted)));
      let read = 0;
      async function* content(): AsyncGenerator<Buffer> {
        for await (const buf of whole ? [whole] : readFileAhead(fh!, src.stat.size, spareReads)) {
          read += buf.length;
          bytesRead += buf.length;
          o.onProgress?.(bytesRead);
          if (sig) for (const s of await sig.update(buf)) if (s.length) await sigtar.payload(s);
          yield buf;
        }
      }
      async function* delta(old: Signature): AsyncGenerator<Uint8Array> {
        const d = new DeltaBuilder(old, { signature: fused });
        for await (const buf of content()) {
          const out = d.update(buf);
          if (fused) await sigtar.payload(d.takeSignature());
          if (out.length) yield out;
        }
        const last = d.final();
        if (fused) await sigtar.payload(d.takeSignature());
        yield last;
      }
      const payload = await writePayload(src, old ? 'diff' : 'snapshot', old ? delta(old) : content());
      if (sig) for (const tail of await sig.final()) if (tail.length) await sigtar.payload(tail);
      await sigtar.endPayload(sigAt, predicted, (n) => encodeTarEntry(header(src, sigName, n)));
      return { read, payload };
    } finally {
      sig?.abort();
      await fh?.close();
    }
  };

  /** Started at the first change whose delta goes to a worker; closed when the set is written. */
  let deltaWorkers: DeltaWorkers | undefined;
  let lookahead: ChangeLookahead<DeltaJob> | undefined;
  /** Bytes of big changed files (worker candidates) seen so far. */
  let bigChanged = 0;
  let changes: AsyncGenerator<Change> | undefined;

  const walk = walkSource(o.source, {
    selector: o.selector,
    matchRoot: o.localdir,
    followLinks: o.followLinks,
    onError: (p, err) => {
      stats.errors++;
      o.log.warn(`Error accessing ${p.toString()}: ${err.message}`);
    },
    onSkip: (p, why) => o.log.info(`Skipping ${why} ${p.toString()}`),
  });

  try {
    const detected = (changes = detectChanges(walk, o.base, { owners: o.owners, compareSize: o.compareSize }));
    // A full backup has no deltas to start ahead: its changes are taken as they come.
    const direct = {
      next: async () => {
        const r = await detected.next();
        return r.done ? undefined : { change: r.value, job: undefined };
      },
    };
    lookahead = !o.base ? undefined : new ChangeLookahead<DeltaJob>(detected, {
      maxEntries: LOOKAHEAD_ENTRIES,
      maxJobs: LOOKAHEAD_JOBS,
      start: (ch) => {
        const basis = workerDeltaBasis(ch, o.maxBlocksize);
        if (!basis || ch.op !== 'diff') return undefined;
        // A worker costs ~0.15 s of CPU to start here (about 100 MB of delta on this thread): it starts
        // only once that much changed content of big files has been seen; the earlier ones stay here.
        bigChanged += ch.src.stat.size;
        if (!deltaWorkers && bigChanged < deltaWorkerStart()) return undefined;
        return (deltaWorkers ??= new DeltaWorkers(DELTA_THREADS)).job(ch.src.fsPath, basis, { signature: true });
      },
      onUnchanged: (ch) => {
        if (ch.op !== 'unchanged') return;
        stats.sourceFiles++;
        stats.sourceFileSize += ch.src.stat.size;
      },
      cancel: (job) => job.cancel(),
    });
    const source = lookahead ?? direct;
    for (let next = await source.next(); next; next = await source.next()) {
      const ch = next.change;
      if (ch.op === 'deleted') {
        const idx = ch.base.index;
        const dh = encodeTarEntry(header(undefined, formatEntryName('deleted', idx, { isDir: false, stream: 'difftar' }), 0));
        await volumes.add({ header: dh, index: idx });
        await sigtar.addEntry(encodeTarEntry(header(undefined, formatEntryName('deleted', idx, { isDir: false, stream: 'sigtar' }), 0)));
        stats.deletedFiles++;
        if (ch.base.kind === 'signature') filelist.push({ type: 'deleted', path: indexToPath(idx) });
        o.log.info(`D ${displayPath(idx)}`);
        continue;
      }
      const src = ch.src;
      if (ch.op === 'unchanged') continue; // counted by onUnchanged as it was read
      if (src.type === 'file') {
        const r = await writeRegular(src, ch.op === 'diff' ? ch.base : undefined, next.job);
        if (!r) continue;
        stats.sourceFiles++;
        stats.sourceFileSize += r.read;
        stats.rawDeltaSize += r.payload;
        if (ch.op === 'diff') {
          stats.changedFiles++;
          stats.changedFileSize += src.stat.size;
          // One path for both (a regular file's index is never the root's, which displays as '.').
          const p = src.path;
          filelist.push({ type: 'changed', path: p });
          o.log.info(`M ${p.toString('utf8')}`);
        } else {
          stats.newFiles++;
          stats.newFileSize += src.stat.size;
          const p = src.path;
          filelist.push({ type: 'new', path: p });
          o.log.info(`A ${p.toString('utf8')}`);
        }
        continue;
      }
      // Directories, symlinks, FIFOs, devices: a header-only snapshot in both streams.
      const dn = formatEntryName('snapshot', src.index, { isDir: isDir(src), stream: 'difftar' });
      await volumes.add({ header: encodeTarEntry(header(src, dn, 0)), index: src.index });
      const sn = formatEntryName('snapshot', src.index, { isDir: isDir(src), stream: 'sigtar' });
      await sigtar.addEntry(encodeTarEntry(header(src, sn, 0)));
      stats.sourceFiles++;
      stats.sourceFileSize += src.stat.size;
      stats.newFiles++;
      stats.newFileSize += src.stat.size;
      o.log.info(`A ${displayPath(src.index)}`);
    }
    await volumes.finish();
    await boundaryDurable;
    stats.endTime = Date.now() / 1000;
    if (uploader) await uploader.drain();
  } catch (err) {
    volumes.abort();
    await boundaryDurable.catch(() => undefined);
    await sigtar.abort();
    if (sigtarPath === sigTemp) await rm(sigTemp, { force: true });
    if (uploader) await uploader.drain().catch(() => undefined);
    throw err;
  } finally {
    if (lookahead) await lookahead.close();
    else await changes?.return(undefined).catch(() => undefined);
    await deltaWorkers?.close();
    await sigWorker?.close();
  }

  await sigtar.finish();
  manifest.filelist = o.noFilesChanged ? [] : filelist;
  if (o.dryRun) {
    await rm(sigtarPath, { force: true });
    return stats;
  }

  // Signatures: remote copy (gzip, plain or encrypted), then the cache's `.sigtar.gz` (§11.7).
  const cacheSig = path.join(o.archiveDir, sigLocal);
  // The copy gzipped while the sigtar was written, else gzipped now under the run's dotfile name, then renamed:
  // a disk that fills up meanwhile must not leave a truncated `.sigtar.gz` under the name of a complete one (the
  // next run deletes the dotfile).
  const cacheSigtar = async () => {
    const gzipped = sigtar.gzipCopyPath;
    if (gzipped) return rename(gzipped, cacheSig);
    // The gzipped copy's name (sigGzipTemp): that copy, when there was one, went stale and is gone.
    const temp = `${sigTemp}.gz`;
    try {
      await gzipFile(sigtarPath, temp);
      await rename(temp, cacheSig);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  };
  if (compressed) {
    await cacheSigtar();
    await uploader!.enqueue(sigRemote, cacheSig, await sizeOf(cacheSig), true);
  } else {
    // The remote copy made while the sigtar was written, or else made now (encryption on the main thread) beside
    // the cache copy (deflate on the pool).
    const remoteFile = path.join(o.tempDir, 'sigtar.remote');
    const [closed] = await Promise.all([
      sigtar.remoteCopyFile ?? encodeFile(sigtarPath, remoteFile, encrypted ? { kind: 'pgp', options: o.encrypt! } : { kind: 'plain' }),
      cacheSigtar(),
    ]);
    await uploader!.enqueue(sigRemote, closed.path, closed.size);
  }
  await uploader!.drain();
  await rm(sigtarPath, { force: true });

  // The manifest last: it makes the set complete.
  const manifestBytes = manifest.toBuffer();
  const partPath = path.join(o.archiveDir, manifestPart);
  await writeFile(partPath, manifestBytes);
  if (encrypted) {
    const remoteFile = path.join(o.tempDir, 'manifest.remote');
    const vf = new VolumeFile(remoteFile, { kind: 'pgp', options: o.encrypt! });
    await vf.write(manifestBytes);
    const closed = await vf.close();
    await uploader!.enqueue(manifestRemote, closed.path, closed.size);
  } else {
    await uploader!.enqueue(manifestRemote, partPath, manifestBytes.length, true);
  }
  await uploader!.drain();
  await rename(partPath, path.join(o.archiveDir, manifestLocal));
  return stats;
}

const SIGNATURE_PREFIX = Buffer.from('signature/');
const SNAPSHOT_PREFIX = Buffer.from('snapshot/');
/** Names longer than this (rare: PATH_MAX is 4096) get a buffer of their own. */
const NAME_SCRATCH = 8192;
const HEADER_SCRATCH = 4096;

/** `prefix` + `path` (formatEntryName's name of a file entry), in `scratch` when it fits: valid until the next call with it. */
function entryName(prefix: Buffer, path: Buffer, scratch: Buffer): Buffer {
  const n = prefix.length + path.length;
  if (n > scratch.length) return Buffer.concat([prefix, path]);
  prefix.copy(scratch, 0);
  path.copy(scratch, prefix.length);
  return scratch.subarray(0, n);
}

const SMALL_FILE = 256 * 1024;

/** Changed files from this size on get their delta computed ahead on a DeltaWorkers thread. */
const WORKER_DELTA_MIN = 4 << 20;
/**
 * Bytes of big changed files after which the delta worker starts. DUPLICITY_TS_DELTA_WORKERS=always
 * starts it at the first, =never keeps every delta on this thread (tests compare the two paths' bytes).
 */
function deltaWorkerStart(): number {
  return process.env.DUPLICITY_TS_DELTA_WORKERS === 'always' ? 0 : 96 << 20;
}
const DELTA_THREADS = 1;
/** How far the change stream is read ahead of the writer: entries waiting, and deltas started. */
const LOOKAHEAD_ENTRIES = 512;
const LOOKAHEAD_JOBS = 6;

/**
 * The old signature to delta against on a worker, when `ch` is a big changed file whose new signature
 * keeps the old one's parameters (then the delta writes it, as in writeRegular).
 */
function workerDeltaBasis(ch: Change, maxBlocksize: number | undefined): Buffer | undefined {
  if (ch.op !== 'diff' || ch.src.type !== 'file' || ch.src.stat.size < WORKER_DELTA_MIN || !ch.base.signature) return undefined;
  if (!DeltaWorkers.available() || process.env.DUPLICITY_TS_DELTA_WORKERS === 'never') return undefined;
  let old: Signature;
  try {
    old = Signature.parse(ch.base.signature);
  } catch {
    return undefined; // writeRegular reports it in order.
  }
  return sameSignatureParams(old.params, duplicitySignatureParams(ch.src.stat.size, maxBlocksize)) ? ch.base.signature : undefined;
}

/** One file's signature, hashed on the SignatureWorker (a SignatureJob) or on this thread. */
type FileSignature = Pick<SignatureJob, 'update' | 'final' | 'abort'>;

function inThreadSignature(params: SignatureParams): FileSignature {
  const b = new SignatureBuilder(params);
  return { update: async (chunk) => [b.update(chunk)], final: async () => [b.final()], abort() {} };
}
/** Files from this size on get their signature hashed on a worker thread. */
const BACKGROUND_SIGNATURE_MIN = 4 << 20;

/**
 * A small file's bytes in one synchronous open/read/close. From the page cache these take
 * microseconds; as promises each is a thread-pool round trip, which made reading thousands of small
 * files cost more than everything else done with them. The bytes are read into
 * `scratch.buf` when they fit (the result is a view of it, valid until the next call), else into a
 * buffer of their own. Asking for one byte more than expected makes the usual read the only one.
 */
function readSmallFile(p: Buffer, expected: number, scratch: { buf: Buffer }): Buffer {
  const fd = openRegularFileSync(p);
  try {
    // One byte more than expected shows growth; then read on until the end.
    let buf = expected < scratch.buf.length ? scratch.buf : Buffer.allocUnsafe(expected + 1);
    let len = 0;
    for (;;) {
      if (len === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
      }
      const want = buf.length - len;
      const n = readSync(fd, buf, len, want, len);
      len += n;
      if (n === 0) break;
      // A short read that reached the size lstat gave is the end: no second read to see 0. Short of
      // that size, read on: some file systems (FUSE, network) return short reads inside a file.
      if (n < want && len >= expected) break;
    }
    return buf.subarray(0, len);
  } finally {
    closeSync(fd);
  }
}

/** `from` re-encoded into `to` as a volume is (for gzip: parallel members on the thread pool). */
async function encodeFile(from: string, to: string, encoding: VolumeEncoding): Promise<ClosedFile> {
  const vf = new VolumeFile(to, encoding);
  try {
    for await (const c of createReadStream(from, { highWaterMark: 1 << 20 })) await vf.write(c as Buffer);
    return await vf.close();
  } catch (err) {
    vf.abort();
    throw err;
  }
}

async function gzipFile(from: string, to: string): Promise<void> {
  await encodeFile(from, to, { kind: 'gzip' });
}

async function sizeOf(file: string): Promise<number> {
  return (await stat(file)).size;
}
