//! The import session: one transaction, rows prepared on the other core, the change log chained.

use super::*;

/// One site's key in an import session's set of ids seen ([`site_key`]).
/// Boxed, not a `String`: a million of them are held through a large import.
fn seen_key(source: &str, id: &str) -> Box<str> {
    let mut k = String::new();
    site_key(&mut k, source, id);
    k.into_boxed_str()
}

/// Log entries written per multi-row `INSERT`: SQLite's cost per
/// statement run (cursors opened on the table and its index, the trees
/// descended from their roots, the program halted) is paid once per block
/// instead of once per row.
pub(super) const BLOCK: usize = 32;

/// `(?, …, ?)` groups of `width` parameters, `rows` times, comma-separated.
pub(super) fn value_groups(width: usize, rows: usize) -> String {
    let group = format!("({})", vec!["?"; width].join(", "));
    vec![group; rows].join(", ")
}

/// The log insert for `rows` entries: keys and hashes only (each version's
/// content is stored once, in `versions`).
pub(super) fn insert_changes_sql(rows: usize) -> String {
    format!(
        "INSERT OR ROLLBACK INTO changes (seq, batch, revision, kind, hash_before, hash_after, source, site_id, entry_hash) VALUES {}",
        value_groups(9, rows)
    )
}

/// The version insert for `rows` versions, each numbered by the log entry
/// that files it.
pub(super) fn insert_versions_sql(rows: usize) -> String {
    format!(
        "INSERT OR ROLLBACK INTO versions (id, hash, {SITE_COLUMNS}) VALUES {}",
        value_groups(2 + SITE_COLUMN_COUNT, rows)
    )
}

/// The live rows of log entries `?1..=?2` (just inserted), for a fresh
/// source, which no live row can conflict with: without an upsert clause
/// SQLite needs no statement journal (a conflict, impossible, would roll
/// the import back).
macro_rules! insert_sites_from_log {
    () => {
        "INSERT OR ROLLBACK INTO sites (source, site_id, version, revision)
     SELECT source, site_id, seq, revision FROM changes WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq"
    };
}
pub(super) const INSERT_SITES_FROM_LOG: &str = insert_sites_from_log!();

/// [`INSERT_SITES_FROM_LOG`] for any source: each (source, id) now names
/// the version its entry filed.
pub(super) const UPSERT_SITES_FROM_LOG: &str = concat!(
    insert_sites_from_log!(),
    "
     ON CONFLICT(source, site_id) DO UPDATE SET version = excluded.version, revision = excluded.revision"
);

/// The live site's (version, hash of that version) by source and id; a
/// NULL hash is a live row whose version is missing.
pub(super) const LIVE_HASH: &str = "SELECT s.version, v.hash FROM sites s LEFT JOIN versions v ON v.id = s.version WHERE s.source = ?1 AND s.site_id = ?2";

/// The single-entry log insert (retirements).
pub(super) static INSERT_CHANGE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| insert_changes_sql(1));
/// The block log insert.
pub(super) static INSERT_CHANGES: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| insert_changes_sql(BLOCK));
/// The block version insert.
pub(super) static INSERT_VERSIONS: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| insert_versions_sql(BLOCK));

/// How many rows a load decodes and verifies at a time.
pub(super) const LOAD_CHUNK: usize = 16_384;

/// How many sites an import prepares (canonical rows and hashes, in parallel) at a time.
pub(super) const IMPORT_CHUNK: usize = 8192;

/// One file (or one source of a file) within an import session: its batch row and counts.
pub(super) struct FileBatch {
    /// Whether its `batches` row (and source row) exist yet.
    pub(super) created: bool,
    /// The source had no live sites when this batch began and no earlier batch of the session had it: no lookups needed.
    pub(super) fresh: bool,
    pub(super) source: SourceMeta,
    pub(super) meta: BatchMeta,
    pub(super) batch: i64,
    pub(super) added: usize,
    pub(super) updated: usize,
    pub(super) retired: usize,
    pub(super) unchanged: usize,
    /// Sites pushed and not yet handed to [`ImportSession::add`].
    pub(super) buffer: Vec<Site>,
}

