//! End-to-end tests: the real `nostrike` binary over every command, exit code and format.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

mod support;

use assert_cmd::Command;
use serde_json::Value;
use support::{code, ns, validate};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");

fn helsinki() -> PathBuf {
    Path::new(DATA).join("helsinki-sites.geojson")
}

fn andorra() -> PathBuf {
    Path::new(DATA).join("andorra-2013-sites.geojson")
}

/// A registry with the Helsinki and Andorra sites.
fn registry(dir: &Path) -> PathBuf {
    let reg = dir.join("r.db");
    ns(&reg).arg("init").assert().success();
    ns(&reg)
        .arg("import")
        .arg(helsinki())
        .arg(andorra())
        .assert()
        .success();
    reg
}

/// `nostrike stats --format json` of a registry.
fn stats_json(reg: &Path) -> Value {
    serde_json::from_str(&code(ns(reg).args(["stats", "--format", "json"])).1).unwrap()
}

/// The registry's content hash, from `stats`.
fn content_hash(reg: &Path) -> String {
    stats_json(reg)["content_hash"]
        .as_str()
        .unwrap()
        .to_string()
}

fn json_check(reg: &Path, args: &[&str]) -> (i32, Value) {
    let (c, out, err) = code(ns(reg).arg("check").args(args).args(["--format", "json"]));
    let v: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    (c, v)
}

#[test]
fn conflict_caution_and_clear_have_their_exit_codes_and_reports() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let (c, r) = json_check(&reg, &["--point", "42.5110,1.5306", "--buffer", "50 m"]);
    assert_eq!(c, 4);
    validate(&r);
    assert_eq!(r["verdict"], "conflict");
    assert_eq!(r["registry"]["revision"], 1);
    let hits = r["areas"][0]["hits"].as_array().unwrap();
    assert!(hits
        .iter()
        .any(|h| h["source_id"] == "osm:way/191582654" && h["verdict"] == "conflict"));
    let margins: Vec<f64> = hits
        .iter()
        .map(|h| h["margin_m"].as_f64().unwrap())
        .collect();
    assert!(
        margins.windows(2).all(|w| w[0] <= w[1]),
        "hits sorted by margin: {margins:?}"
    );
    for h in hits {
        let (d, q, m) = (
            h["distance_m"].as_f64().unwrap(),
            h["required_m"].as_f64().unwrap(),
            h["margin_m"].as_f64().unwrap(),
        );
        assert!((d - q - m).abs() < 1e-9);
    }
    let (c, r) = json_check(
        &reg,
        &["--point", "42°30'37\"N 1°31'30\"E", "--buffer", "50m"],
    );
    assert_eq!((c, r["verdict"].as_str().unwrap()), (3, "caution"));
    validate(&r);
    let (c, out, _) =
        code(ns(&reg).args(["check", "--point", "42.5200,1.4700", "--buffer", "200 m"]));
    assert_eq!(c, 0);
    assert!(
        out.contains("no protected sites within the required distance"),
        "{out}"
    );
    assert!(!out.to_lowercase().contains("cleared") && !out.to_lowercase().contains("safe"));
    assert!(out.contains("revision 1"));
}

#[test]
fn every_report_format_names_the_registry_state() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let (_, r) = json_check(&reg, &["--point", "42.5110,1.5306"]);
    let hash = r["registry"]["content_hash"].as_str().unwrap().to_string();
    for fmt in ["table", "geojson", "csv", "kml"] {
        let (c, out, _) = code(ns(&reg).args([
            "check",
            "--point",
            "42.5110,1.5306",
            "--buffer",
            "50m",
            "--format",
            fmt,
        ]));
        assert_eq!(c, 4, "{fmt}");
        assert!(out.contains(&hash), "{fmt} report lacks the content hash");
    }
    let (_, out, _) = code(ns(&reg).args([
        "check",
        "--point",
        "42.5110,1.5306",
        "--buffer",
        "50m",
        "--format",
        "geojson",
    ]));
    let g: Value = serde_json::from_str(&out).unwrap();
    let roles: Vec<&str> = g["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["role"].as_str().unwrap())
        .collect();
    assert!(roles.contains(&"area") && roles.contains(&"site") && roles.contains(&"link"));
    // -o writes the file and still exits with the verdict.
    let f = d.path().join("report.json");
    let (c, _, _) = code(
        ns(&reg)
            .args([
                "check",
                "--point",
                "42.5110,1.5306",
                "--format",
                "json",
                "-o",
            ])
            .arg(&f),
    );
    assert_eq!(c, 4);
    validate(&serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap());
}

