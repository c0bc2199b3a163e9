#!/usr/bin/env bash
# A laptop's pull of a large registry: the first (whole) copy, then a pull
# after a 1,000-site import at the source (only what the copy lacks), and
# the cold check on the laptop after it. Wall time and peak RSS from GNU time.
#
# Usage: bench/pull.sh [N=1000000]   Needs: a release build, /usr/bin/time.
set -euo pipefail
N=${1:-1000000}
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
BIN=target/release/nostrike
cargo build --release -q -p nostrike
SRC="$OUT/points-$N.geojson"
[ -f "$SRC" ] || python3 bench/make_points.py "$N" "$SRC"
measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > "$OUT/stdout.txt" 2> "$OUT/stderr.txt" || { cat "$OUT/stderr.txt"; exit 1; }
  read -r secs kb < "$OUT/time.txt"
  printf '%-44s %8.2f s %8.0f MB\n' "$label" "$secs" "$((kb / 1024))"
}
rm -f "$OUT/hq.db"* "$OUT/laptop.db"*
echo "$(date -u +%FT%TZ) $(nproc) cores; $($BIN --version)"
"$BIN" --registry "$OUT/hq.db" init > /dev/null
"$BIN" --registry "$OUT/hq.db" import "$SRC" --source syn > /dev/null
measure "first pull ($N sites, whole copy)" "$BIN" pull --from "$OUT/hq.db" --to "$OUT/laptop.db"
python3 bench/make_points.py 1000 "$OUT/more-1000.geojson"
"$BIN" --registry "$OUT/hq.db" import "$OUT/more-1000.geojson" --source more > /dev/null
measure "second pull (after a 1,000-site import)" "$BIN" pull --from "$OUT/hq.db" --to "$OUT/laptop.db"
sed 's/^.*; sent/sent/' "$OUT/stdout.txt"
sync
measure "cold check on the laptop, 1 point" "$BIN" --registry "$OUT/laptop.db" check --point 42.5,1.5 --buffer 1km
ls -l "$OUT/hq.db" "$OUT/laptop.db" | awk '{print $5, $9}'
rm -f "$OUT/hq.db"* "$OUT/laptop.db"*
