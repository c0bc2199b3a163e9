//! Declared coverage: read from a GeoJSON file, or made from the extent of
//! a source's features (`--coverage auto`), checked and stored as WKB.

use std::path::{Path, PathBuf};

use geo_types::{Coord, Geometry, LineString, MultiPolygon, Polygon};
use nostrike_core::{wkb, Coverage};
use nostrike_store::SourceCoverage;
use sha2::Digest;

/// How an import declares its sources' coverage.
#[derive(Debug, Clone, PartialEq)]
pub enum CoverageSpec {
    /// A GeoJSON file holding a Polygon or MultiPolygon (a bare geometry, a
    /// Feature or a FeatureCollection of polygonal features).
    File(PathBuf),
    /// The extent of the imported features, buffered by `buffer_m`.
    Auto {
        /// Metres added on every side.
        buffer_m: f64,
    },
}

/// The buffer `--coverage auto` adds around the features' extent.
pub const AUTO_BUFFER_M: f64 = 1000.0;

impl std::str::FromStr for CoverageSpec {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(if s == "auto" {
            CoverageSpec::Auto {
                buffer_m: AUTO_BUFFER_M,
            }
        } else {
            CoverageSpec::File(PathBuf::from(s))
        })
    }
}

/// Why a coverage cannot be declared.
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    /// The file cannot be read.
    #[error("coverage file {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The file is not usable coverage.
    #[error("coverage file {}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The features' extent cannot be one coverage polygon.
    #[error("source {source_name:?}: cannot make a coverage from the features' extent: {reason}; give --coverage FILE")]
    Extent {
        /// The source.
        source_name: String,
        /// Why.
        reason: String,
    },
}

/// Check that `g` is usable coverage for `source` (polygonal, valid, not
/// too wide) and store it as WKB with the words saying how it was declared.
fn checked(source: &str, g: Geometry<f64>, how: String) -> Result<SourceCoverage, String> {
    Coverage::none()
        .add(source, &g)
        .map_err(|e| e.to_string())?;
    Ok(SourceCoverage {
        wkb: wkb::encode(&g),
        how,
    })
}