#[test]
fn a_registry_that_cannot_be_trusted_is_an_error_never_a_clear() {
    let d = tempfile::tempdir().unwrap();
    let p = ["check", "--point", "0,0"];
    // Missing.
    let (c, _, err) = code(ns(&d.path().join("nope.db")).args(p));
    assert_eq!(c, 1, "{err}");
    assert!(
        !d.path().join("nope.db").exists(),
        "check must not create a registry"
    );
    // Empty file, foreign file, registry with no sites.
    let empty = d.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(code(ns(&empty).args(p)).0, 1);
    let foreign = d.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE x (y)")
        .unwrap();
    let (c, _, err) = code(ns(&foreign).args(p));
    assert_eq!(c, 1);
    assert!(err.contains("not a nostrike registry"), "{err}");
    let bare = d.path().join("bare.db");
    ns(&bare).arg("init").assert().success();
    let (c, _, err) = code(ns(&bare).args(p));
    assert_eq!(c, 1);
    assert!(err.contains("no sites"), "{err}");
    // A row edited behind nostrike's back cannot change a check's answer:
    // checks read the packed index written (from verified rows) at import.
    // `verify` names the row, and the next import refuses to build on it.
    let reg = registry(d.path());
    let answer = |reg: &std::path::Path| {
        let (c, out, err) =
            code(ns(reg).args(["check", "--point", "42.5110,1.5306", "--format", "csv"]));
        // Every column but the time of the check.
        let rows: Vec<String> = out.lines().map(support::mask_times).collect();
        (c, rows, err)
    };
    let (c0, rows0, _) = answer(&reg);
    assert_eq!(c0, 4, "the test point must have conflicts");
    rusqlite::Connection::open(&reg).unwrap().execute_batch("DROP TRIGGER versions_no_update; UPDATE versions SET geometry = X'0101000000000000000000F03F0000000000000040' WHERE site_id = 'osm:way/191582654'").unwrap();
    let (c1, rows1, _) = answer(&reg);
    assert_eq!((c1, &rows1), (c0, &rows0));
    let (c, out, _) = code(ns(&reg).arg("verify"));
    assert_eq!(c, 1);
    assert!(out.contains("osm:way/191582654 was edited"), "{out}");
    let extra = d.path().join("extra.geojson");
    std::fs::write(&extra, r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":"x1","properties":{"category":"museum"},"geometry":{"type":"Point","coordinates":[1.5,42.5]}}]}"#).unwrap();
    let (c, _, err) = code(ns(&reg).args(["import", extra.to_str().unwrap(), "--source", "more"]));
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("does not match its recorded hash"), "{err}");
    // Damage in the packed index itself: refused by the check that reads it, named by verify.
    std::fs::create_dir_all(d.path().join("second")).unwrap();
    let reg = registry(&d.path().join("second"));
    rusqlite::Connection::open(&reg)
        .unwrap()
        .execute_batch("UPDATE packed SET data = zeroblob(length(data)) WHERE id >= (1 << 40) AND id < (2 << 40)")
        .unwrap();
    let (c, _, err) = answer(&reg);
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("damaged") && err.contains("does not match its recorded hash"),
        "{err}"
    );
    let (c, out, _) = code(ns(&reg).arg("verify"));
    assert_eq!(c, 1);
    assert!(out.contains("packed index chunk"), "{out}");
    ns(&reg).arg("repack").assert().success();
    ns(&reg).arg("verify").assert().success();
    assert_eq!(answer(&reg).1, rows0);
}

#[test]
fn check_never_writes_to_the_registry() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    // Let SQLite fold the WAL back in so only the main file holds the data.
    ns(&reg).arg("verify").assert().success();
    let before = std::fs::read(&reg).unwrap();
    let mtime = std::fs::metadata(&reg).unwrap().modified().unwrap();
    for _ in 0..2 {
        code(ns(&reg).args(["check", "--point", "42.5110,1.5306"]));
    }
    assert_eq!(std::fs::read(&reg).unwrap(), before);
    assert_eq!(std::fs::metadata(&reg).unwrap().modified().unwrap(), mtime);
}

#[test]
fn bad_input_is_an_error_with_a_reason() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    // A malformed coordinate or distance on the command line is a usage
    // error (exit 2); a bad geometry or a missing file is an error (exit 1).
    for (args, needle, want) in [
        (vec!["check", "--point", "91,0"], "out of range", 2),
        (
            vec!["check", "--point", "42.5,1.5", "--buffer", "5 furlongs"],
            "unknown unit",
            2,
        ),
        (
            vec!["check", "--point", "42.5,1.5", "--buffer=-3"],
            "non-negative",
            2,
        ),
        (
            vec!["check", "--point", "38S 444140 3684706"],
            "ambiguous",
            2,
        ),
        (
            vec!["check", "--point", "42.5,1.5", "--as-of", "yesterday-ish"],
            "UTC time",
            2,
        ),
        (
            vec!["check", "--wkt", "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"],
            "intersects itself",
            1,
        ),
        (
            vec![
                "check",
                "--point",
                "42.5,1.5",
                "--policy",
                "/nonexistent.toml",
            ],
            "nonexistent",
            1,
        ),
    ] {
        let (c, out, err) = code(ns(&reg).args(&args));
        assert_eq!(c, want, "{args:?}: {out}{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.is_empty(), "an error prints no report: {out}");
    }
    // Usage errors exit 2, a check with no area among them.
    assert_eq!(code(ns(&reg).args(["check"])).0, 2);
    assert_eq!(code(ns(&reg).args(["check", "--no-such-flag"])).0, 2);
    assert_eq!(code(ns(&reg).args(["frobnicate"])).0, 2);
}

