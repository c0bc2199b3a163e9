//! Links: an analyst's decision that two sites of different sources are
//! the same place. Each link and unlink is an entry of `link_log`,
//! hash-chained like the change log (head in `meta.link_log_head`); the
//! `links` table holds the links in force. A link changes what a check
//! reports (the linked sites are one group), so it makes a new revision;
//! checks read the links as they stood at the revision they check.

use rusqlite::{params, Connection, OptionalExtension};

use crate::canonical::Enc;

/// Schema of links (migration to schema version 6).
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE links (
  a        TEXT NOT NULL,
  b        TEXT NOT NULL,
  revision INTEGER NOT NULL,
  PRIMARY KEY (a, b),
  CHECK (a < b)
) STRICT;
CREATE TABLE link_log (
  seq        INTEGER PRIMARY KEY,
  batch      INTEGER NOT NULL,
  revision   INTEGER NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('link', 'unlink')),
  a          TEXT NOT NULL,
  b          TEXT NOT NULL,
  operator   TEXT NOT NULL,
  at         INTEGER NOT NULL,
  note       TEXT,
  prev_hash  TEXT NOT NULL,
  entry_hash TEXT NOT NULL
) STRICT;
CREATE TRIGGER link_log_no_update BEFORE UPDATE ON link_log
  BEGIN SELECT RAISE(ABORT, 'the link log is append-only'); END;
CREATE TRIGGER link_log_no_delete BEFORE DELETE ON link_log
  BEGIN SELECT RAISE(ABORT, 'the link log is append-only'); END;
"#;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One link-log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEntry {
    /// The import batch (a `link` or `unlink` batch) that recorded it.
    pub batch: i64,
    /// The revision it made.
    pub revision: i64,
    /// `true` for a link, `false` for an unlink.
    pub link: bool,
    /// The first site's key (`SOURCE/ID`; `a < b`).
    pub a: String,
    /// The second site's key.
    pub b: String,
    /// Who decided.
    pub operator: String,
    /// When (seconds since the Unix epoch, UTC).
    pub at: i64,
    /// Why, in the analyst's words.
    pub note: Option<String>,
}

fn entry_hash(prev: &str, seq: i64, e: &LinkEntry) -> String {
    Enc(Vec::new())
        .text("nostrike link log v1")
        .text(prev)
        .i64(seq)
        .i64(e.batch)
        .i64(e.revision)
        .text(if e.link { "link" } else { "unlink" })
        .text(&e.a)
        .text(&e.b)
        .text(&e.operator)
        .i64(e.at)
        .opt_text(e.note.as_deref())
        .sha256_hex()
}

/// Append `e` to the log and apply it to `links`.
pub(crate) fn record(tx: &Connection, e: &LinkEntry) -> rusqlite::Result<()> {
    let (seq, prev): (i64, String) = tx
        .query_row(
            "SELECT seq, entry_hash FROM link_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, GENESIS.to_string()));
    let seq = seq + 1;
    let hash = entry_hash(&prev, seq, e);
    tx.execute(
        "INSERT INTO link_log (seq, batch, revision, kind, a, b, operator, at, note, prev_hash, entry_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![seq, e.batch, e.revision, if e.link { "link" } else { "unlink" }, e.a, e.b, e.operator, e.at, e.note, prev, hash],
    )?;
    if e.link {
        tx.execute(
            "INSERT INTO links (a, b, revision) VALUES (?1, ?2, ?3)",
            params![e.a, e.b, e.revision],
        )?;
    } else {
        tx.execute(
            "DELETE FROM links WHERE a = ?1 AND b = ?2",
            params![e.a, e.b],
        )?;
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('link_log_head', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [&hash],
    )?;
    Ok(())
}

/// Every entry of the log, oldest first.
pub(crate) fn entries(tx: &Connection) -> rusqlite::Result<Vec<LinkEntry>> {
    let mut st = tx.prepare(
        "SELECT batch, revision, kind, a, b, operator, at, note FROM link_log ORDER BY seq",
    )?;
    let v = st
        .query_map([], |r| {
            Ok(LinkEntry {
                batch: r.get(0)?,
                revision: r.get(1)?,
                link: r.get::<_, String>(2)? == "link",
                a: r.get(3)?,
                b: r.get(4)?,
                operator: r.get(5)?,
                at: r.get(6)?,
                note: r.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(v)
}

/// The links in force at `revision`, from the log, in key order.
pub(crate) fn at(tx: &Connection, revision: i64) -> rusqlite::Result<Vec<(String, String)>> {
    let mut live = std::collections::BTreeSet::new();
    for e in entries(tx)?.into_iter().filter(|e| e.revision <= revision) {
        if e.link {
            live.insert((e.a, e.b));
        } else {
            live.remove(&(e.a, e.b));
        }
    }
    Ok(live.into_iter().collect())
}

/// What is wrong with the link log and the links table, in words.
pub(crate) fn verify(tx: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut findings = Vec::new();
    let mut prev = GENESIS.to_string();
    let mut live = std::collections::BTreeSet::new();
    {
        let mut st = tx.prepare(
            "SELECT seq, batch, revision, kind, a, b, operator, at, note, prev_hash, entry_hash FROM link_log ORDER BY seq",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let e = LinkEntry {
                batch: r.get(1)?,
                revision: r.get(2)?,
                link: r.get::<_, String>(3)? == "link",
                a: r.get(4)?,
                b: r.get(5)?,
                operator: r.get(6)?,
                at: r.get(7)?,
                note: r.get(8)?,
            };
            let (stored_prev, stored): (String, String) = (r.get(9)?, r.get(10)?);
            if stored_prev != prev {
                findings.push(format!("link log entry {seq} does not follow the entry before it (entries removed or inserted outside nostrike)"));
            }
            if entry_hash(&stored_prev, seq, &e) != stored {
                findings.push(format!(
                    "link log entry {seq} ({} {} {}) was altered: its hash does not match its content",
                    if e.link { "link" } else { "unlink" },
                    e.a,
                    e.b
                ));
            }
            if e.link {
                live.insert((e.a, e.b));
            } else {
                live.remove(&(e.a, e.b));
            }
            prev = stored;
        }
    }
    let head: Option<String> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'link_log_head'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if head.as_deref().unwrap_or(GENESIS) != prev {
        findings.push(format!(
            "the link log ends at {prev}, the registry records {} (entries removed or appended outside nostrike)",
            head.as_deref().unwrap_or("no head")
        ));
    }
    let table: std::collections::BTreeSet<(String, String)> = {
        let mut st = tx.prepare("SELECT a, b FROM links")?;
        let v = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        v
    };
    for (a, b) in table.difference(&live) {
        findings.push(format!(
            "link {a} = {b} is in the links table but not in the link log (added outside nostrike)"
        ));
    }
    for (a, b) in live.difference(&table) {
        findings.push(format!(
            "link {a} = {b} is in the link log but missing from the links table (removed outside nostrike)"
        ));
    }
    Ok(findings)
}

/// The last revision a link or unlink made (0 if none).
pub(crate) fn last_revision(tx: &Connection) -> rusqlite::Result<i64> {
    tx.query_row("SELECT coalesce(max(revision), 0) FROM link_log", [], |r| {
        r.get(0)
    })
}
