// Prints 1 when Intel ISA-L's inflate can be compiled and linked here (libisal-dev), else 0; binding.gyp
// reads it to build the streaming inflater on ISA-L or on zlib. Linking a one-line program is the test:
// a header without the library (or the reverse) must not break the addon's build.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

if (process.env.DUPLICITY_TS_NO_ISAL === '1') {
  console.log(0);
} else {
  const dir = mkdtempSync(path.join(tmpdir(), 'has-isal-'));
  try {
    const program = '#include <isa-l/igzip_lib.h>\nint main(void) { struct inflate_state s; isal_inflate_init(&s); return 0; }\n';
    const r = spawnSync(process.env.CC || 'cc', ['-x', 'c', '-', '-o', path.join(dir, 'a.out'), '-lisal'], { input: program, timeout: 60_000 });
    console.log(r.status === 0 ? 1 : 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
