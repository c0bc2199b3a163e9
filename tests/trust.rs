//! End-to-end tests of what makes the data accountable: declared coverage
//! (an area no source covers is never a clear), staleness, and the report
//! fields that say so — through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

mod support;

use serde_json::Value;
use support::{code, ns, validate};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");

fn data(name: &str) -> PathBuf {
    Path::new(DATA).join(name)
}

/// A registry with the sites of one shipped extract (`helsinki` or
/// `andorra-2013`), their coverage declared from `coverage` if given.
fn registry(dir: &Path, extract: &str, coverage: Option<&str>) -> PathBuf {
    let reg = dir.join("r.db");
    ns(&reg).arg("init").assert().success();
    let mut c = ns(&reg);
    c.arg("import")
        .arg(data(&format!("{extract}-sites.geojson")));
    if let Some(cov) = coverage {
        c.arg("--coverage").arg(cov);
    }
    c.assert().success();
    reg
}

fn json_check(reg: &Path, args: &[&str]) -> (i32, Value) {
    let (c, out, err) = code(ns(reg).arg("check").args(args).args(["--format", "json"]));
    let v: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    validate(&v);
    (c, v)
}

/// The Andorra extract's declared coverage (its header's bounding box, about 29 × 25 km).
fn coverage_file() -> String {
    data("andorra-2013-coverage.geojson").display().to_string()
}

fn andorra(dir: &Path, coverage: Option<&str>) -> PathBuf {
    registry(dir, "andorra-2013", coverage)
}

fn helsinki(dir: &Path, coverage: Option<&str>) -> PathBuf {
    registry(dir, "helsinki", coverage)
}

#[test]
fn a_point_outside_every_coverage_is_uncovered_with_exit_5() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path(), Some(&coverage_file()));
    // Sydney, checked against an Andorra registry: no hits, and no data either.
    let (c, v) = json_check(&reg, &["--point", "-33.8568,151.2153", "--buffer", "100m"]);
    assert_eq!(c, 5, "{v}");
    assert_eq!(v["verdict"], "uncovered");
    let area = &v["areas"][0];
    assert_eq!(area["verdict"], "uncovered");
    assert_eq!(area["coverage"]["uncovered"], true);
    assert_eq!(area["coverage"]["covered_by"], serde_json::json!([]));
    assert_eq!(v["coverage"]["declared"][0]["source"], "andorra-2013-sites");
    assert!(v["coverage"]["note"].is_null());
    // Inside the extract, on a mountainside away from every site: covered, and clear.
    let (c, v) = json_check(&reg, &["--point", "42.5200,1.4700", "--buffer", "200m"]);
    let area = &v["areas"][0];
    assert_eq!(
        area["coverage"]["covered_by"][0], "andorra-2013-sites",
        "{v}"
    );
    assert_eq!(c, 0, "{v}");
    // The table says so in words, and the exit code is the same.
    let (c, out, _) = code(ns(&reg).args(["check", "--point", "-33.8568,151.2153"]));
    assert_eq!(c, 5);
    assert!(out.contains("UNCOVERED"), "{out}");
    assert!(out.contains("(exit 5)"), "{out}");
}

#[test]
fn latitude_and_longitude_swapped_in_a_batch_are_uncovered() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path(), Some(&coverage_file()));
    // Two copies of one aim point: one right, one with the axes swapped
    // (42.52 E, 1.47 N lies in the Indian Ocean off Somalia, far from any site).
    let areas = dir.path().join("areas.geojson");
    std::fs::write(
        &areas,
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"id":"right","buffer_m":10},"geometry":{"type":"Point","coordinates":[1.4700,42.5200]}},
{"type":"Feature","properties":{"id":"swapped","buffer_m":10},"geometry":{"type":"Point","coordinates":[42.5200,1.4700]}}]}"#,
    )
    .unwrap();
    let (c, v) = json_check(&reg, &["--areas", areas.to_str().unwrap()]);
    assert_eq!(v["areas"][1]["id"], "swapped");
    assert_eq!(v["areas"][1]["verdict"], "uncovered", "{v}");
    assert_eq!(v["areas"][0]["coverage"]["uncovered"], false, "{v}");
    assert_eq!(v["areas"][0]["verdict"], "clear", "{v}");
    assert_eq!(c, 5, "{v}");
}

