// Malformed signatures and deltas are clear errors (RsyncError with librsync's status), never wrong output.
import { describe, expect, it } from 'vitest';
import { DeltaBuilder, RsyncError, Signature, SignatureBuilder } from '@duplicity-ts/rsync';
import { applyDelta, makeSignature } from './helpers.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const basis = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?');

function errorOf(fn: () => unknown): RsyncError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RsyncError);
    expect((err as RsyncError).message).not.toContain('\n');
    return err as RsyncError;
  }
  throw new Error('expected an error');
}

async function patchError(delta: Buffer): Promise<RsyncError> {
  try {
    await applyDelta(basis, delta);
  } catch (err) {
    expect(err).toBeInstanceOf(RsyncError);
    expect((err as RsyncError).message).not.toContain('\n');
    return err as RsyncError;
  }
  throw new Error('expected an error');
}

describe('signature loading', () => {
  const good = makeSignature({ hash: 'md4', weak: 'rollsum', blockLen: 16, strongLen: 8 }, basis);
  it('accepts all four magics and reports parameters and block count', () => {
    expect(Signature.parse(good).params).toEqual({ hash: 'md4', weak: 'rollsum', blockLen: 16, strongLen: 8 });
    expect(Signature.parse(good).blockCount).toBe(4);
    for (const [magic, hash, weak] of [['72730137', 'blake2', 'rollsum'], ['72730146', 'md4', 'rabinkarp'], ['72730147', 'blake2', 'rabinkarp']]) {
      expect(Signature.parse(hex(`${magic} 00000800 00000010`)).params).toEqual({ hash, weak, blockLen: 2048, strongLen: 16 });
    }
  });
  it('truncated header, truncated record', () => {
    expect(errorOf(() => Signature.parse(good.subarray(0, 7))).message).toMatch(/signature is truncated: 7 bytes/);
    const e = errorOf(() => Signature.parse(good.subarray(0, 30)));
    expect(e.status).toBe('input-ended');
    expect(e.message).toMatch(/not a multiple of the 12-byte record/);
  });
  it('bad magic (a delta given as a signature)', () => {
    const e = errorOf(() => Signature.parse(hex('72730236 00000800 00000008')));
    expect(e.status).toBe('bad-magic');
    expect(e.message).toBe('not a signature: bad magic number 0x72730236');
  });
  it('implausible strong length, zero block length', () => {
    expect(errorOf(() => Signature.parse(hex('72730147 00000100 00000040'))).message).toMatch(/strong sum length 64 is not in 1..32/);
    expect(errorOf(() => Signature.parse(hex('72730136 00000100 00000011'))).message).toMatch(/strong sum length 17 is not in 1..16/);
    expect(errorOf(() => Signature.parse(hex('72730136 00000000 00000008'))).message).toMatch(/block length 0/);
  });
  it('bad builder parameters', () => {
    expect(errorOf(() => new SignatureBuilder({ hash: 'md4', weak: 'rollsum', blockLen: 0, strongLen: 8 })).status).toBe('param');
    expect(errorOf(() => new SignatureBuilder({ hash: 'blake2', weak: 'rollsum', blockLen: 8, strongLen: 33 })).status).toBe('param');
  });
  it('a DeltaBuilder over a signature with no blocks sends everything as literals', () => {
    const d = new DeltaBuilder(Signature.parse(hex('72730136 00000200 00000008')));
    const out = Buffer.concat([d.update(Buffer.from('abc')), d.final()]);
    expect(out.toString('hex')).toBe('72730236' + '03616263' + '00');
  });
});

describe('patch', () => {
  it('bad magic', async () => {
    const e = await patchError(hex('72730147 00'));
    expect(e.status).toBe('bad-magic');
    expect(e.message).toBe('not a delta: bad magic number 0x72730147');
  });
  it('reserved opcode', async () => {
    const e = await patchError(hex('72730236 02 6869 55 00'));
    expect(e.status).toBe('corrupt');
    expect(e.message).toBe('corrupt delta: reserved opcode 0x55 at offset 7');
    expect((await patchError(hex('72730236 ff'))).message).toMatch(/reserved opcode 0xff at offset 4/);
  });
  it('copy past the end of the basis, even when it starts inside', async () => {
    expect((await patchError(hex('72730236 45 3f 02 00'))).message).toBe(
      'corrupt delta: COPY 63+2 at offset 4 reaches past the end of the 64-byte basis',
    );
    expect((await patchError(hex('72730236 4d 00010000 01 00'))).status).toBe('input-ended');
  });
  it('zero-length copy and literal', async () => {
    expect((await patchError(hex('72730236 45 00 00 00'))).message).toMatch(/COPY of length 0/);
    expect((await patchError(hex('72730236 41 00 00'))).message).toMatch(/LITERAL of length 0/);
  });
  it('missing END, truncated command, truncated literal, empty input', async () => {
    for (const [d, msg] of [
      ['72730236 45 00 10', /input ended in a command at offset 7/],
      ['72730236 4a 00', /input ended in a COPY command/],
      ['72730236 42 01', /input ended in a LITERAL length/],
      ['72730236 05 6869', /input ended inside a LITERAL/],
      ['7273', /input ended in the magic number/],
    ] as const) {
      const e = await patchError(hex(d));
      expect(e.status).toBe('input-ended');
      expect(e.message).toMatch(msg);
    }
  });
  it('every opcode width; bytes after END are ignored', async () => {
    const d = hex(`72730236 02 4142 41 03 434445 42 0002 4647 43 00000001 48
      45 00 01 46 01 0001 47 02 00000001 48 03 0000000000000001 49 0004 01 4a 0005 0001
      4b 0006 00000001 4c 0007 0000000000000001 4d 00000008 01 4e 00000009 0001 4f 0000000a 00000001
      50 0000000b 0000000000000001 51 000000000000000c 01 52 000000000000000d 0001
      53 000000000000000e 00000001 54 000000000000000f 0000000000000001 00 ffffff`);
    expect((await applyDelta(basis, d)).toString()).toBe('ABCDEFGH0123456789abcdef');
  });
});

describe('patch input handling', () => {
  it('works when the delta source reuses one buffer for every chunk (as file readers do)', async () => {
    const { makeDelta, applyDelta: _unused, memoryBasis } = await import('./helpers.js');
    void _unused;
    const { patch } = await import('@duplicity-ts/rsync');
    const old = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff));
    const next = Buffer.concat([old.subarray(100, 2000), Buffer.from('x'.repeat(300)), old.subarray(2500)]);
    const delta = makeDelta(makeSignature({ hash: 'md4', weak: 'rollsum', blockLen: 64, strongLen: 8 }, old), next);
    for (const size of [1, 2, 3, 5, 7]) {
      const shared = Buffer.alloc(size);
      async function* src() {
        for (let o = 0; o < delta.length; o += size) {
          const n = delta.copy(shared, 0, o, o + size);
          yield shared.subarray(0, n);
        }
      }
      const out: Uint8Array[] = [];
      for await (const c of patch(memoryBasis(old), src())) out.push(Buffer.from(c));
      expect(Buffer.concat(out).equals(next)).toBe(true);
    }
  });
});
