#!/usr/bin/env bash
# Import the same synthetic point GeoJSON with `nostrike import` and with
# `ogr2ogr -f GPKG`, side by side; then time a cold `nostrike check` of one
# point against the resulting registry. Wall time and peak RSS from GNU time.
#
# Usage: bench/import_vs_ogr2ogr.sh [N=1000000]
#   NS_BASELINE=PATH  also import with another nostrike build (e.g. one from
#                     before a storage change), in the same run, and compare
#                     time, peak RSS and registry bytes.
#   ROUNDS=R          run the imports R times, interleaved (nostrike,
#                     ogr2ogr, baseline, nostrike, …), and record the median
#                     of each: on a shared VM one run can be 40 % off.
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

ROUNDS=${ROUNDS:-1}
echo "$(date -u +%FT%TZ) $(nproc) cores; $($BIN --version); $(ogr2ogr --version); $ROUNDS round(s)"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ns_all=(); ogr_all=(); base_all=(); ns_kbs=(); ogr_kbs=()
for round in $(seq "$ROUNDS"); do
  rm -f "$OUT/reg.db"* "$OUT/ogr.gpkg"
  "$BIN" --registry "$OUT/reg.db" init > /dev/null
  measure ns "nostrike import ($N points)" "$BIN" --registry "$OUT/reg.db" import "$SRC" --source syn
  measure ogr "ogr2ogr -f GPKG ($N points)" ogr2ogr -f GPKG "$OUT/ogr.gpkg" "$SRC"
  ns_all+=("$ns_s"); ogr_all+=("$ogr_s"); ns_kbs+=("$ns_kb"); ogr_kbs+=("$ogr_kb")
  if [ -n "${NS_BASELINE:-}" ]; then
    rm -f "$OUT/base.db"*
    "$NS_BASELINE" --registry "$OUT/base.db" init > /dev/null
    measure base "baseline import ($("$NS_BASELINE" --version))" "$NS_BASELINE" --registry "$OUT/base.db" import "$SRC" --source syn
    base_all+=("$base_s")
    echo "registry bytes: this build $(stat -c %s "$OUT/reg.db"), baseline $(stat -c %s "$OUT/base.db")"
    rm -f "$OUT/base.db"*
  fi
done
ns_s=$(median "${ns_all[@]}"); ogr_s=$(median "${ogr_all[@]}")
ns_kb=$(median "${ns_kbs[@]}"); ogr_kb=$(median "${ogr_kbs[@]}")
base_s=""
[ ${#base_all[@]} -gt 0 ] && base_s=$(median "${base_all[@]}")
echo "medians: nostrike ${ns_s} s (${ns_all[*]}), ogr2ogr ${ogr_s} s (${ogr_all[*]})${base_s:+, baseline ${base_s} s (${base_all[*]})}"
sync
measure cold "nostrike check, cold, 1 point" "$BIN" --registry "$OUT/reg.db" check --point 42.5,1.5 --buffer 1km
measure verify "nostrike verify" "$BIN" --registry "$OUT/reg.db" verify
ls -la "$OUT/reg.db" "$OUT/ogr.gpkg"
# One line per run with its provenance, kept beside docs/BENCHMARKS.md.
N="$N" NS_VERSION="$($BIN --version)" GDAL_VERSION="$(ogr2ogr --version)" \
  ROUNDS="$ROUNDS" NS_ALL="${ns_all[*]}" OGR_ALL="${ogr_all[*]}" BASE_ALL="${base_all[*]:-}" \
  python3 - "$ns_s" "$ns_kb" "$ogr_s" "$ogr_kb" "$cold_s" "$verify_s" "$verify_kb" <<'PY'
import os, sys
sys.path.insert(0, "bench")
from machine import record
ns_s, ns_kb, ogr_s, ogr_kb, cold_s, verify_s, verify_kb = sys.argv[1:8]
n = int(os.environ["N"])
res = record("docs/import-results.jsonl", f"bench/import_vs_ogr2ogr.sh {n}", {
    "n": n, "nostrike_import_s": float(ns_s), "nostrike_import_peak_rss_kb": int(float(ns_kb)),
    "ogr2ogr_gpkg_s": float(ogr_s), "ogr2ogr_gpkg_peak_rss_kb": int(float(ogr_kb)),
    "ratio_import": float(ogr_s) / float(ns_s), "nostrike_cold_check_s": float(cold_s),
    "nostrike_verify_s": float(verify_s), "nostrike_verify_peak_rss_kb": int(verify_kb),
    "rounds": int(os.environ["ROUNDS"]),
    "nostrike_import_runs_s": [float(x) for x in os.environ["NS_ALL"].split()],
    "ogr2ogr_gpkg_runs_s": [float(x) for x in os.environ["OGR_ALL"].split()],
    "baseline_import_runs_s": [float(x) for x in os.environ["BASE_ALL"].split()]},
    versions={"nostrike": os.environ["NS_VERSION"], "gdal": os.environ["GDAL_VERSION"]})
print(f"import ratio: ogr2ogr / nostrike = {res['ratio_import']:.1f}x")
PY
