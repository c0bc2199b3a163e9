//! `nostrike serve`, through the real binary and a real browser: the API's
//! report is the command line's, the registry file is never touched, an
//! import while serving shows at the next request and never as a mix,
//! remote binding needs a token, bad input is refused loudly, and the page
//! in headless Chromium checks like the CLI and shows hostile names as text.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

mod support;

use serde_json::Value;
use support::browser::{artefact, Browser};
use support::{code, ns};

/// A running `nostrike serve`, killed when dropped.
struct Served {
    child: Child,
    port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(reg: &Path, extra: &[&str]) -> Served {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("nostrike"))
        .arg("--registry")
        .arg(reg)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .env_remove("NOSTRIKE_REGISTRY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .rsplit_once("http://127.0.0.1:")
        .and_then(|(_, p)| p.trim().trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("serve did not say where it listens: {line:?}"));
    Served { child, port }
}

/// One HTTP/1.0 exchange: status, headers (names lower-cased), body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    if let Some(b) = body {
        let _ = s.write_all(b);
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let hs = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    (status, hs, raw[split + 4..].to_vec())
}

fn get_json(port: u16, path: &str) -> (u16, Value) {
    let (st, _, b) = http(port, "GET", path, &[], None);
    (
        st,
        serde_json::from_slice(&b)
            .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&b))),
    )
}

fn hdr<'a>(hs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    hs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

fn andorra(dir: &Path) -> PathBuf {
    support::andorra_registry(dir)
}

/// A report with its times blanked (they are the only thing two runs may differ in).
fn untimed(mut v: Value) -> Value {
    v["checked_at"] = Value::Null;
    v["validity_time"] = Value::Null;
    v
}

fn cli_json(reg: &Path, args: &[&str]) -> Value {
    let (_, out, err) = code(ns(reg).arg("check").args(args).args(["--format", "json"]));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"))
}

