//! The SQLite registry: opening, reading, `as_of` and `history`.
//!
//! Its rooms: `schema` (identity, version, migrations), `model` (the public
//! values: errors, metadata, summaries, findings), `rows` (a site as its
//! columns hold it, a log entry's hash), `log` (change kinds and the one
//! `replay` that `as_of`, `history` and `verify` walk the log with),
//! `verify` (one function per check), `packing` (the packed index's chunks
//! in SQLite) and `import` (the import session); the source log is
//! `crate::sources`.

use std::collections::HashMap;

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Mutex;

use nostrike_core::packed::{ChunkError, ChunkSink, ChunkSource, MemoryChunks, PackedBuilder};
use nostrike_core::{wkb, Category, PackedIndex, Protection, Site, SiteIndex};
use rayon::prelude::*;
use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior,
};

use crate::canonical::{
    canonical_properties, content_hash, content_hash_of_digests, parse_hex, site_digest_of,
    site_digest_with_wkb, site_hash_with_wkb, Enc,
};
use crate::digest::Digest;

mod bulk;
mod import;
mod log;
mod model;
mod packing;
pub(crate) mod pull;
#[cfg(feature = "postgres")]
pub(crate) use schema::change_history_query;
mod rows;
mod schema;
mod verify;

pub use import::*;
use log::*;
pub use log::{ChangeKind, UnknownChangeKind};
pub use model::*;
use packing::*;
pub use pull::PullCounts;
use rows::*;
pub use schema::*;

/// How long a connection waits for another's lock before it is busy.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Whether the registry has no live site.
fn no_live_sites(c: &Connection) -> rusqlite::Result<bool> {
    c.query_row("SELECT NOT EXISTS (SELECT 1 FROM sites)", [], |r| r.get(0))
}

