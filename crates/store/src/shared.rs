//! The shared registry on PostgreSQL (`--registry postgresql://…`).
//!
//! The database holds the registry's own tables — the same layout, rows and
//! hashes as the SQLite file (docs/REGISTRY.md) — plus what PostgreSQL adds:
//! a PostGIS `geography` column and GiST index beside each version's
//! canonical WKB for GIS clients, append-only triggers on the logs, and
//! row-level security that lets a partner role read only the sites
//! releasable to it (docs/SCALING.md).
//!
//! Every nostrike command runs on a local **working copy** (a SQLite
//! registry in the cache folder) brought to the database's current state
//! first, sending only the rows it lacks (the same set difference as
//! `pull`): checks read its packed index, never a per-query SQL scan. A
//! writing command runs inside one PostgreSQL transaction that holds the
//! registry's advisory lock from start to end: it brings the copy up to
//! date, writes on a private copy of it, sends the rows that writing made
//! (versions, log entries, batches, live rows, index chunks, small tables),
//! and commits. Concurrent writers therefore serialise on one chain head;
//! a writer killed at any point leaves the database as it was (its
//! transaction never committed), and a working copy that got ahead of the
//! database is noticed and rebuilt.
//!
//! Why a working copy rather than a second implementation of every
//! operation in SQL: the import, hashing, packing and verification code is
//! one code path for both backends, so the content hash and every report
//! are the same by construction; the database adds sharing, locking,
//! durability and access control.

use std::path::{Path, PathBuf};

use postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutIter};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, IsolationLevel, NoTls, Transaction};
use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior};

use crate::registry::pull::{APPENDED, REPLACED};
use crate::{PullCounts, Registry, StoreError, APPLICATION_ID, SCHEMA_VERSION};

static TRACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Print each phase of a transfer and a write, with its time, to standard error.
pub fn trace(on: bool) {
    TRACE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Report a phase that began at `since` (when tracing), and restart the clock.
fn phase(what: &str, since: &mut std::time::Instant) {
    if TRACE.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("nostrike: {what}: {:.2} s", since.elapsed().as_secs_f64());
    }
    *since = std::time::Instant::now();
}

/// The advisory lock every writer holds for its whole transaction.
const WRITE_LOCK: i64 = 0x4E53_5452_0001;

/// Whether `s` names a PostgreSQL registry rather than a file.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgresql://") || s.starts_with("postgres://")
}

/// `url` with any password replaced by `***`, for messages and reports.
pub fn display_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // user[:password]@host[:port] up to the path or the query.
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((auth, host)) => match auth.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{auth}@{host}"),
        },
        None => authority.to_string(),
    };
    // A password may also come as a query parameter.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::display_url;

    #[test]
    fn a_password_in_the_url_was_shown_in_reports() {
        for (url, shown) in [
            (
                "postgresql://u:s3cret@db.example:5432/ns",
                "postgresql://u:***@db.example:5432/ns",
            ),
            ("postgresql://u:p@ss@db/ns", "postgresql://u:***@db/ns"),
            (
                "postgres://db/ns?user=u&password=s3cret&sslmode=require",
                "postgres://db/ns?user=u&password=***&sslmode=require",
            ),
            (
                "postgresql://u@%2Ftmp%2Fpg/ns?PASSWORD=x",
                "postgresql://u@%2Ftmp%2Fpg/ns?PASSWORD=***",
            ),
            ("postgresql://u@db/ns", "postgresql://u@db/ns"),
            ("postgresql://db", "postgresql://db"),
        ] {
            assert_eq!(display_url(url), shown);
            assert!(!display_url(url).contains("s3cret"));
        }
    }
}

/// A column's SQLite storage class, which fixes its PostgreSQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColType {
    Integer,
    Real,
    Text,
    Blob,
}

impl ColType {
    fn from_sqlite(decl: &str) -> Option<ColType> {
        match decl.to_ascii_uppercase().as_str() {
            "INTEGER" => Some(ColType::Integer),
            "REAL" => Some(ColType::Real),
            "TEXT" => Some(ColType::Text),
            "BLOB" => Some(ColType::Blob),
            _ => None,
        }
    }
    fn pg(self) -> Type {
        match self {
            ColType::Integer => Type::INT8,
            ColType::Real => Type::FLOAT8,
            ColType::Text => Type::TEXT,
            ColType::Blob => Type::BYTEA,
        }
    }
    fn pg_decl(self) -> &'static str {
        match self {
            ColType::Integer => "bigint",
            ColType::Real => "double precision",
            ColType::Text => "text",
            ColType::Blob => "bytea",
        }
    }
}

/// A column as both sides name it (the live table's SQLite `rowid` is
/// PostgreSQL's `live_order`).
#[derive(Debug, Clone)]
struct Col {
    name: String,
    ty: ColType,
    not_null: bool,
    pk: bool,
}

/// How a table is brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Numbered rows, only appended: send the rows past the copy's last.
    Appended(&'static str),
    /// Small: replaced whole.
    Replaced,
    /// The live rows: those the new log entries touched.
    Live,
    /// The packed index: the chunks whose hash differs.
    Packed,
}

#[derive(Debug, Clone)]
struct Table {
    name: &'static str,
    kind: Kind,
    cols: Vec<Col>,
}