fn q(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn served_check_is_the_clis_report() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    // A second register's record of one church, linked: the served check
    // must report the group as the CLI does (it caches the groups).
    let m = dir.path().join("ministry.geojson");
    std::fs::write(&m, r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"church-7","category":"religious_site","name":"Església de Sant Andreu","standoff_m":900},"geometry":{"type":"Point","coordinates":[1.53088,42.5104]}}]}"#).unwrap();
    ns(&reg)
        .arg("import")
        .arg(&m)
        .args(["--source", "ministry"])
        .assert()
        .success();
    ns(&reg)
        .args([
            "link",
            "ministry/church-7",
            "andorra-2013-sites/osm:way/191582654",
            "--by",
            "tester",
        ])
        .assert()
        .success();
    let s = serve(&reg, &[]);
    for (query, cli) in [
        (
            format!("point={}&buffer=50m", q("42.5110,1.5306")),
            vec!["--point", "42.5110,1.5306", "--buffer", "50m"],
        ),
        (
            format!("point={}&buffer={}", q("31TCH79280756"), q("50 m")),
            vec!["--point", "31TCH79280756", "--buffer", "50 m"],
        ),
        (
            format!("point={}&buffer=50m", q("42°30'37\"N 1°31'30\"E")),
            vec!["--point", "42°30'37\"N 1°31'30\"E", "--buffer", "50m"],
        ),
        (
            format!(
                "route={}&corridor=100m&location_error=20m",
                q("42.5063,1.5218; 42.5100,1.5400")
            ),
            vec![
                "--route",
                "42.5063,1.5218; 42.5100,1.5400",
                "--corridor",
                "100m",
                "--location-error",
                "20m",
            ],
        ),
        (
            format!("point={}&profile=small", q("42.5110,1.5306")),
            vec!["--point", "42.5110,1.5306", "--profile", "small"],
        ),
        (
            format!("point={}&buffer=100m", q("-33.8568,151.2153")),
            vec!["--point", "-33.8568,151.2153", "--buffer", "100m"],
        ),
    ] {
        let (st, hs, body) = http(s.port, "GET", &format!("/api/check?{query}"), &[], None);
        assert_eq!(st, 200, "{query}: {}", String::from_utf8_lossy(&body));
        let served: Value = serde_json::from_slice(&body).unwrap();
        let want = cli_json(&reg, &cli);
        assert_eq!(
            hdr(&hs, "x-nostrike-verdict"),
            want["verdict"].as_str(),
            "{query}"
        );
        assert_eq!(untimed(served), untimed(want), "{query}");
    }
    // Every other format is the CLI's too (times aside).
    for (fmt, ct) in [
        ("geojson", "application/geo+json"),
        ("csv", "text/csv"),
        ("kml", "application/vnd.google-earth.kml+xml"),
        ("svg", "image/svg+xml"),
        ("html", "text/html"),
    ] {
        let (st, hs, body) = http(
            s.port,
            "GET",
            &format!(
                "/api/check?point={}&buffer=50m&format={fmt}",
                q("42.5110,1.5306")
            ),
            &[],
            None,
        );
        assert_eq!(st, 200);
        assert!(hdr(&hs, "content-type").unwrap().starts_with(ct));
        let (_, out, _) = code(ns(&reg).args([
            "check",
            "--point",
            "42.5110,1.5306",
            "--buffer",
            "50m",
            "--format",
            fmt,
        ]));
        let strip = support::mask_times;
        assert_eq!(
            strip(&String::from_utf8(body).unwrap()),
            strip(&out),
            "{fmt}"
        );
    }
    // A site by SOURCE/ID, or by an id unique across sources (ids hold '/' too).
    for path in [
        format!("/api/sites/{}", q("andorra-2013-sites/osm:way/191582654")),
        format!("/api/sites/{}", q("osm:way/191582654")),
    ] {
        let (st, v) = get_json(s.port, &path);
        assert_eq!(st, 200, "{path}: {v}");
        assert_eq!(
            v["site"]["key"], "andorra-2013-sites/osm:way/191582654",
            "{path}"
        );
        assert_eq!(v["links"][0], "ministry/church-7", "{path}");
        assert!(!v["history"].as_array().unwrap().is_empty());
    }
    // POSTed GeoJSON areas are the CLI's --areas.
    let areas = r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":"t1","properties":{"buffer_m":60},"geometry":{"type":"Point","coordinates":[1.5306,42.511]}},{"type":"Feature","id":"t2","properties":{"buffer_m":10},"geometry":{"type":"Polygon","coordinates":[[[1.52,42.50],[1.53,42.50],[1.53,42.51],[1.52,42.51],[1.52,42.50]]]}}]}"#;
    let f = dir.path().join("areas.geojson");
    std::fs::write(&f, areas).unwrap();
    let (st, _, body) = http(
        s.port,
        "POST",
        "/api/check",
        &[("Content-Type", "application/geo+json")],
        Some(areas.as_bytes()),
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let served: Value = serde_json::from_slice(&body).unwrap();
    let want = cli_json(&reg, &["--areas", f.to_str().unwrap()]);
    let mut w = untimed(want);
    let mut sv = untimed(served);
    // The areas' file name differs (the posted body has none of its own).
    for v in [&mut w, &mut sv] {
        for a in v["areas"].as_array_mut().unwrap() {
            a["input"] = Value::Null;
            a["read_as"] = Value::Null;
        }
    }
    assert_eq!(sv, w);
}

#[test]
fn serve_never_changes_the_registry_file() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    let before = (
        std::fs::read(&reg).unwrap(),
        std::fs::metadata(&reg).unwrap().modified().unwrap(),
    );
    let s = serve(&reg, &[]);
    for path in [
        "/".to_string(),
        "/assets/app.js".into(),
        "/api/stats".into(),
        "/api/config".into(),
        "/api/sites?bbox=-180,-90,180,90".into(),
        "/api/sites?bbox=1.5,42.5,1.55,42.52".into(),
        "/api/search?q=esgl".into(),
        format!("/api/sites/{}", q("andorra-2013-sites/osm:way/191582654")),
        format!("/api/check?point={}&buffer=50m", q("42.5110,1.5306")),
        format!(
            "/api/check?point={}&buffer=50m&format=html",
            q("42.5110,1.5306")
        ),
        "/api/check?point=nonsense".into(),
        "/api/sites/none%2Fsuch".into(),
    ] {
        let _ = http(s.port, "GET", &path, &[], None);
    }
    drop(s);
    let after = (
        std::fs::read(&reg).unwrap(),
        std::fs::metadata(&reg).unwrap().modified().unwrap(),
    );
    assert!(
        before.0 == after.0,
        "the registry's bytes changed while serving"
    );
    assert_eq!(
        before.1, after.1,
        "the registry's mtime changed while serving"
    );
}

