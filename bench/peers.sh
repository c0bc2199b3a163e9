#!/usr/bin/env bash
# nostrike against PostGIS (geography ST_DWithin with a GiST index), side by
# side on the same synthetic data, asserting identical hits before any speed
# is reported. A throw-away PostgreSQL cluster on a unix socket in a
# temporary directory, stopped at the end.
#
# Usage: bench/peers.sh [SITES=100000] [AREAS=10000] [SET=sparse|dense]
#   sparse: sites and areas of mixed kinds near the 500-odd largest cities
#           (about 14 hits an area at 100k sites);
#   dense:  sites (20 % polygons and lines) within 2 km of the same cities and
#           of places on the antimeridian and at high latitudes, point areas
#           of 200 m – 5 km within 2 km of them (about 59 hits an area).
# Needs: postgresql-15-postgis-3, gdal-bin (apt-get); a release build.
set -euo pipefail
SITES=${1:-100000}
AREAS=${2:-10000}
SET=${3:-sparse}
case "$SET" in sparse) GEN_S=sites; GEN_A=areas; PREFIX="";; dense) GEN_S=dense-sites; GEN_A=dense-areas; PREFIX="dense-";; *) echo "SET is sparse or dense" >&2; exit 2;; esac
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
cargo build --release -q -p nostrike -p nostrike-benches
S="$OUT/${PREFIX}sites-$SITES.geojson"; A="$OUT/${PREFIX}areas-$AREAS.geojson"
[ -f "$S" ] || target/release/gen "$GEN_S" "$SITES" 42 "$S"
[ -f "$A" ] || target/release/gen "$GEN_A" "$AREAS" 7 "$A"

