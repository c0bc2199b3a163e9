//! The map reports, through the real binary: the SVG is well-formed XML
//! whose positions and scale bar agree with GeographicLib's `GeodSolve`
//! (an independent implementation run as a separate program), anywhere on
//! Earth; the HTML report renders in a real headless Chromium with every
//! hit drawn, no console error and no request leaving the file, and shows
//! a hostile site name as text.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod support;

use serde_json::Value;
use support::browser::{artefact, Browser};
use support::{code, ns};

fn registry_from(dir: &Path, geojson: &str) -> PathBuf {
    let reg = dir.join("r.db");
    ns(&reg).arg("init").assert().success();
    let f = dir.join("sites.geojson");
    std::fs::write(&f, geojson).unwrap();
    ns(&reg).arg("import").arg(&f).assert().success();
    reg
}

fn andorra(dir: &Path) -> PathBuf {
    support::andorra_registry(dir)
}

/// Run a check twice, as JSON and as `format` into a file; the JSON and the file's text.
fn check_as(reg: &Path, dir: &Path, args: &[&str], format: &str) -> (i32, Value, String, PathBuf) {
    // The JSON run leaves out --tiles (imagery belongs to the map reports only).
    let mut plain = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if *a == "--tiles" {
            it.next();
        } else {
            plain.push(*a);
        }
    }
    let (c, out, err) = code(ns(reg).arg("check").args(&plain).args(["--format", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let file = dir.join(format!("report.{format}"));
    let (c2, _, err2) = code(
        ns(reg)
            .arg("check")
            .args(args)
            .args(["--format", format, "-o"])
            .arg(&file),
    );
    assert_eq!(
        c, c2,
        "the {format} report's exit code differs from JSON's: {err2}"
    );
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}: {err2}"));
    (c, v, text, file)
}

/// Elements of an SVG document: (name, attributes), in order. Panics
/// unless the whole document is well-formed XML.
fn elements(svg: &str) -> Vec<(String, BTreeMap<String, String>)> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(svg);
    r.config_mut().check_end_names = true;
    let mut out = Vec::new();
    loop {
        let ev = r.read_event().unwrap_or_else(|e| {
            panic!("SVG is not well-formed XML at {}: {e}", r.buffer_position())
        });
        match ev {
            Event::Start(e) | Event::Empty(e) => {
                let mut a = BTreeMap::new();
                for at in e.attributes() {
                    let at = at.unwrap();
                    a.insert(
                        at.key.0.to_string(),
                        at.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .unwrap()
                            .to_string(),
                    );
                }
                out.push((e.name().0.to_string(), a));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(!out.is_empty());
    out
}

/// The scale bar of each map and where each hit's nearest point is drawn
/// agree with GeodSolve: the drawn bar is as long as it says, and a hit
/// site's pixel distance and direction from the map's centre, read with
/// that bar, are its geodesic distance and azimuth from the centre.
fn assert_scale_true(svg: &str, report: &Value) {
    let els = elements(svg);
    let maps: Vec<usize> = els
        .iter()
        .enumerate()
        .filter(|(_, (n, a))| n == "svg" && a.get("class").map(String::as_str) == Some("map"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        maps.len(),
        report["areas"].as_array().unwrap().len(),
        "one map per area"
    );
    let mut checked = 0;
    for (k, &start) in maps.iter().enumerate() {
        let end = maps.get(k + 1).copied().unwrap_or(els.len());
        let m = &els[start].1;
        let (clon, clat): (f64, f64) = (
            m["data-centre-lon"].parse().unwrap(),
            m["data-centre-lat"].parse().unwrap(),
        );
        let (bar_i, bar) = els[start..end]
            .iter()
            .enumerate()
            .find(|(_, (n, a))| n == "g" && a.get("class").map(String::as_str) == Some("scalebar"))
            .map(|(i, (_, a))| (start + i, a.clone()))
            .expect("every map has a scale bar");
        let metres: f64 = bar["data-metres"].parse().unwrap();
        let px: f64 = bar["data-px"].parse().unwrap();
        // The four drawn segments make up the length the bar claims.
        let drawn: f64 = els[bar_i + 1..bar_i + 5]
            .iter()
            .map(|(n, a)| {
                assert_eq!(n, "rect");
                a["width"].parse::<f64>().unwrap()
            })
            .sum();
        assert!(
            (drawn - px).abs() < 0.05,
            "bar drawn {drawn} px, claims {px} px"
        );
        let per_m = px / metres;
        let hits = report["areas"][k]["hits"].as_array().unwrap();
        let mut drawn_hits: Vec<&BTreeMap<String, String>> = els[start..end]
            .iter()
            .filter(|(n, a)| {
                n == "g"
                    && a.get("class")
                        .is_some_and(|c| c.split(' ').any(|w| w == "hit"))
            })
            .map(|(_, a)| a)
            .collect();
        // Drawn most severe last (on top); numbered as the report lists them.
        drawn_hits.sort_by_key(|a| a["data-hit"].parse::<usize>().unwrap());
        assert_eq!(drawn_hits.len(), hits.len(), "every hit is drawn, once");
        let pairs: Vec<[f64; 4]> = hits
            .iter()
            .map(|h| {
                let p = &h["nearest_on_site"];
                [clat, clon, p[1].as_f64().unwrap(), p[0].as_f64().unwrap()]
            })
            .collect();
        for ((h, a), (azi, s)) in hits.iter().zip(&drawn_hits).zip(support::geodsolve(&pairs)) {
            assert_eq!(a["data-key"], h["site_id"].as_str().unwrap());
            let (x, y): (f64, f64) = (a["data-x"].parse().unwrap(), a["data-y"].parse().unwrap());
            let (dx, dy) = (x - 500.0, 350.0 - y);
            let d_m = dx.hypot(dy) / per_m;
            let tol = 0.002 / per_m + 1e-9 * s;
            assert!(
                (d_m - s).abs() <= tol,
                "{}: drawn {d_m} m from the centre, GeodSolve says {s} m (tolerance {tol})",
                h["site_id"]
            );
            if dx.hypot(dy) > 20.0 {
                let drawn_azi = dx.atan2(dy).to_degrees();
                let diff = (drawn_azi - azi + 540.0).rem_euclid(360.0) - 180.0;
                assert!(
                    diff.abs() < 0.01,
                    "{}: drawn at azimuth {drawn_azi}, GeodSolve {azi}",
                    h["site_id"]
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no hit was checked against GeodSolve");
}

#[test]
fn svg_report_is_scale_true_against_geodsolve_in_andorra() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    let (c, v, svg, _) = check_as(
        &reg,
        dir.path(),
        &[
            "--route",
            "42.5063,1.5218; 42.5100,1.5400",
            "--corridor",
            "100m",
            "--point",
            "42.5110,1.5306",
            "--buffer",
            "50m",
        ],
        "svg",
    );
    assert_eq!(c, 4);
    assert_scale_true(&svg, &v);
    // The header a filed picture must carry, and the banner at top and bottom.
    for must in [
        format!("revision {}", v["registry"]["revision"]),
        format!(
            "content {}",
            v["registry"]["content_hash"].as_str().unwrap()
        ),
        format!("policy {}", v["policy"]["name"].as_str().unwrap()),
        "CONFLICT".to_string(),
        "Legend".to_string(),
    ] {
        assert!(svg.contains(&must), "the SVG does not say {must:?}");
    }
    assert_eq!(svg.matches("class=\"banner\"").count(), 2);
    // The source's declared coverage (the shipped extract's box) is drawn
    // where it crosses a map: the route's map reaches the box's west edge.
    assert!(
        svg.contains("class=\"coverage\" data-source=\"andorra-2013-sites\""),
        "coverage boundary not drawn"
    );
    assert!(
        !svg.contains("http://")
            || svg.matches("http://").count() == svg.matches("http://www.w3.org/2000/svg").count(),
        "the SVG refers to nothing outside itself"
    );
}

#[test]
fn svg_report_is_scale_true_at_the_pole_and_across_the_antimeridian() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry_from(
        dir.path(),
        r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","id":"pole-a","properties":{"name":"Polar station","category":"shelter"},"geometry":{"type":"Point","coordinates":[0,89.999]}},
        {"type":"Feature","id":"pole-b","properties":{"name":"Other side of the pole","category":"medical"},"geometry":{"type":"Point","coordinates":[180,89.9985]}},
        {"type":"Feature","id":"am-east","properties":{"name":"East of the line","category":"museum"},"geometry":{"type":"Point","coordinates":[179.9995,-16.5]}},
        {"type":"Feature","id":"am-poly","properties":{"name":"West of the line","category":"monument"},"geometry":{"type":"Polygon","coordinates":[[[-179.9992,-16.5010],[-179.9980,-16.5010],[-179.9980,-16.5000],[-179.9992,-16.5000],[-179.9992,-16.5010]]]}}
        ]}"#,
    );
    let (c, v, svg, _) = check_as(
        &reg,
        dir.path(),
        &[
            "--point",
            "90,0",
            "--point",
            "-16.5005,-179.9999",
            "--buffer",
            "20m",
        ],
        "svg",
    );
    assert_eq!(c, 4, "{v}");
    let hits: usize = v["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["hits"].as_array().unwrap().len())
        .sum();
    assert_eq!(hits, 4, "{v}");
    assert_scale_true(&svg, &v);
}

#[test]
fn map_reports_refuse_more_areas_than_they_can_draw() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    let mut args = Vec::new();
    for i in 0..101 {
        args.push("--point".to_string());
        args.push(format!("42.5,{}", 1.45 + i as f64 * 0.001));
    }
    for format in ["svg", "html"] {
        let out = dir.path().join(format!("many.{format}"));
        let (c, _, err) = code(
            ns(&reg)
                .arg("check")
                .args(&args)
                .args(["--format", format, "-o"])
                .arg(&out),
        );
        assert_eq!(c, 1, "{err}");
        assert!(err.contains("at most 100 areas"), "{err}");
        assert!(!out.exists(), "a refused report leaves no file");
    }
}

#[test]
fn html_report_renders_every_hit_in_chromium_without_network() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    let (c, v, html, file) = check_as(
        &reg,
        dir.path(),
        &[
            "--route",
            "42.5063,1.5218; 42.5100,1.5400",
            "--corridor",
            "100m",
            "--point",
            "42.5110,1.5306",
            "--buffer",
            "50m",
        ],
        "html",
    );
    assert_eq!(c, 4);
    // Self-contained: no element loads anything.
    for bad in ["src=", "<link", "@import", "url(http"] {
        assert!(!html.contains(bad), "the HTML report holds {bad:?}");
    }
    let hits: usize = v["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["hits"].as_array().unwrap().len())
        .sum();
    assert!(hits >= 4);
    let url = format!("file://{}", file.display());
    let mut b = Browser::start();
    b.open(&url);
    assert_eq!(
        b.eval("document.querySelectorAll('svg.map .site.hit').length"),
        Value::from(hits)
    );
    assert_eq!(
        b.eval("document.querySelectorAll('table.hits tr.hit').length"),
        Value::from(hits)
    );
    assert_eq!(
        b.eval("document.querySelectorAll('svg.map').length"),
        Value::from(2)
    );
    assert_eq!(
        b.eval("document.querySelectorAll('.banner').length"),
        Value::from(2)
    );
    assert_eq!(b.eval("!!document.querySelector('section.legend') && document.querySelector('header h1').textContent.includes('CONFLICT')"), Value::Bool(true));
    // The embedded JSON report is the CLI's (checked_at aside).
    let embedded: Value = serde_json::from_str(
        b.eval("document.getElementById('report-json').textContent")
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let strip = |mut x: Value| {
        x["checked_at"] = Value::Null;
        x["validity_time"] = Value::Null;
        x
    };
    assert_eq!(strip(embedded), strip(v.clone()));
    // Click the first hit on the map: its record shows.
    let name = b.eval("(() => { const g = document.querySelector('svg.map .site.hit'); g.dispatchEvent(new MouseEvent('click', {bubbles: true})); return document.querySelector('aside.record').textContent; })()");
    let first_key = b.eval("document.querySelector('svg.map .site.hit').getAttribute('data-key')");
    assert!(
        name.as_str().unwrap().contains(first_key.as_str().unwrap()),
        "{name}"
    );
    assert!(name.as_str().unwrap().contains("distance"), "{name}");
    // Zoom changes the view.
    let before = b.eval("document.querySelector('svg.map').getAttribute('viewBox')");
    b.eval("document.querySelector('button[data-zoom=in]').click()");
    assert_ne!(
        b.eval("document.querySelector('svg.map').getAttribute('viewBox')"),
        before
    );
    b.eval("document.querySelector('button[data-zoom=reset]').click()");
    assert_eq!(
        b.eval("document.querySelector('svg.map').getAttribute('viewBox')"),
        before
    );
    b.screenshot(&artefact("report.png"));
    assert_eq!(b.console_errors(), Vec::<String>::new());
    let requests = b.requests();
    assert!(!requests.is_empty(), "the page load itself is a request");
    for r in requests {
        assert!(
            r.starts_with("file://") || r.starts_with("data:"),
            "the report requested {r}"
        );
    }
}

#[test]
fn html_report_shows_a_hostile_site_name_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        r#"<img src=x onerror="window.__xss=1">"#,
        r#"</script><script>window.__xss=2</script>"#,
        r#"x" onmouseover="window.__xss=3"#,
    ];
    let feats: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                r#"{{"type":"Feature","id":"h{i}","properties":{{"name":{},"category":"museum"}},"geometry":{{"type":"Point","coordinates":[{},48.0]}}}}"#,
                serde_json::to_string(n).unwrap(),
                2.0 + i as f64 * 0.0004
            )
        })
        .collect();
    let reg = registry_from(dir.path(), &support::collection(&feats));
    let (c, _, _, file) = check_as(
        &reg,
        dir.path(),
        &["--point", "48.0,2.0004", "--buffer", "10m"],
        "html",
    );
    assert_eq!(c, 4);
    let mut b = Browser::start();
    b.open(&format!("file://{}", file.display()));
    assert_eq!(b.eval("typeof window.__xss"), Value::from("undefined"));
    assert_eq!(
        b.eval("document.querySelectorAll('img').length"),
        Value::from(0)
    );
    assert_eq!(
        b.eval("document.querySelectorAll('script').length"),
        Value::from(3)
    );
    let cells = b.eval("[...document.querySelectorAll('table.hits tr.hit td:nth-child(3)')].map(td => td.textContent)");
    let mut shown: Vec<String> = cells
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    shown.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(shown, want, "each name shows exactly as text");
    // Hovering and clicking every site runs no injected handler either.
    b.eval("document.querySelectorAll('svg.map .site').forEach(g => { g.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})); g.dispatchEvent(new MouseEvent('click', {bubbles: true})); })");
    assert_eq!(b.eval("typeof window.__xss"), Value::from("undefined"));
    assert!(!b.opened_dialog());
    b.screenshot(&artefact("report-hostile-names.png"));
    assert_eq!(b.console_errors(), Vec::<String>::new());
}