#[test]
fn an_import_while_serving_shows_at_the_next_request_never_mixed() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    let s = serve(&reg, &[]);
    let (_, st) = get_json(s.port, "/api/stats");
    let rev0 = st["registry"]["revision"].as_i64().unwrap();
    let point = q("42.0,1.0");
    // Checks run all the time while three imports land, each adding a site at the aim point.
    let port = s.port;
    let reg2 = reg.clone();
    let checker = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..150 {
            let (st, hs, body) = http(
                port,
                "GET",
                &format!("/api/check?point={point}&buffer=10m"),
                &[],
                None,
            );
            assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
            let v: Value = serde_json::from_slice(&body).unwrap();
            let rev = v["registry"]["revision"].as_i64().unwrap();
            assert_eq!(hdr(&hs, "x-nostrike-revision").unwrap(), rev.to_string());
            let hits = v["areas"][0]["hits"].as_array().unwrap().len() as i64;
            seen.push((
                rev,
                hits,
                v["registry"]["content_hash"].as_str().unwrap().to_string(),
            ));
        }
        let _ = reg2;
        seen
    });
    for k in 0..3 {
        let f = dir.path().join(format!("new{k}.geojson"));
        std::fs::write(&f, format!(r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","id":"new{k}","properties":{{"name":"New {k}","category":"museum"}},"geometry":{{"type":"Point","coordinates":[1.0,42.0]}}}}]}}"#)).unwrap();
        ns(&reg)
            .arg("import")
            .arg(&f)
            .args(["--source", "late"])
            .assert()
            .success();
    }
    let seen = checker.join().unwrap();
    // Every answer is one whole revision: the hits are that revision's sites.
    let mut hash_of = std::collections::BTreeMap::new();
    for (rev, hits, hash) in &seen {
        assert_eq!(
            *hits,
            rev - rev0,
            "revision {rev} answered with {hits} hits"
        );
        assert_eq!(
            hash_of.entry(*rev).or_insert(hash.clone()),
            hash,
            "two content hashes for revision {rev}"
        );
    }
    // The next request after the imports sees the last one.
    let (_, v) = get_json(
        s.port,
        &format!("/api/check?point={}&buffer=10m", q("42.0,1.0")),
    );
    assert_eq!(v["registry"]["revision"].as_i64().unwrap(), rev0 + 3);
    assert_eq!(v["areas"][0]["hits"].as_array().unwrap().len(), 3);
}

#[test]
fn serve_refuses_a_network_bind_without_allow_remote_and_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    let (c, _, err) = code(ns(&reg).args(["serve", "--bind", "0.0.0.0:0"]));
    assert_eq!(c, 1);
    assert!(err.contains("not a loopback address"), "{err}");
    let (c, _, err) = code(ns(&reg).args(["serve", "--bind", "0.0.0.0:0", "--allow-remote"]));
    assert_eq!(c, 1);
    assert!(err.contains("needs --token-file"), "{err}");
    let tf = dir.path().join("token");
    std::fs::write(&tf, "short\n").unwrap();
    let (c, _, err) = code(
        ns(&reg)
            .args([
                "serve",
                "--bind",
                "0.0.0.0:0",
                "--allow-remote",
                "--token-file",
            ])
            .arg(&tf),
    );
    assert_eq!(c, 1);
    assert!(err.contains("at least 16"), "{err}");
    // With a token, every request must carry it.
    let token = "k3Jd9s0aPq7Zx2Lm5Vb8";
    std::fs::write(&tf, format!("{token}\n")).unwrap();
    let s = serve(&reg, &["--token-file", tf.to_str().unwrap()]);
    let (st, _, _) = http(s.port, "GET", "/api/stats", &[], None);
    assert_eq!(st, 401);
    let (st, _, _) = http(
        s.port,
        "GET",
        "/api/stats",
        &[("Authorization", "Bearer wrong-token-of-length")],
        None,
    );
    assert_eq!(st, 401);
    let (st, _, _) = http(
        s.port,
        "GET",
        "/api/stats",
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    );
    assert_eq!(st, 200);
    let (st, hs, _) = http(s.port, "GET", &format!("/?token={token}"), &[], None);
    assert_eq!(st, 200);
    assert!(hdr(&hs, "set-cookie").unwrap().contains("HttpOnly"));
    let (st, _, _) = http(
        s.port,
        "GET",
        "/api/stats",
        &[("Cookie", &format!("nostrike_token={token}"))],
        None,
    );
    assert_eq!(st, 200);
}

