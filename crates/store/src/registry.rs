//! The SQLite registry.

use std::collections::{HashMap, HashSet};

/// `source \x1f id`: one site's key in an import session's set of ids seen.
/// Boxed, not a `String`: a million of them are held through a large import.
fn seen_key(source: &str, id: &str) -> Box<str> {
    let mut k = String::with_capacity(source.len() + id.len() + 1);
    k.push_str(source);
    k.push('\u{1f}');
    k.push_str(id);
    k.into_boxed_str()
}
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Mutex;

use nostrike_core::packed::{ChunkSink, ChunkSource, MemoryChunks, PackedBuilder};
use nostrike_core::{wkb, Category, PackedIndex, Protection, Site, SiteIndex};
use rayon::prelude::*;
use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior,
};

use crate::canonical::{
    canonical_properties, content_hash, content_hash_of_digests, parse_hex, site_digest_with_wkb,
    site_hash_with_wkb, Enc,
};

/// `PRAGMA application_id` of a nostrike registry ("NSTR").
pub const APPLICATION_ID: i32 = 0x4E53_5452;
/// The schema version this build writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i32 = 3;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Migrations, in order; migration `i` takes the schema from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[
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
];

/// A registry error. Every variant names the registry file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file does not exist.
    #[error("{}: no registry here (create one with `nostrike init`)", path.display())]
    Missing {
        /// The registry path.
        path: PathBuf,
    },
    /// The file exists and `init` would overwrite it.
    #[error("{}: already exists; refusing to overwrite", path.display())]
    Exists {
        /// The registry path.
        path: PathBuf,
    },
    /// The file is SQLite but not a nostrike registry, or not SQLite at all.
    #[error("{}: not a nostrike registry ({reason})", path.display())]
    Foreign {
        /// The registry path.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The registry was written by a newer nostrike.
    #[error("{}: schema version {found} is newer than this nostrike understands ({SCHEMA_VERSION}); upgrade nostrike", path.display())]
    TooNew {
        /// The registry path.
        path: PathBuf,
        /// The version found.
        found: i32,
    },
    /// The registry's contents are damaged or do not match their hashes.
    #[error("{}: registry is damaged: {reason}", path.display())]
    Damaged {
        /// The registry path.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// A site given to import cannot be stored.
    #[error("{}: site {source_name}/{id}: {reason}", path.display())]
    BadSite {
        /// The registry path.
        path: PathBuf,
        /// The site's source.
        source_name: String,
        /// The site's id.
        id: String,
        /// Why.
        reason: String,
    },
    /// Another import holds the registry.
    #[error("{}: busy: another import is running (waited {waited_s} s)", path.display())]
    Busy {
        /// The registry path.
        path: PathBuf,
        /// Seconds waited.
        waited_s: u64,
    },
    /// A revision that does not exist was asked for.
    #[error("{}: revision {revision} does not exist (the registry is at revision {current})", path.display())]
    NoSuchRevision {
        /// The registry path.
        path: PathBuf,
        /// The revision asked for.
        revision: i64,
        /// The current revision.
        current: i64,
    },
    /// An SQLite error.
    #[error("{}: {source}", path.display())]
    Sqlite {
        /// The registry path.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
}

/// Metadata of a source (a dataset sites come from).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceMeta {
    /// Name (unique).
    pub name: String,
    /// What the source is.
    pub description: Option<String>,
    /// Licence of the data.
    pub licence: Option<String>,
    /// Required attribution.
    pub attribution: Option<String>,
    /// Where it came from.
    pub url: Option<String>,
}

/// What an import batch records about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchMeta {
    /// The file imported (as given).
    pub file_name: String,
    /// SHA-256 of the file's bytes (hex).
    pub file_sha256: String,
    /// Format name.
    pub format: String,
    /// Who imported it.
    pub operator: String,
    /// Seconds since the Unix epoch (UTC).
    pub imported_at: i64,
    /// Retire the source's live sites missing from this batch.
    pub replace: bool,
}

/// Counts and identity of a finished import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Batch number.
    pub batch: i64,
    /// The file imported, as given.
    pub file_name: String,
    /// The source its sites belong to.
    pub source: String,
    /// Sites added.
    pub added: usize,
    /// Sites whose content changed.
    pub updated: usize,
    /// Sites retired (`replace`).
    pub retired: usize,
    /// Sites identical to what was stored.
    pub unchanged: usize,
    /// Registry revision after the import.
    pub revision: i64,
    /// Content hash after the import.
    pub content_hash: String,
}

/// One import batch as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchInfo {
    /// Batch number.
    pub id: i64,
    /// Registry revision after the batch.
    pub revision: i64,
    /// Source name.
    pub source: String,
    /// File name.
    pub file_name: String,
    /// SHA-256 of the file.
    pub file_sha256: String,
    /// Format.
    pub format: String,
    /// Whether it was a `--replace` import.
    pub replace: bool,
    /// Counts: added, updated, retired, unchanged.
    pub counts: [i64; 4],
    /// Seconds since the Unix epoch (UTC).
    pub imported_at: i64,
    /// Who imported it.
    pub operator: String,
    /// Content hash after the batch.
    pub content_hash: String,
}

/// One entry of a site's history.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEntry {
    /// Entry number in the log.
    pub seq: i64,
    /// Batch it belongs to.
    pub batch: i64,
    /// Revision it created.
    pub revision: i64,
    /// `added`, `updated` or `retired`.
    pub kind: String,
    /// Site hash before (none when added).
    pub hash_before: Option<String>,
    /// Site hash after (none when retired).
    pub hash_after: Option<String>,
    /// The site as it became (none when retired).
    pub site: Option<Site>,
    /// When the batch was imported (seconds since the Unix epoch, UTC).
    pub imported_at: i64,
    /// Who imported it.
    pub operator: String,
    /// The file it came from.
    pub file_name: String,
}

/// A problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind of problem (`integrity`, `chain`, `site`, `content_hash`, `revision`, `packed`).
    pub kind: &'static str,
    /// Where and what.
    pub detail: String,
}

/// Counts for `stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Revision.
    pub revision: i64,
    /// Content hash.
    pub content_hash: String,
    /// Live sites.
    pub sites: i64,
    /// Live sites by category.
    pub by_category: Vec<(String, i64)>,
    /// Live sites by source.
    pub by_source: Vec<(String, i64)>,
    /// Live sites by protection level.
    pub by_protection: Vec<(String, i64)>,
    /// Import batches.
    pub batches: i64,
    /// Change-log entries.
    pub changes: i64,
}

/// Sites loaded into the core index with the registry state they came from.
#[derive(Debug)]
pub struct LoadedIndex {
    /// The index.
    pub index: SiteIndex,
    /// Registry revision.
    pub revision: i64,
    /// Content hash (recomputed from the rows and equal to the recorded one).
    pub content_hash: String,
}

/// The packed index of the live sites, opened for a check, with the registry state it was built from.
#[derive(Debug)]
pub struct PackedSites {
    /// The index; its chunks are read on first use inside one read transaction, so a check sees one revision.
    pub index: PackedIndex,
    /// Registry revision.
    pub revision: i64,
    /// Content hash (hex), as recorded and as the image records it.
    pub content_hash: String,
}

/// Chunk rows of the `packed` table, read through a connection that holds
/// one read transaction open for the life of the index.
struct SqlChunks {
    conn: Mutex<Connection>,
}

impl ChunkSource for SqlChunks {
    fn chunk(&self, section: u8, no: u64) -> Result<Vec<u8>, String> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| "connection lock poisoned".to_string())?;
        conn.prepare_cached("SELECT data FROM packed WHERE id = ?1")
            .and_then(|mut st| st.query_row([packed_id(section, no)], |r| r.get(0)))
            .map_err(|e| e.to_string())
    }
}

fn packed_id(section: u8, no: u64) -> i64 {
    (i64::from(section) << 40) | no as i64
}

/// The (section, chunk number) a `packed` row id stands for (see [`packed_id`]).
fn packed_key(id: i64) -> (u8, u64) {
    ((id >> 40) as u8, (id & ((1 << 40) - 1)) as u64)
}

/// Writes chunks as rows of the `packed` table.
struct SqlSink<'c> {
    conn: &'c Connection,
}

impl ChunkSink for SqlSink<'_> {
    fn put(&mut self, section: u8, no: u64, data: &[u8], hash: &[u8; 32]) -> Result<(), String> {
        put_chunk(self.conn, section, no, data, hash).map_err(|e| e.to_string())
    }
}

