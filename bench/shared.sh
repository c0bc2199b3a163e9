#!/usr/bin/env bash
# The shared registry on PostgreSQL, measured beside the file registry:
# N points imported by one importer (into a file, and into PostgreSQL), the
# same N split over 4 concurrent importers (4 sources), a check through the
# shared registry (working copy brought up to date), a verify (every row
# read fresh), a laptop's pull from the shared registry and the cold check
# on the laptop after it. Wall time and peak RSS (nostrike only) from GNU
# time; a throw-away cluster on a Unix socket, stopped at the end.
#
# Usage: bench/shared.sh [N=1000000]
# Needs: postgresql-15-postgis-3, a release build, /usr/bin/time, python3.
set -euo pipefail
N=${1:-1000000}
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
BIN=$PWD/target/release/nostrike
cargo build --release -q -p nostrike
SRC="$OUT/points-$N.geojson"
[ -f "$SRC" ] || python3 bench/make_points.py "$N" "$SRC"
Q=$((N / 4))
for i in 0 1 2 3; do
  [ -f "$OUT/quarter-$N-$i.geojson" ] || python3 - "$SRC" "$OUT/quarter-$N-$i.geojson" "$i" 4 <<'EOF'
import json, sys
src, dst, i, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
feats = json.load(open(src))["features"]
n = len(feats) // k
json.dump({"type": "FeatureCollection", "features": feats[i * n:(i + 1) * n]}, open(dst, "w"))
EOF
done

. bench/pg_cluster.sh "-c shared_buffers=1GB -c max_wal_size=4GB"
HOST=$(printf '%s' "$TMP" | sed 's,/,%2F,g')
PSQL=(psql -h "$TMP" -U postgres -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE one" -c "CREATE DATABASE four"
export NOSTRIKE_CACHE="$TMP/cache"
measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > "$OUT/stdout.txt" 2> "$OUT/stderr.txt" || { cat "$OUT/stderr.txt"; exit 1; }
  read -r secs kb < "$OUT/time.txt"
  printf '%-58s %8.2f s %8.0f MB\n' "$label" "$secs" "$((kb / 1024))"
}
echo "$(date -u +%FT%TZ) $(nproc) cores; $($BIN --version); $("${PSQL[@]}" -d postgres -At -c "SELECT 'PostgreSQL ' || current_setting('server_version')")"
rm -f "$OUT/file.db"* "$OUT/laptop.db"*
"$BIN" --registry "$OUT/file.db" init > /dev/null
measure "import $N points into a file registry" "$BIN" --registry "$OUT/file.db" import "$SRC" --source syn
ONE="postgresql://postgres@$HOST/one"
"$BIN" --registry "$ONE" init > /dev/null
measure "import $N points into PostgreSQL (one importer)" "$BIN" --registry "$ONE" import "$SRC" --source syn
echo "  content hash: file $("$BIN" --registry "$OUT/file.db" stats --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["content_hash"])')"
echo "                shared $("$BIN" --registry "$ONE" stats --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["content_hash"])')"
echo "  database size: $("${PSQL[@]}" -d one -At -c "SELECT pg_size_pretty(pg_database_size('one'))"); file $(du -h "$OUT/file.db" | cut -f1)"
FOUR="postgresql://postgres@$HOST/four"
"$BIN" --registry "$FOUR" init > /dev/null
start=$(date +%s.%N)
for i in 0 1 2 3; do
  NOSTRIKE_CACHE="$TMP/cache-$i" "$BIN" --registry "$FOUR" import "$OUT/quarter-$N-$i.geojson" --source "part$i" > /dev/null 2> "$OUT/four-$i.err" &
done
wait
end=$(date +%s.%N)
printf '%-58s %8.2f s\n' "import the same $N as 4 concurrent importers of $Q" "$(echo "$end - $start" | bc)"
"${PSQL[@]}" -d four -At -c "SELECT 'revisions ' || string_agg(revision::text, ',' ORDER BY id) FROM batches"
measure "check through PostgreSQL (working copy current)" "$BIN" --registry "$ONE" check --point 42.5,1.5 --buffer 1km
rm -rf "$TMP/cache"
measure "check through PostgreSQL (no working copy: built whole)" "$BIN" --registry "$ONE" check --point 42.5,1.5 --buffer 1km
measure "verify (every row read fresh from PostgreSQL)" "$BIN" --registry "$ONE" verify
rm -rf "$TMP/cache"
measure "pull $N to a laptop from PostgreSQL" "$BIN" pull --from "$ONE" --to "$OUT/laptop.db"
sync
measure "cold check on the laptop, 1 point" "$BIN" --registry "$OUT/laptop.db" check --point 42.5,1.5 --buffer 1km
python3 bench/make_points.py 1000 "$OUT/more-1000.geojson"
measure "import 1,000 more into PostgreSQL" "$BIN" --registry "$ONE" import "$OUT/more-1000.geojson" --source more
measure "pull again (sends only what the laptop lacks)" "$BIN" pull --from "$ONE" --to "$OUT/laptop.db"
sed 's/^.*; sent/  sent/' "$OUT/stdout.txt"
rm -f "$OUT/file.db"* "$OUT/laptop.db"*