#[test]
fn imports_are_all_or_nothing_and_skip_invalid_writes_rejects() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let before = stats_json(&reg);
    let bad = d.path().join("bad.geojson");
    std::fs::write(
        &bad,
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","id":"ok1","properties":{"category":"museum","name":"Fine"},"geometry":{"type":"Point","coordinates":[10,50]}},
{"type":"Feature","id":"b1","properties":{"category":"church"},"geometry":{"type":"Point","coordinates":[10,50]}},
{"type":"Feature","id":"b2","properties":{"category":"museum","standoff_m":-4},"geometry":{"type":"Point","coordinates":[10,50]}},
{"type":"Feature","properties":{"category":"museum"},"geometry":{"type":"Point","coordinates":[10,50]}},
{"type":"Feature","id":"b4","properties":{"category":"museum"},"geometry":{"type":"Point","coordinates":[200,50]}},
{"type":"Feature","id":"ok1","properties":{"category":"museum"},"geometry":{"type":"Point","coordinates":[10,51]}},
{"type":"Feature","id":"b6","properties":{"category":"museum"},"geometry":null}
]}"#,
    )
    .unwrap();
    let (c, _, err) = code(ns(&reg).arg("import").arg(&bad));
    assert_eq!(c, 1);
    for needle in [
        "feature 2 (id \"b1\")",
        "unknown category \"church\"",
        "feature 3 (id \"b2\")",
        "feature 4: missing id",
        "feature 5 (id \"b4\")",
        "out of range",
        "feature 6 (id \"ok1\"): duplicate id",
        "feature 7 (id \"b6\")",
        "nothing was imported",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
    assert_eq!(stats_json(&reg), before, "a refused import changes nothing");
    let rejects = d.path().join("rejects.ndjson");
    ns(&reg)
        .arg("import")
        .arg(&bad)
        .arg("--skip-invalid")
        .arg("--rejects")
        .arg(&rejects)
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(&rejects).unwrap().lines().count(),
        6
    );
    let after = stats_json(&reg);
    assert_eq!(after["revision"], 2);
    assert_eq!(
        after["sites"].as_i64().unwrap(),
        before["sites"].as_i64().unwrap() + 1
    );
}

#[test]
fn reimport_is_idempotent_replace_retires_and_as_of_rechecks_the_past() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let (_, r2) = json_check(&reg, &["--point", "42.5110,1.5306"]);
    let out = code(ns(&reg).arg("import").arg(andorra())).1;
    assert!(
        out.contains("unchanged 66") && out.contains("revision 1"),
        "{out}"
    );
    // Replace the Andorra source with a file that lacks the church: it is retired.
    let text = std::fs::read_to_string(andorra()).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["features"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f["id"] != "osm:way/191582654");
    let smaller = d.path().join("andorra-2013-sites.geojson");
    std::fs::write(&smaller, v.to_string()).unwrap();
    let out = code(ns(&reg).arg("import").arg(&smaller).args([
        "--replace",
        "--source",
        "andorra-2013-sites",
    ]))
    .1;
    assert!(
        out.contains("retired 1") && out.contains("revision 2"),
        "{out}"
    );
    let (_, now) = json_check(&reg, &["--point", "42.5110,1.5306"]);
    assert!(!now["areas"][0]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["source_id"] == "osm:way/191582654"));
    // As of revision 1 the church is back, with the content hash of then.
    let (_, then) = json_check(&reg, &["--point", "42.5110,1.5306", "--as-of", "1"]);
    assert_eq!(then["registry"]["revision"], 1);
    assert_eq!(
        then["registry"]["content_hash"],
        r2["registry"]["content_hash"]
    );
    assert_eq!(then["areas"][0]["hits"], r2["areas"][0]["hits"]);
    assert_eq!(
        code(ns(&reg).args(["check", "--point", "42.5,1.5", "--as-of", "9"])).0,
        1
    );
    // History and log.
    let (c, out, _) = code(ns(&reg).args(["show", "andorra-2013-sites/osm:way/191582654"]));
    assert_eq!(c, 0);
    assert!(
        out.contains("RETIRED") && out.contains("added") && out.contains("retired"),
        "{out}"
    );
    let out = code(ns(&reg).arg("log")).1;
    assert_eq!(
        out.lines().filter(|l| l.starts_with("batch ")).count(),
        4,
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("source ")).count(),
        2,
        "each source's record, once: {out}"
    );
    ns(&reg).arg("verify").assert().success();
}

#[test]
fn exports_round_trip_to_the_same_content_hash() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let original = content_hash(&reg);
    for fmt in ["geojson", "csv"] {
        let f = d.path().join(format!("export.{fmt}"));
        ns(&reg)
            .args(["export", "--format", fmt, "-o"])
            .arg(&f)
            .assert()
            .success();
        let again = d.path().join(format!("again-{fmt}.db"));
        ns(&again).arg("init").assert().success();
        ns(&again).arg("import").arg(&f).assert().success();
        assert_eq!(content_hash(&again), original, "{fmt} export re-imported");
    }
    let kml = d.path().join("export.kml");
    ns(&reg)
        .args(["export", "--format", "kml", "-o"])
        .arg(&kml)
        .assert()
        .success();
    let k = std::fs::read_to_string(&kml).unwrap();
    assert_eq!(k.matches("<Placemark>").count(), 167);
    assert!(k.contains("<Folder><name>religious_site</name>"));
}

#[test]
fn sites_filters_and_formats() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let list = |args: &[&str]| -> Vec<Value> {
        serde_json::from_str(&code(ns(&reg).arg("sites").args(args).args(["--format", "json"])).1)
            .unwrap()
    };
    assert_eq!(list(&[]).len(), 167);
    assert_eq!(list(&["--category", "museum"]).len(), 8);
    assert_eq!(list(&["--source", "andorra-2013-sites"]).len(), 66);
    let near = list(&["--near", "42.5110,1.5306", "--within", "300m"]);
    assert!(
        near.iter().any(|s| s["id"] == "osm:way/191582654"),
        "{near:?}"
    );
    assert!(near.len() < 5);
    assert_eq!(list(&["--bbox", "1.4,42.4,1.8,42.7"]).len(), 66);
    assert_eq!(list(&["--name", "ateneum"]).len(), 1);
    let (c, out, _) = code(ns(&reg).args(["sites", "--category", "museum", "--format", "csv"]));
    assert_eq!(c, 0);
    assert_eq!(out.lines().count(), 9);
    let (c, out, _) = code(ns(&reg).args(["stats"]));
    assert_eq!(c, 0);
    assert!(out.contains("167 live site(s)"), "{out}");
}

