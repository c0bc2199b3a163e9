//! The change log: what an entry did ([`ChangeKind`]) and the one walk,
//! [`replay`], that `as_of`, `history` and `verify` read it with.

use super::*;

/// What a change-log entry did to its site. Stored as its name; the name
/// is part of the entry's hash, so these spellings are fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// The site was new.
    Added,
    /// The site's content changed.
    Updated,
    /// The site was removed (`--replace`); it stays in the history.
    Retired,
}

impl ChangeKind {
    /// The stored name: `added`, `updated` or `retired`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Updated => "updated",
            ChangeKind::Retired => "retired",
        }
    }
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A stored change kind that is none of nostrike's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown change kind {0:?} (expected added, updated or retired)")]
pub struct UnknownChangeKind(pub String);

impl std::str::FromStr for ChangeKind {
    type Err = UnknownChangeKind;
    fn from_str(s: &str) -> Result<ChangeKind, UnknownChangeKind> {
        match s {
            "added" => Ok(ChangeKind::Added),
            "updated" => Ok(ChangeKind::Updated),
            "retired" => Ok(ChangeKind::Retired),
            _ => Err(UnknownChangeKind(s.to_string())),
        }
    }
}

impl rusqlite::ToSql for ChangeKind {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl rusqlite::types::FromSql for ChangeKind {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        v.as_str()?
            .parse()
            .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

/// One change-log entry as stored, with its batch's when, who and file.
pub(super) struct LogEntry {
    pub(super) seq: i64,
    pub(super) batch: i64,
    pub(super) revision: i64,
    pub(super) kind: ChangeKind,
    pub(super) before: Option<String>,
    pub(super) after: Option<String>,
    /// The hash the filed version carries (`None` when retired or missing).
    pub(super) version_hash: Option<String>,
    pub(super) entry_hash: String,
    pub(super) source: String,
    pub(super) id: String,
    /// The site version the entry filed (`None` when retired, or when
    /// `missing_version`).
    pub(super) row: Option<SiteRow>,
    /// The entry names a version (`after`) that `versions` does not hold
    /// (only a damaged registry).
    pub(super) missing_version: bool,
    /// (imported_at, operator, file_name) of the batch; `None` if the
    /// batch row is missing (only a damaged registry).
    pub(super) batch_info: Option<(i64, String, String)>,
}

impl LogEntry {
    /// The hash this entry should carry, chained to `prev`.
    pub(super) fn recomputed_hash(&self, prev: &str) -> String {
        entry_hash(
            &Entry {
                seq: self.seq,
                batch: self.batch,
                revision: self.revision,
                kind: self.kind.as_str(),
                source: &self.source,
                id: &self.id,
                before: self.before.as_deref(),
                after: self.after.as_deref(),
            },
            prev,
        )
    }
}

/// Which entries a [`replay`] walks.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Walk<'a> {
    /// Only entries of revisions up to this one.
    pub(super) up_to_revision: Option<i64>,
    /// Only entries of this site id (of this source, if given).
    pub(super) site: Option<(Option<&'a str>, &'a str)>,
}

/// Walk the change log in entry order, calling `f` with each entry the
/// walk selects.
pub(super) fn replay(
    conn: &Connection,
    path: &Path,
    walk: Walk<'_>,
    mut f: impl FnMut(LogEntry) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let sq = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        cause: source,
    };
    // Separate statements per filter, so that a site's history uses the
    // `changes(site_id)` index instead of a scan.
    let mut filter = Vec::new();
    let mut args: Vec<&dyn rusqlite::ToSql> = Vec::new();
    if let Some(rev) = &walk.up_to_revision {
        filter.push(format!("c.revision <= ?{}", args.len() + 1));
        args.push(rev);
    }
    let (source, id);
    if let Some((s, i)) = walk.site {
        id = i;
        filter.push(format!("c.site_id = ?{}", args.len() + 1));
        args.push(&id);
        if let Some(s) = s {
            source = s;
            filter.push(format!("c.source = ?{}", args.len() + 1));
            args.push(&source);
        }
    }
    // The entry's keys, and the content of the version it filed.
    let columns = SITE_COLUMNS
        .split(", ")
        .map(|c| match c {
            "source" | "site_id" => format!("c.{c}"),
            _ => format!("v.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT c.seq, c.batch, c.revision, c.kind, c.hash_before, c.hash_after, v.hash, c.entry_hash,
                b.imported_at, b.operator, b.file_name, {columns}
         FROM changes c LEFT JOIN versions v ON v.id = c.seq AND c.kind <> 'retired' LEFT JOIN batches b ON b.id = c.batch {} ORDER BY c.seq",
        if filter.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", filter.join(" AND "))
        }
    );
    let mut st = conn.prepare(&sql).map_err(sq)?;
    let mut rs = st.query(args.as_slice()).map_err(sq)?;
    while let Some(r) = rs.next().map_err(sq)? {
        let seq: i64 = r.get(0).map_err(sq)?;
        let kind_text: String = r.get(3).map_err(sq)?;
        let kind: ChangeKind = kind_text.parse().map_err(|e| StoreError::Damaged {
            path: path.to_path_buf(),
            reason: format!("log entry {seq}: {e}"),
        })?;
        let imported_at: Option<i64> = r.get(8).map_err(sq)?;
        let batch_info = match imported_at {
            Some(t) => Some((t, r.get(9).map_err(sq)?, r.get(10).map_err(sq)?)),
            None => None,
        };
        let filed = kind != ChangeKind::Retired;
        let missing_version = filed && !has_version(r, 11).map_err(sq)?;
        let row = if filed && !missing_version {
            Some(SiteRow::read(r, 11).map_err(sq)?)
        } else {
            None
        };
        f(LogEntry {
            seq,
            batch: r.get(1).map_err(sq)?,
            revision: r.get(2).map_err(sq)?,
            kind,
            before: r.get(4).map_err(sq)?,
            after: r.get(5).map_err(sq)?,
            version_hash: r.get(6).map_err(sq)?,
            entry_hash: r.get(7).map_err(sq)?,
            source: r.get(11).map_err(sq)?,
            id: r.get(12).map_err(sq)?,
            row,
            missing_version,
            batch_info,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ChangeKind;

    #[test]
    fn change_kinds_keep_their_stored_names() {
        for (k, name) in [
            (ChangeKind::Added, "added"),
            (ChangeKind::Updated, "updated"),
            (ChangeKind::Retired, "retired"),
        ] {
            assert_eq!(k.as_str(), name);
            assert_eq!(name.parse::<ChangeKind>(), Ok(k));
        }
        assert!("Added".parse::<ChangeKind>().is_err());
    }
}