#[test]
fn a_conflict_outranks_uncovered_and_caution_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let sites = dir.path().join("edge.geojson");
    std::fs::write(
        &sites,
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"id":"m1","category":"museum","name":"At the edge"},"geometry":{"type":"Point","coordinates":[10.0,50.0]}}]}"#,
    )
    .unwrap();
    let cov = dir.path().join("cov.geojson");
    // A coverage only ±0.01° around the museum: every reach leaves it.
    std::fs::write(
        &cov,
        r#"{"type":"Polygon","coordinates":[[[9.99,49.99],[10.01,49.99],[10.01,50.01],[9.99,50.01],[9.99,49.99]]]}"#,
    )
    .unwrap();
    ns(&reg)
        .arg("import")
        .arg(&sites)
        .arg("--coverage")
        .arg(&cov)
        .assert()
        .success();
    // 70 m from the museum: a conflict, and uncovered too.
    let (c, v) = json_check(&reg, &["--point", "50.0,10.001", "--buffer", "10m"]);
    assert_eq!((c, v["verdict"].as_str().unwrap()), (4, "conflict"), "{v}");
    assert_eq!(v["areas"][0]["coverage"]["uncovered"], true);
    // Within the caution margin only: uncovered outranks caution.
    let (c, v) = json_check(&reg, &["--point", "50.0,10.0045", "--buffer", "10m"]);
    assert_eq!(v["areas"][0]["hits"][0]["verdict"], "caution", "{v}");
    assert_eq!((c, v["verdict"].as_str().unwrap()), (5, "uncovered"), "{v}");
}

#[test]
fn no_declared_coverage_is_said_in_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let reg = helsinki(dir.path(), None);
    // Sydney again: without declared coverage the answer stays a clear,
    // and every report says what that clear does not mean.
    let (c, v) = json_check(&reg, &["--point", "-33.8568,151.2153"]);
    assert_eq!(c, 0, "{v}");
    assert!(v["coverage"]["note"]
        .as_str()
        .is_some_and(|n| n.contains("no source declares its coverage")));
    assert!(v["areas"][0]["coverage"].is_null());
    let (_, table, _) = code(ns(&reg).args(["check", "--point", "-33.8568,151.2153"]));
    assert!(table.contains("no source declares its coverage"), "{table}");
    let (_, gj, _) = code(ns(&reg).args([
        "check",
        "--point",
        "-33.8568,151.2153",
        "--format",
        "geojson",
    ]));
    let gj: Value = serde_json::from_str(&gj).unwrap();
    assert!(gj["coverage"]["note"].is_string(), "{gj}");
}

#[test]
fn coverage_declared_on_its_own_is_a_logged_revision_and_as_of_sees_the_past() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path(), None);
    let before: Value =
        serde_json::from_str(&code(ns(&reg).args(["stats", "--format", "json"])).1).unwrap();
    let (c, _, err) = code(ns(&reg).args(["coverage", "andorra-2013-sites", &coverage_file()]));
    assert_eq!(c, 0, "{err}");
    let after: Value =
        serde_json::from_str(&code(ns(&reg).args(["stats", "--format", "json"])).1).unwrap();
    assert_eq!(after["revision"], 2);
    assert_eq!(after["content_hash"], before["content_hash"]);
    let (_, log, _) = code(ns(&reg).arg("log"));
    assert!(log.contains("coverage by tester"), "{log}");
    let (_, sources, _) = code(ns(&reg).args(["sources", "--format", "json"]));
    let sources: Value = serde_json::from_str(&sources).unwrap();
    assert!(sources[0]["coverage"]
        .as_str()
        .is_some_and(|h| h.contains("andorra-2013-coverage.geojson")));
    assert_eq!(sources[0]["sites"], 66);
    assert!(sources[0]["last_import"].is_string());
    let (c, _) = json_check(&reg, &["--point", "-33.8568,151.2153"]);
    assert_eq!(c, 5);
    // At revision 1 no coverage was declared: the same check was a clear then.
    let (c, v) = json_check(&reg, &["--point", "-33.8568,151.2153", "--as-of", "1"]);
    assert_eq!(c, 0, "{v}");
    assert!(v["coverage"]["note"].is_string());
    // A source that does not exist is an error that says so.
    let (c, _, err) = code(ns(&reg).args(["coverage", "nosuch", &coverage_file()]));
    assert_eq!(c, 1);
    assert!(err.contains("no source named \"nosuch\""), "{err}");
}

#[test]
fn coverage_edited_outside_nostrike_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path(), Some(&coverage_file()));
    let conn = rusqlite::Connection::open(&reg).unwrap();
    // Change one byte of the coverage behind the tool's back.
    let wkb: Vec<u8> = conn
        .query_row(
            "SELECT coverage FROM sources WHERE name = 'andorra-2013-sites'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut edited = wkb.clone();
    let n = edited.len();
    edited[n - 1] ^= 1;
    conn.execute(
        "UPDATE sources SET coverage = ?1 WHERE name = 'andorra-2013-sites'",
        [&edited],
    )
    .unwrap();
    drop(conn);
    let (c, _, err) = code(ns(&reg).args(["check", "--point", "42.52,1.47"]));
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("andorra-2013-sites") && err.contains("coverage"),
        "{err}"
    );
    let (c, out, _) = code(ns(&reg).arg("verify"));
    assert_eq!(c, 1);
    assert!(out.contains("coverage"), "{out}");
}

