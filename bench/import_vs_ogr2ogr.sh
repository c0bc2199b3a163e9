#!/usr/bin/env bash
# Import the same synthetic point GeoJSON with `nostrike import` and with
# `ogr2ogr -f GPKG`, side by side; then time a cold `nostrike check` of one
# point against the resulting registry. Wall time and peak RSS from GNU time.
#
# Usage: bench/import_vs_ogr2ogr.sh [N=1000000]
#   NS_BASELINE=PATH  also import with another nostrike build (e.g. one from
#                     before a storage change), in the same run, and compare
#                     time, peak RSS and registry bytes.
# Needs: a release build (cargo build --release), gdal-bin, /usr/bin/time.
set -euo pipefail
N=${1:-1000000}
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
BIN=target/release/nostrike
cargo build --release -q -p nostrike
SRC="$OUT/points-$N.geojson"
[ -f "$SRC" ] || python3 bench/make_points.py "$N" "$SRC"

measure() { # key, label, command...
  local key=$1 label=$2; shift 2
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > /dev/null 2> "$OUT/stderr.txt" || { cat "$OUT/stderr.txt"; exit 1; }
  read -r secs kb < "$OUT/time.txt"
  printf -v "${key}_s" '%s' "$secs"; printf -v "${key}_kb" '%s' "$kb"
  printf '%-34s %8.2f s %8.0f MB\n' "$label" "$secs" "$((kb / 1024))"
}

rm -f "$OUT/reg.db"* "$OUT/ogr.gpkg"
echo "$(date -u +%FT%TZ) $(nproc) cores; $($BIN --version); $(ogr2ogr --version)"
"$BIN" --registry "$OUT/reg.db" init > /dev/null
measure ns "nostrike import ($N points)" "$BIN" --registry "$OUT/reg.db" import "$SRC" --source syn
measure ogr "ogr2ogr -f GPKG ($N points)" ogr2ogr -f GPKG "$OUT/ogr.gpkg" "$SRC"
if [ -n "${NS_BASELINE:-}" ]; then
  rm -f "$OUT/base.db"*
  "$NS_BASELINE" --registry "$OUT/base.db" init > /dev/null
  measure base "baseline import ($("$NS_BASELINE" --version))" "$NS_BASELINE" --registry "$OUT/base.db" import "$SRC" --source syn
  echo "registry bytes: this build $(stat -c %s "$OUT/reg.db"), baseline $(stat -c %s "$OUT/base.db")"
  rm -f "$OUT/base.db"*
fi
sync
measure cold "nostrike check, cold, 1 point" "$BIN" --registry "$OUT/reg.db" check --point 42.5,1.5 --buffer 1km
measure verify "nostrike verify" "$BIN" --registry "$OUT/reg.db" verify
ls -la "$OUT/reg.db" "$OUT/ogr.gpkg"
# One line per run with its provenance, kept beside docs/BENCHMARKS.md.
N="$N" NS_VERSION="$($BIN --version)" GDAL_VERSION="$(ogr2ogr --version)" \
  python3 - "$ns_s" "$ns_kb" "$ogr_s" "$ogr_kb" "$cold_s" "$verify_s" "$verify_kb" <<'PY'
import os, sys
sys.path.insert(0, "bench")
from machine import record
ns_s, ns_kb, ogr_s, ogr_kb, cold_s, verify_s, verify_kb = sys.argv[1:8]
n = int(os.environ["N"])
res = record("docs/import-results.jsonl", f"bench/import_vs_ogr2ogr.sh {n}", {
    "n": n, "nostrike_import_s": float(ns_s), "nostrike_import_peak_rss_kb": int(ns_kb),
    "ogr2ogr_gpkg_s": float(ogr_s), "ogr2ogr_gpkg_peak_rss_kb": int(ogr_kb),
    "ratio_import": float(ogr_s) / float(ns_s), "nostrike_cold_check_s": float(cold_s),
    "nostrike_verify_s": float(verify_s), "nostrike_verify_peak_rss_kb": int(verify_kb)},
    versions={"nostrike": os.environ["NS_VERSION"], "gdal": os.environ["GDAL_VERSION"]})
print(f"import ratio: ogr2ogr / nostrike = {res['ratio_import']:.1f}x")
PY
