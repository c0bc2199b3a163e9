//! Registry behaviour: imports, revisions, content hashes, history, as-of and tamper evidence.

#![allow(clippy::unwrap_used)]

use geo_types::{point, polygon};
use nostrike_core::{Category, Site};
use nostrike_store::{content_hash, site_hash, BatchMeta, Registry, SourceMeta, StoreError};
use rusqlite::Connection;

fn meta(replace: bool) -> BatchMeta {
    BatchMeta {
        file_name: "test.geojson".into(),
        file_sha256: "00".into(),
        format: "geojson".into(),
        operator: "tester".into(),
        imported_at: 1_700_000_000,
        replace,
    }
}

fn src() -> SourceMeta {
    SourceMeta {
        name: "src".into(),
        ..Default::default()
    }
}

fn sites(n: usize, name_suffix: &str) -> Vec<Site> {
    (0..n)
        .map(|i| {
            let g = if i % 3 == 0 {
                polygon![(x: 0.0, y: 0.0), (x: 0.001, y: 0.0), (x: 0.001, y: 0.001), (x: 0.0, y: 0.0)].into()
            } else {
                point!(x: i as f64 * 0.01, y: 45.0).into()
            };
            let mut s = Site::new(format!("s{i}"), "src", Category::ALL[i % 18], g);
            s.name = format!("Site {i}{name_suffix}");
            s.properties = format!("{{\"k\":{i}}}");
            s
        })
        .collect()
}

fn new_registry() -> (tempfile::TempDir, Registry) {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::create(&dir.path().join("r.db")).unwrap();
    (dir, reg)
}

#[test]
fn import_reimport_update_and_replace() {
    let (_d, mut reg) = new_registry();
    assert_eq!(reg.revision().unwrap(), 0);
    let empty = reg.content_hash().unwrap();
    let s = reg.import(&src(), &meta(false), &sites(10, "")).unwrap();
    assert_eq!(
        (s.added, s.updated, s.retired, s.unchanged, s.revision),
        (10, 0, 0, 0, 1)
    );
    assert_ne!(s.content_hash, empty);
    // Identical re-import: neither revision nor content hash moves.
    let again = reg.import(&src(), &meta(false), &sites(10, "")).unwrap();
    assert_eq!((again.unchanged, again.revision), (10, 1));
    assert_eq!(again.content_hash, s.content_hash);
    // Insertion order does not matter to the content hash.
    let (_d2, mut other) = new_registry();
    let mut rev = sites(10, "");
    rev.reverse();
    assert_eq!(
        other
            .import(&src(), &meta(false), &rev)
            .unwrap()
            .content_hash,
        s.content_hash
    );
    // The content hash is the documented function of the site hashes.
    let mut hs: Vec<String> = sites(10, "").iter().map(site_hash).collect();
    assert_eq!(content_hash(&mut hs), s.content_hash.to_string());
    // Update two, replace drops the rest.
    let mut changed = sites(3, "");
    changed[1].name = "Renamed".into();
    let r = reg.import(&src(), &meta(true), &changed).unwrap();
    assert_eq!(
        (r.added, r.updated, r.retired, r.unchanged, r.revision),
        (0, 1, 7, 2, 2)
    );
    let (live, rev_now, _) = reg.live_sites().unwrap();
    assert_eq!((live.len(), rev_now), (3, 2));
    // As of revision 1: all ten, as they were.
    let then = reg.as_of(1).unwrap();
    assert_eq!(then.len(), 10);
    assert_eq!(then.iter().find(|s| s.id == "s1").unwrap().name, "Site 1");
    assert!(reg.as_of(0).unwrap().is_empty());
    assert!(matches!(
        reg.as_of(3),
        Err(StoreError::NoSuchRevision { .. })
    ));
    let hist = reg.history(None, "s5").unwrap();
    assert_eq!(
        hist.iter()
            .map(|(_, e)| e.kind.as_str())
            .collect::<Vec<_>>(),
        ["added", "retired"]
    );
    assert!(reg.verify().unwrap().is_empty());
    let log = reg.log(0).unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(
        log[2].counts,
        nostrike_store::BatchCounts {
            added: 0,
            updated: 1,
            retired: 7,
            unchanged: 2
        }
    );
}

