//! Regression tests for the slips a new user makes: each test drives the real
//! binary where the user would, and is named after what broke.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

mod support;

use serde_json::Value;
use support::{code, ns};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");

/// A registry with the shipped Andorra sites.
fn registry(dir: &Path) -> PathBuf {
    let reg = dir.join("r.db");
    ns(&reg).arg("init").assert().success();
    ns(&reg)
        .arg("import")
        .arg(Path::new(DATA).join("andorra-2013-sites.geojson"))
        .assert()
        .success();
    reg
}

fn content_hash(reg: &Path) -> String {
    let (c, out, err) = code(ns(reg).args(["stats", "--format", "json"]));
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v["content_hash"].as_str().unwrap().to_string()
}

fn verify_ok(reg: &Path) {
    let (c, out, err) = code(ns(reg).arg("verify"));
    assert_eq!(c, 0, "verify: {out}{err}");
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

// ---- Nothing lost -------------------------------------------------------
#[test]
fn export_over_the_registry_destroyed_it() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let hash = content_hash(&reg);
    let link = d.path().join("link.db");
    std::fs::hard_link(&reg, &link).unwrap();
    std::fs::create_dir(d.path().join("sub")).unwrap();
    let dotted = d.path().join("sub").join("..").join("r.db");
    let mut wal = reg.as_os_str().to_owned();
    wal.push("-wal");
    for (fmt, out) in [
        ("gpkg", reg.clone()),
        ("geojson", reg.clone()),
        ("csv", link.clone()),
        ("kml", dotted.clone()),
        ("geojson", PathBuf::from(&wal)),
    ] {
        let (c, _, err) = code(ns(&reg).args(["export", "--format", fmt, "-o"]).arg(&out));
        assert_eq!(c, 1, "{fmt} -o {}: {err}", out.display());
        assert!(err.contains("refusing to overwrite"), "{err}");
    }
    verify_ok(&reg);
    assert_eq!(content_hash(&reg), hash);
}

#[test]
fn rejects_over_the_registry_emptied_it() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let hash = content_hash(&reg);
    let bad = write(
        &d.path().join("bad.geojson"),
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","id":"a","properties":{"category":"museum"},"geometry":{"type":"Point","coordinates":[10,50]}},
{"type":"Feature","id":"b","properties":{"category":"nonsense"},"geometry":{"type":"Point","coordinates":[10,50]}}]}"#,
    );
    for target in [reg.clone(), bad.clone()] {
        let (c, _, err) = code(
            ns(&reg)
                .arg("import")
                .arg(&bad)
                .args(["--source", "x", "--skip-invalid", "--rejects"])
                .arg(&target),
        );
        assert_eq!(c, 1, "{err}");
        assert!(err.contains("refusing to overwrite"), "{err}");
    }
    verify_ok(&reg);
    assert_eq!(content_hash(&reg), hash);
    assert!(std::fs::read_to_string(&bad).unwrap().contains("nonsense"));
}

#[test]
fn check_output_over_its_areas_file_replaced_the_input() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let text = "id,lat,lon\nT1,42.5110,1.5306\n";
    let areas = write(&d.path().join("areas.csv"), text);
    let (c, _, err) = code(
        ns(&reg)
            .args(["check", "--areas"])
            .arg(&areas)
            .args(["--format", "csv", "-o"])
            .arg(&areas),
    );
    assert_eq!(c, 1, "{err}");
    assert_eq!(std::fs::read_to_string(&areas).unwrap(), text);
}

#[test]
fn rejects_file_was_written_when_nothing_was_rejected() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let rejects = d.path().join("rejects.ndjson");
    ns(&reg)
        .arg("import")
        .arg(Path::new(DATA).join("andorra-2013-sites.geojson"))
        .args(["--skip-invalid", "--rejects"])
        .arg(&rejects)
        .assert()
        .success();
    assert!(!rejects.exists(), "no rejects, no rejects file");
    let names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("partial")),
        "temporary files left: {names:?}"
    );
}

#[test]
fn dash_output_created_a_file_named_dash() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let (c, out, err) = code(
        ns(&reg)
            .current_dir(d.path())
            .args(["export", "--format", "geojson", "-o", "-"]),
    );
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(!v["features"].as_array().unwrap().is_empty());
    assert!(!d.path().join("-").exists());
    // Text formats write to standard output without -o; GeoPackage needs a file.
    let (c, out, _) = code(ns(&reg).args(["export", "--format", "csv"]));
    assert_eq!(c, 0);
    assert!(out.lines().count() > 10);
    let (c, _, err) = code(ns(&reg).args(["export", "--format", "gpkg"]));
    assert_eq!(c, 1);
    assert!(err.contains("--output"), "{err}");
    let (c, out, _) = code(ns(&reg).current_dir(d.path()).args([
        "check",
        "--point",
        "42.5110,1.5306",
        "--format",
        "json",
        "-o",
        "-",
    ]));
    assert_eq!(c, 4);
    assert!(serde_json::from_str::<Value>(&out).is_ok());
    assert!(!d.path().join("-").exists());
}

#[test]
fn an_interrupted_export_left_a_half_file() {
    // An export that fails (here: a registry that is not one) leaves the
    // previous file as it was.
    let d = tempfile::tempdir().unwrap();
    let reg = write(&d.path().join("bad.db"), "not a database at all");
    let out = write(&d.path().join("sites.geojson"), "previous");
    let (c, _, _) = code(
        ns(&reg)
            .args(["export", "--format", "geojson", "-o"])
            .arg(&out),
    );
    assert_eq!(c, 1);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous");
}

/// A registry with enough sites that a listing overflows a pipe's buffer.
fn big_registry(dir: &Path) -> PathBuf {
    let reg = dir.join("big.db");
    ns(&reg).arg("init").assert().success();
    let mut text = String::from("id,lat,lon,category,name\n");
    for i in 0..4000 {
        text.push_str(&format!(
            "s{i},{},{},museum,Museum number {i} with a long name\n",
            40.0 + (i as f64) * 0.001,
            1.0 + (i as f64) * 0.001
        ));
    }
    let f = write(&dir.join("big.csv"), &text);
    ns(&reg).arg("import").arg(&f).assert().success();
    reg
}