const TILES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/tiles/andorra-test.mbtiles"
);

/// A tile's bytes from the MBTiles file, read independently (rows count from the south).
fn fixture_tile(z: u32, x: u32, y: u32) -> Vec<u8> {
    let c =
        rusqlite::Connection::open_with_flags(TILES, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    c.query_row(
        "SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 AND tile_row = ?3",
        rusqlite::params![z, x, (1u32 << z) - 1 - y],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn svg_imagery_from_mbtiles_is_embedded_and_placed_where_geodsolve_says() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    let before = std::fs::read(TILES).unwrap();
    let (c, _, svg, _) = check_as(
        &reg,
        dir.path(),
        &[
            "--point",
            "42.5110,1.5306",
            "--buffer",
            "50m",
            "--tiles",
            TILES,
        ],
        "svg",
    );
    assert_eq!(c, 4);
    assert_eq!(
        std::fs::read(TILES).unwrap(),
        before,
        "the tile file is an input: never changed"
    );
    assert!(
        svg.contains("imagery: tiles from andorra-test.mbtiles (embedded) at zoom 15"),
        "no imagery note"
    );
    let els = elements(&svg);
    let m = &els
        .iter()
        .find(|(n, a)| n == "svg" && a.get("class").map(String::as_str) == Some("map"))
        .unwrap()
        .1;
    let (clon, clat): (f64, f64) = (
        m["data-centre-lon"].parse().unwrap(),
        m["data-centre-lat"].parse().unwrap(),
    );
    let per_m: f64 = m["data-px-per-m"].parse().unwrap();
    let images: Vec<&BTreeMap<String, String>> = els
        .iter()
        .filter(|(n, a)| n == "image" && a.contains_key("data-tile"))
        .map(|(_, a)| a)
        .collect();
    assert!(images.len() >= 4, "{} tiles", images.len());
    let mut pairs = Vec::new();
    for a in &images {
        let t: Vec<u32> = a["data-tile"]
            .split('/')
            .map(|v| v.parse().unwrap())
            .collect();
        let href = &a["href"];
        let b64 = href
            .strip_prefix("data:image/png;base64,")
            .expect("embedded PNG");
        assert_eq!(
            support::browser::base64_decode(b64),
            fixture_tile(t[0], t[1], t[2]),
            "tile {t:?}"
        );
        // The tile's north-west corner, by the slippy-map formula, from GeodSolve.
        let n = f64::from(1u32 << t[0]);
        let lon = f64::from(t[1]) / n * 360.0 - 180.0;
        let lat = (std::f64::consts::PI * (1.0 - 2.0 * f64::from(t[2]) / n))
            .sinh()
            .atan()
            .to_degrees();
        pairs.push([clat, clon, lat, lon]);
    }
    for (a, (azi, s)) in images.iter().zip(support::geodsolve(&pairs)) {
        let m: Vec<f64> = a["transform"]
            .trim_start_matches("matrix(")
            .trim_end_matches(')')
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        let (ex, ey) = (
            500.0 + s * azi.to_radians().sin() * per_m,
            350.0 - s * azi.to_radians().cos() * per_m,
        );
        assert!(
            (m[4] - ex).abs() < 0.01 && (m[5] - ey).abs() < 0.01,
            "tile {} placed at {:?}, GeodSolve says {:?}",
            a["data-tile"],
            (m[4], m[5]),
            (ex, ey)
        );
    }
}

#[test]
fn imagery_is_refused_without_a_map_or_a_raster_tile_file() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    let (c, _, err) = code(ns(&reg).args([
        "check",
        "--point",
        "42.5110,1.5306",
        "--format",
        "json",
        "--tiles",
        TILES,
    ]));
    assert_eq!(c, 1);
    assert!(
        err.contains("--tiles draws imagery under the map reports"),
        "{err}"
    );
    let vector = dir.path().join("vector.mbtiles");
    let db = rusqlite::Connection::open(&vector).unwrap();
    db.execute_batch("CREATE TABLE metadata (name TEXT, value TEXT); INSERT INTO metadata VALUES ('format', 'pbf'); CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB); INSERT INTO tiles VALUES (0, 0, 0, x'00');").unwrap();
    drop(db);
    for (tiles, says) in [
        (vector.to_str().unwrap(), "only raster tiles"),
        ("https://tiles.example/{z}/{x}.png", "give a URL template"),
        ("/no/such.mbtiles", "give a URL template"),
    ] {
        let out = dir.path().join("r.svg");
        let (c, _, err) = code(
            ns(&reg)
                .args([
                    "check",
                    "--point",
                    "42.5110,1.5306",
                    "--format",
                    "svg",
                    "--tiles",
                    tiles,
                    "-o",
                ])
                .arg(&out),
        );
        assert_eq!(c, 1, "{tiles}");
        assert!(err.contains(says), "{tiles}: {err}");
        assert!(!out.exists());
    }
}

#[test]
fn html_imagery_loads_only_from_the_tile_origin_the_operator_named() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    // Embedded tiles: still nothing leaves the file.
    let (_, _, html, file) = check_as(
        &reg,
        dir.path(),
        &[
            "--point",
            "42.5110,1.5306",
            "--buffer",
            "50m",
            "--tiles",
            TILES,
        ],
        "html",
    );
    assert!(
        html.contains("img-src data:;"),
        "embedded tiles need no origin"
    );
    let mut b = Browser::start();
    b.open(&format!("file://{}", file.display()));
    assert!(
        b.eval("document.querySelectorAll('svg.map image[data-tile]').length")
            .as_i64()
            .unwrap()
            >= 4
    );
    b.screenshot(&artefact("report-imagery.png"));
    for r in b.requests() {
        assert!(
            r.starts_with("file://") || r.starts_with("data:"),
            "embedded imagery requested {r}"
        );
    }
    // A template: its origin, and only its origin, is allowed and asked.
    let file2 = dir.path().join("remote.html");
    ns(&reg)
        .args([
            "check",
            "--point",
            "42.5110,1.5306",
            "--buffer",
            "50m",
            "--format",
            "html",
            "--tiles",
            "https://tiles.example.invalid/{z}/{x}/{y}.png",
            "-o",
        ])
        .arg(&file2)
        .assert()
        .code(4);
    let html2 = std::fs::read_to_string(&file2).unwrap();
    assert!(
        html2.contains("img-src data: https://tiles.example.invalid;"),
        "CSP"
    );
    let mut b = Browser::start();
    b.open(&format!("file://{}", file2.display()));
    let reqs = b.requests();
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("https://tiles.example.invalid/16/")),
        "{reqs:?}"
    );
    for r in reqs {
        assert!(
            r.starts_with("file://")
                || r.starts_with("data:")
                || r.starts_with("https://tiles.example.invalid/"),
            "requested {r}"
        );
    }
}
