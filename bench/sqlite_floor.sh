#!/usr/bin/env bash
# The registry schema's own floor for a 1M-site import: the sqlite3 shell
# inserts 1M rows into the `sites` and `changes` tables from a prepared
# temporary table — no parsing, validation, hashing or parameter binding —
# plus the packed index's bytes (130 B per point site, in 64 KiB blobs), with
# the registry's settings (16 KiB pages, WAL, synchronous=FULL), then commits
# and checkpoints. Three layouts:
#   v2      schema v2 as it is: hashes as 64-character hex text, every log
#           entry carrying the site's content, the live row a second copy;
#   v2-blob the same with the hashes as 32-byte blobs;
#   lean    the leanest layout that keeps a per-site log row: blob hashes,
#           no prev_hash column, the log entry carrying only keys and hashes
#           (a site's content stored once, in the live row).
# and two layouts that store each version once in a `versions` table:
#   by-hash versions keyed by a unique index on the hex site hash (the live
#           row and the log naming versions by hash);
#   v8      schema 8 as it is: versions numbered by the log entry that filed
#           them (no hash index), the live row naming its version's number,
#           hex hashes, no prev_hash.
#
# Usage: bench/sqlite_floor.sh [N=1000000]   Needs: sqlite3 (apt-get install sqlite3).
set -euo pipefail
N=${1:-1000000}
PACKED_BLOBS=$(( (N * 130 + 65535) / 65536 ))
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
run() { # label, hash type, hash expression, log content columns (type), log content values, prev_hash column, prev_hash value
  cat > "$TMP/floor.sql" <<SQL
PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-32768;
CREATE TABLE sites (source TEXT NOT NULL, site_id TEXT NOT NULL, name TEXT NOT NULL, category TEXT NOT NULL, protection TEXT NOT NULL, designations TEXT NOT NULL, geometry BLOB NOT NULL, standoff_m REAL, positional_accuracy_m REAL NOT NULL, valid_from INTEGER, valid_to INTEGER, last_verified TEXT, properties TEXT NOT NULL, hash $2 NOT NULL, revision INTEGER NOT NULL, UNIQUE (source, site_id)) STRICT;
CREATE TABLE changes (seq INTEGER PRIMARY KEY, batch INTEGER NOT NULL, revision INTEGER NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL, site_id TEXT NOT NULL, hash_before $2, hash_after $2 $4 $6, entry_hash $2 NOT NULL) STRICT;
CREATE TABLE packed (id INTEGER PRIMARY KEY, hash BLOB NOT NULL, data BLOB NOT NULL) STRICT;
CREATE TEMP TABLE src AS SELECT value AS v, $3 AS h, $3 AS e, randomblob(21) AS g FROM generate_series(1, $N);
CREATE TEMP TABLE chunks AS SELECT value AS id, randomblob(32) AS h, randomblob(65536) AS d FROM generate_series(1, $PACKED_BLOBS);
.timer on
BEGIN;
INSERT INTO sites SELECT 'syn', 's'||v, 'Synthetic site '||v, 'medical', 'general', '[]', g, NULL, 0.0, NULL, NULL, NULL, '{}', h, 1 FROM src;
INSERT INTO changes SELECT v, 1, 1, 'added', 'syn', 's'||v, NULL, h $5 $7, e FROM src;
INSERT INTO packed SELECT id, h, d FROM chunks;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
  rm -f "$TMP/f.db"*
  echo "== $1: sites, log, packed, commit, checkpoint (real seconds)"
  sqlite3 "$TMP/f.db" < "$TMP/floor.sql" | grep '^Run Time' | awk '$4 > 0.01 {printf "%s s  ", $4; t += $4} END {printf "= %.2f s\n", t}'
  ls -l "$TMP/f.db" | awk '{printf "file: %d MB\n", $5 / 1e6}'
}
CONTENT_COLS=", name TEXT, category TEXT, protection TEXT, designations TEXT, geometry BLOB, standoff_m REAL, positional_accuracy_m REAL, valid_from INTEGER, valid_to INTEGER, last_verified TEXT, properties TEXT"
CONTENT_VALS=", 'Synthetic site '||v, 'medical', 'general', '[]', g, NULL, 0.0, NULL, NULL, NULL, '{}'"
run "v2 (hex hashes, content in the log and the live row)" TEXT "lower(hex(randomblob(32)))" "$CONTENT_COLS" "$CONTENT_VALS" ", prev_hash TEXT NOT NULL" ", e"
run "v2-blob (32-byte blob hashes)" BLOB "randomblob(32)" "$CONTENT_COLS" "$CONTENT_VALS" ", prev_hash BLOB NOT NULL" ", e"
run "lean (blob hashes, no prev_hash, content only in the live row)" BLOB "randomblob(32)" "" "" "" ""