#[test]
fn auto_coverage_states_its_extent_and_a_bad_coverage_file_refuses_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let reg = helsinki(dir.path(), Some("auto"));
    let (_, sources, _) = code(ns(&reg).args(["sources", "--format", "json"]));
    let sources: Value = serde_json::from_str(&sources).unwrap();
    let how = sources[0]["coverage"].as_str().unwrap();
    assert!(
        how.starts_with("auto: the extent of") && how.contains("buffered by 1000 m"),
        "{how}"
    );
    // 50 km north of the extract: outside the extent.
    let (c, _) = json_check(&reg, &["--point", "60.62,24.94"]);
    assert_eq!(c, 5);

    // A coverage that is a point: the whole import is refused, nothing stored.
    let reg2 = dir.path().join("r2.db");
    ns(&reg2).arg("init").assert().success();
    let bad = dir.path().join("bad.geojson");
    std::fs::write(&bad, r#"{"type":"Point","coordinates":[24.9,60.1]}"#).unwrap();
    let (c, _, err) = code(
        ns(&reg2)
            .arg("import")
            .arg(data("helsinki-sites.geojson"))
            .arg("--coverage")
            .arg(&bad),
    );
    assert_eq!(c, 1);
    assert!(
        err.contains("bad.geojson") && err.contains("not a Polygon or MultiPolygon"),
        "{err}"
    );
    let stats: Value =
        serde_json::from_str(&code(ns(&reg2).args(["stats", "--format", "json"])).1).unwrap();
    assert_eq!(stats["revision"], 0);
}

// ---- Staleness ---------------------------------------------------------

/// Today minus `days`, as YYYY-MM-DD.
fn days_ago(days: i64) -> String {
    let t = nostrike_core::time::now() - days * 86_400;
    nostrike_core::time::format_utc(t)[..10].to_string()
}

#[test]
fn stale_hits_are_flagged_and_never_lower_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path(), None);
    let p = ["--point", "42.5110,1.5306", "--buffer", "50m"];
    let (c, v) = json_check(&reg, &p);
    assert_eq!(c, 4, "{v}");
    let hits = v["areas"][0]["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2);
    // Nothing in the OpenStreetMap extract was ever verified: every hit is stale,
    // against its category's limit in the example policy.
    for h in hits {
        assert!(h["stale"]["last_verified"].is_null(), "{h}");
        assert!(h["stale"]["age_days"].is_null(), "{h}");
        let max = match h["category"].as_str().unwrap() {
            "medical" => 180,
            _ => 365,
        };
        assert_eq!(h["stale"]["max_age_days"], max, "{h}");
    }
    assert_eq!(v["staleness"]["stale_hits"], 2);
    assert_eq!(v["staleness"]["judged"], true);
    assert_eq!(v["areas"][0]["data"][0]["never_verified"], 2);
    assert!(v["areas"][0]["data"][0]["last_import"].is_string());

    // A re-verification ten days ago: a logged change, a new revision and
    // content hash; that hit is fresh, the verdict unchanged.
    let before: Value =
        serde_json::from_str(&code(ns(&reg).args(["stats", "--format", "json"])).1).unwrap();
    let date = days_ago(10);
    let (c, _, err) = code(ns(&reg).args([
        "verify-site",
        "andorra-2013-sites/osm:way/191582654",
        "--date",
        &date,
        "--by",
        "Lt. Example",
    ]));
    assert_eq!(c, 0, "{err}");
    let after: Value =
        serde_json::from_str(&code(ns(&reg).args(["stats", "--format", "json"])).1).unwrap();
    assert_eq!(after["revision"], 2);
    assert_ne!(after["content_hash"], before["content_hash"]);
    let (_, log, _) = code(ns(&reg).arg("log"));
    assert!(log.contains("verify-site by Lt. Example"), "{log}");
    ns(&reg).arg("verify").assert().success();
    let (c, v) = json_check(&reg, &p);
    assert_eq!(c, 4);
    let hits = v["areas"][0]["hits"].as_array().unwrap();
    let andreu = hits
        .iter()
        .find(|h| h["source_id"] == "osm:way/191582654")
        .unwrap();
    assert!(andreu.get("stale").is_none(), "{andreu}");
    assert_eq!(v["staleness"]["stale_hits"], 1);
    let data = &v["areas"][0]["data"][0];
    assert_eq!(data["last_verified_newest"], date.as_str());
    assert_eq!(data["never_verified"], 1);
    // The table marks the stale hit and counts it.
    let (_, table, _) = code(ns(&reg).arg("check").args(p));
    assert!(
        table.contains("STALE    never verified (policy: 180 days)"),
        "{table}"
    );
    assert!(
        table.contains("1 hit(s) rely on records not verified"),
        "{table}"
    );

    // A policy without max_age_days judges nothing stale, and says so.
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "caution_margin_m = 500.0\n[standoff_m]\ndefault = 200.0\n[protection_extra_m]\ngeneral = 0.0\nspecial = 0.0\nenhanced = 0.0\n",
    )
    .unwrap();
    let (c, v) = json_check(
        &reg,
        &[&p[..], &["--policy", policy.to_str().unwrap()]].concat(),
    );
    assert_eq!(c, 4);
    assert_eq!(v["staleness"]["judged"], false);
    assert!(v["areas"][0]["hits"][0].get("stale").is_none());

    // Refused: a date in the future, a site that does not exist.
    let (c, _, err) = code(ns(&reg).args([
        "verify-site",
        "osm:way/191582654",
        "--date",
        "2999-01-01",
        "--by",
        "x",
    ]));
    assert_eq!(c, 1);
    assert!(err.contains("future"), "{err}");
    let (c, _, err) = code(ns(&reg).args(["verify-site", "nope/1", "--date", &date, "--by", "x"]));
    assert_eq!(c, 1);
    assert!(err.contains("no live site"), "{err}");
}

