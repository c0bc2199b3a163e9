//! Measures the heap the site index adds on top of the sites themselves,
//! with a counting global allocator: `cargo run --release -p nostrike-benches --bin index_memory`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use nostrike_benches::{cities, sites};
use nostrike_core::SiteIndex;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// Every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let n = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(n, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let cities = cities();
    for (label, only_points) in [("point sites", true), ("mixed sites (80 % points)", false)] {
        let data: Vec<_> = sites(1_000_000, 42, &cities)
            .into_iter()
            .filter(|s| !only_points || matches!(s.geometry, geo_types::Geometry::Point(_)))
            .collect();
        let n = data.len();
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let index = SiteIndex::build(data).expect("valid");
        let after = LIVE.load(Ordering::Relaxed);
        let peak = PEAK.load(Ordering::Relaxed);
        println!(
            "{label}: {n} sites, index adds {:.1} MB = {:.1} bytes/site (build peak +{:.1} MB)",
            (after - before) as f64 / 1e6,
            (after - before) as f64 / n as f64,
            (peak - before) as f64 / 1e6
        );
        drop(index);
    }
}
