//! The packed index against the in-memory index (itself held to the
//! brute-force oracle in `oracle.rs`): the same answers on many sites
//! across many chunks and tree levels, poles and the ±180° meridian
//! included; damage to any chunk is an error, never a quieter answer.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use geo_types::{Geometry, LineString, Point, Polygon};
use nostrike_core::packed::{ChunkError, ChunkSource, MemoryChunks, PackedBuilder};
use nostrike_core::SetError;
use nostrike_core::{Area, Category, Checker, PackedIndex, Policy, Site, SiteIndex, SiteSet};
use nostrike_testkit::place;
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng};

fn square(c: (f64, f64), h: f64) -> Geometry<f64> {
    let lat = c.1.clamp(-80.0, 80.0);
    let r = |lon: f64| ((lon + 180.0).rem_euclid(360.0)) - 180.0;
    Polygon::new(
        LineString::from(vec![
            (r(c.0 - h), lat - h),
            (r(c.0 + h), lat - h),
            (r(c.0 + h), lat + h),
            (r(c.0 - h), lat + h),
            (r(c.0 - h), lat - h),
        ]),
        vec![],
    )
    .into()
}

fn sites(n: usize, seed: u8) -> Vec<Site> {
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
    (0..n)
        .map(|i| {
            let c = place(&mut rng);
            let g: Geometry<f64> = if i % 10 == 0 {
                square(c, rng.random_range(0.001..0.05))
            } else if i % 10 == 1 {
                LineString::from(vec![c, (c.0 * 0.9999, c.1 * 0.9999)]).into()
            } else {
                Point::new(c.0, c.1).into()
            };
            let mut s = Site::new(
                format!("s{i}"),
                "t",
                Category::ALL[i % Category::ALL.len()],
                g,
            );
            s.name = format!("site ü {i}");
            if i % 7 == 0 {
                s.standoff_m = Some(rng.random_range(0.0..3_000.0));
            }
            if i % 11 == 0 {
                s.valid_to = Some(1_000);
            }
            s
        })
        .collect()
}

#[test]
fn packed_answers_exactly_as_the_in_memory_index() {
    let sites = sites(30_000, 3);
    let index = SiteIndex::build(sites.clone()).unwrap();
    let packed = PackedIndex::from_sites(&sites).unwrap();
    assert_eq!(packed.len(), sites.len());
    let policy = Policy::example();
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[9; 32]);
    let mut hits = 0;
    for k in 0..400 {
        let c = place(&mut rng);
        let area = if k % 4 == 0 {
            Area::geometry(format!("a{k}"), square(c, 0.02), 5_000.0)
        } else {
            Area::point(format!("a{k}"), c.0, c.1, rng.random_range(0.0..200_000.0))
        };
        for as_of in [None, Some(5_000)] {
            let a = Checker::new(&index, &policy, as_of).check(&area).unwrap();
            let b = Checker::new(&packed, &policy, as_of).check(&area).unwrap();
            assert_eq!(a, b, "area {area:?}");
            hits += a.hits.len();
        }
    }
    assert!(hits > 1_000, "the test must reach many sites: {hits} hits");
    // Warming is a hint: any numbers, even out of range, are taken without harm.
    packed.warm_labels(&mut [0, 12_345, sites.len(), usize::MAX / 2, usize::MAX].into_iter());
    for i in [0, 1, 2, 12_345, sites.len() - 1] {
        let l = packed.label(i).unwrap();
        assert_eq!(
            (l.source.as_ref(), l.id.as_ref(), l.name.as_ref()),
            (
                sites[i].source.as_str(),
                sites[i].id.as_str(),
                sites[i].name.as_str()
            )
        );
        assert_eq!(packed.geometry(i).unwrap(), sites[i].geometry);
        assert_eq!(
            packed.params(i).unwrap(),
            nostrike_core::SiteParams::of(&sites[i])
        );
    }
}

#[test]
fn a_full_shape_cache_gives_the_same_answers_in_bounded_memory() {
    let sites = sites(20_000, 5);
    let index = SiteIndex::build(sites.clone()).unwrap();
    let unbounded = PackedIndex::from_sites(&sites).unwrap();
    let mut bounded = PackedIndex::from_sites(&sites).unwrap();
    const BUDGET: usize = 16 << 10;
    bounded.set_shape_cache(BUDGET);
    let policy = Policy::example();
    let mut rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[11; 32]);
    let mut hits = 0;
    for k in 0..300 {
        let c = place(&mut rng);
        let area = Area::point(format!("a{k}"), c.0, c.1, rng.random_range(0.0..300_000.0));
        // Twice: the second time, shapes come from the cache or are built again.
        for _ in 0..2 {
            let a = Checker::new(&index, &policy, None).check(&area).unwrap();
            let b = Checker::new(&bounded, &policy, None).check(&area).unwrap();
            let u = Checker::new(&unbounded, &policy, None)
                .check(&area)
                .unwrap();
            assert_eq!(a, b, "area {area:?}");
            assert_eq!(a, u, "area {area:?}");
            hits += a.hits.len();
        }
    }
    assert!(hits > 1_000, "the test must reach many sites: {hits} hits");
    assert!(
        unbounded.shape_cache_bytes() > 4 * BUDGET,
        "the checks must meet more shapes than the budget holds: {}",
        unbounded.shape_cache_bytes()
    );
    assert!(bounded.shape_cache_bytes() <= BUDGET);
    assert!(
        bounded.shape_cache_bytes() > BUDGET / 2,
        "the cache is used up to its budget"
    );
}

