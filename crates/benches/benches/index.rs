//! Bulk-loading the site index (1M synthetic world-wide sites).

use criterion::{criterion_group, criterion_main, Criterion};
use nostrike_benches::{cities, sites};
use nostrike_core::{Site, SiteIndex};

fn bulk_load(c: &mut Criterion) {
    let cities = cities();
    let mut g = c.benchmark_group("index_build");
    g.sample_size(10);
    for n in [100_000usize, 1_000_000] {
        let data = sites(n, 42, &cities);
        g.bench_function(format!("bulk_load_mixed_{n}"), |b| {
            b.iter_batched(
                || data.clone(),
                |s| SiteIndex::build(s).expect("valid"),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    let points: Vec<Site> = sites(1_000_000, 43, &cities)
        .into_iter()
        .filter(|s| matches!(s.geometry, geo_types::Geometry::Point(_)))
        .collect();
    g.bench_function(format!("bulk_load_points_{}", points.len()), |b| {
        b.iter_batched(
            || points.clone(),
            |s| SiteIndex::build(s).expect("valid"),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bulk_load);
criterion_main!(benches);