/// `sites --near` searches the index; a point site is listed exactly when
/// GeographicLib's geodesic to it is within the distance, and a polygon
/// site whenever one of its vertices is.
#[test]
fn sites_near_through_the_index_agrees_with_geographiclib() {
    use geographiclib_rs::{Geodesic, InverseGeodesic};
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let all: Vec<Value> =
        serde_json::from_str(&code(ns(&reg).args(["sites", "--format", "geojson"])).1)
            .map(|fc: Value| fc["features"].as_array().unwrap().clone())
            .unwrap();
    let g = Geodesic::wgs84();
    for (lat, lon, dist) in [
        (60.17, 24.94, 800.0),
        (42.51, 1.53, 2500.0),
        (60.2, 24.9, 5000.0),
    ] {
        let near: Vec<Value> = serde_json::from_str(
            &code(ns(&reg).args([
                "sites",
                "--near",
                &format!("{lat},{lon}"),
                "--within",
                &format!("{dist}m"),
                "--format",
                "json",
            ]))
            .1,
        )
        .unwrap();
        let listed: std::collections::BTreeSet<String> = near
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect();
        assert!(!listed.is_empty(), "nothing near ({lat},{lon})");
        let mut points = 0;
        for f in &all {
            let id = f["properties"]["id"].as_str().unwrap().to_string();
            let geom = &f["geometry"];
            let vertices: Vec<(f64, f64)> = match geom["type"].as_str().unwrap() {
                "Point" => vec![(
                    geom["coordinates"][0].as_f64().unwrap(),
                    geom["coordinates"][1].as_f64().unwrap(),
                )],
                _ => geom["coordinates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|ring| ring.as_array().unwrap().iter())
                    .filter_map(|c| Some((c.get(0)?.as_f64()?, c.get(1)?.as_f64()?)))
                    .collect(),
            };
            let within = |&(x, y): &(f64, f64)| -> bool {
                let s12: f64 = g.inverse(lat, lon, y, x);
                s12 <= dist
            };
            if geom["type"] == "Point" {
                points += 1;
                let s12: f64 = g.inverse(lat, lon, vertices[0].1, vertices[0].0);
                // Away from the boundary by a millimetre either way.
                if (s12 - dist).abs() > 1e-3 {
                    assert_eq!(
                        listed.contains(&id),
                        s12 <= dist,
                        "{id} at {s12} m of ({lat},{lon}) within {dist} m"
                    );
                }
            } else if vertices.iter().any(within) {
                assert!(
                    listed.contains(&id),
                    "{id}: a vertex is within {dist} m of ({lat},{lon})"
                );
            }
        }
        assert!(points > 50, "{points}");
    }
}

#[test]
fn routes_polygons_and_area_files() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let (c, r) = json_check(
        &reg,
        &[
            "--route",
            "42.5063,1.5218; 42.5100,1.5400",
            "--corridor",
            "100 m",
        ],
    );
    assert_eq!(c, 4);
    validate(&r);
    assert_eq!(r["areas"][0]["buffer_m"], 100.0);
    // Each hit of a route says where along it: the closest approach lies
    // in one of its stretches for a conflict, and on the route.
    let length = 1_551.27; // GeodSolve -i: 42.5063 1.5218 42.5100 1.5400
    for h in r["areas"][0]["hits"].as_array().unwrap() {
        let route = &h["route"];
        let along = route["along_route_m"].as_f64().unwrap();
        assert!((0.0..=length).contains(&along), "{route}");
        let within = route["within_required"].as_array().unwrap();
        if h["verdict"] == "conflict" {
            assert!(
                within.iter().any(|w| w[0].as_f64().unwrap() <= along + 0.01
                    && along <= w[1].as_f64().unwrap() + 0.01),
                "{route}"
            );
        }
    }
    let areas = d.path().join("areas.geojson");
    std::fs::write(
        &areas,
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","id":"tgt-1","properties":{"buffer_m":10},"geometry":{"type":"Point","coordinates":[1.5306,42.5110]}},
{"type":"Feature","properties":{"id":"tgt-2","buffer_m":"0.2 km","location_error_m":15},"geometry":{"type":"Polygon","coordinates":[[[1.46,42.51],[1.47,42.51],[1.47,42.52],[1.46,42.52],[1.46,42.51]]]}}
]}"#,
    )
    .unwrap();
    let (c, r) = json_check(&reg, &["--areas", areas.to_str().unwrap()]);
    assert_eq!(c, 4);
    validate(&r);
    let a = r["areas"].as_array().unwrap();
    assert_eq!(
        (a[0]["id"].as_str(), a[1]["id"].as_str()),
        (Some("tgt-1"), Some("tgt-2"))
    );
    assert_eq!(
        (a[1]["buffer_m"].as_f64(), a[1]["location_error_m"].as_f64()),
        (Some(200.0), Some(15.0))
    );
    // Standard input.
    let (c, out, _) = code(
        ns(&reg)
            .args(["check", "--areas", "-", "--format", "json"])
            .write_stdin(std::fs::read_to_string(&areas).unwrap()),
    );
    assert_eq!(c, 4, "{out}");
    // Standard input is a stream, never a temporary file (none can be made
    // here), in each text format, with the same answers as the file.
    // Everything but the text naming where each area was read from.
    let file_areas = |r: &Value| -> Vec<String> {
        r["areas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let mut a = a.as_object().unwrap().clone();
                a.retain(|_, v| {
                    !v.to_string().contains("areas2.csv")
                        && !v.to_string().contains("standard input")
                });
                Value::Object(a).to_string()
            })
            .collect()
    };
    let csv = "id,lat,lon,buffer_m\ntgt-1,60.1699,24.9384,300\ntgt-2,42.5063,1.5218,50\n";
    let ndjson = concat!(
        r#"{"type":"Feature","id":"tgt-1","properties":{"buffer_m":300},"geometry":{"type":"Point","coordinates":[24.9384,60.1699]}}"#,
        "\n",
        r#"{"type":"Feature","id":"tgt-2","properties":{"buffer_m":50},"geometry":{"type":"Point","coordinates":[1.5218,42.5063]}}"#,
        "\n"
    );
    let csv_file = d.path().join("areas2.csv");
    std::fs::write(&csv_file, csv).unwrap();
    let (_, from_file) = json_check(&reg, &["--areas", csv_file.to_str().unwrap()]);
    for text in [csv, ndjson] {
        let (c, out, err) = code(
            ns(&reg)
                .env("TMPDIR", d.path().join("no-such-dir"))
                .args(["check", "--areas", "-", "--format", "json"])
                .write_stdin(text),
        );
        assert!(c == 4 || c == 3, "{err}");
        let r: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(file_areas(&r), file_areas(&from_file), "{text}");
    }
}

