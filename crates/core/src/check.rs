//! The check: which sites lie within the required distance of an area.

use geo_types::Coord;

use crate::par::*;

use crate::area::Area;
use crate::coverage::{AreaCoverage, Coverage};
use crate::geodesy::{self, Vertex};
use crate::index::SiteIndex;
use crate::policy::Policy;
use crate::shape::{distance_to_vertex_within, distance_within, GeometryError, Nearest, Shape};
use crate::sites::{GeomRef, SetError, SiteSet};

/// The outcome for a hit, an area or a run; ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// No protected site within the required distance plus the caution margin.
    Clear,
    /// A site beyond the required distance but within the caution margin of it.
    Caution,
    /// No site within reach, but the area (with its reach) is not wholly
    /// inside any source's declared coverage: no data is not no sites.
    /// Outranks caution and clear; a conflict outranks it.
    Uncovered,
    /// A site within the required distance.
    Conflict,
}

impl Verdict {
    /// `clear`, `caution`, `uncovered` or `conflict`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clear => "clear",
            Verdict::Caution => "caution",
            Verdict::Uncovered => "uncovered",
            Verdict::Conflict => "conflict",
        }
    }

    /// The verdict for a site at `distance_m` that must be `required_m` away, with a caution margin.
    ///
    /// # Units
    /// metres
    pub fn classify(distance_m: f64, required_m: f64, caution_margin_m: f64) -> Verdict {
        if distance_m <= required_m {
            Verdict::Conflict
        } else if distance_m <= required_m + caution_margin_m {
            Verdict::Caution
        } else {
            Verdict::Clear
        }
    }
}

/// A protected site within reach of an area.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Number of the site in its [`SiteSet`].
    pub site: usize,
    /// Exact geodesic minimum distance between area and site (metres); 0 if they touch or overlap.
    pub distance_m: f64,
    /// Required distance: area buffer + location error + site standoff + site positional accuracy (metres).
    pub required_m: f64,
    /// `distance_m - required_m` (metres); negative inside the required distance.
    pub margin_m: f64,
    /// Conflict or caution.
    pub verdict: Verdict,
    /// Initial geodesic azimuth from the nearest point of the area to the
    /// nearest point of the site (degrees from north, 0..360); `None` when they touch.
    pub bearing_deg: Option<f64>,
    /// Nearest point on the area (x longitude, y latitude, degrees).
    pub nearest_on_area: Coord<f64>,
    /// Nearest point on the site (x longitude, y latitude, degrees).
    pub nearest_on_site: Coord<f64>,
    /// The site's part of the required distance: its standoff (metres).
    pub standoff_m: f64,
    /// Whether the standoff is the site's own (`true`) or the policy's default.
    pub standoff_from_site: bool,
    /// Whether the standoff and accuracy are those of a linked member of
    /// the site's group that asks more than the site itself.
    pub standoff_from_group: bool,
    /// The site's positional accuracy added to the required distance (metres).
    pub positional_accuracy_m: f64,
    /// Set when the site's record is stale under the policy's `max_age_days`
    /// at the check's time (or was never verified); never lowers a verdict.
    pub stale: Option<Staleness>,
}

/// A hit whose record is older than the policy allows, or was never verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Staleness {
    /// The site's `last_verified` as recorded (ISO 8601), if any.
    pub last_verified: Option<String>,
    /// Whole days from `last_verified` to the check's time; `None` when not
    /// recorded or not a date.
    pub age_days: Option<i64>,
    /// The policy's maximum age for the site's category (days).
    pub max_age_days: u32,
}

impl Staleness {
    /// The staleness of a record last verified at `last_verified` (ISO 8601
    /// date or time, UTC) judged at `at` (seconds since the Unix epoch)
    /// against `max_age_days`; `None` when it is fresh.
    pub fn judge(last_verified: Option<&str>, at: i64, max_age_days: u32) -> Option<Staleness> {
        let age_days = last_verified
            .and_then(|t| crate::time::parse_utc(t.trim()).ok())
            .map(|v| (at - v).div_euclid(86_400));
        let stale = age_days.is_none_or(|a| a > i64::from(max_age_days));
        stale.then(|| Staleness {
            last_verified: last_verified.map(str::to_string),
            age_days,
            max_age_days,
        })
    }
}

/// The result of checking one area.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaResult {
    /// The area's id.
    pub area_id: String,
    /// The worst verdict among the hits and the coverage, `Clear` when
    /// there are no hits and the area is covered (or no coverage is declared).
    pub verdict: Verdict,
    /// Hits sorted by margin (most severe first), then by site position.
    pub hits: Vec<Hit>,
    /// Sites within reach that are outside their validity period at the
    /// check's time: not counted in the verdict, never dropped without a
    /// word. Sorted as `hits`.
    pub not_valid: Vec<Hit>,
    /// Which sources' coverage holds the area and its reach; `None` when
    /// the checker was given no declared coverage.
    pub coverage: Option<AreaCoverage>,
}

