//! The field kit, through the real binary: CoT out validated against
//! MITRE's CoT base-event schema (`xmllint`) and read back by an
//! independent parser (Python's standard library), ATAK data packages,
//! CoT in — a real ATAK route from the ATAK-CIV repository checks to the
//! same hits as the same route typed with `--route` — and hostile CoT refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

use serde_json::Value;
use support::{code, ns, oracle_tool};

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/cot");

fn fixture(name: &str) -> PathBuf {
    Path::new(FIX).join(name)
}

fn xsd() -> PathBuf {
    fixture("CoT Base-Event Schema (PUBLIC RELEASE).xsd")
}

/// Validate CoT event files against MITRE's base-event schema.
fn xmllint(files: &[PathBuf]) {
    assert!(!files.is_empty());
    let out = oracle_tool("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd())
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xmllint: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Python's standard-library XML parser reading CoT events: uid, type,
/// point, link points (as written, LAT,LON), msd range, callsign, access,
/// and the uid a site of (source, id) must have.
const PY: &str = r#"
import hashlib, json, sys, xml.etree.ElementTree as ET
out = []
for f in sys.argv[1:]:
    ev = ET.parse(f).getroot()
    assert ev.tag == "event", ev.tag
    p = ev.find("point")
    d = ev.find("detail")
    msd = d.find("msd")
    c = d.find("contact")
    out.append({
        "uid": ev.get("uid"), "type": ev.get("type"), "how": ev.get("how"), "access": ev.get("access"),
        "lat": float(p.get("lat")), "lon": float(p.get("lon")),
        "links": [[float(x) for x in l.get("point").split(",")] for l in d.findall("link") if l.get("point")],
        "msd": float(msd.get("range")) if msd is not None else None,
        "callsign": c.get("callsign") if c is not None else None,
        "remarks": (d.findtext("remarks") or ""),
    })
print(json.dumps(out))
"#;

fn python_read(files: &[PathBuf]) -> Vec<Value> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(PY)
        .args(files)
        .output()
        .expect("python3 (apt-get install python3; .ci/run does)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn py_uid(source: &str, id: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import hashlib,sys; s=sys.argv[1].encode(); print('nostrike-' + hashlib.sha256(str(len(s)).encode() + b':' + s + sys.argv[2].encode()).hexdigest()[:32])")
        .args([source, id])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

const SITES: &str = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","id":"p1","properties":{"name":"Museum \"A\" & <B>","category":"museum","standoff_m":300,"positional_accuracy_m":20},"geometry":{"type":"Point","coordinates":[1.5306123,42.5110456]}},
{"type":"Feature","id":"poly","properties":{"name":"Old town","category":"historic_district","standoff_m":150,"classification":"NATO RESTRICTED","releasable_to":["NATO","UKR"]},"geometry":{"type":"Polygon","coordinates":[[[1.52,42.50],[1.53,42.50],[1.53,42.51],[1.52,42.51],[1.52,42.50]]]}},
{"type":"Feature","id":"am","properties":{"name":"","category":"medical","standoff_m":100,"positional_accuracy_m":5},"geometry":{"type":"Point","coordinates":[179.9999999,-16.5]}}
]}"#;

fn registry(dir: &Path) -> PathBuf {
    let reg = dir.join("r.db");
    ns(&reg).arg("init").assert().success();
    let f = dir.join("sites.geojson");
    std::fs::write(&f, SITES).unwrap();
    ns(&reg)
        .arg("import")
        .arg(&f)
        .args(["--source", "kit"])
        .assert()
        .success();
    reg
}