#[test]
fn gdal_converted_data_imports_to_the_same_sites() {
    // GDAL is the independent reader: CSV with WKT written by ogr2ogr from the same GeoJSON.
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("helsinki.csv");
    let st = support::oracle_tool("ogr2ogr")
        .args(["-f", "CSV", "-lco", "GEOMETRY=AS_WKT"])
        .arg(&csv)
        .arg(helsinki())
        .status()
        .expect("ogr2ogr (gdal-bin) must be installed; .ci/run installs it");
    assert!(st.success());
    let a = d.path().join("a.db");
    let b = d.path().join("b.db");
    for (reg, file) in [(&a, helsinki()), (&b, csv.clone())] {
        ns(reg).arg("init").assert().success();
        ns(reg)
            .arg("import")
            .arg(&file)
            .args(["--source", "helsinki"])
            .assert()
            .success();
    }
    let sites = |reg: &Path| -> Vec<(String, String, String, String)> {
        let v: Vec<Value> =
            serde_json::from_str(&code(ns(reg).args(["sites", "--format", "json"])).1).unwrap();
        let mut out: Vec<_> = v
            .iter()
            .map(|s| {
                (
                    s["id"].to_string(),
                    s["name"].to_string(),
                    s["category"].to_string(),
                    s["geometry"].to_string(),
                )
            })
            .collect();
        out.sort();
        out
    };
    let (sa, sb) = (sites(&a), sites(&b));
    assert_eq!(sa.len(), 101);
    assert_eq!(sa, sb);
    // And GDAL reads our GeoJSON export.
    let exp = d.path().join("export.geojson");
    ns(&a)
        .args(["export", "--format", "geojson", "-o"])
        .arg(&exp)
        .assert()
        .success();
    assert_gdal_reads(&exp, 101);
}

/// The shipped extracts (unchanged copies of `shared/data/osm/`) import whole.
#[test]
fn shipped_osm_extracts_import_whole() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    for f in [helsinki(), andorra()] {
        ns(&reg).arg("import").arg(f).assert().success();
    }
    let v: Value =
        serde_json::from_str(&code(ns(&reg).args(["stats", "--format", "json"])).1).unwrap();
    assert_eq!(v["sites"], 167);
    assert_eq!(v["by_category"]["shelter"], 36);
}

#[test]
fn policy_commands_and_demo() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("x.db");
    let (c, out, _) = code(ns(&reg).args(["policy", "show"]));
    assert_eq!(c, 0);
    assert!(out.contains("caution_margin_m"));
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, "caution_margin_m = -1\n[standoff_m]\n").unwrap();
    let (c, _, err) = code(ns(&reg).args(["policy", "check"]).arg(&bad));
    assert_eq!(c, 1);
    assert!(err.contains("caution_margin_m"), "{err}");
    let (c, out, _) = code(ns(&reg).arg("demo"));
    assert_eq!(c, 0, "{out}");
    for needle in [
        "CONFLICT",
        "CAUTION",
        "no protected sites within the required distance",
        "MGRS 31TCH79280756",
    ] {
        assert!(out.contains(needle), "demo lacks {needle:?}");
    }
    let (c, out, _) = code(ns(&reg).args(["completions", "bash"]));
    assert_eq!(c, 0);
    assert!(out.contains("nostrike"));
    // init refuses an existing file.
    ns(&reg).arg("init").assert().success();
    assert_eq!(code(ns(&reg).arg("init")).0, 1);
}

#[test]
fn registry_from_the_environment() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let mut c = Command::cargo_bin("nostrike").unwrap();
    let o = c
        .env("NOSTRIKE_REGISTRY", &reg)
        .args(["check", "--point", "42.5110,1.5306"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4));
    // The flag is accepted after the subcommand too.
    let mut c = Command::cargo_bin("nostrike").unwrap();
    let o = c
        .env_remove("NOSTRIKE_REGISTRY")
        .args(["check", "--point", "42.5110,1.5306", "--registry"])
        .arg(&reg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4));
}

/// (id, category, name, sorted coordinates) of every site, for comparing what two readers made of the same data.
/// (id, category, name, sorted coordinates in nanodegrees) of one site.
type Summary = (String, String, String, Vec<(i64, i64)>);