/// A running import: one transaction, streaming sites in chunks so that a
/// file of any size is imported in bounded memory. Nothing is visible to
/// readers until [`ImportSession::commit`]; dropping the session rolls back.
///
/// The whole session is one revision: the registry's revision rises by one
/// if anything changed, and every batch (file) of the session records it.
pub struct ImportSession<'a> {
    pub(super) tx: Transaction<'a>,
    /// Declared after `tx`, so dropped after it: the journal goes back to
    /// the write-ahead log once the transaction has ended.
    pub(super) journal: JournalRestore<'a>,
    /// Declared after `tx` too: foreign-key checks back on once the
    /// transaction has ended.
    pub(super) keys: ForeignKeysRestore<'a>,
    pub(super) path: PathBuf,
    pub(super) old_revision: i64,
    pub(super) chain: Chain,
    pub(super) next_batch: i64,
    pub(super) files: Vec<FileBatch>,
    /// [`site_key`] of every site added in this session, for duplicates
    /// and `--replace`, with the origin its caller gave (a feature number).
    pub(super) seen: HashMap<Box<str>, u64, foldhash::fast::RandomState>,
    pub(super) changed: bool,
    /// For an import into a registry with no live sites: the packed index
    /// built as sites are stored (in rowid order, as [`pack_live`] would),
    /// and their digests for the content hash, so commit need not re-read them.
    pub(super) packer: Option<Packer>,
    /// The last `add`'s sites and their prepared rows, not yet written.
    pub(super) pending: Option<Pending>,
    /// The last written chunk's sites, rows and steps, dropped by the next
    /// chunk's preparing thread instead of the writing one.
    pub(super) written: Option<Pending>,
    /// Time spent storing chunks so far.
    pub(super) storing: std::time::Duration,
    /// Links and unlinks to record at commit: (file, link?, a, b, operator, at, note).
    pub(super) links: Vec<(usize, crate::LinkEntry)>,
}

/// A registry switched to a rollback journal for one import (see
/// `Registry::write_once_if_empty`), switched back to the write-ahead log
/// when dropped. Should that fail (a reader holds it), the registry stays
/// correct in rollback mode and the next writer to open it switches back.
pub(super) struct JournalRestore<'a>(pub(super) Option<&'a Connection>);

impl Drop for JournalRestore<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            let _ = c.pragma_update(None, "journal_mode", "WAL");
        }
    }
}

/// A connection whose foreign-key checks are off for one import (see
/// `Registry::begin_import`), switched back on when dropped — after the
/// session's transaction, inside which SQLite ignores the setting.
pub(super) struct ForeignKeysRestore<'a>(pub(super) &'a Connection);

impl Drop for ForeignKeysRestore<'_> {
    fn drop(&mut self) {
        let _ = self.0.pragma_update(None, "foreign_keys", "ON");
    }
}

impl std::fmt::Debug for ForeignKeysRestore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("off until the transaction ends")
    }
}

impl std::fmt::Debug for JournalRestore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "rollback journal, then WAL"
        } else {
            "WAL"
        })
    }
}

/// Sites given to [`ImportSession::add`] with their rows and hashes, waiting to be written.
pub(super) struct Pending {
    pub(super) file: usize,
    pub(super) sites: Vec<Site>,
    pub(super) rows: Vec<(SiteRow, String)>,
    /// The changes, already decided and chained (a fresh source's sites,
    /// planned beside the previous write); `None`: decide them when writing.
    pub(super) steps: Option<Vec<Step>>,
    /// Packed-index chunks produced while planning, to be stored.
    pub(super) chunks: MemoryChunks,
}

/// One site's change, decided and chained: `rows[idx]` becomes log entry `seq`.
pub(super) struct Step {
    pub(super) idx: usize,
    pub(super) kind: ChangeKind,
    pub(super) before: Option<String>,
    pub(super) seq: i64,
    pub(super) entry: String,
}

/// The change log's head as an import extends it.
#[derive(Default)]
pub(super) struct Chain {
    pub(super) seq: i64,
    pub(super) prev: String,
    pub(super) revision: i64,
}