#[test]
fn duplicate_ids_refuse_the_whole_batch() {
    let (_d, mut reg) = new_registry();
    let mut s = sites(3, "");
    s[2].id = "s0".into();
    assert!(matches!(
        reg.import(&src(), &meta(false), &s),
        Err(StoreError::BadSite { .. })
    ));
    assert_eq!(reg.revision().unwrap(), 0);
    assert!(reg.live_sites().unwrap().0.is_empty());
}

#[test]
fn foreign_missing_empty_and_existing_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.db");
    assert!(matches!(
        Registry::open_read_only(&p),
        Err(StoreError::Missing { .. })
    ));
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(
        Registry::open_read_only(&p),
        Err(StoreError::Foreign { .. })
    ));
    std::fs::write(
        &p,
        b"hello, this is not sqlite at all, just some text padding it out to a page",
    )
    .unwrap();
    assert!(matches!(
        Registry::open_read_only(&p),
        Err(StoreError::Foreign { .. })
    ));
    std::fs::remove_file(&p).unwrap();
    Connection::open(&p)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    assert!(matches!(
        Registry::open_read_only(&p),
        Err(StoreError::Foreign { .. })
    ));
    assert!(matches!(
        Registry::create(&p),
        Err(StoreError::Exists { .. })
    ));
}

/// Edit the registry behind nostrike's back and expect `verify` to name the damage.
fn tampered(sql: &str, expect: &[&str]) {
    let (d, mut reg) = new_registry();
    reg.import(&src(), &meta(false), &sites(6, "")).unwrap();
    let mut upd = sites(6, "");
    upd[4].name = "changed".into();
    reg.import(&src(), &meta(false), &upd).unwrap();
    assert!(reg.verify().unwrap().is_empty());
    drop(reg);
    let path = d.path().join("r.db");
    Connection::open(&path).unwrap().execute_batch(sql).unwrap();
    let reg = Registry::open(&path).unwrap();
    let findings = reg.verify().unwrap();
    let text = findings
        .iter()
        .map(|f| format!("{}: {}", f.kind, f.detail))
        .collect::<Vec<_>>()
        .join("\n");
    for e in expect {
        assert!(text.contains(e), "{sql}: expected {e:?} in\n{text}");
    }
    // And a reader refuses to build an index over data nobody can account for.
    let ro = Registry::open_read_only(&path).unwrap();
    if expect
        .iter()
        .any(|e| e.starts_with("site ") || *e == "content_hash")
    {
        assert!(
            matches!(ro.load_index(), Err(StoreError::Damaged { .. })),
            "{sql}"
        );
    }
}

#[test]
fn verify_finds_a_row_edited_with_the_shell() {
    // A version's content (each version is stored once).
    tampered(
        "DROP TRIGGER versions_no_update; UPDATE versions SET name = 'x' WHERE site_id = 's2'",
        &[
            "site src/s2 was edited",
            "log entry 3 (src/s2): the site it records does not match",
        ],
    );
    tampered("DROP TRIGGER versions_no_update; UPDATE versions SET geometry = X'0101000000000000000000F03F0000000000000040' WHERE site_id = 's1'", &["site src/s1 was edited"]);
    // A version's hash.
    tampered(
        "DROP TRIGGER versions_no_update; UPDATE versions SET hash = 'ab' || substr(hash, 3) WHERE site_id = 's2'",
        &["site src/s2 was edited", "log entry 3 (src/s2): the version it filed carries another hash"],
    );
    // A live row pointed at another site's version.
    tampered(
        "UPDATE sites SET version = (SELECT version FROM sites WHERE site_id = 's1') WHERE site_id = 's2'",
        &["site src/s2 was edited", "site src/s2 differs from its last change-log entry"],
    );
    // A live row pointed back at the site's own earlier version.
    tampered(
        "UPDATE sites SET version = (SELECT seq FROM changes WHERE kind = 'added' AND site_id = 's4') WHERE site_id = 's4'",
        &["site src/s4 differs from its last change-log entry", "content_hash"],
    );
}

