# Asks the installed duplicity 0.8.22 which volumes a restore of a prefix reads (VolumeInfo.contains,
# black-box oracle for manifest-oracle.test.ts). stdin: JSON list of [start, end, prefix] (lists of
# hex components); stdout: JSON list of booleans.
import json, sys
from duplicity import log, manifest

log.setup()
out = []
for start, end, prefix in json.load(sys.stdin):
    t = lambda cs: tuple(bytes.fromhex(c) for c in cs)
    vi = manifest.VolumeInfo()
    vi.set_info(1, t(start), None, t(end), None)
    out.append(bool(vi.contains(t(prefix))))
json.dump(out, sys.stdout)
