//! What a check needs from a set of sites, whichever way they are held:
//! built in memory ([`crate::SiteIndex`]) or read lazily from a persisted,
//! verified byte image ([`crate::PackedIndex`]).

use std::borrow::Cow;

use geo_types::Geometry;

use crate::geodesy::Aabb;
use crate::shape::Shape;
use crate::site::{Category, Protection, Site};

/// A site set could not be read. A check that meets this fails; it never
/// answers without the sites it could not read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SetError {
    /// A part of the persisted form is missing, malformed or does not match
    /// its hash: the set is damaged (`nostrike verify`, `nostrike repack`).
    #[error("packed index is damaged: {0}")]
    Damaged(String),
    /// The storage beneath could not be read (busy, I/O): the set may be
    /// sound; try again.
    #[error("the packed index could not be read: {0}")]
    Unreadable(String),
}

/// The fields of a site that decide its required distance and whether it applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SiteParams {
    /// Category.
    pub category: Category,
    /// Protection level.
    pub protection: Protection,
    /// Explicit standoff (metres), overriding the policy.
    pub standoff_m: Option<f64>,
    /// Positional accuracy (metres).
    pub positional_accuracy_m: f64,
    /// Start of validity (seconds since the Unix epoch, UTC), inclusive.
    pub valid_from: Option<i64>,
    /// End of validity (seconds since the Unix epoch, UTC), exclusive.
    pub valid_to: Option<i64>,
}

impl SiteParams {
    /// The parameters of a full site record.
    pub fn of(s: &Site) -> SiteParams {
        SiteParams {
            category: s.category,
            protection: s.protection,
            standoff_m: s.standoff_m,
            positional_accuracy_m: s.positional_accuracy_m,
            valid_from: s.valid_from,
            valid_to: s.valid_to,
        }
    }

    /// Whether the site is valid at `t` (seconds since the Unix epoch, UTC).
    pub fn is_valid_at(&self, t: i64) -> bool {
        self.valid_from.is_none_or(|f| t >= f) && self.valid_to.is_none_or(|e| t < e)
    }
}

/// A site's geometry as the check uses it.
#[derive(Debug, Clone)]
pub enum GeomRef<'a> {
    /// A single point, degrees.
    Point {
        /// Longitude, degrees east.
        lon: f64,
        /// Latitude, degrees north.
        lat: f64,
    },
    /// Anything else, prepared (held by the set).
    Shape(&'a Shape),
    /// Anything else, prepared for this use only (the set's cache of
    /// prepared shapes is full: memory stays bounded).
    Built(std::sync::Arc<Shape>),
}

/// What a report shows of a site, borrowed where the set allows.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteLabel<'a> {
    /// Source (dataset) name.
    pub source: Cow<'a, str>,
    /// Id within the source.
    pub id: Cow<'a, str>,
    /// Name.
    pub name: Cow<'a, str>,
    /// Category.
    pub category: Category,
    /// Protection level.
    pub protection: Protection,
    /// When the site was last verified (ISO 8601 date text), if the source said.
    pub last_verified: Option<Cow<'a, str>>,
    /// The site's classification, if marked.
    pub classification: Option<Cow<'a, str>>,
    /// Who the site may be released to, comma-joined; empty: no restriction recorded.
    pub releasable_to: Cow<'a, str>,
}

impl SiteLabel<'_> {
    /// Whether the site may be released to `partner` (see [`crate::Marking::releasable_to`]).
    pub fn releasable(&self, partner: &str) -> bool {
        let p = partner.trim().to_uppercase();
        self.releasable_to.is_empty() || self.releasable_to.split(',').any(|r| r == p)
    }
}

impl SiteLabel<'_> {
    /// `source/id`, the site's key in reports.
    pub fn key(&self) -> String {
        format!("{}/{}", self.source, self.id)
    }
}

/// Bounds a checker needs to widen its candidate search far enough.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SetLimits {
    /// Largest `standoff_m + positional_accuracy_m` among sites with an explicit standoff.
    pub max_explicit_extra_m: f64,
    /// Largest positional accuracy among sites without an explicit standoff.
    pub max_default_accuracy_m: f64,
    /// Which (category, protection) pairs occur among sites without an explicit standoff.
    pub default_pairs: Vec<(Category, Protection)>,
}

impl SetLimits {
    /// Fold one site's parameters into the bounds (pairs kept unique, in first-seen order).
    pub fn add(&mut self, p: &SiteParams) {
        let acc = p.positional_accuracy_m.max(0.0);
        match p.standoff_m {
            Some(st) => self.max_explicit_extra_m = self.max_explicit_extra_m.max(st + acc),
            None => {
                self.max_default_accuracy_m = self.max_default_accuracy_m.max(acc);
                let pair = (p.category, p.protection);
                if !self.default_pairs.contains(&pair) {
                    self.default_pairs.push(pair);
                }
            }
        }
    }
}

/// A set of protected sites a [`crate::Checker`] can search.
///
/// Sites are numbered `0..len()`; hits refer to them by that number.
pub trait SiteSet: Sync {
    /// Number of sites.
    fn len(&self) -> usize;

    /// Whether the set holds no site.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bounds on standoffs and accuracies, for widening searches.
    fn limits(&self) -> &SetLimits;

    /// Call `f` with the number of every site whose Earth-centred box lies
    /// within Euclidean distance `reach` (metres) of `near` ([`Aabb::within`];
    /// no set order). A site any point of which is within geodesic distance
    /// `reach` of a point in `near` is always among them.
    fn for_each_candidate(
        &self,
        near: &Aabb,
        reach: f64,
        f: &mut dyn FnMut(usize) -> Result<(), SetError>,
    ) -> Result<(), SetError>;

    /// The site's distance-deciding fields.
    fn params(&self, i: usize) -> Result<SiteParams, SetError>;

    /// The site's geometry.
    fn geom(&self, i: usize) -> Result<GeomRef<'_>, SetError>;

    /// [`SiteSet::params`] and [`SiteSet::geom`] at once (one read where the set is persisted).
    fn candidate(&self, i: usize) -> Result<(SiteParams, GeomRef<'_>), SetError> {
        Ok((self.params(i)?, self.geom(i)?))
    }

    /// What a report shows of the site.
    fn label(&self, i: usize) -> Result<SiteLabel<'_>, SetError>;

    /// A hint before the labels of `sites` are read one by one: where the
    /// set is persisted, their records are read into the CPU cache together,
    /// so that the memory waits overlap instead of adding up. Reads nothing
    /// that could fail; by default it does nothing.
    fn warm_labels(&self, _sites: &mut dyn Iterator<Item = usize>) {}

    /// The site's geometry as lon/lat degrees (for reports that draw it).
    fn geometry(&self, i: usize) -> Result<Geometry<f64>, SetError>;
}
