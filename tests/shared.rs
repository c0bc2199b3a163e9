//! The shared registry on a real PostgreSQL with PostGIS
//! (`--registry postgresql://…`), against the file registry as the oracle:
//! same content hashes and reports, concurrent importers serialised on one
//! chain, a killed importer leaving nothing, `verify` catching a row edited
//! with SQL, and partners reading only what is releasable to them, enforced
//! by the database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::pg::Cluster;
use support::{code, mask_times, ns};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name)
}

/// `nostrike --registry URL`, its working copies in `cache`.
fn at(url: &str, cache: &Path) -> assert_cmd::Command {
    let mut c = ns(Path::new(url));
    c.env("NOSTRIKE_CACHE", cache);
    c
}

fn stats(mut c: assert_cmd::Command) -> serde_json::Value {
    let (rc, out, err) = code(c.args(["stats", "--format", "json"]));
    assert_eq!(rc, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// A report with its times and the registry's name masked.
fn masked(report: &str, name: &str) -> String {
    mask_times(report).replace(name, "REGISTRY")
}

const AREAS: &str = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","id":"centre","properties":{"buffer_m":1500},"geometry":{"type":"Point","coordinates":[24.94,60.17]}},
{"type":"Feature","id":"harbour","properties":{},"geometry":{"type":"Polygon","coordinates":[[[24.95,60.16],[24.97,60.16],[24.97,60.175],[24.95,60.175],[24.95,60.16]]]}},
{"type":"Feature","id":"road","properties":{"buffer_m":300},"geometry":{"type":"LineString","coordinates":[[1.50,42.50],[1.53,42.51],[1.57,42.54]]}},
{"type":"Feature","id":"empty-sea","properties":{"buffer_m":100},"geometry":{"type":"Point","coordinates":[20.0,59.0]}}
]}"#;

#[test]
fn shared_registry_answers_as_the_file_registry_does() {
    let pg = Cluster::start();
    let url = pg.database("shared");
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let file = tmp.path().join("file.db");
    let areas = tmp.path().join("areas.geojson");
    std::fs::write(&areas, AREAS).unwrap();
    at(&url, &cache).arg("init").assert().success();
    ns(&file).arg("init").assert().success();
    for (name, source) in [
        ("helsinki-sites.geojson", "helsinki"),
        ("andorra-2013-sites.geojson", "andorra"),
    ] {
        for mut c in [at(&url, &cache), ns(&file)] {
            c.args(["import", "--source", source])
                .arg(data(name))
                .assert()
                .success();
        }
    }
    // A re-import that retires sites (a replace with a subset) on both.
    let subset = tmp.path().join("subset.geojson");
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("andorra-2013-sites.geojson")).unwrap())
            .unwrap();
    let mut some = all.clone();
    let feats = some["features"].as_array_mut().unwrap();
    feats.truncate(feats.len() / 2);
    std::fs::write(&subset, some.to_string()).unwrap();
    for mut c in [at(&url, &cache), ns(&file)] {
        c.args(["import", "--replace", "--source", "andorra"])
            .arg(&subset)
            .assert()
            .success();
    }
    let (a, b) = (stats(at(&url, &cache)), stats(ns(&file)));
    assert_eq!(a["content_hash"], b["content_hash"]);
    assert_eq!(a["revision"], b["revision"]);
    assert_eq!(a["sites"], b["sites"]);
    assert_eq!(
        a["registry"],
        url.as_str(),
        "the report names the shared registry"
    );

    for format in ["json", "csv", "table", "geojson"] {
        let mut reports = Vec::new();
        for (mut c, name) in [
            (at(&url, &cache), url.clone()),
            (ns(&file), file.display().to_string()),
        ] {
            let (rc, out, err) = code(c.args(["check", "--format", format, "--areas"]).arg(&areas));
            assert_eq!(rc, 4, "{format}: conflicts expected: {err}");
            reports.push(masked(&out, &name));
        }
        assert_eq!(reports[0], reports[1], "{format} reports differ");
    }
    let (rc, out, _) =
        code(at(&url, &cache).args(["check", "--point", "60.17,24.94", "--format", "json"]));
    assert_eq!(rc, 4);
    assert!(out.contains(&format!("\"path\":\"{url}\"")), "{out}");

    let (mut logs, mut shows) = (Vec::new(), Vec::new());
    for (mut c, name) in [
        (at(&url, &cache), url.clone()),
        (ns(&file), file.display().to_string()),
    ] {
        let (rc, out, err) = code(c.arg("log"));
        assert_eq!(rc, 0, "{err}");
        logs.push(masked(&out, &name));
    }
    for mut c in [at(&url, &cache), ns(&file)] {
        let (rc, out, err) = code(c.args(["show", "helsinki/osm:way/8033120"]));
        assert_eq!(rc, 0, "{err}");
        shows.push(mask_times(&out));
    }
    assert_eq!(logs[0], logs[1]);
    assert_eq!(shows[0], shows[1]);
    // Auditors' `change_history` view reads the same in psql as in sqlite3.
    let q = "SELECT seq, kind, source, site_id, name, hash_after, prev_hash, entry_hash FROM change_history ORDER BY seq";
    type Entry = (
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        String,
    );
    let in_pg: Vec<Entry> = pg
        .client("postgres", "shared")
        .query(q, &[])
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
            )
        })
        .collect();
    let lite = rusqlite::Connection::open(&file).unwrap();
    let in_file: Vec<Entry> = lite
        .prepare(q)
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(in_pg.len() > 100 && in_pg.iter().any(|e| e.1 == "retired"));
    assert_eq!(in_pg, in_file);
    let (rc, out, err) = code(at(&url, &cache).arg("verify"));
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains(&url) && out.contains("OK"), "{out}");

    // An offline copy pulled from the shared registry carries its content hash.
    let laptop = tmp.path().join("laptop.db");
    let mut c = ns(&file);
    c.env("NOSTRIKE_CACHE", &cache)
        .args(["pull", "--from", &url, "--to"])
        .arg(&laptop)
        .assert()
        .success();
    assert_eq!(stats(ns(&laptop))["content_hash"], b["content_hash"]);

    // A working copy deleted (or damaged into another file) is rebuilt.
    std::fs::remove_dir_all(&cache).unwrap();
    assert_eq!(stats(at(&url, &cache))["content_hash"], b["content_hash"]);
}