#[test]
fn writing_into_a_closed_pipe_panicked() {
    let d = tempfile::tempdir().unwrap();
    let reg = big_registry(d.path());
    for args in [
        vec!["sites"],
        vec!["export", "--format", "geojson"],
        vec![
            "check", "--point", "41,2", "--buffer", "300km", "--format", "json",
        ],
        vec!["check", "--point", "41,2", "--buffer", "300km"],
    ] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("nostrike"))
            .arg("--registry")
            .arg(&reg)
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut r = child.stdout.take().unwrap();
            let mut first = [0u8; 100];
            std::io::Read::read_exact(&mut r, &mut first).unwrap();
        } // the reader goes away, as `head -c 100` does
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn replace_without_source_retired_the_wrong_sites() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let (c, _, err) = code(
        ns(&reg)
            .arg("import")
            .arg("--replace")
            .arg(Path::new(DATA).join("andorra-2013-sites.geojson")),
    );
    assert_eq!(c, 1);
    assert!(err.contains("--source"), "{err}");
}

#[test]
fn import_without_source_did_not_say_what_it_was_named() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let (c, out, err) = code(
        ns(&reg)
            .arg("import")
            .arg(Path::new(DATA).join("andorra-2013-sites.geojson")),
    );
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains("source andorra-2013-sites — named after the file"),
        "{out}"
    );
}

#[test]
fn registry_path_that_is_a_directory_gave_a_sqlite_error() {
    let d = tempfile::tempdir().unwrap();
    let (c, _, err) = code(ns(d.path()).arg("stats"));
    assert_eq!(c, 1);
    assert!(err.contains("is a directory"), "{err}");
    let (c, _, err) = code(ns(&d.path().join("nowhere").join("r.db")).arg("init"));
    assert_eq!(c, 1);
    assert!(err.contains("does not exist"), "{err}");
}

// ---- Read what the user meant -------------------------------------------

#[test]
fn negative_coordinates_were_read_as_flags() {
    let d = tempfile::tempdir().unwrap();
    let reg = big_registry(d.path());
    let (c, out, err) =
        code(ns(&reg).args(["check", "--point", "-33.86,151.21", "--format", "json"]));
    assert_eq!(c, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["areas"][0]["read_as"]
        .as_str()
        .unwrap()
        .contains("-33.86"));
    let (c, _, err) = code(ns(&reg).args([
        "check",
        "--route",
        "-33.8,151.2; -33.9,151.3",
        "--corridor",
        "1km",
    ]));
    assert_eq!(c, 0, "{err}");
    let (c, out, err) = code(ns(&reg).args(["sites", "--bbox", "-1,39.9,1.0105,40.0105"]));
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("11 site(s)"), "{out}");
    let (c, out, err) = code(ns(&reg).args(["sites", "--near", "-0.0,1.0", "--within", "5000km"]));
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("4000 site(s)"), "{out}");
}

#[test]
fn corridor_without_route_and_no_area_were_runtime_errors() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let (c, _, err) = code(ns(&reg).args(["check", "--point", "42.5,1.5", "--corridor", "5m"]));
    assert_eq!(c, 2, "{err}");
    let (c, _, err) = code(ns(&reg).args(["check", "--buffer", "5m"]));
    assert_eq!(c, 2, "{err}");
}

#[test]
fn command_line_areas_could_not_be_labelled() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let (c, out, _) = code(ns(&reg).args([
        "check",
        "--point",
        "42.5110,1.5306",
        "--id",
        "TGT-0042",
        "--route",
        "42.5063,1.5218; 42.5100,1.5400",
        "--id",
        "MSR-ALPHA",
        "--format",
        "json",
    ]));
    assert_eq!(c, 4);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["areas"][0]["id"], "TGT-0042");
    assert_eq!(v["areas"][1]["id"], "MSR-ALPHA");
    let (c, _, err) =
        code(ns(&reg).args(["check", "--point", "42.5,1.5", "--id", "a", "--id", "b"]));
    assert_eq!(c, 1);
    assert!(err.contains("one --id per"), "{err}");
}

// ---- Imports never partial, refusals complete ----------------------------

/// `import --source a/b` was accepted, and then no site of it could be
/// named: `show a/b/ID` read source `a` and id `b/ID` ("no site with id").
#[test]
fn a_source_named_with_a_slash_was_imported_and_its_sites_unnamable() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let hash = content_hash(&reg);
    let (c, out, err) = code(
        ns(&reg)
            .arg("import")
            .arg(Path::new(DATA).join("helsinki-sites.geojson"))
            .args(["--source", "osm/helsinki"]),
    );
    assert_eq!(c, 1, "{out}{err}");
    assert!(
        err.contains("\"osm/helsinki\"") && err.contains("holds '/'"),
        "{err}"
    );
    assert_eq!(content_hash(&reg), hash);
    verify_ok(&reg);
}

fn kml_with(n: usize) -> String {
    let mut k = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<kml xmlns=\"http://www.opengis.net/kml/2.2\">\n<Document>\n");
    for i in 0..n {
        k.push_str(&format!(
            "<Placemark id=\"p{i}\">\n  <name>Site {i}</name>\n  <ExtendedData><Data name=\"category\"><value>museum</value></Data></ExtendedData>\n  <Point><coordinates>{},{}</coordinates></Point>\n</Placemark>\n",
            10.0 + i as f64 * 0.01,
            50.0
        ));
    }
    k.push_str("</Document>\n</kml>\n");
    k
}

fn sites_count(reg: &Path) -> i64 {
    let (_, out, _) = code(ns(reg).args(["stats", "--format", "json"]));
    serde_json::from_str::<Value>(&out).unwrap()["sites"]
        .as_i64()
        .unwrap()
}

#[test]
fn truncated_kml_was_imported_in_part() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let whole = kml_with(50);
    // Cut off after the 44th complete Placemark, inside the 45th.
    let cut = whole.match_indices("<Placemark").nth(44).unwrap().0 + 30;
    let f = write(&d.path().join("cut.kml"), &whole[..cut]);
    let (c, _, err) = code(ns(&reg).arg("import").arg(&f));
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("truncated"), "{err}");
    assert!(err.contains("line "), "{err}");
    assert_eq!(sites_count(&reg), 0);
    // Cut before any Placemark is complete: still "truncated", not "no features".
    let f = write(&d.path().join("cut2.kml"), &whole[..200]);
    let (c, _, err) = code(ns(&reg).arg("import").arg(&f));
    assert_eq!(c, 1);
    assert!(
        err.contains("truncated") && !err.contains("no features"),
        "{err}"
    );
    // The same cut in GeoJSON is refused as truncated too.
    let gj = r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":"a","properties":{"category":"museum"},"geometry":{"type":"Point","coordinates":[1,2]}},{"type":"Feature","id":"b","prop"#;
    let f = write(&d.path().join("cut.geojson"), gj);
    let (c, _, err) = code(ns(&reg).arg("import").arg(&f));
    assert_eq!(c, 1);
    assert!(err.contains("truncated"), "{err}");
    assert_eq!(sites_count(&reg), 0);
}