#[test]
fn serve_refuses_bad_requests_loudly_never_with_a_clear() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    let s = serve(&reg, &["--max-body-mib", "1"]);
    for (path, want) in [
        ("/api/check?point=91,0".to_string(), 400),
        ("/api/check?point=nonsense".into(), 400),
        ("/api/check?buffer=10m".into(), 400),
        ("/api/check?point=1,1&buffer=-5".into(), 400),
        ("/api/check?point=1,1&colour=red".into(), 400),
        ("/api/check?point=1,1&format=pdf".into(), 400),
        ("/api/check?point=1,1&profile=nonesuch".into(), 400),
        ("/api/check?point=%zz".into(), 400),
        ("/api/sites".into(), 400),
        ("/api/sites?bbox=1,2,3".into(), 400),
        ("/api/sites/none%2Fsuch".into(), 404),
        ("/api/search?q=a".into(), 400),
        ("/nowhere".into(), 404),
        (format!("/api/check?point={}", "1".repeat(70_000)), 414),
    ] {
        let (st, hs, body) = http(s.port, "GET", &path, &[], None);
        assert_eq!(st, want, "{path}: {}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {v}"
        );
        assert!(
            hdr(&hs, "x-nostrike-verdict").is_none(),
            "{path}: an error carries no verdict"
        );
    }
    let big = vec![b' '; 2 << 20];
    let (st, _, _) = http(s.port, "POST", "/api/check", &[], Some(&big));
    assert_eq!(st, 413);
    let (st, _, _) = http(s.port, "POST", "/api/check", &[], Some(b"{not json"));
    assert_eq!(st, 400);
    let (st, _, _) = http(s.port, "DELETE", "/api/stats", &[], None);
    assert_eq!(st, 405);
    // Another site's name in the Host header (DNS rebinding) is refused.
    let mut t = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    t.write_all(b"GET /api/stats HTTP/1.0\r\nHost: evil.example:80\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    let _ = t.read_to_string(&mut raw);
    assert!(
        raw.starts_with("HTTP/1.1 421") || raw.starts_with("HTTP/1.0 421"),
        "{raw}"
    );
    // Every answer carries a CSP that names no other origin.
    let (_, hs, _) = http(s.port, "GET", "/", &[], None);
    let csp = hdr(&hs, "content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("http"),
        "{csp}"
    );
}

