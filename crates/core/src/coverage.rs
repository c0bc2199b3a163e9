//! Coverage: the regions the registry's sources claim to be complete for.
//!
//! "No site found" means "no site here" only where some source has looked.
//! A source declares its coverage (a polygon or multipolygon); an area is
//! *covered* when it and everything within its reach lies wholly inside
//! one polygon of one source's coverage. A check of an area no source
//! covers cannot be clear: its verdict is [`crate::Verdict::Uncovered`].
//!
//! The test is exact on the ellipsoid, with the same geodesic distances
//! the check uses: the area is covered by a polygon when one vertex of
//! each of its parts lies inside the polygon and no point of the polygon's
//! boundary (outer ring or hole) lies within the reach of the area. An
//! area that keeps its reach clear of the boundary lies wholly on one side
//! of it, so the first test decides which side.

use geo_types::{Geometry, LineString, MultiLineString};

use crate::shape::{distance_within, GeometryError, Shape};

/// One source's coverage, prepared for tests.
#[derive(Debug, Clone)]
struct SourceCoverage {
    source: String,
    /// Each polygon of the coverage, and its rings as lines.
    parts: Vec<(Shape, Shape)>,
}

/// The declared coverage of every source that has one.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    sources: Vec<SourceCoverage>,
}

/// Why a coverage geometry cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoverageError {
    /// Not a polygon or multipolygon.
    #[error("source {source_name:?}: a coverage must be a Polygon or MultiPolygon, not a {found}")]
    NotPolygonal {
        /// The source.
        source_name: String,
        /// The geometry type found.
        found: &'static str,
    },
    /// The polygon is invalid (or wider than the check handles).
    #[error("source {source_name:?}: coverage polygon {part}: {cause}")]
    Geometry {
        /// The source.
        source_name: String,
        /// The polygon's number within the coverage (from 0).
        part: usize,
        /// What is wrong.
        cause: GeometryError,
    },
}

/// What the coverage says about one area.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaCoverage {
    /// Sources whose coverage holds the area and its whole reach, in name order.
    pub covered_by: Vec<String>,
    /// The reach that must lie inside a coverage with the area (metres).
    pub reach_m: f64,
}

impl AreaCoverage {
    /// Whether no source covers the area.
    pub fn uncovered(&self) -> bool {
        self.covered_by.is_empty()
    }
}

fn kind(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::Line(_) => "Line",
        Geometry::LineString(_) => "LineString",
        Geometry::Polygon(_) => "Polygon",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
        Geometry::Rect(_) => "Rect",
        Geometry::Triangle(_) => "Triangle",
    }
}

impl Coverage {
    /// No source declares coverage.
    pub fn none() -> Coverage {
        Coverage::default()
    }

    /// Whether any source declares coverage (without any, coverage is not judged).
    pub fn is_declared(&self) -> bool {
        !self.sources.is_empty()
    }

