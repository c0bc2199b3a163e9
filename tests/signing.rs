//! Signed revisions, through the real binary: a check states who signed
//! the state it ran on; with `--trust` it refuses (exit 1) a registry that
//! is unsigned, signed by another key, signed at another revision, or whose
//! signature record was altered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

mod support;

use serde_json::Value;
use support::{code, ns, validate};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");

fn setup(dir: &Path) -> PathBuf {
    let reg = dir.join("r.db");
    ns(&reg).arg("init").assert().success();
    ns(&reg)
        .arg("import")
        .arg(Path::new(DATA).join("andorra-2013-sites.geojson"))
        .assert()
        .success();
    for k in ["alice", "bob"] {
        ns(&reg)
            .args(["key", "new", k, "--dir"])
            .arg(dir)
            .assert()
            .success();
    }
    reg
}

/// `nostrike sign` with the key `setup` made for Alice.
fn sign_as_alice(dir: &Path, reg: &Path) {
    ns(reg)
        .args(["sign", "--signer", "Alice", "--key"])
        .arg(dir.join("alice.key"))
        .assert()
        .success();
}

fn check(reg: &Path, trust: &[&Path]) -> (i32, String, String) {
    let mut c = ns(reg);
    c.args([
        "check",
        "--point",
        "42.5110,1.5306",
        "--buffer",
        "50m",
        "--format",
        "json",
    ]);
    for t in trust {
        c.arg("--trust").arg(t);
    }
    code(&mut c)
}

#[test]
fn a_signed_registry_checks_with_trust_and_the_report_says_who_signed() {
    let dir = tempfile::tempdir().unwrap();
    let reg = setup(dir.path());
    sign_as_alice(dir.path(), &reg);
    let (c, out, err) = check(&reg, &[&dir.path().join("alice.pub")]);
    assert_eq!(c, 4, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    validate(&v);
    let s = &v["signature"];
    assert_eq!(s["signer"], "Alice");
    assert_eq!(s["valid"], true);
    assert_eq!(s["trusted"], true);
    assert_eq!(s["revision"], v["registry"]["revision"]);
    let pubtext = std::fs::read_to_string(dir.path().join("alice.pub")).unwrap();
    assert!(
        pubtext.contains(s["key_id"].as_str().unwrap()),
        "the key id names the public key"
    );
    // Without --trust the signature is stated, and nothing is refused.
    let (c, out, _) = check(&reg, &[]);
    assert_eq!(c, 4);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["signature"]["valid"], true);
    assert_eq!(v["signature"]["trusted"], Value::Null);
}

#[test]
fn trust_refuses_an_unsigned_or_otherwise_signed_registry() {
    let dir = tempfile::tempdir().unwrap();
    let reg = setup(dir.path());
    let (c, out, err) = check(&reg, &[&dir.path().join("alice.pub")]);
    assert_eq!(c, 1);
    assert!(out.is_empty(), "no report for a refused check");
    assert!(err.contains("never signed"), "{err}");
    let (_, out, _) = check(&reg, &[]);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["signature"],
        Value::Null
    );
    ns(&reg)
        .args(["sign", "--key"])
        .arg(dir.path().join("bob.key"))
        .assert()
        .success();
    let (c, _, err) = check(&reg, &[&dir.path().join("alice.pub")]);
    assert_eq!(c, 1);
    assert!(err.contains("not trusted"), "{err}");
    // Either of two trusted keys will do.
    let (c, _, err) = check(
        &reg,
        &[&dir.path().join("alice.pub"), &dir.path().join("bob.pub")],
    );
    assert_eq!(c, 4, "{err}");
}

