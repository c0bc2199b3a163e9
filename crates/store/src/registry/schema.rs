//! The schema: identity, version and the append-only migrations.

/// `PRAGMA application_id` of a nostrike registry ("NSTR").
pub const APPLICATION_ID: i32 = 0x4E53_5452;
/// The schema version this build writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i32 = 8;

pub(super) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Migrations, in order; migration `i` takes the schema from version `i` to `i + 1`. Append only.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE sources (
  name        TEXT PRIMARY KEY,
  description TEXT,
  licence     TEXT,
  attribution TEXT,
  url         TEXT
) STRICT;
CREATE TABLE batches (
  id           INTEGER PRIMARY KEY,
  revision     INTEGER NOT NULL,
  source       TEXT NOT NULL,
  file_name    TEXT NOT NULL,
  file_sha256  TEXT NOT NULL,
  format       TEXT NOT NULL,
  replace      INTEGER NOT NULL,
  added        INTEGER NOT NULL,
  updated      INTEGER NOT NULL,
  retired      INTEGER NOT NULL,
  unchanged    INTEGER NOT NULL,
  imported_at  INTEGER NOT NULL,
  operator     TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  log_head     TEXT NOT NULL
) STRICT;
CREATE TABLE sites (
  source                TEXT NOT NULL REFERENCES sources(name),
  site_id               TEXT NOT NULL,
  name                  TEXT NOT NULL,
  category              TEXT NOT NULL,
  protection            TEXT NOT NULL,
  designations          TEXT NOT NULL,
  geometry              BLOB NOT NULL,
  standoff_m            REAL,
  positional_accuracy_m REAL NOT NULL,
  valid_from            INTEGER,
  valid_to              INTEGER,
  last_verified         TEXT,
  properties            TEXT NOT NULL,
  hash                  TEXT NOT NULL,
  revision              INTEGER NOT NULL,
  UNIQUE (source, site_id)
) STRICT;
CREATE TABLE changes (
  seq                   INTEGER PRIMARY KEY,
  batch                 INTEGER NOT NULL REFERENCES batches(id),
  revision              INTEGER NOT NULL,
  kind                  TEXT NOT NULL CHECK (kind IN ('added', 'updated', 'retired')),
  source                TEXT NOT NULL,
  site_id               TEXT NOT NULL,
  hash_before           TEXT,
  hash_after            TEXT,
  name                  TEXT,
  category              TEXT,
  protection            TEXT,
  designations          TEXT,
  geometry              BLOB,
  standoff_m            REAL,
  positional_accuracy_m REAL,
  valid_from            INTEGER,
  valid_to              INTEGER,
  last_verified         TEXT,
  properties            TEXT,
  prev_hash             TEXT NOT NULL,
  entry_hash            TEXT NOT NULL
) STRICT;
CREATE INDEX changes_site ON changes (source, site_id, seq);
CREATE INDEX changes_revision ON changes (revision);
CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes
  BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes
  BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
INSERT INTO meta (key, value) VALUES ('revision', '0');
"#,
    r#"
CREATE TABLE packed (
  id   INTEGER PRIMARY KEY,
  hash BLOB NOT NULL,
  data BLOB NOT NULL
) STRICT;
-- The log is read in sequence (verify, as_of) or per site (show, a scan);
-- these two indexes cost a sixth of a large import.
DROP INDEX changes_site;
DROP INDEX changes_revision;
"#,
    crate::sources::MIGRATION,
    // Schema 4: declared coverage per source; the packed index gains each
    // site's last-verified date (format 2), so the old image is dropped
    // and rebuilt when the registry is opened for writing.
    r#"
