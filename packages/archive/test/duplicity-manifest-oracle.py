# Asks the installed duplicity 0.8.22 how it reads manifests (black-box oracle for
# manifest-oracle.test.ts). stdin: JSON list of manifests as hex; stdout: JSON list of parses.
import json, sys
from duplicity import log, manifest

log.setup()
hexs = lambda b: b.hex() if b is not None else None
out = []
for text in json.load(sys.stdin):
    try:
        m = manifest.Manifest().from_string(bytes.fromhex(text))
    except Exception as e:
        out.append({'crash': '%s: %s' % (type(e).__name__, e)})
        continue
    vols = []
    for n, v in sorted(m.volume_info_dict.items()):
        best = v.get_best_hash()
        vols.append({'number': n, 'start': [hexs(c) for c in v.start_index], 'startBlock': v.start_block,
                     'end': [hexs(c) for c in v.end_index], 'endBlock': v.end_block,
                     'hash': [best[0], best[1]] if best else None})
    out.append({'hostname': m.hostname.decode('latin1') if isinstance(m.hostname, bytes) else m.hostname,
                'localdir': hexs(m.local_dirname), 'volumes': vols})
json.dump(out, sys.stdout)
