//! Loading a registry for checks, both ways, on one registry file.
//!
//! `registry_load REGISTRY.db` prints, for a fresh open of the registry:
//! - the packed index: open (root, header) and one point check; then every
//!   chunk fetched and verified (what a batch over the whole world reads);
//! - the rows: every live row read, decoded, verified against its hash and
//!   built into the in-memory R-tree (the path for registries without a
//!   packed index and for `--as-of`).

use std::path::PathBuf;
use std::time::Instant;

use nostrike_core::{Area, Checker, Policy, SiteSet};
use nostrike_store::Registry;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: registry_load REGISTRY.db")?,
    );
    let policy = Policy::example();
    let area = Area::point("p", 2.3522, 48.8566, 1_000.0);

    let t = Instant::now();
    let packed = Registry::open_read_only(&path)?
        .load_packed()?
        .map_err(|_| "the registry has no packed index")?;
    let open = t.elapsed();
    let r = Checker::new(&packed.index, &policy, None).check(&area)?;
    let first = t.elapsed();
    let bytes = packed.index.load_all()?;
    let all = t.elapsed();
    println!(
        "packed: {} sites; open {:.1} ms; + one point check ({} hits) {:.1} ms; + every chunk fetched and verified ({:.0} MB) {:.3} s",
        packed.index.len(),
        open.as_secs_f64() * 1e3,
        r.hits.len(),
        first.as_secs_f64() * 1e3,
        bytes as f64 / 1e6,
        all.as_secs_f64()
    );
    drop(packed);

    let t = Instant::now();
    let loaded = Registry::open_read_only(&path)?.load_index()?;
    let rows = t.elapsed();
    println!(
        "rows: {} sites read, decoded, verified and indexed in {:.3} s",
        loaded.index.len(),
        rows.as_secs_f64()
    );
    Ok(())
}
