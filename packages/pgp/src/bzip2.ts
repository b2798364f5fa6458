/** BZip2 decompression for Compressed Data packets with algorithm 3 (placeholder until the decoder lands). */
export async function* bunzip2(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const _ of src) void _;
  throw new Error('BZip2-compressed messages are not supported yet');
}
