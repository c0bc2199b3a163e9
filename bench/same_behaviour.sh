#!/usr/bin/env bash
# Two builds of nostrike, the same answers: content hashes after import and
# every report format, byte for byte once timestamps and the version line are
# masked, on the shipped data and on a synthetic benchmark set.
#
# Usage: bench/same_behaviour.sh OLD_BINARY NEW_BINARY [SITES=1000000] [AREAS=10000]
# Needs a release build of nostrike-benches (for `gen`) in this tree.
set -euo pipefail
OLD=$(realpath "$1"); NEW=$(realpath "$2")
SITES=${3:-1000000}; AREAS=${4:-10000}
cd "$(dirname "$0")/.."
ROOT=$PWD
GEN=target/release/gen
OUT=bench/out
mkdir -p "$OUT"
S="$OUT/sites-$SITES.geojson"; A="$OUT/areas-$AREAS.geojson"
[ -f "$S" ] || "$GEN" sites "$SITES" 42 "$S"
[ -f "$A" ] || "$GEN" areas "$AREAS" 7 "$A"
W=$(mktemp -d /tmp/nostrike-same.XXXXXX)
trap 'rm -rf "$W"' EXIT

run() { # run NAME BINARY: both registries and every report, in $W/NAME
  local d="$W/$1" bin=$2
  mkdir -p "$d"; cd "$d"
  "$bin" --registry shipped.db init > /dev/null
  "$bin" --registry shipped.db import "$ROOT/data/helsinki-sites.geojson" "$ROOT/data/andorra-2013-sites.geojson" > /dev/null
  "$bin" --registry shipped.db stats --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["content_hash"])' > shipped.hash
  for fmt in table json geojson csv kml; do
    # Helsinki centre 2 km, a route through Andorra, and the synthetic areas file.
    "$bin" --registry shipped.db check --point 60.1699,24.9384 --radius 2km --format "$fmt" -o "point.$fmt" -q || [ $? -ne 1 ]
    "$bin" --registry shipped.db check --route "42.50,1.50;42.55,1.56;42.58,1.60" --corridor 500m --format "$fmt" -o "route.$fmt" -q || [ $? -ne 1 ]
  done
  "$bin" --registry big.db init > /dev/null
  "$bin" --registry big.db import "$ROOT/$S" --source syn > /dev/null
  "$bin" --registry big.db stats --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["content_hash"])' > big.hash
  for fmt in json csv; do
    "$bin" --registry big.db check --areas "$ROOT/$A" --policy "$ROOT/bench/zero-policy.toml" --format "$fmt" -o "batch.$fmt" -q || [ $? -ne 1 ]
  done
  "$bin" --registry big.db sites --near 48.8566,2.3522 --within 3km --format json > near.json
  cd "$ROOT"
}
run old "$OLD"
run new "$NEW"

mask() { # timestamps and the program's version line
  sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIME/g; s/nostrike [0-9]+\.[0-9]+\.[0-9]+/nostrike VERSION/g' "$1"
}
status=0
for f in "$W"/old/*; do
  name=$(basename "$f")
  case "$name" in *.db|*.db-*) continue;; esac
  if cmp -s <(mask "$f") <(mask "$W/new/$name"); then
    echo "same: $name ($(wc -c < "$f") bytes)"
  else
    echo "DIFFERENT: $name"; diff <(mask "$f") <(mask "$W/new/$name") | head -5; status=1
  fi
done
echo "content hash, shipped data: $(cat "$W/new/shipped.hash"); $SITES synthetic sites: $(cat "$W/new/big.hash")"
exit $status