#[test]
fn a_signature_does_not_cover_a_later_revision() {
    let dir = tempfile::tempdir().unwrap();
    let reg = setup(dir.path());
    ns(&reg)
        .args(["sign", "--key"])
        .arg(dir.path().join("alice.key"))
        .assert()
        .success();
    let f = dir.path().join("more.geojson");
    std::fs::write(&f, r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":"n1","properties":{"name":"New","category":"museum"},"geometry":{"type":"Point","coordinates":[1.0,42.0]}}]}"#).unwrap();
    ns(&reg)
        .arg("import")
        .arg(&f)
        .args(["--source", "later"])
        .assert()
        .success();
    let (c, _, err) = check(&reg, &[&dir.path().join("alice.pub")]);
    assert_eq!(c, 1);
    assert!(
        err.contains("signs revision 1, the registry is at revision 2"),
        "{err}"
    );
    let (_, out, _) = check(&reg, &[]);
    let v: Value = serde_json::from_str(&out).unwrap();
    validate(&v);
    assert_eq!(v["signature"]["valid"], false);
    // Signing again covers the new revision.
    ns(&reg)
        .args(["sign", "--key"])
        .arg(dir.path().join("alice.key"))
        .assert()
        .success();
    assert_eq!(check(&reg, &[&dir.path().join("alice.pub")]).0, 4);
}

#[test]
fn an_altered_signature_record_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let reg = setup(dir.path());
    sign_as_alice(dir.path(), &reg);
    for (i, edit) in [
        "UPDATE signatures SET signer = 'Mallory'",
        "UPDATE signatures SET content_hash = replace(content_hash, substr(content_hash, 1, 1), CASE substr(content_hash, 1, 1) WHEN 'a' THEN 'b' ELSE 'a' END)",
        "UPDATE signatures SET signed_at = signed_at + 1",
        "UPDATE signatures SET signature = '00' || substr(signature, 3)",
    ]
    .iter()
    .enumerate()
    {
        let copy = dir.path().join(format!("copy{i}.db"));
        std::fs::copy(&reg, &copy).unwrap();
        rusqlite::Connection::open(&copy).unwrap().execute_batch(edit).unwrap();
        let (c, _, err) = check(&copy, &[&dir.path().join("alice.pub")]);
        assert_eq!(c, 1, "{edit}: {err}");
        assert!(err.contains("not valid"), "{edit}: {err}");
    }
}

#[test]
fn a_new_key_never_replaces_one_and_its_secret_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("unused.db");
    ns(&reg)
        .args(["key", "new", "k", "--dir"])
        .arg(dir.path())
        .assert()
        .success();
    let before = std::fs::read(dir.path().join("k.key")).unwrap();
    let (c, _, err) = code(ns(&reg).args(["key", "new", "k", "--dir"]).arg(dir.path()));
    assert_eq!(c, 1);
    assert!(err.contains("exists already"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("k.key")).unwrap(), before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("k.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the secret key is readable by its owner only"
        );
    }
    // A public key file is not a secret key.
    let (c, _, err) = code(
        ns(&dir.path().join("r.db"))
            .args(["sign", "--key"])
            .arg(dir.path().join("k.pub")),
    );
    assert_eq!(c, 1, "{err}");
    assert!(err.contains("not a nostrike ed25519 secret key"), "{err}");
}

#[test]
fn a_policy_that_requires_a_signature_refuses_an_unsigned_registry() {
    let dir = tempfile::tempdir().unwrap();
    let reg = setup(dir.path());
    let (_, example, _) = code(ns(&reg).args(["policy", "show"]));
    let policy = dir.path().join("signed-only.toml");
    std::fs::write(&policy, format!("require_signature = true\n{example}")).unwrap();
    let run = || {
        code(
            ns(&reg)
                .args([
                    "check",
                    "--point",
                    "42.5110,1.5306",
                    "--buffer",
                    "50m",
                    "--policy",
                ])
                .arg(&policy),
        )
    };
    let (c, _, err) = run();
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("requires a signature") && err.contains("never signed"),
        "{err}"
    );
    ns(&reg)
        .args(["sign", "--key"])
        .arg(dir.path().join("bob.key"))
        .assert()
        .success();
    let (c, _, err) = run();
    assert_eq!(c, 4, "{err}");
    // The policy says so in its canonical text (and so in its hash).
    let (_, shown, _) = code(ns(&reg).args(["policy", "show"]).arg(&policy));
    assert!(shown.contains("require_signature = true"), "{shown}");
}