impl Table {
    fn names(&self, sqlite: bool) -> String {
        self.cols
            .iter()
            .map(|c| {
                if sqlite && c.name == "live_order" {
                    "rowid".to_string()
                } else {
                    c.name.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The registry's tables as this build's SQLite schema declares them.
fn tables(conn: &Connection) -> rusqlite::Result<Vec<Table>> {
    let mut out = Vec::new();
    let kinds = APPENDED
        .iter()
        .map(|(t, k)| (*t, Kind::Appended(k)))
        .chain(REPLACED.iter().map(|t| (*t, Kind::Replaced)))
        .chain([("sites", Kind::Live), ("packed", Kind::Packed)]);
    for (name, kind) in kinds {
        let mut st = conn.prepare(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid",
        )?;
        let mut cols = Vec::new();
        if kind == Kind::Live {
            cols.push(Col {
                name: "live_order".into(),
                ty: ColType::Integer,
                not_null: true,
                pk: true,
            });
        }
        let rows = st.query_map([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)? > 0,
            ))
        })?;
        for row in rows {
            let (n, decl, not_null, pk) = row?;
            let ty = ColType::from_sqlite(&decl).ok_or_else(|| {
                rusqlite::Error::InvalidColumnName(format!("{name}.{n}: type {decl:?}"))
            })?;
            cols.push(Col {
                name: n,
                ty,
                not_null,
                pk,
            });
        }
        out.push(Table { name, kind, cols });
    }
    Ok(out)
}

/// One side of a transfer: the working copy or the database.
trait Side {
    /// What names this side in messages.
    fn what(&self) -> String;
    /// The first column of the first row of `sql`, as an integer.
    fn int(&mut self, sql: &str) -> Result<Option<i64>, String>;
    /// Run a statement; the rows it changed.
    fn exec(&mut self, sql: &str) -> Result<u64, String>;
    /// Each row of `SELECT cols FROM t {filter}`.
    fn rows(
        &mut self,
        t: &Table,
        filter: &str,
        f: &mut dyn FnMut(Vec<Value>) -> Result<(), String>,
    ) -> Result<(), String>;
    /// Insert rows (all of `t`'s columns).
    fn insert(&mut self, t: &Table, rows: &[Vec<Value>]) -> Result<(), String>;
}

struct Lite<'a, 'c> {
    tx: &'a rusqlite::Transaction<'c>,
    path: &'a Path,
}

impl Side for Lite<'_, '_> {
    fn what(&self) -> String {
        format!("the working copy {}", self.path.display())
    }
    fn int(&mut self, sql: &str) -> Result<Option<i64>, String> {
        use rusqlite::OptionalExtension;
        self.tx
            .query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
            .optional()
            .map(Option::flatten)
            .map_err(|e| e.to_string())
    }
    fn exec(&mut self, sql: &str) -> Result<u64, String> {
        self.tx
            .execute(sql, [])
            .map(|n| n as u64)
            .map_err(|e| e.to_string())
    }
    fn rows(
        &mut self,
        t: &Table,
        filter: &str,
        f: &mut dyn FnMut(Vec<Value>) -> Result<(), String>,
    ) -> Result<(), String> {
        let sql = format!("SELECT {} FROM {} {filter}", t.names(true), t.name);
        let mut st = self.tx.prepare(&sql).map_err(|e| e.to_string())?;
        let mut rows = st.query([]).map_err(|e| e.to_string())?;
        while let Some(r) = rows.next().map_err(|e| e.to_string())? {
            let mut v = Vec::with_capacity(t.cols.len());
            for i in 0..t.cols.len() {
                v.push(r.get::<_, Value>(i).map_err(|e| e.to_string())?);
            }
            f(v)?;
        }
        Ok(())
    }
    fn insert(&mut self, t: &Table, rows: &[Vec<Value>]) -> Result<(), String> {
        let marks = vec!["?"; t.cols.len()].join(", ");
        let mut st = self
            .tx
            .prepare_cached(&format!(
                "INSERT INTO {} ({}) VALUES ({marks})",
                t.name,
                t.names(true)
            ))
            .map_err(|e| e.to_string())?;
        for r in rows {
            st.execute(rusqlite::params_from_iter(r.iter()))
                .map_err(|e| format!("{}: {e}", t.name))?;
        }
        Ok(())
    }
}

struct Pg<'a, 'b> {
    tx: &'a mut Transaction<'b>,
    url: &'a str,
    /// Per table: whether its row-level security applies to this role (asked once).
    rls: std::collections::HashMap<&'static str, bool>,
}

impl<'a, 'b> Pg<'a, 'b> {
    fn new(tx: &'a mut Transaction<'b>, url: &'a str) -> Self {
        Pg {
            tx,
            url,
            rls: Default::default(),
        }
    }
}

static NULL_I64: Option<i64> = None;
static NULL_F64: Option<f64> = None;
static NULL_TEXT: Option<&str> = None;
static NULL_BYTES: Option<&[u8]> = None;

impl Side for Pg<'_, '_> {
    fn what(&self) -> String {
        self.url.to_string()
    }
    fn int(&mut self, sql: &str) -> Result<Option<i64>, String> {
        let rows = self.tx.query(sql, &[]).map_err(pg_reason)?;
        match rows.first() {
            Some(r) => r.try_get::<_, Option<i64>>(0).map_err(pg_reason),
            None => Ok(None),
        }
    }
    fn exec(&mut self, sql: &str) -> Result<u64, String> {
        self.tx.execute(sql, &[]).map_err(pg_reason)
    }
    fn rows(
        &mut self,
        t: &Table,
        filter: &str,
        f: &mut dyn FnMut(Vec<Value>) -> Result<(), String>,
    ) -> Result<(), String> {
        let sql = format!(
            "COPY (SELECT {} FROM {} {filter}) TO STDOUT (FORMAT binary)",
            t.names(false),
            t.name
        );
        let types: Vec<Type> = t.cols.iter().map(|c| c.ty.pg()).collect();
        let reader = self.tx.copy_out(&sql).map_err(pg_reason)?;
        let mut it = BinaryCopyOutIter::new(reader, &types);
        while let Some(r) = it.next().map_err(pg_reason)? {
            let mut v = Vec::with_capacity(t.cols.len());
            for (i, c) in t.cols.iter().enumerate() {
                let val = match c.ty {
                    ColType::Integer => r.try_get::<Option<i64>>(i).map(|x| x.map(Value::Integer)),
                    ColType::Real => r.try_get::<Option<f64>>(i).map(|x| x.map(Value::Real)),
                    ColType::Text => r.try_get::<Option<String>>(i).map(|x| x.map(Value::Text)),
                    ColType::Blob => r.try_get::<Option<Vec<u8>>>(i).map(|x| x.map(Value::Blob)),
                }
                .map_err(pg_reason)?;
                v.push(val.unwrap_or(Value::Null));
            }
            f(v)?;
        }
        Ok(())
    }
    fn insert(&mut self, t: &Table, rows: &[Vec<Value>]) -> Result<(), String> {
        let types: Vec<Type> = t.cols.iter().map(|c| c.ty.pg()).collect();
        // PostgreSQL refuses COPY into a table whose row-level security
        // applies to this role (a maintainer that is not a superuser): the
        // rows go through a temporary table and one INSERT, which the
        // policies check row by row.
        let rls = match self.rls.get(t.name) {
            Some(r) => *r,
            None => {
                let r: bool = self
                    .tx
                    .query_one("SELECT row_security_active($1::text::regclass)", &[&t.name])
                    .and_then(|r| r.try_get(0))
                    .map_err(pg_reason)?;
                self.rls.insert(t.name, r);
                r
            }
        };
        let target = if rls {
            let stage = format!("nostrike_stage_{}", t.name);
            self.tx
                .batch_execute(&format!(
                    "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {} EXCLUDING ALL) ON COMMIT DROP; TRUNCATE {stage};",
                    t.name
                ))
                .map_err(pg_reason)?;
            stage
        } else {
            t.name.to_string()
        };
        let sink = self
            .tx
            .copy_in(&format!(
                "COPY {target} ({}) FROM STDIN (FORMAT binary)",
                t.names(false)
            ))
            .map_err(pg_reason)?;
        let mut w = BinaryCopyInWriter::new(sink, &types);
        let mut vals: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(t.cols.len());
        for r in rows {
            vals.clear();
            for (v, c) in r.iter().zip(&t.cols) {
                vals.push(match (v, c.ty) {
                    (Value::Integer(i), ColType::Integer) => i,
                    (Value::Real(x), ColType::Real) => x,
                    (Value::Text(s), ColType::Text) => s,
                    (Value::Blob(b), ColType::Blob) => b,
                    (Value::Null, ColType::Integer) => &NULL_I64,
                    (Value::Null, ColType::Real) => &NULL_F64,
                    (Value::Null, ColType::Text) => &NULL_TEXT,
                    (Value::Null, ColType::Blob) => &NULL_BYTES,
                    (v, ty) => {
                        return Err(format!(
                            "{}.{}: a {:?} value where the schema declares {ty:?}",
                            t.name,
                            c.name,
                            v.data_type()
                        ))
                    }
                });
            }
            w.write(&vals)
                .map_err(|e| format!("{}: {}", t.name, pg_reason(e)))?;
        }
        w.finish()
            .map_err(|e| format!("{}: {}", t.name, pg_reason(e)))?;
        if rls {
            let cols = t.names(false);
            self.tx
                .execute(
                    &format!(
                        "INSERT INTO {} ({cols}) SELECT {cols} FROM {target}",
                        t.name
                    ),
                    &[],
                )
                .map_err(|e| format!("{}: {}", t.name, pg_reason(e)))?;
        }
        Ok(())
    }
}

/// A PostgreSQL error in words: the server's message and detail when it sent one.
fn pg_reason(e: postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{} ({d})", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

/// Why a transfer stopped.
enum Stop {
    /// The target holds rows the source does not: it is not an earlier state.
    Diverged(String),
    /// Anything else.
    Failed(String),
}

impl Stop {
    /// What stopped it, in words.
    fn reason(self) -> String {
        match self {
            Stop::Diverged(r) | Stop::Failed(r) => r,
        }
    }
}

impl From<String> for Stop {
    fn from(s: String) -> Stop {
        Stop::Failed(s)
    }
}

/// How many rows a transfer buffers before inserting them.
const BATCH_ROWS: usize = 4096;

fn copy_rows(
    from: &mut dyn Side,
    to: &mut dyn Side,
    t: &Table,
    filter: &str,
) -> Result<u64, String> {
    let mut buf = Vec::with_capacity(BATCH_ROWS);
    let mut n = 0u64;
    from.rows(t, filter, &mut |row| {
        buf.push(row);
        if buf.len() == BATCH_ROWS {
            n += buf.len() as u64;
            to.insert(t, &buf)?;
            buf.clear();
        }
        Ok(())
    })?;
    n += buf.len() as u64;
    if !buf.is_empty() {
        to.insert(t, &buf)?;
    }
    Ok(n)
}

/// Bring `to` (an earlier state of the same registry, or an empty one) up
/// to `from`'s state, sending only what it lacks. The caller holds both
/// sides' transactions.
fn transfer(from: &mut dyn Side, to: &mut dyn Side, tables: &[Table]) -> Result<PullCounts, Stop> {
    let revision_sql = "SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'revision'";
    let base_revision = to.int(revision_sql)?.unwrap_or(-1);
    let base_seq = to
        .int("SELECT coalesce(max(seq), 0) FROM changes")?
        .unwrap_or(0);
    let mut counts = PullCounts::default();
    // An earlier state holds a prefix of every numbered table: its last row
    // must be the source's row of that number (each log entry's hash chains
    // every entry before it).
    let mut bases = Vec::new();
    for t in tables {
        let Kind::Appended(key) = t.kind else {
            continue;
        };
        let mine = to
            .int(&format!("SELECT coalesce(max({key}), 0) FROM {}", t.name))?
            .unwrap_or(0);
        let theirs = from
            .int(&format!("SELECT coalesce(max({key}), 0) FROM {}", t.name))?
            .unwrap_or(0);
        if mine > theirs {
            return Err(Stop::Diverged(format!(
                "{} holds {} row {mine}, past {}'s last ({theirs})",
                to.what(),
                t.name,
                from.what()
            )));
        }
        if mine > 0 {
            let row = |side: &mut dyn Side| -> Result<Vec<Vec<Value>>, String> {
                let mut v = Vec::new();
                side.rows(t, &format!("WHERE {key} = {mine}"), &mut |r| {
                    v.push(r);
                    Ok(())
                })?;
                Ok(v)
            };
            if row(to)? != row(from)? {
                return Err(Stop::Diverged(format!(
                    "{} row {mine} of {} differs from {}'s",
                    t.name,
                    to.what(),
                    from.what()
                )));
            }
        }
        bases.push((t, key, mine));
    }
    let mut clock = std::time::Instant::now();
    for (t, key, mine) in bases {
        let n = copy_rows(from, to, t, &format!("WHERE {key} > {mine} ORDER BY {key}"))?;
        phase(
            &format!("{} rows of {} to {}", n, t.name, to.what()),
            &mut clock,
        );
        match t.name {
            "versions" => counts.versions = n,
            "changes" => counts.entries = n,
            "batches" => counts.batches = n,
            _ => {}
        }
    }
    for t in tables.iter().filter(|t| t.kind == Kind::Replaced) {
        to.exec(&format!("DELETE FROM {}", t.name))?;
        copy_rows(from, to, t, "")?;
    }
    if let Some(t) = tables.iter().find(|t| t.kind == Kind::Live) {
        // Live rows change only with a log entry (added, updated: set to
        // the entry's version and revision; retired: deleted).
        to.exec(&format!(
            "DELETE FROM sites WHERE (source, site_id) IN (SELECT source, site_id FROM changes WHERE seq > {base_seq})"
        ))?;
        counts.live_rows = copy_rows(
            from,
            to,
            t,
            &format!("WHERE revision > {base_revision} ORDER BY 1"),
        )?;
        phase(
            &format!("{} live rows to {}", counts.live_rows, to.what()),
            &mut clock,
        );
    }
    if let Some(t) = tables.iter().find(|t| t.kind == Kind::Packed) {
        let ids = |side: &mut dyn Side| -> Result<std::collections::HashMap<i64, Value>, String> {
            let key = Table {
                name: "packed",
                kind: Kind::Packed,
                cols: t
                    .cols
                    .iter()
                    .filter(|c| c.name == "id" || c.name == "hash")
                    .cloned()
                    .collect(),
            };
            let mut m = std::collections::HashMap::new();
            side.rows(&key, "", &mut |r| {
                if let [Value::Integer(id), hash] = &r[..] {
                    m.insert(*id, hash.clone());
                }
                Ok(())
            })?;
            Ok(m)
        };
        let (mine, theirs) = (ids(to)?, ids(from)?);
        let stale: Vec<i64> = mine
            .iter()
            .filter(|(id, h)| theirs.get(id) != Some(h))
            .map(|(id, _)| *id)
            .collect();
        let mut fresh: Vec<i64> = theirs
            .iter()
            .filter(|(id, h)| mine.get(id) != Some(h))
            .map(|(id, _)| *id)
            .collect();
        fresh.sort_unstable();
        for part in stale.chunks(500) {
            to.exec(&format!("DELETE FROM packed WHERE id IN ({})", list(part)))?;
        }
        for part in fresh.chunks(64) {
            counts.packed_chunks += copy_rows(
                from,
                to,
                t,
                &format!("WHERE id IN ({}) ORDER BY id", list(part)),
            )?;
        }
    }
    phase(
        &format!("{} index chunks to {}", counts.packed_chunks, to.what()),
        &mut clock,
    );
    Ok(counts)
}

fn list(ids: &[i64]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the database holds a nostrike registry (any schema).
fn holds_registry(tx: &mut Transaction<'_>) -> Result<bool, postgres::Error> {
    tx.query_one("SELECT to_regclass('nostrike_registry') IS NOT NULL", &[])
        .and_then(|r| r.try_get(0))
}

/// A connection to a shared registry on PostgreSQL.
pub struct Shared {
    client: Client,
    url: String,
    /// Working copies are `{stem}-{generation}.db`; the highest is current.
    stem: PathBuf,
}

/// What bringing a working copy up to date did.
#[derive(Debug, Clone, Copy)]
pub struct Synced {
    /// What was sent to the copy.
    pub sent: PullCounts,
    /// Whether the copy was (re)built whole.
    pub rebuilt: bool,
}

impl Shared {
    /// Connect to the registry at `url`, keeping working copies in `cache_dir`.
    pub fn connect(url: &str, cache_dir: &Path) -> Result<Shared, StoreError> {
        let shown = display_url(url);
        let client = Client::connect(url, NoTls).map_err(|e| StoreError::Shared {
            url: shown.clone(),
            reason: format!("cannot connect: {}", pg_reason(e)),
        })?;
        let digest = {
            use sha2::Digest as _;
            crate::hex(&sha2::Sha256::digest(shown.as_bytes()))
        };
        Ok(Shared {
            client,
            stem: cache_dir.join(format!("pg-{}", &digest[..16])),
            url: shown,
        })
    }

    /// The registry's URL (without its password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Create the registry's schema in the database (PostGIS is installed
    /// if absent). Refuses a database that already holds one.
    pub fn init(&mut self) -> Result<(), StoreError> {
        let url = self.url.clone();
        let e = |reason: String| StoreError::Shared {
            url: url.clone(),
            reason,
        };
        let dir = tempfile_dir(&self.stem)?;
        let seed = dir.join("seed.db");
        let result = (|| {
            Registry::create(&seed)?;
            drop(Registry::open(&seed)?);
            let tables = Connection::open(&seed)
                .and_then(|c| tables(&c))
                .map_err(|x| e(x.to_string()))?;
            let mut tx = self.client.transaction().map_err(|x| e(pg_reason(x)))?;
            if holds_registry(&mut tx).map_err(|x| e(pg_reason(x)))? {
                return Err(e(
                    "already holds a nostrike registry; refusing to overwrite".into(),
                ));
            }
            tx.batch_execute(&schema_sql(&tables))
                .map_err(|x| e(format!("creating the schema: {}", pg_reason(x))))?;
            send(&mut tx, &url, &seed).map_err(e)?;
            tx.commit().map_err(|x| e(pg_reason(x)))
        })();
        std::fs::remove_dir_all(&dir).ok();
        result
    }

    /// Refuse a database that holds no registry, or one of another schema.
    fn check_schema(tx: &mut Transaction<'_>, url: &str) -> Result<(), StoreError> {
        let e = |reason: String| StoreError::Shared {
            url: url.to_string(),
            reason,
        };
        if !holds_registry(tx).map_err(|x| e(pg_reason(x)))? {
            return Err(e(
                "no registry here (create one with `nostrike --registry URL init`)".into(),
            ));
        }
        let row = tx
            .query_one(
                "SELECT application_id, schema_version FROM nostrike_registry",
                &[],
            )
            .map_err(|x| e(pg_reason(x)))?;
        let (app, version): (i32, i32) = (
            row.try_get(0).map_err(|x| e(pg_reason(x)))?,
            row.try_get(1).map_err(|x| e(pg_reason(x)))?,
        );
        if app != APPLICATION_ID {
            return Err(e(format!(
                "not a nostrike registry (application id {app:#x})"
            )));
        }
        if version != SCHEMA_VERSION {
            return Err(e(format!(
                "schema version {version}, this nostrike reads {SCHEMA_VERSION} (upgrading a shared registry is not supported: use the nostrike that made it)"
            )));
        }
        Ok(())
    }

    /// Run `f` in one consistent, read-only snapshot of the database
    /// (checked to hold a registry of this schema first).
    fn in_snapshot<T>(
        &mut self,
        f: impl FnOnce(&mut Transaction<'_>, &str) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let url = self.url.clone();
        let pe = |e: postgres::Error| StoreError::Shared {
            url: url.clone(),
            reason: pg_reason(e),
        };
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(pe)?;
        Shared::check_schema(&mut tx, &url)?;
        let value = f(&mut tx, &url)?;
        tx.commit().map_err(pe)?;
        Ok(value)
    }

    /// Bring the working copy up to the database's current state (one
    /// consistent snapshot of it) and return its path and what was sent.
    pub fn refresh(&mut self) -> Result<(PathBuf, Synced), StoreError> {
        let stem = self.stem.clone();
        self.in_snapshot(|tx, url| sync_copy(tx, url, &stem))
    }

    /// Copy the database's current state whole into a new registry file at
    /// `dest` (which must not exist): what `verify` reads, every row fresh.
    pub fn copy_whole(&mut self, dest: &Path) -> Result<(), StoreError> {
        self.in_snapshot(|tx, url| fill_new(tx, url, dest).map(drop))
    }

    /// Run a writing command: under the registry's lock, in one database
    /// transaction, bring the working copy up to date, let `f` write on a
    /// private copy of it, send what `f` wrote and commit. When `f` fails
    /// (or returns `Ok((false, _))`: it decided nothing should be kept),
    /// the database is left as it was.
    pub fn write<T, E>(
        &mut self,
        f: impl FnOnce(&Path) -> Result<(bool, T), E>,
    ) -> Result<Result<(T, PullCounts), E>, StoreError> {
        let url = self.url.clone();
        let stem = self.stem.clone();
        let pe = |e: postgres::Error| StoreError::Shared {
            url: url.clone(),
            reason: pg_reason(e),
        };
        let mut tx = self.client.transaction().map_err(pe)?;
        // Writers serialise here, held until commit or rollback: one chain head.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .map_err(pe)?;
        Shared::check_schema(&mut tx, &url)?;
        let mut clock = std::time::Instant::now();
        let (copy, _) = sync_copy(&mut tx, &url, &stem)?;
        phase("working copy brought up to date", &mut clock);
        let dir = stem.parent().unwrap_or(Path::new("."));
        // Private copies of this registry left by writers killed mid-write
        // (each as large as the registry): no other writer of it is running
        // on this machine while we hold the lock.
        let prefix = format!(
            ".{}-write-",
            stem.file_name().and_then(|n| n.to_str()).unwrap_or("pg")
        );
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&prefix))
                {
                    std::fs::remove_file(e.path()).ok();
                }
            }
        }
        let private = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".db")
            .tempfile_in(dir)
            .map_err(|e| StoreError::Shared {
                url: url.clone(),
                reason: format!("a private copy in {}: {e}", dir.display()),
            })?
            .into_temp_path();
        copy_pages(&copy, &private)?;
        phase("private copy made", &mut clock);
        let value = match f(&private) {
            Ok((true, v)) => v,
            Ok((false, v)) => return Ok(Ok((v, PullCounts::default()))),
            Err(e) => return Ok(Err(e)),
        };
        phase("written on the private copy", &mut clock);
        let sent = send(&mut tx, &url, &private).map_err(|r| StoreError::Shared {
            url: url.clone(),
            reason: format!("sending the change: {r}; nothing was written"),
        })?;
        tx.commit().map_err(|e| StoreError::Shared {
            url: url.clone(),
            reason: format!("committing: {}; nothing was written", pg_reason(e)),
        })?;
        phase("committed", &mut clock);
        // The private copy is now the database's state: it becomes the next
        // working copy (a new file; the previous one stays for whoever reads
        // it and goes at the next switch). Killed before this, the old copy
        // is merely behind and is brought up to date next time.
        let next = generation_path(&stem, generation_of(&stem, &copy) + 1);
        if std::fs::hard_link(&private, &next).is_ok() {
            remove_generations_before(&stem, generation_of(&stem, &copy));
        }
        Ok(Ok((value, sent)))
    }
}