#[test]
fn verify_finds_rows_inserted_or_deleted_with_the_shell() {
    tampered(
        "DELETE FROM sites WHERE site_id = 's3'",
        &["site src/s3 is missing", "content_hash"],
    );
    tampered(
        "INSERT INTO sites SELECT source, 'evil', version, revision FROM sites WHERE site_id = 's1'",
        &["site src/evil is not in the change log"],
    );
    tampered(
        "DROP TRIGGER versions_no_delete; DELETE FROM versions WHERE site_id = 's3'",
        &[
            "site src/s3 names version 4, which is missing",
            "log entry 4 (src/s3): the version it filed is missing",
        ],
    );
    tampered(
        "INSERT INTO versions (id, hash, source, site_id, name, category, protection, designations, geometry, positional_accuracy_m, properties)
         SELECT 1000, 'ab' || substr(hash, 3), source, 'planted', name, category, protection, designations, geometry, positional_accuracy_m, properties FROM versions WHERE site_id = 's1'",
        &["of site src/planted was filed by no log entry"],
    );
}

#[test]
fn verify_finds_log_entries_altered_or_removed() {
    tampered(
        "DROP TRIGGER changes_no_update; UPDATE changes SET hash_after = (SELECT hash FROM versions WHERE site_id = 's2') WHERE seq = 2",
        &["log entry 2 (src/s1) was altered", "log entry 2 (src/s1): the version it filed carries another hash"],
    );
    tampered(
        "DROP TRIGGER changes_no_update; UPDATE changes SET kind = 'updated' WHERE seq = 3",
        &["log entry 3 (src/s2) was altered"],
    );
    tampered(
        "DROP TRIGGER changes_no_delete; DELETE FROM changes WHERE seq = 4",
        &[
            "log entries 4…4 are missing",
            "log entry 5 (src/s4) was altered or does not link",
            "of site src/s3 was filed by no log entry",
        ],
    );
    tampered(
        "DROP TRIGGER changes_no_delete; DELETE FROM changes WHERE seq = 7",
        &["the last batch ends the log"],
    );
}

#[test]
fn the_log_refuses_edits_through_sql() {
    let (d, mut reg) = new_registry();
    reg.import(&src(), &meta(false), &sites(2, "")).unwrap();
    drop(reg);
    let c = Connection::open(d.path().join("r.db")).unwrap();
    assert!(c
        .execute_batch("UPDATE changes SET kind = 'updated'")
        .is_err());
    assert!(c.execute_batch("DELETE FROM changes").is_err());
    assert!(c.execute_batch("UPDATE versions SET name = 'x'").is_err());
    assert!(c.execute_batch("DELETE FROM versions").is_err());
    // The refusals are the triggers', not a misspelt column's.
    c.execute_batch("DROP TRIGGER versions_no_update; UPDATE versions SET name = 'x'")
        .unwrap();
}

/// The packed index (opened read-only, as a check does) answers `area` as
/// the rows do.
fn packed_answers_as_rows(reg: &Registry, path: &std::path::Path, area: &nostrike_core::Area) {
    use nostrike_core::{Checker, Policy, SiteSet};
    let policy = Policy::example();
    let rows = reg.load_index().unwrap();
    let from_rows = Checker::new(&rows.index, &policy, None)
        .check(area)
        .unwrap();
    let packed = Registry::open_read_only(path)
        .unwrap()
        .load_packed()
        .unwrap()
        .unwrap();
    assert_eq!(packed.revision, rows.revision);
    assert_eq!(packed.content_hash, rows.content_hash);
    assert_eq!(packed.index.len(), rows.index.len());
    let from_packed = Checker::new(&packed.index, &policy, None)
        .check(area)
        .unwrap();
    // Site numbers may differ; the hits' sites, distances and verdicts may not.
    let key = |set: &dyn SiteSet, r: &nostrike_core::AreaResult| {
        let mut v: Vec<_> = r
            .hits
            .iter()
            .map(|h| {
                (
                    set.label(h.site).unwrap().key(),
                    h.distance_m.to_bits(),
                    h.verdict,
                )
            })
            .collect();
        v.sort();
        v
    };
    let (a, b) = (
        key(&rows.index, &from_rows),
        key(&packed.index, &from_packed),
    );
    assert!(!a.is_empty(), "the test area must reach sites");
    assert_eq!(a, b);
}