fn content_hash(reg: &Path) -> String {
    let (_, out, _) = code(ns(reg).args(["stats", "--format", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v["content_hash"]
        .as_str()
        .unwrap_or_else(|| v["registry"]["content_hash"].as_str().unwrap())
        .to_string()
}

fn pull(from: &Path, to: &Path, trust: &[&Path]) -> (i32, String, String) {
    let mut c = ns(from);
    c.args(["pull", "--from"]).arg(from).arg("--to").arg(to);
    for t in trust {
        c.arg("--trust").arg(t);
    }
    code(&mut c)
}

#[test]
fn pull_brings_an_offline_copy_up_to_a_trusted_signed_state_and_never_over_a_diverged_one() {
    let dir = tempfile::tempdir().unwrap();
    let reg = setup(dir.path());
    let alice = dir.path().join("alice.pub");
    let laptop = dir.path().join("laptop.db");
    // Unsigned: refused with --trust, and nothing is left behind.
    let (c, _, err) = pull(&reg, &laptop, &[&alice]);
    assert_eq!(c, 1);
    assert!(
        err.contains("never signed") && err.contains("nothing was pulled"),
        "{err}"
    );
    assert!(!laptop.exists());
    // Signed: a whole copy, same content hash, verifies, and checks with --trust offline.
    sign_as_alice(dir.path(), &reg);
    let (c, out, err) = pull(&reg, &laptop, &[&alice]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("signed by Alice"), "{out}");
    assert_eq!(content_hash(&laptop), content_hash(&reg));
    ns(&laptop).arg("verify").assert().success();
    assert_eq!(check(&laptop, &[&alice]).0, 4);
    // The source moves on and is signed again: the copy follows.
    let f = dir.path().join("more.geojson");
    std::fs::write(&f, r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":"n1","properties":{"name":"New","category":"museum"},"geometry":{"type":"Point","coordinates":[1.0,42.0]}}]}"#).unwrap();
    ns(&reg)
        .arg("import")
        .arg(&f)
        .args(["--source", "later"])
        .assert()
        .success();
    let (c, _, err) = pull(&reg, &laptop, &[&alice]);
    assert_eq!(c, 1, "the new revision is not signed yet: {err}");
    assert_ne!(
        content_hash(&laptop),
        content_hash(&reg),
        "the copy stayed as it was"
    );
    ns(&reg)
        .args(["sign", "--key"])
        .arg(dir.path().join("alice.key"))
        .assert()
        .success();
    let (c, out, err) = pull(&reg, &laptop, &[&alice]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("was revision 1"), "{out}");
    assert_eq!(content_hash(&laptop), content_hash(&reg));
    // A copy that went its own way is never overwritten.
    let g = dir.path().join("local.geojson");
    std::fs::write(&g, r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":"x1","properties":{"name":"Local","category":"museum"},"geometry":{"type":"Point","coordinates":[1.1,42.1]}}]}"#).unwrap();
    ns(&laptop)
        .arg("import")
        .arg(&g)
        .args(["--source", "local"])
        .assert()
        .success();
    ns(&reg)
        .arg("import")
        .arg(&g)
        .args(["--source", "hq"])
        .assert()
        .success();
    ns(&reg)
        .args(["sign", "--key"])
        .arg(dir.path().join("alice.key"))
        .assert()
        .success();
    let before = content_hash(&laptop);
    let (c, _, err) = pull(&reg, &laptop, &[&alice]);
    assert_eq!(c, 1);
    assert!(err.contains("not an earlier state"), "{err}");
    assert_eq!(content_hash(&laptop), before);
    // Never onto the source itself.
    let (c, _, err) = pull(&reg, &reg, &[]);
    assert_eq!(c, 1);
    assert!(err.contains("is the source registry itself"), "{err}");
}

#[test]
fn a_partner_pull_holds_only_what_the_partner_may_see_with_the_subsets_hash() {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("r.db");
    ns(&reg).arg("init").assert().success();
    let f = dir.path().join("marked.geojson");
    std::fs::write(&f, r#"{"type":"FeatureCollection","features":[
{"type":"Feature","id":"open","properties":{"name":"Open Museum","category":"museum"},"geometry":{"type":"Point","coordinates":[1.53,42.51]}},
{"type":"Feature","id":"shared","properties":{"name":"Shared Library","category":"library","classification":"NATO RESTRICTED","releasable_to":["NATO","UKR"]},"geometry":{"type":"Point","coordinates":[1.531,42.511]}},
{"type":"Feature","id":"secret","properties":{"name":"Zeta Hidden Depot","category":"cultural_refuge","classification":"NATO SECRET","releasable_to":["USA"]},"geometry":{"type":"Point","coordinates":[1.532,42.512]}}
]}"#).unwrap();
    ns(&reg)
        .arg("import")
        .arg(&f)
        .args([
            "--source",
            "ministry",
            "--licence",
            "CC-BY-4.0",
            "--attribution",
            "Ministry of Culture",
        ])
        .assert()
        .success();
    let laptop = dir.path().join("ukr.db");
    let (c, out, err) = code(
        ns(&reg)
            .args(["pull", "--releasable-to", "UKR", "--from"])
            .arg(&reg)
            .arg("--to")
            .arg(&laptop),
    );
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains("1 withheld") && out.contains("releasable subset"),
        "{out}"
    );
    // Not one byte of the withheld site in the partner's file.
    let bytes = std::fs::read(&laptop).unwrap();
    assert!(!bytes
        .windows(b"Zeta Hidden Depot".len())
        .any(|w| w == b"Zeta Hidden Depot"));
    assert!(!bytes
        .windows(b"NATO SECRET".len())
        .any(|w| w == b"NATO SECRET"));
    ns(&laptop).arg("verify").assert().success();
    // Its content hash is the subset's: the same sites imported afresh give it.
    let subset = dir.path().join("subset.geojson");
    ns(&reg)
        .args([
            "export",
            "--format",
            "geojson",
            "--releasable-to",
            "UKR",
            "-o",
        ])
        .arg(&subset)
        .assert()
        .success();
    let fresh = dir.path().join("fresh.db");
    ns(&fresh).arg("init").assert().success();
    ns(&fresh).arg("import").arg(&subset).assert().success();
    assert_eq!(content_hash(&laptop), content_hash(&fresh));
    assert_ne!(content_hash(&laptop), content_hash(&reg));
    // The source's licence and attribution travel with its sites.
    let (_, sources, _) = code(ns(&laptop).args(["sources"]));
    assert!(
        sources.contains("CC-BY-4.0") && sources.contains("Ministry of Culture"),
        "{sources}"
    );
    // The maintainer signs the partner's copy with the same key; the
    // partner checks against it offline with --trust.
    ns(&reg)
        .arg("key")
        .args(["new", "hq", "--dir"])
        .arg(dir.path())
        .assert()
        .success();
    ns(&laptop)
        .args(["sign", "--key"])
        .arg(dir.path().join("hq.key"))
        .assert()
        .success();
    let (c, out, err) = code(
        ns(&laptop)
            .args([
                "check",
                "--point",
                "42.511,1.531",
                "--buffer",
                "50m",
                "--format",
                "json",
                "--trust",
            ])
            .arg(dir.path().join("hq.pub")),
    );
    assert_eq!(c, 4, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["signature"]["valid"], true);
    // A second partner pull replaces the first; an ordinary registry is never replaced.
    let (c, _, err) = code(
        ns(&reg)
            .args(["pull", "--releasable-to", "UKR", "--from"])
            .arg(&reg)
            .arg("--to")
            .arg(&laptop),
    );
    assert_eq!(c, 0, "{err}");
    let (c, _, err) = code(
        ns(&reg)
            .args(["pull", "--releasable-to", "UKR", "--from"])
            .arg(&reg)
            .arg("--to")
            .arg(&fresh),
    );
    assert_eq!(c, 1);
    assert!(err.contains("not a partner copy"), "{err}");
}

/// The laptop's registry after `pull`, brought up by what it lacks: after ten
/// imports at the source, a pull sends exactly the versions, log entries and
/// batches those imports made (counted in the source with SQL), and the copy
/// equals the source.
#[test]
fn an_incremental_pull_sends_only_the_versions_the_copy_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let reg = setup(dir.path());
    let laptop = dir.path().join("laptop.db");
    let (c, out, err) = pull(&reg, &laptop, &[]);
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("new copy"), "{out}");
    let (before_v, before_e): (i64, i64) = rusqlite::Connection::open(&reg)
        .unwrap()
        .query_row(
            "SELECT (SELECT max(id) FROM versions), (SELECT max(seq) FROM changes)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // Ten imports: each adds three sites and moves the first one again.
    for i in 0..10 {
        let f = dir.path().join(format!("b{i}.geojson"));
        let feats: Vec<String> = (0..3)
            .map(|k| {
                let lon = if k == 0 { 1.0 + i as f64 * 0.01 } else { 1.0 + k as f64 * 0.01 };
                let id = if k == 0 { "moving".to_string() } else { format!("n{i}-{k}") };
                format!(r#"{{"type":"Feature","id":"{id}","properties":{{"name":"Site {id}","category":"museum"}},"geometry":{{"type":"Point","coordinates":[{lon},42.0]}}}}"#)
            })
            .collect();
        support::write_collection(&f, &feats);
        ns(&reg)
            .arg("import")
            .arg(&f)
            .args(["--source", "field"])
            .assert()
            .success();
    }
    let (versions, entries, batches): (i64, i64, i64) = rusqlite::Connection::open(&reg)
        .unwrap()
        .query_row(
            "SELECT (SELECT count(*) FROM versions WHERE id > ?1), (SELECT count(*) FROM changes WHERE seq > ?2), (SELECT count(*) FROM batches WHERE revision > 1)",
            [before_v, before_e],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (versions, entries, batches),
        (30, 30, 10),
        "what the ten imports made"
    );
    let (c, out, err) = pull(&reg, &laptop, &[]);
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains(&format!(
            "sent {versions} site versions, {entries} log entries, {batches} batches"
        )),
        "{out}"
    );
    assert_eq!(content_hash(&laptop), content_hash(&reg));
    ns(&laptop).arg("verify").assert().success();
    // The laptop answers as the source does.
    let strip = |o: String| {
        let mut v: Value = serde_json::from_str(&o).unwrap();
        v["checked_at"] = Value::Null;
        v["validity_time"] = Value::Null;
        v["registry"]["path"] = Value::Null;
        v
    };
    assert_eq!(strip(check(&laptop, &[]).1), strip(check(&reg, &[]).1));
    // Nothing new: nothing sent.
    let (c, out, _) = pull(&reg, &laptop, &[]);
    assert_eq!(c, 0);
    assert!(
        out.contains("sent 0 site versions, 0 log entries, 0 batches, 0 live rows, 0 index chunks"),
        "{out}"
    );
}

/// A pulled snapshot rewritten by a script that recomputes every hash the
/// file holds (tests/support/forge.py: Python's standard library and
/// docs/REGISTRY.md, no nostrike code) is internally consistent — `verify`
/// passes — but a trusting check refuses it: the signature covers the state
/// the forger changed.
#[test]
fn a_snapshot_rewritten_with_every_hash_recomputed_is_refused_by_a_trusting_check() {
    let dir = tempfile::tempdir().unwrap();
    let reg = setup(dir.path());
    sign_as_alice(dir.path(), &reg);
    let alice = dir.path().join("alice.pub");
    let laptop = dir.path().join("laptop.db");
    assert_eq!(pull(&reg, &laptop, &[&alice]).0, 0);
    let (c, before, _) = check(&laptop, &[&alice]);
    assert_eq!(c, 4, "the test point has conflicts");
    let hit = serde_json::from_str::<Value>(&before).unwrap()["areas"][0]["hits"][0]["source_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Move the nearest hit 100 km away, as a forger would.
    let o = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/support/forge.py"
        ))
        .arg(&laptop)
        .arg(&hit)
        .args(["2.5", "42.5"])
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The forgery is consistent: every site, entry and content hash agrees,
    // and a writing open rebuilds the packed index the forger dropped.
    ns(&laptop).arg("verify").assert().success();
    // Without trust the forged rows answer (no hit at that site any more)…
    let (c, forged, err) = check(&laptop, &[]);
    assert!(c == 0 || c == 4, "the forged rows answer: {err}");
    let forged: Value = serde_json::from_str(&forged).unwrap();
    let ids: Vec<&str> = forged["areas"][0]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["source_id"].as_str())
        .collect();
    assert!(
        !ids.contains(&hit.as_str()),
        "the forgery moved the site: {ids:?}"
    );
    // …with trust, the check refuses: the signed state is not this one.
    let (c, out, err) = check(&laptop, &[&alice]);
    assert_eq!(c, 1, "{out}");
    assert!(err.contains("signature") || err.contains("signed"), "{err}");
}
