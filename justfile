# nostrike developer tasks. `just ci` runs exactly what .ci/run runs.

# Build the release binary (target/release/nostrike).
build:
    cargo build --release

# Run the whole test suite (the README's test command).
test:
    cargo test --workspace

# Formatting check and clippy with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Criterion benchmarks and the index memory probe (figures go in docs/BENCHMARKS.md).
bench:
    cargo bench -p nostrike-benches
    cargo run --release -p nostrike-benches --bin index_memory

# A long run of the oracle property test (default 48 cases; here 1,000).
oracle cases="1000":
    NOSTRIKE_ORACLE_CASES={{cases}} cargo test --release -p nostrike-core --test oracle

# What CI runs.
ci:
    bash .ci/run

# Long fuzz runs of the readers and the coordinate parsers (generated input, stable Rust).
fuzz cases="20000":
    PROPTEST_CASES={{cases}} cargo test --release -p nostrike-formats --test hostile fuzz
    PROPTEST_CASES={{cases}} cargo test --release -p nostrike --bin nostrike never_panic

# nostrike against PostGIS and GDAL on the same data, both sizes and the 1M import in one run;
# the raw figures go to docs/*-results.jsonl and the ratio table into docs/BENCHMARKS.md
# (needs postgresql-15-postgis-3, gdal-bin and geographiclib-tools).
bench-peers:
    #!/usr/bin/env bash
    set -euo pipefail
    export BENCH_RUN=$(date -u +%FT%TZ)
    bash bench/peers.sh 100000 10000
    bash bench/peers.sh 100000 10000 dense
    bash bench/peers.sh 1000000 10000
    bash bench/import_vs_ogr2ogr.sh 1000000
    bash bench/index_memory.sh
    python3 bench/report.py "$BENCH_RUN"

# One size of the PostGIS comparison only (raw figures appended; no table written).
bench-peers-one sites="100000" areas="10000":
    bash bench/peers.sh {{sites}} {{areas}}

# A laptop's first and incremental pull of a 1M-site registry, and the cold check after it.
bench-pull n="1000000":
    bash bench/pull.sh {{n}}

# The storage layout's own insert floor for 1M sites, schema v2, leaner layouts and schema 8 (sqlite3 shell, no nostrike code).
bench-floor n="1000000":
    bash bench/sqlite_floor.sh {{n}}

# Two builds' 1M-point imports in alternating runs (a change's before and after).
bench-import-ab a b rounds="5":
    bash bench/import_ab.sh {{a}} {{b}} {{rounds}}

# Two builds' dense batch checks in alternating runs, and whether their reports differ.
bench-check-ab a b rounds="5":
    bash bench/check_ab.sh {{a}} {{b}} {{rounds}}

# nostrike serve at 1M sites: start-up, first paint in headless Chromium, 16 clients x 500 checks
# (needs chromium); and duplicates over 1.1M sites.
bench-serve:
    bash bench/serve.sh 1000000
    bash bench/duplicates.sh 1000000

# The local web app over a demo registry (http://127.0.0.1:8080/).
serve-demo:
    rm -f target/demo.db target/demo.db-wal target/demo.db-shm
    cargo run --release -- demo --keep target/demo.db
    cargo run --release -- --registry target/demo.db serve