#[test]
fn kmz_was_reported_as_a_shapefile_problem() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let kmz = d.path().join("sites.kmz");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&kmz).unwrap());
        z.start_file("doc.kml", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut z, kml_with(7).as_bytes()).unwrap();
        z.finish().unwrap();
    }
    let (c, out, err) = code(ns(&reg).arg("import").arg(&kmz));
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("added 7"), "{out}");
    // A zip that holds neither KML nor a shapefile, and a spreadsheet, are named as such.
    let other = d.path().join("other.zip");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&other).unwrap());
        z.start_file("readme.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut z, b"hello").unwrap();
        z.finish().unwrap();
    }
    let (c, _, err) = code(ns(&reg).arg("import").arg(&other));
    assert_eq!(c, 1);
    assert!(err.contains("neither a .kml (KMZ) nor a .shp"), "{err}");
    assert!(!err.to_lowercase().contains(".prj"), "{err}");
    let xlsx = d.path().join("sites.xlsx");
    std::fs::copy(&other, &xlsx).unwrap();
    let (c, _, err) = code(ns(&reg).arg("import").arg(&xlsx));
    assert_eq!(c, 1);
    assert!(err.contains("spreadsheet"), "{err}");
}

#[test]
fn multi_table_geopackage_ids_collided() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let a = write(
        &d.path().join("museums.geojson"),
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"category":"museum","name":"A1"},"geometry":{"type":"Point","coordinates":[10,50]}},
{"type":"Feature","properties":{"category":"museum","name":"A2"},"geometry":{"type":"Point","coordinates":[10.1,50]}}]}"#,
    );
    let b = write(
        &d.path().join("schools.geojson"),
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"category":"education","name":"B1"},"geometry":{"type":"Point","coordinates":[11,50]}}]}"#,
    );
    let gpkg = d.path().join("two.gpkg");
    for (src, layer, extra) in [(&a, "museums", None), (&b, "schools", Some("-update"))] {
        let mut cmd = support::oracle_tool("ogr2ogr");
        cmd.args(["-f", "GPKG"]);
        if let Some(x) = extra {
            cmd.arg(x);
        }
        let st = cmd
            .arg(&gpkg)
            .arg(src)
            .args(["-nln", layer])
            .status()
            .expect("ogr2ogr (gdal-bin) must be installed; .ci/run installs it");
        assert!(st.success());
    }
    let (c, out, err) = code(ns(&reg).arg("import").arg(&gpkg));
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("added 3"), "{out}");
    let (_, out, _) = code(ns(&reg).args(["sites", "--format", "json"]));
    let ids: Vec<String> = serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    for want in ["museums:1", "museums:2", "schools:1"] {
        assert!(ids.iter().any(|i| i == want), "{want} not in {ids:?}");
    }
}

#[test]
fn duplicate_id_was_listed_only_on_the_next_attempt() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let f = write(
        &d.path().join("mixed.geojson"),
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","id":"w1","properties":{"category":"nonsense"},"geometry":{"type":"Point","coordinates":[10,50]}},
{"type":"Feature","id":"w2","properties":{"category":"nonsense"},"geometry":{"type":"Point","coordinates":[10,50]}},
{"type":"Feature","id":"dup","properties":{"category":"museum"},"geometry":{"type":"Point","coordinates":[10,50]}},
{"type":"Feature","id":"dup","properties":{"category":"museum"},"geometry":{"type":"Point","coordinates":[10,51]}}]}"#,
    );
    let (c, _, err) = code(ns(&reg).arg("import").arg(&f));
    assert_eq!(c, 1);
    assert!(err.contains("3 invalid feature(s)"), "{err}");
    assert!(
        err.contains("feature 4 (id \"dup\"): duplicate id"),
        "{err}"
    );
}

#[test]
fn lone_feature_and_bare_geometry_geojson_were_refused() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let f = write(
        &d.path().join("one.geojson"),
        r#"{"properties":{"category":"museum","name":"Lone"},"geometry":{"type":"Point","coordinates":[10,50]},"id":"lone","type":"Feature"}"#,
    );
    let (c, out, err) = code(ns(&reg).arg("import").arg(&f));
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("added 1"), "{out}");
    let g = write(
        &d.path().join("bare.geojson"),
        r#"{"coordinates":[[[10,50],[10.01,50],[10.01,50.01],[10,50.01],[10,50]]],"type":"Polygon"}"#,
    );
    let map = write(
        &d.path().join("map.toml"),
        "default_category = \"museum\"\ngenerate_ids = true\n",
    );
    let (c, out, err) = code(ns(&reg).arg("import").arg(&g).arg("--map").arg(&map));
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("added 1"), "{out}");
    // A bare geometry is an area file too.
    let (c, out, err) = code(
        ns(&reg)
            .args(["check", "--format", "json", "--areas"])
            .arg(&g),
    );
    assert_eq!(c, 4, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["areas"][0]["read_as"]
        .as_str()
        .unwrap()
        .contains("polygon of 5 vertices, first at lat 50 lon 10"));
}

#[test]
fn csv_headers_in_capitals_and_semicolons_were_not_read() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let f = write(
        &d.path().join("partner.csv"),
        "ID;NAME;LAT;LONG;Category\nh1;\"Hospital; main\";50,5;10,1;Medical\nc1;Church;50.2;10.2;RELIGIOUS_SITE\n",
    );
    let (c, out, err) = code(ns(&reg).arg("import").arg(&f));
    // "50,5" is not a number with a decimal point: refused on its physical line.
    assert_eq!(c, 1, "{out}{err}");
    assert!(err.contains("line 2 (id \"h1\")"), "{err}");
    let f = write(
        &d.path().join("partner.csv"),
        "ID;NAME;LAT;LONG;Category\nh1;\"Hospital\nmain building\";50.5;10.1;Medical\n\nc1;Church;50.2;10.2;RELIGIOUS_SITE\nc2;Bad;95;10.2;museum\n",
    );
    let (c, _, err) = code(ns(&reg).arg("import").arg(&f));
    assert_eq!(c, 1);
    assert!(
        err.contains("line 6 (id \"c2\")"),
        "physical line numbers: {err}"
    );
    let f = write(
        &d.path().join("partner.csv"),
        "ID;NAME;LAT;LONG;Category\nh1;\"Hospital\nmain building\";50.5;10.1;Medical\nc1;Church;50.2;10.2;RELIGIOUS_SITE\n",
    );
    let (c, out, err) = code(ns(&reg).arg("import").arg(&f));
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("added 2"), "{out}");
}