impl Chain {
    /// The next entry's number, its predecessor's hash and its own hash.
    pub(super) fn next(
        &mut self,
        batch: i64,
        kind: ChangeKind,
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
                kind: kind.as_str(),
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
pub(super) type Packer = (PackedBuilder, Vec<[u8; 32]>);

/// Decide and chain one site's change (`kind`, replacing `before`), and pack it.
#[allow(clippy::too_many_arguments)] // the change's parts, each distinct
pub(super) fn plan_one(
    idx: usize,
    (row, hash): &(SiteRow, String),
    site: &Site,
    kind: ChangeKind,
    before: Option<String>,
    batch: i64,
    chain: &mut Chain,
    packer: Option<&mut Packer>,
    sink: &mut dyn ChunkSink,
    path: &Path,
) -> Result<Step, StoreError> {
    let (seq, _, entry) = chain.next(
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
        entry,
    })
}

/// The canonical rows and site hashes of `sites` (in parallel); every site
/// must belong to `source`.
pub(super) fn prepare_rows(
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
            let hash = row.hash_of(s);
            Ok((row, hash))
        })
        .collect()
}

impl std::fmt::Debug for ImportSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportSession")
            .field("path", &self.path)
            .field("journal", &self.journal)
            .field("foreign_keys", &self.keys)
            .field("files", &self.files.len())
            .finish()
    }
}

/// A handle to one file's batch within an [`ImportSession`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHandle(usize);

