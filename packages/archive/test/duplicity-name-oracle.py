# Asks the installed duplicity 0.8.22 how it classifies backend file names (black-box oracle for
# name-oracle.test.ts). stdin: {"prefixes": {...}, "short": bool, "names": [...]}; stdout: JSON list.
import json, sys
from duplicity import config, file_naming

req = json.load(sys.stdin)
p = req['prefixes']
config.file_prefix = p.get('file', '').encode()
config.file_prefix_archive = p.get('archive', '').encode()
config.file_prefix_manifest = p.get('manifest', '').encode()
config.file_prefix_signature = p.get('signature', '').encode()
config.short_filenames = req['short']
file_naming.prepare_regex(force=True)
out = []
for n in req['names']:
    try:
        r = file_naming.parse(n.encode('utf-8', 'surrogateescape'))
    except Exception:  # duplicity fails on some odd names (e.g. volume 0): reported as 'crash'
        out.append('crash')
        continue
    if not r:
        out.append(None)
        continue
    kind = 'manifest' if r.manifest else 'signature' if r.type in ('full-sig', 'new-sig') else 'volume'
    d = {'type': r.type, 'kind': kind, 'encrypted': bool(r.encrypted), 'compressed': bool(r.compressed), 'partial': bool(r.partial)}
    for k, v in (('time', r.time), ('startTime', r.start_time), ('endTime', r.end_time), ('volume', r.volume_number)):
        if v is not None:
            d[k] = v
    out.append(d)
json.dump(out, sys.stdout)
