import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { encodeTarEntry, readTar, readTarSync, tarEndBlocks, tarPadding, type TarHeader } from '@duplicity-ts/archive';

const header = (p: Partial<TarHeader>): TarHeader => ({
  name: Buffer.from('snapshot/x'), type: 'file', mode: 0o644, uid: 0, gid: 0, uname: 'root', gname: 'root',
  mtime: 1600000000, size: 0, linkname: Buffer.alloc(0), devmajor: 0, devminor: 0, ...p,
});

function entry(name: string, body: Buffer | string = Buffer.alloc(0), p: Partial<TarHeader> = {}): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([encodeTarEntry(header({ name: Buffer.from(name), size: b.length, ...p })), b, tarPadding(b.length)]);
}

/** A test stream: `parts` cut into pieces of `size` bytes; `forbidden`: reading past them fails the test. */
interface Source {
  parts: Buffer[];
  size: number;
  forbidden?: boolean;
  /** Every piece is handed out in one buffer, overwritten for the next (as the inflaters do). */
  reused?: boolean;
}

const chunks = (parts: Buffer[], size = Infinity): Source => ({ parts, size });
/** A source that fails the test if the reader asks for anything after `parts`. */
const thenForbidden = (parts: Buffer[]): Source => ({ parts, size: Infinity, forbidden: true });

function* pieces(s: Source): Generator<Uint8Array> {
  const scratch = Buffer.alloc(Math.max(0, ...s.parts.map((p) => Math.min(p.length, s.size))));
  for (const p of s.parts) {
    for (let i = 0; i < p.length; i += s.size) {
      const piece = p.subarray(i, Math.min(p.length, i + s.size));
      if (!s.reused) yield piece;
      else {
        scratch.fill(0xee);
        piece.copy(scratch);
        yield scratch.subarray(0, piece.length);
      }
    }
  }
  if (s.forbidden) throw new Error('reader read past the end-of-archive block');
}

type Body = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
type Reader = (s: Source) => AsyncIterable<{ header: TarHeader; body: Body }>;

/** Both drivers of the one tar parser: over an async stream, and over a synchronous one. */
const READERS: [string, Reader][] = [
  ['readTar', (s) => readTar((async function* () { yield* pieces(s); })())],
  ['readTarSync', (s) => (async function* () { yield* readTarSync(pieces(s)); })()],
];

