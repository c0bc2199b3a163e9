#!/usr/bin/env bash
# `nostrike duplicates` at scale: N synthetic points in one source and a
# second source holding a tenth of them again, each moved 0–60 m and
# renamed in part (what a second register of the same places looks like),
# then every candidate pair within 100 m found through the packed index.
# Wall time and peak RSS from GNU time; the pairs found are counted and
# compared with the pairs planted.
#
# Usage: bench/duplicates.sh [N=1000000]
# Needs: a release build (cargo build --release), /usr/bin/time.
set -euo pipefail
N=${1:-1000000}
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
BIN=target/release/nostrike
cargo build --release -q -p nostrike
SRC="$OUT/points-$N.geojson"
[ -f "$SRC" ] || python3 bench/make_points.py "$N" "$SRC"
SECOND="$OUT/second-$N.geojson"
python3 - "$SRC" "$SECOND" <<'PY'
import json, math, random, sys
src, out = sys.argv[1], sys.argv[2]
rnd = random.Random(7)
feats = json.load(open(src))["features"]
keep = [f for i, f in enumerate(feats) if i % 10 == 0]
with open(out, "w") as o:
    o.write('{"type":"FeatureCollection","features":[\n')
    for k, f in enumerate(keep):
        lon, lat = f["geometry"]["coordinates"]
        d, a = rnd.uniform(0, 60), rnd.uniform(0, 2 * math.pi)
        lat2 = max(-89.9, min(89.9, lat + d * math.cos(a) / 111_320))
        lon2 = lon + d * math.sin(a) / (111_320 * max(0.02, math.cos(math.radians(lat))))
        lon2 = (lon2 + 180) % 360 - 180
        name = f["properties"]["name"] if k % 2 else "The " + f["properties"]["name"] + " site"
        o.write(("," if k else "") + json.dumps({"type": "Feature", "id": f"second-{k}",
            "properties": {"name": name, "category": f["properties"]["category"]},
            "geometry": {"type": "Point", "coordinates": [round(lon2, 7), round(lat2, 7)]}}) + "\n")
    o.write("]}\n")
print(f"{len(keep)} planted pairs", file=sys.stderr)
PY
rm -f "$OUT/dup.db"*
"$BIN" --registry "$OUT/dup.db" init > /dev/null
"$BIN" -q --registry "$OUT/dup.db" import "$SRC" --source first
"$BIN" -q --registry "$OUT/dup.db" import "$SECOND" --source second
echo "$(date -u +%FT%TZ) $(nproc) cores; $($BIN --version)"
/usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$BIN" --registry "$OUT/dup.db" duplicates --within 100m --format json > "$OUT/dup.json"
read -r secs kb < "$OUT/time.txt"
python3 - "$OUT/dup.json" "$secs" "$kb" <<'PY'
import json, sys
pairs = json.load(open(sys.argv[1]))
planted = sum(1 for p in pairs if p["a"].startswith("first/") and p["b"].startswith("second/")
              and int(p["a"].split("/p")[1]) == 10 * int(p["b"].split("second-")[1]))
print(f"duplicates --within 100m: {sys.argv[2]} s, peak RSS {int(sys.argv[3]) // 1024} MB; "
      f"{len(pairs)} candidate pairs, {planted} of them the planted ones")
PY