#[test]
fn geojson_export_lost_float_precision() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    // Coordinates with every bit of an f64 in use (xorshift), the kind OSM PBF gives.
    let mut x: u64 = 0x1234_5678_9ABC_DEF1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut feats = Vec::new();
    for i in 0..300 {
        let (lon, lat) = (next() * 360.0 - 180.0, next() * 180.0 - 90.0);
        feats.push(format!(
            r#"{{"type":"Feature","id":"f{i}","properties":{{"category":"museum"}},"geometry":{{"type":"Point","coordinates":[{lon:?},{lat:?}]}}}}"#
        ));
    }
    feats.push(r#"{"type":"Feature","id":"osm","properties":{"category":"museum"},"geometry":{"type":"Point","coordinates":[-76.59000000000001,39.304273800000004]}}"#.into());
    let f = write(
        &d.path().join("precise.geojson"),
        &support::collection(&feats),
    );
    ns(&reg)
        .arg("import")
        .arg(&f)
        .args(["--source", "p"])
        .assert()
        .success();
    let hash = content_hash(&reg);
    let out = d.path().join("export.geojson");
    ns(&reg)
        .args(["export", "--format", "geojson", "-o"])
        .arg(&out)
        .assert()
        .success();
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("39.304273800000004"));
    let (c, o, err) = code(ns(&reg).arg("import").arg(&out).args(["--source", "p"]));
    assert_eq!(c, 0, "{err}");
    assert!(
        o.contains("updated 0") && o.contains("unchanged 301"),
        "{o}"
    );
    assert_eq!(content_hash(&reg), hash);
}

// ---- No silent zero ------------------------------------------------------

#[test]
fn partial_policy_gave_other_categories_zero_metres() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let partial = write(
        &d.path().join("partial.toml"),
        "name = \"medical only\"\ncaution_margin_m = 100\n[standoff_m]\nmedical = 300\n[protection_extra_m]\ngeneral = 0\nspecial = 500\nenhanced = 1000\n",
    );
    let (c, _, err) = code(ns(&reg).args(["policy", "check"]).arg(&partial));
    assert_eq!(c, 1);
    assert!(err.contains("standoff_m.religious_site"), "{err}");
    let (c, out, err) = code(
        ns(&reg)
            .args(["check", "--point", "42.5110,1.5306", "--policy"])
            .arg(&partial),
    );
    assert_eq!(c, 1, "{out}");
    assert!(err.contains("incomplete") && out.is_empty(), "{err}");
    let with_default = write(
        &d.path().join("default.toml"),
        "name = \"medical and a default\"\ncaution_margin_m = 100\ndefault_standoff_m = 150\n[standoff_m]\nmedical = 300\n[protection_extra_m]\ngeneral = 0\nspecial = 500\nenhanced = 1000\n",
    );
    let (c, out, err) = code(
        ns(&reg)
            .args([
                "check",
                "--point",
                "42.5110,1.5306",
                "--format",
                "json",
                "--policy",
            ])
            .arg(&with_default),
    );
    assert_eq!(c, 4, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let defaulted: Vec<&str> = v["policy"]["defaulted_categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(defaulted.contains(&"religious_site") && !defaulted.contains(&"medical"));
    // The policy is identified by the SHA-256 of its canonical text.
    let (_, canonical, _) = code(ns(&reg).args(["policy", "show"]).arg(&with_default));
    use sha2::Digest;
    let want: String = sha2::Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v["policy"]["sha256"], want);
}

#[test]
fn required_distance_was_not_broken_down() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let (c, out, _) = code(ns(&reg).args([
        "check",
        "--point",
        "42.5110,1.5306",
        "--buffer",
        "50m",
        "--location-error",
        "7m",
        "--format",
        "json",
    ]));
    assert_eq!(c, 4);
    let v: Value = serde_json::from_str(&out).unwrap();
    let hits = v["areas"][0]["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    for h in hits {
        let r = &h["required"];
        let sum = r["buffer_m"].as_f64().unwrap()
            + r["location_error_m"].as_f64().unwrap()
            + r["standoff_m"].as_f64().unwrap()
            + r["positional_accuracy_m"].as_f64().unwrap();
        assert!(
            (sum - h["required_m"].as_f64().unwrap()).abs() < 1e-9,
            "{h}"
        );
        assert_eq!(r["buffer_m"], 50.0);
        assert_eq!(r["location_error_m"], 7.0);
        assert_eq!(r["standoff_from"], "policy");
    }
    let (_, table, _) = code(ns(&reg).args([
        "-v",
        "check",
        "--point",
        "42.5110,1.5306",
        "--buffer",
        "50m",
    ]));
    assert!(
        table.contains("required = buffer 50 + location error 0 + standoff"),
        "{table}"
    );
    assert!(table.contains("sha256 "), "{table}");
}

#[test]
fn sites_outside_their_validity_were_dropped_without_a_word() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let f = write(
        &d.path().join("v.geojson"),
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","id":"old","properties":{"category":"medical","name":"Closed hospital","valid_to":"2001-01-01"},"geometry":{"type":"Point","coordinates":[10,50]}},
{"type":"Feature","id":"far","properties":{"category":"museum","name":"Far museum"},"geometry":{"type":"Point","coordinates":[11,50]}}]}"#,
    );
    ns(&reg).arg("import").arg(&f).assert().success();
    let (c, out, _) = code(ns(&reg).args(["check", "--point", "50.0001,10", "--format", "json"]));
    assert_eq!(c, 0, "not counted in the verdict");
    let v: Value = serde_json::from_str(&out).unwrap();
    let nv = &v["areas"][0]["not_valid_at_check_time"];
    assert_eq!(nv[0]["site_id"], "v/old", "{v}");
    assert_eq!(nv[0]["valid_to"], "2001-01-01T00:00:00Z");
    assert!(nv[0]["distance_m"].as_f64().unwrap() < 20.0);
    for (fmt, needle) in [
        ("table", "not valid at the check time"),
        ("csv", "not_valid_at_check_time"),
        ("geojson", "not_valid_site"),
        ("kml", "NOT VALID AT CHECK TIME"),
    ] {
        let (c, out, _) = code(ns(&reg).args(["check", "--point", "50.0001,10", "--format", fmt]));
        assert_eq!(c, 0);
        assert!(out.contains(needle) && out.contains("old"), "{fmt}: {out}");
    }
    let (_, out, _) = code(ns(&reg).args(["show", "v/old"]));
    assert!(out.contains("to 2001-01-01T00:00:00Z"), "{out}");
}