describe.each(READERS)('%s', (_name, read) => {
async function list(src: Source): Promise<{ name: string; body: string }[]> {
  const out = [];
  for await (const { header: h, body } of read(src)) {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(Buffer.from(c));
    out.push({ name: h.name.toString('latin1'), body: Buffer.concat(parts).toString('latin1') });
  }
  return out;
}

const TWO = [entry('snapshot/./', '', { type: 'directory' }), entry('snapshot/a.txt', 'hello\n')];
const TWO_LISTED = [{ name: 'snapshot/./', body: '' }, { name: 'snapshot/a.txt', body: 'hello\n' }];

describe('readTar end of archive (§2.3)', () => {
  it('reads a zero-length stream as an empty archive', async () => {
    expect(await list(chunks([]))).toEqual([]);
  });
  it('reads a gzip-volume stream that ends right after the last entry, with no end marker', async () => {
    expect(await list(chunks(TWO))).toEqual(TWO_LISTED);
  });
  it('tolerates a stream that ends without the last payload padding', async () => {
    const all = Buffer.concat(TWO);
    expect(await list(chunks([all.subarray(0, all.length - 500)]))).toEqual(TWO_LISTED);
  });
  it('stops at the first zero block and never reads the gpg top-off junk after it', async () => {
    const body = Buffer.concat(TWO);
    const record = Buffer.alloc(10240 - (body.length % 10240)); // gpg volumes: zeros up to the record
    const junk = randomBytes(40000);
    expect(await list(chunks([body, record, junk]))).toEqual(TWO_LISTED);
    expect(await list(thenForbidden([body, Buffer.alloc(512)]))).toEqual(TWO_LISTED);
    // a junk block that looks like a valid header is still never reached
    expect(await list(chunks([body, Buffer.alloc(512), entry('snapshot/evil', 'x')]))).toEqual(TWO_LISTED);
    // sigtar ending
    expect(await list(thenForbidden([body, tarEndBlocks(body.length)]))).toEqual(TWO_LISTED);
  });
  it('gives the same entries whatever the chunking', async () => {
    const big = randomBytes(70000).toString('latin1');
    const parts = [...TWO, entry('multivol_snapshot/b/1', Buffer.from(big, 'latin1'))];
    const want = [...TWO_LISTED, { name: 'multivol_snapshot/b/1', body: big }];
    expect(await list(chunks([Buffer.concat(TWO)], 1))).toEqual(TWO_LISTED);
    for (const size of [7, 511, 513]) expect(await list(chunks([Buffer.concat(parts)], size))).toEqual(want);
  });
  it('gives the same entries when the stream reuses one buffer for its pieces', async () => {
    const big = randomBytes(70000).toString('latin1');
    const parts = [...TWO, entry('multivol_snapshot/b/1', Buffer.from(big, 'latin1')), entry('snapshot/c', 'ccc')];
    const want = [...TWO_LISTED, { name: 'multivol_snapshot/b/1', body: big }, { name: 'snapshot/c', body: 'ccc' }];
    for (const size of [100, 511, 512, 4096]) expect(await list({ ...chunks([Buffer.concat(parts)], size), reused: true })).toEqual(want);
  });
});

describe('readTar bodies', () => {
  it('skips bodies that are not read, or read in part', async () => {
    const parts = [entry('snapshot/a', 'A'.repeat(3000)), entry('snapshot/b', 'B'.repeat(700)), entry('snapshot/c', 'C')];
    const names: string[] = [];
    let i = 0;
    for await (const { header: h, body } of read(chunks(parts, 100))) {
      names.push(h.name.toString());
      if (i++ === 1) {
        for await (const c of body) {
          expect(Buffer.from(c).toString()).toMatch(/^B+$/);
          break;
        }
      }
    }
    expect(names).toEqual(['snapshot/a', 'snapshot/b', 'snapshot/c']);
  });
  it('refuses to read a body after moving on', async () => {
    const bodies: Body[] = [];
    for await (const { body } of read(chunks(TWO))) bodies.push(body);
    await expect(async () => {
      for await (const _ of bodies[1]) void _;
    }).rejects.toThrow(/after moving to the next entry/);
  });
});

describe('readTar damaged input', () => {
  it('reports a payload cut short, naming the entry', async () => {
    const e = entry('snapshot/cut.bin', 'x'.repeat(2000));
    await expect(list(chunks([e.subarray(0, 1000)]))).rejects.toThrow(/ends inside the payload of snapshot\/cut\.bin \(1512 bytes missing\)/);
  });
  it('reports a header cut short', async () => {
    await expect(list(chunks([TWO[0], TWO[1].subarray(0, 100)]))).rejects.toThrow(/ends inside the header at offset 512/);
  });
  it('reports a block that is not a tar header', async () => {
    // A random checksum field may also read as a GNU base-256 number (first byte 0x80 or 0xff) too big to be one.
    await expect(list(chunks([randomBytes(512)]))).rejects.toThrow(/offset 0: .*not a tar header|bad .* field|checksum is out of range/);
    const e = entry('snapshot/a', 'z');
    e[0] ^= 1;
    await expect(list(chunks([e]))).rejects.toThrow(/checksum mismatch/);
  });
  it('limits the size of extended headers', async () => {
    const h = Buffer.from(encodeTarEntry(header({ name: Buffer.from('x'.repeat(200)) })));
    // forge a pax header that claims 64 MiB of records
    h.write('00400000000\0', 124, 'latin1');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += h[i];
    h.write(sum.toString(8).padStart(6, '0') + '\0', 148, 'latin1');
    await expect(list(chunks([h]))).rejects.toThrow(/extended header of 67108864 bytes is too large/);
  });
});

describe('readTar dialects', () => {
  // Archives in the other dialects, written by python3's tarfile (GNU is what duplicity on Python <= 3.7 wrote).
  const PY = String.raw`
import io, sys, tarfile, json
fmt = {'gnu': tarfile.GNU_FORMAT, 'pax': tarfile.PAX_FORMAT, 'ustar': tarfile.USTAR_FORMAT}[sys.argv[1]]
buf = io.BytesIO()
tf = tarfile.open(fileobj=buf, mode='w', format=fmt, pax_headers={'comment': 'global'} if sys.argv[1] == 'pax' else None)
def add(name, type=tarfile.REGTYPE, data=b'', **kw):
    ti = tarfile.TarInfo(name.decode('utf-8', 'surrogateescape')); ti.type = type; ti.size = len(data); ti.mtime = 1600000000
    for k, v in kw.items(): setattr(ti, k, v)
    tf.addfile(ti, io.BytesIO(data) if data else None)
long = b'snapshot/' + b'd' * 120 + b'/f\xff\xc3\xa9.txt'
if sys.argv[1] != 'ustar':
    add(long, data=b'long name body')
    add(b'snapshot/link', tarfile.SYMTYPE, linkname=(b'../' + b't' * 150).decode())
    add(b'snapshot/big-ids', uid=8**7 + 5, gid=2**31, data=b'ids')
else:
    add(b'snapshot/' + b'p' * 120 + b'/short.txt', data=b'prefix split')
add(b'snapshot/dev', tarfile.CHRTYPE, devmajor=4, devminor=64)
add(b'snapshot/fifo', tarfile.FIFOTYPE)
add(b'snapshot/d', tarfile.DIRTYPE)
tf.close()
sys.stdout.buffer.write(buf.getvalue())
`;
  const make = (fmt: string) => execFileSync('python3', ['-c', PY, fmt]);

  async function headers(tar: Buffer) {
    const out: (TarHeader & { text: string })[] = [];
    // Pieces of 333 bytes in one reused buffer: extended headers and names span pieces.
    for await (const { header: h, body } of read({ ...chunks([tar], 333), reused: true })) {
      const parts: Buffer[] = [];
      for await (const c of body) parts.push(Buffer.from(c));
      out.push({ ...h, text: Buffer.concat(parts).toString() });
    }
    return out;
  }

  for (const fmt of ['gnu', 'pax']) {
    it(`reads ${fmt} long names, long link targets, big ids, devices`, async () => {
      const hs = await headers(make(fmt));
      const long = Buffer.concat([Buffer.from('snapshot/' + 'd'.repeat(120) + '/f'), Buffer.from([0xff, 0xc3, 0xa9]), Buffer.from('.txt')]);
      expect(hs.map((h) => h.name.toString('latin1'))).toEqual([
        long.toString('latin1'), 'snapshot/link', 'snapshot/big-ids', 'snapshot/dev', 'snapshot/fifo', 'snapshot/d/',
      ]);
      expect(hs[0]).toMatchObject({ type: 'file', size: 14, text: 'long name body', mtime: 1600000000 });
      expect(hs[1]).toMatchObject({ type: 'symlink', linkname: Buffer.from('../' + 't'.repeat(150)), size: 0 });
      expect(hs[2]).toMatchObject({ uid: 8 ** 7 + 5, gid: 2 ** 31, text: 'ids' });
      expect(hs[3]).toMatchObject({ type: 'chardev', devmajor: 4, devminor: 64 });
      expect(hs[4]).toMatchObject({ type: 'fifo' });
      expect(hs[5]).toMatchObject({ type: 'directory' });
    });
  }
  it('joins the ustar prefix field to the name', async () => {
    const hs = await headers(make('ustar'));
    expect(hs[0]).toMatchObject({ name: Buffer.from('snapshot/' + 'p'.repeat(120) + '/short.txt'), text: 'prefix split' });
  });
});
});
