//! What is checked: a planned strike area or movement route.

use geo_types::{Geometry, LineString, Point};

/// The form in which an area was given, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaKind {
    /// A point with a radius (`buffer_m`).
    Point,
    /// A route (line) with a corridor half-width (`buffer_m`).
    Route,
    /// A polygon or multipolygon (holes allowed) with a buffer.
    Polygon,
    /// Any other geometry with a buffer.
    Other,
}

/// A planned strike area or movement route.
///
/// Geometry is WGS84 lon/lat degrees; `buffer_m` is the radius, corridor
/// half-width or polygon buffer; `location_error_m` is how far the real aim
/// point may be from the planned one. Both add to every site's required distance.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// Identifier of the area in reports.
    pub id: String,
    /// How the area was given.
    pub kind: AreaKind,
    /// The area's geometry.
    pub geometry: Geometry<f64>,
    /// Radius / corridor half-width / buffer (metres, ≥ 0).
    pub buffer_m: f64,
    /// Target location error (metres, ≥ 0).
    pub location_error_m: f64,
}

impl Area {
    /// A point (lon, lat degrees) with a radius in metres.
    pub fn point(id: impl Into<String>, lon: f64, lat: f64, radius_m: f64) -> Area {
        Area {
            id: id.into(),
            kind: AreaKind::Point,
            geometry: Point::new(lon, lat).into(),
            buffer_m: radius_m,
            location_error_m: 0.0,
        }
    }

    /// A route with a corridor half-width in metres.
    pub fn route(id: impl Into<String>, line: LineString<f64>, corridor_m: f64) -> Area {
        Area {
            id: id.into(),
            kind: AreaKind::Route,
            geometry: line.into(),
            buffer_m: corridor_m,
            location_error_m: 0.0,
        }
    }

    /// Any geometry with a buffer in metres; the kind is taken from the geometry.
    pub fn geometry(id: impl Into<String>, geometry: Geometry<f64>, buffer_m: f64) -> Area {
        let kind = match &geometry {
            Geometry::Point(_) => AreaKind::Point,
            Geometry::LineString(_) | Geometry::Line(_) | Geometry::MultiLineString(_) => {
                AreaKind::Route
            }
            Geometry::Polygon(_) | Geometry::MultiPolygon(_) | Geometry::Rect(_) => {
                AreaKind::Polygon
            }
            _ => AreaKind::Other,
        };
        Area {
            id: id.into(),
            kind,
            geometry,
            buffer_m,
            location_error_m: 0.0,
        }
    }

    /// The same area with a target location error in metres.
    pub fn with_location_error(mut self, location_error_m: f64) -> Area {
        self.location_error_m = location_error_m;
        self
    }
}