/// Send what the registry file at `path` holds beyond the database's state
/// (an earlier state of it, or an empty database), inside `tx`.
fn send(tx: &mut Transaction<'_>, url: &str, path: &Path) -> Result<PullCounts, String> {
    let lite = |e: rusqlite::Error| format!("{}: {e}", path.display());
    let mut conn = Connection::open(path).map_err(lite)?;
    let tables = tables(&conn).map_err(lite)?;
    let ltx = conn.transaction().map_err(lite)?;
    let mut from = Lite { tx: &ltx, path };
    let mut to = Pg::new(tx, url);
    transfer(&mut from, &mut to, &tables).map_err(Stop::reason)
}

/// A temporary folder beside the cache (created if need be).
fn tempfile_dir(cache: &Path) -> Result<PathBuf, StoreError> {
    let dir = cache.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Damaged {
        path: dir.to_path_buf(),
        reason: format!("cannot create the cache folder: {e}"),
    })?;
    tempfile::Builder::new()
        .prefix(".nostrike-")
        .tempdir_in(dir)
        .map(|d| d.keep())
        .map_err(|e| StoreError::Damaged {
            path: dir.to_path_buf(),
            reason: format!("cannot create a temporary folder: {e}"),
        })
}

/// Fill a new registry file at `dest` with the database's state.
fn fill_new(tx: &mut Transaction<'_>, url: &str, dest: &Path) -> Result<PullCounts, StoreError> {
    drop(Registry::create(dest)?);
    let mut conn = Connection::open(dest).map_err(|e| StoreError::Sqlite {
        path: dest.to_path_buf(),
        cause: e,
    })?;
    let counts = into_copy(tx, url, &mut conn, dest).map_err(|s| StoreError::Shared {
        url: url.to_string(),
        reason: s.reason(),
    })?;
    Ok(counts)
}