#[test]
fn a_shared_registry_that_is_not_there_fails_loudly() {
    let pg = Cluster::start();
    let url = pg.database("nothing");
    let tmp = tempfile::tempdir().unwrap();
    let (rc, _, err) = code(at(&url, tmp.path()).args(["check", "--point", "60.17,24.94"]));
    assert_eq!(rc, 1);
    assert!(
        err.contains("no registry here") && err.contains(&url),
        "{err}"
    );
    // A server that is not running.
    let gone = pg
        .url("postgres", "nothing")
        .replace("nspg", "nspg-missing");
    let (rc, _, err) = code(at(&gone, tmp.path()).args(["check", "--point", "60.17,24.94"]));
    assert_eq!(rc, 1);
    assert!(err.contains("cannot connect"), "{err}");
    // init twice.
    at(&url, tmp.path()).arg("init").assert().success();
    let (rc, _, err) = code(at(&url, tmp.path()).arg("init"));
    assert_eq!(rc, 1);
    assert!(err.contains("already holds a nostrike registry"), "{err}");
    // An empty shared registry is refused by check as an empty file is.
    let (rc, _, err) = code(at(&url, tmp.path()).args(["check", "--point", "60.17,24.94"]));
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("has no sites") && err.contains(&url), "{err}");
}

/// Three sites of team `team`, named for batch `b`.
fn team_file(dir: &Path, team: usize, b: usize) -> PathBuf {
    let feats: Vec<String> = (0..3)
        .map(|i| {
            format!(
                r#"{{"type":"Feature","id":"t{team}-{i}","properties":{{"name":"team {team} site {i} batch {b}","category":"education"}},"geometry":{{"type":"Point","coordinates":[{},{}]}}}}"#,
                10.0 + team as f64 + i as f64 * 0.01,
                50.0
            )
        })
        .collect();
    support::write_collection(&dir.join(format!("team{team}-{b}.geojson")), &feats)
}