#[test]
fn sites_stale_lists_what_needs_reverifying_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let sites = dir.path().join("s.geojson");
    let f = |id: &str, cat: &str, lv: Option<String>| {
        let lv = lv.map_or("null".to_string(), |d| format!("\"{d}\""));
        format!(
            r#"{{"type":"Feature","properties":{{"id":"{id}","category":"{cat}","last_verified":{lv}}},"geometry":{{"type":"Point","coordinates":[10.0,50.0]}}}}"#
        )
    };
    let features = [
        f("fresh-embassy", "diplomatic", Some(days_ago(30))),
        f("old-embassy", "diplomatic", Some(days_ago(100))),
        f("older-museum", "museum", Some(days_ago(400))),
        f("fresh-museum", "museum", Some(days_ago(300))),
        f("never", "museum", None),
    ];
    support::write_collection(&sites, &features);
    ns(&reg).arg("import").arg(&sites).assert().success();
    let list = |extra: &[&str]| -> Vec<String> {
        let (c, out, err) = code(
            ns(&reg)
                .args(["sites", "--stale", "--format", "json"])
                .args(extra),
        );
        assert_eq!(c, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(list(&[]), ["never", "older-museum", "old-embassy"]);
    assert_eq!(list(&["--category", "diplomatic"]), ["old-embassy"]);
    let (_, table, _) = code(ns(&reg).args(["sites", "--stale"]));
    assert!(table.contains("never"), "{table}");
    // A policy that sets no ages cannot list anything as stale: an error, not an empty list.
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "caution_margin_m = 0.0\n[standoff_m]\ndefault = 0.0\n[protection_extra_m]\ngeneral = 0.0\nspecial = 0.0\nenhanced = 0.0\n",
    )
    .unwrap();
    let (c, _, err) =
        code(ns(&reg).args(["sites", "--stale", "--policy", policy.to_str().unwrap()]));
    assert_eq!(c, 1);
    assert!(err.contains("max_age_days"), "{err}");
}

// ---- Releasability -----------------------------------------------------

/// A registry of five sites around 50° N 10° E: two withheld from UKR (a
/// point and a polygon), one releasable to NATO and UKR, two unrestricted.
fn marked_registry(dir: &Path) -> PathBuf {
    let reg = dir.join("r.db");
    ns(&reg).arg("init").assert().success();
    let sites = dir.join("marked.geojson");
    std::fs::write(
        &sites,
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"id":"open-1","category":"museum","name":"Open Museum"},"geometry":{"type":"Point","coordinates":[10.0,50.0]}},
{"type":"Feature","properties":{"id":"open-2","category":"education","name":"Open School"},"geometry":{"type":"Point","coordinates":[10.0052,50.0024]}},
{"type":"Feature","properties":{"id":"SECRET-PT","category":"archive","name":"Hidden Archive Zeta","classification":"NATO SECRET","releasable_to":["USA"],"external_ids":{"wikidata":"Q999999"}},"geometry":{"type":"Point","coordinates":[10.00312,50.00127]}},
{"type":"Feature","properties":{"id":"SECRET-POLY","category":"medical","name":"Unlisted Clinic Kappa","classification":"NATO CONFIDENTIAL","releasable_to":"USA, GBR"},"geometry":{"type":"Polygon","coordinates":[[[10.00412,49.99813],[10.00476,49.99813],[10.00476,49.99871],[10.00412,49.99871],[10.00412,49.99813]]]}},
{"type":"Feature","properties":{"id":"SHARED-1","category":"monument","name":"Shared Monument","classification":"NATO RESTRICTED","releasable_to":"NATO;UKR"},"geometry":{"type":"Point","coordinates":[9.99853,50.00091]}}]}"#,
    )
    .unwrap();
    ns(&reg)
        .arg("import")
        .arg(&sites)
        .args(["--source", "theatre"])
        .assert()
        .success();
    reg
}