/// Each site's expected event from the registry's own GeoJSON export.
fn expected(reg: &Path) -> Vec<Value> {
    let (_, out, _) = code(ns(reg).args(["export", "--format", "geojson"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["features"].as_array().unwrap().clone()
}

fn assert_events_match_sites(events: &[Value], sites: &[Value]) {
    assert_eq!(events.len(), sites.len());
    for s in sites {
        let p = &s["properties"];
        let (src, id) = (p["source"].as_str().unwrap(), p["id"].as_str().unwrap());
        let uid = py_uid(src, id);
        let e = events
            .iter()
            .find(|e| e["uid"] == uid.as_str())
            .unwrap_or_else(|| panic!("no event with uid {uid} for {src}/{id}"));
        let want_msd =
            p["standoff_m"].as_f64().unwrap() + p["positional_accuracy_m"].as_f64().unwrap();
        assert!(
            (e["msd"].as_f64().unwrap() - want_msd).abs() < 0.05,
            "{id}: msd {} want {want_msd}",
            e["msd"]
        );
        assert_eq!(e["how"], "h-t");
        let g = &s["geometry"];
        match g["type"].as_str().unwrap() {
            "Point" => {
                let c = g["coordinates"].as_array().unwrap();
                assert!(
                    (e["lon"].as_f64().unwrap() - c[0].as_f64().unwrap()).abs() < 1e-7,
                    "{id} lon"
                );
                assert!(
                    (e["lat"].as_f64().unwrap() - c[1].as_f64().unwrap()).abs() < 1e-7,
                    "{id} lat"
                );
                assert!(
                    e["type"].as_str().unwrap().starts_with("a-n-G-I"),
                    "{id}: {}",
                    e["type"]
                );
                assert!(e["links"].as_array().unwrap().is_empty());
            }
            "Polygon" => {
                assert_eq!(e["type"], "u-d-f");
                let ring = g["coordinates"][0].as_array().unwrap();
                let links = e["links"].as_array().unwrap();
                assert_eq!(links.len(), ring.len(), "closed: first vertex repeated");
                for (l, r) in links.iter().zip(ring) {
                    // CoT writes LAT,LON: the reverse of GeoJSON's order.
                    assert!(
                        (l[0].as_f64().unwrap() - r[1].as_f64().unwrap()).abs() < 1e-7,
                        "{id}: lat order"
                    );
                    assert!(
                        (l[1].as_f64().unwrap() - r[0].as_f64().unwrap()).abs() < 1e-7,
                        "{id}: lon order"
                    );
                }
                assert_eq!(e["access"], "NATO RESTRICTED // REL TO NATO, UKR");
            }
            other => panic!("unexpected {other}"),
        }
        let name = p["name"].as_str().unwrap();
        let want_call = if name.is_empty() {
            format!("unnamed {} {id}", p["category"].as_str().unwrap())
        } else {
            name.to_string()
        };
        assert_eq!(e["callsign"], want_call.as_str());
        assert!(e["remarks"]
            .as_str()
            .unwrap()
            .contains(&format!("source {src}/{id}")));
    }
}

#[test]
fn cot_export_validates_against_mitre_schema_and_reads_back_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let sites = expected(&reg);
    // One file per site.
    let out = dir.path().join("cot");
    ns(&reg)
        .args(["export", "--format", "cot", "-o"])
        .arg(&out)
        .assert()
        .success();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    xmllint(&files);
    assert_events_match_sites(&python_read(&files), &sites);
    // A stream: one event per line.
    let stream = dir.path().join("all.cot");
    ns(&reg)
        .args(["export", "--format", "cot", "-o"])
        .arg(&stream)
        .assert()
        .success();
    let text = std::fs::read_to_string(&stream).unwrap();
    let mut split = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f = dir.path().join(format!("line{i}.cot"));
        std::fs::write(&f, line).unwrap();
        split.push(f);
    }
    xmllint(&split);
    assert_events_match_sites(&python_read(&split), &sites);
}

#[test]
fn atak_data_package_is_stable_and_holds_one_valid_event_per_site() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let sites = expected(&reg);
    let (a, b) = (dir.path().join("a.zip"), dir.path().join("b.zip"));
    for f in [&a, &b] {
        ns(&reg)
            .args(["export", "--format", "atak", "--stale-after", "2d", "-o"])
            .arg(f)
            .assert()
            .success();
    }
    let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // Times inside the events move with the clock; everything else is the same.
    let mut za = zip::ZipArchive::new(std::io::Cursor::new(ba)).unwrap();
    let mut zb = zip::ZipArchive::new(std::io::Cursor::new(bb)).unwrap();
    let names: Vec<String> = za.file_names().map(|n| n.unwrap().to_string()).collect();
    assert_eq!(
        names,
        zb.file_names()
            .map(|n| n.unwrap().to_string())
            .collect::<Vec<_>>(),
        "stable entry names"
    );
    assert_eq!(names[0], "MANIFEST/manifest.xml");
    let read = |z: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, n: &str| {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut z.by_name(n).unwrap(), &mut s).unwrap();
        s
    };
    let manifest = read(&mut za, "MANIFEST/manifest.xml");
    assert_eq!(
        manifest,
        read(&mut zb, "MANIFEST/manifest.xml"),
        "same package uid and contents"
    );
    assert!(manifest.contains("<MissionPackageManifest version=\"2\">"));
    let mut files = Vec::new();
    for n in names.iter().filter(|n| n.ends_with(".cot")) {
        let (dirpart, file) = n.split_once('/').unwrap();
        assert_eq!(format!("{dirpart}.cot"), file, "UID/UID.cot");
        assert!(
            manifest.contains(&format!("zipEntry=\"{n}\"")),
            "{n} is in the manifest"
        );
        let f = dir.path().join(file);
        std::fs::write(&f, read(&mut za, n)).unwrap();
        files.push(f);
    }
    xmllint(&files);
    let events = python_read(&files);
    assert_events_match_sites(&events, &sites);
    // Two days from start to stale.
    let ev = std::fs::read_to_string(&files[0]).unwrap();
    let t = |k: &str| ev.split(&format!("{k}=\"")).nth(1).unwrap()[..19].to_string();
    let start = nostrike_core::time::parse_utc(&format!("{}Z", t("start"))).unwrap();
    let stale = nostrike_core::time::parse_utc(&format!("{}Z", t("stale"))).unwrap();
    assert_eq!(stale - start, 2 * 86_400);
}

