//! Crash safety and concurrency with real processes: `kill -9` at many
//! moments of an import, checks while an import runs, two imports at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("nostrike")
}

fn ns(reg: &Path) -> Command {
    let mut c = Command::new(bin());
    c.arg("--registry").arg(reg).env_remove("NOSTRIKE_REGISTRY");
    c
}

/// A GeoJSON file of `n` point sites with ids `{prefix}{i}`.
fn points(path: &Path, n: usize, prefix: &str, lon0: f64) {
    let mut s = String::from("{\"type\":\"FeatureCollection\",\"features\":[\n");
    for i in 0..n {
        if i > 0 {
            s.push_str(",\n");
        }
        let lon = lon0 + (i % 1000) as f64 * 0.001;
        let lat = 10.0 + (i / 1000) as f64 * 0.001;
        s.push_str(&format!("{{\"type\":\"Feature\",\"id\":\"{prefix}{i}\",\"properties\":{{\"category\":\"museum\",\"name\":\"site {i}\"}},\"geometry\":{{\"type\":\"Point\",\"coordinates\":[{lon},{lat}]}}}}"));
    }
    s.push_str("\n]}\n");
    std::fs::write(path, s).unwrap();
}

fn import_ok(reg: &Path, file: &Path) {
    let o = ns(reg).arg("import").arg(file).output().unwrap();
    assert!(
        o.status.success(),
        "import {}: {}",
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Start `nostrike import FILE` on `reg` in the background.
fn spawn_import(reg: &Path, file: &Path, stderr: Stdio) -> std::process::Child {
    ns(reg)
        .arg("import")
        .arg(file)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// `check --format json` of the point near every test import's sites.
fn check_near(reg: &Path) -> std::process::Output {
    ns(reg)
        .args([
            "check",
            "--point",
            "10.0005,20.0005",
            "--buffer",
            "200m",
            "--format",
            "json",
        ])
        .output()
        .unwrap()
}

fn stats(reg: &Path) -> (i64, String) {
    let o = ns(reg)
        .args(["stats", "--format", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    (
        v["revision"].as_i64().unwrap(),
        v["content_hash"].as_str().unwrap().to_string(),
    )
}

fn verify_ok(reg: &Path) {
    let o = ns(reg).arg("verify").output().unwrap();
    assert!(
        o.status.success(),
        "verify failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `kill -9` `kills` imports of `file`, each into a registry `prepare` makes
/// (after `init`), at moments spread over `full`: afterwards each registry
/// is exactly as `before` or as `after` the import, `verify` passes, the
/// import runs again to `after`, and the registry is in write-ahead-log
/// mode. Returns how many kills left it as before and as after.
fn kill_imports(
    dir: &Path,
    kills: u32,
    full: Duration,
    prepare: impl Fn(&Path),
    file: &Path,
    (before, after): (&(i64, String), &(i64, String)),
) -> (usize, usize) {
    let (mut saw_before, mut saw_after) = (0, 0);
    for k in 0..kills {
        let reg = dir.join(format!("k{k}.db"));
        ns(&reg).arg("init").output().unwrap();
        prepare(&reg);
        let mut child = spawn_import(&reg, file, Stdio::null());
        std::thread::sleep(full.mul_f64(f64::from(k) / f64::from(kills - 1)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = stats(&reg);
        assert!(
            now == *before || now == *after,
            "kill {k}: registry is neither before nor after: {now:?}"
        );
        if now == *before {
            saw_before += 1;
        } else {
            saw_after += 1;
        }
        verify_ok(&reg);
        // And the registry still takes the import afterwards.
        import_ok(&reg, file);
        assert_eq!(stats(&reg), *after);
        assert_eq!(journal_mode(&reg), "wal", "kill {k}");
    }
    assert!(
        saw_before > 0,
        "no kill landed inside an import; the test proves nothing"
    );
    (saw_before, saw_after)
}

/// How long a whole import of `file` takes here, to spread the kills over it.
fn import_time(dir: &Path, prepare: impl Fn(&Path), file: &Path) -> Duration {
    let probe = dir.join("probe.db");
    ns(&probe).arg("init").output().unwrap();
    prepare(&probe);
    let t0 = Instant::now();
    import_ok(&probe, file);
    t0.elapsed().max(Duration::from_millis(50))
}

/// `kill -9` an import at many moments: afterwards the registry is exactly as
/// before or exactly as after the import, and `verify` passes.
#[test]
fn kill_9_at_any_moment_leaves_the_registry_before_or_after() {
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("base.geojson");
    let more = d.path().join("more.geojson");
    points(&base, 2_000, "b", 20.0);
    points(&more, 30_000, "m", 30.0);
    // The state after a complete import, for comparison.
    let reference = d.path().join("ref.db");
    ns(&reference).arg("init").output().unwrap();
    import_ok(&reference, &base);
    let before = stats(&reference);
    import_ok(&reference, &more);
    let after = stats(&reference);
    assert_ne!(before, after);
    let prepare = |reg: &Path| import_ok(reg, &base);
    let full = import_time(d.path(), prepare, &more);
    let (b, a) = kill_imports(d.path(), 12, full, prepare, &more, (&before, &after));
    eprintln!("killed 12 imports: {b} left the registry as before, {a} as after");
}

/// The registry's journal mode, read with SQLite itself.
fn journal_mode(reg: &Path) -> String {
    rusqlite::Connection::open(reg)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap()
}

/// A first import (into an empty registry) writes its pages once, through a
/// rollback journal: `kill -9` at many moments of it leaves the registry
/// empty or whole, `verify` passes, the import runs again, and the
/// registry is back in write-ahead-log mode afterwards.
#[test]
fn kill_9_during_a_first_import_leaves_the_registry_empty_or_whole() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("first.geojson");
    points(&file, 30_000, "f", 30.0);
    let reference = d.path().join("ref.db");
    ns(&reference).arg("init").output().unwrap();
    let empty = stats(&reference);
    import_ok(&reference, &file);
    let whole = stats(&reference);
    assert_eq!(journal_mode(&reference), "wal");
    let full = import_time(d.path(), |_| {}, &file);
    let (e, w) = kill_imports(d.path(), 10, full, |_| {}, &file, (&empty, &whole));
    eprintln!("killed 10 first imports: {e} left it empty, {w} whole");
}

/// A write killed under the rollback journal leaves the journal "hot"
/// beside the registry, and SQLite lets no read-only connection read past
/// it: every read-only command (`stats`, `check`, `log`) failed with
/// "attempt to write a readonly database" until some writer opened the
/// file. The interrupted write is made here by a Python process that spills
/// its pages to the file and exits without committing (as `kill -9` of a
/// first import can leave it); read-only commands then read the last commit.
#[test]
fn a_read_only_command_after_a_write_killed_mid_journal_reads_the_last_commit() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    let file = d.path().join("a.geojson");
    points(&file, 200, "a", 20.0);
    ns(&reg).arg("init").output().unwrap();
    import_ok(&reg, &file);
    let committed = stats(&reg);
    let script = r#"
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode=DELETE")
c.execute("PRAGMA cache_size=2")
c.execute("BEGIN IMMEDIATE")
c.execute("UPDATE meta SET value = 'interrupted' WHERE key = 'content_hash'")
c.execute("CREATE TABLE spill (x BLOB)")
c.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) INSERT INTO spill SELECT randomblob(4000) FROM n")
os._exit(0)
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(&reg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let journal = d.path().join("r.db-journal");
    assert!(
        std::fs::metadata(&journal).is_ok_and(|m| m.len() > 0),
        "no hot journal: the test proves nothing"
    );
    assert_eq!(stats(&reg), committed);
    let o = check_near(&reg);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(v["verdict"], "conflict", "{v}");
    verify_ok(&reg);
    // The next import writes through the write-ahead log again.
    points(&file, 300, "a", 20.0);
    import_ok(&reg, &file);
    assert_eq!(journal_mode(&reg), "wal");
}

/// Checks during a first import are errors (an empty registry, or one busy
/// being written) until it lands whole, never a clear; and a first import
/// while another connection has the registry open goes through the
/// write-ahead log instead (the switch is not waited for).
#[test]
fn checks_during_a_first_import_fail_loudly_until_it_lands_whole() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    let file = d.path().join("a.geojson");
    points(&file, 40_000, "a", 20.0);
    ns(&reg).arg("init").output().unwrap();
    let mut import = spawn_import(&reg, &file, Stdio::piped());
    let (mut failed, mut whole) = (0, 0);
    while import.try_wait().unwrap().is_none() {
        let o = check_near(&reg);
        match o.status.code() {
            Some(1) => {
                let err = String::from_utf8_lossy(&o.stderr);
                assert!(
                    err.contains("has no sites") || err.contains("busy: an import is writing it"),
                    "{err}"
                );
                failed += 1;
            }
            Some(3 | 4) => {
                let v: Value = serde_json::from_slice(&o.stdout).unwrap();
                assert_eq!(v["registry"]["revision"], 1, "a check saw a partial import");
                whole += 1;
            }
            other => panic!(
                "a check during a first import exited {other:?}: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        }
    }
    assert!(import.wait().unwrap().success());
    eprintln!("checks during a first import: {failed} failed loudly, {whole} saw it whole");
    assert!(
        failed > 0,
        "no check ran during the import; the test proves nothing"
    );
    verify_ok(&reg);
    assert_eq!(journal_mode(&reg), "wal");

    // Another connection holds the registry open: the first import still
    // runs, through the write-ahead log, which it leaves with frames while
    // that connection keeps it.
    let other = d.path().join("other.db");
    ns(&other).arg("init").output().unwrap();
    let holder = rusqlite::Connection::open(&other).unwrap();
    let _: i64 = holder
        .query_row("SELECT count(*) FROM sites", [], |r| r.get(0))
        .unwrap();
    import_ok(&other, &file);
    let wal = std::fs::metadata(d.path().join("other.db-wal")).map_or(0, |m| m.len());
    assert!(
        wal > 1 << 20,
        "the import did not go through the log: {wal} bytes"
    );
    drop(holder);
    verify_ok(&other);
    assert_eq!(stats(&other), stats(&reg));
}

/// Check the point near every test import's sites: the revision named and
/// how many hits have source ids starting with `a`, `x` and `c`.
fn revision_and_hits_by_import(reg: &Path) -> (i64, usize, usize, usize) {
    let o = check_near(reg);
    assert!(
        matches!(o.status.code(), Some(0 | 3 | 4)),
        "check failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let count = |prefix: char| {
        v["areas"][0]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["source_id"].as_str().unwrap().starts_with(prefix))
            .count()
    };
    (
        v["registry"]["revision"].as_i64().unwrap(),
        count('a'),
        count('x'),
        count('c'),
    )
}

/// Checks run while an import runs see one whole revision and say which; a
/// second import waits for the first.
#[test]
fn checks_during_an_import_see_one_whole_revision_and_imports_serialise() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    let a = d.path().join("a.geojson");
    let b = d.path().join("b.geojson");
    points(&a, 1_000, "a", 20.0);
    points(&b, 40_000, "x", 20.0);
    ns(&reg).arg("init").output().unwrap();
    import_ok(&reg, &a);
    let rev1 = stats(&reg);
    let mut import_b = spawn_import(&reg, &b, Stdio::piped());
    let c = d.path().join("c.geojson");
    points(&c, 500, "c", 20.0);
    let import_c = spawn_import(&reg, &c, Stdio::piped());
    let mut seen = Vec::new();
    while import_b.try_wait().unwrap().is_none() {
        seen.push(revision_and_hits_by_import(&reg));
    }
    assert!(import_b.wait().unwrap().success());
    let out_c = import_c.wait_with_output().unwrap();
    assert!(
        out_c.status.success(),
        "the second import should wait, then run: {}",
        String::from_utf8_lossy(&out_c.stderr)
    );
    let (rev, _) = stats(&reg);
    assert_eq!(rev, rev1.0 + 2, "both imports landed, one after the other");
    verify_ok(&reg);
    // Each check saw one whole revision: the `a` sites, and each later
    // import's sites either all (as many as at the end) or none, with the
    // revision counting the imports it saw.
    let (_, all_a, all_x, all_c) = revision_and_hits_by_import(&reg);
    assert!(
        all_a > 0 && all_x > 0 && all_c > 0,
        "the point must be near every import's sites"
    );
    for (rev, a, x, c) in &seen {
        assert_eq!(*a, all_a, "revision {rev}: {a} of {all_a} a-sites");
        assert!(
            *x == 0 || *x == all_x,
            "revision {rev}: {x} of {all_x} x-sites (a partial import)"
        );
        assert!(
            *c == 0 || *c == all_c,
            "revision {rev}: {c} of {all_c} c-sites (a partial import)"
        );
        let landed = i64::from(*x > 0) + i64::from(*c > 0);
        assert_eq!(*rev, rev1.0 + landed, "revision {rev} with x {x}, c {c}");
    }
    let revisions: std::collections::BTreeSet<_> = seen.iter().map(|s| s.0).collect();
    eprintln!("checks during the import saw revisions {revisions:?}");
}

/// The disk fills up in the middle of an import (simulated with a file-size
/// limit and SIGXFSZ ignored, so writes fail with EFBIG): a clear error,
/// exit 1, and the registry exactly as before.
#[test]
fn a_full_disk_during_an_import_is_an_error_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    let a = d.path().join("a.geojson");
    let b = d.path().join("b.geojson");
    points(&a, 300, "a", 20.0);
    points(&b, 20_000, "b", 30.0);
    ns(&reg).arg("init").output().unwrap();
    import_ok(&reg, &a);
    let before = stats(&reg);
    let script = format!(
        "trap '' XFSZ; ulimit -f 400; exec '{}' --registry '{}' import '{}'",
        bin().display(),
        reg.display(),
        b.display()
    );
    let o = Command::new("bash").args(["-c", &script]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("r.db")
            && (err.contains("disk") || err.contains("full") || err.contains("I/O")),
        "{err}"
    );
    assert_eq!(stats(&reg), before);
    verify_ok(&reg);
}

/// On a read-only file system an import fails with a clear error and a check
/// still answers (the registry is opened as immutable). Runs in a private
/// mount namespace (`unshare -rm`); where the kernel does not allow one the
/// test says so and checks nothing else.
#[test]
fn read_only_file_system_refuses_imports_and_still_checks() {
    if !Command::new("unshare")
        .args(["-rm", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("unshare -rm is not permitted here; read-only file system not exercised");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    let reg = dir.join("r.db");
    let a = d.path().join("a.geojson");
    let b = d.path().join("b.geojson");
    points(&a, 300, "a", 20.0);
    points(&b, 300, "b", 30.0);
    ns(&reg).arg("init").output().unwrap();
    import_ok(&reg, &a);
    let before = stats(&reg);
    let script = format!(
        "mount --bind '{dir}' '{dir}' && mount -o remount,bind,ro '{dir}' && \
         '{bin}' --registry '{reg}' import '{b}'; echo \"import=$?\"; \
         '{bin}' --registry '{reg}' check --point 10.0005,20.0005 --buffer 100m --format json > '{out}'; echo \"check=$?\"",
        dir = dir.display(),
        bin = bin().display(),
        reg = reg.display(),
        b = b.display(),
        out = d.path().join("report.json").display()
    );
    let o = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("import=1"), "{text}{err}");
    assert!(err.contains("r.db"), "{err}");
    assert!(text.contains("check=4"), "{text}{err}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(
        report["registry"]["content_hash"].as_str().unwrap(),
        before.1
    );
    assert_eq!(stats(&reg), before);
}