fn site_summary(reg: &Path, with_names: bool) -> Vec<Summary> {
    let v: Vec<Value> =
        serde_json::from_str(&code(ns(reg).args(["sites", "--format", "json"])).1).unwrap();
    let mut out: Vec<_> = v
        .iter()
        .map(|s| {
            fn walk(v: &Value, out: &mut Vec<(i64, i64)>) {
                match v.as_array() {
                    Some(a) if a.len() >= 2 && a[0].is_number() => out.push((
                        (a[0].as_f64().unwrap() * 1e9).round() as i64,
                        (a[1].as_f64().unwrap() * 1e9).round() as i64,
                    )),
                    Some(a) => a.iter().for_each(|x| walk(x, out)),
                    None => {}
                }
            }
            let mut coords = Vec::new();
            walk(&s["geometry"]["coordinates"], &mut coords);
            coords.sort();
            coords.dedup();
            let name = if with_names {
                s["name"].as_str().unwrap_or("").to_string()
            } else {
                String::new()
            };
            (
                s["id"].as_str().unwrap().to_string(),
                s["category"].as_str().unwrap().to_string(),
                name,
                coords,
            )
        })
        .collect();
    out.sort();
    out
}

/// GDAL's `ogrinfo` opens `path` and counts `features` features.
fn assert_gdal_reads(path: &Path, features: usize) {
    let o = support::oracle_tool("ogrinfo")
        .args(["-ro", "-al", "-so"])
        .arg(path)
        .output()
        .expect("ogrinfo (gdal-bin) must be installed");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("Feature Count: {features}")), "{out}");
}

fn ogr2ogr(args: &[&str]) {
    let st = support::oracle_tool("ogr2ogr")
        .args(args)
        .output()
        .expect("ogr2ogr (gdal-bin) must be installed; .ci/run installs it");
    assert!(
        st.status.success(),
        "ogr2ogr {args:?}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

fn import_into(dir: &Path, name: &str, files: &[&Path], extra: &[&str]) -> PathBuf {
    let reg = dir.join(format!("{name}.db"));
    ns(&reg).arg("init").assert().success();
    let (c, out, err) = code(
        ns(&reg)
            .arg("import")
            .args(files)
            .args(["--source", "helsinki"])
            .args(extra),
    );
    assert_eq!(c, 0, "{name}: {out}{err}");
    reg
}

#[test]
fn geopackage_kml_and_shapefiles_written_by_gdal_import_to_the_same_sites() {
    let d = tempfile::tempdir().unwrap();
    let dp = d.path();
    let h = helsinki();
    let hs = h.to_str().unwrap();
    let reference = import_into(dp, "ref", &[&h], &[]);
    let expect = site_summary(&reference, true);
    assert_eq!(expect.len(), 101);
    let gpkg = dp.join("h.gpkg");
    ogr2ogr(&["-f", "GPKG", gpkg.to_str().unwrap(), hs]);
    assert_eq!(
        site_summary(&import_into(dp, "gpkg", &[&gpkg], &[]), true),
        expect,
        "GeoPackage"
    );
    let kml = dp.join("h.kml");
    ogr2ogr(&["-f", "KML", kml.to_str().unwrap(), hs]);
    assert_eq!(
        site_summary(&import_into(dp, "kml", &[&kml], &[]), true),
        expect,
        "KML"
    );
    // A shapefile holds one geometry type: points plain, polygons zipped, lines plain.
    let mut parts = Vec::new();
    for (kind, file) in [
        ("POINT", "pts.shp"),
        ("POLYGON", "polys.shp"),
        ("LINESTRING", "lines.shp"),
    ] {
        let p = dp.join(file);
        ogr2ogr(&[
            "-f",
            "ESRI Shapefile",
            "-lco",
            "ENCODING=UTF-8",
            p.to_str().unwrap(),
            hs,
            "-where",
            &format!("OGR_GEOMETRY='{kind}'"),
        ]);
        parts.push(p);
    }
    let zip_path = dp.join("polys.zip");
    {
        let f = std::fs::File::create(&zip_path).unwrap();
        let mut z = zip::ZipWriter::new(f);
        for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
            let p = dp.join(format!("polys.{ext}"));
            if p.exists() {
                z.start_file(
                    format!("polys.{ext}"),
                    zip::write::SimpleFileOptions::default(),
                )
                .unwrap();
                std::io::Write::write_all(&mut z, &std::fs::read(&p).unwrap()).unwrap();
            }
        }
        z.finish().unwrap();
    }
    let shp = import_into(dp, "shp", &[&parts[0], &zip_path, &parts[2]], &[]);
    assert_eq!(site_summary(&shp, true), expect, "Shapefile");
    // Our GeoPackage export: GDAL opens it, and it re-imports to the same content hash.
    let out = dp.join("export.gpkg");
    ns(&reference)
        .args(["export", "--format", "gpkg", "-o"])
        .arg(&out)
        .assert()
        .success();
    assert_gdal_reads(&out, 101);
    let again = dp.join("again.db");
    ns(&again).arg("init").assert().success();
    ns(&again).arg("import").arg(&out).assert().success();
    assert_eq!(content_hash(&again), content_hash(&reference));
}

#[test]
fn openstreetmap_pbf_imports_as_the_shared_extracts_were_derived() {
    let d = tempfile::tempdir().unwrap();
    // Andorra: the PBF read directly gives the same sites as the GeoJSON derived from it with pyosmium.
    let pbf = Path::new(FIXTURES).join("andorra-2013.osm.pbf");
    let direct = import_into(d.path(), "pbf", &[&pbf], &[]);
    let derived = import_into(d.path(), "geojson", &[&andorra()], &[]);
    assert_eq!(site_summary(&direct, true), site_summary(&derived, true));
    // Helsinki: one way is cut by the extract's edge; it is refused by name, and with
    // --skip-invalid the other 100 match.
    let pbf = Path::new(FIXTURES).join("helsinki.osm.pbf");
    let reg = d.path().join("h.db");
    ns(&reg).arg("init").assert().success();
    let (c, _, err) = code(
        ns(&reg)
            .arg("import")
            .arg(&pbf)
            .args(["--source", "helsinki"]),
    );
    assert_eq!(c, 1);
    assert!(
        err.contains("osm:way/17429106") && err.contains("missing from the extract"),
        "{err}"
    );
    let rej = d.path().join("rej.ndjson");
    ns(&reg)
        .arg("import")
        .arg(&pbf)
        .args(["--source", "helsinki", "--skip-invalid", "--rejects"])
        .arg(&rej)
        .assert()
        .success();
    let mut expect = site_summary(&import_into(d.path(), "hj", &[&helsinki()], &[]), true);
    expect.retain(|s| s.0 != "osm:way/17429106");
    assert_eq!(site_summary(&reg, true), expect);
}

/// Every file of the malformed corpus (`tests/corpus/bad/`, notes in
/// `NOTES.tsv`) is refused whole by a default import: exit 1, a message that
/// names the file, no panic, and the registry unchanged.
#[test]
fn the_malformed_corpus_is_refused_whole() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/bad");
    let notes = std::fs::read_to_string(corpus.join("NOTES.tsv")).unwrap();
    let files: Vec<&str> = notes
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert!(files.len() >= 60, "the corpus has {} files", files.len());
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let before = stats_json(&reg);
    for f in files {
        let path = corpus.join(f);
        assert!(path.exists(), "{f} is listed but missing");
        let (c, out, err) = code(
            ns(&reg)
                .arg("import")
                .arg(&path)
                .args(["--source", "corpus"]),
        );
        assert_eq!(c, 1, "{f}: exit {c}\n{out}{err}");
        assert!(!err.contains("panicked"), "{f}: {err}");
        assert!(
            err.contains(f),
            "{f}: the message does not name the file: {err}"
        );
        assert!(
            err.lines().count() <= 210,
            "{f}: message of {} lines",
            err.lines().count()
        );
    }
    assert_eq!(
        stats_json(&reg),
        before,
        "a refused import changed the registry"
    );
    ns(&reg).arg("verify").assert().success();
}

