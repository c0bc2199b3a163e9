#!/usr/bin/env bash
# The registry schema's own floor for a 1M-site import: the sqlite3 shell
# inserts 1M rows into the `sites` and `changes` tables (the shapes of
# schema v2) from a prepared temporary table — no parsing, validation,
# hashing or parameter binding — with the registry's settings (16 KiB pages,
# WAL, synchronous=FULL), then commits and checkpoints. Run twice: hashes as
# 64-character hex text (as stored) and as 32-byte blobs (for comparison).
#
# Usage: bench/sqlite_floor.sh [N=1000000]   Needs: sqlite3 (apt-get install sqlite3).
set -euo pipefail
N=${1:-1000000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
run() { # label, hash type, hash expression
  cat > "$TMP/floor.sql" <<SQL
PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;
CREATE TABLE sites (source TEXT NOT NULL, site_id TEXT NOT NULL, name TEXT NOT NULL, category TEXT NOT NULL, protection TEXT NOT NULL, designations TEXT NOT NULL, geometry BLOB NOT NULL, standoff_m REAL, positional_accuracy_m REAL NOT NULL, valid_from INTEGER, valid_to INTEGER, last_verified TEXT, properties TEXT NOT NULL, hash $2 NOT NULL, revision INTEGER NOT NULL, UNIQUE (source, site_id)) STRICT;
CREATE TABLE changes (seq INTEGER PRIMARY KEY, batch INTEGER NOT NULL, revision INTEGER NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL, site_id TEXT NOT NULL, hash_before $2, hash_after $2, name TEXT, category TEXT, protection TEXT, designations TEXT, geometry BLOB, standoff_m REAL, positional_accuracy_m REAL, valid_from INTEGER, valid_to INTEGER, last_verified TEXT, properties TEXT, prev_hash $2 NOT NULL, entry_hash $2 NOT NULL) STRICT;
CREATE TEMP TABLE src AS SELECT value AS v, $3 AS h, $3 AS e, randomblob(21) AS g FROM generate_series(1, $N);
.timer on
BEGIN;
INSERT INTO sites SELECT 'syn', 's'||v, 'Synthetic site '||v, 'medical', 'general', '[]', g, NULL, 0.0, NULL, NULL, NULL, '{}', h, 1 FROM src;
INSERT INTO changes SELECT v, 1, 1, 'added', 'syn', 's'||v, NULL, h, 'Synthetic site '||v, 'medical', 'general', '[]', g, NULL, 0.0, NULL, NULL, NULL, '{}', e, e FROM src;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
  rm -f "$TMP/f.db"*
  echo "== $1: sites insert, log insert, commit, checkpoint (real seconds)"
  sqlite3 "$TMP/f.db" < "$TMP/floor.sql" | grep '^Run Time' | awk '$4 > 0.01 {printf "%s s  ", $4; t += $4} END {printf "= %.2f s\n", t}'
  ls -l "$TMP/f.db" | awk '{printf "file: %d MB\n", $5 / 1e6}'
}
run "hex text hashes (as stored)" TEXT "lower(hex(randomblob(32)))"
run "32-byte blob hashes" BLOB "randomblob(32)"