fn into_copy(
    tx: &mut Transaction<'_>,
    url: &str,
    conn: &mut Connection,
    path: &Path,
) -> Result<PullCounts, Stop> {
    let tables = tables(conn).map_err(|e| Stop::Failed(format!("{}: {e}", path.display())))?;
    let ltx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| Stop::Failed(format!("{}: {e}", path.display())))?;
    ltx.pragma_update(None, "defer_foreign_keys", true)
        .map_err(|e| Stop::Failed(e.to_string()))?;
    let counts = {
        let mut from = Pg::new(tx, url);
        let mut to = Lite { tx: &ltx, path };
        transfer(&mut from, &mut to, &tables)?
    };
    ltx.commit()
        .map_err(|e| Stop::Failed(format!("{}: {e}", path.display())))?;
    Ok(counts)
}

/// Working copy number `n` of `stem`.
fn generation_path(stem: &Path, n: u64) -> PathBuf {
    stem.with_file_name(format!(
        "{}-{n}.db",
        stem.file_name().and_then(|n| n.to_str()).unwrap_or("pg")
    ))
}

/// The generation number of working copy `path` (0 if it is none).
fn generation_of(stem: &Path, path: &Path) -> u64 {
    let prefix = format!(
        "{}-",
        stem.file_name().and_then(|n| n.to_str()).unwrap_or("pg")
    );
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(&prefix))
        .and_then(|n| n.strip_suffix(".db"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Remove working copies older than generation `n` (a process still
/// reading one keeps its open file).
fn remove_generations_before(stem: &Path, n: u64) {
    for g in 1..n {
        let old = generation_path(stem, g);
        for suffix in ["", "-wal", "-shm"] {
            let mut p = old.clone().into_os_string();
            p.push(suffix);
            std::fs::remove_file(PathBuf::from(p)).ok();
        }
    }
}

/// A consistent page-for-page copy of the registry at `from` into `to`
/// (SQLite's online backup: the WAL's committed pages included, rows and
/// row ids exactly as they are), as one file.
fn copy_pages(from: &Path, to: &Path) -> Result<(), StoreError> {
    let lite = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| StoreError::Sqlite { path, cause }
    };
    let src = Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(lite(from))?;
    let mut dst = Connection::open(to).map_err(lite(to))?;
    rusqlite::backup::Backup::new(&src, &mut dst)
        .and_then(|b| b.run_to_completion(1 << 30, std::time::Duration::ZERO, None))
        .map_err(lite(to))?;
    Ok(())
}

/// The current working copy of `stem` (its highest generation), if any.
fn current_copy(stem: &Path) -> Option<(u64, PathBuf)> {
    let dir = stem.parent()?;
    let prefix = format!("{}-", stem.file_name()?.to_str()?);
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let n: u64 = name
                .strip_prefix(&prefix)?
                .strip_suffix(".db")?
                .parse()
                .ok()?;
            Some((n, dir.join(name)))
        })
        .max()
}