#[test]
fn concurrent_importers_serialise_on_one_chain_head() {
    const TEAMS: usize = 4;
    const BATCHES: usize = 20;
    let pg = Cluster::start();
    let url = pg.database("busy");
    let tmp = tempfile::tempdir().unwrap();
    at(&url, &tmp.path().join("c"))
        .arg("init")
        .assert()
        .success();
    let handles: Vec<_> = (0..TEAMS)
        .map(|team| {
            let (url, dir) = (url.clone(), tmp.path().to_path_buf());
            std::thread::spawn(move || {
                // Each importer its own machine (its own working copy).
                let cache = dir.join(format!("cache{team}"));
                for b in 0..BATCHES {
                    let f = team_file(&dir, team, b);
                    let (rc, _, err) = code(
                        at(&url, &cache)
                            .args(["import", "--source", &format!("team{team}")])
                            .arg(&f),
                    );
                    assert_eq!(rc, 0, "team {team} batch {b}: {err}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut db = pg.client("postgres", "busy");
    let revisions: Vec<i64> = db
        .query("SELECT revision FROM batches ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        revisions,
        (1..=(TEAMS * BATCHES) as i64).collect::<Vec<_>>(),
        "every batch kept, revisions gapless and in order"
    );
    let entries: i64 = db
        .query_one("SELECT count(*) FROM changes", &[])
        .unwrap()
        .get(0);
    // Each team: 3 sites added, then 3 updated by each later batch.
    assert_eq!(entries as usize, TEAMS * 3 * BATCHES);
    let names: Vec<String> = db
        .query("SELECT name FROM live_sites ORDER BY site_id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names.len(), TEAMS * 3);
    assert!(names
        .iter()
        .all(|n| n.ends_with(&format!("batch {}", BATCHES - 1))));
    let (rc, out, err) = code(at(&url, &tmp.path().join("c")).arg("verify"));
    assert_eq!(rc, 0, "chain intact: {out}{err}");
}

/// The rows the database holds of each table.
fn counts(db: &mut postgres::Client) -> Vec<i64> {
    ["versions", "changes", "batches", "sites", "packed"]
        .iter()
        .map(|t| {
            db.query_one(&format!("SELECT count(*) FROM {t}"), &[])
                .unwrap()
                .get(0)
        })
        .collect()
}

/// A shared registry in database `db` holding the shipped Helsinki sites:
/// its URL, a temporary folder and the working copies' folder in it.
fn helsinki(pg: &Cluster, db: &str) -> (String, tempfile::TempDir, PathBuf) {
    let url = pg.database(db);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    at(&url, &cache).arg("init").assert().success();
    at(&url, &cache)
        .args(["import", "--source", "helsinki"])
        .arg(data("helsinki-sites.geojson"))
        .assert()
        .success();
    (url, tmp, cache)
}

#[test]
fn an_importer_killed_mid_batch_leaves_nothing_partial() {
    let pg = Cluster::start();
    let (url, tmp, cache) = helsinki(&pg, "killed");
    let big = tmp.path().join("big.geojson");
    let feats: Vec<String> = (0..40_000)
        .map(|i| {
            format!(
                r#"{{"type":"Feature","id":"b{i}","properties":{{"name":"site {i}","category":"education"}},"geometry":{{"type":"Point","coordinates":[{},{}]}}}}"#,
                -60.0 + (i % 200) as f64 * 0.1,
                -30.0 + (i / 200) as f64 * 0.1
            )
        })
        .collect();
    support::write_collection(&big, &feats);
    let mut db = pg.client("postgres", "killed");
    let before = counts(&mut db);
    let hash_before = stats(at(&url, &cache))["content_hash"].clone();
    // Killed once inside its transaction before sending, once while sending rows.
    for phase in [
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY versions%' OR query LIKE 'COPY changes%' OR query LIKE 'COPY sites%'",
    ] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("nostrike"))
            .arg("--registry")
            .arg(&url)
            .args(["import", "--source", "big"])
            .arg(&big)
            .env("NOSTRIKE_CACHE", &cache)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let mut seen = false;
        while start.elapsed() < Duration::from_secs(120) {
            let n: i64 = db.query_one(phase, &[]).unwrap().get(0);
            if n > 0 {
                seen = true;
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(
            seen && !status.success(),
            "the importer was to be killed at: {phase}"
        );
        // Its transaction is rolled back once its connection is gone.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            let n: i64 = db
                .query_one("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", &[])
                .unwrap()
                .get(0);
            if n == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(counts(&mut db), before, "nothing of the killed batch is kept ({phase})");
        assert_eq!(stats(at(&url, &cache))["content_hash"], hash_before);
        let (rc, out, err) = code(at(&url, &cache).arg("verify"));
        assert_eq!(rc, 0, "{out}{err}");
    }
    // The next import goes through whole.
    at(&url, &cache)
        .args(["import", "--source", "big"])
        .arg(&big)
        .assert()
        .success();
    let after = counts(&mut db);
    assert_eq!(after[0], before[0] + 40_000);
    assert_eq!(after[2], before[2] + 1);
    // The killed writers' private copies (each the registry's size) are gone.
    let left: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("-write-"))
        .collect();
    assert!(left.is_empty(), "private copies left behind: {left:?}");
}

#[test]
fn verify_catches_a_row_edited_with_sql() {
    let pg = Cluster::start();
    let (url, _tmp, cache) = helsinki(&pg, "edited");
    // Checks have run: the working copy is up to date before the edit.
    at(&url, &cache)
        .args(["check", "--point", "60.17,24.94"])
        .assert()
        .code(4);
    let mut db = pg.client("postgres", "edited");
    // The logs refuse an edit outright.
    let refused = db
        .execute(
            "UPDATE versions SET name = 'moved' WHERE site_id = 'osm:way/8033120'",
            &[],
        )
        .unwrap_err();
    assert!(
        refused.to_string().contains("append-only")
            || format!("{refused:?}").contains("append-only")
    );
    let refused = db
        .execute("DELETE FROM changes WHERE seq = 1", &[])
        .unwrap_err();
    assert!(format!("{refused:?}").contains("append-only"));
    // An owner who turns the triggers off is still caught.
    db.batch_execute(
        "SET session_replication_role = replica;
         UPDATE versions SET name = 'Not a museum' WHERE site_id = 'osm:way/8033120';
         SET session_replication_role = origin;",
    )
    .unwrap();
    let (rc, out, err) = code(at(&url, &cache).arg("verify"));
    assert_eq!(rc, 1, "{out}{err}");
    assert!(out.contains("osm:way/8033120"), "{out}");
    // A live row pointed at another site's version.
    let (edited, _tmp2, cache2) = helsinki(&pg, "edited2");
    pg.sql(
        "edited2",
        "UPDATE sites SET version = (SELECT min(version) FROM sites) WHERE site_id = 'osm:way/8033120'",
    );
    let (rc, out, err) = code(at(&edited, &cache2).arg("verify"));
    assert_eq!(rc, 1, "{out}{err}");
    assert!(out.contains("osm:way/8033120"), "{out}");
}

/// Site ids a role reads from `live_sites`.
fn visible(pg: &Cluster, role: &str, db: &str) -> Vec<String> {
    let mut c = pg.client(role, db);
    let mut v: Vec<String> = c
        .query("SELECT site_id FROM live_sites", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    v.sort();
    v
}

#[test]
fn partners_read_only_the_sites_releasable_to_them() {
    let pg = Cluster::start();
    let url = pg.database("coalition");
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    at(&url, &cache).arg("init").assert().success();
    let sites = tmp.path().join("marked.geojson");
    let input = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","id":"open","properties":{"name":"Open Museum","category":"museum"},"geometry":{"type":"Point","coordinates":[1.52,42.50]}},
{"type":"Feature","id":"nato","properties":{"name":"Shared Library","category":"library","classification":"NATO RESTRICTED","releasable_to":["NATO","UKR"]},"geometry":{"type":"Point","coordinates":[1.531,42.511]}},
{"type":"Feature","id":"usa","properties":{"name":"Depot","category":"cultural_refuge","classification":"SECRET","releasable_to":["USA"]},"geometry":{"type":"Point","coordinates":[1.532,42.512]}},
{"type":"Feature","id":"fra","properties":{"name":"Archive","category":"archive","classification":"DR","releasable_to":["FRA","USA"]},"geometry":{"type":"Point","coordinates":[1.533,42.513]}}
]}"#;
    std::fs::write(&sites, input).unwrap();
    at(&url, &cache)
        .args(["import", "--source", "m"])
        .arg(&sites)
        .assert()
        .success();
    pg.sql(
        "coalition",
        "CREATE ROLE partner_fra LOGIN IN ROLE nostrike_partner;
         CREATE ROLE partner_ukr LOGIN IN ROLE nostrike_partner;
         CREATE ROLE analyst LOGIN IN ROLE nostrike_maintainer;
         INSERT INTO nostrike_partners VALUES ('partner_fra', '{FRA}'), ('partner_ukr', '{UKR}');",
    );
    // The oracle: the input's own markings, read here without nostrike.
    let doc: serde_json::Value = serde_json::from_str(input).unwrap();
    let expect = |country: &str| -> Vec<String> {
        let mut v: Vec<String> = doc["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| match f["properties"]["releasable_to"].as_array() {
                None => true,
                Some(l) => l.iter().any(|c| c == country),
            })
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(visible(&pg, "partner_fra", "coalition"), expect("FRA"));
    assert_eq!(visible(&pg, "partner_ukr", "coalition"), expect("UKR"));
    assert_eq!(visible(&pg, "analyst", "coalition").len(), 4);
    assert_ne!(expect("FRA"), expect("UKR"));
    // A partner cannot widen its own countries, read another's, or write.
    let mut fra = pg.client("partner_fra", "coalition");
    assert!(fra
        .execute("UPDATE nostrike_partners SET countries = '{USA}'", &[])
        .is_err());
    let rows = fra
        .query("SELECT role_name FROM nostrike_partners", &[])
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(fra.execute("DELETE FROM sites", &[]).is_err());
    assert!(fra.query("SELECT * FROM changes", &[]).is_err());
    // nostrike run as a partner fails loudly (it needs the whole registry).
    let (rc, _, err) = code(
        at(&pg.url("partner_fra", "coalition"), &tmp.path().join("p")).args([
            "check",
            "--point",
            "42.51,1.53",
        ]),
    );
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("permission denied"), "{err}");
}

/// `GET path` from a server on `port`: the JSON body.
fn get_json(port: u16, path: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {raw}"))
}

#[test]
fn serve_on_a_shared_registry_follows_imports_made_elsewhere() {
    use std::io::BufRead;
    let pg = Cluster::start();
    let (url, tmp, cache) = helsinki(&pg, "served");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("nostrike"))
        .arg("--registry")
        .arg(&url)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("NOSTRIKE_CACHE", tmp.path().join("server-cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .rsplit_once("http://127.0.0.1:")
        .and_then(|(_, p)| p.trim().trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("serve did not say where it listens: {line:?}"));
    assert!(line.contains(&url), "{line}");
    let first = get_json(port, "/api/stats");
    assert_eq!(first["registry"]["path"], url.as_str());
    assert_eq!(first["registry"]["revision"], 1);
    // Another analyst imports, from another machine (another working copy).
    at(&url, &cache)
        .args(["import", "--source", "andorra"])
        .arg(data("andorra-2013-sites.geojson"))
        .assert()
        .success();
    let expect = stats(at(&url, &cache));
    let start = Instant::now();
    let mut now = first;
    while now["registry"]["revision"] != 2 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(250));
        now = get_json(port, "/api/stats");
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        now["registry"]["revision"], 2,
        "the server never showed the import"
    );
    assert_eq!(now["registry"]["content_hash"], expect["content_hash"]);
    assert_eq!(now["sites"], expect["sites"]);
}

/// PostgreSQL refuses COPY into a table whose row-level security applies to
/// the role: imports by a maintainer that is not a superuser failed.
#[test]
fn a_maintainer_that_is_not_a_superuser_could_not_import() {
    let pg = Cluster::start();
    let (_, tmp, _) = helsinki(&pg, "roles");
    pg.sql(
        "roles",
        "CREATE ROLE analyst LOGIN IN ROLE nostrike_maintainer;",
    );
    let analyst = pg.url("analyst", "roles");
    let cache = tmp.path().join("analyst");
    let (rc, _, err) = code(
        at(&analyst, &cache)
            .args(["import", "--source", "andorra"])
            .arg(data("andorra-2013-sites.geojson")),
    );
    assert_eq!(rc, 0, "{err}");
    // A replacing re-import retires sites too (DELETE under the policies).
    let (rc, _, err) = code(
        at(&analyst, &cache)
            .args(["import", "--replace", "--source", "helsinki"])
            .arg(team_file(tmp.path(), 0, 0)),
    );
    assert_eq!(rc, 0, "{err}");
    let (rc, out, err) = code(at(&analyst, &cache).args([
        "check",
        "--point",
        "42.5063,1.5218",
        "--buffer",
        "2km",
        "--format",
        "csv",
    ]));
    assert_eq!(rc, 4, "{err}");
    assert!(out.lines().count() > 2, "{out}");
    let (rc, out, err) = code(at(&analyst, &tmp.path().join("fresh")).arg("verify"));
    assert_eq!(rc, 0, "{out}{err}");
    let s = stats(at(&analyst, &cache));
    assert_eq!(s["revision"], 3);
}

/// Policies, keys, completions and pulls need no registry: with a shared
/// one named in the environment they connected to it anyway, and failed
/// when it could not be reached.
#[test]
fn a_command_that_needs_no_registry_connected_to_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = format!(
        "postgresql://postgres@{}/none",
        tmp.path()
            .join("no-server")
            .display()
            .to_string()
            .replace('/', "%2F")
    );
    let run = |args: &[&str]| {
        let mut c = ns(Path::new(&nowhere));
        c.env("NOSTRIKE_CACHE", tmp.path()).args(args);
        code(&mut c)
    };
    let (rc, out, err) = run(&["policy", "show"]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("caution_margin_m"), "{out}");
    let dir = tmp.path().display().to_string();
    let (rc, _, err) = run(&["key", "new", "alice", "--dir", &dir]);
    assert_eq!(rc, 0, "{err}");
    // A command that does use it still fails loudly.
    let (rc, _, err) = run(&["stats"]);
    assert_eq!(rc, 1);
    assert!(err.contains("cannot connect"), "{err}");
}
