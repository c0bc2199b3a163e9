//! What the end-to-end tests share: running the real binary against a registry.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use assert_cmd::Command;

/// `nostrike --registry REG`, with no registry from the environment and a fixed operator.
pub fn ns(reg: &Path) -> Command {
    let mut c = Command::cargo_bin("nostrike").unwrap();
    c.arg("--registry")
        .arg(reg)
        .env_remove("NOSTRIKE_REGISTRY")
        .env("USER", "tester");
    c
}

/// Run a command: its exit code, standard output and standard error.
pub fn code(c: &mut Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

/// An independent oracle's command (GDAL's `ogr2ogr`/`ogrinfo`,
/// GeographicLib's `GeodSolve`, libxml2's `xmllint`), or a panic that says
/// how to get it: `.ci/run` installs them.
pub fn oracle_tool(name: &str) -> std::process::Command {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "this test compares with {name}, which is not on PATH: install it with `apt-get install {}` (.ci/run does)",
        match name {
            "GeodSolve" | "GeoConvert" => "geographiclib-tools",
            "xmllint" => "libxml2-utils",
            _ => "gdal-bin",
        }
    );
    std::process::Command::new(name)
}

/// GeographicLib's `GeodSolve -i`: (azimuth at the first point, distance) for each pair.
pub fn geodsolve(pairs: &[[f64; 4]]) -> Vec<(f64, f64)> {
    use std::io::Write;
    let mut child = oracle_tool("GeodSolve")
        .args(["-i", "-p", "9"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for [lat1, lon1, lat2, lon2] in pairs {
        input.push_str(&format!("{lat1:.12} {lon1:.12} {lat2:.12} {lon2:.12}\n"));
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<f64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            (f[0], f[2])
        })
        .collect()
}

const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/report.schema.json");

/// Assert that a JSON report matches `docs/report.schema.json`.
pub fn validate(report: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(SCHEMA).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v
        .iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match docs/report.schema.json: {errors:?}"
    );
}

/// `text` with every UTC time (`2026-01-01T00:00:00Z`) replaced by `TIME`.
pub fn mask_times(text: &str) -> String {
    let b = text.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:ddZ";
    let fits = |at: usize| {
        b.len() >= at + shape.len()
            && shape.iter().zip(&b[at..]).all(|(s, c)| match s {
                b'd' => c.is_ascii_digit(),
                s => s == c,
            })
    };
    let (mut out, mut i) = (String::with_capacity(text.len()), 0);
    while i < b.len() {
        if fits(i) {
            out.push_str("TIME");
            i += shape.len();
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}
/// A GeoJSON FeatureCollection of `features`, each a Feature's JSON text.
pub fn collection(features: &[String]) -> String {
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    )
}

/// Write the FeatureCollection of `features` to `path`; the path.
pub fn write_collection(path: &Path, features: &[String]) -> std::path::PathBuf {
    std::fs::write(path, collection(features)).unwrap();
    path.to_path_buf()
}

/// A registry at `dir/r.db` holding the shipped Andorra extract with its declared coverage.
pub fn andorra_registry(dir: &Path) -> std::path::PathBuf {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let reg = dir.join("r.db");
    ns(&reg).arg("init").assert().success();
    ns(&reg)
        .arg("import")
        .arg(data.join("andorra-2013-sites.geojson"))
        .arg("--coverage")
        .arg(data.join("andorra-2013-coverage.geojson"))
        .assert()
        .success();
    reg
}

pub mod browser;
pub mod pg;