/// Bring the working copy of `stem` up to the database's state: its path
/// and what was sent. A copy that is missing or got ahead of the database
/// (a writer killed before its commit) is rebuilt whole as the next
/// generation: a new file, never renamed over one another process may be
/// reading.
fn sync_copy(
    tx: &mut Transaction<'_>,
    url: &str,
    stem: &Path,
) -> Result<(PathBuf, Synced), StoreError> {
    let failed = |path: &Path, r: String| StoreError::Shared {
        url: url.to_string(),
        reason: format!(
            "bringing the working copy {} up to date: {r}",
            path.display()
        ),
    };
    let generation = match current_copy(stem) {
        Some((n, path)) => {
            let attempt = Connection::open(&path)
                .map_err(|e| Stop::Failed(e.to_string()))
                .and_then(|mut conn| {
                    conn.busy_timeout(std::time::Duration::from_secs(60))
                        .map_err(|e| Stop::Failed(e.to_string()))?;
                    into_copy(tx, url, &mut conn, &path)
                });
            match attempt {
                Ok(sent) => {
                    return Ok((
                        path,
                        Synced {
                            sent,
                            rebuilt: false,
                        },
                    ))
                }
                Err(Stop::Diverged(_)) => n + 1,
                Err(Stop::Failed(r)) => return Err(failed(&path, r)),
            }
        }
        None => 1,
    };
    let dir = tempfile_dir(stem)?;
    let fresh = dir.join("copy.db");
    let built = fill_new(tx, url, &fresh).and_then(|sent| {
        // One file (its WAL folded in) before it is linked into place.
        drop(Registry::open_read_only(&fresh)?);
        Ok(sent)
    });
    let path = generation_path(stem, generation);
    let placed = built.and_then(|sent| match std::fs::hard_link(&fresh, &path) {
        Ok(()) => Ok(Some(sent)),
        // Another process built this generation first: use its copy.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(failed(&path, e.to_string())),
    });
    std::fs::remove_dir_all(&dir).ok();
    let sent = match placed? {
        Some(sent) => sent,
        None => {
            let mut conn = Connection::open(&path).map_err(|e| failed(&path, e.to_string()))?;
            conn.busy_timeout(std::time::Duration::from_secs(60))
                .map_err(|e| failed(&path, e.to_string()))?;
            into_copy(tx, url, &mut conn, &path).map_err(|s| failed(&path, s.reason()))?
        }
    };
    remove_generations_before(stem, generation);
    Ok((
        path,
        Synced {
            sent,
            rebuilt: true,
        },
    ))
}

