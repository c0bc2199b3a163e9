//! The SQLite registry: opening, reading, `as_of`, `history` and `verify`.
//!
//! Its rooms: `schema` (identity, version, migrations), `model` (the public
//! values: errors, metadata, summaries, findings), `rows` (a site as its
//! columns hold it, a log entry's hash), `packing` (the packed index's
//! chunks in SQLite) and `import` (the import session); the source log is
//! `crate::sources`.

use std::collections::HashMap;

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

mod import;
mod model;
mod packing;
mod rows;
mod schema;

pub use import::*;
pub use model::*;
use packing::*;
use rows::*;
pub use schema::*;

/// An open registry.
#[derive(Debug)]
pub struct Registry {
    conn: Connection,
    path: PathBuf,
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
            for site in sites.iter() {
                session.push(file, site.clone(), 0)?;
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
            seen: HashMap::new(),
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

    /// The live sites with these (source, id) keys, each checked against its
    /// stored hash, in key order, with the revision they were read at (one
    /// read transaction). A key with no live site is an error: the caller
    /// found it in this registry's index.
    pub fn live_sites_by_key(
        &self,
        keys: &[(String, String)],
    ) -> Result<(Vec<Site>, i64), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let revision = self.revision()?;
        let mut st = tx
            .prepare_cached(&format!(
                "SELECT {SITE_COLUMNS}, hash FROM sites WHERE source = ?1 AND site_id = ?2"
            ))
            .map_err(|e| self.err(e))?;
        let mut sites = Vec::with_capacity(keys.len());
        for (source, id) in keys {
            let (mut row, stored): (SiteRow, String) = st
                .query_row(params![source, id], |r| Ok((SiteRow::read(r, 0)?, r.get(13)?)))
                .optional()
                .map_err(|e| self.err(e))?
                .ok_or_else(|| {
                    self.damaged(format!("site {source}/{id} is in the packed index but not among the live sites; run `nostrike verify`"))
                })?;
            let geometry = std::mem::take(&mut row.geometry);
            let site = row
                .into_site_with(&geometry)
                .map_err(|e| self.damaged(format!("site {source}/{id}: {e}")))?;
            if parse_hex(&stored) != Some(site_digest_with_wkb(&site, &geometry)) {
                return Err(self.damaged(format!("site {source}/{id} does not match its recorded hash (edited outside nostrike?); run `nostrike verify`")));
            }
            sites.push(site);
        }
        drop(st);
        tx.finish().map_err(|e| self.err(e))?;
        Ok((sites, revision))
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
                Ok((r.get(0)?, r.get(1)?, crate::sources::read_meta(r, 2)?))
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
            .query_map([], |r| crate::sources::read_meta(r, 0))
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
