//! The sources' own accountable record: a hash-chained log of every change
//! to a source's description, licence, attribution and URL.
//!
//! A source's licence and attribution decide who may use its sites and how
//! they must be credited, so they are part of the registry's accountable
//! record like the sites themselves. Each import that creates a source or
//! changes any of these fields appends an entry to `source_log`, chained by
//! hash to the entry before it; the head is kept in `meta` under
//! `source_log_head`. `verify` recomputes the chain and compares every row
//! of `sources` with its last entry, so an edit made behind the tool's back
//! (`UPDATE sources SET licence = …` in the `sqlite3` shell) is named.

use rusqlite::{params, Connection, OptionalExtension};

use crate::canonical::Enc;
use crate::registry::{SourceCoverage, SourceMeta};

/// The columns [`read_meta`] reads, in order.
pub(crate) const META_COLUMNS: &str =
    "name, description, licence, attribution, url, coverage, coverage_how";

/// Schema of the source log (migration to schema version 3).
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE source_log (
  seq         INTEGER PRIMARY KEY,
  batch       INTEGER NOT NULL,
  revision    INTEGER NOT NULL,
  name        TEXT NOT NULL,
  description TEXT,
  licence     TEXT,
  attribution TEXT,
  url         TEXT,
  prev_hash   TEXT NOT NULL,
  entry_hash  TEXT NOT NULL
) STRICT;
CREATE TRIGGER source_log_no_update BEFORE UPDATE ON source_log
  BEGIN SELECT RAISE(ABORT, 'the source log is append-only'); END;
CREATE TRIGGER source_log_no_delete BEFORE DELETE ON source_log
  BEGIN SELECT RAISE(ABORT, 'the source log is append-only'); END;
"#;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry's hash: its predecessor's, its place and the source's fields.
/// A declared coverage is appended after the other fields (the word
/// `coverage`, the WKB, how it was declared); entries without one hash
/// exactly as before schema 4.
fn entry_hash(prev: &str, batch: i64, revision: i64, m: &SourceMeta) -> String {
    let mut e = Enc(Vec::new());
    e.text("nostrike source log v1")
        .text(prev)
        .i64(batch)
        .i64(revision)
        .text(&m.name)
        .opt_text(m.description.as_deref())
        .opt_text(m.licence.as_deref())
        .opt_text(m.attribution.as_deref())
        .opt_text(m.url.as_deref());
    if let Some(c) = &m.coverage {
        e.text("coverage").bytes(&c.wkb).text(&c.how);
    }
    e.sha256_hex()
}

/// A source's metadata from the columns [`META_COLUMNS`] starting at column `at`.
pub(crate) fn read_meta(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<SourceMeta> {
    Ok(SourceMeta {
        name: r.get(at)?,
        description: r.get(at + 1)?,
        licence: r.get(at + 2)?,
        attribution: r.get(at + 3)?,
        url: r.get(at + 4)?,
        coverage: match (
            r.get::<_, Option<Vec<u8>>>(at + 5)?,
            r.get::<_, Option<String>>(at + 6)?,
        ) {
            (Some(wkb), how) => Some(SourceCoverage {
                wkb,
                how: how.unwrap_or_default(),
            }),
            (None, _) => None,
        },
    })
}

fn current(tx: &Connection, name: &str) -> rusqlite::Result<Option<SourceMeta>> {
    tx.query_row(
        &format!("SELECT {META_COLUMNS} FROM sources WHERE name = ?1"),
        [name],
        |r| read_meta(r, 0),
    )
    .optional()
}

fn last_entry(tx: &Connection, name: &str) -> rusqlite::Result<Option<SourceMeta>> {
    tx.query_row(
        &format!("SELECT {META_COLUMNS} FROM source_log WHERE name = ?1 ORDER BY seq DESC LIMIT 1"),
        [name],
        |r| read_meta(r, 0),
    )
    .optional()
}

/// Log the source `name` as it now stands in `sources`, if it differs from
/// its last entry (or has none). Returns whether its coverage changed.
pub(crate) fn record(
    tx: &Connection,
    name: &str,
    batch: i64,
    revision: i64,
) -> rusqlite::Result<bool> {
    let Some(now) = current(tx, name)? else {
        return Ok(false);
    };
    let last = last_entry(tx, name)?;
    if last.as_ref() == Some(&now) {
        return Ok(false);
    }
    let coverage_changed = last.and_then(|l| l.coverage) != now.coverage;
    let prev: String = tx
        .query_row(
            "SELECT entry_hash FROM source_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string());
    let hash = entry_hash(&prev, batch, revision, &now);
    let (coverage, how) = match &now.coverage {
        Some(c) => (Some(&c.wkb), Some(&c.how)),
        None => (None, None),
    };
    tx.execute(
        "INSERT INTO source_log (batch, revision, name, description, licence, attribution, url, prev_hash, entry_hash, coverage, coverage_how)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![batch, revision, now.name, now.description, now.licence, now.attribution, now.url, prev, hash, coverage, how],
    )?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('source_log_head', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [&hash],
    )?;
    Ok(coverage_changed)
}

/// Why `name` cannot name a source, if it cannot: sites are named
/// `SOURCE/ID` (`show`, links, `verify-site`, the reports' `site_id`), read
/// up to the first `/` — ids may hold `/`, so a source cannot — and a
/// control character prints as nothing, or moves the text around it.
pub fn source_name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("a source needs a name".into());
    }
    if name.contains('/') {
        return Some(
            "it holds '/': sites are named SOURCE/ID and read up to the first '/', so its sites could not be named; choose a name without '/'".into(),
        );
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Some(format!(
            "it holds the control character U+{:04X}, which prints as nothing; choose a name without one",
            c as u32
        ));
    }
    None
}