#[test]
fn smaller_location_error_was_silently_applied() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let areas = write(
        &d.path().join("a.csv"),
        "id,lat,lon,location_error_m\nT1,42.5110,1.5306,80\nT2,42.5110,1.5306,5\n",
    );
    let (_, out, err) = code(
        ns(&reg)
            .args([
                "check",
                "--location-error",
                "20m",
                "--format",
                "json",
                "--areas",
            ])
            .arg(&areas),
    );
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{err}"));
    assert_eq!(v["areas"][0]["location_error_m"], 80.0);
    assert_eq!(v["areas"][1]["location_error_m"], 20.0);
    let how = v["areas"][1]["read_as"].as_str().unwrap();
    assert!(
        how.contains("the larger of the file's 5 m and --location-error 20 m"),
        "{how}"
    );
    assert!(how.contains("point lat 42.511 lon 1.5306"), "{how}");
}

#[test]
fn mgrs_areas_and_route_squares_were_refused() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    // The church of Sant Andreu (Andorra la Vella) lies in 31TCH7928075 at 10 m.
    let areas = write(
        &d.path().join("a.csv"),
        "id,MGRS\nT1,31TCH7907\nT2,31T CH 79280 07560\n",
    );
    let (c, out, err) = code(
        ns(&reg)
            .args(["check", "--format", "json", "--areas"])
            .arg(&areas),
    );
    assert_eq!(c, 4, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["areas"][0]["geometry"]["type"], "Polygon");
    assert!(v["areas"][0]["read_as"]
        .as_str()
        .unwrap()
        .contains("1000 m precision"));
    assert!(v["areas"][1]["read_as"]
        .as_str()
        .unwrap()
        .contains("1 m precision"));
    let (c, out, err) = code(ns(&reg).args([
        "check",
        "--route",
        "31TCH7907; 42.5100,1.5400",
        "--corridor",
        "10m",
        "--format",
        "json",
    ]));
    assert_eq!(c, 4, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let how = v["areas"][0]["read_as"].as_str().unwrap();
    assert!(how.contains("corridor widened by"), "{how}");
    assert!(v["areas"][0]["buffer_m"].as_f64().unwrap() > 700.0);
}

// ---- Analysts' data, kept as it came --------------------------------------

#[test]
fn licence_edited_behind_the_tools_back_passed_verify() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    ns(&reg)
        .arg("import")
        .arg(Path::new(DATA).join("andorra-2013-sites.geojson"))
        .args([
            "--source",
            "osm",
            "--licence",
            "ODbL-1.0",
            "--attribution",
            "© OpenStreetMap contributors",
        ])
        .assert()
        .success();
    verify_ok(&reg);
    // A licence change through the tool is logged and verifies.
    ns(&reg)
        .arg("import")
        .arg(Path::new(DATA).join("andorra-2013-sites.geojson"))
        .args(["--source", "osm", "--licence", "CC-BY-4.0"])
        .assert()
        .success();
    verify_ok(&reg);
    let (_, stats, _) = code(ns(&reg).arg("stats"));
    assert!(
        stats.contains("CC-BY-4.0") && stats.contains("© OpenStreetMap contributors"),
        "{stats}"
    );
    {
        let c = rusqlite::Connection::open(&reg).unwrap();
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM source_log WHERE name = 'osm'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 2, "the creation and the licence change are logged");
        c.execute(
            "UPDATE sources SET licence = 'public domain' WHERE name = 'osm'",
            [],
        )
        .unwrap();
    }
    let (c, out, _) = code(ns(&reg).arg("verify"));
    assert_eq!(c, 1, "{out}");
    assert!(
        out.contains("source \"osm\" was edited outside nostrike: licence \"public domain\""),
        "{out}"
    );
}

/// Fixtures in the repository (tests/fixtures/README.md gives sources and licences).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");

#[test]
fn osm_pbf_export_reimport_logged_spurious_updates() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let pbf = Path::new(FIXTURES).join("andorra-2013.osm.pbf");
    ns(&reg)
        .arg("import")
        .arg(&pbf)
        .args(["--source", "osm"])
        .assert()
        .success();
    let hash = content_hash(&reg);
    let (_, stats, _) = code(ns(&reg).arg("stats"));
    assert!(
        stats.contains("licence ODbL-1.0, attribution © OpenStreetMap contributors"),
        "OSM data records its licence by default: {stats}"
    );
    let out = d.path().join("osm.geojson");
    ns(&reg)
        .args(["export", "--format", "geojson", "-o"])
        .arg(&out)
        .assert()
        .success();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["licence"], "ODbL-1.0");
    assert_eq!(v["attribution"], "© OpenStreetMap contributors");
    let (c, o, err) = code(ns(&reg).arg("import").arg(&out).args(["--source", "osm"]));
    assert_eq!(c, 0, "{err}");
    assert!(o.contains("added 0, updated 0, retired 0"), "{o}");
    assert_eq!(content_hash(&reg), hash);
    // A fresh registry from the export: same content, and the licence read from the file.
    let again = d.path().join("again.db");
    ns(&again).arg("init").assert().success();
    ns(&again).arg("import").arg(&out).assert().success();
    assert_eq!(content_hash(&again), hash);
    let (_, stats, _) = code(ns(&again).arg("stats"));
    assert!(stats.contains("licence ODbL-1.0"), "{stats}");
}

