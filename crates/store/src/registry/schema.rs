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
    // Schema 8: each site version stored once. A version lives in
    // `versions`, carrying its site hash (checked on every read) and
    // numbered by the change-log entry that filed it; the live table maps
    // (source, id) to a version; the log carries keys and hashes only, and
    // no longer stores `prev_hash` (each entry's hash already chains the one
    // before; the `change_history` view shows it). Before this, each
    // version was stored twice (in its log entry and in the live row).
    // Site hashes, entry hashes and the content hash are unchanged: the
    // chain and every signature stay valid. `Registry::migrate` refuses
    // (before this runs) a registry whose live rows are not exactly their
    // last log entries, or whose log does not link.
    MIGRATION_8,
];

/// The index in [`MIGRATIONS`] of schema 8's, which `Registry::migrate`
/// checks [`BEFORE_8_CONFLICT`] before running.
pub(super) const VERSIONS_MIGRATION: usize = 7;

/// Schema 8 (see [`MIGRATIONS`]), with the two views auditors read with the `sqlite3` shell.
const MIGRATION_8: &str = r#"
CREATE TABLE versions (
  id                    INTEGER PRIMARY KEY,
  hash                  TEXT NOT NULL,
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
INSERT INTO versions (id, hash, source, site_id, name, category, protection, designations, geometry, standoff_m, positional_accuracy_m, valid_from, valid_to, last_verified, properties, extensions)
  SELECT seq, hash_after, source, site_id, name, category, protection, designations, geometry, standoff_m, positional_accuracy_m, valid_from, valid_to, last_verified, properties, extensions
  FROM changes WHERE kind <> 'retired' ORDER BY seq;
CREATE TRIGGER versions_no_update BEFORE UPDATE ON versions
  BEGIN SELECT RAISE(ABORT, 'site versions are append-only'); END;
CREATE TRIGGER versions_no_delete BEFORE DELETE ON versions
  BEGIN SELECT RAISE(ABORT, 'site versions are append-only'); END;
CREATE TABLE sites_v8 (
  source   TEXT NOT NULL REFERENCES sources(name),
  site_id  TEXT NOT NULL,
  version  INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  UNIQUE (source, site_id)
) STRICT;
-- Row ids kept: the packed index is built in live-row order. Each live row
-- is its last log entry (checked before this runs).
INSERT INTO sites_v8 (rowid, source, site_id, version, revision)
  SELECT s.rowid, s.source, s.site_id, l.seq, s.revision
  FROM sites s JOIN (SELECT source, site_id, max(seq) AS seq FROM changes GROUP BY source, site_id) l
    ON l.source = s.source AND l.site_id = s.site_id
  ORDER BY s.rowid;
DROP TABLE sites;
ALTER TABLE sites_v8 RENAME TO sites;
CREATE TABLE changes_v8 (
  seq         INTEGER PRIMARY KEY,
  batch       INTEGER NOT NULL REFERENCES batches(id),
  revision    INTEGER NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('added', 'updated', 'retired')),
  source      TEXT NOT NULL,
  site_id     TEXT NOT NULL,
  hash_before TEXT,
  hash_after  TEXT,
  entry_hash  TEXT NOT NULL
) STRICT;
INSERT INTO changes_v8 SELECT seq, batch, revision, kind, source, site_id, hash_before, hash_after, entry_hash FROM changes ORDER BY seq;
DROP TABLE changes;
ALTER TABLE changes_v8 RENAME TO changes;
CREATE TRIGGER changes_no_update BEFORE UPDATE ON changes
  BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
CREATE TRIGGER changes_no_delete BEFORE DELETE ON changes
  BEGIN SELECT RAISE(ABORT, 'the change log is append-only'); END;
CREATE VIEW live_sites AS
  SELECT s.rowid AS live_order, s.source, s.site_id, v.name, v.category, v.protection, v.designations, v.geometry,
         v.standoff_m, v.positional_accuracy_m, v.valid_from, v.valid_to, v.last_verified, v.properties, v.extensions,
         v.hash, s.version, s.revision
  FROM sites s LEFT JOIN versions v ON v.id = s.version;
CREATE VIEW change_history AS
  SELECT c.seq, c.batch, c.revision, c.kind, c.source, c.site_id, c.hash_before, c.hash_after,
         v.name, v.category, v.protection, v.designations, v.geometry, v.standoff_m, v.positional_accuracy_m,
         v.valid_from, v.valid_to, v.last_verified, v.properties, v.extensions,
         lag(c.entry_hash, 1, '0000000000000000000000000000000000000000000000000000000000000000') OVER (ORDER BY c.seq) AS prev_hash,
         c.entry_hash, b.imported_at, b.operator, b.file_name
  FROM changes c LEFT JOIN versions v ON v.id = c.seq AND c.kind <> 'retired' LEFT JOIN batches b ON b.id = c.batch;
"#;

/// The query of schema 8's `change_history` view (the log as it read
/// before schema 8), for the shared registry's own view of it.
#[cfg(any(feature = "postgres", test))]
pub(crate) fn change_history_query() -> &'static str {
    const HEAD: &str = "CREATE VIEW change_history AS";
    MIGRATION_8
        .split_once(HEAD)
        .map(|(_, q)| q.trim())
        .unwrap_or_default()
}

/// Before schema 8 merges each live row into its last log entry's version
/// and drops `prev_hash`: what that would hide, as (what, source, id) —
/// a live row that is not exactly its last log entry (or has none), or an
/// entry whose `prev_hash` is not the entry hash before it. `None`: safe.
pub(super) const BEFORE_8_CONFLICT: &str = r#"
WITH last AS (
  SELECT source, site_id, max(seq) AS seq FROM changes GROUP BY source, site_id
)
SELECT 'live row', s.source, s.site_id
FROM sites s LEFT JOIN last l ON l.source = s.source AND l.site_id = s.site_id LEFT JOIN changes c ON c.seq = l.seq
WHERE c.seq IS NULL OR c.kind = 'retired' OR s.hash IS NOT c.hash_after
   OR s.name IS NOT c.name OR s.category IS NOT c.category
   OR s.protection IS NOT c.protection OR s.designations IS NOT c.designations OR s.geometry IS NOT c.geometry
   OR s.standoff_m IS NOT c.standoff_m OR s.positional_accuracy_m IS NOT c.positional_accuracy_m
   OR s.valid_from IS NOT c.valid_from OR s.valid_to IS NOT c.valid_to OR s.last_verified IS NOT c.last_verified
   OR s.properties IS NOT c.properties OR s.extensions IS NOT c.extensions
UNION ALL
SELECT 'log entry ' || seq, source, site_id FROM (
  SELECT seq, source, site_id, prev_hash,
         lag(entry_hash, 1, '0000000000000000000000000000000000000000000000000000000000000000') OVER (ORDER BY seq) AS before
  FROM changes
) WHERE prev_hash IS NOT before
LIMIT 1
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_change_history_query_is_the_views_whole_query() {
        let q = change_history_query();
        assert!(
            q.starts_with("SELECT c.seq,") && q.ends_with("b.id = c.batch;"),
            "{q}"
        );
    }

    #[test]
    fn the_guarded_migration_is_the_one_that_files_versions() {
        assert_eq!(MIGRATIONS[VERSIONS_MIGRATION], MIGRATION_8);
        assert_eq!(MIGRATIONS.len() as i32, SCHEMA_VERSION);
    }
}