ALTER TABLE sources ADD COLUMN coverage BLOB;
ALTER TABLE sources ADD COLUMN coverage_how TEXT;
ALTER TABLE source_log ADD COLUMN coverage BLOB;
ALTER TABLE source_log ADD COLUMN coverage_how TEXT;
DELETE FROM packed;
DELETE FROM meta WHERE key = 'packed_root';
"#,
    // Schema 5: a site's marking (classification, releasable_to), external
    // ids and inscription date, as canonical JSON; NULL when none is set,
    // so every older site keeps its hash.
    // The packed index's heap gains each site's classification and
    // releasability (format 3): the old image is dropped and rebuilt.
    r#"
ALTER TABLE sites ADD COLUMN extensions TEXT;
ALTER TABLE changes ADD COLUMN extensions TEXT;
DELETE FROM packed;
DELETE FROM meta WHERE key = 'packed_root';
"#,
    // Schema 6: links between sites of different sources, and their log.
    crate::links::MIGRATION,
    // Schema 7: signed revisions.
    crate::signatures::MIGRATION,
    // Schema 8: content-addressed site versions. Each version of a site is
    // stored once, in `versions`, keyed by its site hash (as git keys its
    // objects); the live table maps (source, id) to a version's hash and
    // the change log carries keys and hashes only. Before this, each
    // version was stored twice (in its log entry and in the live row).
    // Site hashes, entry hashes and the content hash are unchanged: the
    // chain and every signature stay valid. `Registry::migrate` refuses
    // (before this runs) a registry whose live or logged content does not
    // match the hashes it would be filed under.
    MIGRATION_8,
];

/// Schema 8 (see [`MIGRATIONS`]); also the two views auditors read with the `sqlite3` shell.
const MIGRATION_8: &str = r#"
CREATE TABLE versions (
  id                    INTEGER PRIMARY KEY,
  hash                  TEXT NOT NULL UNIQUE,
  source                TEXT NOT NULL,
  site_id               TEXT NOT NULL,
  name                  TEXT NOT NULL,
  category              TEXT NOT NULL,
  protection            TEXT NOT NULL,
  designations          TEXT NOT NULL,
  geometry              BLOB NOT NULL,
  standoff_m            REAL,
  positional_accuracy_m REAL NOT NULL,
  valid_from            INTEGER,
  valid_to              INTEGER,
  last_verified         TEXT,
  properties            TEXT NOT NULL,
  extensions            TEXT
) STRICT;
INSERT OR IGNORE INTO versions (hash, source, site_id, name, category, protection, designations, geometry, standoff_m, positional_accuracy_m, valid_from, valid_to, last_verified, properties, extensions)
  SELECT hash_after, source, site_id, name, category, protection, designations, geometry, standoff_m, positional_accuracy_m, valid_from, valid_to, last_verified, properties, extensions
  FROM changes WHERE hash_after IS NOT NULL AND kind <> 'retired' ORDER BY seq;
-- A live row the log never recorded (damage `verify` will name) is kept too.
INSERT OR IGNORE INTO versions (hash, source, site_id, name, category, protection, designations, geometry, standoff_m, positional_accuracy_m, valid_from, valid_to, last_verified, properties, extensions)
  SELECT hash, source, site_id, name, category, protection, designations, geometry, standoff_m, positional_accuracy_m, valid_from, valid_to, last_verified, properties, extensions
  FROM sites ORDER BY rowid;
CREATE TRIGGER versions_no_update BEFORE UPDATE ON versions
  BEGIN SELECT RAISE(ABORT, 'site versions are append-only'); END;
CREATE TRIGGER versions_no_delete BEFORE DELETE ON versions
  BEGIN SELECT RAISE(ABORT, 'site versions are append-only'); END;
CREATE TABLE changes_v8 (
  seq         INTEGER PRIMARY KEY,
  batch       INTEGER NOT NULL REFERENCES batches(id),
  revision    INTEGER NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('added', 'updated', 'retired')),
  source      TEXT NOT NULL,
  site_id     TEXT NOT NULL,
  hash_before TEXT,
  hash_after  TEXT,
  prev_hash   TEXT NOT NULL,
  entry_hash  TEXT NOT NULL
) STRICT;
INSERT INTO changes_v8 SELECT seq, batch, revision, kind, source, site_id, hash_before, hash_after, prev_hash, entry_hash FROM changes ORDER BY seq;
DROP TABLE changes;
ALTER TABLE changes_v8 RENAME TO changes;
CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes
  BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes
  BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
