#!/usr/bin/env bash
# Compare two nostrike builds' batch check of the same registry and areas
# in alternating runs (A, B, A, B, …): on a shared VM whose speed drifts
# by tens of percent within an hour, only runs taken together compare.
# Prints each build's mean wall, CPU (user + system) and peak RSS, then
# whether the two reports are the same once their times are masked.
#
# Usage: bench/check_ab.sh BUILD_A BUILD_B [ROUNDS=5] [REGISTRY AREAS]
#   REGISTRY and AREAS default to the dense set: bench/out/dn.db, made by
#   `target/release/gen dense-sites 100000 42 bench/out/dense-sites-100000.geojson`
#   then `nostrike --registry bench/out/dn.db init` and `import … --source syn`,
#   and bench/out/dense-areas-10000.geojson (`gen dense-areas 10000 7 …`).
set -euo pipefail
A=$1 B=$2 ROUNDS=${3:-5}
REG=${4:-bench/out/dn.db}
AREAS=${5:-bench/out/dense-areas-10000.geojson}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for _ in $(seq "$ROUNDS"); do
  for side in A B; do
    bin=$A; [ "$side" = B ] && bin=$B
    # Exit 4 is a conflict (hits), the expected verdict on these sets.
    /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" "$bin" --registry "$REG" check --areas "$AREAS" \
      --policy bench/zero-policy.toml --format json -o "$TMP/$side.json" -q 2> "$TMP/err" \
      || [ $? -eq 4 ] || { cat "$TMP/err"; exit 1; }
    # (time writes "Command exited with non-zero status 4" first.)
    read -r wall user sys kb < <(tail -n 1 "$TMP/time")
    echo "$side $wall $user $sys $kb"
  done
done | awk -v a="$A" -v b="$B" '{ w[$1] += $2; c[$1] += $3 + $4; m[$1] += $5; n[$1]++ }
  END { for (k in w) printf "%s %-35s %6.3f s wall %6.3f s CPU %5.0f MB (%d runs)\n", k, (k == "A" ? a : b), w[k] / n[k], c[k] / n[k], m[k] / n[k] / 1024, n[k] }'
mask() { sed -E 's/"(checked_at|validity_time)":"[^"]*"//g' "$1" | sha256sum | cut -d' ' -f1; }
if [ "$(mask "$TMP/A.json")" = "$(mask "$TMP/B.json")" ]; then
  echo "reports: the same but for their times"
else
  echo "reports: DIFFER (beyond their times)"
fi