/// Why an area cannot be checked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AreaError {
    /// The area's geometry is invalid.
    #[error("area {id:?}: {cause}")]
    Geometry {
        /// The area's id.
        id: String,
        /// What is wrong (named in the message).
        cause: GeometryError,
    },
    /// A buffer or location error is negative or not finite.
    #[error("area {id:?}: {field} = {value} is not a finite, non-negative number of metres")]
    BadDistance {
        /// The area's id.
        id: String,
        /// `buffer_m` or `location_error_m`.
        field: &'static str,
        /// The value found.
        value: f64,
    },
    /// The site set could not be read (a damaged persisted index); the check cannot answer.
    #[error("area {id:?}: the registry's sites could not be read: {cause}")]
    Sites {
        /// The area's id.
        id: String,
        /// What could not be read (named in the message).
        cause: SetError,
    },
}

/// A site set bound to a policy and an "as of" time, ready to check areas.
pub struct Checker<'a, S: SiteSet + ?Sized = SiteIndex> {
    set: &'a S,
    policy: &'a Policy,
    as_of: Option<i64>,
    /// The largest site standoff + accuracy under this policy.
    max_site_extra_m: f64,
    /// The sources' declared coverage, when there is any.
    coverage: Option<&'a Coverage>,
    /// For sites linked into groups: the standoff and positional accuracy
    /// of the group's most demanding member.
    groups: Option<&'a std::collections::HashMap<usize, (f64, f64)>>,
}

impl<S: SiteSet + ?Sized> std::fmt::Debug for Checker<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("sites", &self.set.len())
            .field("policy", &self.policy.name)
            .field("as_of", &self.as_of)
            .finish()
    }
}

impl SiteIndex {
    /// Bind the index to a policy; `as_of` (seconds since the Unix epoch,
    /// UTC) leaves out sites outside their validity period at that time.
    pub fn checker<'a>(&'a self, policy: &'a Policy, as_of: Option<i64>) -> Checker<'a> {
        Checker::new(self, policy, as_of)
    }
}

impl<'a, S: SiteSet + ?Sized> Checker<'a, S> {
    /// Bind a site set to a policy; `as_of` (seconds since the Unix epoch,
    /// UTC) leaves out sites outside their validity period at that time.
    pub fn new(set: &'a S, policy: &'a Policy, as_of: Option<i64>) -> Checker<'a, S> {
        let limits = set.limits();
        let defaults = limits
            .default_pairs
            .iter()
            .map(|(c, p)| policy.default_standoff_m(*c, *p) + limits.max_default_accuracy_m)
            .fold(0.0, f64::max);
        Checker {
            set,
            policy,
            as_of,
            max_site_extra_m: defaults.max(limits.max_explicit_extra_m),
            coverage: None,
            groups: None,
        }
    }

    /// Check linked sites as groups: a site in `groups` (site number →
    /// the standoff and positional accuracy of its group's most demanding
    /// member, metres) is held to those when they ask more than its own,
    /// so a group is never less protected than its most conservative member.
    /// Each value must be one of the set's own sites' (standoff, accuracy)
    /// under this policy, which keeps the candidate search wide enough.
    pub fn with_groups(
        mut self,
        groups: &'a std::collections::HashMap<usize, (f64, f64)>,
    ) -> Checker<'a, S> {
        self.groups = (!groups.is_empty()).then_some(groups);
        self
    }

    /// Judge every area against the sources' declared coverage too: an
    /// area not wholly inside one source's coverage, with everything within
    /// reach of it (its buffer and location error, the policy's largest
    /// default standoff and the caution margin), is [`Verdict::Uncovered`]
    /// unless a hit makes it a conflict. A coverage with no source declared
    /// changes nothing.
    pub fn with_coverage(mut self, coverage: &'a Coverage) -> Checker<'a, S> {
        self.coverage = coverage.is_declared().then_some(coverage);
        self
    }
}

