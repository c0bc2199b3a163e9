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
#![deny(missing_docs)]

mod area;
mod check;
pub mod geodesy;
mod index;
pub mod packed;
mod policy;
mod shape;
mod site;
mod sites;
pub mod time;
pub mod wkb;

pub use area::{Area, AreaKind};
pub use check::{run_verdict, sites_within, AreaError, AreaResult, Checker, Hit, Verdict};
pub use index::{IndexError, IndexStats, SiteIndex};
pub use packed::PackedIndex;
pub use policy::{Policy, PolicyError, EXAMPLE_POLICY_TOML};
pub use shape::{
    distance_to_vertex_within, distance_within, GeometryError, Nearest, Shape, MAX_POLYGON_ACROSS_M,
};
pub use site::{Category, Class, Protection, Site, UnknownName};
pub use sites::{GeomRef, SetError, SetLimits, SiteLabel, SiteParams, SiteSet};
