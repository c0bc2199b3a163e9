//! Bringing a copy up to its source's state by sending only what it lacks.
//!
//! Every table is one of three kinds: append-only logs (each version, log
//! entry, batch and log row is numbered, and an earlier state of the same
//! registry holds a prefix of them: only the rows past the copy's last are
//! sent), small tables replaced whole (`meta`, `sources`, `links`,
//! `signatures`), and the two that change in place (`sites`, by row;
//! `packed`, by chunk hash), of which only rows that differ are sent.

use super::*;

/// What [`Registry::pull_from`] sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullCounts {
    /// Site versions (each stored once; the set the copy lacked).
    pub versions: u64,
    /// Change-log entries.
    pub entries: u64,
    /// Batches (imports, coverage declarations, links, re-verifications).
    pub batches: u64,
    /// Live rows written (added or changed; removed ones are deleted).
    pub live_rows: u64,
    /// Packed-index chunks written.
    pub packed_chunks: u64,
}

/// The append-only tables and their numbering column.
pub(crate) const APPENDED: &[(&str, &str)] = &[
    ("batches", "id"),
    ("versions", "id"),
    ("changes", "seq"),
    ("source_log", "seq"),
    ("link_log", "seq"),
];
/// Small tables the source's copy replaces whole.
pub(crate) const REPLACED: &[&str] = &["meta", "sources", "links", "signatures"];
/// The tables changed in place, and the columns that identify a row's
/// state, its row id (`k`) first.
const DIFFED: &[(&str, &str)] = &[
    ("sites", "rowid AS k, source, site_id, version, revision"),
    ("packed", "id AS k, hash"),
];

impl Registry {
    /// Bring this registry up to the current state of the registry at
    /// `source`, of which it must be an earlier state (the caller checks
    /// the revision, content hash and log head first; `verify` afterwards),
    /// sending only the rows it lacks: the versions, log entries and batches
    /// past its own, and the live rows and packed chunks that differ. One
    /// transaction; on any error nothing changes. The rows of the small
    /// append-only logs it holds must be the source's own.
    pub fn pull_from(&mut self, source: &Path) -> Result<PullCounts, StoreError> {
        let path = self.path.clone();
        let sq = |cause| StoreError::Sqlite {
            path: path.clone(),
            cause,
        };
        let src = source.to_str().ok_or_else(|| StoreError::Damaged {
            path: source.to_path_buf(),
            reason: "the path is not UTF-8".into(),
        })?;
        self.conn
            .execute("ATTACH DATABASE ?1 AS src", [src])
            .map_err(sq)?;
        let result = self.pull_attached(source);
        let detached = self.conn.execute_batch("DETACH DATABASE src").map_err(sq);
        let counts = result?;
        detached?;
        Ok(counts)
    }

    fn pull_attached(&mut self, source: &Path) -> Result<PullCounts, StoreError> {
        let path = self.path.clone();
        let sq = |cause| StoreError::Sqlite {
            path: path.clone(),
            cause,
        };
        let tables = |schema: &str| -> Result<Vec<String>, StoreError> {
            let mut st = self
                .conn
                .prepare(&format!(
                    "SELECT name FROM {schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
                ))
                .map_err(sq)?;
            let v = st
                .query_map([], |r| r.get(0))
                .map_err(sq)?
                .collect::<Result<Vec<String>, _>>()
                .map_err(sq);
            v
        };
        let (mine, theirs) = (tables("main")?, tables("src")?);
        let known: Vec<&str> = APPENDED
            .iter()
            .map(|(t, _)| *t)
            .chain(REPLACED.iter().copied())
            .chain(DIFFED.iter().map(|(t, _)| *t))
            .collect();
        for t in mine.iter().chain(&theirs) {
            if !known.contains(&t.as_str()) || !mine.contains(t) || !theirs.contains(t) {
                return Err(StoreError::Damaged {
                    path: source.to_path_buf(),
                    reason: format!("table {t:?} is not one both registries hold as this nostrike knows it; pull to a new file"),
                });
            }
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sq)?;
        // Sources are replaced while live rows still name them: checked at commit.
        tx.pragma_update(None, "defer_foreign_keys", true)
            .map_err(sq)?;
        let columns = |t: &str| -> Result<String, StoreError> {
            let mut st = tx
                .prepare(&format!(
                    "SELECT name FROM pragma_table_info('{t}') ORDER BY cid"
                ))
                .map_err(sq)?;
            let v = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(sq)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sq)?;
            Ok(v.join(", "))
        };
        let mut counts = PullCounts::default();
        for (t, key) in APPENDED {
            let cols = columns(t)?;
            // What the copy holds of a small log must be the source's own.
            if *t != "versions" && *t != "changes" {
                let foreign: i64 = tx
                    .query_row(
                        &format!("SELECT count(*) FROM (SELECT {cols} FROM main.{t} EXCEPT SELECT {cols} FROM src.{t})"),
                        [],
                        |r| r.get(0),
                    )
                    .map_err(sq)?;
                if foreign > 0 {
                    return Err(StoreError::Damaged {
                        path: path.clone(),
                        reason: format!("{foreign} row(s) of its {t} are not the source's: it is not an earlier state of {}", source.display()),
                    });
                }
            }
            let n = tx
                .execute(
                    &format!(
                        "INSERT INTO main.{t} ({cols}) SELECT {cols} FROM src.{t}
                         WHERE {key} > (SELECT coalesce(max({key}), 0) FROM main.{t}) ORDER BY {key}"
                    ),
                    [],
                )
                .map_err(sq)? as u64;
            match *t {
                "versions" => counts.versions = n,
                "changes" => counts.entries = n,
                "batches" => counts.batches = n,
                _ => {}
            }
        }
        for t in REPLACED {
            let cols = columns(t)?;
            tx.execute_batch(&format!(
                "DELETE FROM main.{t}; INSERT INTO main.{t} ({cols}) SELECT {cols} FROM src.{t};"
            ))
            .map_err(sq)?;
        }
        for (t, ident) in DIFFED {
            let cols = columns(t)?;
            let all = if *t == "sites" {
                format!("rowid, {cols}")
            } else {
                cols
            };
            tx.execute(
                &format!(
                    "DELETE FROM main.{t} WHERE rowid IN (SELECT k FROM (SELECT {ident} FROM main.{t} EXCEPT SELECT {ident} FROM src.{t}))"
                ),
                [],
            )
            .map_err(sq)?;
            let n = tx
                .execute(
                    &format!(
                        "INSERT INTO main.{t} ({all}) SELECT {all} FROM src.{t} WHERE rowid IN (SELECT k FROM (SELECT {ident} FROM src.{t} EXCEPT SELECT {ident} FROM main.{t}))"
                    ),
                    [],
                )
                .map_err(sq)? as u64;
            if *t == "sites" {
                counts.live_rows = n;
            } else {
                counts.packed_chunks = n;
            }
        }
        tx.commit().map_err(sq)?;
        Ok(counts)
    }
}