/// Give every existing source its first entry (when the log is created).
pub(crate) fn seed(tx: &Connection) -> rusqlite::Result<()> {
    let revision: i64 = tx
        .query_row("SELECT value FROM meta WHERE key = 'revision'", [], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let names: Vec<String> = {
        let mut st = tx.prepare("SELECT name FROM sources ORDER BY name")?;
        let v = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        v
    };
    for n in names {
        record(tx, &n, 0, revision)?;
    }
    Ok(())
}

/// What is wrong with the source log and the sources table, in words.
pub(crate) fn verify(tx: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut findings = Vec::new();
    let mut prev = GENESIS.to_string();
    {
        let mut st = tx.prepare(
            &format!("SELECT seq, batch, revision, prev_hash, entry_hash, {META_COLUMNS} FROM source_log ORDER BY seq"),
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let m = read_meta(r, 5)?;
            let (stored_prev, stored): (String, String) = (r.get(3)?, r.get(4)?);
            if stored_prev != prev {
                findings.push(format!(
                    "source log entry {seq} ({}) does not follow the entry before it (entries removed or inserted outside nostrike)",
                    m.name
                ));
            }
            if entry_hash(&stored_prev, r.get(1)?, r.get(2)?, &m) != stored {
                findings.push(format!(
                    "source log entry {seq} ({}) was altered: its hash does not match its content",
                    m.name
                ));
            }
            prev = stored;
        }
    }
    let head: Option<String> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'source_log_head'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if head.as_deref().unwrap_or(GENESIS) != prev {
        findings.push(format!(
            "the source log ends at {prev}, the registry records {} (entries removed or appended outside nostrike)",
            head.as_deref().unwrap_or("no head")
        ));
    }
    {
        let mut st = tx.prepare(
            "SELECT DISTINCT name FROM source_log WHERE name NOT IN (SELECT name FROM sources) ORDER BY name",
        )?;
        for gone in st.query_map([], |r| r.get::<_, String>(0))? {
            findings.push(format!(
                "source {:?} is in the source log but the registry no longer holds it (deleted outside nostrike)",
                gone?
            ));
        }
    }
    let names: Vec<String> = {
        let mut st = tx.prepare("SELECT name FROM sources ORDER BY name")?;
        let v = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        v
    };
    for n in names {
        let now = current(tx, &n)?;
        match last_entry(tx, &n)? {
            None => findings.push(format!(
                "source {n:?} has no entry in the source log (added outside nostrike)"
            )),
            Some(logged) if Some(&logged) != now.as_ref() => {
                let now = now.unwrap_or(SourceMeta {
                    name: n.clone(),
                    description: None,
                    licence: None,
                    attribution: None,
                    url: None,
                    coverage: None,
                });
                let mut fields = Vec::new();
                for (field, a, b) in [
                    ("description", &logged.description, &now.description),
                    ("licence", &logged.licence, &now.licence),
                    ("attribution", &logged.attribution, &now.attribution),
                    ("url", &logged.url, &now.url),
                ] {
                    if a != b {
                        let show = |v: &Option<String>| {
                            v.as_ref()
                                .map(|t| format!("{t:?}"))
                                .unwrap_or_else(|| "(none)".into())
                        };
                        fields.push(format!("{field} {} (logged {})", show(b), show(a)));
                    }
                }
                if logged.coverage != now.coverage {
                    fields.push("coverage".to_string());
                }
                findings.push(format!(
                    "source {n:?} was edited outside nostrike: {}",
                    fields.join(", ")
                ));
            }
            Some(_) => {}
        }
    }
    Ok(findings)
}

/// The last revision at which a source's coverage changed (0 if never):
/// such a change makes a revision with no entry in the change log.
pub(crate) fn last_coverage_revision(tx: &Connection) -> rusqlite::Result<i64> {
    let mut st =
        tx.prepare("SELECT name, revision, coverage, coverage_how FROM source_log ORDER BY seq")?;
    let mut rows = st.query([])?;
    let mut last: std::collections::HashMap<String, (Option<Vec<u8>>, Option<String>)> =
        Default::default();
    let mut reached = 0;
    while let Some(r) = rows.next()? {
        let name: String = r.get(0)?;
        let now = (
            r.get::<_, Option<Vec<u8>>>(2)?,
            r.get::<_, Option<String>>(3)?,
        );
        let before = last.insert(name, now.clone()).unwrap_or((None, None));
        if before != now {
            reached = reached.max(r.get::<_, i64>(1)?);
        }
    }
    Ok(reached)
}