# --- PostGIS cluster ---
. bench/pg_cluster.sh "-c shared_buffers=1GB -c work_mem=256MB -c max_parallel_workers_per_gather=2"
PSQL=(psql -h "$TMP" -U postgres -d postgres -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -c "CREATE EXTENSION postgis"
# Provenance of this run, recorded with its figures.
PG_VERSION=$("${PSQL[@]}" -At -c "SELECT current_setting('server_version') || ' / PostGIS ' || postgis_lib_version()")
GDAL_VERSION=$(ogr2ogr --version)
NS_VERSION=$(target/release/nostrike --version)
PGCONN="PG:host=$TMP user=postgres dbname=postgres"
# The load is timed with the server's peak memory (PSS of the postmaster and
# its children, shared buffers counted once) and the loading client's peak RSS.
python3 bench/peak_pss.py "$TMP/data" "$OUT/pg-load-pss.txt" & SAMPLER=$!
t0=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$OUT/pg-load-client-rss.txt" ogr2ogr -f PostgreSQL "$PGCONN" "$S" -nln sites -lco GEOM_TYPE=geography -lco GEOMETRY_NAME=geog -lco FID=fid --config PG_USE_COPY YES
ogr2ogr -f PostgreSQL "$PGCONN" "$A" -nln areas -lco GEOM_TYPE=geography -lco GEOMETRY_NAME=geog -lco FID=fid --config PG_USE_COPY YES
"${PSQL[@]}" -c "ANALYZE sites; ANALYZE areas;"
t1=$(date +%s.%N)
kill -TERM "$SAMPLER"; wait "$SAMPLER"
QUERY="SELECT a.id, s.id, ST_Distance(a.geog, s.geog) FROM areas a CROSS JOIN LATERAL (SELECT id, geog FROM sites s WHERE ST_DWithin(a.geog, s.geog, a.buffer_m)) s"
run_pg() { # label, settings
  local t0 t1
  t0=$(date +%s.%N)
  "${PSQL[@]}" -c "$2" -c "\\copy ($QUERY) TO '$OUT/pg-$1.tsv'"
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
pg_default=$(run_pg default "SET max_parallel_workers_per_gather = 0")
pg_parallel=$(run_pg parallel "SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0")
# Stop PostgreSQL before nostrike is timed, so that its background work
# (checkpointer, autovacuum after the load) does not share the two cores.
pg_stop

# --- nostrike ---
rm -f "$OUT/peers.db"*
target/release/nostrike --registry "$OUT/peers.db" init > /dev/null
t2=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$OUT/import-rss.txt" target/release/nostrike --registry "$OUT/peers.db" import "$S" --source syn > /dev/null
t3=$(date +%s.%N)
# Three runs; the median counts (single runs on a shared VM vary by ±30 %).
runs=()
for _ in 1 2 3; do
  t4=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$OUT/check-rss.txt" target/release/nostrike --registry "$OUT/peers.db" check --areas "$A" --policy bench/zero-policy.toml --format json -o "$OUT/ns.json" -q || [ $? -ne 1 ]
  t5=$(date +%s.%N)
  runs+=("$(echo "$t5 - $t4" | bc)")
done
ns_check=$(printf '%s\n' "${runs[@]}" | sort -g | sed -n 2p)
echo "nostrike batch runs: ${runs[*]} s (median $ns_check s)"
# The same checks through the core API (packed index open, check on all
# cores, no report; mimalloc, as the CLI): the median of three "checked" times.
api=()
for k in 1 2 3; do
  hits_out=/dev/null; [ "$k" -eq 1 ] && hits_out="$OUT/api-hits.tsv"
  line=$(target/release/api_check "$OUT/peers.db" "$A" "$hits_out")
  echo "core API: $line"
  api+=("$(echo "$line" | sed -E 's/.*checked ([0-9.]+) s.*/\1/')")
done
api_check=$(printf '%s\n' "${api[@]}" | sort -g | sed -n 2p)
# Cold start: a fresh process opens the registry and checks one point (best of 5, and the first).
cold=()
for _ in 1 2 3 4 5; do
  c0=$(date +%s.%N)
  target/release/nostrike --registry "$OUT/peers.db" check --point 48.8566,2.3522 --radius 1km --policy bench/zero-policy.toml --format json -o "$OUT/one.json" -q || [ $? -ne 1 ]
  c1=$(date +%s.%N)
  cold+=("$(echo "$c1 - $c0" | bc)")
done
cold_first=${cold[0]}
cold_best=$(printf '%s\n' "${cold[@]}" | sort -g | head -1)

PG_LOAD_PSS_KB=$(tail -1 "$OUT/pg-load-pss.txt") PG_LOAD_CLIENT_KB=$(tail -1 "$OUT/pg-load-client-rss.txt") \
PG_VERSION="$PG_VERSION" GDAL_VERSION="$GDAL_VERSION" NS_VERSION="$NS_VERSION" \
SET="$SET" python3 - "$OUT" "$AREAS" "$SITES" "$pg_default" "$pg_parallel" "$ns_check" "$(echo "$t1 - $t0" | bc)" "$(echo "$t3 - $t2" | bc)" "$cold_first" "$cold_best" "$(tail -1 "$OUT/import-rss.txt")" "$(tail -1 "$OUT/check-rss.txt")" "$api_check" <<'PY'
import json, os, sys
sys.path.insert(0, "bench")
from machine import record
out, areas, sites = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pg_def, pg_par, ns, pg_load, ns_load, cold_first, cold_best = map(float, sys.argv[4:11])
import_rss_kb, check_rss_kb = int(sys.argv[11]), int(sys.argv[12])
api = float(sys.argv[13])
pg = {}
for line in open(f"{out}/pg-default.tsv"):
    a, s, d = line.rstrip("\n").split("\t")
    pg[(a, s)] = float(d)
par = set()
for line in open(f"{out}/pg-parallel.tsv"):
    a, s, _ = line.rstrip("\n").split("\t")
    par.add((a, s))
assert par == set(pg), "PostGIS default and parallel plans disagree"
rep = json.load(open(f"{out}/ns.json"))
ns_hits, buffer = {}, {}
for a in rep["areas"]:
    buffer[a["id"]] = a["buffer_m"]
    for h in a["hits"]:
        ns_hits[(a["id"], h["source_id"])] = h["distance_m"]
only_pg = set(pg) - set(ns_hits)
only_ns = set(ns_hits) - set(pg)
# A pair found by one side only must sit on the boundary: its distance within 0.1 m of the buffer.
def border(k, d):
    return abs(d - buffer[k[0]]) <= 0.1
bad = [(k, pg[k]) for k in only_pg if not border(k, pg[k])] + [(k, ns_hits[k]) for k in only_ns if not border(k, ns_hits[k])]
common = set(pg) & set(ns_hits)
worst = max((abs(pg[k] - ns_hits[k]) for k in common), default=0.0)
# Where the two disagree by more than 0.1 m, GeographicLib's GeodSolve decides:
# nostrike's distance must be the geodesic between the nearest points it reports.
nearest = {(a["id"], h["source_id"]): (h["nearest_on_area"], h["nearest_on_site"]) for a in rep["areas"] for h in a["hits"]}
far = sorted(k for k in common if abs(pg[k] - ns_hits[k]) > 0.1)
if far:
    import subprocess
    lines = "".join(f"{nearest[k][0][1]} {nearest[k][0][0]} {nearest[k][1][1]} {nearest[k][1][0]}\n" for k in far)
    geod = subprocess.run(["GeodSolve", "-i", "-p", "6"], input=lines, capture_output=True, text=True, check=True).stdout.split("\n")
    for k, g in zip(far, geod):
        s12 = float(g.split()[2])
        print(f"  {k}: PostGIS {pg[k]:.3f} m, nostrike {ns_hits[k]:.3f} m, GeodSolve between nostrike's nearest points {s12:.3f} m")
        assert abs(s12 - ns_hits[k]) < 1e-3, "nostrike's distance is not the geodesic between its nearest points"
        assert ns_hits[k] <= pg[k] + 0.1, "nostrike reports a larger distance than PostGIS"
# The core API's hits must be the CLI's, pair for pair, with the same distances.
api_hits = {}
for line in open(f"{out}/api-hits.tsv"):
    a, s, d = line.rstrip("\n").split("\t")
    api_hits[(a, s)] = float(d)
assert set(api_hits) == set(ns_hits), "the core API and the CLI disagree on hits"
assert all(abs(api_hits[k] - ns_hits[k]) <= 1e-6 for k in ns_hits), "the core API and the CLI disagree on distances"
print(f"hits: nostrike {len(ns_hits)}, PostGIS {len(pg)}, common {len(common)}, only PostGIS {len(only_pg)}, only nostrike {len(only_ns)}; largest distance difference {worst:.4f} m")
if bad:
    print("MISMATCH beyond the boundary tolerance:", bad[:10]); sys.exit(1)
best_pg = min(pg_def, pg_par)
fields = {"set": os.environ["SET"], "sites": sites, "areas": areas, "hits": len(ns_hits), "postgis_default_s": pg_def, "postgis_parallel_s": pg_par,
       "nostrike_cli_s": ns, "ratio_checks_per_s": best_pg / ns, "nostrike_api_check_s": api, "ratio_api": best_pg / api, "postgis_load_index_s": pg_load,
       "postgis_load_server_peak_pss_kb": int(os.environ["PG_LOAD_PSS_KB"]), "postgis_load_client_peak_rss_kb": int(os.environ["PG_LOAD_CLIENT_KB"]), "nostrike_import_s": ns_load,
       "largest_distance_difference_m": worst, "pairs_differing_over_0_1_m": len(far),
       "nostrike_cold_start_first_s": cold_first, "nostrike_cold_start_best_s": cold_best,
       "nostrike_import_peak_rss_kb": import_rss_kb, "nostrike_check_peak_rss_kb": check_rss_kb}
# The raw figures of every run, kept beside docs/BENCHMARKS.md.
res = record("docs/peers-results.jsonl", f"bench/peers.sh {sites} {areas} {os.environ['SET']}", fields,
             versions={"nostrike": os.environ["NS_VERSION"], "postgresql": os.environ["PG_VERSION"], "gdal": os.environ["GDAL_VERSION"]})
print(json.dumps(res))
print(f"checks/s: nostrike CLI {areas/ns:,.0f}, core API {areas/api:,.0f} (ratio {best_pg/api:.1f}x); PostGIS default {areas/pg_def:,.0f}, parallel {areas/pg_par:,.0f}; ratio {best_pg/ns:.1f}x")
print(f"cold start (fresh process, one point): first {cold_first*1000:.0f} ms, best of 5 {cold_best*1000:.0f} ms; peak RSS import {import_rss_kb//1024} MB, batch check {check_rss_kb//1024} MB")
PY
