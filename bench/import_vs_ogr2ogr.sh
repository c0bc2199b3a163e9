#!/usr/bin/env bash
# Import the same synthetic point GeoJSON with `nostrike import` and with
# `ogr2ogr -f GPKG`, side by side; then time a cold `nostrike check` of one
# point against the resulting registry. Wall time and peak RSS from GNU time.
#
# Usage: bench/import_vs_ogr2ogr.sh [N=1000000]
# Needs: a release build (cargo build --release), gdal-bin, /usr/bin/time.
set -euo pipefail
N=${1:-1000000}
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
BIN=target/release/nostrike
[ -x "$BIN" ] || cargo build --release
SRC="$OUT/points-$N.geojson"
[ -f "$SRC" ] || python3 bench/make_points.py "$N" "$SRC"

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > /dev/null 2> "$OUT/stderr.txt" || { cat "$OUT/stderr.txt"; exit 1; }
  read -r secs kb < "$OUT/time.txt"
  printf '%-34s %8.2f s %8.0f MB\n' "$label" "$secs" "$((kb / 1024))"
  echo "{\"what\":\"$label\",\"n\":$N,\"seconds\":$secs,\"peak_rss_kb\":$kb}" >> "$OUT/results.jsonl"
}

rm -f "$OUT/reg.db"* "$OUT/ogr.gpkg"
echo "$(date -u +%FT%TZ) $(nproc) cores; $($BIN --version); $(ogr2ogr --version)"
"$BIN" --registry "$OUT/reg.db" init > /dev/null
measure "nostrike import ($N points)" "$BIN" --registry "$OUT/reg.db" import "$SRC" --source syn
measure "ogr2ogr -f GPKG ($N points)" ogr2ogr -f GPKG "$OUT/ogr.gpkg" "$SRC"
sync
measure "nostrike check, cold, 1 point" "$BIN" --registry "$OUT/reg.db" check --point 42.5,1.5 --buffer 1km
measure "nostrike verify" "$BIN" --registry "$OUT/reg.db" verify
ls -la "$OUT/reg.db" "$OUT/ogr.gpkg"
