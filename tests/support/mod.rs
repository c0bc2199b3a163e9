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

/// An independent oracle's command (GDAL's `ogr2ogr`/`ogrinfo`), or a
/// panic that says how to get it: CI installs it; on a fresh machine run
/// `apt-get install gdal-bin`.
pub fn oracle_tool(name: &str) -> std::process::Command {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "this test compares with GDAL's {name}, which is not on PATH: install it with `apt-get install gdal-bin` (.ci/run does)"
    );
    std::process::Command::new(name)
}
