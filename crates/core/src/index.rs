//! The R-tree of protected sites.
//!
//! # Why the candidate search never misses a site
//!
//! Every site is indexed by an axis-aligned box in Earth-centred,
//! Earth-fixed (ECEF) coordinates that holds every point of the site:
//! its vertices, each geodesic edge widened by a bound on how far a geodesic
//! can stray from its chord ([`crate::geodesy::edge_bulge_m`]), and for
//! polygons the surface inside the ring ([`crate::geodesy::interior_bulge_m`]).
//! A query box is built the same way around the area and widened by the
//! largest distance that could matter, `D`.
//!
//! If a site point `q` is within geodesic distance `D` of an area point `p`,
//! the straight chord `|p - q|` is at most `D` (a straight line is never
//! longer than a path on the surface), so the Euclidean distance between the
//! area's box and the site's box is at most `D` too, and the site is a
//! candidate ([`crate::geodesy::Aabb::within`], which adds a millimetre
//! against rounding). The tree is searched with the area's box widened by
//! `D` in every axis, and each box it returns is then held to that distance. ECEF has no seams: the
//! ±180° meridian and the poles are ordinary places in it, so no special
//! case is needed there. Boxes only ever over-cover, which costs candidates,
//! never hits; the exact geodesic test decides every candidate.

use crate::par::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use crate::geodesy::{ecef, Aabb, CANDIDATE_SLACK_M};
use crate::shape::{checked_vertex, GeometryError, Shape};
use crate::site::Site;
use crate::sites::{GeomRef, SetError, SetLimits, SiteLabel, SiteParams, SiteSet};

type PointEntry = GeomWithData<[f64; 3], u32>;
type BoxEntry = GeomWithData<Rectangle<[f64; 3]>, u32>;

/// A site's geometry as the index keeps it: bare lon/lat degrees for point
/// sites (most of them; the Earth-centred position lives in the R-tree), a
/// prepared shape otherwise.
#[derive(Debug, Clone)]
pub(crate) enum SiteGeom {
    Point { lon: f64, lat: f64 },
    Shape(Box<Shape>),
}

/// An error building the index: a site whose geometry cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("site {position} (id {id:?}): {cause}")]
pub struct IndexError {
    /// Position of the site in the input.
    pub position: usize,
    /// The site's id.
    pub id: String,
    /// What is wrong with its geometry (named in the message).
    pub cause: GeometryError,
}

/// Counts describing a built index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    /// Number of sites.
    pub sites: usize,
    /// Sites held as single points.
    pub point_sites: usize,
    /// Sites held as lines, polygons or multi-geometries.
    pub shape_sites: usize,
}

/// Protected sites with an R-tree over their Earth-centred boxes.
#[derive(Debug)]
pub struct SiteIndex {
    pub(crate) sites: Vec<Site>,
    pub(crate) geoms: Vec<SiteGeom>,
    points: RTree<PointEntry>,
    boxes: RTree<BoxEntry>,
    limits: SetLimits,
}

impl SiteIndex {
    /// Validate every site's geometry and bulk-load the R-trees (in parallel).
    ///
    /// Fails on the first site (by position) whose geometry is invalid.
    pub fn build(sites: Vec<Site>) -> Result<SiteIndex, IndexError> {
        let geoms: Vec<SiteGeom> = sites
            .par_iter()
            .enumerate()
            .map(|(position, s)| {
                let err = |source| IndexError {
                    position,
                    id: s.id.clone(),
                    cause: source,
                };
                if let geo_types::Geometry::Point(p) = &s.geometry {
                    let v = checked_vertex(&p.0, 0).map_err(err)?;
                    Ok(SiteGeom::Point {
                        lon: v.lon,
                        lat: v.lat,
                    })
                } else {
                    Ok(SiteGeom::Shape(Box::new(
                        Shape::new(&s.geometry).map_err(err)?,
                    )))
                }
            })
            .collect::<Result<_, _>>()?;
        let mut point_entries = Vec::new();
        let mut box_entries = Vec::new();
        for (i, g) in geoms.iter().enumerate() {
            match g {
                SiteGeom::Point { lon, lat } => {
                    point_entries.push(PointEntry::new(ecef(*lon, *lat), i as u32))
                }
                SiteGeom::Shape(s) => {
                    let b = s.aabb();
                    box_entries.push(BoxEntry::new(Rectangle::from_corners(b.lo, b.hi), i as u32))
                }
            }
        }
        let (points, boxes) = join(
            || RTree::bulk_load(point_entries),
            || RTree::bulk_load(box_entries),
        );
        let mut limits = SetLimits::default();
        for s in &sites {
            limits.add(&SiteParams::of(s));
        }
        Ok(SiteIndex {
            sites,
            geoms,
            points,
            boxes,
            limits,
        })
    }

