/**
 * Throughput of the tar reader and header encoder, in CPU time (the wall clock is meaningless on a
 * shared machine). Run: npx tsx packages/archive/bench/tar-throughput.mts
 */
import { encodeTarEntry, readTar, type TarHeader } from '../src/index.js';

const header = (i: number, size: number): TarHeader => ({
  name: Buffer.from(`snapshot/dir/file-${i}.bin`), type: 'file', mode: 0o644, uid: 1000, gid: 1000,
  uname: 'user', gname: 'user', mtime: 1700000000, size, linkname: Buffer.alloc(0), devmajor: 0, devminor: 0,
});

function cpuSeconds(f: () => Promise<void> | void): Promise<number> {
  const c0 = process.cpuUsage();
  return Promise.resolve(f()).then(() => {
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1e6;
  });
}

async function* inChunks(all: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < all.length; i += size) yield all.subarray(i, i + size);
}

async function drain(src: AsyncIterable<Uint8Array>): Promise<{ entries: number; bytes: number }> {
  let entries = 0;
  let bytes = 0;
  for await (const { body } of readTar(src)) {
    entries++;
    for await (const c of body) bytes += c.length;
  }
  return { entries, bytes };
}

const N = 100_000;
let s = await cpuSeconds(() => {
  for (let i = 0; i < N; i++) encodeTarEntry(header(i, 100));
});
console.log(`encodeTarEntry: ${(N / s).toFixed(0)} headers/s`);

const small = Buffer.concat(Array.from({ length: N }, (_, i) => [encodeTarEntry(header(i, 100)), Buffer.alloc(512, 1)]).flat());
let r = { entries: 0, bytes: 0 };
s = await cpuSeconds(async () => void (r = await drain(inChunks(small, 65536))));
console.log(`readTar, 100-byte files: ${(r.entries / s).toFixed(0)} entries/s`);

const payload = Buffer.alloc(65536, 7);
const big = Buffer.concat(Array.from({ length: 2000 }, (_, i) => [encodeTarEntry(header(i, payload.length)), payload]).flat());
s = await cpuSeconds(async () => void (r = await drain(inChunks(big, 65536))));
console.log(`readTar, 64 KiB payloads: ${(r.bytes / 2 ** 20 / s).toFixed(0)} MiB/s`);