/// Odd but valid values are stored and exported verbatim, in every script.
#[test]
fn odd_values_are_kept_verbatim() {
    let d = tempfile::tempdir().unwrap();
    let names = [
        "المتحف الوطني".to_string(),
        "\u{202B}בית הכנסת הגדול\u{202C}".to_string(),
        "故宫博物院".to_string(),
        "🏛️ museum 🕌⛪🕍".to_string(),
        "quote \" apostrophe ' backslash \\ slash /".to_string(),
        "line\nbreak\ttab\rreturn".to_string(),
        "Robert'); DROP TABLE sites;--".to_string(),
        "=HYPERLINK(\"http://x\")".to_string(),
        "@SUM(A1:A2)".to_string(),
        "x".repeat(100_000),
    ];
    let features: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| serde_json::json!({"type": "Feature", "id": format!("odd-{i}"), "properties": {"category": "museum", "name": n, "note": n}, "geometry": {"type": "Point", "coordinates": [10.0 + i as f64 * 0.01, 50.0]}}))
        .collect();
    let f = d.path().join("odd.geojson");
    std::fs::write(
        &f,
        serde_json::json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    ns(&reg).arg("import").arg(&f).assert().success();
    let listed: Vec<Value> =
        serde_json::from_str(&code(ns(&reg).args(["sites", "--format", "json"])).1).unwrap();
    for (i, n) in names.iter().enumerate() {
        let s = listed
            .iter()
            .find(|s| s["id"] == format!("odd-{i}"))
            .unwrap();
        assert_eq!(s["name"].as_str().unwrap(), n);
        // The source's own properties sit at the top level, as imported.
        assert_eq!(s["note"].as_str().unwrap(), n);
    }
    for fmt in ["geojson", "csv", "gpkg"] {
        let out = d.path().join(format!("odd-out.{fmt}"));
        ns(&reg)
            .args(["export", "--format", fmt, "-o"])
            .arg(&out)
            .assert()
            .success();
        let again = d.path().join(format!("again-{fmt}.db"));
        ns(&again).arg("init").assert().success();
        ns(&again).arg("import").arg(&out).assert().success();
        assert_eq!(content_hash(&again), content_hash(&reg), "{fmt} round trip");
    }
    // The CSV export guards formula-looking cells.
    let csv_text = std::fs::read_to_string(d.path().join("odd-out.csv")).unwrap();
    assert!(csv_text.contains("'=HYPERLINK") && csv_text.contains("'@SUM"));
}

/// `n` point areas on a grid over Andorra, with radii from 2 to 7 km, as GeoJSON.
fn andorra_grid(dir: &Path, n: usize) -> PathBuf {
    let side = (n as f64).sqrt().ceil() as usize;
    let feats: Vec<String> = (0..n)
        .map(|i| {
            let (x, y) = ((i % side) as f64 / side as f64, (i / side) as f64 / side as f64);
            format!(
                r#"{{"type":"Feature","properties":{{"id":"g{i}","buffer_m":{}}},"geometry":{{"type":"Point","coordinates":[{},{}]}}}}"#,
                2000.0 + (i % 6) as f64 * 1000.0,
                1.42 + 0.36 * x,
                42.43 + 0.22 * y
            )
        })
        .collect();
    support::write_collection(&dir.join(format!("grid-{n}.geojson")), &feats)
}