/// Store one packed-index chunk.
fn put_chunk(
    conn: &Connection,
    section: u8,
    no: u64,
    data: &[u8],
    hash: &[u8; 32],
) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO packed (id, hash, data) VALUES (?1, ?2, ?3)")
        .and_then(|mut st| st.execute(params![packed_id(section, no), &hash[..], data]))
        .map(|_| ())
}

/// A sink that keeps only the hashes (to recompute an image's root without storing it).
#[derive(Default)]
struct HashSink;

impl ChunkSink for HashSink {
    fn put(&mut self, _: u8, _: u64, _: &[u8], _: &[u8; 32]) -> Result<(), String> {
        Ok(())
    }
}

/// Every live row, in rowid order, decoded and checked against its recorded
/// hash in parallel a chunk at a time (so the raw rows of the whole registry
/// are never in memory at once); `f` gets each chunk as (site, WKB, digest).
fn for_each_verified_live_chunk(
    conn: &Connection,
    path: &Path,
    mut f: impl FnMut(Vec<(Site, Vec<u8>, [u8; 32])>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let sq = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let mut st = conn
        .prepare(&format!(
            "SELECT {SITE_COLUMNS}, hash FROM sites ORDER BY rowid"
        ))
        .map_err(sq)?;
    let mut rows = st.query([]).map_err(sq)?;
    let mut chunk: Vec<(SiteRow, String)> = Vec::with_capacity(LOAD_CHUNK);
    loop {
        let next = rows.next().map_err(sq)?;
        if let Some(r) = next {
            chunk.push((SiteRow::read(r, 0).map_err(sq)?, r.get(13).map_err(sq)?));
        }
        if chunk.len() == LOAD_CHUNK || (next.is_none() && !chunk.is_empty()) {
            let decoded = std::mem::replace(&mut chunk, Vec::with_capacity(LOAD_CHUNK))
                .into_par_iter()
                .map(|(mut row, stored)| {
                    let geometry = std::mem::take(&mut row.geometry);
                    let site = row.into_site_with(&geometry)?;
                    let d = site_digest_with_wkb(&site, &geometry);
                    if parse_hex(&stored) != Some(d) {
                        return Err(format!("site {}/{} does not match its recorded hash (edited outside nostrike?); run `nostrike verify`", site.source, site.id));
                    }
                    Ok((site, geometry, d))
                })
                .collect::<Result<Vec<_>, String>>()
                .map_err(|reason| StoreError::Damaged {
                    path: path.to_path_buf(),
                    reason,
                })?;
            f(decoded)?;
        }
        if next.is_none() {
            return Ok(());
        }
    }
}

/// Finish a packed index whose sites were all added to `builder`: the
/// content hash from their digests, the tree and header written to `sink`,
/// and, when `record` is given, the root recorded in `meta`. Returns
/// (content hash hex, root hex).
fn finish_pack(
    builder: PackedBuilder,
    digests: &mut [[u8; 32]],
    revision: i64,
    sink: &mut dyn ChunkSink,
    record: Option<&Connection>,
    path: &Path,
) -> Result<(String, String), StoreError> {
    let damaged = |reason: String| StoreError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let content = content_hash_of_digests(digests);
    let raw = parse_hex(&content).ok_or_else(|| damaged("content hash".into()))?;
    let root = crate::canonical::hex(
        &builder
            .finish(revision, &raw, sink)
            .map_err(|e| damaged(e.to_string()))?,
    );
    if let Some(conn) = record {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('packed_root', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [&root],
        )
        .map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok((content, root))
}

/// Rebuild the packed index of the live sites inside `conn`'s open
/// transaction from the verified rows (see [`for_each_verified_live_chunk`]),
/// packed in rowid order; the content hash is recomputed on the way. With
/// `store`, the image replaces the `packed` rows and its root is recorded;
/// without, only its root is computed. Returns (content hash hex, root hex).
fn pack_live(
    conn: &Connection,
    path: &Path,
    revision: i64,
    store: bool,
) -> Result<(String, String), StoreError> {
    if store {
        conn.execute("DELETE FROM packed", [])
            .map_err(|source| StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            })?;
    }
    let mut sql_sink = SqlSink { conn };
    let mut hash_sink = HashSink;
    let sink: &mut dyn ChunkSink = if store { &mut sql_sink } else { &mut hash_sink };
    let mut builder = PackedBuilder::new();
    let mut digests: Vec<[u8; 32]> = Vec::new();
    for_each_verified_live_chunk(conn, path, |chunk| {
        for (site, geometry, d) in chunk {
            builder
                .add(&site, &geometry, sink)
                .map_err(|e| StoreError::Damaged {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
            digests.push(d);
        }
        Ok(())
    })?;
    finish_pack(
        builder,
        &mut digests,
        revision,
        sink,
        store.then_some(conn),
        path,
    )
}

/// An open registry.
#[derive(Debug)]
pub struct Registry {
    conn: Connection,
    path: PathBuf,
}

const SITE_COLUMNS: &str = "source, site_id, name, category, protection, designations, geometry, standoff_m, positional_accuracy_m, valid_from, valid_to, last_verified, properties";

/// A site as its columns hold it; `site()` decodes, `hash()` recomputes.
struct SiteRow {
    source: String,
    id: String,
    name: String,
    category: String,
    protection: String,
    designations: String,
    geometry: Vec<u8>,
    standoff_m: Option<f64>,
    positional_accuracy_m: f64,
    valid_from: Option<i64>,
    valid_to: Option<i64>,
    last_verified: Option<String>,
    properties: String,
}

impl SiteRow {
    /// Read the 13 site columns starting at `at`.
    fn read(r: &Row<'_>, at: usize) -> rusqlite::Result<SiteRow> {
        Ok(SiteRow {
            source: r.get(at)?,
            id: r.get(at + 1)?,
            name: r.get(at + 2)?,
            category: r.get(at + 3)?,
            protection: r.get(at + 4)?,
            designations: r.get(at + 5)?,
            geometry: r.get(at + 6)?,
            standoff_m: r.get(at + 7)?,
            positional_accuracy_m: r.get(at + 8)?,
            valid_from: r.get(at + 9)?,
            valid_to: r.get(at + 10)?,
            last_verified: r.get(at + 11)?,
            properties: r.get(at + 12)?,
        })
    }

    fn of(site: &Site) -> Result<SiteRow, String> {
        let designations = serde_json::to_string(&site.designations).map_err(|e| e.to_string())?;
        Ok(SiteRow {
            source: site.source.clone(),
            id: site.id.clone(),
            name: site.name.clone(),
            category: site.category.as_str().into(),
            protection: site.protection.as_str().into(),
            designations,
            geometry: wkb::encode(&site.geometry),
            standoff_m: site.standoff_m,
            positional_accuracy_m: site.positional_accuracy_m,
            valid_from: site.valid_from,
            valid_to: site.valid_to,
            last_verified: site.last_verified.clone(),
            properties: canonical_properties(&site.properties)?,
        })
    }

    fn site(&self) -> Result<Site, String> {
        SiteRow {
            source: self.source.clone(),
            id: self.id.clone(),
            name: self.name.clone(),
            category: self.category.clone(),
            protection: self.protection.clone(),
            designations: self.designations.clone(),
            geometry: Vec::new(),
            standoff_m: self.standoff_m,
            positional_accuracy_m: self.positional_accuracy_m,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            last_verified: self.last_verified.clone(),
            properties: self.properties.clone(),
        }
        .into_site_with(&self.geometry)
    }

    /// Decode into a site, moving the text fields; the geometry is decoded from `wkb_bytes`.
    fn into_site_with(self, wkb_bytes: &[u8]) -> Result<Site, String> {
        let fail = |what: String| format!("site {}/{}: {what}", self.source, self.id);
        let category: Category = self
            .category
            .parse()
            .map_err(|e: nostrike_core::UnknownName| fail(e.to_string()))?;
        let protection: Protection = self
            .protection
            .parse()
            .map_err(|e: nostrike_core::UnknownName| fail(e.to_string()))?;
        let geometry = wkb::decode(wkb_bytes).map_err(|e| fail(e.to_string()))?;
        let designations: Vec<String> = if self.designations == "[]" {
            Vec::new()
        } else {
            serde_json::from_str(&self.designations)
                .map_err(|e| fail(format!("designations: {e}")))?
        };
        let mut s = Site::new(self.id, self.source, category, geometry);
        s.name = self.name;
        s.protection = protection;
        s.designations = designations;
        s.standoff_m = self.standoff_m;
        s.positional_accuracy_m = self.positional_accuracy_m;
        s.valid_from = self.valid_from;
        s.valid_to = self.valid_to;
        s.last_verified = self.last_verified;
        s.properties = self.properties;
        Ok(s)
    }

    /// The site hash of exactly what the columns hold.
    fn hash(&self) -> Result<String, String> {
        let site = self.site()?;
        Ok(site_hash_with_wkb(&site, &self.geometry))
    }
}

/// What a change-log entry's hash covers.
struct Entry<'a> {
    seq: i64,
    batch: i64,
    revision: i64,
    kind: &'a str,
    source: &'a str,
    id: &'a str,
    before: Option<&'a str>,
    after: Option<&'a str>,
}

/// The hash of a change-log entry, chained to the previous entry's hash `prev`.
fn entry_hash(entry: &Entry<'_>, prev: &str) -> String {
    let Entry {
        seq,
        batch,
        revision,
        kind,
        source,
        id,
        before,
        after,
    } = *entry;
    let mut e = Enc::default();
    e.text("nostrike-log-v1")
        .i64(seq)
        .i64(batch)
        .i64(revision)
        .text(kind)
        .text(source)
        .text(id)
        .opt_text(before)
        .opt_text(after)
        .text(prev);
    e.sha256_hex()
}

impl Registry {
    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn damaged(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Damaged {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// The registry file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Create a new, empty registry; fails if the file exists.
    pub fn create(path: &Path) -> Result<Registry, StoreError> {
        if path.exists() {
            return Err(StoreError::Exists {
                path: path.to_path_buf(),
            });
        }
        let sq = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sq)?;
        // 16 KiB pages: fewer b-tree splits and overflow pages for the log and the packed index (a 1M-site import ran 26 s with 4 KiB pages, 19 s with 16 KiB, 25 s with 64 KiB).
        conn.pragma_update(None, "page_size", 16_384).map_err(sq)?;
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(sq)?;
        let mut reg = Registry {
            conn,
            path: path.to_path_buf(),
        };
        reg.configure()?;
        reg.migrate()?;
        Ok(reg)
    }

    /// Open an existing registry for reading and writing (migrating an older schema).
    pub fn open(path: &Path) -> Result<Registry, StoreError> {
        let mut reg = Registry::open_with(path, false)?;
        reg.configure()?;
        reg.migrate()?;
        if reg.meta("packed_root")?.is_none() {
            // A registry from before the packed index: write it now. Rows
            // that fail their hashes leave it unwritten (checks then refuse
            // the rows; `verify` names them) rather than failing the open.
            match reg.repack() {
                Ok(()) | Err(StoreError::Damaged { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(reg)
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Registry::meta_in(&self.conn, key).map_err(|e| self.err(e))
    }

    /// Rebuild the packed index (what checks read) from the live rows, each
    /// verified against its hash and all against the recorded content hash.
    /// Imports keep it current; this is for a registry upgraded from an
    /// older schema or an image found damaged by [`Registry::verify`].
    pub fn repack(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sq = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sq)?;
        let revision: i64 = Registry::meta_in(&tx, "revision")
            .map_err(sq)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let recorded = Registry::meta_in(&tx, "content_hash").map_err(sq)?;
        let (content, _) = pack_live(&tx, &path, revision, true)?;
        match recorded {
            Some(r) if r != content => {
                return Err(StoreError::Damaged {
                    path: path.clone(),
                    reason: format!("live sites hash to {content} but the registry records {r}; run `nostrike verify`"),
                })
            }
            Some(_) => {}
            None => {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('content_hash', ?1)",
                    [&content],
                )
                .map_err(sq)?;
            }
        }
        tx.commit().map_err(sq)
    }

    /// Open the packed index of the live sites for a check, inside one read
    /// transaction held for the life of the index. `Ok(Err(self))` when the
    /// registry has no packed index (written by an older nostrike and not
    /// yet opened for writing): the caller loads the rows instead. An image
    /// that does not match its recorded root, revision or content hash is an error.
    pub fn load_packed(self) -> Result<Result<PackedSites, Registry>, StoreError> {
        self.conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
        let revision = self.revision()?;
        let content_hash = self.content_hash()?;
        let Some(root) = self.meta("packed_root")? else {
            self.conn
                .execute_batch("ROLLBACK")
                .map_err(|e| self.err(e))?;
            return Ok(Err(self));
        };
        let root: [u8; 32] = parse_hex(&root).ok_or_else(|| {
            self.damaged(format!(
                "recorded packed index root {root:?} is not a SHA-256"
            ))
        })?;
        let list = {
            let mut st = self
                .conn
                .prepare("SELECT id, hash FROM packed ORDER BY id")
                .map_err(|e| self.err(e))?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
                .map_err(|e| self.err(e))?;
            let mut list = Vec::new();
            for row in rows {
                let (id, h) = row.map_err(|e| self.err(e))?;
                let h: [u8; 32] = h.try_into().map_err(|_| {
                    self.damaged(format!("packed chunk {id}: hash is not 32 bytes"))
                })?;
                let (section, no) = packed_key(id);
                list.push((section, no, h));
            }
            list
        };
        let path = self.path.clone();
        let damaged = |reason: String| StoreError::Damaged {
            path: path.clone(),
            reason,
        };
        let index = PackedIndex::open(
            Box::new(SqlChunks {
                conn: Mutex::new(self.conn),
            }),
            &list,
            &root,
        )
        .map_err(|e| damaged(format!("{e}; run `nostrike verify`")))?;
        if index.revision() != revision
            || crate::canonical::hex(index.content_hash()) != content_hash
        {
            return Err(damaged(format!(
                "the packed index was built from revision {} ({}), but the registry is at revision {revision} ({content_hash}); run `nostrike verify`",
                index.revision(),
                crate::canonical::hex(index.content_hash())
            )));
        }
        Ok(Ok(PackedSites {
            index,
            revision,
            content_hash,
        }))
    }

    /// Open an existing registry read-only: nothing is ever written to it.
    ///
    /// On a read-only medium (where SQLite cannot create the WAL index beside
    /// the file) the registry is opened as immutable, provided no write-ahead
    /// log with unmerged changes lies beside it; otherwise that is an error.
    pub fn open_read_only(path: &Path) -> Result<Registry, StoreError> {
        let reg = match Registry::open_with(path, true) {
            Err(StoreError::Sqlite {
                source: rusqlite::Error::SqliteFailure(f, _),
                ..
            }) if f.code == rusqlite::ErrorCode::CannotOpen => {
                let mut wal = path.as_os_str().to_owned();
                wal.push("-wal");
                if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                    return Err(StoreError::Damaged {
                        path: path.to_path_buf(),
                        reason: "cannot be opened on this read-only medium: its write-ahead log holds changes not yet merged; open it once where it is writable (e.g. `nostrike verify`)".into(),
                    });
                }
                Registry::open_immutable(path)?
            }
            other => other?,
        };
        reg.conn
            .busy_timeout(Duration::from_secs(10))
            .map_err(|e| reg.err(e))?;
        let version: i32 = reg
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| reg.err(e))?;
        if version < SCHEMA_VERSION {
            return Err(reg.damaged(format!("schema version {version} is older than {SCHEMA_VERSION}; open it once with a writing command (e.g. `nostrike verify`) to upgrade")));
        }
        Ok(reg)
    }

    /// Open a registry on a read-only medium (SQLite's `immutable` mode).
    fn open_immutable(path: &Path) -> Result<Registry, StoreError> {
        let text = path.to_string_lossy();
        let mut uri = String::from("file:");
        for c in text.chars() {
            match c {
                '%' => uri.push_str("%25"),
                '?' => uri.push_str("%3f"),
                '#' => uri.push_str("%23"),
                c => uri.push(c),
            }
        }
        uri.push_str("?immutable=1");
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Registry::connect(path, uri, flags)
    }

    fn open_with(path: &Path, read_only: bool) -> Result<Registry, StoreError> {
        let meta = std::fs::metadata(path).map_err(|_| StoreError::Missing {
            path: path.to_path_buf(),
        })?;
        if meta.len() == 0 {
            return Err(StoreError::Foreign {
                path: path.to_path_buf(),
                reason: "the file is empty".into(),
            });
        }
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        Registry::connect(path, path, flags)
    }

    /// Open `target` (the file, or an SQLite URI for it) and check that it is a
    /// nostrike registry this build can read: application id and schema version.
    fn connect<P: AsRef<Path>>(
        path: &Path,
        target: P,
        flags: OpenFlags,
    ) -> Result<Registry, StoreError> {
        let conn =
            Connection::open_with_flags(target, flags).map_err(|source| StoreError::Sqlite {
                path: path.to_path_buf(),
                source,
            })?;
        let reg = Registry {
            conn,
            path: path.to_path_buf(),
        };
        let app: i32 = reg
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::NotADatabase =>
                {
                    StoreError::Foreign {
                        path: path.to_path_buf(),
                        reason: "not an SQLite database".into(),
                    }
                }
                e => reg.err(e),
            })?;
        if app != APPLICATION_ID {
            return Err(StoreError::Foreign {
                path: path.to_path_buf(),
                reason: format!("SQLite application_id is {app:#x}, not {APPLICATION_ID:#x}"),
            });
        }
        let version: i32 = reg
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| reg.err(e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: version,
            });
        }
        Ok(reg)
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        let c = &self.conn;
        c.busy_timeout(Duration::from_secs(10))
            .map_err(|e| self.err(e))?;
        c.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| self.err(e))?;
        c.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| self.err(e))?;
        // Statement journals (one per upsert) in memory rather than in temporary files.
        c.pragma_update(None, "temp_store", "MEMORY")
            .map_err(|e| self.err(e))?;
        c.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sq = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sq)?;
        let version: i32 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sq)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            tx.execute_batch(sql).map_err(sq)?;
            tx.pragma_update(None, "user_version", (i + 1) as i32)
                .map_err(sq)?;
            if i + 1 == 3 {
                // The source log starts with each source as it stands.
                crate::sources::seed(&tx).map_err(sq)?;
            }
        }
        tx.commit().map_err(sq)
    }

    fn meta_in(tx: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
        tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    }

    /// The current revision (0 for a registry nothing was ever imported into).
    pub fn revision(&self) -> Result<i64, StoreError> {
        let v = Registry::meta_in(&self.conn, "revision")
            .map_err(|e| self.err(e))?
            .ok_or_else(|| self.damaged("no revision recorded"))?;
        v.parse()
            .map_err(|_| self.damaged(format!("revision {v:?} is not a number")))
    }

    /// The recorded content hash.
    pub fn content_hash(&self) -> Result<String, StoreError> {
        Ok(Registry::meta_in(&self.conn, "content_hash")
            .map_err(|e| self.err(e))?
            .unwrap_or_else(|| content_hash::<String>(&mut [])))
    }

    /// Import sites as one batch: all or nothing. Sites are upserted by
    /// (source, id); with `meta.replace`, live sites of `source` missing
    /// from `sites` are retired. Duplicate (source, id) pairs are an error.
    pub fn import(
        &mut self,
        source: &SourceMeta,
        meta: &BatchMeta,
        sites: &[Site],
    ) -> Result<ImportSummary, StoreError> {
        let mut v = self.import_many(&[(source.clone(), sites, meta.clone())])?;
        v.pop()
            .ok_or_else(|| self.damaged("import produced no batch"))
    }

    /// Import several batches (e.g. several files, or several sources in
    /// one file) in one transaction: all or nothing.
    pub fn import_many(
        &mut self,
        groups: &[(SourceMeta, &[Site], BatchMeta)],
    ) -> Result<Vec<ImportSummary>, StoreError> {
        let mut session = self.begin_import()?;
        for (source, sites, meta) in groups {
            let file = session.file(source, meta);
            for chunk in sites.chunks(IMPORT_CHUNK) {
                session.add(file, chunk.to_vec())?;
            }
        }
        session.commit()
    }

    /// Start an import: takes the write lock (waiting up to 10 s for another
    /// import) and opens the transaction that [`ImportSession::commit`]
    /// commits. Dropping the session without committing rolls everything back.
    pub fn begin_import(&mut self) -> Result<ImportSession<'_>, StoreError> {
        let path = self.path.clone();
        // A 32 MiB page cache: larger spills fewer pages mid-transaction, but a
        // 64 MiB cache took a 1M-site import past 300 MB for no measurable gain.
        self.conn
            .pragma_update(None, "cache_size", -32_768)
            .map_err(|source| StoreError::Sqlite {
                path: path.clone(),
                source,
            })?;
        let sq = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::DatabaseBusy =>
                {
                    StoreError::Busy {
                        path: path.clone(),
                        waited_s: 10,
                    }
                }
                e => sq(e),
            })?;
        let old_revision: i64 = Registry::meta_in(&tx, "revision")
            .map_err(sq)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let (seq, prev): (i64, String) = tx
            .query_row(
                "SELECT seq, entry_hash FROM changes ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sq)?
            .unwrap_or((0, GENESIS.to_string()));
        let next_batch: i64 = tx
            .query_row("SELECT coalesce(max(id), 0) + 1 FROM batches", [], |r| {
                r.get(0)
            })
            .map_err(sq)?;
        let empty: bool = tx
            .query_row("SELECT NOT EXISTS (SELECT 1 FROM sites)", [], |r| r.get(0))
            .map_err(sq)?;
        let packer = if empty {
            tx.execute("DELETE FROM packed", []).map_err(sq)?;
            Some((PackedBuilder::new(), Vec::new()))
        } else {
            None
        };
        Ok(ImportSession {
            tx,
            path,
            old_revision,
            chain: Chain {
                seq,
                prev,
                revision: old_revision + 1,
            },
            next_batch,
            files: Vec::new(),
            seen: HashSet::new(),
            changed: false,
            packer,
            pending: None,
        })
    }

    /// Every live site, each checked against its stored hash, with the
    /// revision and the content hash recomputed from the rows (which must
    /// equal the recorded one). Runs in one read transaction: one whole revision.
    pub fn live_sites(&self) -> Result<(Vec<Site>, i64, String), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let revision = self.revision()?;
        let recorded = self.content_hash()?;
        let count: i64 = tx
            .query_row("SELECT count(*) FROM sites", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let mut sites = Vec::with_capacity(count.max(0) as usize);
        let mut hashes = Vec::with_capacity(count.max(0) as usize);
        for_each_verified_live_chunk(&tx, &self.path, |chunk| {
            for (site, _, digest) in chunk {
                sites.push(site);
                hashes.push(digest);
            }
            Ok(())
        })?;
        tx.finish().map_err(|e| self.err(e))?;
        let actual = content_hash_of_digests(&mut hashes);
        if actual != recorded {
            return Err(self.damaged(format!("live sites hash to {actual} but the registry records {recorded} (rows added, removed or edited outside nostrike?); run `nostrike verify`")));
        }
        Ok((sites, revision, actual))
    }

    /// Load the live sites into the core index (see [`Registry::live_sites`] for the checks made).
    pub fn load_index(&self) -> Result<LoadedIndex, StoreError> {
        let (sites, revision, content_hash) = self.live_sites()?;
        let index = SiteIndex::build(sites).map_err(|e| self.damaged(e.to_string()))?;
        Ok(LoadedIndex {
            index,
            revision,
            content_hash,
        })
    }

    /// The sites as they were at `revision`, rebuilt from the change log.
    pub fn as_of(&self, revision: i64) -> Result<Vec<Site>, StoreError> {
        let current = self.revision()?;
        if revision < 0 || revision > current {
            return Err(StoreError::NoSuchRevision {
                path: self.path.clone(),
                revision,
                current,
            });
        }
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT kind, {SITE_COLUMNS} FROM changes WHERE revision <= ?1 ORDER BY seq"
            ))
            .map_err(|e| self.err(e))?;
        let mut live: HashMap<(String, String), Site> = HashMap::new();
        let mut rs = st.query([revision]).map_err(|e| self.err(e))?;
        while let Some(r) = rs.next().map_err(|e| self.err(e))? {
            let kind: String = r.get(0).map_err(|e| self.err(e))?;
            let src: String = r.get(1).map_err(|e| self.err(e))?;
            let id: String = r.get(2).map_err(|e| self.err(e))?;
            if kind == "retired" {
                live.remove(&(src, id));
            } else {
                let row = SiteRow::read(r, 1).map_err(|e| self.err(e))?;
                let site = row
                    .site()
                    .map_err(|e| self.damaged(format!("log entry for {src}/{id}: {e}")))?;
                live.insert((src, id), site);
            }
        }
        let mut v: Vec<Site> = live.into_values().collect();
        v.sort_by(|a, b| (&a.source, &a.id).cmp(&(&b.source, &b.id)));
        Ok(v)
    }

    /// The latest revision in force at `t` (seconds since the Unix epoch, UTC): that of the last batch imported at or before `t`.
    pub fn revision_at(&self, t: i64) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT coalesce(max(revision), 0) FROM batches WHERE imported_at <= ?1",
                [t],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Import batches, oldest first, from batch `since` on.
    pub fn log(&self, since_revision: i64) -> Result<Vec<BatchInfo>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT id, revision, source, file_name, file_sha256, format, replace, added, updated, retired, unchanged, imported_at, operator, content_hash FROM batches WHERE revision >= ?1 ORDER BY id")
            .map_err(|e| self.err(e))?;
        let v = st
            .query_map([since_revision], |r| {
                Ok(BatchInfo {
                    id: r.get(0)?,
                    revision: r.get(1)?,
                    source: r.get(2)?,
                    file_name: r.get(3)?,
                    file_sha256: r.get(4)?,
                    format: r.get(5)?,
                    replace: r.get::<_, i64>(6)? != 0,
                    counts: [r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?],
                    imported_at: r.get(11)?,
                    operator: r.get(12)?,
                    content_hash: r.get(13)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e));
        v
    }

    /// Every change-log entry of one site, oldest first.
    pub fn history(
        &self,
        source: Option<&str>,
        id: &str,
    ) -> Result<Vec<(String, ChangeEntry)>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT c.seq, c.batch, c.revision, c.kind, c.hash_before, c.hash_after, b.imported_at, b.operator, b.file_name, {}
                 FROM changes c JOIN batches b ON b.id = c.batch
                 WHERE c.site_id = ?1 AND (?2 IS NULL OR c.source = ?2) ORDER BY c.seq",
                SITE_COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ")
            ))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        let mut rs = st.query(params![id, source]).map_err(|e| self.err(e))?;
        while let Some(r) = rs.next().map_err(|e| self.err(e))? {
            let kind: String = r.get(3).map_err(|e| self.err(e))?;
            let src: String = r.get(9).map_err(|e| self.err(e))?;
            let site = if kind == "retired" {
                None
            } else {
                let row = SiteRow::read(r, 9).map_err(|e| self.err(e))?;
                Some(
                    row.site()
                        .map_err(|e| self.damaged(format!("log entry for {src}/{id}: {e}")))?,
                )
            };
            out.push((
                src,
                ChangeEntry {
                    seq: r.get(0).map_err(|e| self.err(e))?,
                    batch: r.get(1).map_err(|e| self.err(e))?,
                    revision: r.get(2).map_err(|e| self.err(e))?,
                    kind,
                    hash_before: r.get(4).map_err(|e| self.err(e))?,
                    hash_after: r.get(5).map_err(|e| self.err(e))?,
                    site,
                    imported_at: r.get(6).map_err(|e| self.err(e))?,
                    operator: r.get(7).map_err(|e| self.err(e))?,
                    file_name: r.get(8).map_err(|e| self.err(e))?,
                },
            ));
        }
        Ok(out)
    }

    /// The source log: each change to a source's metadata, as (batch, revision, metadata), oldest first.
    pub fn source_log(&self) -> Result<Vec<(i64, i64, SourceMeta)>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT batch, revision, name, description, licence, attribution, url FROM source_log ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let v = st
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    SourceMeta {
                        name: r.get(2)?,
                        description: r.get(3)?,
                        licence: r.get(4)?,
                        attribution: r.get(5)?,
                        url: r.get(6)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e));
        v
    }

    /// Sources and their metadata.
    pub fn sources(&self) -> Result<Vec<SourceMeta>, StoreError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT name, description, licence, attribution, url FROM sources ORDER BY name",
            )
            .map_err(|e| self.err(e))?;
        let v = st
            .query_map([], |r| {
                Ok(SourceMeta {
                    name: r.get(0)?,
                    description: r.get(1)?,
                    licence: r.get(2)?,
                    attribution: r.get(3)?,
                    url: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e));
        v
    }

    /// Counts by category, source and protection.
    pub fn stats(&self) -> Result<Stats, StoreError> {
        let group = |col: &str| -> Result<Vec<(String, i64)>, StoreError> {
            let mut st = self
                .conn
                .prepare(&format!(
                    "SELECT {col}, count(*) FROM sites GROUP BY {col} ORDER BY {col}"
                ))
                .map_err(|e| self.err(e))?;
            let v = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.err(e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e));
            v
        };
        let count = |sql: &str| -> Result<i64, StoreError> {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| self.err(e))
        };
        Ok(Stats {
            revision: self.revision()?,
            content_hash: self.content_hash()?,
            sites: count("SELECT count(*) FROM sites")?,
            by_category: group("category")?,
            by_source: group("source")?,
            by_protection: group("protection")?,
            batches: count("SELECT count(*) FROM batches")?,
            changes: count("SELECT count(*) FROM changes")?,
        })
    }

    /// Check everything: SQLite integrity, the hash chain of the change log,
    /// each entry's hash of the site it records, that the live rows are
    /// exactly what the log says they should be, the recorded content hash
    /// and revision. Returns every finding (empty when all is well).
    pub fn verify(&self) -> Result<Vec<Finding>, StoreError> {
        let mut findings = Vec::new();
        let ic: Vec<String> = {
            let mut st = self
                .conn
                .prepare("PRAGMA integrity_check")
                .map_err(|e| self.err(e))?;
            let v = st
                .query_map([], |r| r.get(0))
                .map_err(|e| self.err(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?;
            v
        };
        if ic != ["ok"] {
            findings.extend(ic.into_iter().map(|d| Finding {
                kind: "integrity",
                detail: d,
            }));
        }
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        // Replay the log.
        let mut expected: HashMap<(String, String), String> = HashMap::new();
        let mut prev = GENESIS.to_string();
        let mut next_seq = 1i64;
        let mut max_rev = 0i64;
        {
            let mut st = tx
                .prepare(&format!("SELECT seq, batch, revision, kind, hash_before, hash_after, prev_hash, entry_hash, {SITE_COLUMNS} FROM changes ORDER BY seq"))
                .map_err(|e| self.err(e))?;
            let mut rs = st.query([]).map_err(|e| self.err(e))?;
            while let Some(r) = rs.next().map_err(|e| self.err(e))? {
                let seq: i64 = r.get(0).map_err(|e| self.err(e))?;
                let batch: i64 = r.get(1).map_err(|e| self.err(e))?;
                let revision: i64 = r.get(2).map_err(|e| self.err(e))?;
                let kind: String = r.get(3).map_err(|e| self.err(e))?;
                let before: Option<String> = r.get(4).map_err(|e| self.err(e))?;
                let after: Option<String> = r.get(5).map_err(|e| self.err(e))?;
                let prev_hash: String = r.get(6).map_err(|e| self.err(e))?;
                let stored: String = r.get(7).map_err(|e| self.err(e))?;
                let src: String = r.get(8).map_err(|e| self.err(e))?;
                let id: String = r.get(9).map_err(|e| self.err(e))?;
                max_rev = max_rev.max(revision);
                if seq != next_seq {
                    findings.push(Finding {
                        kind: "chain",
                        detail: format!("log entries {next_seq}…{} are missing", seq - 1),
                    });
                }
                next_seq = seq + 1;
                if prev_hash != prev {
                    findings.push(Finding {
                        kind: "chain",
                        detail: format!(
                            "log entry {seq} ({src}/{id}) does not link to the entry before it"
                        ),
                    });
                }
                let h = entry_hash(
                    &Entry {
                        seq,
                        batch,
                        revision,
                        kind: &kind,
                        source: &src,
                        id: &id,
                        before: before.as_deref(),
                        after: after.as_deref(),
                    },
                    &prev_hash,
                );
                if h != stored {
                    findings.push(Finding { kind: "chain", detail: format!("log entry {seq} ({src}/{id}) was altered: its hash does not match its content") });
                }
                prev = stored;
                let key = (src.clone(), id.clone());
                if kind == "retired" {
                    expected.remove(&key);
                } else {
                    let row = SiteRow::read(r, 8).map_err(|e| self.err(e))?;
                    match row.hash() {
                        Ok(rh) if Some(&rh) == after.as_ref() => {}
                        Ok(_) => findings.push(Finding { kind: "chain", detail: format!("log entry {seq} ({src}/{id}): the site it records does not match its hash") }),
                        Err(e) => findings.push(Finding { kind: "chain", detail: format!("log entry {seq} ({src}/{id}): {e}") }),
                    }
                    expected.insert(key, after.unwrap_or_default());
                }
            }
        }
        // The live rows against the log.
        {
            let mut st = tx
                .prepare(&format!("SELECT {SITE_COLUMNS}, hash FROM sites"))
                .map_err(|e| self.err(e))?;
            let mut rs = st.query([]).map_err(|e| self.err(e))?;
            let mut live_hashes = Vec::new();
            while let Some(r) = rs.next().map_err(|e| self.err(e))? {
                let row = SiteRow::read(r, 0).map_err(|e| self.err(e))?;
                let stored: String = r.get(13).map_err(|e| self.err(e))?;
                let key = (row.source.clone(), row.id.clone());
                let actual = match row.hash() {
                    Ok(h) => h,
                    Err(e) => {
                        findings.push(Finding {
                            kind: "site",
                            detail: format!("site {}/{}: {e}", row.source, row.id),
                        });
                        String::new()
                    }
                };
                if actual != stored {
                    findings.push(Finding {
                        kind: "site",
                        detail: format!(
                            "site {}/{} was edited: its content does not match its recorded hash",
                            row.source, row.id
                        ),
                    });
                }
                match expected.remove(&key) {
                    None => findings.push(Finding {
                        kind: "site",
                        detail: format!(
                            "site {}/{} is not in the change log (inserted outside nostrike)",
                            row.source, row.id
                        ),
                    }),
                    Some(h) if h != actual => findings.push(Finding {
                        kind: "site",
                        detail: format!(
                            "site {}/{} differs from its last change-log entry",
                            row.source, row.id
                        ),
                    }),
                    Some(_) => {}
                }
                live_hashes.push(actual);
            }
            let mut missing: Vec<_> = expected.into_keys().collect();
            missing.sort();
            for (s, i) in missing {
                findings.push(Finding {
                    kind: "site",
                    detail: format!("site {s}/{i} is missing (deleted outside nostrike)"),
                });
            }
            let recomputed = content_hash(&mut live_hashes);
            let recorded = self.content_hash()?;
            if recomputed != recorded {
                findings.push(Finding {
                    kind: "content_hash",
                    detail: format!("live sites hash to {recomputed}, registry records {recorded}"),
                });
            }
        }
        let revision = self.revision()?;
        if revision != max_rev {
            findings.push(Finding {
                kind: "revision",
                detail: format!(
                    "registry records revision {revision}, the change log reaches {max_rev}"
                ),
            });
        }
        for detail in crate::sources::verify(&tx).map_err(|e| self.err(e))? {
            findings.push(Finding {
                kind: "source",
                detail,
            });
        }
        let head: Option<String> = tx
            .query_row(
                "SELECT log_head FROM batches ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(head) = head {
            if head != prev {
                findings.push(Finding { kind: "chain", detail: format!("the last batch ends the log at {head}, the log ends at {prev} (entries removed or appended outside nostrike)") });
            }
        }
        // The packed index checks read: every chunk against its hash, the
        // chunk list against the recorded root, and the root against an
        // image rebuilt from the (verified) live rows.
        let recorded_root = self.meta("packed_root")?;
        {
            let mut st = tx
                .prepare("SELECT id, hash, data FROM packed ORDER BY id")
                .map_err(|e| self.err(e))?;
            let mut rs = st.query([]).map_err(|e| self.err(e))?;
            let mut list: Vec<(u8, u64, [u8; 32])> = Vec::new();
            while let Some(r) = rs.next().map_err(|e| self.err(e))? {
                let id: i64 = r.get(0).map_err(|e| self.err(e))?;
                let h: Vec<u8> = r.get(1).map_err(|e| self.err(e))?;
                let data: Vec<u8> = r.get(2).map_err(|e| self.err(e))?;
                let actual = nostrike_core::packed::chunk_hash(&data);
                if h != actual {
                    findings.push(Finding {
                        kind: "packed",
                        detail: format!("packed index chunk {id} does not match its recorded hash; `nostrike repack` rebuilds the index from the rows"),
                    });
                }
                let (section, no) = packed_key(id);
                list.push((section, no, actual));
            }
            let stored_root = crate::canonical::hex(&nostrike_core::packed::root_hash(
                list.iter().map(|(s, n, h)| (*s, *n, h)),
            ));
            let sites_sound = !findings
                .iter()
                .any(|f| f.kind == "site" || f.kind == "content_hash");
            match &recorded_root {
                None => findings.push(Finding {
                    kind: "packed",
                    detail: "the registry has no packed index; `nostrike repack` writes it".into(),
                }),
                Some(root) => {
                    if *root != stored_root {
                        findings.push(Finding {
                            kind: "packed",
                            detail: format!("the packed index's chunks hash to {stored_root}, the registry records {root}; `nostrike repack` rebuilds it"),
                        });
                    }
                    if sites_sound {
                        let (_, rebuilt) = pack_live(&tx, &self.path, revision, false)?;
                        if rebuilt != *root {
                            findings.push(Finding {
                                kind: "packed",
                                detail: format!("the packed index (root {root}) does not hold the live sites (which pack to {rebuilt}); `nostrike repack` rebuilds it"),
                            });
                        }
                    }
                }
            }
        }
        tx.finish().map_err(|e| self.err(e))?;
        Ok(findings)
    }
}

/// Log entries written per multi-row `INSERT`: SQLite's cost per
/// statement run (cursors opened on the table and its index, the trees
/// descended from their roots, the program halted) is paid once per block
/// instead of once per row.
const BLOCK: usize = 32;

/// `(?, …, ?)` groups of `width` parameters, `rows` times, comma-separated.
fn value_groups(width: usize, rows: usize) -> String {
    let group = format!("({})", vec!["?"; width].join(", "));
    vec![group; rows].join(", ")
}

/// The log insert for `rows` entries.
fn insert_changes_sql(rows: usize) -> String {
    format!(
        "INSERT INTO changes (seq, batch, revision, kind, hash_before, hash_after, {SITE_COLUMNS}, prev_hash, entry_hash) VALUES {}",
        value_groups(21, rows)
    )
}

/// The live rows of log entries `?1..=?2` (just inserted): SQLite copies
/// each site from its log entry, so a site's content is bound once.
static UPSERT_SITES_FROM_LOG: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO sites ({SITE_COLUMNS}, hash, revision)
         SELECT {SITE_COLUMNS}, hash_after, revision FROM changes WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq
         ON CONFLICT(source, site_id) DO UPDATE SET name = excluded.name, category = excluded.category, protection = excluded.protection,
           designations = excluded.designations, geometry = excluded.geometry, standoff_m = excluded.standoff_m,
           positional_accuracy_m = excluded.positional_accuracy_m, valid_from = excluded.valid_from, valid_to = excluded.valid_to,
           last_verified = excluded.last_verified, properties = excluded.properties, hash = excluded.hash, revision = excluded.revision"
    )
});