/// Whether `e` is SQLite's refusal to read past a hot rollback journal
/// (an interrupted write) on a connection that may not write.
fn is_hot_journal(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Sqlite {
            cause: rusqlite::Error::SqliteFailure(f, _),
            ..
        } if f.extended_code == rusqlite::ffi::SQLITE_READONLY_ROLLBACK
    )
}

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
            cause: source,
        }
    }

    fn damaged(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Damaged {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn missing_version(&self, e: &LogEntry) -> StoreError {
        self.damaged(format!(
            "log entry {} ({}/{}): the version it filed is missing; run `nostrike verify`",
            e.seq, e.source, e.id
        ))
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
            cause: source,
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
            cause: source,
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
                path: path.clone(),
            }),
            &list,
            &root,
        )
        .map_err(|e| match e {
            nostrike_core::SetError::Unreadable(reason) => StoreError::Unreadable {
                path: path.clone(),
                reason,
            },
            e => damaged(format!("{e}; run `nostrike verify`")),
        })?;
        if index.revision() != revision || content_hash != Digest(*index.content_hash()) {
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

    /// Open an existing registry read-only: nothing is ever written to it,
    /// but for one recovery — a write killed under the rollback journal (a
    /// first import) leaves its journal "hot" beside the file, which no
    /// read-only connection may read past; it is rolled back, as any SQLite
    /// connection that may write does on its first read, so the registry
    /// reads as its last commit.
    ///
    /// On a read-only medium (where SQLite cannot create the WAL index beside
    /// the file) the registry is opened as immutable, provided no write-ahead
    /// log with unmerged changes lies beside it; otherwise that is an error.
    pub fn open_read_only(path: &Path) -> Result<Registry, StoreError> {
        match Registry::open_read_only_once(path) {
            Err(e) if is_hot_journal(&e) => {
                Registry::roll_back_interrupted(path)?;
                Registry::open_read_only_once(path)
            }
            r => r,
        }
    }

    /// Roll back the interrupted write whose hot journal lies beside `path`
    /// (SQLite does it on the first read of a connection that may write).
    fn roll_back_interrupted(path: &Path) -> Result<(), StoreError> {
        // Where it cannot be written, the file opens read-only and the
        // journal stays hot: said as such.
        let on_read_only_medium = |e: StoreError| {
            if is_hot_journal(&e) {
                StoreError::Damaged {
                    path: path.to_path_buf(),
                    reason: "an interrupted import's rollback journal lies beside it, and it cannot be rolled back on this read-only medium; open it once where it is writable (e.g. `nostrike verify`)".into(),
                }
            } else {
                e
            }
        };
        let reg = Registry::open_with(path, false).map_err(on_read_only_medium)?;
        reg.conn.busy_timeout(BUSY_WAIT).map_err(|e| reg.err(e))?;
        reg.conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| on_read_only_medium(reg.err(e)))?;
        Ok(())
    }

    fn open_read_only_once(path: &Path) -> Result<Registry, StoreError> {
        let reg = match Registry::open_with(path, true) {
            Err(StoreError::Sqlite {
                cause: rusqlite::Error::SqliteFailure(f, _),
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
        reg.conn.busy_timeout(BUSY_WAIT).map_err(|e| reg.err(e))?;
        let version: i32 = reg
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| reg.err(e))?;
        if version < SCHEMA_VERSION {
            return Err(StoreError::TooOld {
                path: path.to_path_buf(),
                found: version,
            });
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
                cause: source,
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
                // A first import holds the whole file while it writes
                // (`write_once_if_empty`): said as such, not as SQLite's words.
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::DatabaseBusy =>
                {
                    StoreError::Busy {
                        path: path.to_path_buf(),
                        waited_s: 0,
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
        c.busy_timeout(BUSY_WAIT).map_err(|e| self.err(e))?;
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
            cause: source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sq)?;
        let version: i32 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sq)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            if i == VERSIONS_MIGRATION {
                // Merging each live row into its logged version must not
                // paper over a row or entry edited outside nostrike.
                let conflict: Option<(String, String, String)> = tx
                    .query_row(BEFORE_8_CONFLICT, [], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                    .map_err(sq)?;
                if let Some((what, source, id)) = conflict {
                    return Err(StoreError::Damaged {
                        path: path.clone(),
                        reason: format!("cannot upgrade to schema 8: the {what} of site {source}/{id} does not agree with the change log (edited outside nostrike?); the file is unchanged — restore it from a copy, or run the older nostrike's `verify` to see all damage"),
                    });
                }
            }
            tx.execute_batch(sql).map_err(sq)?;
            tx.pragma_update(None, "user_version", (i + 1) as i32)
                .map_err(sq)?;
        }
        if version < 3 {
            // The source log starts with each source as it stands (after every
            // migration, so that it reads the columns the latest schema has).
            crate::sources::seed(&tx).map_err(sq)?;
        }
        tx.commit().map_err(sq)
    }

    fn meta_in(tx: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
        tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    }

    /// The state a signature of the current revision covers (one read).
    pub fn signed_state(&self) -> Result<crate::SignedState, StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let revision = self.revision()?;
        let content = self.content_hash_text()?;
        let st = crate::signatures::state(&tx, revision, content).map_err(|e| self.err(e))?;
        tx.finish().map_err(|e| self.err(e))?;
        Ok(st)
    }

    /// Store a signature (no revision: the data is unchanged). Refused
    /// unless it is for the registry's current state.
    pub fn add_signature(&mut self, s: &crate::StoredSignature) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |cause: rusqlite::Error| StoreError::Sqlite {
            path: path.clone(),
            cause,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let revision: i64 = Registry::meta_in(&tx, "revision")
            .map_err(sql)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let content = Registry::meta_in(&tx, "content_hash")
            .map_err(sql)?
            .unwrap_or_else(|| content_hash::<String>(&mut []));
        let now = crate::signatures::state(&tx, revision, content).map_err(sql)?;
        if now != s.state {
            return Err(StoreError::Damaged {
                path: path.clone(),
                reason: format!(
                    "the registry moved while it was being signed (revision {} now, {} signed); sign again",
                    now.revision, s.state.revision
                ),
            });
        }
        crate::signatures::add(&tx, s).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Write a consistent copy of the registry to `dest` (SQLite's
    /// `VACUUM INTO`: one read transaction, the copy compacted). `dest`
    /// must not exist.
    pub fn copy_to(&self, dest: &Path) -> Result<(), StoreError> {
        let d = dest.to_str().ok_or_else(|| StoreError::Damaged {
            path: dest.to_path_buf(),
            reason: "the destination path is not UTF-8".into(),
        })?;
        self.conn
            .execute("VACUUM INTO ?1", [d])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The content hash and change-log head the registry recorded when it
    /// reached `revision` (`None`: it never had that revision).
    pub fn state_at(&self, revision: i64) -> Result<Option<(String, String)>, StoreError> {
        if revision == 0 {
            return Ok(Some((content_hash::<String>(&mut []), "0".repeat(64))));
        }
        self.conn
            .query_row(
                "SELECT content_hash, log_head FROM batches WHERE revision = ?1 ORDER BY id DESC LIMIT 1",
                [revision],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every stored signature, oldest first.
    pub fn signatures(&self) -> Result<Vec<crate::StoredSignature>, StoreError> {
        crate::signatures::all(&self.conn).map_err(|e| self.err(e))
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
    pub fn content_hash(&self) -> Result<Digest, StoreError> {
        let text = self.content_hash_text()?;
        text.parse()
            .map_err(|e| self.damaged(format!("recorded content hash: {e}")))
    }

    /// The recorded content hash as stored (hex).
    fn content_hash_text(&self) -> Result<String, StoreError> {
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
                cause: source,
            })?;
        let sq = |source| StoreError::Sqlite {
            path: path.clone(),
            cause: source,
        };
        // SQLite's foreign-key checks are off for the import's transaction:
        // they look up each new row's source and batch (two lookups a row,
        // 5–6 % of a 1M-site import) although the session writes those
        // parent rows itself before any row names them, and every row's
        // source is checked against its file's (`prepare_rows`); commit
        // checks once that each file's source and batch rows exist. The
        // setting is the connection's and cannot change inside a
        // transaction, so it is switched here and back by the session's
        // guard once its transaction has ended.
        self.conn
            .pragma_update(None, "foreign_keys", "OFF")
            .map_err(sq)?;
        let keys = ForeignKeysRestore(&self.conn);
        let once = self.write_once_if_empty().map_err(sq)?;
        let conn = &self.conn;
        let tx =
            Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(
                |e| match e {
                    rusqlite::Error::SqliteFailure(f, _)
                        if f.code == rusqlite::ErrorCode::DatabaseBusy =>
                    {
                        StoreError::Busy {
                            path: path.clone(),
                            waited_s: BUSY_WAIT.as_secs(),
                        }
                    }
                    e => sq(e),
                },
            )?;
        // With no foreign-key checks (above) and the bulk inserts' conflicts
        // rolling the whole transaction back (it is refused anyway), no
        // statement can fail half-done, so SQLite keeps no statement
        // journal of the pages each multi-row insert changes.
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
        let packer = if no_live_sites(&tx).map_err(sq)? {
            tx.execute("DELETE FROM packed", []).map_err(sq)?;
            Some((PackedBuilder::new(), Vec::new()))
        } else {
            None
        };
        Ok(ImportSession {
            tx,
            journal: JournalRestore(once.then_some(conn)),
            keys,
            path,
            old_revision,
            chain: Chain {
                seq,
                prev,
                revision: old_revision + 1,
            },
            next_batch,
            files: Vec::new(),
            seen: HashMap::default(),
            changed: false,
            packer,
            pending: None,
            written: None,
            storing: Duration::ZERO,
            links: Vec::new(),
        })
    }

    /// Before an import into a registry with no live sites (its first, as
    /// a rule): switch to a rollback journal, which writes each new page
    /// once — to the file — where the write-ahead log writes it twice (to
    /// the log, then to the file at the checkpoint); a 1M-site first
    /// import spent a sixth of its time on the second copy. Only when no
    /// other connection has the registry open (the switch needs it
    /// alone; it is not waited for), and only for an empty registry,
    /// where a reader during the import loses nothing: a check of an empty
    /// registry is an error whatever the journal, and one that arrives
    /// mid-import is refused as busy. The session switches back to the
    /// write-ahead log when it ends ([`JournalRestore`]). Whether it
    /// switched. (Asked again inside the import's transaction, which decides.)
    fn write_once_if_empty(&self) -> rusqlite::Result<bool> {
        let c = &self.conn;
        if !no_live_sites(c)? {
            return Ok(false);
        }
        c.busy_timeout(Duration::ZERO)?;
        let mode = c.query_row("PRAGMA journal_mode = DELETE", [], |r| {
            r.get::<_, String>(0)
        });
        c.busy_timeout(BUSY_WAIT)?;
        Ok(mode.is_ok_and(|m| m.eq_ignore_ascii_case("delete")))
    }

    /// Every live site, each checked against its stored hash, with the
    /// revision and the content hash recomputed from the rows (which must
    /// equal the recorded one). Runs in one read transaction: one whole revision.
    pub fn live_sites(&self) -> Result<(Vec<Site>, i64, Digest), StoreError> {
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
        if recorded != actual {
            return Err(self.damaged(format!("live sites hash to {actual} but the registry records {recorded} (rows added, removed or edited outside nostrike?); run `nostrike verify`")));
        }
        Ok((sites, revision, recorded))
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
                "SELECT {SITE_COLUMNS}, hash, version FROM live_sites WHERE source = ?1 AND site_id = ?2"
            ))
            .map_err(|e| self.err(e))?;
        let mut sites = Vec::with_capacity(keys.len());
        for (source, id) in keys {
            let (row, stored): (SiteRow, String) = st
                .query_row(params![source, id], read_live)
                .optional()
                .map_err(|e| self.err(e))?
                .ok_or_else(|| {
                    self.damaged(format!("site {source}/{id} is in the packed index but not among the live sites; run `nostrike verify`"))
                })?
                .map_err(|e| self.damaged(e))?;
            let (site, _, _) = row
                .into_verified_site(&stored)
                .map_err(|e| self.damaged(e))?;
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
        let mut live: HashMap<(String, String), Site> = HashMap::new();
        let walk = Walk {
            up_to_revision: Some(revision),
            ..Walk::default()
        };
        replay(&self.conn, &self.path, walk, |e| {
            if e.missing_version {
                return Err(self.missing_version(&e));
            }
            match e.row {
                None => {
                    live.remove(&(e.source, e.id));
                }
                Some(row) => {
                    let site = row.site().map_err(|r| {
                        self.damaged(format!("log entry for {}/{}: {r}", e.source, e.id))
                    })?;
                    live.insert((e.source, e.id), site);
                }
            }
            Ok(())
        })?;
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
                    counts: BatchCounts {
                        added: r.get(7)?,
                        updated: r.get(8)?,
                        retired: r.get(9)?,
                        unchanged: r.get(10)?,
                    },
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
        let mut out = Vec::new();
        let walk = Walk {
            site: Some((source, id)),
            ..Walk::default()
        };
        replay(&self.conn, &self.path, walk, |e| {
            if e.missing_version {
                return Err(self.missing_version(&e));
            }
            let site = match e.row {
                None => None,
                Some(row) => Some(row.site().map_err(|r| {
                    self.damaged(format!("log entry for {}/{}: {r}", e.source, e.id))
                })?),
            };
            let (imported_at, operator, file_name) = e.batch_info.ok_or_else(|| {
                self.damaged(format!(
                    "log entry {} names batch {}, which is missing",
                    e.seq, e.batch
                ))
            })?;
            out.push((
                e.source,
                ChangeEntry {
                    seq: e.seq,
                    batch: e.batch,
                    revision: e.revision,
                    kind: e.kind,
                    hash_before: e.before,
                    hash_after: e.after,
                    site,
                    imported_at,
                    operator,
                    file_name,
                },
            ));
            Ok(())
        })?;
        Ok(out)
    }

    /// The source log: each change to a source's metadata, as (batch, revision, metadata), oldest first.
    pub fn source_log(&self) -> Result<Vec<(i64, i64, SourceMeta)>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT batch, revision, {} FROM source_log ORDER BY seq",
                crate::sources::META_COLUMNS
            ))
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

    /// One read transaction for the statements that follow, until the
    /// guard drops (none when one is open already): a log's chain and the
    /// head recorded for it must be read from one commit, or an import
    /// committing between the two reads looks like damage.
    fn one_read(&self) -> Result<Option<rusqlite::Transaction<'_>>, StoreError> {
        if !self.conn.is_autocommit() {
            return Ok(None);
        }
        self.conn
            .unchecked_transaction()
            .map(Some)
            .map_err(|e| self.err(e))
    }

    /// The sources' declared coverage as it stood at `revision` (the current
    /// one when `None`), in source-name order: read from the source log,
    /// whose chain is checked first — a coverage edited outside nostrike is
    /// damage, never a quiet answer.
    pub fn coverage_at(
        &self,
        revision: Option<i64>,
    ) -> Result<Vec<(String, SourceCoverage)>, StoreError> {
        let _read = self.one_read()?;
        let findings = crate::sources::verify(&self.conn).map_err(|e| self.err(e))?;
        if let Some(first) = findings.first() {
            return Err(self.damaged(format!("{first}; run `nostrike verify`")));
        }
        let rev = match revision {
            Some(r) => r,
            None => self.revision()?,
        };
        let mut latest: std::collections::BTreeMap<String, Option<SourceCoverage>> =
            Default::default();
        for (_, r, m) in self.source_log()? {
            if r <= rev {
                latest.insert(m.name, m.coverage);
            }
        }
        Ok(latest
            .into_iter()
            .filter_map(|(n, c)| c.map(|c| (n, c)))
            .collect())
    }

    /// The links between sites as they stood at `revision` (the current one
    /// when `None`), in key order, from the link log — whose chain and
    /// agreement with the `links` table are checked first: a link added or
    /// removed outside nostrike is damage, never a quiet answer.
    pub fn links_at(&self, revision: Option<i64>) -> Result<Vec<(String, String)>, StoreError> {
        let _read = self.one_read()?;
        let findings = crate::links::verify(&self.conn).map_err(|e| self.err(e))?;
        if let Some(first) = findings.first() {
            return Err(self.damaged(format!("{first}; run `nostrike verify`")));
        }
        let rev = match revision {
            Some(r) => r,
            None => self.revision()?,
        };
        crate::links::at(&self.conn, rev).map_err(|e| self.err(e))
    }

    /// Every link and unlink, oldest first.
    pub fn link_log(&self) -> Result<Vec<crate::LinkEntry>, StoreError> {
        crate::links::entries(&self.conn).map_err(|e| self.err(e))
    }

    /// Sources and their metadata.
    pub fn sources(&self) -> Result<Vec<SourceMeta>, StoreError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM sources ORDER BY name",
                crate::sources::META_COLUMNS
            ))
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
                    "SELECT {col}, count(*) FROM live_sites GROUP BY {col} ORDER BY {col}"
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
}
