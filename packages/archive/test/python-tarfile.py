# Reference encoder for the tests: the header bytes Python 3's tarfile writes in pax format, which is
# what duplicity 0.8.22 uses. Reads a JSON list of headers on stdin, prints a JSON list of hex strings.
import json, sys, tarfile

TYPES = {'file': tarfile.REGTYPE, 'hardlink': tarfile.LNKTYPE, 'symlink': tarfile.SYMTYPE, 'chardev': tarfile.CHRTYPE,
         'blockdev': tarfile.BLKTYPE, 'directory': tarfile.DIRTYPE, 'fifo': tarfile.FIFOTYPE}
out = []
for c in json.load(sys.stdin):
    ti = tarfile.TarInfo(bytes.fromhex(c['name']).decode('utf-8', 'surrogateescape'))
    ti.type = TYPES[c['type']]
    ti.linkname = bytes.fromhex(c['linkname']).decode('utf-8', 'surrogateescape')
    for k in ('mode', 'uid', 'gid', 'uname', 'gname', 'mtime', 'size', 'devmajor', 'devminor'):
        setattr(ti, k, c[k])
    out.append(ti.tobuf(tarfile.PAX_FORMAT, 'utf-8', 'surrogateescape').hex())
json.dump(out, sys.stdout)