/// The single-entry log insert (retirements).
static INSERT_CHANGE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| insert_changes_sql(1));
/// The block log insert.
static INSERT_CHANGES: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| insert_changes_sql(BLOCK));

/// How many rows a load decodes and verifies at a time.
const LOAD_CHUNK: usize = 16_384;

/// How many sites an import prepares (canonical rows and hashes, in parallel) at a time.
pub const IMPORT_CHUNK: usize = 8192;

/// One file (or one source of a file) within an import session: its batch row and counts.
struct FileBatch {
    /// Whether its `batches` row (and source row) exist yet.
    created: bool,
    /// The source had no live sites when this batch began and no earlier batch of the session had it: no lookups needed.
    fresh: bool,
    source: SourceMeta,
    meta: BatchMeta,
    batch: i64,
    added: usize,
    updated: usize,
    retired: usize,
    unchanged: usize,
}

/// A running import: one transaction, streaming sites in chunks so that a
/// file of any size is imported in bounded memory. Nothing is visible to
/// readers until [`ImportSession::commit`]; dropping the session rolls back.
///
/// The whole session is one revision: the registry's revision rises by one
/// if anything changed, and every batch (file) of the session records it.
pub struct ImportSession<'a> {
    tx: Transaction<'a>,
    path: PathBuf,
    old_revision: i64,
    chain: Chain,
    next_batch: i64,
    files: Vec<FileBatch>,
    /// `source \x1f id` of every site added in this session, for duplicates and `--replace`.
    seen: HashSet<Box<str>>,
    changed: bool,
    /// For an import into a registry with no live sites: the packed index
    /// built as sites are stored (in rowid order, as [`pack_live`] would),
    /// and their digests for the content hash, so commit need not re-read them.
    packer: Option<Packer>,
    /// The last `add`'s sites and their prepared rows, not yet written.
    pending: Option<Pending>,
}

