#!/usr/bin/env bash
# Bytes of in-memory index per site (`index_memory`: 1M synthetic sites),
# appended with the run's provenance to docs/index-memory-results.jsonl.
#
# Usage: bench/index_memory.sh   Needs: a release build of nostrike-benches.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p nostrike-benches
out=$(target/release/index_memory)
echo "$out"
python3 - "$out" <<'PY'
import re, sys
sys.path.insert(0, "bench")
from machine import record
text = sys.argv[1]
def per_site(label):
    m = re.search(label + r".*?= ([0-9.]+) bytes/site", text)
    if not m:
        sys.exit(f"index_memory: no '{label}' line in its output:\n{text}")
    return float(m.group(1))
record("docs/index-memory-results.jsonl", "bench/index_memory.sh",
       {"point_bytes_per_site": per_site("point sites"), "mixed_bytes_per_site": per_site("mixed sites")})
PY