#[test]
fn a_partner_report_holds_no_byte_of_a_withheld_site() {
    let dir = tempfile::tempdir().unwrap();
    let reg = marked_registry(dir.path());
    let areas = [
        "--point",
        "50.0020,10.0030",
        "--buffer",
        "10m",
        "--route",
        "50.0000,10.0020; 50.0030,10.0040",
        "--corridor",
        "20m",
    ];
    // Everything that would name or locate a withheld site: ids, names, an
    // external id, coordinates to 4 decimals and the polygon's bounding box.
    let forbidden = [
        "SECRET-PT",
        "Hidden Archive Zeta",
        "Q999999",
        "SECRET-POLY",
        "Unlisted Clinic Kappa",
        "10.0031",
        "50.0012",
        "50.0013",
        "10.0041",
        "10.0047",
        "10.0048",
        "49.9981",
        "49.9987",
        "NATO SECRET",
        "NATO CONFIDENTIAL",
    ];
    for format in ["table", "json", "geojson", "csv", "kml"] {
        let (full_code, full, err) =
            code(ns(&reg).arg("check").args(areas).args(["--format", format]));
        // The full report shows them (so the test can fail) ...
        assert!(
            full.contains("Hidden Archive Zeta") && full.contains("SECRET-POLY"),
            "{format}: {full}{err}"
        );
        let (c, out, err) = code(ns(&reg).arg("check").args(areas).args([
            "--format",
            format,
            "--releasable-to",
            "ukr",
        ]));
        // ... the partner's keeps the verdict and exit code ...
        assert_eq!(c, full_code, "{format}: {err}");
        assert_eq!(c, 4, "{format}");
        // ... shows what it may, says how much it withheld ...
        assert!(out.contains("Shared Monument"), "{format}: {out}");
        assert!(
            out.contains("not releasable to ukr") || out.contains("\"withheld\""),
            "{format}: {out}"
        );
        // ... and holds no byte of the rest. (The KML's required-distance
        // rings are drawn around shown sites only — one per shown hit — and
        // their vertices may by chance share digits with a withheld
        // position, so their geometry is left out of the byte test; their
        // names and descriptions stay in it.)
        let out = if format == "kml" {
            let rings = out.matches("<name>required distance").count();
            let shown = out.matches("<Placemark>").count() - rings;
            assert!(
                rings > 0 && rings < shown,
                "kml: {rings} ring(s) for {shown} other placemark(s)"
            );
            out.split("<Placemark>")
                .map(|p| {
                    match (
                        p.starts_with("<name>required distance"),
                        p.find("<MultiGeometry>"),
                        p.find("</MultiGeometry>"),
                    ) {
                        (true, Some(a), Some(b)) => format!("{}{}", &p[..a], &p[b..]),
                        _ => p.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join("<Placemark>")
        } else {
            out
        };
        for f in forbidden {
            assert!(
                !out.contains(f),
                "{format}: the partner's report holds {f:?}:\n{out}"
            );
        }
    }
    let (_, v) = json_check(&reg, &[&areas[..], &["--releasable-to", "UKR"]].concat());
    assert_eq!(v["verdict"], "conflict");
    let point = &v["areas"][0];
    assert_eq!(point["verdict"], "conflict", "{point}");
    assert_eq!(point["withheld"]["hits"], 2, "{point}");
    assert_eq!(point["withheld"]["verdict"], "conflict");
    assert_eq!(
        v["marking"]["banner"],
        "NATO RESTRICTED // REL TO NATO, UKR"
    );
    assert_eq!(v["marking"]["for_partner"], "UKR");
    // Without a partner the banner is the highest marking of all.
    let (_, v) = json_check(&reg, &areas);
    assert_eq!(
        v["marking"]["banner"],
        "NATO SECRET // REL TO (no partner in common)"
    );
    assert!(v["areas"][0].get("withheld").is_none());
    // An empty partner is a mistake, never a full report.
    let (c, _, err) =
        code(ns(&reg).args(["check", "--point", "50.002,10.003", "--releasable-to", " "]));
    assert_eq!(c, 1, "{err}");
}

#[test]
fn export_for_a_partner_writes_only_what_it_may_see_and_says_how_many_were_withheld() {
    let dir = tempfile::tempdir().unwrap();
    let reg = marked_registry(dir.path());
    let out = dir.path().join("ukr.geojson");
    let (c, _, err) = code(ns(&reg).args([
        "export",
        "--format",
        "geojson",
        "--releasable-to",
        "UKR",
        "-o",
        out.to_str().unwrap(),
    ]));
    assert_eq!(c, 0, "{err}");
    assert!(
        err.contains("2 site(s) not releasable to UKR withheld; 3 exported"),
        "{err}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    for f in [
        "SECRET-PT",
        "SECRET-POLY",
        "Hidden Archive Zeta",
        "10.0031",
        "10.0041",
    ] {
        assert!(!text.contains(f), "{f}");
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["marking"]["withheld"], 2);
    assert_eq!(
        v["marking"]["banner"],
        "NATO RESTRICTED // REL TO NATO, UKR"
    );
    assert_eq!(v["features"].as_array().unwrap().len(), 3);
    // The markings travel with the sites: the export re-imports to the same sites.
    let reg2 = dir.path().join("r2.db");
    ns(&reg2).arg("init").assert().success();
    ns(&reg2).arg("import").arg(&out).assert().success();
    let (_, shown, _) = code(ns(&reg2).args(["sites", "--format", "json"]));
    let shown: Value = serde_json::from_str(&shown).unwrap();
    let shared = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "SHARED-1")
        .unwrap();
    assert_eq!(shared["classification"], "NATO RESTRICTED");
    assert_eq!(shared["releasable_to"], serde_json::json!(["NATO", "UKR"]));
}

#[test]
fn markings_and_external_ids_round_trip_through_every_export() {
    let dir = tempfile::tempdir().unwrap();
    let reg = marked_registry(dir.path());
    let hash = |reg: &Path| -> String {
        let v: Value =
            serde_json::from_str(&code(ns(reg).args(["stats", "--format", "json"])).1).unwrap();
        v["content_hash"].as_str().unwrap().to_string()
    };
    let want = hash(&reg);
    for (format, ext) in [("geojson", "geojson"), ("csv", "csv"), ("gpkg", "gpkg")] {
        let file = dir.path().join(format!("all.{ext}"));
        ns(&reg)
            .args(["export", "--format", format, "-o", file.to_str().unwrap()])
            .assert()
            .success();
        let back = dir.path().join(format!("back-{format}.db"));
        ns(&back).arg("init").assert().success();
        let (c, _, err) = code(ns(&back).arg("import").arg(&file));
        assert_eq!(c, 0, "{format}: {err}");
        assert_eq!(
            hash(&back),
            want,
            "{format} export does not re-import to the same sites"
        );
    }
    // External ids are searchable.
    let (c, out, err) = code(ns(&reg).args([
        "sites",
        "--external-id",
        "wikidata=Q999999",
        "--format",
        "json",
    ]));
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["id"], "SECRET-PT");
}

#[test]
fn the_shipped_unesco_mapping_reads_the_world_heritage_csv_layout() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    // A synthetic file in the list's column layout (UNESCO's own data may not be redistributed).
    let csv = dir.path().join("whc-sites.csv");
    std::fs::write(
        &csv,
        "unique_number,id_no,rev_bis,name_en,short_description_en,justification_en,date_inscribed,secondary_dates,danger,date_end,danger_list,longitude,latitude,area_hectares,C1,C2,C3,C4,C5,C6,N7,N8,N9,N10,criteria_txt,category,category_short,states_name_en,region_en,iso_code,udnp_code,transboundary\n\
         1,1093,,Old City of Testville,\"A walled city, with \"\"quotes\"\"\",,2003,,0,,,35.5,33.9,12.5,1,0,0,1,0,0,0,0,0,0,(i)(iv),Cultural,C,Testland,Arab States,tl,tst,0\n\
         2,2001,,Test Gorge,Cliffs,,2010,,0,,,36.0,34.2,900,0,0,0,0,0,0,1,0,0,0,(vii),Natural,N,Testland,Arab States,tl,tst,0\n\
         3,3002,Bis,Sacred Test Valley,Both,,2015,,1,,,35.9,34.1,40,0,0,1,0,0,0,0,0,1,0,(iii)(ix),Mixed,C/N,Testland,Arab States,tl,tst,0\n",
    )
    .unwrap();
    let map = Path::new(DATA).join("mappings/unesco-whc.toml");
    let (c, _, err) = code(
        ns(&reg)
            .arg("import")
            .arg(&csv)
            .args(["--source", "unesco-whc", "--map"])
            .arg(&map),
    );
    assert_eq!(c, 0, "{err}");
    let (_, out, _) = code(ns(&reg).args(["sites", "--format", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let all = v.as_array().unwrap();
    assert_eq!(all.len(), 3);
    let by = |id: &str| all.iter().find(|s| s["id"] == id).unwrap().clone();
    let city = by("1093");
    assert_eq!(city["name"], "Old City of Testville");
    assert_eq!(city["category"], "monument");
    assert_eq!(city["external_ids"]["unesco_whc"], "1093");
    assert_eq!(
        city["geometry"]["coordinates"],
        serde_json::json!([35.5, 33.9])
    );
    assert_eq!(city["states_name_en"], "Testland");
    assert_eq!(by("2001")["category"], "other");
    assert_eq!(by("3002")["category"], "monument");
    let (_, out, _) = code(ns(&reg).args([
        "sites",
        "--external-id",
        "unesco_whc=3002",
        "--format",
        "json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["name"], "Sacred Test Valley");
}

// ---- Effect profiles -----------------------------------------------------

#[test]
fn each_effect_profile_gives_its_own_result() {
    let dir = tempfile::tempdir().unwrap();
    let reg = marked_registry(dir.path());
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "caution_margin_m = 0.0\n[standoff_m]\ndefault = 0.0\n[protection_extra_m]\ngeneral = 0.0\nspecial = 0.0\nenhanced = 0.0\n\
         [profiles.tiny]\nradius_m = 10.0\n[profiles.wide]\nradius_m = 800.0\ndescription = \"a wide effect\"\n",
    )
    .unwrap();
    // 370 m from the open museum at 50 N 10 E, farther from everything else.
    let p = policy.to_str().unwrap();
    let args = [
        "--point",
        "50.0,9.9948",
        "--policy",
        p,
        "--profile",
        "tiny",
        "--profile",
        "wide",
    ];
    let (c, v) = json_check(&reg, &args);
    assert_eq!(c, 4, "{v}");
    let areas = v["areas"].as_array().unwrap();
    assert_eq!(areas.len(), 2);
    assert_eq!(areas[0]["id"], "point-1@tiny");
    assert_eq!(areas[0]["profile"]["radius_m"], 10.0);
    assert_eq!(areas[0]["buffer_m"], 10.0);
    assert_eq!(areas[0]["verdict"], "clear");
    assert_eq!(areas[1]["id"], "point-1@wide");
    assert_eq!(areas[1]["verdict"], "conflict");
    let (_, table, _) = code(ns(&reg).arg("check").args(args));
    assert!(table.contains("profile tiny: buffer 10 m"), "{table}");
    let matrix = table
        .lines()
        .skip_while(|l| !l.starts_with("PROFILES"))
        .nth(1)
        .unwrap();
    assert!(
        matrix.contains("point-1") && matrix.contains("NO HITS") && matrix.contains("CONFLICT"),
        "{table}"
    );
    // An unknown profile names the ones there are; --buffer with --profile is refused.
    let (c, _, err) = code(ns(&reg).args([
        "check",
        "--point",
        "50,10",
        "--policy",
        p,
        "--profile",
        "huge",
    ]));
    assert_eq!(c, 1);
    assert!(err.contains("tiny, wide"), "{err}");
    let (c, _, _) = code(ns(&reg).args([
        "check",
        "--point",
        "50,10",
        "--profile",
        "small",
        "--buffer",
        "5m",
    ]));
    assert_eq!(c, 2);
}

// ---- Sources that describe the same place --------------------------------

/// The Andorra registry plus a second source's record of the church of
/// Sant Andreu 5 m from OpenStreetMap's, with a 900 m standoff of its own.
fn two_sources(dir: &Path) -> PathBuf {
    let reg = andorra(dir, None);
    let other = dir.join("ministry.geojson");
    std::fs::write(
        &other,
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"id":"church-7","category":"religious_site","name":"Església de Sant Andreu","standoff_m":900},"geometry":{"type":"Point","coordinates":[1.53088,42.51040]}},
{"type":"Feature","properties":{"id":"far-away","category":"museum","name":"Sant Andreu museum"},"geometry":{"type":"Point","coordinates":[1.5400,42.5200]}}]}"#,
    )
    .unwrap();
    ns(&reg)
        .arg("import")
        .arg(&other)
        .args(["--source", "ministry"])
        .assert()
        .success();
    reg
}

#[test]
fn duplicates_link_and_a_group_reported_once_at_its_most_conservative() {
    let dir = tempfile::tempdir().unwrap();
    let reg = two_sources(dir.path());
    let (c, out, err) = code(ns(&reg).args(["duplicates", "--within", "50m", "--format", "json"]));
    assert_eq!(c, 0, "{err}");
    let pairs: Value = serde_json::from_str(&out).unwrap();
    let pairs = pairs.as_array().unwrap();
    assert_eq!(pairs.len(), 1, "{out}");
    assert_eq!(pairs[0]["a"], "andorra-2013-sites/osm:way/191582654");
    assert_eq!(pairs[0]["b"], "ministry/church-7");
    assert!(pairs[0]["distance_m"].as_f64().unwrap() < 10.0);
    assert!(pairs[0]["name_similarity"].as_f64().unwrap() > 0.6);
    assert_eq!(pairs[0]["same_category"], true);
    assert_eq!(pairs[0]["linked"], false);

    // Before the link: the OSM record is 73 m away and needs only its policy 250 m.
    let p = ["--point", "42.5110,1.5306", "--buffer", "50m"];
    let (_, v) = json_check(&reg, &p);
    let osm = v["areas"][0]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["source_id"] == "osm:way/191582654")
        .unwrap()
        .clone();
    assert_eq!(osm["required_m"], 250.0);

    let (c, _, err) = code(ns(&reg).args([
        "link",
        "ministry/church-7",
        "andorra-2013-sites/osm:way/191582654",
        "--by",
        "Capt. Example",
        "--note",
        "same church, two registers",
    ]));
    assert_eq!(c, 0, "{err}");
    ns(&reg).arg("verify").assert().success();
    let (_, log, _) = code(ns(&reg).arg("log"));
    assert!(log.contains("link by Capt. Example"), "{log}");
    // Linking again, or a site with itself's source, is refused.
    let (c, _, err) = code(ns(&reg).args([
        "link",
        "ministry/church-7",
        "andorra-2013-sites/osm:way/191582654",
    ]));
    assert_eq!(c, 1);
    assert!(err.contains("already linked"), "{err}");
    let (c, _, err) = code(ns(&reg).args(["link", "ministry/church-7", "ministry/far-away"]));
    assert_eq!(c, 1);
    assert!(err.contains("same source"), "{err}");

    // After: one hit for the group, at its nearest member, held to the
    // group's largest standoff (900 m + 50 m buffer), listing every member.
    let (c, v) = json_check(&reg, &p);
    assert_eq!(c, 4);
    let hits = v["areas"][0]["hits"].as_array().unwrap();
    let group_hits: Vec<&Value> = hits.iter().filter(|h| h.get("group").is_some()).collect();
    assert_eq!(group_hits.len(), 1, "{v}");
    let g = group_hits[0];
    assert_eq!(g["required_m"], 950.0);
    // The nearest member here is the ministry's own record (its own 900 m).
    assert_eq!(g["source_id"], "church-7");
    assert_eq!(g["required"]["standoff_from"], "site");
    assert!(g["distance_m"].as_f64().unwrap() <= osm["distance_m"].as_f64().unwrap());
    assert_eq!(g["group"]["members"].as_array().unwrap().len(), 2);
    assert!(g["group"]["disagreement"].as_array().unwrap().is_empty());
    // A point 700 m from the church: its OSM record alone would be clear
    // (250 m + 500 m caution), the group's 950 m makes it a conflict.
    let (c, v) = json_check(&reg, &["--point", "42.5103,1.5222", "--buffer", "10m"]);
    assert_eq!(c, 4, "{v}");
    let church = v["areas"][0]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h.get("group").is_some())
        .unwrap()
        .clone();
    assert_eq!(church["verdict"], "conflict");
    assert_eq!(church["required_m"], 910.0);
    // Held to the group's standoff through whichever member is nearest.
    if church["source_id"] == "osm:way/191582654" {
        assert_eq!(church["required"]["standoff_from"], "group");
    }

    // Disagreement is flagged, never resolved: link two records 1.4 km apart.
    let (c, _, err) = code(ns(&reg).args([
        "link",
        "ministry/far-away",
        "andorra-2013-sites/osm:way/191582655",
    ]));
    assert_eq!(c, 0, "{err}");
    let (_, review, _) = code(ns(&reg).args(["review", "--format", "json"]));
    let review: Value = serde_json::from_str(&review).unwrap();
    let text = review.to_string();
    assert!(
        text.contains("more than 100 m apart") && text.contains("categories differ"),
        "{text}"
    );
    // Unlinking is logged too, and the group is gone.
    let (c, _, err) = code(ns(&reg).args([
        "unlink",
        "ministry/far-away",
        "andorra-2013-sites/osm:way/191582655",
    ]));
    assert_eq!(c, 0, "{err}");
    let (_, review, _) = code(ns(&reg).args(["review", "--format", "json"]));
    assert_eq!(review.trim(), "[]");
    ns(&reg).arg("verify").assert().success();
    // A link edited behind the tool's back is damage.
    rusqlite::Connection::open(&reg)
        .unwrap()
        .execute_batch("DELETE FROM links")
        .unwrap();
    let (c, _, err) = code(ns(&reg).args(["check", "--point", "42.5110,1.5306"]));
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("link"), "{err}");
}
