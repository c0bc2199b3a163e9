//! Checks against 1M synthetic world-wide sites: one point with a 1 km
//! buffer at a time (latency), and a batch of 10k mixed areas (throughput).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nostrike_benches::{areas, cities, sites, Rng};
use nostrike_core::{Area, Policy, SiteIndex};

fn checks(c: &mut Criterion) {
    let cities = cities();
    let index = SiteIndex::build(sites(1_000_000, 42, &cities)).expect("valid");
    let policy = Policy::zero();
    let checker = index.checker(&policy, None);

    let mut g = c.benchmark_group("check_1m_sites");
    let mut rng = Rng::new(7);
    let points: Vec<Area> = areas(10_000, 7, &cities)
        .into_iter()
        .map(|a| {
            let geo_types::Geometry::Point(p) = a.geometry else {
                return Area::point("p", rng.range(-180.0, 180.0), 0.0, 1000.0);
            };
            Area::point(a.id, p.x(), p.y(), 1_000.0)
        })
        .collect();
    let mut k = 0;
    g.bench_function("single_point_1km", |b| {
        b.iter(|| {
            k = (k + 1) % points.len();
            checker.check(&points[k]).expect("valid")
        })
    });
    let batch = areas(10_000, 11, &cities);
    let hits: usize = checker
        .check_batch(&batch)
        .iter()
        .map(|r| r.as_ref().map(|r| r.hits.len()).unwrap_or(0))
        .sum();
    eprintln!("batch of {} mixed areas: {hits} hits", batch.len());
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.sample_size(10);
    g.bench_function("batch_10k_mixed", |b| {
        b.iter(|| checker.check_batch(&batch))
    });
    g.finish();
}

criterion_group!(benches, checks);
criterion_main!(benches);
