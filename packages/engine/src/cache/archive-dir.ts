/**
 * The local archive dir (FORMAT.md §11.7): plain manifests and `.sigtar.gz` signatures, kept in step
 * with the backend, which is authoritative. duplicity and duplicity-ts can share one.
 */
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Collection } from '../collection/collection.js';
import { chainAt } from '../collection/chains.js';
import { Manifest } from '@duplicity-ts/archive';
import type { BackupSet, NamedFile } from '../collection/backup-set.js';
import { decryptToTemp, download, quietLog, tempPath, type ReadContext } from '../restore/remote-file.js';

const ONE_SUFFIX = /\.(gpg|gz|g|z|part)$/;

/** A metadata file's key: its name minus one final suffix among .gpg .gz .g .z .part. */
export function metadataKey(name: string): string {
  return name.replace(ONE_SUFFIX, '');
}

/** A set's plain manifest from the archive dir (the final copy, else a `.part`), or undefined when none is readable. */
export function readCachedManifest(archiveDir: string, set: BackupSet): Manifest | undefined {
  const names = [set.remoteManifest && metadataKey(set.remoteManifest.name), set.localPartialManifest?.name];
  for (const name of names) {
    if (!name) continue;
    try {
      return Manifest.parse(readFileSync(path.join(archiveDir, name)));
    } catch {
      // Missing or unreadable: try the next copy.
    }
  }
  return undefined;
}

export async function listArchiveDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export type MetadataSyncMode = 'partial' | 'full';

/**
 * Brings the cache in line with the backend: deletes local metadata the backend does not have,
 * downloads what is missing (in partial mode only the files of the chain that covers `time`), and
 * stores manifests plain and signatures as `.sigtar.gz`. Returns whether anything changed.
 */
export async function syncArchiveDir(ctx: ReadContext, col: Collection, time: number, mode: MetadataSyncMode = 'partial'): Promise<boolean> {
  const log = ctx.log ?? quietLog;
  await mkdir(ctx.archiveDir, { recursive: true });
  const isMeta = (f: NamedFile) => f.parsed.kind === 'manifest' || f.parsed.kind === 'signature';
  const remote = new Map<string, NamedFile>();
  for (const f of col.remoteFiles.filter(isMeta)) remote.set(metadataKey(f.name), f);
  const localMeta = col.localFiles.filter(isMeta);
  const localFinal = new Map<string, NamedFile>();
  const localPartial = new Set<string>();
  for (const f of localMeta) {
    if (f.name.endsWith('.part')) localPartial.add(metadataKey(f.name));
    else localFinal.set(metadataKey(f.name), f);
  }

  const spurious = [...localFinal.entries()]
    .filter(([key]) => !remote.has(key) || localPartial.has(key))
    .map(([, f]) => f.name)
    .sort();

  const chain = mode === 'partial' ? chainAt(col.chains, time) : undefined;
  const wanted = (f: NamedFile) => {
    if (mode === 'full') return true;
    if (!chain) return false;
    const start = f.parsed.type === 'full' || f.parsed.type === 'full-sig' ? f.parsed.time! : f.parsed.startTime!;
    const end = f.parsed.type === 'full' || f.parsed.type === 'full-sig' ? f.parsed.time! : f.parsed.endTime!;
    return start <= chain.endTime && end >= chain.startTime;
  };
  const missing = [...remote.entries()]
    .filter(([key, f]) => (!localFinal.has(key) || spurious.includes(localFinal.get(key)!.name)) && !localPartial.has(key) && wanted(f))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  if (spurious.length === 0 && missing.length === 0) {
    log.notice('Local and Remote metadata are synchronized, no sync needed.');
    return false;
  }
  for (const name of spurious) {
    log.notice(`Deleting local ${path.join(ctx.archiveDir, name)} (not authoritative at backend).`);
    await rm(path.join(ctx.archiveDir, name), { force: true });
  }
  if (missing.length) log.notice('Synchronizing remote metadata to local cache...');
  for (const [key, f] of missing) {
    log.notice(`Copying ${f.name} to local cache.`);
    await copyToCache(ctx, f, key);
  }
  return true;
}

/** Downloads one metadata file into the cache: manifests plain, signatures as `<key>.gz`. */
async function copyToCache(ctx: ReadContext, f: NamedFile, key: string): Promise<void> {
  const raw = await download(ctx, f.name);
  const temps = [raw];
  try {
    let plain = raw;
    let plainIsGzip = false;
    if (f.parsed.encrypted) {
      plain = await decryptToTemp(ctx, f.name, raw, false);
      temps.push(plain);
    } else if (f.parsed.compressed) plainIsGzip = true;
    const finalName = f.parsed.kind === 'signature' ? `${key}.gz` : key;
    const staged = tempPath(ctx, 'cache');
    temps.push(staged);
    if (f.parsed.kind === 'signature' && !plainIsGzip) {
      await pipeline(createReadStream(plain), createGzip({ level: 6 }), createWriteStream(staged));
    } else if (f.parsed.kind === 'manifest' && plainIsGzip) {
      // A gzip'ed manifest is not something duplicity writes; store it plain all the same.
      const { createGunzip } = await import('node:zlib');
      await pipeline(createReadStream(plain), createGunzip(), createWriteStream(staged));
    } else {
      await copyFile(plain, staged);
    }
    await rename(staged, path.join(ctx.archiveDir, finalName)).catch(async (err: NodeJS.ErrnoException) => {
      // tempDir and archive dir may sit on different filesystems.
      if (err.code !== 'EXDEV') throw err;
      await pipeline(Readable.from(createReadStream(staged)), createWriteStream(path.join(ctx.archiveDir, finalName)));
    });
  } finally {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
  }
}
