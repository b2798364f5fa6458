# Asks the installed duplicity 0.8.22 how it writes a manifest's volume entries (black-box oracle for
# manifest-oracle.test.ts). stdin: JSON list of volumes (paths as lists of hex components); stdout: hex.
import json, sys
from duplicity import log, manifest

log.setup()
out = []
for v in json.load(sys.stdin):
    vi = manifest.VolumeInfo()
    vi.set_info(v['number'], tuple(bytes.fromhex(c) for c in v['start']), v['startBlock'],
                tuple(bytes.fromhex(c) for c in v['end']), v['endBlock'])
    if v['hash']:
        vi.set_hash('SHA1', v['hash'])
    out.append((vi.to_string() + b'\n').hex())
json.dump(out, sys.stdout)
