#!/usr/bin/env bash
# One-command demo: installs and builds duplicity-ts if needed, then runs a real backup/restore
# round trip to a file:// target: a full backup, a change, an incremental, and a restore of each
# backup time, compared with the tree as it was. Needs only Node 20 and npm.
#
#   bash scripts/demo.sh [TARGET_DIR]      (default: a new folder under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/duplicity-ts ] && [ -f packages/cli/dist/main.js ] || npm ci
DT="$PWD/node_modules/.bin/duplicity-ts"
work=$(mktemp -d /tmp/duplicity-ts-demo.XXXXXX)
target=${1:-$work/target}
src=$work/source
export XDG_CACHE_HOME=$work/cache        # keep the demo's archive dir out of ~/.cache
mkdir -p "$src/docs" "$src/data"
printf 'hello, duplicity-ts\n' > "$src/docs/readme.txt"
for i in $(seq 1 200); do echo "line $i of a compressible text file"; done > "$src/docs/notes.txt"
head -c 3000000 /dev/urandom > "$src/data/random.bin"
ln -s docs/readme.txt "$src/link"
snapshot() { (cd "$1" && find . -printf '%y %m %p %l\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

echo "== full backup of $src to file://$target"
"$DT" full --no-encryption "$src" "file://$target"
snapshot "$src" > "$work/expected.0"
sleep 1
echo "== change some files, then an incremental backup"
printf 'appended\n' >> "$src/docs/readme.txt"
dd if=/dev/urandom of="$src/data/random.bin" bs=4096 count=2 seek=100 conv=notrunc status=none
rm "$src/docs/notes.txt"; echo new > "$src/docs/new.txt"
"$DT" incremental --no-encryption "$src" "file://$target"
snapshot "$src" > "$work/expected.1"

echo "== collection status"
"$DT" collection-status "file://$target"
times=$(ls "$target" | sed -n 's/.*\.\(20[0-9]\{6\}T[0-9]\{6\}Z\)\.manifest$/\1/p' | sort -u)
n=0
for t in $times; do
  echo "== restore as of $t"
  "$DT" restore --no-encryption --time "$t" "file://$target" "$work/restore.$n"
  if diff <(snapshot "$work/restore.$n") "$work/expected.$n" >/dev/null; then
    echo "   restored tree matches the source as it was at backup $n"
  else
    echo "   MISMATCH at backup $n"; diff <(snapshot "$work/restore.$n") "$work/expected.$n" | head; exit 1
  fi
  n=$((n+1))
done
echo "== demo OK (work dir: $work)"