CREATE TABLE sites_v8 (
  source   TEXT NOT NULL REFERENCES sources(name),
  site_id  TEXT NOT NULL,
  hash     TEXT NOT NULL,
  revision INTEGER NOT NULL,
  UNIQUE (source, site_id)
) STRICT;
-- Row ids kept: the packed index is built in live-row order.
INSERT INTO sites_v8 (rowid, source, site_id, hash, revision) SELECT rowid, source, site_id, hash, revision FROM sites ORDER BY rowid;
DROP TABLE sites;
ALTER TABLE sites_v8 RENAME TO sites;
CREATE VIEW live_sites AS
  SELECT s.rowid AS live_order, s.source, s.site_id, v.name, v.category, v.protection, v.designations, v.geometry,
         v.standoff_m, v.positional_accuracy_m, v.valid_from, v.valid_to, v.last_verified, v.properties, v.extensions,
         s.hash, s.revision
  FROM sites s LEFT JOIN versions v ON v.hash = s.hash;
CREATE VIEW change_history AS
  SELECT c.seq, c.batch, c.revision, c.kind, c.source, c.site_id, c.hash_before, c.hash_after,
         v.name, v.category, v.protection, v.designations, v.geometry, v.standoff_m, v.positional_accuracy_m,
         v.valid_from, v.valid_to, v.last_verified, v.properties, v.extensions, c.prev_hash, c.entry_hash,
         b.imported_at, b.operator, b.file_name
  FROM changes c LEFT JOIN versions v ON v.hash = c.hash_after LEFT JOIN batches b ON b.id = c.batch;
"#;

/// Before schema 8 files each version under its hash: the (source, id) of
/// the first live row or log entry whose content differs from the first
/// logged version carrying the same hash, which the migration would
/// otherwise silently replace by that version. `None`: safe to migrate.
pub(super) const BEFORE_8_CONFLICT: &str = r#"
WITH first AS (
  SELECT hash_after AS hash, min(seq) AS seq FROM changes WHERE hash_after IS NOT NULL AND kind <> 'retired' GROUP BY hash_after
), filed AS (
  SELECT c.* FROM changes c JOIN first f ON c.seq = f.seq
), candidates AS (
  SELECT 'live row' AS what, source, site_id, hash AS hash, name, category, protection, designations, geometry, standoff_m, positional_accuracy_m, valid_from, valid_to, last_verified, properties, extensions FROM sites
  UNION ALL
  SELECT 'log entry ' || seq, source, site_id, hash_after, name, category, protection, designations, geometry, standoff_m, positional_accuracy_m, valid_from, valid_to, last_verified, properties, extensions FROM changes WHERE hash_after IS NOT NULL AND kind <> 'retired'
)
SELECT x.what, x.source, x.site_id FROM candidates x JOIN filed f ON f.hash_after = x.hash
WHERE x.source IS NOT f.source OR x.site_id IS NOT f.site_id OR x.name IS NOT f.name OR x.category IS NOT f.category
   OR x.protection IS NOT f.protection OR x.designations IS NOT f.designations OR x.geometry IS NOT f.geometry
   OR x.standoff_m IS NOT f.standoff_m OR x.positional_accuracy_m IS NOT f.positional_accuracy_m
   OR x.valid_from IS NOT f.valid_from OR x.valid_to IS NOT f.valid_to OR x.last_verified IS NOT f.last_verified
   OR x.properties IS NOT f.properties OR x.extensions IS NOT f.extensions
LIMIT 1
"#;