#[test]
fn served_app_checks_like_the_cli_in_chromium_and_shows_hostile_names_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    let hostile = r#"<img src=x onerror="window.__xss=1">"#;
    let f = dir.path().join("hostile.geojson");
    std::fs::write(&f, format!(r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","id":"x1","properties":{{"name":{},"category":"museum"}},"geometry":{{"type":"Point","coordinates":[1.5307,42.5111]}}}}]}}"#, serde_json::to_string(hostile).unwrap())).unwrap();
    ns(&reg)
        .arg("import")
        .arg(&f)
        .args(["--source", "hostile"])
        .assert()
        .success();
    let s = serve(&reg, &[]);
    let base = format!("http://127.0.0.1:{}", s.port);
    let mut b = Browser::start();
    b.open(&format!("{base}/"));
    assert_eq!(
        b.eval("document.body.getAttribute('data-view')"),
        Value::from("sites")
    );
    // The source's declared coverage is on the map.
    b.wait_for("document.body.getAttribute('data-coverage') === '1'");
    assert!(
        b.eval("+document.body.getAttribute('data-drawn')")
            .as_i64()
            .unwrap()
            >= 67
    );
    // The check form, filled and submitted as a person would.
    b.eval("document.getElementById('coords').value = '42.5110,1.5306'; document.getElementById('buffer').value = '50 m'; document.getElementById('run').click(); true");
    b.wait_for("document.body.getAttribute('data-checks') === '1'");
    let want = cli_json(&reg, &["--point", "42.5110,1.5306", "--buffer", "50 m"]);
    assert_eq!(
        b.eval("document.getElementById('verdict').getAttribute('data-verdict')"),
        want["verdict"]
    );
    let rows = b.eval(
        "[...document.querySelectorAll('#result tr.hit')].map(r => r.getAttribute('data-key'))",
    );
    let cli_keys: Vec<Value> = want["areas"][0]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["site_id"].clone())
        .collect();
    assert_eq!(rows, Value::Array(cli_keys.clone()));
    assert!(cli_keys.contains(&Value::from("hostile/x1")));
    assert_eq!(
        b.eval("+document.body.getAttribute('data-hit-markers')"),
        Value::from(cli_keys.len())
    );
    // The hostile name: as text in the table, in search results and in the record.
    let cell = b.eval("[...document.querySelectorAll('#result tr.hit td')].map(t => t.textContent).find(t => t.includes('hostile/x1'))");
    assert!(cell.as_str().unwrap().starts_with(hostile), "{cell}");
    b.eval("document.getElementById('search').value = 'onerror'; document.querySelector('#search-form button').click(); true");
    b.wait_for("document.body.getAttribute('data-found') === '1'");
    assert_eq!(b.eval("document.querySelector('#found li').textContent.startsWith(document.querySelector('#found li').getAttribute('data-key')) || document.querySelector('#found li').textContent.includes('<img')"), Value::Bool(true));
    b.eval("document.querySelector('#found li').click(); true");
    b.wait_for("document.getElementById('record').getAttribute('data-key') === 'hostile/x1'");
    assert!(b
        .eval("document.getElementById('record').textContent")
        .as_str()
        .unwrap()
        .contains(hostile));
    assert_eq!(b.eval("typeof window.__xss"), Value::from("undefined"));
    assert_eq!(
        b.eval("document.querySelectorAll('img[src=x]').length"),
        Value::from(0)
    );
    b.screenshot(&artefact("serve.png"));
    // A site page's address opens its record.
    b.open(&format!(
        "{base}/#site={}",
        q("andorra-2013-sites/osm:way/191582654")
    ));
    b.wait_for("document.getElementById('record').getAttribute('data-key') === 'andorra-2013-sites/osm:way/191582654'");
    assert!(b
        .eval("document.getElementById('record').textContent")
        .as_str()
        .unwrap()
        .contains("History"));
    assert_eq!(b.console_errors(), Vec::<String>::new());
    for r in b.requests() {
        assert!(
            r.starts_with(&base) || r.starts_with("data:"),
            "the page requested {r}"
        );
    }
}

#[test]
fn serve_serves_tiles_from_a_local_mbtiles_file() {
    let tiles = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/tiles/andorra-test.mbtiles"
    );
    let dir = tempfile::tempdir().unwrap();
    let reg = andorra(dir.path());
    let s = serve(&reg, &["--tiles", tiles]);
    let (_, cfg) = get_json(s.port, "/api/config");
    assert_eq!(cfg["tiles"], "/tiles/{z}/{x}/{y}");
    // Tile 15/16523/12100 (x, y from the north) is row 2^15-1-12100 in the file.
    let c =
        rusqlite::Connection::open_with_flags(tiles, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let want: Vec<u8> = c
        .query_row("SELECT tile_data FROM tiles WHERE zoom_level = 15 AND tile_column = 16523 AND tile_row = ?1", [(1 << 15) - 1 - 12100], |r| r.get(0))
        .unwrap();
    let (st, hs, body) = http(s.port, "GET", "/tiles/15/16523/12100.png", &[], None);
    assert_eq!(st, 200);
    assert_eq!(hdr(&hs, "content-type"), Some("image/png"));
    assert_eq!(body, want);
    assert_eq!(http(s.port, "GET", "/tiles/15/0/0", &[], None).0, 404);
    assert_eq!(http(s.port, "GET", "/tiles/a/b/c", &[], None).0, 400);
    assert_eq!(http(s.port, "GET", "/tiles/99/0/0", &[], None).0, 404);
    // A served map report embeds the same tiles.
    let (st, _, svg) = http(
        s.port,
        "GET",
        &format!(
            "/api/check?point={}&buffer=50m&format=svg",
            q("42.5110,1.5306")
        ),
        &[],
        None,
    );
    assert_eq!(st, 200);
    assert!(String::from_utf8(svg).unwrap().contains("data-tile=\"15/"));
}
