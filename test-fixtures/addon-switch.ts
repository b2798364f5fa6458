/**
 * Runs `fn` with the libdeflate addon switched off (DUPLICITY_TS_NO_LIBDEFLATE=1, which the addon's wrapper reads
 * per call) or as it is, and puts the variable back afterwards: for tests that compare the addon's path with the
 * fallback's.
 */
export async function withAddon<T>(on: boolean, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.DUPLICITY_TS_NO_LIBDEFLATE;
  if (!on) process.env.DUPLICITY_TS_NO_LIBDEFLATE = '1';
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.DUPLICITY_TS_NO_LIBDEFLATE;
    else process.env.DUPLICITY_TS_NO_LIBDEFLATE = saved;
  }
}
