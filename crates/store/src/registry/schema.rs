//! The schema: identity, version and the append-only migrations.

/// `PRAGMA application_id` of a nostrike registry ("NSTR").
pub const APPLICATION_ID: i32 = 0x4E53_5452;
/// The schema version this build writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i32 = 7;

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
];