impl<S: SiteSet + ?Sized> Checker<'_, S> {
    /// Check one area against every site.
    pub fn check(&self, area: &Area) -> Result<AreaResult, AreaError> {
        for (field, value) in [
            ("buffer_m", area.buffer_m),
            ("location_error_m", area.location_error_m),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(AreaError::BadDistance {
                    id: area.id.clone(),
                    field,
                    value,
                });
            }
        }
        let shape = Shape::new(&area.geometry).map_err(|source| AreaError::Geometry {
            id: area.id.clone(),
            cause: source,
        })?;
        self.check_shape(&area.id, &shape, area.buffer_m + area.location_error_m)
    }

    /// Check many areas on all cores; results come back in input order.
    pub fn check_batch(&self, areas: &[Area]) -> Vec<Result<AreaResult, AreaError>> {
        areas.par_iter().map(|a| self.check(a)).collect()
    }

    fn check_shape(&self, id: &str, shape: &Shape, base_m: f64) -> Result<AreaResult, AreaError> {
        let caution = self.policy.caution_margin_m;
        let reach = base_m + self.max_site_extra_m + caution;
        let near = shape.aabb();
        // Hits gather in a per-thread scratch vector and leave it at their
        // exact size: no growth of (and fresh memory for) every area's vector.
        let mut hits = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        hits.clear();
        let mut not_valid = Vec::new();
        let set = self.set;
        let searched = set
            .for_each_candidate(&near, reach, &mut |i| {
                let (p, geom) = set.candidate(i)?;
                let valid = self.as_of.is_none_or(|t| p.is_valid_at(t));
                let mut standoff = p
                    .standoff_m
                    .unwrap_or_else(|| self.policy.default_standoff_m(p.category, p.protection));
                let mut accuracy = p.positional_accuracy_m.max(0.0);
                let mut from_group = false;
                if let Some(&(st, acc)) = self.groups.and_then(|g| g.get(&i)) {
                    if st + acc > standoff + accuracy {
                        (standoff, accuracy, from_group) = (st, acc, true);
                    }
                }
                let required_m = base_m + standoff + accuracy;
                let limit = required_m + caution;
                let nearest = match geom {
                    GeomRef::Point { lon, lat } => {
                        distance_to_vertex_within(shape, &Vertex::new(lon, lat), limit)
                    }
                    GeomRef::Shape(s) => distance_within(shape, s, limit),
                    GeomRef::Built(s) => distance_within(shape, &s, limit),
                };
                if let Some(n) = nearest {
                    let mut hit = make_hit(i, &n, required_m, caution);
                    hit.standoff_m = standoff;
                    hit.standoff_from_site = p.standoff_m.is_some();
                    hit.standoff_from_group = from_group;
                    hit.positional_accuracy_m = accuracy;
                    if let (true, Some(max), Some(t)) =
                        (valid, self.policy.max_age_days(p.category), self.as_of)
                    {
                        let label = set.label(i)?;
                        hit.stale = Staleness::judge(label.last_verified.as_deref(), t, max);
                    }
                    if valid {
                        hits.push(hit);
                    } else {
                        not_valid.push(hit);
                    }
                }
                Ok(())
            })
            .map_err(|source| AreaError::Sites {
                id: id.to_string(),
                cause: source,
            });
        // (margin, site) is a total order over distinct hits: no stable sort (and
        // its scratch buffer) needed.
        hits.sort_unstable_by(|a, b| a.margin_m.total_cmp(&b.margin_m).then(a.site.cmp(&b.site)));
        let exact = hits.to_vec();
        SCRATCH.with(|s| *s.borrow_mut() = hits);
        searched?;
        let hits = exact;
        let coverage = self.coverage.map(|c| {
            c.assess(
                shape,
                base_m + self.policy.max_default_standoff_m() + caution,
            )
        });
        let uncovered = coverage
            .as_ref()
            .is_some_and(|c| c.uncovered())
            .then_some(Verdict::Uncovered);
        let verdict = hits
            .iter()
            .map(|h| h.verdict)
            .chain(uncovered)
            .max()
            .unwrap_or(Verdict::Clear);
        not_valid
            .sort_unstable_by(|a, b| a.margin_m.total_cmp(&b.margin_m).then(a.site.cmp(&b.site)));
        Ok(AreaResult {
            area_id: id.to_string(),
            verdict,
            hits,
            not_valid,
            coverage,
        })
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<Hit>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn make_hit(site: usize, n: &Nearest, required_m: f64, caution_m: f64) -> Hit {
    let bearing_deg = (n.distance_m > 0.0).then(|| {
        let b = n
            .azimuth_deg
            .unwrap_or_else(|| geodesy::bearing(&n.on_a, &n.on_b));
        if b < 0.0 {
            b + 360.0
        } else {
            b
        }
    });
    let ll = |v: &Vertex| Coord { x: v.lon, y: v.lat };
    Hit {
        site,
        distance_m: n.distance_m,
        required_m,
        margin_m: n.distance_m - required_m,
        verdict: Verdict::classify(n.distance_m, required_m, caution_m),
        bearing_deg,
        nearest_on_area: ll(&n.on_a),
        nearest_on_site: ll(&n.on_b),
        standoff_m: 0.0,
        standoff_from_site: false,
        standoff_from_group: false,
        positional_accuracy_m: 0.0,
        stale: None,
    }
}

/// Every site of `set` some point of which lies within geodesic distance
/// `distance_m` of `shape`, with that distance, in set order. The search
/// runs through the set's index, so it reads only the candidates' records;
/// no policy, standoff or validity applies (a listing, not a check).
///
/// ```
/// use nostrike_core::{sites_within, Category, Shape, Site, SiteIndex};
/// let site = |id: &str, lon: f64| Site::new(id, "demo", Category::Museum, geo_types::Point::new(lon, 0.0).into());
/// let index = SiteIndex::build(vec![site("near", 0.001), site("far", 1.0)]).unwrap();
/// let found = sites_within(&index, &Shape::point(0.0, 0.0).unwrap(), 500.0).unwrap();
/// assert_eq!(found.len(), 1);
/// assert_eq!(index.sites()[found[0].0].id, "near");
/// assert!((found[0].1 - 111.3).abs() < 0.1);
/// ```
pub fn sites_within<S: SiteSet + ?Sized>(
    set: &S,
    shape: &Shape,
    distance_m: f64,
) -> Result<Vec<(usize, f64)>, SetError> {
    let mut found = Vec::new();
    set.for_each_candidate(&shape.aabb(), distance_m, &mut |i| {
        let nearest = match set.geom(i)? {
            GeomRef::Point { lon, lat } => {
                distance_to_vertex_within(shape, &Vertex::new(lon, lat), distance_m)
            }
            GeomRef::Shape(s) => distance_within(shape, s, distance_m),
            GeomRef::Built(s) => distance_within(shape, &s, distance_m),
        };
        if let Some(n) = nearest {
            found.push((i, n.distance_m));
        }
        Ok(())
    })?;
    found.sort_unstable_by_key(|f| f.0);
    Ok(found)
}

/// The worst verdict of a run (`Clear` for no areas).
pub fn run_verdict<'a>(results: impl IntoIterator<Item = &'a AreaResult>) -> Verdict {
    results
        .into_iter()
        .map(|r| r.verdict)
        .max()
        .unwrap_or(Verdict::Clear)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_boundaries() {
        assert_eq!(Verdict::classify(100.0, 100.0, 50.0), Verdict::Conflict);
        assert_eq!(Verdict::classify(100.001, 100.0, 50.0), Verdict::Caution);
        assert_eq!(Verdict::classify(150.0, 100.0, 50.0), Verdict::Caution);
        assert_eq!(Verdict::classify(150.001, 100.0, 50.0), Verdict::Clear);
        assert_eq!(Verdict::classify(0.0, 0.0, 0.0), Verdict::Conflict);
        assert!(Verdict::Conflict > Verdict::Uncovered && Verdict::Uncovered > Verdict::Caution);
        assert!(Verdict::Caution > Verdict::Clear);
    }

    /// A linked site is held to its group's larger standoff: a point 300 m
    /// from a museum (100 m standoff) twinned with a 2 km dam record.
    #[test]
    fn a_group_member_takes_the_most_demanding_standoff() {
        use crate::{Area, Category, Site, SiteIndex};
        let museum = Site::new(
            "m",
            "a",
            Category::Museum,
            geo_types::Point::new(10.0, 50.0).into(),
        );
        let mut dam = Site::new(
            "d",
            "b",
            Category::DangerousForces,
            geo_types::Point::new(10.1, 50.0).into(),
        );
        dam.standoff_m = Some(2_000.0);
        let index = SiteIndex::build(vec![museum, dam]).unwrap();
        let policy = Policy::builder("p")
            .default_standoff_m(100.0)
            .protection_extra_m(crate::Protection::General, 0.0)
            .protection_extra_m(crate::Protection::Special, 0.0)
            .protection_extra_m(crate::Protection::Enhanced, 0.0)
            .build()
            .unwrap();
        let area = Area::point("t", 10.0042, 50.0, 0.0);
        let alone = index.checker(&policy, None).check(&area).unwrap();
        assert_eq!(alone.verdict, Verdict::Clear, "{alone:?}");
        let groups: std::collections::HashMap<usize, (f64, f64)> =
            [(0, (2_000.0, 0.0)), (1, (2_000.0, 0.0))].into();
        let linked = index
            .checker(&policy, None)
            .with_groups(&groups)
            .check(&area)
            .unwrap();
        assert_eq!(linked.verdict, Verdict::Conflict);
        let h = &linked.hits[0];
        assert_eq!(h.site, 0);
        assert!(h.standoff_from_group && h.standoff_m == 2_000.0);
    }
}