# Each version once.
CONTENT="source TEXT NOT NULL, site_id TEXT NOT NULL, name TEXT NOT NULL, category TEXT NOT NULL, protection TEXT NOT NULL, designations TEXT NOT NULL, geometry BLOB NOT NULL, standoff_m REAL, positional_accuracy_m REAL NOT NULL, valid_from INTEGER, valid_to INTEGER, last_verified TEXT, properties TEXT NOT NULL, extensions TEXT"
VALS="'syn', 's'||v, 'Synthetic site '||v, 'medical', 'general', '[]', g, NULL, 0.0, NULL, NULL, NULL, '{}', NULL"
versions_run() { # label, versions DDL, sites DDL, changes DDL, versions insert, changes insert, sites insert
  cat > "$TMP/floor.sql" <<SQL
PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-32768;
$2
$3
$4
CREATE TABLE packed (id INTEGER PRIMARY KEY, hash BLOB NOT NULL, data BLOB NOT NULL) STRICT;
CREATE TEMP TABLE src AS SELECT value AS v, lower(hex(randomblob(32))) AS h, lower(hex(randomblob(32))) AS e, randomblob(21) AS g FROM generate_series(1, $N);
CREATE TEMP TABLE chunks AS SELECT value AS id, randomblob(32) AS h, randomblob(65536) AS d FROM generate_series(1, $PACKED_BLOBS);
.timer on
BEGIN;
$5
$6
$7
INSERT INTO packed SELECT id, h, d FROM chunks;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
  rm -f "$TMP/f.db"*
  echo "== $1: versions, log, live, packed, commit, checkpoint (real seconds)"
  sqlite3 "$TMP/f.db" < "$TMP/floor.sql" | grep '^Run Time' | awk '$4 > 0.01 {printf "%s s  ", $4; t += $4} END {printf "= %.2f s\n", t}'
  ls -l "$TMP/f.db" | awk '{printf "file: %d MB\n", $5 / 1e6}'
}
versions_run "by-hash (versions under a unique hash index)" \
  "CREATE TABLE versions (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, $CONTENT) STRICT;" \
  "CREATE TABLE sites (source TEXT NOT NULL, site_id TEXT NOT NULL, hash TEXT NOT NULL, revision INTEGER NOT NULL, UNIQUE (source, site_id)) STRICT;" \
  "CREATE TABLE changes (seq INTEGER PRIMARY KEY, batch INTEGER NOT NULL, revision INTEGER NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL, site_id TEXT NOT NULL, hash_before TEXT, hash_after TEXT, prev_hash TEXT NOT NULL, entry_hash TEXT NOT NULL) STRICT;" \
  "INSERT INTO versions (hash, $(echo "$CONTENT" | sed -E 's/ [A-Z]+( NOT NULL)?//g')) SELECT h, $VALS FROM src;" \
  "INSERT INTO changes SELECT v, 1, 1, 'added', 'syn', 's'||v, NULL, h, e, e FROM src;" \
  "INSERT INTO sites SELECT 'syn', 's'||v, h, 1 FROM src;"
versions_run "v8 (versions numbered by their log entry)" \
  "CREATE TABLE versions (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, $CONTENT) STRICT;" \
  "CREATE TABLE sites (source TEXT NOT NULL, site_id TEXT NOT NULL, version INTEGER NOT NULL, revision INTEGER NOT NULL, UNIQUE (source, site_id)) STRICT;" \
  "CREATE TABLE changes (seq INTEGER PRIMARY KEY, batch INTEGER NOT NULL, revision INTEGER NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL, site_id TEXT NOT NULL, hash_before TEXT, hash_after TEXT, entry_hash TEXT NOT NULL) STRICT;" \
  "INSERT INTO versions (id, hash, $(echo "$CONTENT" | sed -E 's/ [A-Z]+( NOT NULL)?//g')) SELECT v, h, $VALS FROM src;" \
  "INSERT INTO changes SELECT v, 1, 1, 'added', 'syn', 's'||v, NULL, h, e FROM src;" \
  "INSERT INTO sites SELECT 'syn', 's'||v, v, 1 FROM src;"
