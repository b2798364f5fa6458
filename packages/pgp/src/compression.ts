/**
 * Compressed Data packets (RFC 4880 §5.6): the algorithm numbers. ZIP is raw deflate and ZLIB is RFC 1950,
 * both inflated in plaintext-pass.ts (by @duplicity-ts/libdeflate's synchronous inflater when its addon is
 * built, else node:zlib) and deflated in parallel-deflate.ts; BZip2 (read only)
 * has no node:zlib codec, its decoder lives in bzip2.ts.
 */
export const ALGO_NONE = 0;
export const ALGO_ZIP = 1;
export const ALGO_ZLIB = 2;
export const ALGO_BZIP2 = 3;