#[test]
fn exports_nested_the_sources_own_properties() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    // `name` is the source's own local-name column here; the site's name comes from `label`.
    let f = write(
        &d.path().join("partner.geojson"),
        r#"{"type":"FeatureCollection","licence":"CC-BY-4.0","attribution":"Partner heritage office","features":[
{"type":"Feature","id":"m1","properties":{"category":"museum","label":"Musée","name":"local name","population":5,"rating":4.5,"open":true,"tags":["a","b"],"empty":""},"geometry":{"type":"Point","coordinates":[10,50]}},
{"type":"Feature","id":"m2","properties":{"category":"museum","label":"Second","population":"many"},"geometry":{"type":"Point","coordinates":[10.1,50]}}]}"#,
    );
    let map = write(&d.path().join("map.toml"), "name = [\"label\"]\n");
    ns(&reg)
        .arg("import")
        .arg(&f)
        .args(["--source", "partner", "--map"])
        .arg(&map)
        .assert()
        .success();
    let (_, stats, _) = code(ns(&reg).arg("stats"));
    assert!(
        stats.contains("licence CC-BY-4.0, attribution Partner heritage office"),
        "{stats}"
    );
    let hash = content_hash(&reg);
    let gj = d.path().join("out.geojson");
    ns(&reg)
        .args(["export", "--format", "geojson", "-o"])
        .arg(&gj)
        .assert()
        .success();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&gj).unwrap()).unwrap();
    let p = &v["features"][0]["properties"];
    assert_eq!(p["population"], 5, "{p}");
    assert_eq!(
        p["name"], "local name",
        "the source's own column keeps its name: {p}"
    );
    assert_eq!(p["nostrike:name"], "Musée", "{p}");
    assert!(p.get("extra").is_none(), "{p}");
    for fmt in ["geojson", "csv", "gpkg"] {
        let out = d.path().join(format!("out.{fmt}"));
        ns(&reg)
            .args(["export", "--format", fmt, "-o"])
            .arg(&out)
            .assert()
            .success();
        let again = d.path().join(format!("again-{fmt}.db"));
        ns(&again).arg("init").assert().success();
        let (c, _, err) = code(ns(&again).arg("import").arg(&out));
        assert_eq!(c, 0, "{fmt}: {err}");
        assert_eq!(content_hash(&again), hash, "{fmt} round trip");
    }
    // GDAL sees the source's columns in the GeoPackage, and its licence in the description.
    let info = support::oracle_tool("ogrinfo")
        .args(["-al", "-so"])
        .arg(d.path().join("out.gpkg"))
        .output()
        .expect("ogrinfo (gdal-bin)");
    let info = String::from_utf8_lossy(&info.stdout);
    for column in [
        "nostrike:name: String",
        "name: String",
        "rating: Real",
        "population:json: String",
    ] {
        assert!(info.contains(column), "{column} in {info}");
    }
    let description: String = rusqlite::Connection::open(d.path().join("out.gpkg"))
        .unwrap()
        .query_row(
            "SELECT description FROM gpkg_contents WHERE table_name = 'sites'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(description.contains("CC-BY-4.0"), "{description}");
    let csv_text = std::fs::read_to_string(d.path().join("out.csv")).unwrap();
    let header = csv_text.lines().next().unwrap();
    assert!(
        header.contains("nostrike:name") && header.contains(",name,"),
        "{header}"
    );
    let side = std::fs::read_to_string(d.path().join("out.csv.txt")).unwrap();
    assert!(
        side.contains("CC-BY-4.0") && side.contains("Partner heritage office"),
        "{side}"
    );
    let kml = d.path().join("out.kml");
    ns(&reg)
        .args(["export", "--format", "kml", "-o"])
        .arg(&kml)
        .assert()
        .success();
    assert!(std::fs::read_to_string(&kml).unwrap().contains("CC-BY-4.0"));
}

/// Names of the imported sites, by id.
fn names_by_id(reg: &Path) -> std::collections::BTreeMap<String, String> {
    let (_, out, _) = code(ns(reg).args(["sites", "--format", "json"]));
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn latin1_shapefile_names_came_back_as_replacement_characters() {
    let d = tempfile::tempdir().unwrap();
    let src = write(
        &d.path().join("n.geojson"),
        r#"{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"sid":"a1","category":"museum","name":"Lomé"},"geometry":{"type":"Point","coordinates":[1.2,6.1]}},
{"type":"Feature","properties":{"sid":"a2","category":"museum","name":"São Paulo"},"geometry":{"type":"Point","coordinates":[-46.6,-23.5]}},
{"type":"Feature","properties":{"sid":"a3","category":"museum","name":"København"},"geometry":{"type":"Point","coordinates":[12.5,55.7]}}]}"#,
    );
    let map = write(&d.path().join("map.toml"), "id = [\"sid\"]\n");
    let want: std::collections::BTreeMap<String, String> =
        [("a1", "Lomé"), ("a2", "São Paulo"), ("a3", "København")]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    // (encoding GDAL writes, what to do to the files, how it must then be read)
    for (case, encoding, change) in [
        ("cpg", "ISO-8859-1", ""),
        ("ldid", "ISO-8859-1", "no-cpg-ldid-0x57"),
        ("sniff-latin1", "ISO-8859-1", "no-cpg"),
        ("utf8-cpg", "UTF-8", ""),
        ("sniff-utf8", "UTF-8", "no-cpg"),
    ] {
        let shp = d.path().join(format!("{case}.shp"));
        let st = support::oracle_tool("ogr2ogr")
            .args([
                "-f",
                "ESRI Shapefile",
                "-lco",
                &format!("ENCODING={encoding}"),
            ])
            .arg(&shp)
            .arg(&src)
            .status()
            .expect("ogr2ogr (gdal-bin)");
        assert!(st.success());
        if case == "cpg" {
            // GDAL itself reads the Latin-1 names back as these: the oracle agrees.
            let info = support::oracle_tool("ogrinfo")
                .arg("-al")
                .arg(&shp)
                .output()
                .unwrap();
            let info = String::from_utf8_lossy(&info.stdout);
            for n in want.values() {
                assert!(
                    info.contains(&format!("name (String) = {n}")),
                    "ogrinfo: {info}"
                );
            }
        }
        if change.starts_with("no-cpg") {
            std::fs::remove_file(shp.with_extension("cpg")).unwrap();
        }
        if change == "no-cpg-ldid-0x57" {
            let dbf = shp.with_extension("dbf");
            let mut bytes = std::fs::read(&dbf).unwrap();
            bytes[29] = 0x57; // the language driver for ANSI / Windows-1252
            std::fs::write(&dbf, bytes).unwrap();
        }
        let reg = d.path().join(format!("{case}.db"));
        ns(&reg).arg("init").assert().success();
        let (c, _, err) = code(ns(&reg).arg("import").arg(&shp).arg("--map").arg(&map));
        assert_eq!(c, 0, "{case}: {err}");
        assert_eq!(names_by_id(&reg), want, "{case}");
    }
}

#[test]
fn shapefile_without_prj_gave_no_way_forward() {
    let d = tempfile::tempdir().unwrap();
    let src = write(
        &d.path().join("n.geojson"),
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a1","category":"museum"},"geometry":{"type":"Point","coordinates":[1.2,6.1]}}]}"#,
    );
    let shp = d.path().join("noprj.shp");
    assert!(support::oracle_tool("ogr2ogr")
        .args(["-f", "ESRI Shapefile"])
        .arg(&shp)
        .arg(&src)
        .status()
        .unwrap()
        .success());
    std::fs::remove_file(shp.with_extension("prj")).unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let (c, _, err) = code(ns(&reg).arg("import").arg(&shp));
    assert_eq!(c, 1);
    assert!(err.contains("--assume-crs EPSG:4326"), "{err}");
    let (c, _, err) = code(
        ns(&reg)
            .arg("import")
            .arg(&shp)
            .args(["--assume-crs", "EPSG:3857"]),
    );
    assert_eq!(c, 1);
    assert!(err.contains("only EPSG:4326"), "{err}");
    let (c, out, err) = code(
        ns(&reg)
            .arg("import")
            .arg(&shp)
            .args(["--assume-crs", "EPSG:4326"]),
    );
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("added 1"), "{out}");
}