/// The PostgreSQL schema for these tables, with the registry's identity,
/// the logs' append-only triggers, the geography column, the auditors'
/// views and the partners' row-level security.
fn schema_sql(tables: &[Table]) -> String {
    let mut s = String::from("CREATE EXTENSION IF NOT EXISTS postgis;\n");
    s.push_str(&format!(
        "CREATE TABLE nostrike_registry (application_id integer NOT NULL, schema_version integer NOT NULL);
INSERT INTO nostrike_registry VALUES ({APPLICATION_ID}, {SCHEMA_VERSION});
CREATE FUNCTION nostrike_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$;
"
    ));
    for t in tables {
        let mut cols: Vec<String> = t
            .cols
            .iter()
            .map(|c| {
                format!(
                    "{} {}{}",
                    c.name,
                    c.ty.pg_decl(),
                    if c.not_null || c.pk { " NOT NULL" } else { "" }
                )
            })
            .collect();
        let pk: Vec<&str> = t
            .cols
            .iter()
            .filter(|c| c.pk)
            .map(|c| c.name.as_str())
            .collect();
        if !pk.is_empty() {
            cols.push(format!("PRIMARY KEY ({})", pk.join(", ")));
        }
        if t.kind == Kind::Live {
            cols.push("UNIQUE (source, site_id)".into());
        }
        s.push_str(&format!(
            "CREATE TABLE {} (\n  {}\n);\n",
            t.name,
            cols.join(",\n  ")
        ));
        if let Kind::Appended(_) = t.kind {
            s.push_str(&format!(
                "CREATE TRIGGER {0}_append_only BEFORE UPDATE OR DELETE ON {0} FOR EACH ROW EXECUTE FUNCTION nostrike_append_only();
CREATE TRIGGER {0}_no_truncate BEFORE TRUNCATE ON {0} FOR EACH STATEMENT EXECUTE FUNCTION nostrike_append_only();\n",
                t.name
            ));
        }
    }
    // The log as auditors read it: the file registry's own view, verbatim.
    s.push_str("CREATE VIEW change_history WITH (security_invoker = true) AS ");
    s.push_str(crate::registry::change_history_query());
    s.push('\n');
    s.push_str(SCHEMA_EXTRAS);
    s
}