/// The packed index answers as the rows do, through imports, updates and
/// retirements.
#[test]
fn packed_index_follows_every_import() {
    let (d, mut reg) = new_registry();
    let path = d.path().join("r.db");
    let area = nostrike_core::Area::point("a", 0.05, 45.0, 5_000.0);
    reg.import(&src(), &meta(false), &sites(40, "")).unwrap();
    packed_answers_as_rows(&reg, &path, &area);
    // Updates (new names) and retirements (a shorter file with --replace).
    reg.import(&src(), &meta(true), &sites(25, " v2")).unwrap();
    packed_answers_as_rows(&reg, &path, &area);
    assert!(reg.verify().unwrap().is_empty());
}

/// A copy of `tests/fixtures/schema7.db` (a registry of schema 7, the last
/// layout that stored each version in the log and the live row).
fn schema7_copy(d: &tempfile::TempDir) -> std::path::PathBuf {
    let path = d.path().join("old.db");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/schema7.db"
        ),
        &path,
    )
    .unwrap();
    path
}

/// A registry from before the packed index (schema 1) gets one, and every
/// later table, when first opened for writing, and reads its rows until then.
#[test]
fn a_schema_1_registry_is_upgraded_with_a_packed_index() {
    let d = tempfile::tempdir().unwrap();
    let path = schema7_copy(&d);
    // Make it a schema-1 registry: no packed index, the old log indexes, no source log.
    let c = Connection::open(&path).unwrap();
    c.execute_batch(
        "DROP TABLE packed; DELETE FROM meta WHERE key = 'packed_root';
         DROP TABLE source_log; DELETE FROM meta WHERE key = 'source_log_head';
         ALTER TABLE sources DROP COLUMN coverage; ALTER TABLE sources DROP COLUMN coverage_how;
         ALTER TABLE sites DROP COLUMN extensions; ALTER TABLE changes DROP COLUMN extensions;
         DROP TABLE links; DROP TABLE link_log; DROP TABLE signatures;
         DELETE FROM meta WHERE key = 'link_log_head';
         CREATE INDEX changes_site ON changes (source, site_id, seq);
         CREATE INDEX changes_revision ON changes (revision);
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(c);
    // Read-only, it is refused with a way forward, never misread.
    let e = Registry::open_read_only(&path).unwrap_err().to_string();
    assert!(e.contains("older"), "{e}");
    let reg = Registry::open(&path).unwrap();
    let area = nostrike_core::Area::point("a", 1.5212, 42.5072, 5_000.0);
    packed_answers_as_rows(&reg, &path, &area);
    let findings = reg.verify().unwrap();
    assert!(findings.is_empty(), "{findings:?}");
    // The upgrade started the source log with each source as it stood.
    let log = reg.source_log().unwrap();
    assert_eq!(log.len(), reg.sources().unwrap().len());
    assert!(log.iter().all(|(batch, _, _)| *batch == 0));
}

/// Sites of `source` with ids `from..to`.
fn sites_of(source: &str, from: usize, to: usize, name_suffix: &str) -> Vec<Site> {
    (from..to)
        .map(|i| {
            let g = if i % 5 == 0 {
                polygon![(x: 10.0, y: 10.0), (x: 10.001, y: 10.0), (x: 10.001, y: 10.001), (x: 10.0, y: 10.0)].into()
            } else {
                point!(x: (i % 3600) as f64 * 0.1 - 180.0, y: (i % 1700) as f64 * 0.1 - 85.0).into()
            };
            let mut s = Site::new(format!("s{i}"), source, Category::ALL[i % 18], g);
            s.name = format!("Site {i}{name_suffix}");
            s
        })
        .collect()
}

fn source(name: &str) -> SourceMeta {
    SourceMeta {
        name: name.into(),
        ..Default::default()
    }
}

#[test]
fn a_session_of_many_chunks_and_files_logs_and_packs_like_separate_imports() {
    // Several import chunks per file; a fresh source, a second fresh source,
    // then the first source again (its changes are looked up, not assumed);
    // all in one session against separate imports of the same files.
    let a1 = sites_of("a", 0, 20_000, "");
    let b = sites_of("b", 0, 10_000, "");
    let a2 = sites_of("a", 20_000, 29_000, "");
    let (_d1, mut one) = new_registry();
    let s = one
        .import_many(&[
            (source("a"), &a1[..], meta(false)),
            (source("b"), &b[..], meta(false)),
            (source("a"), &a2[..], meta(false)),
        ])
        .unwrap();
    assert_eq!(
        s.iter().map(|s| (s.added, s.revision)).collect::<Vec<_>>(),
        vec![(20_000, 1), (10_000, 1), (9_000, 1)]
    );
    assert!(one.verify().unwrap().is_empty());
    let (_d2, mut sep) = new_registry();
    sep.import(&source("a"), &meta(false), &a1).unwrap();
    sep.import(&source("b"), &meta(false), &b).unwrap();
    let last = sep.import(&source("a"), &meta(false), &a2).unwrap();
    assert_eq!(last.content_hash, s[2].content_hash);
    assert!(sep.verify().unwrap().is_empty());

    // Into a registry that already holds sites (no packing as it stores):
    // half of source a the same (unchanged), half renamed (updated), a new
    // source c (fresh), in one session.
    // (The renamed half last, so the file's last chunk holds changes still
    // to be chained when source c's first chunk arrives.)
    let mut a3 = sites_of("a", 0, 10_000, "");
    a3.extend(sites_of("a", 10_000, 20_000, " v2"));
    let c = sites_of("c", 0, 12_000, "");
    let s = one
        .import_many(&[
            (source("a"), &a3[..], meta(false)),
            (source("c"), &c[..], meta(false)),
        ])
        .unwrap();
    assert_eq!(
        s.iter()
            .map(|s| (s.added, s.updated, s.unchanged, s.revision))
            .collect::<Vec<_>>(),
        vec![(0, 10_000, 10_000, 2), (12_000, 0, 0, 2)]
    );
    assert!(one.verify().unwrap().is_empty());
    sep.import(&source("a"), &meta(false), &a3).unwrap();
    let last = sep.import(&source("c"), &meta(false), &c).unwrap();
    assert_eq!(last.content_hash, s[1].content_hash);
    let count = |path: &std::path::Path| -> i64 {
        Connection::open(path)
            .unwrap()
            .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
            .unwrap()
    };
    let n = 20_000 + 10_000 + 9_000 + 10_000 + 12_000;
    assert_eq!(count(one.path()), n);
    assert_eq!(count(sep.path()), n);
}

/// Coverage and links read while imports commit: a log's chain and the
/// head recorded for it come from one commit. Read in two autocommit
/// statements, an import landing between them looked like damage ("the
/// source log ends at …, the registry records …"), and a check under way
/// failed with it.
#[test]
fn coverage_and_links_read_while_imports_commit_are_never_called_damage() {
    let (d, mut reg) = new_registry();
    reg.import(&src(), &meta(false), &sites(3, "")).unwrap();
    let path = d.path().join("r.db");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let reads = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let r = Registry::open_read_only(&path).unwrap();
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                r.coverage_at(None).unwrap();
                r.links_at(None).unwrap();
                reads += 1;
            }
            reads
        });
        for i in 0..300 {
            let mut session = reg.begin_import().unwrap();
            let source = SourceMeta {
                name: format!("n{i}"),
                ..Default::default()
            };
            let file = session.file(&source, &meta(false));
            let mut site = sites(1, "").remove(0);
            site.source = source.name.clone();
            session.push(file, site, 0).unwrap();
            session.link(file, i % 2 == 0, "src/s0", "src/s1", "tester", None);
            session.commit().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(reads > 300, "only {reads} reads ran beside the imports");
}