impl ImportSession<'_> {
    pub(super) fn sq(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            cause: source,
        }
    }

    /// The origin given with the site of this source and id already pushed
    /// (or claimed) in this session, if there is one.
    pub fn first_seen(&self, source: &str, id: &str) -> Option<u64> {
        self.seen.get(&seen_key(source, id)).copied()
    }

    /// Claim `source`/`id` for this session with `origin` (a feature
    /// number): `Some(earlier origin)` if it was claimed or pushed before,
    /// and then nothing changes. One lookup, where [`ImportSession::first_seen`]
    /// and [`ImportSession::push`] make two; follow it with
    /// [`ImportSession::push_claimed`].
    pub fn claim(&mut self, source: &str, id: &str, origin: u64) -> Option<u64> {
        match self.seen.entry(seen_key(source, id)) {
            std::collections::hash_map::Entry::Occupied(o) => Some(*o.get()),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(origin);
                None
            }
        }
    }

    /// Add one site to a file's batch (upsert by source and id). `origin`
    /// is the caller's tag for where it came from (a feature number), given
    /// back by [`ImportSession::first_seen`]. A (source, id) already pushed
    /// in this session is an error. Sites are buffered and stored in chunks
    /// whose size is the session's concern; an error in a chunk may
    /// surface from a later push or from [`ImportSession::commit`].
    pub fn push(&mut self, file: FileHandle, site: Site, origin: u64) -> Result<(), StoreError> {
        if self.claim(&site.source, &site.id, origin).is_some() {
            return Err(StoreError::BadSite {
                path: self.path.clone(),
                source_name: site.source.clone(),
                id: site.id.clone(),
                reason: "duplicate id in one import".into(),
            });
        }
        self.push_claimed(file, site)
    }

    /// [`ImportSession::push`] for a site whose source and id this session
    /// has just [claimed](ImportSession::claim) (and had not before).
    pub fn push_claimed(&mut self, file: FileHandle, site: Site) -> Result<(), StoreError> {
        debug_assert!(self.first_seen(&site.source, &site.id).is_some());
        let buffer = &mut self.files[file.0].buffer;
        buffer.push(site);
        if buffer.len() >= IMPORT_CHUNK {
            // Allocated whole: grown a push at a time, it was copied a dozen
            // times a chunk on the writing thread.
            let chunk = std::mem::replace(buffer, Vec::with_capacity(IMPORT_CHUNK));
            self.store(file.0, chunk)?;
        }
        Ok(())
    }

    /// Declare `source`'s coverage (replacing what it had) when the import
    /// commits: it is logged with the source and, if it changed, makes a new
    /// revision even when no site changed.
    pub fn set_coverage(&mut self, source: &str, coverage: SourceCoverage) {
        for f in self.files.iter_mut().filter(|f| f.source.name == source) {
            f.source.coverage = Some(coverage.clone());
        }
    }

    /// Record at commit that `a` and `b` (`SOURCE/ID` keys, either order)
    /// are linked (`link`) or no longer are, as part of `file`'s batch: an
    /// entry of the link log and a new revision.
    pub fn link(
        &mut self,
        file: FileHandle,
        link: bool,
        a: &str,
        b: &str,
        operator: &str,
        note: Option<&str>,
    ) {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        self.links.push((
            file.0,
            crate::LinkEntry {
                batch: 0,
                revision: 0,
                link,
                a: a.to_string(),
                b: b.to_string(),
                operator: operator.to_string(),
                at: nostrike_core::time::now(),
                note: note.map(str::to_string),
            },
        ));
    }

    /// Set the SHA-256 of a file's bytes, as its batch records it at commit
    /// (for a caller that hashes the file while its sites are pushed).
    pub fn set_file_sha256(&mut self, file: FileHandle, sha256: &str) {
        self.files[file.0].meta.file_sha256 = sha256.to_string();
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
            buffer: Vec::new(),
        });
        FileHandle(self.files.len() - 1)
    }

    pub(super) fn ensure_batch_row(&mut self, f: usize) -> Result<(), StoreError> {
        if self.files[f].created {
            return Ok(());
        }
        let fb = &self.files[f];
        if let Some(reason) = crate::sources::source_name_problem(&fb.source.name) {
            return Err(StoreError::BadSource {
                path: self.path.clone(),
                name: fb.source.name.clone(),
                reason,
            });
        }
        self.files[f].created = true;
        let fb = &self.files[f];
        let (s, m, batch) = (&fb.source, &fb.meta, fb.batch);
        self.tx
            .execute(
                "INSERT INTO sources (name, description, licence, attribution, url, coverage, coverage_how) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(name) DO UPDATE SET description = coalesce(excluded.description, description),
                   licence = coalesce(excluded.licence, licence), attribution = coalesce(excluded.attribution, attribution),
                   url = coalesce(excluded.url, url), coverage = coalesce(excluded.coverage, coverage),
                   coverage_how = CASE WHEN excluded.coverage IS NULL THEN coverage_how ELSE excluded.coverage_how END",
                params![
                    s.name,
                    s.description,
                    s.licence,
                    s.attribution,
                    s.url,
                    s.coverage.as_ref().map(|c| &c.wkb),
                    s.coverage.as_ref().map(|c| &c.how)
                ],
            )
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

    /// A live row naming a version `versions` does not hold.
    fn missing_live_version(&self, source: &str, id: &str, version: i64) -> StoreError {
        StoreError::Damaged {
            path: self.path.clone(),
            reason: missing_version(source, id, version),
        }
    }

    /// Append a retirement to the change log.
    pub(super) fn log_retired(
        &mut self,
        batch: i64,
        before: &str,
        src: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let (seq, _, h) = self
            .chain
            .next(batch, ChangeKind::Retired, Some(before), None, src, id);
        self.changed = true;
        let mut st = self.tx.prepare_cached(&INSERT_CHANGE).map_err(self.sq())?;
        // A retirement files no version: its `hash_after` is NULL.
        st.execute(params![
            seq,
            batch,
            self.old_revision + 1,
            ChangeKind::Retired,
            before,
            rusqlite::types::Null,
            src,
            id,
            h
        ])
        .map_err(self.sq())?;
        Ok(())
    }

    /// Time spent storing chunks so far (preparing rows, writing sites and
    /// log entries), for the caller's timings.
    pub fn storing_time(&self) -> std::time::Duration {
        self.storing
    }

    /// Store what is buffered for a file now (the end of the file): its
    /// sites reach the log before those of files pushed after it.
    pub fn end_file(&mut self, file: FileHandle) -> Result<(), StoreError> {
        let rest = std::mem::take(&mut self.files[file.0].buffer);
        if rest.is_empty() {
            return Ok(());
        }
        self.store(file.0, rest)
    }

    /// Store a chunk of sites already noted as seen, all of the file's source.
    ///
    /// The sites' rows and hashes are prepared on the other cores while the
    /// previous chunk's sites are written, so they reach the database one
    /// call later (or at [`ImportSession::commit`]); an error in them may
    /// therefore surface from the next call.
    fn store(&mut self, f: usize, sites: Vec<Site>) -> Result<(), StoreError> {
        let t = std::time::Instant::now();
        let r = self.store_untimed(f, sites);
        self.storing += t.elapsed();
        r
    }

    fn store_untimed(&mut self, f: usize, sites: Vec<Site>) -> Result<(), StoreError> {
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
        let waste = self.written.take();
        let (prepared, written) = std::thread::scope(|scope| {
            let prep = scope.spawn(|| {
                drop(waste);
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
                            ChangeKind::Added,
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
                Some(p) => self.write(p).map(|done| self.written = Some(done)),
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
    /// its log entry, and write the sites and entries in blocks. Gives back
    /// what it wrote, for the caller to drop where it costs least.
    pub(super) fn write(&mut self, p: Pending) -> Result<Pending, StoreError> {
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
        // Bound without copies (`bulk`): one statement pair for the full
        // blocks of BLOCK rows, and one for the last, shorter block.
        let prepare = |sql: &str| bulk::Bulk::prepare(&self.tx, sql).map_err(self.sq());
        let mut full = if steps.len() >= BLOCK {
            Some((prepare(&INSERT_VERSIONS)?, prepare(&INSERT_CHANGES)?))
        } else {
            None
        };
        let mut vp: Vec<bulk::Value<'_>> = Vec::with_capacity(BLOCK * (2 + SITE_COLUMN_COUNT));
        let mut cp: Vec<bulk::Value<'_>> = Vec::with_capacity(BLOCK * 9);
        for block in steps.chunks(BLOCK) {
            vp.clear();
            cp.clear();
            for p in block {
                let (r, hash) = &rows[p.idx];
                vp.extend_from_slice(&[
                    p.seq.into(),
                    hash.into(),
                    (&r.source).into(),
                    (&r.id).into(),
                    (&r.name).into(),
                    (&r.category).into(),
                    (&r.protection).into(),
                    (&r.designations).into(),
                    r.geometry.as_slice().into(),
                    r.standoff_m.into(),
                    r.positional_accuracy_m.into(),
                    r.valid_from.into(),
                    r.valid_to.into(),
                    r.last_verified.as_deref().into(),
                    (&r.properties).into(),
                    r.extensions.as_deref().into(),
                ]);
                cp.extend_from_slice(&[
                    p.seq.into(),
                    batch.into(),
                    revision.into(),
                    p.kind.as_str().into(),
                    p.before.as_deref().into(),
                    hash.into(),
                    (&r.source).into(),
                    (&r.id).into(),
                    (&p.entry).into(),
                ]);
            }
            match full.as_mut().filter(|_| block.len() == BLOCK) {
                Some((versions, changes)) => {
                    versions.execute(&vp).map_err(self.sq())?;
                    changes.execute(&cp).map_err(self.sq())?;
                }
                None => {
                    prepare(&insert_versions_sql(block.len()))?
                        .execute(&vp)
                        .map_err(self.sq())?;
                    prepare(&insert_changes_sql(block.len()))?
                        .execute(&cp)
                        .map_err(self.sq())?;
                }
            }
        }
        // The steps' entries are consecutive (retirements come only at commit).
        if let (Some(first), Some(last)) = (steps.first(), steps.last()) {
            debug_assert_eq!(last.seq - first.seq + 1, steps.len() as i64);
            let sql = if self.files[f].fresh {
                INSERT_SITES_FROM_LOG
            } else {
                UPSERT_SITES_FROM_LOG
            };
            self.tx
                .prepare_cached(sql)
                .and_then(|mut st| st.execute(params![first.seq, last.seq]))
                .map_err(self.sq())?;
        }
        Ok(Pending {
            file: f,
            sites,
            rows,
            steps: Some(steps),
            chunks,
        })
    }

    /// Decide each site's change against the live rows (added, updated or
    /// unchanged), chain the log entries and pack the sites, in order.
    pub(super) fn plan(
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
                let live: Option<(i64, Option<String>)> = self
                    .tx
                    .prepare_cached(LIVE_HASH)
                    .and_then(|mut st| {
                        st.query_row(params![row.source, row.id], |r| Ok((r.get(0)?, r.get(1)?)))
                            .optional()
                    })
                    .map_err(self.sq())?;
                match live {
                    None => None,
                    Some((_, Some(h))) => Some(h),
                    Some((version, None)) => {
                        return Err(self.missing_live_version(&row.source, &row.id, version))
                    }
                }
            };
            if before.as_deref() == Some(hash.as_str()) {
                self.files[f].unchanged += 1;
                continue;
            }
            let kind = if before.is_some() {
                self.files[f].updated += 1;
                ChangeKind::Updated
            } else {
                self.files[f].added += 1;
                ChangeKind::Added
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
        for f in 0..self.files.len() {
            self.end_file(FileHandle(f))?;
        }
        if let Some(p) = self.pending.take() {
            self.write(p)?;
        }
        self.written = None;
        for f in 0..self.files.len() {
            self.ensure_batch_row(f)?;
            // The source as this file left it (metadata, coverage) is logged
            // once; a new coverage makes a new revision even with no site changed.
            let (name, batch) = (self.files[f].source.name.clone(), self.files[f].batch);
            if let Some(c) = &self.files[f].source.coverage {
                self.tx
                    .execute(
                        "UPDATE sources SET coverage = ?2, coverage_how = ?3 WHERE name = ?1",
                        params![name, c.wkb, c.how],
                    )
                    .map_err(self.sq())?;
            }
            if crate::sources::record(&self.tx, &name, batch, self.old_revision + 1)
                .map_err(self.sq())?
            {
                self.changed = true;
            }
            if !self.files[f].meta.replace {
                continue;
            }
            let source = self.files[f].source.name.clone();
            let live: Vec<(String, i64, Option<String>)> = {
                let mut st = self
                    .tx
                    .prepare("SELECT s.site_id, s.version, v.hash FROM sites s LEFT JOIN versions v ON v.id = s.version WHERE s.source = ?1 ORDER BY s.site_id")
                    .map_err(self.sq())?;
                let v = st
                    .query_map([&source], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(self.sq())?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(self.sq())?;
                v
            };
            let batch = self.files[f].batch;
            for (id, version, before) in live {
                let Some(before) = before else {
                    return Err(self.missing_live_version(&source, &id, version));
                };
                if self.seen.contains_key(&seen_key(&source, &id)) {
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
        for (f, mut e) in std::mem::take(&mut self.links) {
            e.batch = self.files[f].batch;
            e.revision = self.old_revision + 1;
            crate::links::record(&self.tx, &e).map_err(self.sq())?;
            self.changed = true;
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
            let batch_rows = self
                .tx
                .execute(
                    "UPDATE batches SET revision = ?2, added = ?3, updated = ?4, retired = ?5, unchanged = ?6, content_hash = ?7, log_head = ?8, file_sha256 = ?9 WHERE id = ?1",
                    params![fb.batch, revision, fb.added as i64, fb.updated as i64, fb.retired as i64, fb.unchanged as i64, content, self.chain.prev, fb.meta.file_sha256],
                )
                .map_err(self.sq())?;
            // What SQLite's foreign-key checks (off for the import, see
            // `Registry::begin_import`) would have refused at commit: a
            // row naming a batch or a source that is not there.
            let source_row: bool = self
                .tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM sources WHERE name = ?1)",
                    [&fb.source.name],
                    |r| r.get(0),
                )
                .map_err(self.sq())?;
            if batch_rows != 1 || !source_row {
                return Err(StoreError::Damaged {
                    path: self.path.clone(),
                    reason: format!(
                        "the import of {:?} wrote rows naming {} that the registry does not hold; nothing was committed",
                        fb.meta.file_name,
                        if batch_rows != 1 {
                            format!("batch {}", fb.batch)
                        } else {
                            format!("source {:?}", fb.source.name)
                        }
                    ),
                });
            }
            out.push(ImportSummary {
                file_name: fb.meta.file_name.clone(),
                source: fb.source.name.clone(),
                batch: fb.batch,
                added: fb.added,
                updated: fb.updated,
                retired: fb.retired,
                unchanged: fb.unchanged,
                revision,
                content_hash: content.parse().map_err(|e| StoreError::Damaged {
                    path: self.path.clone(),
                    reason: format!("content hash: {e}"),
                })?,
            });
        }
        self.tx
            .execute("INSERT INTO meta (key, value) VALUES ('revision', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [revision.to_string()])
            .map_err(self.sq())?;
        self.tx
            .execute("INSERT INTO meta (key, value) VALUES ('content_hash', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [&content])
            .map_err(self.sq())?;
        let path = self.path.clone();
        self.tx.commit().map_err(|source| StoreError::Sqlite {
            path,
            cause: source,
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(source: &str, file: &str, replace: bool) -> (SourceMeta, BatchMeta) {
        let source = SourceMeta {
            name: source.into(),
            ..Default::default()
        };
        let meta = BatchMeta {
            file_name: file.into(),
            file_sha256: "00".into(),
            format: "geojson".into(),
            operator: "tester".into(),
            imported_at: 1_700_000_000,
            replace,
        };
        (source, meta)
    }

    fn sites(source: &str, ids: std::ops::Range<usize>, name: &str) -> Vec<Site> {
        ids.map(|i| {
            let p = geo_types::point!(x: i as f64 * 0.001, y: 45.0);
            let mut s = Site::new(format!("s{i}"), source, Category::Museum, p.into());
            s.name = name.into();
            s
        })
        .collect()
    }

    fn foreign_keys_on(reg: &Registry) -> bool {
        reg.conn
            .pragma_query_value(None, "foreign_keys", |r| r.get::<_, bool>(0))
            .unwrap()
    }

    /// A live row naming a source the registry does not hold, written
    /// outside any import: refused while foreign keys are checked.
    fn orphan_row_refused(reg: &Registry) -> bool {
        reg.conn
            .execute(
                "INSERT INTO sites (source, site_id, version, revision) VALUES ('nowhere', 'x', 1, 1)",
                [],
            )
            .is_err()
    }

    /// The import switches SQLite's foreign-key checks off for its own
    /// transaction; however the session ends — committed, dropped, or
    /// refused — the connection checks them again afterwards.
    #[test]
    fn foreign_keys_are_checked_again_however_an_import_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::create(&dir.path().join("r.db")).unwrap();
        let (source, meta) = batch("src", "a.geojson", false);
        assert!(foreign_keys_on(&reg));
        {
            let mut session = reg.begin_import().unwrap();
            let f = session.file(&source, &meta);
            for s in sites("src", 0..50, "first") {
                session.push(f, s, 0).unwrap();
            }
            let off: bool = session
                .tx
                .pragma_query_value(None, "foreign_keys", |r| r.get(0))
                .unwrap();
            assert!(!off, "the import's transaction runs without the checks");
            session.commit().unwrap();
        }
        assert!(foreign_keys_on(&reg), "after a commit");
        assert!(orphan_row_refused(&reg), "after a commit");
        {
            let mut session = reg.begin_import().unwrap();
            let f = session.file(&source, &meta);
            session
                .push(f, sites("src", 0..1, "x").remove(0), 0)
                .unwrap();
        }
        assert!(foreign_keys_on(&reg), "after a session dropped");
        assert!(orphan_row_refused(&reg), "after a session dropped");
        let twice = [sites("src", 0..1, "x"), sites("src", 0..1, "y")].concat();
        assert!(reg.import(&source, &meta, &twice).is_err());
        assert!(foreign_keys_on(&reg), "after an import refused");
        assert!(orphan_row_refused(&reg), "after an import refused");
    }

    /// What the foreign keys guarded still holds without SQLite's checks:
    /// after imports that add, update, retire (`--replace`) and import two
    /// sources in one session, no row names a batch or a source the
    /// registry lacks (`PRAGMA foreign_key_check`).
    #[test]
    fn imports_leave_no_row_without_its_batch_or_source() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::create(&dir.path().join("r.db")).unwrap();
        let (a, ma) = batch("a", "a.geojson", false);
        let (b, mb) = batch("b", "b.geojson", false);
        let (_, replace) = batch("a", "a2.geojson", true);
        reg.import(&a, &ma, &sites("a", 0..300, "one")).unwrap();
        let two = [
            (a.clone(), &sites("a", 100..400, "two")[..], ma.clone()),
            (b.clone(), &sites("b", 0..200, "one")[..], mb.clone()),
        ];
        reg.import_many(&two).unwrap();
        reg.import(&a, &replace, &sites("a", 0..50, "three"))
            .unwrap();
        let retired: i64 = reg
            .conn
            .query_row(
                "SELECT count(*) FROM changes WHERE kind = 'retired'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(retired, 350);
        let orphans: Vec<(String, i64)> = reg
            .conn
            .prepare("SELECT \"table\", rowid FROM pragma_foreign_key_check")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(orphans, vec![]);
    }

    /// The set of ids an import session has seen joined source and id with
    /// a unit separator (U+001F): source `a` with id `b␟c` and source `a␟b`
    /// with id `c` were one key — the second refused as a duplicate, and
    /// under `--replace` a site of one counted as seen for the other. (A
    /// source can no longer hold a control character, so the claims are
    /// made directly.)
    #[test]
    fn claims_of_a_source_and_id_joined_by_a_unit_separator_were_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::create(&dir.path().join("r.db")).unwrap();
        let mut session = reg.begin_import().unwrap();
        assert_eq!(session.claim("a", "b\u{1f}c", 1), None);
        assert_eq!(session.claim("a\u{1f}b", "c", 2), None);
        assert_eq!(session.claim("a", "b\u{1f}c", 3), Some(1));
        assert_eq!(session.first_seen("a\u{1f}b", "c"), Some(2));
        assert_eq!(session.first_seen("a\u{1f}", "bc"), None);
    }

    /// A source named with a `/` was stored, and then none of its sites
    /// could be named: `show a/b/x` read source `a`, id `b/x`. Such names,
    /// empty ones and ones with control characters are refused, and the
    /// import leaves nothing behind.
    #[test]
    fn a_source_named_with_a_slash_left_its_sites_unnamable() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::create(&dir.path().join("r.db")).unwrap();
        for (name, says) in [
            ("a/b", "holds '/'"),
            ("", "needs a name"),
            ("  ", "needs a name"),
            ("x\u{1f}y", "U+001F"),
            ("tab\there", "U+0009"),
        ] {
            let (source, meta) = batch(name, "a.geojson", false);
            let err = reg
                .import(&source, &meta, &sites(name, 0..3, "n"))
                .unwrap_err();
            assert!(
                matches!(&err, StoreError::BadSource { reason, .. } if reason.contains(says)),
                "{name:?}: {err}"
            );
            assert_eq!(reg.revision().unwrap(), 0, "{name:?}");
        }
        let (source, meta) = batch("OSM (Andorra) – 2013: monuments", "a.geojson", false);
        let sites = sites(&source.name, 0..3, "n");
        assert_eq!(reg.import(&source, &meta, &sites).unwrap().added, 3);
    }

    /// Without SQLite's foreign-key checks, commit itself refuses an import
    /// whose file's batch or source row is gone (deleted here inside the
    /// session's transaction), and nothing of it is committed.
    #[test]
    fn an_import_whose_batch_or_source_row_vanished_is_refused_at_commit() {
        for parent in [
            "DELETE FROM batches",
            "DELETE FROM source_log; DELETE FROM sources",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut reg = Registry::create(&dir.path().join("r.db")).unwrap();
            let (source, meta) = batch("src", "a.geojson", false);
            let mut session = reg.begin_import().unwrap();
            let f = session.file(&source, &meta);
            for s in sites("src", 0..40, "n") {
                session.push(f, s, 0).unwrap();
            }
            session.end_file(f).unwrap();
            if let Some(p) = session.pending.take() {
                let p = session.write(p).unwrap();
                session.written = Some(p);
            }
            session.tx.execute_batch(parent).unwrap();
            let err = session.commit().unwrap_err();
            assert!(
                matches!(&err, StoreError::Damaged { reason, .. } if reason.contains("does not hold")),
                "{parent}: {err}"
            );
            assert_eq!(reg.revision().unwrap(), 0, "{parent}");
            let rows: i64 = reg
                .conn
                .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
                .unwrap();
            assert_eq!(rows, 0, "{parent}");
        }
    }
}