struct Counting {
    inner: MemoryChunks,
    fetched: Arc<AtomicUsize>,
}

impl ChunkSource for Counting {
    fn chunk(&self, section: u8, no: u64) -> Result<Vec<u8>, ChunkError> {
        self.fetched.fetch_add(1, Ordering::Relaxed);
        self.inner.chunk(section, no)
    }
}

fn image(sites: &[Site]) -> (MemoryChunks, [u8; 32]) {
    let mut mem = MemoryChunks::default();
    let mut b = PackedBuilder::new();
    for s in sites {
        b.add(s, &nostrike_core::wkb::encode(&s.geometry), &mut mem)
            .unwrap();
    }
    let root = b.finish(7, &[1; 32], &mut mem).unwrap();
    (mem, root)
}

#[test]
fn a_single_check_reads_few_chunks() {
    let sites = sites(100_000, 4);
    let (mem, root) = image(&sites);
    let total = mem.chunks.len();
    let fetched = Arc::new(AtomicUsize::new(0));
    let list = mem.list();
    let packed = PackedIndex::open(
        Box::new(Counting {
            inner: mem,
            fetched: fetched.clone(),
        }),
        &list,
        &root,
    )
    .unwrap();
    assert_eq!(packed.revision(), 7);
    let r = Checker::new(&packed, &Policy::example(), None)
        .check(&Area::point("p", 10.0, 50.0, 1_000.0))
        .unwrap();
    let n = fetched.load(Ordering::Relaxed);
    assert!(
        n * 10 < total,
        "one point check fetched {n} of {total} chunks"
    );
    // The answer agrees with the in-memory index.
    let index = SiteIndex::build(sites).unwrap();
    let expect = index
        .checker(&Policy::example(), None)
        .check(&Area::point("p", 10.0, 50.0, 1_000.0))
        .unwrap();
    assert_eq!(r, expect);
}

#[test]
fn any_damaged_chunk_is_an_error_never_a_clear() {
    let sites = sites(20_000, 5);
    let (mem, root) = image(&sites);
    let list = mem.list();
    // A wrong root is refused at once.
    let mut wrong = root;
    wrong[0] ^= 1;
    assert!(PackedIndex::open(Box::new(mem.clone()), &list, &wrong).is_err());
    // A chunk list that leaves a chunk out is refused at once.
    assert!(PackedIndex::open(Box::new(mem.clone()), &list[1..], &root).is_err());
    // Flip one byte in each chunk in turn: every check that needs the chunk fails loudly.
    let policy = Policy::example();
    let whole = Area::geometry("world", square((0.0, 0.0), 1.0), 20_000_000.0);
    for (key, _) in mem.chunks.iter().step_by(7) {
        let mut bad = mem.clone();
        let entry = bad.chunks.get_mut(key).unwrap();
        let at = entry.0.len() / 2;
        entry.0[at] ^= 0x40;
        match PackedIndex::open(Box::new(bad), &list, &root) {
            Err(e) => assert!(matches!(e, SetError::Damaged(_)), "{e}"),
            Ok(p) => {
                // A check reaching every site must meet the chunk (or its label).
                let r = Checker::new(&p, &policy, None).check(&whole);
                let labels = (0..p.len()).try_for_each(|i| p.label(i).map(|_| ()));
                let geoms = (0..p.len()).try_for_each(|i| p.geometry(i).map(|_| ()));
                assert!(
                    r.is_err() || labels.is_err() || geoms.is_err(),
                    "damage in chunk {key:?} went unnoticed"
                );
            }
        }
    }
}

/// A source that fails every read after the first `ok` ones, as a busy or
/// failing disk would.
struct Failing {
    inner: MemoryChunks,
    ok: AtomicUsize,
}

impl ChunkSource for Failing {
    fn chunk(&self, section: u8, no: u64) -> Result<Vec<u8>, ChunkError> {
        if self
            .ok
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_err()
        {
            return Err(ChunkError::Storage("database is locked".into()));
        }
        self.inner.chunk(section, no)
    }
}

#[test]
fn busy_chunk_read_was_reported_as_damage() {
    let sites: Vec<Site> = (0..5_000)
        .map(|i| {
            let mut s = Site::new(
                format!("s{i}"),
                "t",
                Category::Museum,
                Point::new(i as f64 * 0.01, 1.0).into(),
            );
            s.name = format!("site {i}");
            s
        })
        .collect();
    let (mem, root) = image(&sites);
    let list = mem.list();
    // Opening reads the header; the first check then meets a locked database.
    let p = PackedIndex::open(
        Box::new(Failing {
            inner: mem,
            ok: AtomicUsize::new(1),
        }),
        &list,
        &root,
    )
    .unwrap();
    let e = Checker::new(&p, &Policy::example(), None)
        .check(&Area::point("p", 10.0, 1.0, 1000.0))
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("could not be read") && text.contains("database is locked"),
        "{text}"
    );
    assert!(!text.contains("damaged"), "{text}");
}

#[test]
fn an_empty_image_opens_and_holds_nothing() {
    let (mem, root) = image(&[]);
    let list = mem.list();
    let p = PackedIndex::open(Box::new(mem), &list, &root).unwrap();
    assert!(p.is_empty());
    let r = Checker::new(&p, &Policy::example(), None)
        .check(&Area::point("p", 0.0, 0.0, 1e6))
        .unwrap();
    assert!(r.hits.is_empty());
}
