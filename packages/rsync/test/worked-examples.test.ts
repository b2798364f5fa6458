// FORMAT.md §8.7: the worked examples generated with rdiff 2.3.2.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { duplicitySignatureParams, rdiffSignatureParams, type SignatureParams } from '@duplicity-ts/rsync';
import { applyDelta, makeDelta, makeSignature, sameBytes } from './helpers.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');
const dupl = (blockLen: number): SignatureParams => ({ blockLen, strongLen: 8, hash: 'md4', weak: 'rollsum' });

describe('§8.7 A: hello\\n', () => {
  const data = Buffer.from('hello\n');
  it('duplicity-style signature', () => {
    expect(makeSignature(dupl(512), data).toString('hex')).toBe('727301360000020000000008' + '0ad002d8' + '63481c78ae04c201');
  });
  it('rdiff default signature (RabinKarp + BLAKE2b-256, block 256, strong 32)', () => {
    const p = rdiffSignatureParams({ fileSize: data.length });
    expect(p).toEqual({ blockLen: 256, strongLen: 32, hash: 'blake2', weak: 'rabinkarp' });
    expect(makeSignature(p, data).toString('hex')).toBe(
      '72730147000001000000002060ef5343' + '93becc6e9882211c3ec3708c95bcd69baab7bb59c7f4bc84ce637b88a534b783',
    );
  });
  it('-H md4 signature (RabinKarp + MD4, strong 16)', () => {
    const p = rdiffSignatureParams({ fileSize: data.length, hash: 'md4' });
    expect(makeSignature(p, data).toString('hex')).toBe(
      '727301460000010000000010' + '60ef5343' + '63481c78ae04c201fa01ea9d2b1db56d',
    );
  });
  it('empty file: the 12-byte header only (§7.2)', () => {
    expect(makeSignature(dupl(512), Buffer.alloc(0)).toString('hex')).toBe('727301360000020000000008');
  });
});

describe('§8.7 B: copy and literal, block 16', () => {
  const basis = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?');
  const next = Buffer.from('wxyzABCDEFGHIJKLhello0123456789abcdefghijklmnopqrstuvXY');
  const sig = hex(`72730136 00000010 00000008 2fd30652 5f65604c3d3ee629 49d808d8 3d3e014b7532519a
    40ac0720 086b49b9201c530c 3b7706e1 2db694a11754a7c4`);
  const delta = hex('72730236 45 20 10 05 68656c6c6f 45 00 20 02 5859 00');
  it('signature', () => expect(makeSignature(dupl(16), basis)).toEqual(sig));
  it('delta equals rdiff byte for byte', () => expect(makeDelta(sig, next)).toEqual(delta));
  it('patch', async () => expect(await applyDelta(basis, delta)).toEqual(next));
});

describe('§8.7 C: 100000-byte LCG basis', () => {
  const basis = Buffer.alloc(100000);
  let x = 1;
  for (let i = 0; i < basis.length; i++) {
    x = (Math.imul(1103515245, x) + 12345) & 0x7fffffff;
    basis[i] = (x >>> 16) & 0xff;
  }
  const next = Buffer.concat([basis.subarray(0, 50000), Buffer.alloc(300, 'N'), basis.subarray(50000), Buffer.alloc(70, 'E')]);
  it('inputs are the spec\'s', () => {
    expect(basis.subarray(0, 8).toString('hex')).toBe('c67e816b4bfbe2fb');
    expect(sha1(basis)).toBe('042fd2932bf088d390904f576cad544d1a736b9a');
    expect(sha1(next)).toBe('9e37e08bdf04089f2c6d0d8dab0cff063fe954bf');
  });
  it('duplicity-style signature and delta equal rdiff\'s', async () => {
    const sig = makeSignature(duplicitySignatureParams(basis.length), basis);
    expect(sig.length).toBe(2364);
    expect(sha1(sig)).toBe('1321af681db740626b67b80201df74c3cf79e45a');
    const delta = makeDelta(sig, next);
    expect(delta.length).toBe(1061);
    expect(sha1(delta)).toBe('cb778a9eb1cbaac3b5f8c045bcc61f42d24f6354');
    expect(delta.subarray(0, 11).toString('hex')).toBe('72730236' + '4600c200' + '42032c');
    expect(sameBytes(await applyDelta(basis, delta), next)).toBe('same');
  });
  it('rdiff-default signature and delta equal rdiff\'s', async () => {
    const sig = makeSignature(rdiffSignatureParams({ fileSize: basis.length }), basis);
    expect(sig.length).toBe(14088);
    expect(sha1(sig)).toBe('04b44aad0812afc536f4f70f3542c4a6a5151e93');
    const delta = makeDelta(sig, next);
    expect(delta.length).toBe(805);
    expect(sha1(delta)).toBe('56ffe47cc4c57375295671ac8e68e42b494f69e7');
    expect(sameBytes(await applyDelta(basis, delta), next)).toBe('same');
  });
});

describe('§8.7 D and §7.1 block sizes', () => {
  it('duplicity block length per file size', () => {
    const cases: [number, number][] = [[0, 512], [1023999, 512], [1024000, 512], [2047999, 512], [2048000, 1024],
      [3072000, 1536], [4096000, 2048], [5000000, 2048]];
    for (const [size, bl] of cases) expect(duplicitySignatureParams(size).blockLen).toBe(bl);
    expect(duplicitySignatureParams(20_480_000, 8192).blockLen).toBe(8192);
  });
  it('a 3,000,000-byte file changed at 1,000,000 starts with COPY 0+999424, LITERAL 1024', () => {
    const basis = Buffer.alloc(3_000_000);
    let x = 7;
    for (let i = 0; i < basis.length; i++) { x = (Math.imul(1103515245, x) + 12345) & 0x7fffffff; basis[i] = x >>> 16; }
    const next = Buffer.concat([basis.subarray(0, 1_000_000), Buffer.from('changed!'), basis.subarray(1_000_008), Buffer.alloc(1000, 1)]);
    const sig = makeSignature(duplicitySignatureParams(basis.length), basis);
    expect(duplicitySignatureParams(basis.length).blockLen).toBe(1024);
    expect(makeDelta(sig, next).subarray(0, 13).toString('hex')).toBe('72730236' + '4700000f4000' + '420400');
  });
});