/// What PostgreSQL adds beside the tables.
const SCHEMA_EXTRAS: &str = r#"
CREATE INDEX sites_revision ON sites (revision);
-- For GIS clients (QGIS, ogr2ogr): each version's geometry as PostGIS
-- geography; nostrike's checks never read it.
ALTER TABLE versions ADD COLUMN geog geography GENERATED ALWAYS AS (ST_GeogFromWKB(geometry)) STORED;
CREATE INDEX versions_geog ON versions USING gist (geog);
CREATE VIEW live_sites WITH (security_invoker = true) AS
  SELECT s.live_order, s.source, s.site_id, v.name, v.category, v.protection, v.designations, v.geometry, v.geog,
         v.standoff_m, v.positional_accuracy_m, v.valid_from, v.valid_to, v.last_verified, v.properties, v.extensions,
         v.hash, s.version, s.revision
  FROM sites s JOIN versions v ON v.id = s.version;

-- Releasability, enforced by the database. A partner is a role granted
-- nostrike_partner and listed in nostrike_partners with the countries it
-- belongs to; it reads only the sites releasable to one of them (a site
-- with no releasable_to list is releasable to all). Its countries come from
-- this table, looked up by its role: nothing the client sets changes them.
DO $$ BEGIN
  CREATE ROLE nostrike_maintainer NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
  CREATE ROLE nostrike_partner NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE TABLE nostrike_partners (role_name text PRIMARY KEY, countries text[] NOT NULL);