/// A batch check's JSON, CSV, GeoJSON, table, KML and CoT reports are checked and written a
/// run of areas at a time, the results spilled to a temporary file past
/// 8 MiB, so that memory does not grow with the report: whatever the run
/// length the bytes are the same, and the JSON is the report the
/// whole-report writer embeds in the HTML report.
#[test]
fn a_streamed_json_report_is_the_report_written_whole() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let big = andorra_grid(d.path(), 2000);
    let run = |areas: &Path, stream_run: Option<&str>, format: &str, out: &Path| {
        let mut c = ns(&reg);
        c.arg("check")
            .arg("--areas")
            .arg(areas)
            .args(["--format", format, "-q", "-o"])
            .arg(out);
        if let Some(n) = stream_run {
            c.env("NOSTRIKE_STREAM_RUN", n);
        }
        let (code, _, err) = code(&mut c);
        assert_eq!(code, 4, "{err}");
        std::fs::read(out).unwrap()
    };
    // Everything but the times of the checks.
    // (CoT writes its times with milliseconds.)
    let mask =
        |b: &[u8]| support::mask_times(&std::str::from_utf8(b).unwrap().replace(".000Z", "Z"));
    let whole = run(&big, Some("100000"), "json", &d.path().join("whole.json"));
    assert!(
        whole.len() > 8 << 20,
        "the report must pass the spill's memory limit: {} bytes",
        whole.len()
    );
    for n in [None, Some("1"), Some("97")] {
        let streamed = run(&big, n, "json", &d.path().join("streamed.json"));
        assert!(
            mask(&streamed) == mask(&whole),
            "run length {n:?}: the bytes differ"
        );
    }
    // The HTML report embeds the report written whole, in memory.
    let small = andorra_grid(d.path(), 40);
    // CSV, GeoJSON, the table, KML and CoT are streamed the same way.
    for format in ["csv", "geojson", "table", "cot", "kml"] {
        let one = run(
            &small,
            Some("1"),
            format,
            &d.path().join(format!("one.{format}")),
        );
        let all = run(
            &small,
            None,
            format,
            &d.path().join(format!("all.{format}")),
        );
        assert!(!one.is_empty());
        // Times differ between the two runs; all else is the same.
        assert_eq!(one.len(), all.len(), "{format}");
        assert!(mask(&one) == mask(&all), "{format}: the runs differ");
    }
    let streamed = run(&small, Some("7"), "json", &d.path().join("small.json"));
    let html = String::from_utf8(run(&small, None, "html", &d.path().join("small.html"))).unwrap();
    let start = html.find(r#"id="report-json">"#).unwrap() + r#"id="report-json">"#.len();
    let embedded = &html[start..start + html[start..].find("</script>").unwrap()];
    let strip = |t: &str| {
        let mut v: Value = serde_json::from_str(t).unwrap();
        v["checked_at"] = Value::Null;
        v["validity_time"] = Value::Null;
        v
    };
    assert!(
        strip(embedded) == strip(std::str::from_utf8(&streamed).unwrap()),
        "the streamed report is not the one written whole"
    );
}

/// The SHA-256 each batch records is its file's (hashed beside the reading,
/// set at commit); the oracle is coreutils' `sha256sum`.
#[test]
fn each_batch_records_its_files_sha256() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let conn = rusqlite::Connection::open(&reg).unwrap();
    let mut st = conn
        .prepare("SELECT file_name, file_sha256 FROM batches ORDER BY id")
        .unwrap();
    let batches: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), 2, "{batches:?}");
    for (file, sha256) in batches {
        let out = std::process::Command::new("sha256sum")
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success());
        let expected = String::from_utf8(out.stdout).unwrap();
        let expected = expected.split_whitespace().next().unwrap();
        assert_eq!(sha256, expected, "{file}");
    }
}

/// A batch check's KMZ is streamed like its KML: `doc.kml`, read back by
/// Python's `zipfile`, is the KML report (times aside) whatever the run
/// length, and the zip around it is byte for byte what the whole-report
/// writer makes of that document.
#[test]
fn a_streamed_kmz_is_the_kml_zipped_as_the_whole_writer_zips_it() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let areas = andorra_grid(d.path(), 150);
    let run = |stream_run: Option<&str>, format: &str| {
        let out = d
            .path()
            .join(format!("r{}.{format}", stream_run.unwrap_or("")));
        let mut c = ns(&reg);
        c.arg("check")
            .arg("--areas")
            .arg(&areas)
            .args(["--format", format, "-q", "-o"])
            .arg(&out);
        if let Some(n) = stream_run {
            c.env("NOSTRIKE_STREAM_RUN", n);
        }
        let (code, _, err) = code(&mut c);
        assert_eq!(code, 4, "{err}");
        (out.clone(), std::fs::read(&out).unwrap())
    };
    let unzip = |kmz: &Path| {
        let o = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.namelist() == ['doc.kml'], z.namelist(); sys.stdout.buffer.write(z.read('doc.kml'))",
            ])
            .arg(kmz)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let mask = |b: &[u8]| support::mask_times(std::str::from_utf8(b).unwrap());
    let (_, kml) = run(None, "kml");
    assert!(kml.len() > 100_000, "{} bytes of KML", kml.len());
    for n in [None, Some("1"), Some("97")] {
        let (path, kmz) = run(n, "kmz");
        let doc = unzip(&path);
        assert!(
            mask(&doc) == mask(&kml),
            "run length {n:?}: doc.kml is not the KML report"
        );
        let whole = nostrike_app::report::kmz_bytes(std::str::from_utf8(&doc).unwrap()).unwrap();
        assert!(
            whole == kmz,
            "run length {n:?}: the zip differs from the whole writer's"
        );
    }
}
