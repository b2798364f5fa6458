/** What the tests need from the machine: the reference archives and the real duplicity. */
import { execFileSync } from 'node:child_process';

/** Reference archives made by real duplicity 0.8.22 (read-only). */
export const FIXTURES = process.env.DUPLICITY_FIXTURES ?? '/work/shared/fixtures/duplicity-0.8.22';

/**
 * A python3 that can import duplicity (the system one: duplicity is a Debian package, whatever python3
 * comes first on PATH), for the tests that use duplicity's own parsers as oracles. Required in CI.
 */
export const DUPLICITY_PYTHON = ['/usr/bin/python3', 'python3'].find((p) => {
  try {
    execFileSync(p, ['-c', 'import duplicity.dup_time, duplicity.file_naming, duplicity.manifest'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
if (!DUPLICITY_PYTHON && process.env.CI === 'true') throw new Error('duplicity (python3 -c "import duplicity") is required in CI');