/// The route's waypoints and control points as the file gives them, read
/// with a plain text scan (not nostrike's reader).
fn route_points_by_text(cot: &str) -> Vec<(f64, f64)> {
    cot.split("point='")
        .skip(1)
        .map(|s| {
            let v: Vec<f64> = s
                .split('\'')
                .next()
                .unwrap()
                .split(',')
                .map(|x| x.parse().unwrap())
                .collect();
            (v[0], v[1])
        })
        .collect()
}

#[test]
fn an_atak_route_checks_to_the_same_hits_as_the_route_typed() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("Route.cot")).unwrap();
    let pts = route_points_by_text(&text);
    assert_eq!(pts.len(), 13);
    // Sites beside the route (Arlington, Virginia): a few tens of metres off some of its points.
    let feats: Vec<String> = pts
        .iter()
        .enumerate()
        .step_by(2)
        .map(|(i, (lat, lon))| format!(r#"{{"type":"Feature","id":"s{i}","properties":{{"name":"Site {i}","category":"education"}},"geometry":{{"type":"Point","coordinates":[{},{}]}}}}"#, lon + 0.0004 * (i as f64 % 3.0 - 1.0), lat + 0.0003))
        .collect();
    let reg = dir.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let f = dir.path().join("sites.geojson");
    support::write_collection(&f, &feats);
    ns(&reg).arg("import").arg(&f).assert().success();
    let json = |args: Vec<String>| -> Value {
        let (_, out, err) = code(ns(&reg).arg("check").args(&args).args(["--format", "json"]));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"))
    };
    let from_cot = json(vec![
        "--areas".into(),
        fixture("Route.cot").display().to_string(),
        "--buffer".into(),
        "100m".into(),
    ]);
    let typed = pts
        .iter()
        .map(|(la, lo)| format!("{la},{lo}"))
        .collect::<Vec<_>>()
        .join("; ");
    let from_route = json(vec![
        "--route".into(),
        typed,
        "--corridor".into(),
        "100m".into(),
    ]);
    let hits = |v: &Value| -> Vec<(String, f64, String)> {
        v["areas"][0]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["site_id"].as_str().unwrap().to_string(),
                    h["distance_m"].as_f64().unwrap(),
                    h["verdict"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert!(!hits(&from_route).is_empty());
    assert_eq!(hits(&from_cot), hits(&from_route));
    assert_eq!(from_cot["verdict"], from_route["verdict"]);
    assert_eq!(
        from_cot["areas"][0]["id"],
        "9017073e-5658-42e7-baa8-b98f3c9c1622"
    );
    // The same route inside an ATAK data package (as a device shares it).
    let pkg = dir.path().join("route-package.zip");
    {
        use std::io::Write as _;
        let mut z = zip::ZipWriter::new(std::fs::File::create(&pkg).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        z.start_file("MANIFEST/manifest.xml", o).unwrap();
        z.write_all(b"<MissionPackageManifest version=\"2\"><Configuration><Parameter name=\"uid\" value=\"p\"/></Configuration><Contents><Content zipEntry=\"r/Route.cot\"/></Contents></MissionPackageManifest>").unwrap();
        z.start_file("r/Route.cot", o).unwrap();
        z.write_all(text.as_bytes()).unwrap();
        z.finish().unwrap();
    }
    let from_pkg = json(vec![
        "--areas".into(),
        pkg.display().to_string(),
        "--buffer".into(),
        "100m".into(),
    ]);
    assert_eq!(hits(&from_pkg), hits(&from_route));
}

#[test]
fn atak_drawn_shapes_read_as_areas() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    for (file, want) in [
        ("Drawing Shapes - Circle.cot", "point"),
        ("Drawing Shapes - Free Form.cot", "polygon"),
        ("Drawing Shapes - Rectangle.cot", "polygon"),
    ] {
        let (c, out, err) = code(
            ns(&reg)
                .args(["check", "--format", "json", "--areas"])
                .arg(fixture(file)),
        );
        assert!(c == 0 || c == 5, "{file}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let read_as = v["areas"][0]["read_as"].as_str().unwrap().to_lowercase();
        assert!(read_as.contains(want), "{file}: read as {read_as}");
        if want == "point" {
            // The circle's radius (ellipse major) is the area's buffer.
            assert!(
                (v["areas"][0]["buffer_m"].as_f64().unwrap() - 226.98412686380018).abs() < 1e-9,
                "{v}"
            );
        }
    }
}

#[test]
fn hostile_cot_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let ev = |detail: &str| {
        format!("<event version='2.0' uid='x' type='b-m-r' time='2020-01-01T00:00:00Z' start='2020-01-01T00:00:00Z' stale='2020-01-02T00:00:00Z' how='h-e'><point lat='0' lon='0' hae='0' ce='0' le='0'/><detail>{detail}</detail></event>")
    };
    let many: String = (0..100_001)
        .map(|i| format!("<link point='1.{i},2'/>"))
        .collect();
    for (name, text, says) in [
        (
            "xxe.cot",
            format!(
                "<?xml version='1.0'?><!DOCTYPE e [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>{}",
                ev("<remarks>&x;</remarks>")
            ),
            "document type declarations",
        ),
        (
            "cut.cot",
            ev("<link point='1,2'/><link point='3,4'/>")[..150].to_string(),
            "truncated",
        ),
        (
            "nan.cot",
            ev("<link point='NaN,2'/><link point='3,4'/>"),
            "not a finite number",
        ),
        (
            "order.cot",
            ev("<link point='1;2'/><link point='3,4'/>"),
            "is not LAT,LON",
        ),
        ("many.cot", ev(&many), "more than 100000 link points"),
        (
            "empty.cot",
            "<?xml version='1.0'?><events></events>".to_string(),
            "no CoT <event>",
        ),
    ] {
        let f = dir.path().join(name);
        std::fs::write(&f, &text).unwrap();
        let (c, _, err) = code(ns(&reg).args(["check", "--areas"]).arg(&f));
        assert_eq!(c, 1, "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        assert!(
            err.contains(name),
            "{name}: the message names the file: {err}"
        );
    }
}

#[test]
fn a_check_as_cot_validates_and_carries_every_hit() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let (_, out, _) = code(ns(&reg).args([
        "check",
        "--point",
        "42.5110,1.5306",
        "--route",
        "42.505,1.515; 42.505,1.535",
        "--buffer",
        "50m",
        "--format",
        "json",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let hits: usize = v["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["hits"].as_array().unwrap().len())
        .sum();
    assert!(hits >= 2);
    let f = dir.path().join("check.cot");
    ns(&reg)
        .args([
            "check",
            "--point",
            "42.5110,1.5306",
            "--route",
            "42.505,1.515; 42.505,1.535",
            "--buffer",
            "50m",
            "--format",
            "cot",
            "-o",
        ])
        .arg(&f)
        .assert()
        .code(4);
    let text = std::fs::read_to_string(&f).unwrap();
    let mut files = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let p = dir.path().join(format!("e{i}.cot"));
        std::fs::write(&p, line).unwrap();
        files.push(p);
    }
    assert_eq!(files.len(), 2 + hits, "one event per area and per hit");
    xmllint(&files);
    let events = python_read(&files);
    assert_eq!(events[0]["type"], "u-d-c-c");
    assert!(events
        .iter()
        .any(|e| e["type"] == "b-m-r" && e["links"].as_array().unwrap().len() == 2));
    for a in v["areas"].as_array().unwrap() {
        for h in a["hits"].as_array().unwrap() {
            let want = format!(
                "distance {:.1} m, required {:.1} m",
                h["distance_m"].as_f64().unwrap(),
                h["required_m"].as_f64().unwrap()
            );
            assert!(
                events
                    .iter()
                    .any(|e| e["remarks"].as_str().unwrap().contains(&want)
                        && e["remarks"]
                            .as_str()
                            .unwrap()
                            .contains(h["site_id"].as_str().unwrap())),
                "{want}"
            );
        }
    }
    // Read back as areas, the check's own CoT gives the same areas' hits.
    let (_, out2, err2) = code(
        ns(&reg)
            .args(["check", "--format", "json", "--areas"])
            .arg(&files[0]),
    );
    let v2: Value = serde_json::from_str(&out2).unwrap_or_else(|e| panic!("{e}: {err2}"));
    assert_eq!(
        v2["areas"][0]["hits"].as_array().unwrap().len(),
        v["areas"][0]["hits"].as_array().unwrap().len()
    );
}

/// Feature counts per layer as GDAL's `ogrinfo` reads a file.
fn ogr_count(file: &Path) -> usize {
    let out = oracle_tool("ogrinfo")
        .args(["-ro", "-so", "-al"])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ogrinfo {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter_map(|l| l.strip_prefix("Feature Count: "))
        .map(|n| n.trim().parse::<usize>().unwrap())
        .sum()
}

#[test]
fn every_kml_and_kmz_nostrike_writes_is_read_by_gdal_with_true_rings() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path());
    let sites = expected(&reg).len();
    let d = dir.path();
    ns(&reg)
        .args(["export", "--format", "kml", "-o"])
        .arg(d.join("e.kml"))
        .assert()
        .success();
    ns(&reg)
        .args(["export", "--format", "kmz", "-o"])
        .arg(d.join("e.kmz"))
        .assert()
        .success();
    let args = ["check", "--point", "42.5110,1.5306", "--buffer", "50m"];
    ns(&reg)
        .args(args)
        .args(["--format", "kml", "-o"])
        .arg(d.join("c.kml"))
        .assert()
        .code(4);
    ns(&reg)
        .args(args)
        .args(["--format", "kmz", "-o"])
        .arg(d.join("c.kmz"))
        .assert()
        .code(4);
    let (_, out, _) = code(ns(&reg).args(args).args(["--format", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let hits = v["areas"][0]["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    // Well-formed, and the KMZ is the KML zipped.
    let kmz = |f: &str| {
        let mut z = zip::ZipArchive::new(std::fs::File::open(d.join(f)).unwrap()).unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut z.by_name("doc.kml").unwrap(), &mut s).unwrap();
        s
    };
    std::fs::write(d.join("e-inner.kml"), kmz("e.kmz")).unwrap();
    std::fs::write(d.join("c-inner.kml"), kmz("c.kmz")).unwrap();
    let out = oracle_tool("xmllint")
        .arg("--noout")
        .args(["e.kml", "e-inner.kml", "c.kml", "c-inner.kml"].map(|f| d.join(f)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ogr_count(&d.join("e.kml")), sites);
    assert_eq!(ogr_count(&d.join("e.kmz")), sites);
    // The check: the area, each hit, and each hit's required-distance ring.
    assert_eq!(ogr_count(&d.join("c.kml")), 1 + 2 * hits.len());
    assert_eq!(ogr_count(&d.join("c.kmz")), 1 + 2 * hits.len());
    // Unnamed sites get a name; every placemark has a category style.
    let e = std::fs::read_to_string(d.join("e.kml")).unwrap();
    assert!(
        e.contains("<name>unnamed medical am</name>"),
        "unnamed site's placemark name"
    );
    assert_eq!(
        e.matches("<Placemark>").count(),
        e.matches("<styleUrl>#cat-").count()
    );
    // A point site's ring: every vertex at the required distance (GeodSolve).
    let c = std::fs::read_to_string(d.join("c.kml")).unwrap();
    let h = hits
        .iter()
        .find(|h| h["site_id"] == "kit/p1")
        .expect("the museum is hit");
    let ring_pm = c
        .split("<Placemark>")
        .find(|p| p.contains("required distance") && p.contains("kit/p1"))
        .unwrap();
    let coords = ring_pm
        .split("<coordinates>")
        .nth(1)
        .unwrap()
        .split("</coordinates>")
        .next()
        .unwrap();
    let pairs: Vec<[f64; 2]> = coords
        .split_whitespace()
        .map(|t| {
            let v: Vec<f64> = t.split(',').map(|x| x.parse().unwrap()).collect();
            [v[0], v[1]]
        })
        .collect();
    assert!(pairs.len() >= 72);
    let from_site: Vec<[f64; 4]> = pairs
        .iter()
        .map(|[lon, lat]| [42.5110456, 1.5306123, *lat, *lon])
        .collect();
    let got = support::geodsolve(&from_site);
    let want = h["required_m"].as_f64().unwrap();
    assert_eq!(got.len(), pairs.len());
    for (_, s) in got {
        assert!(
            (s - want).abs() < 0.05,
            "ring vertex at {s} m, required {want} m"
        );
    }
}