    /// The sites, in the order given to [`SiteIndex::build`]; hits refer to them by position.
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    /// Number of sites.
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    /// Whether the index holds no site.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// Counts of point and shape sites.
    pub fn stats(&self) -> IndexStats {
        IndexStats {
            sites: self.sites.len(),
            point_sites: self.points.size(),
            shape_sites: self.boxes.size(),
        }
    }

    /// Positions of every site whose box lies within Euclidean distance
    /// `reach` (metres) of `near` ([`Aabb::within`]), in no set order: the
    /// tree is searched with `near` widened by `reach`, and each box it
    /// returns is then held to the distance itself.
    pub fn candidates(&self, near: &Aabb, reach: f64) -> impl Iterator<Item = usize> + '_ {
        let env = near.expanded(reach + CANDIDATE_SLACK_M);
        let env = AABB::from_corners(env.lo, env.hi);
        let near = *near;
        let pts = self
            .points
            .locate_in_envelope(env)
            .filter(move |e| {
                (Aabb {
                    lo: *e.geom(),
                    hi: *e.geom(),
                })
                .within(&near, reach)
            })
            .map(|e| e.data as usize);
        let bxs = self
            .boxes
            .locate_in_envelope_intersecting(env)
            .filter(move |e| {
                let (lo, hi) = (e.geom().lower(), e.geom().upper());
                (Aabb { lo, hi }).within(&near, reach)
            })
            .map(|e| e.data as usize);
        pts.chain(bxs)
    }

    /// Site `i`, or the error of a number past the end (a hit of another
    /// set's numbering): never a panic.
    fn at(&self, i: usize) -> Result<&Site, SetError> {
        self.sites.get(i).ok_or_else(|| self.past_end(i))
    }

    fn past_end(&self, i: usize) -> SetError {
        SetError::Damaged(format!(
            "site {i} is not in the index ({} sites)",
            self.sites.len()
        ))
    }
}

impl SiteSet for SiteIndex {
    fn len(&self) -> usize {
        self.sites.len()
    }

    fn limits(&self) -> &SetLimits {
        &self.limits
    }

    fn for_each_candidate(
        &self,
        near: &Aabb,
        reach: f64,
        f: &mut dyn FnMut(usize) -> Result<(), SetError>,
    ) -> Result<(), SetError> {
        for i in self.candidates(near, reach) {
            f(i)?;
        }
        Ok(())
    }

    fn params(&self, i: usize) -> Result<SiteParams, SetError> {
        Ok(SiteParams::of(self.at(i)?))
    }

    fn geom(&self, i: usize) -> Result<GeomRef<'_>, SetError> {
        Ok(match self.geoms.get(i).ok_or_else(|| self.past_end(i))? {
            SiteGeom::Point { lon, lat } => GeomRef::Point {
                lon: *lon,
                lat: *lat,
            },
            SiteGeom::Shape(s) => GeomRef::Shape(s),
        })
    }

    fn label(&self, i: usize) -> Result<SiteLabel<'_>, SetError> {
        let s = self.at(i)?;
        Ok(SiteLabel {
            source: s.source.as_str().into(),
            id: s.id.as_str().into(),
            name: s.name.as_str().into(),
            category: s.category,
            protection: s.protection,
            last_verified: s.last_verified.as_deref().map(Into::into),
            classification: s.marking.classification.as_deref().map(Into::into),
            releasable_to: s.marking.releasable_to.join(",").into(),
        })
    }

    fn geometry(&self, i: usize) -> Result<geo_types::Geometry<f64>, SetError> {
        Ok(self.at(i)?.geometry.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Category;

    /// A site number past the end (a hit of another set's numbering) read
    /// every field by indexing, and panicked; each read is now an error.
    #[test]
    fn a_site_past_the_in_memory_index_end_is_an_error_not_a_panic() {
        let g = geo_types::Geometry::Point(geo_types::Point::new(1.0, 2.0));
        let index =
            SiteIndex::build(vec![Site::new("a", "src", Category::Museum, g)]).expect("index");
        assert!(index.label(0).is_ok() && index.params(0).is_ok() && index.geom(0).is_ok());
        for i in [1, usize::MAX] {
            assert!(index.label(i).is_err());
            assert!(index.params(i).is_err());
            assert!(index.geom(i).is_err());
            assert!(index.geometry(i).is_err());
        }
    }
}