#[test]
fn the_map_file_format_was_undocumented() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/MAPPING.md"
    ))
    .unwrap();
    let block = |lang: &str| -> String {
        let start = doc.find(&format!("```{lang}\n")).unwrap() + lang.len() + 4;
        let end = start + doc[start..].find("```").unwrap();
        doc[start..end].to_string()
    };
    let d = tempfile::tempdir().unwrap();
    let csv = write(&d.path().join("partner.csv"), &block("csv"));
    let map = write(&d.path().join("partner-map.toml"), &block("toml"));
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let (c, out, err) = code(
        ns(&reg)
            .arg("import")
            .arg(&csv)
            .args(["--source", "partner-2026", "--map"])
            .arg(&map),
    );
    assert_eq!(c, 0, "the documented example imports: {err}");
    assert!(out.contains("added 3"), "{out}");
    let (_, out, _) = code(ns(&reg).args(["sites", "--format", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let by_id = |id: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id("H-01")["category"], "medical");
    assert_eq!(by_id("H-01")["standoff_m"], 300.0);
    assert_eq!(by_id("H-01")["note"], "main site");
    assert_eq!(by_id("C-07")["category"], "religious_site");
    assert_eq!(
        by_id("C-07")["designations"],
        serde_json::json!(["UNESCO", "national"])
    );
    assert_eq!(by_id("S-12")["category"], "education");
    assert_eq!(by_id("S-12")["valid_to"], "2027-07-01T00:00:00Z");
    let (_, out, _) = code(ns(&reg).args(["sites", "--near", "12.6392,-8.0029", "--within", "1m"]));
    assert!(
        out.contains("partner-2026/H-01"),
        "coordinates from Y and X: {out}"
    );
}

#[test]
fn read_as_was_missing_from_csv_and_geojson_reports() {
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    // Latitude and longitude swapped in the file: the report must show it.
    let areas = write(&d.path().join("a.csv"), "id,lat,lon\nT1,1.5306,42.5110\n");
    for (fmt, needle) in [
        ("csv", "point lat 1.5306 lon 42.511"),
        ("geojson", "point lat 1.5306 lon 42.511"),
        ("table", "point lat 1.5306 lon 42.511"),
        ("kml", "point lat 1.5306 lon 42.511"),
    ] {
        let (c, out, err) = code(
            ns(&reg)
                .args(["check", "--format", fmt, "--areas"])
                .arg(&areas),
        );
        assert_eq!(c, 0, "{fmt}: {err}");
        assert!(out.contains(needle), "{fmt}: {out}");
    }
}

#[test]
fn polygon_with_a_repeated_vertex_was_refused() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let f = write(
        &d.path().join("rep.geojson"),
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":"p","properties":{"category":"museum"},"geometry":{"type":"Polygon","coordinates":[[[10,50],[10.01,50],[10.01,50],[10.01,50.01],[10,50.01],[10,50]]]}}]}"#,
    );
    let (c, _, err) = code(ns(&reg).arg("import").arg(&f));
    assert_eq!(c, 0, "{err}");
    // Inside: distance 0. Outside, east of the repeated corner: the true distance.
    let (c, out, _) =
        code(ns(&reg).args(["check", "--point", "50.005,10.005", "--format", "json"]));
    assert_eq!(c, 4);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["areas"][0]["hits"][0]["distance_m"], 0.0);
    let (_, out, _) = code(ns(&reg).args([
        "check",
        "--point",
        "50.0,10.0110",
        "--buffer",
        "1km",
        "--format",
        "json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let dist = v["areas"][0]["hits"][0]["distance_m"].as_f64().unwrap();
    // 0.001° of longitude at 50°N is about 71.7 m.
    assert!((dist - 71.7).abs() < 0.5, "{dist}");
}

#[test]
fn kml_export_with_a_control_character_was_not_well_formed() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let f = write(
        &d.path().join("c.geojson"),
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":"c\u0001","properties":{"category":"museum","name":"bell\u0001 & <tower>"},"geometry":{"type":"Point","coordinates":[10,50]}}]}"#,
    );
    ns(&reg).arg("import").arg(&f).assert().success();
    let kml = d.path().join("out.kml");
    ns(&reg)
        .args(["export", "--format", "kml", "-o"])
        .arg(&kml)
        .assert()
        .success();
    // GDAL's KML driver (expat) is the independent XML parser.
    let o = support::oracle_tool("ogrinfo")
        .args(["-ro", "-al"])
        .arg(&kml)
        .output()
        .expect("ogrinfo (gdal-bin)");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("bell & <tower>"), "{text}");
}

/// A registry written before schema 3 (tests/fixtures/README.md).
#[test]
fn schema2_registry_was_not_upgraded_with_its_hashes_kept() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("old.db");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/schema2.db"
        ),
        &reg,
    )
    .unwrap();
    // Read-only commands refuse it with the way forward, never a verdict.
    let (c, _, err) = code(ns(&reg).args(["check", "--point", "12.6392,-8.0029"]));
    assert_eq!(c, 1);
    assert!(err.contains("older") && err.contains("verify"), "{err}");
    // A writing command upgrades it; every site hash written by the old
    // build (properties canonicalised by serde_json then) still verifies.
    verify_ok(&reg);
    let (_, out, _) = code(ns(&reg).args(["stats", "--format", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["content_hash"],
        "1664c074885c27aca1950356241926a13496bf7cf390f2372f13c76f583130e8"
    );
    assert_eq!(v["revision"], 1);
    assert_eq!(v["sources"][0]["licence"], "CC-BY-4.0");
    let (_, log, _) = code(ns(&reg).arg("log"));
    assert!(
        log.contains("as recorded when the source log began"),
        "{log}"
    );
    let (c, _, _) = code(ns(&reg).args(["check", "--point", "12.6392,-8.0029"]));
    assert_eq!(c, 4);
    // Its source's metadata is now accountable too.
    {
        let c = rusqlite::Connection::open(&reg).unwrap();
        c.execute("UPDATE sources SET attribution = NULL", [])
            .unwrap();
    }
    let (c, out, _) = code(ns(&reg).arg("verify"));
    assert_eq!(c, 1, "{out}");
    assert!(out.contains("attribution (none)"), "{out}");
}

/// tests/fixtures/schema7.db: a registry written by the build of 19ab247.
const SCHEMA7: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/schema7.db"
);