/// Sites given to [`ImportSession::add`] with their rows and hashes, waiting to be written.
struct Pending {
    file: usize,
    sites: Vec<Site>,
    rows: Vec<(SiteRow, String)>,
    /// The changes, already decided and chained (a fresh source's sites,
    /// planned beside the previous write); `None`: decide them when writing.
    steps: Option<Vec<Step>>,
    /// Packed-index chunks produced while planning, to be stored.
    chunks: MemoryChunks,
}

/// One site's change, decided and chained: `rows[idx]` becomes log entry `seq`.
struct Step {
    idx: usize,
    kind: &'static str,
    before: Option<String>,
    seq: i64,
    prev: String,
    entry: String,
}

/// The change log's head as an import extends it.
#[derive(Default)]
struct Chain {
    seq: i64,
    prev: String,
    revision: i64,
}

impl Chain {
    /// The next entry's number, its predecessor's hash and its own hash.
    fn next(
        &mut self,
        batch: i64,
        kind: &str,
        before: Option<&str>,
        after: Option<&str>,
        src: &str,
        id: &str,
    ) -> (i64, String, String) {
        self.seq += 1;
        let h = entry_hash(
            &Entry {
                seq: self.seq,
                batch,
                revision: self.revision,
                kind,
                source: src,
                id,
                before,
                after,
            },
            &self.prev,
        );
        let prev = std::mem::replace(&mut self.prev, h.clone());
        (self.seq, prev, h)
    }
}