CREATE FUNCTION nostrike_releasable(ext text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT ext IS NULL OR NOT (ext::jsonb ? 'releasable_to') OR EXISTS (
    SELECT 1 FROM nostrike_partners p, jsonb_array_elements_text(ext::jsonb -> 'releasable_to') AS r(code)
    WHERE p.role_name = current_user AND r.code = ANY (p.countries))
$$;
CREATE FUNCTION nostrike_is_partner() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT pg_has_role(current_user, 'nostrike_partner', 'MEMBER')
$$;
ALTER TABLE versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE versions FORCE ROW LEVEL SECURITY;
CREATE POLICY maintainers ON versions USING (NOT nostrike_is_partner());
CREATE POLICY partners ON versions FOR SELECT TO nostrike_partner USING (nostrike_releasable(extensions));
ALTER TABLE sites ENABLE ROW LEVEL SECURITY;
ALTER TABLE sites FORCE ROW LEVEL SECURITY;
CREATE POLICY maintainers ON sites USING (NOT nostrike_is_partner());
CREATE POLICY partners ON sites FOR SELECT TO nostrike_partner USING (EXISTS (SELECT 1 FROM versions v WHERE v.id = sites.version));
ALTER TABLE nostrike_partners ENABLE ROW LEVEL SECURITY;
ALTER TABLE nostrike_partners FORCE ROW LEVEL SECURITY;
CREATE POLICY maintainers ON nostrike_partners USING (NOT nostrike_is_partner());
CREATE POLICY own_row ON nostrike_partners FOR SELECT TO nostrike_partner USING (role_name = current_user);
GRANT SELECT ON versions, sites, live_sites, sources, nostrike_partners, nostrike_registry TO nostrike_partner;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO nostrike_maintainer;
"#;
