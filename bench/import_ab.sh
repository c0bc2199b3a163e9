#!/usr/bin/env bash
# Compare two nostrike builds' import of the same file in alternating runs
# (A, B, A, B, …): on a shared VM whose speed drifts by tens of percent
# within an hour, only runs taken together compare. Prints each run's wall
# and user seconds and peak RSS, then each build's mean.
#
# Usage: bench/import_ab.sh BUILD_A BUILD_B [ROUNDS=5] [FILE]
#   FILE defaults to bench/out/points-1000000.geojson
#   (python3 bench/make_points.py 1000000 bench/out/points-1000000.geojson).
set -euo pipefail
A=$1 B=$2 ROUNDS=${3:-5}
SRC=${4:-bench/out/points-1000000.geojson}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for _ in $(seq "$ROUNDS"); do
  for bin in "$A" "$B"; do
    rm -f "$TMP"/reg.db*
    "$bin" --registry "$TMP/reg.db" init > /dev/null
    /usr/bin/time -f "%e %U %M" -o "$TMP/time" "$bin" --registry "$TMP/reg.db" import "$SRC" --source syn > /dev/null 2> "$TMP/err" \
      || { cat "$TMP/err"; exit 1; }
    read -r wall user kb < "$TMP/time"
    echo "$bin $wall $user $kb"
  done
done | awk '{ printf "%-40s %6.2f s wall %6.2f s user %5d MB\n", $1, $2, $3, $4 / 1024;
              w[$1] += $2; u[$1] += $3; n[$1]++ }
         END { for (k in w) printf "mean %-35s %6.2f s wall %6.2f s user (%d runs)\n", k, w[k] / n[k], u[k] / n[k], n[k] }'