/// The packed index being built as sites are stored, and the sites' digests.
type Packer = (PackedBuilder, Vec<[u8; 32]>);

/// Decide and chain one site's change (`kind`, replacing `before`), and pack it.
#[allow(clippy::too_many_arguments)] // the change's parts, each distinct
fn plan_one(
    idx: usize,
    (row, hash): &(SiteRow, String),
    site: &Site,
    kind: &'static str,
    before: Option<String>,
    batch: i64,
    chain: &mut Chain,
    packer: Option<&mut Packer>,
    sink: &mut dyn ChunkSink,
    path: &Path,
) -> Result<Step, StoreError> {
    let (seq, prev, entry) = chain.next(
        batch,
        kind,
        before.as_deref(),
        Some(hash),
        &row.source,
        &row.id,
    );
    if let Some((builder, digests)) = packer {
        let bad = |reason: String| StoreError::BadSite {
            path: path.to_path_buf(),
            source_name: row.source.clone(),
            id: row.id.clone(),
            reason,
        };
        builder
            .add(site, &row.geometry, sink)
            .map_err(|e| bad(e.to_string()))?;
        digests.push(parse_hex(hash).ok_or_else(|| bad("hash".into()))?);
    }
    Ok(Step {
        idx,
        kind,
        before,
        seq,
        prev,
        entry,
    })
}

