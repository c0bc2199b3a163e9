//! The batch check through the core API, on the peer benchmark's files.
//!
//! `api_check REGISTRY.db AREAS.geojson [HITS.tsv]` opens the registry's
//! packed index, reads the areas (`id`, `buffer_m`; the format `gen areas`
//! writes), checks them on all cores with the zero policy (required distance
//! = buffer, as the PostGIS query asks; mimalloc, as the CLI) and prints the hit count and the
//! times of each step. With `HITS.tsv` it also writes one line per hit,
//! `area id`, `site source id`, `distance (m)`, the shape of the PostGIS
//! output, so the two can be compared.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use nostrike_core::{Area, AreaKind, Checker, Policy, SiteSet};
use nostrike_formats::geojson::read_collection;
use nostrike_formats::ReadError;
use nostrike_store::Registry;

/// The allocator the nostrike binary uses, so the two runs differ only in
/// what they do.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if !(3..=4).contains(&args.len()) {
        return Err("usage: api_check REGISTRY.db AREAS.geojson [HITS.tsv]".into());
    }
    let (registry, areas_path) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));

    let t = Instant::now();
    let mut areas = Vec::new();
    read_collection(&areas_path, &mut |f| {
        let bad = |reason: String| ReadError::Invalid {
            file: areas_path.clone(),
            reason: format!("feature {}: {reason}", f.index),
        };
        let id = f
            .properties
            .get("id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("no string `id`".into()))?
            .to_string();
        let buffer_m = f
            .properties
            .get("buffer_m")
            .and_then(|v| v.as_f64())
            .ok_or_else(|| bad("no numeric `buffer_m`".into()))?;
        let geometry = f.geometry.clone().map_err(bad)?;
        areas.push(Area {
            id,
            kind: AreaKind::Other,
            geometry,
            buffer_m,
            location_error_m: 0.0,
        });
        Ok(())
    })?;
    let read = t.elapsed();

    let t = Instant::now();
    let packed = Registry::open_read_only(&registry)?
        .load_packed()?
        .map_err(|_| "the registry has no packed index")?;
    let open = t.elapsed();

    let policy = Policy::zero();
    let t = Instant::now();
    let results = Checker::new(&packed.index, &policy, None)
        .check_batch(&areas)
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let checked = t.elapsed();
    let hits: usize = results.iter().map(|r| r.hits.len()).sum();
    println!(
        "{} areas read {:.3} s; registry opened {:.3} s; checked {:.3} s ({:.0} checks/s); {hits} hits",
        areas.len(),
        read.as_secs_f64(),
        open.as_secs_f64(),
        checked.as_secs_f64(),
        areas.len() as f64 / checked.as_secs_f64()
    );
    if let Some(out) = args.get(3) {
        let mut w = BufWriter::new(std::fs::File::create(out)?);
        for r in &results {
            for h in &r.hits {
                let site = packed.index.label(h.site)?;
                writeln!(w, "{}\t{}\t{}", r.area_id, site.id, h.distance_m)?;
            }
        }
        w.flush()?;
    }
    Ok(())
}
