//! `verify`: every check a registry can be put to, one function each, all
//! run in one read transaction so they see one revision.

use super::*;

/// What the log says the live rows should be, by [`rows::site_key`], and where
/// the log ends.
struct Replayed {
    expected: HashMap<Box<str>, Expected, foldhash::fast::RandomState>,
    head: String,
    max_revision: i64,
}

/// A site's last log entry, as the replay found it.
struct Expected {
    /// The entry's number: the version it filed.
    seq: i64,
    /// The site hash it records.
    after: String,
    /// Whether the version it filed is there, carries `after` as its hash,
    /// and its content (with the entry's source and id) hashes to `after`:
    /// a live row naming this version under these keys is then that
    /// content, already checked, and need not be read and hashed again.
    sound: bool,
}

impl Registry {
    /// Check everything: SQLite integrity, the hash chain of the change log,
    /// each entry's hash of the site it records, that the live rows are
    /// exactly what the log says they should be, the recorded content hash
    /// and revision, the source log, the last batch's log head and the
    /// packed index. Returns every finding (empty when all is well).
    pub fn verify(&self) -> Result<Vec<Finding>, StoreError> {
        Ok(self.verify_state()?.findings)
    }

    /// [`Registry::verify`], with the revision and content hash of the one
    /// commit every check read — the state the findings are about, even
    /// when an import commits meanwhile (read after the checks, they named
    /// the next revision as the one verified).
    pub fn verify_state(&self) -> Result<Verified, StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let mut findings = self.integrity()?;
        let replayed = self.log_chain(&tx, &mut findings)?;
        let head = replayed.head.clone();
        let max_revision = replayed.max_revision;
        self.live_rows(&tx, replayed.expected, &mut findings)?;
        self.unfiled_versions(&tx, &mut findings)?;
        self.orphans(&tx, &mut findings)?;
        let revision = self.revision()?;
        // Coverage changes and links make revisions of their own, with no site change.
        let reached = max_revision
            .max(crate::sources::last_coverage_revision(&tx).map_err(|e| self.err(e))?)
            .max(crate::links::last_revision(&tx).map_err(|e| self.err(e))?);
        if revision != reached {
            findings.push(Finding::new(
                FindingKind::Revision,
                format!(
                    "registry records revision {revision}, the change, coverage and link logs reach {reached}"
                ),
            ));
        }
        for detail in crate::links::verify(&tx).map_err(|e| self.err(e))? {
            findings.push(Finding::new(FindingKind::Link, detail));
        }
        for detail in crate::sources::verify(&tx).map_err(|e| self.err(e))? {
            findings.push(Finding::new(FindingKind::Source, detail));
        }
        self.log_head(&tx, &head, &mut findings)?;
        self.packed(&tx, revision, &mut findings)?;
        // Unreadable, it is a `ContentHash` finding of `live_rows` already.
        let content_hash = self.content_hash().ok();
        tx.finish().map_err(|e| self.err(e))?;
        Ok(Verified {
            findings,
            revision,
            content_hash,
        })
    }

    /// SQLite's own `integrity_check`.
    fn integrity(&self) -> Result<Vec<Finding>, StoreError> {
        let mut st = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.err(e))?;
        let lines: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        if lines == ["ok"] {
            return Ok(Vec::new());
        }
        Ok(lines
            .into_iter()
            .map(|d| Finding::new(FindingKind::Integrity, d))
            .collect())
    }

    /// The change log's chain: numbering without gaps, each entry linked to
    /// the one before and hashing to its stored hash, each recorded site
    /// hashing to the entry's `after`. Returns what the live rows should be.
    fn log_chain(
        &self,
        tx: &Connection,
        findings: &mut Vec<Finding>,
    ) -> Result<Replayed, StoreError> {
        let mut out = Replayed {
            expected: HashMap::default(),
            head: GENESIS.to_string(),
            max_revision: 0,
        };
        let mut key = String::new();
        let mut next_seq = 1i64;
        replay(tx, &self.path, Walk::default(), |e| {
            let (seq, src, id) = (e.seq, &e.source, &e.id);
            out.max_revision = out.max_revision.max(e.revision);
            let chain = |detail: String| Finding::new(FindingKind::Chain, detail);
            if seq != next_seq {
                findings.push(chain(format!(
                    "log entries {next_seq}…{} are missing",
                    seq - 1
                )));
            }
            next_seq = seq + 1;
            if e.recomputed_hash(&out.head) != e.entry_hash {
                findings.push(chain(format!(
                    "log entry {seq} ({src}/{id}) was altered or does not link to the entry before it: its hash does not match its content and the entry hash before it"
                )));
            }
            let stored_as_filed = e.row.is_none() || e.version_hash == e.after;
            if !stored_as_filed {
                findings.push(chain(format!(
                    "log entry {seq} ({src}/{id}): the version it filed carries another hash"
                )));
            }
            site_key(&mut key, src, id);
            if e.missing_version {
                findings.push(chain(format!(
                    "log entry {seq} ({src}/{id}): the version it filed is missing (deleted outside nostrike?)"
                )));
                out.expected.insert(
                    key.as_str().into(),
                    Expected {
                        seq,
                        after: e.after.clone().unwrap_or_default(),
                        sound: false,
                    },
                );
                out.head = e.entry_hash;
                return Ok(());
            }
            match &e.row {
                None => {
                    out.expected.remove(key.as_str());
                }
                Some(row) => {
                    let hashes = match row.hash() {
                        Ok(rh) if Some(&rh) == e.after.as_ref() => true,
                        Ok(_) => {
                            findings.push(chain(format!(
                                "log entry {seq} ({src}/{id}): the site it records does not match its hash"
                            )));
                            false
                        }
                        Err(r) => {
                            findings.push(chain(format!("log entry {seq} ({src}/{id}): {r}")));
                            false
                        }
                    };
                    out.expected.insert(
                        key.as_str().into(),
                        Expected {
                            seq,
                            after: e.after.clone().unwrap_or_default(),
                            sound: hashes && stored_as_filed,
                        },
                    );
                }
            }
            out.head = e.entry_hash;
            Ok(())
        })?;
        Ok(out)
    }

    /// The live rows against their own hashes and against the log, and the
    /// recorded content hash against the rows.
    ///
    /// A live row naming the version its site's last log entry filed, which
    /// the replay found sound, is that content under those keys, already
    /// hashed: only its keys and version are read. Any other live row is
    /// read whole and hashed here.
    fn live_rows(
        &self,
        tx: &Connection,
        mut expected: HashMap<Box<str>, Expected, foldhash::fast::RandomState>,
        findings: &mut Vec<Finding>,
    ) -> Result<(), StoreError> {
        let site = |detail: String| Finding::new(FindingKind::Site, detail);
        let mut keys = tx
            .prepare("SELECT source, site_id, version, rowid FROM sites")
            .map_err(|e| self.err(e))?;
        let mut whole = tx
            .prepare(&format!(
                "SELECT {SITE_COLUMNS}, hash, version FROM live_sites WHERE live_order = ?1"
            ))
            .map_err(|e| self.err(e))?;
        let mut rs = keys.query([]).map_err(|e| self.err(e))?;
        let mut live_hashes = Vec::with_capacity(expected.len());
        let mut key = String::new();
        while let Some(r) = rs.next().map_err(|e| self.err(e))? {
            let text = |at| -> Result<&str, StoreError> {
                r.get_ref(at)
                    .and_then(|v| v.as_str().map_err(Into::into))
                    .map_err(|e| self.err(e))
            };
            let (s, i) = (text(0)?, text(1)?);
            let version: i64 = r.get(2).map_err(|e| self.err(e))?;
            site_key(&mut key, s, i);
            let last = match expected.remove(key.as_str()) {
                Some(e) if e.sound && e.seq == version => {
                    live_hashes.push(e.after);
                    continue;
                }
                last => last,
            };
            let rowid: i64 = r.get(3).map_err(|e| self.err(e))?;
            let mut rows = whole.query([rowid]).map_err(|e| self.err(e))?;
            let Some(r) = rows.next().map_err(|e| self.err(e))? else {
                return Err(self.damaged(format!(
                    "live row {rowid} ({s}/{i}) vanished while verify read it"
                )));
            };
            let (row, stored) = match read_live(r).map_err(|e| self.err(e))? {
                Ok(x) => x,
                Err(detail) => {
                    findings.push(site(detail));
                    continue;
                }
            };
            let actual = row.hash().unwrap_or_else(|e| {
                findings.push(site(format!("site {s}/{i}: {e}")));
                String::new()
            });
            if actual != stored {
                findings.push(site(format!(
                    "site {s}/{i} was edited: its content does not match its recorded hash"
                )));
            }
            match last {
                None => findings.push(site(format!(
                    "site {s}/{i} is not in the change log (inserted outside nostrike)"
                ))),
                Some(e) if e.after != actual => findings.push(site(format!(
                    "site {s}/{i} differs from its last change-log entry"
                ))),
                Some(_) => {}
            }
            live_hashes.push(actual);
        }
        let mut missing: Vec<_> = expected.keys().map(|k| split_site_key(k)).collect();
        missing.sort();
        for (s, i) in missing {
            findings.push(site(format!(
                "site {s}/{i} is missing (deleted outside nostrike)"
            )));
        }
        // As raw digests when every hash is one (sorted in parallel, ~10×
        // faster than the texts; the same hash, see `content_hash_of_digests`).
        let digests: Option<Vec<[u8; 32]>> = live_hashes
            .iter()
            .map(|h| crate::canonical::parse_hex(h))
            .collect();
        let recomputed = match digests {
            Some(mut d) => crate::canonical::content_hash_of_digests(&mut d),
            None => content_hash(&mut live_hashes),
        };
        let recorded = self.content_hash_text()?;
        if recomputed != recorded {
            findings.push(Finding::new(
                FindingKind::ContentHash,
                format!("live sites hash to {recomputed}, registry records {recorded}"),
            ));
        }
        Ok(())
    }

    /// Versions no log entry filed: inserted outside nostrike (every
    /// version nostrike stores is named by the entry that filed it).
    fn unfiled_versions(
        &self,
        tx: &Connection,
        findings: &mut Vec<Finding>,
    ) -> Result<(), StoreError> {
        let mut st = tx
            .prepare(
                "SELECT hash, source, site_id FROM versions v
                 WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.seq = v.id AND c.kind <> 'retired')
                 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (hash, s, i) = row.map_err(|e| self.err(e))?;
            findings.push(Finding::new(
                FindingKind::Site,
                format!("version {hash} of site {s}/{i} was filed by no log entry (inserted outside nostrike)"),
            ));
        }
        Ok(())
    }

    /// Rows whose parent is gone — what the schema's foreign keys refuse
    /// while SQLite checks them, which a connection does not by default
    /// (the `sqlite3` shell's): live sites naming a source the registry no
    /// longer holds, log entries naming a batch (who imported what file,
    /// when) it no longer holds. One finding a missing parent, with its
    /// count. Neither is in any hash, so nothing else would see it.
    fn orphans(&self, tx: &Connection, findings: &mut Vec<Finding>) -> Result<(), StoreError> {
        let queries = [
            (
                FindingKind::Source,
                "SELECT source, count(*), min(site_id) FROM sites
                 WHERE source NOT IN (SELECT name FROM sources) GROUP BY source ORDER BY source",
            ),
            (
                FindingKind::Chain,
                "SELECT batch, count(*), min(seq) FROM changes
                 WHERE batch NOT IN (SELECT id FROM batches) GROUP BY batch ORDER BY batch",
            ),
        ];
        for (kind, sql) in queries {
            let mut st = tx.prepare(sql).map_err(|e| self.err(e))?;
            let rows = st
                .query_map([], |r| {
                    Ok((
                        r.get::<_, rusqlite::types::Value>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, rusqlite::types::Value>(2)?,
                    ))
                })
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (parent, count, first) = row.map_err(|e| self.err(e))?;
                let show = |v: &rusqlite::types::Value| match v {
                    rusqlite::types::Value::Text(t) => format!("{t:?}"),
                    rusqlite::types::Value::Integer(n) => n.to_string(),
                    other => format!("{other:?}"),
                };
                let detail = match kind {
                    FindingKind::Source => format!(
                        "{count} live site(s) (the first {}) name source {}, which the registry does not hold (deleted outside nostrike?)",
                        show(&first),
                        show(&parent)
                    ),
                    _ => format!(
                        "{count} log entries (the first, entry {}) name batch {}, which the registry does not hold: who imported them, from what file and when, is lost (deleted outside nostrike?)",
                        show(&first),
                        show(&parent)
                    ),
                };
                findings.push(Finding::new(kind, detail));
            }
        }
        Ok(())
    }

    /// The last batch records where the log ended when it was committed.
    fn log_head(
        &self,
        tx: &Connection,
        head: &str,
        findings: &mut Vec<Finding>,
    ) -> Result<(), StoreError> {
        let recorded: Option<String> = tx
            .query_row(
                "SELECT log_head FROM batches ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(recorded) = recorded {
            if recorded != head {
                findings.push(Finding::new(FindingKind::Chain, format!("the last batch ends the log at {recorded}, the log ends at {head} (entries removed or appended outside nostrike)")));
            }
        }
        Ok(())
    }

    /// The packed index: every chunk against its hash, the chunk list
    /// against the recorded root, and the root against an image rebuilt
    /// from the live rows (when those are sound).
    fn packed(
        &self,
        tx: &Connection,
        revision: i64,
        findings: &mut Vec<Finding>,
    ) -> Result<(), StoreError> {
        let packed = |detail: String| Finding::new(FindingKind::Packed, detail);
        let recorded_root = self.meta("packed_root")?;
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
                findings.push(packed(format!("packed index chunk {id} does not match its recorded hash; `nostrike repack` rebuilds the index from the rows")));
            }
            let (section, no) = packed_key(id);
            list.push((section, no, actual));
        }
        let stored_root = crate::canonical::hex(&nostrike_core::packed::root_hash(
            list.iter().map(|(s, n, h)| (*s, *n, h)),
        ));
        let sites_sound = !findings
            .iter()
            .any(|f| matches!(f.kind, FindingKind::Site | FindingKind::ContentHash));
        let Some(root) = recorded_root else {
            findings.push(packed(
                "the registry has no packed index; `nostrike repack` writes it".into(),
            ));
            return Ok(());
        };
        if root != stored_root {
            findings.push(packed(format!("the packed index's chunks hash to {stored_root}, the registry records {root}; `nostrike repack` rebuilds it")));
        }
        if sites_sound {
            let (_, rebuilt) = pack_live(tx, &self.path, revision, false)?;
            if rebuilt != root {
                findings.push(packed(format!("the packed index (root {root}) does not hold the live sites (which pack to {rebuilt}); `nostrike repack` rebuilds it")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> (SourceMeta, BatchMeta) {
        let source = SourceMeta {
            name: "src".into(),
            ..Default::default()
        };
        let meta = BatchMeta {
            file_name: "t.geojson".into(),
            file_sha256: "00".into(),
            format: "geojson".into(),
            operator: "tester".into(),
            imported_at: 1_700_000_000,
            replace: false,
        };
        (source, meta)
    }

    fn sites(ids: std::ops::Range<usize>) -> Vec<Site> {
        ids.map(|i| {
            let p = geo_types::point!(x: i as f64 * 0.001, y: 45.0);
            Site::new(format!("s{i}"), "src", Category::Museum, p.into())
        })
        .collect()
    }

    /// Sources or batches deleted with the `sqlite3` shell (whose
    /// connections do not check foreign keys): `verify` said OK, although
    /// the live sites then named a source, and the log entries a batch,
    /// the registry no longer held.
    #[test]
    fn verify_called_a_registry_ok_whose_sources_or_batches_were_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let (source, meta) = batch();
        Registry::create(&path)
            .unwrap()
            .import(&source, &meta, &sites(0..30))
            .unwrap();
        assert!(Registry::open_read_only(&path)
            .unwrap()
            .verify()
            .unwrap()
            .is_empty());
        for (edit, kinds, says) in [
            (
                "DELETE FROM sources",
                &[FindingKind::Source, FindingKind::Source][..],
                "30 live site(s) (the first \"s0\") name source \"src\"",
            ),
            (
                "DELETE FROM batches",
                &[FindingKind::Chain][..],
                "30 log entries (the first, entry 1) name batch 1",
            ),
        ] {
            let copy = dir.path().join("edited.db");
            std::fs::copy(&path, &copy).unwrap();
            let shell = rusqlite::Connection::open(&copy).unwrap();
            shell
                .execute_batch(&format!("PRAGMA foreign_keys = OFF; {edit}"))
                .unwrap();
            drop(shell);
            let findings = Registry::open_read_only(&copy).unwrap().verify().unwrap();
            let found: Vec<FindingKind> = findings.iter().map(|f| f.kind).collect();
            assert_eq!(found, kinds, "{edit}: {findings:?}");
            assert!(
                findings.iter().any(|f| f.detail.contains(says)),
                "{edit}: {findings:?}"
            );
        }
    }

    /// An import commits in the middle of a `verify` (from the reader's
    /// progress handler, half-way through the callbacks a whole `verify`
    /// of this registry makes, counted first): the state `verify` names is
    /// the one it checked, the revision before that import. Read after the
    /// checks, it named the import's revision, which no check had read.
    #[test]
    fn verify_named_a_revision_committed_while_it_ran() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let (source, meta) = batch();
        let mut writer = Registry::create(&path).unwrap();
        let before = writer.import(&source, &meta, &sites(0..400)).unwrap();
        let reader = Registry::open_read_only(&path).unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        reader.conn.progress_handler(
            50,
            Some(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                false
            }),
        );
        assert!(reader.verify_state().unwrap().findings.is_empty());
        let half = calls.load(Ordering::SeqCst) / 2;
        assert!(half > 10, "a verify of 400 sites made {half} × 2 callbacks");
        let committed = Arc::new(Mutex::new(None));
        let done = committed.clone();
        let mut writer = Some(writer);
        let mut k = 0;
        reader.conn.progress_handler(
            50,
            Some(move || {
                k += 1;
                if k == half {
                    if let Some(mut w) = writer.take() {
                        let after = w.import(&source, &meta, &sites(400..420)).unwrap();
                        *done.lock().unwrap() = Some((after.revision, after.content_hash));
                    }
                }
                false
            }),
        );
        let v = reader.verify_state().unwrap();
        reader.conn.progress_handler(0, None::<fn() -> bool>);
        let after = committed
            .lock()
            .unwrap()
            .expect("the import ran during verify");
        assert!(v.findings.is_empty(), "{:?}", v.findings);
        assert_eq!(
            (v.revision, v.content_hash),
            (before.revision, Some(before.content_hash)),
            "verify named another state than the one it checked"
        );
        // The next verify sees the import.
        let next = reader.verify_state().unwrap();
        assert_eq!((next.revision, next.content_hash), (after.0, Some(after.1)));
    }
}