/// Read a coverage file for `source`.
pub fn read_file(path: &Path, source: &str) -> Result<SourceCoverage, CoverageError> {
    let bytes = std::fs::read(path).map_err(|cause| CoverageError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    let invalid = |reason: String| CoverageError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid("not UTF-8 text".into()))?;
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let mut geometries: Vec<&serde_json::Value> = Vec::new();
    match v.get("type").and_then(|t| t.as_str()) {
        Some("FeatureCollection") => {
            for f in v
                .get("features")
                .and_then(|f| f.as_array())
                .ok_or_else(|| invalid("a FeatureCollection without features".into()))?
            {
                geometries.extend(f.get("geometry").filter(|g| !g.is_null()));
            }
        }
        Some("Feature") => geometries.extend(v.get("geometry").filter(|g| !g.is_null())),
        _ => geometries.push(&v),
    }
    let mut polygons: Vec<Polygon<f64>> = Vec::new();
    for (i, g) in geometries.into_iter().enumerate() {
        let g = nostrike_formats::geojson::parse_geometry(g)
            .map_err(|e| invalid(format!("geometry {i}: {e}")))?;
        match g {
            Geometry::Polygon(p) => polygons.push(p),
            Geometry::MultiPolygon(m) => polygons.extend(m.0),
            _ => {
                return Err(invalid(format!(
                    "geometry {i} is not a Polygon or MultiPolygon"
                )))
            }
        }
    }
    if polygons.is_empty() {
        return Err(invalid("holds no polygon".into()));
    }
    let g = if polygons.len() == 1 {
        Geometry::Polygon(polygons.remove(0))
    } else {
        Geometry::MultiPolygon(MultiPolygon(polygons))
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let how = format!(
        "declared: file {name} (sha256 {})",
        nostrike_store::hex(&sha2::Sha256::digest(&bytes))
    );
    checked(source, g, how).map_err(invalid)
}

/// The longitude/latitude extent of a set of vertices: the latitude range
/// and the shortest arc of longitudes holding them all (across ±180° when
/// that is shorter), found from 1° bins and each bin's exact bounds.
#[derive(Debug, Clone)]
pub struct Extent {
    count: usize,
    lat: [f64; 2],
    bins: Vec<Option<[f64; 2]>>,
}

impl Default for Extent {
    fn default() -> Self {
        Extent {
            count: 0,
            lat: [f64::INFINITY, f64::NEG_INFINITY],
            bins: vec![None; 360],
        }
    }
}

impl Extent {
    /// Add every vertex of `g`.
    pub fn add(&mut self, g: &Geometry<f64>) {
        let line = |e: &mut Extent, l: &LineString<f64>| l.0.iter().for_each(|c| e.add_coord(*c));
        let poly = |e: &mut Extent, p: &Polygon<f64>| line(e, p.exterior());
        match g {
            Geometry::Point(p) => self.add_coord(p.0),
            Geometry::MultiPoint(m) => m.0.iter().for_each(|p| self.add_coord(p.0)),
            Geometry::Line(l) => {
                self.add_coord(l.start);
                self.add_coord(l.end);
            }
            Geometry::LineString(l) => line(self, l),
            Geometry::MultiLineString(m) => m.0.iter().for_each(|l| line(self, l)),
            Geometry::Polygon(p) => poly(self, p),
            Geometry::MultiPolygon(m) => m.0.iter().for_each(|p| poly(self, p)),
            Geometry::GeometryCollection(c) => c.0.iter().for_each(|g| self.add(g)),
            Geometry::Rect(r) => {
                self.add_coord(r.min());
                self.add_coord(r.max());
            }
            Geometry::Triangle(t) => t.to_array().iter().for_each(|c| self.add_coord(*c)),
        }
    }

    fn add_coord(&mut self, c: Coord<f64>) {
        if !(c.x.is_finite() && c.y.is_finite()) {
            return;
        }
        self.count += 1;
        self.lat = [self.lat[0].min(c.y), self.lat[1].max(c.y)];
        let bin = ((c.x + 180.0).floor().clamp(0.0, 359.0)) as usize;
        let b = self.bins[bin].get_or_insert([c.x, c.x]);
        *b = [b[0].min(c.x), b[1].max(c.x)];
    }

    /// The extent widened by `buffer_m` on every side as one polygon (edges
    /// at most 1° long, so they follow parallels and meridians within
    /// metres), with the words that say so.
    pub fn polygon(&self, source: &str, buffer_m: f64) -> Result<SourceCoverage, CoverageError> {
        let err = |reason: String| CoverageError::Extent {
            source_name: source.to_string(),
            reason,
        };
        if self.count == 0 {
            return Err(err("no features".into()));
        }
        // The longest run of empty bins, circularly: the arc is the rest.
        let occupied: Vec<usize> = (0..360).filter(|&i| self.bins[i].is_some()).collect();
        let mut best = (0usize, occupied[0]); // (gap length, first occupied bin after it)
        for (k, &i) in occupied.iter().enumerate() {
            let next = occupied[(k + 1) % occupied.len()];
            let gap = (next + 360 - i - 1) % 360;
            if gap > best.0 || (occupied.len() == 1) {
                best = (gap, next);
            }
        }
        let first = best.1;
        let last =
            occupied[(occupied.iter().position(|&i| i == first).unwrap_or(0) + occupied.len() - 1)
                % occupied.len()];
        let west = self.bins[first].map(|b| b[0]).unwrap_or(-180.0);
        let mut east = self.bins[last].map(|b| b[1]).unwrap_or(180.0);
        if east < west {
            east += 360.0;
        }
        let dlat = buffer_m / 110_574.0;
        let (south, north) = (self.lat[0] - dlat, self.lat[1] + dlat);
        if south <= -89.0 || north >= 89.0 {
            return Err(err("it reaches within 1° of a pole".into()));
        }
        let cos = south.abs().max(north.abs()).to_radians().cos();
        let dlon = buffer_m / (111_320.0 * cos);
        let (west, east) = (west - dlon, east + dlon);
        if east - west >= 359.0 {
            return Err(err("it spans every longitude".into()));
        }
        let steps = |a: f64, b: f64| ((b - a).abs().ceil() as usize).max(1);
        let mut ring: Vec<Coord<f64>> = Vec::new();
        let wrap = |x: f64| if x > 180.0 { x - 360.0 } else { x };
        let n = steps(west, east);
        for k in 0..n {
            ring.push(Coord {
                x: wrap(west + (east - west) * k as f64 / n as f64),
                y: south,
            });
        }
        let m = steps(south, north);
        for k in 0..m {
            ring.push(Coord {
                x: wrap(east),
                y: south + (north - south) * k as f64 / m as f64,
            });
        }
        for k in 0..n {
            ring.push(Coord {
                x: wrap(east - (east - west) * k as f64 / n as f64),
                y: north,
            });
        }
        for k in 0..m {
            ring.push(Coord {
                x: wrap(west),
                y: north - (north - south) * k as f64 / m as f64,
            });
        }
        ring.push(ring[0]);
        let g = Geometry::Polygon(Polygon::new(LineString(ring), vec![]));
        let how = format!(
            "auto: the extent of {} vertices ({:.4}° to {:.4}° N, {:.4}° to {:.4}° E), buffered by {buffer_m} m",
            self.count, self.lat[0], self.lat[1], wrap(west + dlon), wrap(east - dlon)
        );
        checked(source, g, how).map_err(err)
    }
}

/// Why a coverage could not be set on its own.
#[derive(Debug, thiserror::Error)]
pub enum SetCoverageError {
    /// The coverage cannot be made or read.
    #[error(transparent)]
    Coverage(#[from] CoverageError),
    /// The registry failed.
    #[error(transparent)]
    Store(#[from] nostrike_store::StoreError),
    /// No such source.
    #[error("{}: no source named {source_name:?} (see `nostrike sources`)", path.display())]
    NoSource {
        /// The registry.
        path: PathBuf,
        /// The name given.
        source_name: String,
    },
    /// The coverage file's bytes could not be hashed.
    #[error(transparent)]
    Import(#[from] crate::ImportError),
}

/// Declare (or replace) `source`'s coverage on its own, as one logged
/// batch and a new revision (nothing else changes): from a file, or from
/// the extent of the source's live sites.
pub fn set_coverage(
    registry: &mut nostrike_store::Registry,
    source: &str,
    spec: &CoverageSpec,
    operator: &str,
) -> Result<nostrike_store::ImportSummary, SetCoverageError> {
    let Some(meta) = registry.sources()?.into_iter().find(|m| m.name == source) else {
        return Err(SetCoverageError::NoSource {
            path: registry.path().to_path_buf(),
            source_name: source.to_string(),
        });
    };
    let (coverage, file_name, file_sha256) = match spec {
        CoverageSpec::File(path) => (
            read_file(path, source)?,
            path.display().to_string(),
            crate::sha256_file(path)?,
        ),
        CoverageSpec::Auto { buffer_m } => {
            let mut extent = Extent::default();
            for site in registry
                .live_sites()?
                .0
                .iter()
                .filter(|s| s.source == source)
            {
                extent.add(&site.geometry);
            }
            (
                extent.polygon(source, *buffer_m)?,
                "(auto)".to_string(),
                String::new(),
            )
        }
    };
    let mut session = registry.begin_import()?;
    let batch = nostrike_store::BatchMeta {
        file_name,
        file_sha256,
        format: "coverage".into(),
        operator: operator.to_string(),
        imported_at: nostrike_core::time::now(),
        replace: false,
    };
    let _ = session.file(&meta, &batch);
    session.set_coverage(source, coverage);
    let mut out = session.commit()?;
    Ok(out.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostrike_core::Shape;

    fn cover(c: &SourceCoverage) -> Coverage {
        let mut cov = Coverage::none();
        cov.add("s", &wkb::decode(&c.wkb).unwrap()).unwrap();
        cov
    }

    #[test]
    fn auto_extent_holds_every_vertex_with_its_buffer() {
        let mut e = Extent::default();
        for (x, y) in [(24.9, 60.1), (25.1, 60.3), (24.95, 60.2)] {
            e.add(&Geometry::Point(geo_types::Point::new(x, y)));
        }
        let c = e.polygon("s", 1000.0).unwrap();
        let cov = cover(&c);
        for (x, y) in [(24.9, 60.1), (25.1, 60.3)] {
            // Each vertex with 900 m around it is inside; 1100 m is not.
            assert!(!cov.assess(&Shape::point(x, y).unwrap(), 900.0).uncovered());
            assert!(cov.assess(&Shape::point(x, y).unwrap(), 1100.0).uncovered());
        }
        assert!(
            c.how.starts_with("auto: the extent of 3 vertices"),
            "{}",
            c.how
        );
    }

    #[test]
    fn auto_extent_takes_the_short_way_across_the_antimeridian() {
        let mut e = Extent::default();
        for x in [179.5, -179.5, 179.9] {
            e.add(&Geometry::Point(geo_types::Point::new(x, -17.0)));
        }
        let cov = cover(&e.polygon("s", 1000.0).unwrap());
        assert!(!cov
            .assess(&Shape::point(180.0, -17.0).unwrap(), 500.0)
            .uncovered());
        assert!(cov
            .assess(&Shape::point(0.0, -17.0).unwrap(), 0.0)
            .uncovered());
    }
}
