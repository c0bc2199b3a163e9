#!/usr/bin/env bash
# `nostrike serve` at 1M sites: start-up, first paint in headless Chromium,
# and 16 concurrent clients x 500 point checks (loopback only, bounded).
#
# Usage: bench/serve.sh [N=1000000]
# Needs: a release build, chromium (apt-get install chromium).
set -euo pipefail
N=${1:-1000000}
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
BIN=target/release/nostrike
cargo build --release -q -p nostrike
SRC="$OUT/points-$N.geojson"
[ -f "$SRC" ] || python3 bench/make_points.py "$N" "$SRC"
REG="$OUT/serve-$N.db"
if [ ! -f "$REG" ]; then
  "$BIN" --registry "$REG" init > /dev/null
  "$BIN" -q --registry "$REG" import "$SRC" --source bench
fi
echo "$(date -u +%FT%TZ) $(nproc) cores; $($BIN --version); $N sites"
before=$(sha256sum "$REG" | cut -d' ' -f1); mtime=$(stat -c %Y "$REG")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" --registry "$REG" serve --bind "127.0.0.1:$PORT" 2> "$OUT/serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do grep -q "open http" "$OUT/serve.log" 2>/dev/null && break; sleep 0.1; done
head -1 "$OUT/serve.log"
/usr/bin/time -f "%e" true 2>/dev/null
python3 bench/serve_load.py "$PORT" 16 500
echo "serve peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MB"}')"
kill $PID; wait $PID 2>/dev/null || true
[ "$before" = "$(sha256sum "$REG" | cut -d' ' -f1)" ] && [ "$mtime" = "$(stat -c %Y "$REG")" ] \
  && echo "registry bytes and mtime unchanged" || { echo "REGISTRY CHANGED"; exit 1; }
