/**
 * The push parser must see the same packets as the whole-buffer splitter (packets.ts splitPackets) whatever the
 * chunking: new- and old-format headers, every length encoding, partial body lengths, indeterminate length.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PacketPushParser } from '../src/packet-push-parser.js';
import { splitPackets } from '../src/packets.js';

function newLen(n: number): number[] {
  if (n < 192) return [n];
  if (n < 8384) return [((n - 192) >> 8) + 192, (n - 192) & 0xff];
  return [0xff, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

/** Encodes a packet in the chosen framing. */
function frame(tag: number, body: Uint8Array, style: 'new' | 'old' | 'partial'): number[] {
  if (style === 'old') {
    const t = tag & 0x0f;
    if (body.length < 256) return [0x80 | (t << 2), body.length, ...body];
    return [0x81 | (t << 2), body.length >> 8, body.length & 0xff, ...body];
  }
  if (style === 'new' || body.length < 3) return [0xc0 | tag, ...newLen(body.length), ...body];
  // Partial parts of 1 and 2 bytes (the smallest power-of-two parts), then a normal length for the rest.
  const rest = body.subarray(3);
  return [0xc0 | tag, 0xe0, body[0]!, 0xe1, body[1]!, body[2]!, ...newLen(rest.length), ...rest];
}

function parse(bytes: Uint8Array, cuts: number[]): { tag: number; body: Buffer }[] {
  const got: { tag: number; body: Buffer }[] = [];
  let parts: Buffer[] = [];
  const p = new PacketPushParser({
    start: () => { parts = []; },
    data: (_t, b) => { parts.push(Buffer.from(b)); },
    end: (tag) => { got.push({ tag, body: Buffer.concat(parts) }); },
  });
  let at = 0;
  for (const c of [...cuts.filter((x) => x < bytes.length).sort((a, b) => a - b), bytes.length]) {
    p.feed(bytes.subarray(at, c));
    at = c;
  }
  p.finish();
  return got;
}

describe('PacketPushParser', () => {
  it('finds the packets splitPackets finds, however the bytes are chunked', () => {
    const packet = fc.record({
      tag: fc.integer({ min: 1, max: 15 }),
      body: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 190, maxLength: 400 }), fc.uint8Array({ minLength: 8380, maxLength: 8400 })),
      style: fc.constantFrom('new' as const, 'old' as const, 'partial' as const),
    });
    fc.assert(fc.property(fc.array(packet, { maxLength: 6 }), fc.array(fc.nat({ max: 30000 }), { maxLength: 8 }), (packets, cuts) => {
      const bytes = Uint8Array.from(packets.flatMap((k) => frame(k.tag, k.body, k.style)));
      const want = [...splitPackets(bytes)].map((x) => ({ tag: x.tag, body: Buffer.from(x.body) }));
      expect(parse(bytes, cuts)).toEqual(want);
      expect(want.map((w) => w.tag)).toEqual(packets.map((k) => k.tag));
    }), { numRuns: 150 });
  });

  it('runs an old-format packet of indeterminate length to the end of the data', () => {
    const got = parse(Uint8Array.from([0xa3, 2, 9, 8, 7]), [1, 3]);
    expect(got).toEqual([{ tag: 8, body: Buffer.from([2, 9, 8, 7]) }]);
  });

  it('rejects truncated headers and bodies, and bytes that are not packets', () => {
    expect(() => parse(Uint8Array.from([0xcb, 5, 1, 2]), [])).toThrow('truncated packet body');
    expect(() => parse(Uint8Array.from([0xcb, 0xe1, 1, 2]), [])).toThrow('truncated packet body');
    expect(() => parse(Uint8Array.from([0xcb, 0xff, 0]), [])).toThrow('truncated packet header');
    expect(() => parse(Uint8Array.from([0x3b, 0]), [])).toThrow('not an OpenPGP packet (header byte 0x3b)');
  });
});