/// A registry of schema 7 (tests/fixtures/README.md): each site version was
/// stored in its log entry and again in its live row. Upgrading stores each
/// version once; nothing may be lost or re-hashed.
#[test]
fn schema7_registry_was_not_upgraded_to_versions_with_everything_kept() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("old.db");
    std::fs::copy(SCHEMA7, &reg).unwrap();
    // What the old layout holds, read with SQL alone (no nostrike code).
    let old =
        rusqlite::Connection::open_with_flags(SCHEMA7, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let batch_hashes: Vec<(i64, String)> = old
        .prepare("SELECT revision, content_hash FROM batches ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let content_cols = "name, category, protection, designations, geometry, standoff_m, positional_accuracy_m, valid_from, valid_to, last_verified, properties, extensions";
    let entries = |c: &rusqlite::Connection, table: &str| -> Vec<Vec<rusqlite::types::Value>> {
        let sql = format!("SELECT seq, kind, source, site_id, hash_before, hash_after, {content_cols}, prev_hash, entry_hash FROM {table} ORDER BY seq");
        let mut st = c.prepare(&sql).unwrap();
        let n = st.column_count();
        st.query_map([], |r| (0..n).map(|i| r.get(i)).collect())
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let old_log = entries(&old, "changes");
    assert_eq!(old_log.len(), 10, "the fixture's log");
    drop(old);

    // Read-only commands refuse it with the way forward.
    let (c, _, err) = code(ns(&reg).args(["check", "--point", "42.5072,1.5212"]));
    assert_eq!(c, 1);
    assert!(err.contains("older") && err.contains("verify"), "{err}");
    // A writing command upgrades it, and it verifies.
    verify_ok(&reg);
    let new = rusqlite::Connection::open(&reg).unwrap();
    let version: i32 = new
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 8);
    // The auditors' view gives back every entry exactly as the old log held it.
    assert_eq!(entries(&new, "change_history"), old_log);
    // Each version is stored once: 7 site versions filed by 9 entries (one retirement).
    let (versions, live): (i64, i64) = new
        .query_row(
            "SELECT (SELECT count(*) FROM versions), (SELECT count(*) FROM sites)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let filed = old_log
        .iter()
        .filter(|e| e[1] != rusqlite::types::Value::Text("retired".into()))
        .count();
    assert_eq!((versions, live), (filed as i64, 6));
    drop(new);
    // Every past revision rebuilds to the content hash the old build recorded.
    for (rev, hash) in &batch_hashes {
        let (c, out, err) = code(ns(&reg).args([
            "check",
            "--point",
            "42.5072,1.5212",
            "--format",
            "json",
            "--as-of",
            &rev.to_string(),
        ]));
        assert!(c == 4 || c == 0 || c == 5, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["registry"]["content_hash"],
            hash.as_str(),
            "revision {rev}"
        );
    }
    // Today's report is the report the old build wrote (time and path aside),
    // its signature still valid.
    let (c, out, _) =
        code(ns(&reg).args(["check", "--point", "42.5072,1.5212", "--format", "json"]));
    assert_eq!(c, 4);
    let strip = |mut v: Value| {
        v["checked_at"] = Value::Null;
        v["validity_time"] = Value::Null;
        v["registry"]["path"] = Value::Null;
        v
    };
    let before: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/schema7/check-before.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let after: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(after["signature"]["valid"], true);
    assert_eq!(strip(after), strip(before));
}

/// Upgrading merges each live row into its logged version and drops the
/// log's redundant `prev_hash`: it would have hidden a live row or a link
/// edited behind nostrike's back. It must refuse and leave the file as it was.
#[test]
fn schema7_upgrade_hid_a_row_edited_with_the_shell() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join("old.db");
    for (sql, names) in [
        ("UPDATE sites SET name = 'forged' WHERE site_id = 'h2'", "live row of site heritage/h2"),
        // The column the upgrade drops (each entry hash already chains the one before).
        ("DROP TRIGGER changes_no_update; UPDATE changes SET prev_hash = entry_hash WHERE seq = 3", "log entry 3 of site heritage/h3"),
    ] {
        std::fs::copy(SCHEMA7, &reg).unwrap();
        rusqlite::Connection::open(&reg).unwrap().execute_batch(sql).unwrap();
        let bytes = std::fs::read(&reg).unwrap();
        let (c, out, err) = code(ns(&reg).arg("verify"));
        assert_eq!(c, 1, "{out}");
        assert!(err.contains("cannot upgrade to schema 8") && err.contains(names), "{sql}: {err}");
        assert_eq!(std::fs::read(&reg).unwrap(), bytes, "the refused upgrade changed the file");
    }
}

/// `check -o /dev/null` wrote a temporary file beside the destination and
/// renamed it over it, replacing the device with a regular file. A device
/// or a pipe is written in place. (Tested on a FIFO of our own: a
/// regression must not break the machine's /dev/null.)
#[test]
fn output_to_dev_null_replaced_the_device() {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let d = tempfile::tempdir().unwrap();
    let reg = registry(d.path());
    let fifo = d.path().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // The read end, opened without waiting for a writer (O_NONBLOCK).
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(0o4000)
        .open(&fifo)
        .unwrap();
    let (c, _, err) = code(
        ns(&reg)
            .args([
                "check",
                "--point",
                "42.5110,1.5306",
                "--format",
                "json",
                "-q",
                "-o",
            ])
            .arg(&fifo),
    );
    assert_eq!(c, 4, "{err}");
    assert!(
        std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "the pipe was replaced by a file"
    );
    let mut got = String::new();
    reader.read_to_string(&mut got).unwrap();
    let v: Value = serde_json::from_str(&got).unwrap();
    assert_eq!(v["verdict"], "conflict");
    // A format written as a whole file is refused, the pipe left alone.
    let (c, _, err) = code(
        ns(&reg)
            .args(["export", "--format", "gpkg", "-o"])
            .arg(&fifo),
    );
    assert_eq!(c, 1);
    assert!(err.contains("not a regular file"), "{err}");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

/// `--help` listed exit codes 0, 3, 4, 1 and 2 but not 5 (uncovered): a
/// script reading it would take 5 for an unknown failure. Every exit code a
/// check can give must be in the help, with the words of its verdict.
#[test]
fn help_left_out_the_uncovered_exit_code() {
    let o = assert_cmd::Command::cargo_bin("nostrike")
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    for code in ["0  ", "1  ", "2  ", "3  ", "4  ", "5  "] {
        assert!(
            help.contains(&format!("\n  {code}")),
            "exit code {code:?} missing from --help:\n{help}"
        );
    }
    assert!(help.contains("uncovered"), "{help}");
}