    /// The names of the sources with a coverage, in name order.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.sources.iter().map(|s| s.source.as_str())
    }

    /// Add a source's coverage (a Polygon or MultiPolygon, WGS84 lon/lat).
    pub fn add(&mut self, source: &str, geometry: &Geometry<f64>) -> Result<(), CoverageError> {
        let polygons = match geometry {
            Geometry::Polygon(p) => vec![p.clone()],
            Geometry::MultiPolygon(m) => m.0.clone(),
            g => {
                return Err(CoverageError::NotPolygonal {
                    source_name: source.to_string(),
                    found: kind(g),
                })
            }
        };
        let mut parts = Vec::with_capacity(polygons.len());
        for (part, p) in polygons.into_iter().enumerate() {
            let err = |cause| CoverageError::Geometry {
                source_name: source.to_string(),
                part,
                cause,
            };
            let rings: Vec<LineString<f64>> = std::iter::once(p.exterior().clone())
                .chain(p.interiors().iter().cloned())
                .collect();
            let area = Shape::new(&Geometry::Polygon(p)).map_err(err)?;
            let boundary =
                Shape::new(&Geometry::MultiLineString(MultiLineString(rings))).map_err(err)?;
            parts.push((area, boundary));
        }
        if parts.is_empty() {
            return Err(CoverageError::Geometry {
                source_name: source.to_string(),
                part: 0,
                cause: GeometryError::Empty,
            });
        }
        self.sources.push(SourceCoverage {
            source: source.to_string(),
            parts,
        });
        self.sources.sort_by(|a, b| a.source.cmp(&b.source));
        Ok(())
    }

    /// Which sources cover `area` together with everything within `reach_m`
    /// of it (metres): those with one polygon that holds it all.
    pub fn assess(&self, area: &Shape, reach_m: f64) -> AreaCoverage {
        let covered_by = self
            .sources
            .iter()
            .filter(|s| {
                s.parts.iter().any(|(poly, boundary)| {
                    area.representatives().all(|v| poly.contains(v))
                        && distance_within(area, boundary, reach_m).is_none()
                })
            })
            .map(|s| s.source.clone())
            .collect();
        AreaCoverage {
            covered_by,
            reach_m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::polygon;

    fn square(lo: f64, hi: f64) -> Geometry<f64> {
        Geometry::Polygon(polygon![
            (x: lo, y: lo), (x: hi, y: lo), (x: hi, y: hi), (x: lo, y: hi), (x: lo, y: lo)
        ])
    }

    #[test]
    fn a_point_is_covered_only_with_its_reach_inside() {
        let mut c = Coverage::none();
        c.add("a", &square(0.0, 1.0)).unwrap();
        let p = Shape::point(0.5, 0.5).unwrap();
        assert_eq!(c.assess(&p, 1000.0).covered_by, vec!["a".to_string()]);
        // About 55 km to the nearest edge: a 60 km reach crosses it.
        assert!(c.assess(&p, 60_000.0).uncovered());
        assert!(c.assess(&Shape::point(1.5, 0.5).unwrap(), 0.0).uncovered());
    }

    #[test]
    fn a_hole_is_not_covered_and_a_polygon_around_it_neither() {
        let mut c = Coverage::none();
        let outer = polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 2.0, y: 0.0), (x: 2.0, y: 2.0), (x: 0.0, y: 2.0), (x: 0.0, y: 0.0)],
            interiors: [[(x: 0.9, y: 0.9), (x: 1.1, y: 0.9), (x: 1.1, y: 1.1), (x: 0.9, y: 1.1), (x: 0.9, y: 0.9)]],
        );
        c.add("a", &Geometry::Polygon(outer)).unwrap();
        assert!(c.assess(&Shape::point(1.0, 1.0).unwrap(), 0.0).uncovered());
        let around = Shape::new(&square(0.5, 1.5)).unwrap();
        assert!(c.assess(&around, 0.0).uncovered());
        assert!(!c
            .assess(&Shape::new(&square(0.2, 0.4)).unwrap(), 100.0)
            .uncovered());
    }

    #[test]
    fn coverage_across_the_antimeridian() {
        let mut c = Coverage::none();
        let g = Geometry::Polygon(polygon![
            (x: 179.0, y: -1.0), (x: -179.0, y: -1.0), (x: -179.0, y: 1.0), (x: 179.0, y: 1.0), (x: 179.0, y: -1.0)
        ]);
        c.add("dateline", &g).unwrap();
        assert!(!c
            .assess(&Shape::point(180.0, 0.0).unwrap(), 10_000.0)
            .uncovered());
        assert!(!c
            .assess(&Shape::point(-179.5, 0.5).unwrap(), 10_000.0)
            .uncovered());
        assert!(c
            .assess(&Shape::point(178.5, 0.0).unwrap(), 0.0)
            .uncovered());
    }

    #[test]
    fn a_coverage_that_is_not_polygonal_is_refused() {
        let mut c = Coverage::none();
        let e = c
            .add("a", &Geometry::Point(geo_types::Point::new(0.0, 0.0)))
            .unwrap_err();
        assert!(e.to_string().contains("Polygon or MultiPolygon"), "{e}");
        assert!(!c.is_declared());
    }
}
