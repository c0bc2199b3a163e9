//! # nostrike-core
//!
//! The domain of nostrike — protected [`Site`]s, the standoff [`Policy`],
//! planned [`Area`]s — and the check that answers which sites lie within
//! the required distance of an area, how far, and with what [`Verdict`].
//!
//! Distances are exact geodesics on the WGS84 ellipsoid (edges of lines and
//! polygons are geodesics); the candidate search runs over an R-tree of
//! Earth-centred boxes whose bound is conservative everywhere on Earth,
//! poles and the ±180° meridian included (see [`SiteIndex`]).
//!
//! No files, SQL or JSON here: those live in the store, formats and CLI crates.
//!
//! # A check in code
//!
//! ```
//! use geo_types::Point;
//! use nostrike_core::{Area, Category, Policy, Site, SiteIndex, Verdict};
//!
//! let mut museum = Site::new("m1", "demo", Category::Museum, Point::new(2.3376, 48.8606).into());
//! museum.name = "Louvre".into();
//! let index = SiteIndex::build(vec![museum]).unwrap();
//! let policy = Policy::example();
//! // A 100 m strike area about 200 m east of the site.
//! let area = Area::point("t1", 2.3403, 48.8606, 100.0);
//! let result = index.checker(&policy, None).check(&area).unwrap();
//! assert_eq!(result.verdict, Verdict::Conflict);
//! let hit = &result.hits[0];
//! assert!((hit.distance_m - 198.0).abs() < 3.0 && hit.distance_m < hit.required_m);
//! ```
//!
//! # The public surface
//! - the domain: [`Site`], [`Category`], [`Protection`], [`Policy`] (from
//!   TOML or [`Policy::builder`]), [`Area`];
//! - the check: [`Checker`] over any [`SiteSet`] — the in-memory
//!   [`SiteIndex`] or the persisted, verified [`PackedIndex`] — giving
//!   [`AreaResult`]s of [`Hit`]s and a [`Verdict`]; [`sites_within`] for a
//!   plain listing;
//! - exact distances: [`Shape`], [`distance_within`];
//! - namespaces for the layers above: [`packed`] (the persisted image and its
//!   chunk I/O), [`wkb`] (the geometry bytes that site hashes cover),
//!   [`time`] (UTC parsing and formatting), [`geodesy`] (the geodesic
//!   primitives, public for oracles and benchmarks).
//!
//! # Features
//! - `parallel` (default): batches of areas and index builds on all cores
//!   with rayon; without it the same code runs sequentially.
#![deny(missing_docs)]

mod area;
mod check;
mod coverage;
pub mod geodesy;
mod index;
pub mod packed;
mod par;
mod policy;
mod route;
mod shape;
mod site;
mod sites;
pub mod time;
pub mod wkb;

pub use area::{Area, AreaKind};
pub use check::{
    run_verdict, sites_within, AreaError, AreaResult, Checker, Hit, Staleness, Verdict,
};
pub use coverage::{AreaCoverage, Coverage, CoverageError};
pub use index::{IndexError, IndexStats, SiteIndex};
pub use packed::{PackedIndex, SHAPE_CACHE_BYTES};
pub use policy::{Policy, PolicyBuilder, PolicyError, Profile, EXAMPLE_POLICY_TOML};
pub use route::{route_reach, Route, RouteReach};
pub use shape::{
    distance_to_vertex_within, distance_within, GeometryError, Nearest, Shape, MAX_POLYGON_ACROSS_M,
};
pub use site::{Category, Class, Marking, Protection, Site, UnknownName};
pub use sites::{GeomRef, SetError, SetLimits, SiteLabel, SiteParams, SiteSet};

/// Tests' source of uniform numbers in [0, 1): xorshift64 from `seed`, so
/// that each randomised test replays the same cases on every run.
#[cfg(test)]
pub(crate) fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}