/// The canonical rows and site hashes of `sites` (in parallel); every site
/// must belong to `source`.
fn prepare_rows(
    sites: &[Site],
    source: &str,
    path: &Path,
) -> Result<Vec<(SiteRow, String)>, StoreError> {
    sites
        .par_iter()
        .map(|s| {
            let bad = |reason: String| StoreError::BadSite {
                path: path.to_path_buf(),
                source_name: s.source.clone(),
                id: s.id.clone(),
                reason,
            };
            if s.source != source {
                return Err(bad(format!(
                    "source {:?} differs from the batch's source {source:?}",
                    s.source
                )));
            }
            let row = SiteRow::of(s).map_err(bad)?;
            let hash = row.hash().map_err(bad)?;
            Ok((row, hash))
        })
        .collect()
}

impl std::fmt::Debug for ImportSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportSession")
            .field("path", &self.path)
            .field("files", &self.files.len())
            .finish()
    }
}

/// A handle to one file's batch within an [`ImportSession`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHandle(usize);

impl ImportSession<'_> {
    fn sq(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Whether a site with this source and id was already added in this session.
    pub fn has(&self, source: &str, id: &str) -> bool {
        self.seen.contains(&seen_key(source, id))
    }

    /// Register a file (batch) whose sites belong to `source`.
    pub fn file(&mut self, source: &SourceMeta, meta: &BatchMeta) -> FileHandle {
        let batch = self.next_batch;
        self.next_batch += 1;
        self.files.push(FileBatch {
            created: false,
            fresh: false,
            source: source.clone(),
            meta: meta.clone(),
            batch,
            added: 0,
            updated: 0,
            retired: 0,
            unchanged: 0,
        });
        FileHandle(self.files.len() - 1)
    }

    fn ensure_batch_row(&mut self, f: usize) -> Result<(), StoreError> {
        if self.files[f].created {
            return Ok(());
        }
        self.files[f].created = true;
        let fb = &self.files[f];
        let (s, m, batch) = (&fb.source, &fb.meta, fb.batch);
        self.tx
            .execute(
                "INSERT INTO sources (name, description, licence, attribution, url) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(name) DO UPDATE SET description = coalesce(excluded.description, description),
                   licence = coalesce(excluded.licence, licence), attribution = coalesce(excluded.attribution, attribution),
                   url = coalesce(excluded.url, url)",
                params![s.name, s.description, s.licence, s.attribution, s.url],
            )
            .map_err(self.sq())?;
        crate::sources::record(&self.tx, &s.name, batch, self.old_revision + 1)
            .map_err(self.sq())?;
        self.tx
            .execute(
                "INSERT INTO batches (id, revision, source, file_name, file_sha256, format, replace, added, updated, retired, unchanged, imported_at, operator, content_hash, log_head)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 0, 0, 0, ?8, ?9, '', '')",
                params![batch, self.old_revision + 1, s.name, m.file_name, m.file_sha256, m.format, m.replace as i64, m.imported_at, m.operator],
            )
            .map_err(self.sq())?;
        let name = self.files[f].source.name.clone();
        let live: bool = self
            .tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sites WHERE source = ?1)",
                [&name],
                |r| r.get(0),
            )
            .map_err(self.sq())?;
        let earlier = self.files[..f].iter().any(|o| o.source.name == name);
        self.files[f].fresh = !live && !earlier;
        Ok(())
    }

    /// Append a retirement to the change log.
    fn log_retired(
        &mut self,
        batch: i64,
        before: &str,
        src: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let (seq, prev, h) = self
            .chain
            .next(batch, "retired", Some(before), None, src, id);
        self.changed = true;
        use rusqlite::types::Null;
        let mut st = self.tx.prepare_cached(&INSERT_CHANGE).map_err(self.sq())?;
        // A retirement carries no content: every site column is NULL.
        st.execute(params![
            seq,
            batch,
            self.old_revision + 1,
            "retired",
            before,
            Null,
            src,
            id,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            prev,
            h
        ])
        .map_err(self.sq())?;
        Ok(())
    }

    /// Add sites to a file's batch (upsert by source and id). Every site
    /// must belong to the file's source; a (source, id) already added in
    /// this session is an error.
    ///
    /// The sites' rows and hashes are prepared on the other cores while the
    /// previous call's sites are written, so they reach the database one
    /// call later (or at [`ImportSession::commit`]); an error in them may
    /// therefore surface from the next call.
    pub fn add(&mut self, file: FileHandle, sites: Vec<Site>) -> Result<(), StoreError> {
        let f = file.0;
        // Duplicates are refused now, in order, so that `has` answers for
        // every site given so far.
        for s in &sites {
            if !self.seen.insert(seen_key(&s.source, &s.id)) {
                return Err(StoreError::BadSite {
                    path: self.path.clone(),
                    source_name: s.source.clone(),
                    id: s.id.clone(),
                    reason: "duplicate id in one import".into(),
                });
            }
        }
        let source = self.files[f].source.name.clone();
        let path = self.path.clone();
        self.ensure_batch_row(f)?;
        let batch = self.files[f].batch;
        let pending = self.pending.take();
        // A fresh source's changes need no lookups: they are decided,
        // chained and packed beside the write too, provided every earlier
        // site is already chained (the log is one sequence).
        let plan_here = self.files[f].fresh && pending.as_ref().is_none_or(|p| p.steps.is_some());
        // The chain's head and the packer are lent to the planning thread.
        let mut lent = plan_here.then(|| (std::mem::take(&mut self.chain), self.packer.take()));
        let (prepared, written) = std::thread::scope(|scope| {
            let prep = scope.spawn(|| {
                let rows = prepare_rows(&sites, &source, &path)?;
                let Some((chain, packer)) = lent.as_mut() else {
                    return Ok((rows, None, MemoryChunks::default()));
                };
                let mut chunks = MemoryChunks::default();
                let steps = rows
                    .iter()
                    .zip(&sites)
                    .enumerate()
                    .map(|(idx, (r, site))| {
                        plan_one(
                            idx,
                            r,
                            site,
                            "added",
                            None,
                            batch,
                            chain,
                            packer.as_mut(),
                            &mut chunks,
                            &path,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((rows, Some(steps), chunks))
            });
            let written = match pending {
                Some(p) => self.write(p),
                None => Ok(()),
            };
            (prep.join(), written)
        });
        if let Some((chain, packer)) = lent {
            self.chain = chain;
            self.packer = packer;
        }
        written?;
        let (rows, steps, chunks) = prepared.unwrap_or_else(|e| std::panic::resume_unwind(e))?;
        if let Some(steps) = &steps {
            self.files[f].added += steps.len();
            self.changed |= !steps.is_empty();
        }
        self.pending = Some(Pending {
            file: f,
            sites,
            rows,
            steps,
            chunks,
        });
        Ok(())
    }

    /// Decide each prepared site's change (unless decided already), chain
    /// its log entry, and write the sites and entries in blocks.
    fn write(&mut self, p: Pending) -> Result<(), StoreError> {
        let Pending {
            file: f,
            sites,
            rows,
            steps,
            chunks,
        } = p;
        let batch = self.files[f].batch;
        let revision = self.old_revision + 1;
        let steps = match steps {
            Some(steps) => steps,
            None => self.plan(f, &rows, &sites)?,
        };
        for ((section, no), (data, hash)) in &chunks.chunks {
            put_chunk(&self.tx, *section, *no, data, hash).map_err(self.sq())?;
        }
        for block in steps.chunks(BLOCK) {
            let mut insert = if block.len() == BLOCK {
                self.tx.prepare_cached(&INSERT_CHANGES)
            } else {
                self.tx.prepare_cached(&insert_changes_sql(block.len()))
            }
            .map_err(self.sq())?;
            let mut cp: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(block.len() * 21);
            for p in block {
                let (r, hash) = &rows[p.idx];
                cp.extend_from_slice(&[&p.seq, &batch, &revision, &p.kind, &p.before, hash]);
                cp.extend_from_slice(&[
                    &r.source,
                    &r.id,
                    &r.name,
                    &r.category,
                    &r.protection,
                    &r.designations,
                    &r.geometry,
                    &r.standoff_m,
                    &r.positional_accuracy_m,
                    &r.valid_from,
                    &r.valid_to,
                    &r.last_verified,
                    &r.properties,
                ]);
                cp.push(&p.prev);
                cp.push(&p.entry);
            }
            insert
                .execute(rusqlite::params_from_iter(cp))
                .map_err(self.sq())?;
        }
        // The steps' entries are consecutive (retirements come only at commit).
        if let (Some(first), Some(last)) = (steps.first(), steps.last()) {
            debug_assert_eq!(last.seq - first.seq + 1, steps.len() as i64);
            self.tx
                .prepare_cached(&UPSERT_SITES_FROM_LOG)
                .and_then(|mut st| st.execute(params![first.seq, last.seq]))
                .map_err(self.sq())?;
        }
        Ok(())
    }

    /// Decide each site's change against the live rows (added, updated or
    /// unchanged), chain the log entries and pack the sites, in order.
    fn plan(
        &mut self,
        f: usize,
        rows: &[(SiteRow, String)],
        sites: &[Site],
    ) -> Result<Vec<Step>, StoreError> {
        let batch = self.files[f].batch;
        let mut steps = Vec::with_capacity(rows.len());
        for (idx, (r, site)) in rows.iter().zip(sites).enumerate() {
            let (row, hash) = r;
            let before: Option<String> = if self.files[f].fresh {
                None
            } else {
                self.tx
                    .prepare_cached("SELECT hash FROM sites WHERE source = ?1 AND site_id = ?2")
                    .and_then(|mut st| {
                        st.query_row(params![row.source, row.id], |r| r.get(0))
                            .optional()
                    })
                    .map_err(self.sq())?
            };
            if before.as_deref() == Some(hash.as_str()) {
                self.files[f].unchanged += 1;
                continue;
            }
            let kind = if before.is_some() {
                self.files[f].updated += 1;
                "updated"
            } else {
                self.files[f].added += 1;
                "added"
            };
            self.changed = true;
            let mut sink = SqlSink { conn: &self.tx };
            steps.push(plan_one(
                idx,
                r,
                site,
                kind,
                before,
                batch,
                &mut self.chain,
                self.packer.as_mut(),
                &mut sink,
                &self.path,
            )?);
        }
        Ok(steps)
    }

    /// Retire what `--replace` files leave out, record counts, revision and
    /// content hash, and commit. Returns one summary per file (batch).
    pub fn commit(mut self) -> Result<Vec<ImportSummary>, StoreError> {
        if let Some(p) = self.pending.take() {
            self.write(p)?;
        }
        for f in 0..self.files.len() {
            self.ensure_batch_row(f)?;
            if !self.files[f].meta.replace {
                continue;
            }
            let source = self.files[f].source.name.clone();
            let live: Vec<(String, String)> = {
                let mut st = self
                    .tx
                    .prepare("SELECT site_id, hash FROM sites WHERE source = ?1 ORDER BY site_id")
                    .map_err(self.sq())?;
                let v = st
                    .query_map([&source], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(self.sq())?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(self.sq())?;
                v
            };
            let batch = self.files[f].batch;
            for (id, before) in live {
                if self.seen.contains(&seen_key(&source, &id)) {
                    continue;
                }
                self.tx
                    .execute(
                        "DELETE FROM sites WHERE source = ?1 AND site_id = ?2",
                        params![source, id],
                    )
                    .map_err(self.sq())?;
                self.files[f].retired += 1;
                self.log_retired(batch, &before, &source, &id)?;
            }
        }
        let revision = if self.changed {
            self.old_revision + 1
        } else {
            self.old_revision
        };
        let has_packed = Registry::meta_in(&self.tx, "packed_root")
            .map_err(self.sq())?
            .is_some();
        let packer = self.packer.take();
        let packed_here = packer.is_some();
        let content = if let (Some((builder, mut digests)), true) = (packer, self.changed) {
            // Every live site was stored by this import, and packed as it was.
            finish_pack(
                builder,
                &mut digests,
                revision,
                &mut SqlSink { conn: &self.tx },
                Some(&self.tx),
                &self.path,
            )?
            .0
        } else if self.changed || !has_packed || packed_here {
            // One pass over the live rows: each verified against its
            // recorded hash, packed for checks, and hashed into the content hash.
            pack_live(&self.tx, &self.path, revision, true)?.0
        } else {
            Registry::meta_in(&self.tx, "content_hash")
                .map_err(self.sq())?
                .unwrap_or_else(|| content_hash::<String>(&mut []))
        };
        let mut out = Vec::with_capacity(self.files.len());
        for fb in &self.files {
            self.tx
                .execute(
                    "UPDATE batches SET revision = ?2, added = ?3, updated = ?4, retired = ?5, unchanged = ?6, content_hash = ?7, log_head = ?8 WHERE id = ?1",
                    params![fb.batch, revision, fb.added as i64, fb.updated as i64, fb.retired as i64, fb.unchanged as i64, content, self.chain.prev],
                )
                .map_err(self.sq())?;
            out.push(ImportSummary {
                file_name: fb.meta.file_name.clone(),
                source: fb.source.name.clone(),
                batch: fb.batch,
                added: fb.added,
                updated: fb.updated,
                retired: fb.retired,
                unchanged: fb.unchanged,
                revision,
                content_hash: content.clone(),
            });
        }
        self.tx
            .execute("INSERT INTO meta (key, value) VALUES ('revision', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [revision.to_string()])
            .map_err(self.sq())?;
        self.tx
            .execute("INSERT INTO meta (key, value) VALUES ('content_hash', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [&content])
            .map_err(self.sq())?;
        let path = self.path.clone();
        self.tx
            .commit()
            .map_err(|source| StoreError::Sqlite { path, source })?;
        Ok(out)
    }
}
