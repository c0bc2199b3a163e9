//! Geometry validity beyond structure: coordinate ranges, self-intersecting
//! rings, holes outside their shell, and everything the core refuses.

use geo_types::{Coord, Geometry, LineString, Polygon};
use nostrike_core::Shape;

/// Check that a geometry can be stored and checked: finite, in-range
/// coordinates, simple rings (no self-intersection, e.g. a bow-tie), holes
/// inside their shell and not crossing it, and within the core's limits.
///
/// Ring tests are planar: in longitude/latitude with longitudes unwrapped
/// across ±180°, or, for a shell that winds around a pole, in a polar view
/// centred on that pole.
pub fn validate_geometry(g: &Geometry<f64>) -> Result<(), InvalidGeometry> {
    check(g).map_err(InvalidGeometry)
}

/// Why a geometry cannot be a site or an area.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidGeometry(pub String);

fn check(g: &Geometry<f64>) -> Result<(), String> {
    let n = vertex_count(g);
    if n > MAX_VERTICES {
        return Err(format!(
            "geometry has {n} vertices; at most {MAX_VERTICES} are accepted (simplify or split it)"
        ));
    }
    Shape::new(g).map_err(|e| e.to_string())?;
    match g {
        Geometry::Polygon(p) => polygon(p, None),
        Geometry::MultiPolygon(m) => {
            m.0.iter()
                .enumerate()
                .try_for_each(|(i, p)| polygon(p, Some(i)))
        }
        Geometry::GeometryCollection(c) => c.0.iter().try_for_each(check),
        _ => Ok(()),
    }
}

/// Longitudes made continuous along the ring (each step under 180°), the
/// first one brought within 180° of `ref_lon`.
/// The most vertices one site or area geometry may have.
pub const MAX_VERTICES: usize = 1_000_000;

fn vertex_count(g: &Geometry<f64>) -> usize {
    let poly = |p: &Polygon<f64>| {
        p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>()
    };
    match g {
        Geometry::Point(_) => 1,
        Geometry::Line(_) => 2,
        Geometry::LineString(l) => l.0.len(),
        Geometry::Polygon(p) => poly(p),
        Geometry::MultiPoint(m) => m.0.len(),
        Geometry::MultiLineString(m) => m.0.iter().map(|l| l.0.len()).sum(),
        Geometry::MultiPolygon(m) => m.0.iter().map(poly).sum(),
        Geometry::GeometryCollection(c) => c.0.iter().map(vertex_count).sum(),
        Geometry::Rect(_) => 5,
        Geometry::Triangle(_) => 4,
    }
}

fn unwrap_ring(r: &LineString<f64>, ref_lon: f64) -> Vec<Coord<f64>> {
    let mut prev = ref_lon;
    r.0.iter()
        .map(|c| {
            let mut x = c.x;
            while x - prev > 180.0 {
                x -= 360.0;
            }
            while x - prev < -180.0 {
                x += 360.0;
            }
            prev = x;
            Coord { x, y: c.y }
        })
        .collect()
}

/// A polar view: distance from the pole (degrees of latitude) along the meridian's direction.
fn polar(r: &LineString<f64>, north: bool) -> Vec<Coord<f64>> {
    r.0.iter()
        .map(|c| {
            let rho = if north { 90.0 - c.y } else { 90.0 + c.y };
            let (s, co) = c.x.to_radians().sin_cos();
            Coord {
                x: rho * co,
                y: rho * s,
            }
        })
        .collect()
}

fn polygon(p: &Polygon<f64>, part: Option<usize>) -> Result<(), String> {
    let prefix = part.map(|i| format!("polygon {i}: ")).unwrap_or_default();
    let ref_lon = p.exterior().0.first().map(|c| c.x).unwrap_or(0.0);
    let shell = unwrap_ring(p.exterior(), ref_lon);
    // A shell whose longitudes do not come back to the start winds around a pole.
    let around_pole = match (shell.first(), shell.last()) {
        (Some(a), Some(b)) => (a.x - b.x).abs() > 1.0,
        _ => false,
    };
    let rings: Vec<Vec<Coord<f64>>> = if around_pole {
        let north = shell.iter().map(|c| c.y).sum::<f64>() > 0.0;
        std::iter::once(p.exterior())
            .chain(p.interiors())
            .map(|r| polar(r, north))
            .collect()
    } else {
        std::iter::once(p.exterior())
            .chain(p.interiors())
            .map(|r| unwrap_ring(r, ref_lon))
            .collect()
    };
    // A vertex repeated in place (common in real data) is no self-intersection:
    // the ring is judged without the repeat (and stored as given).
    let rings: Vec<Vec<Coord<f64>>> = rings
        .into_iter()
        .map(|mut r| {
            r.dedup();
            r
        })
        .collect();
    for (i, r) in rings.iter().enumerate() {
        if let Some((a, b)) = self_crossing(r) {
            let which = if i == 0 {
                "exterior ring".to_string()
            } else {
                format!("hole {i}")
            };
            return Err(format!(
                "{prefix}{which} intersects itself (edges {a} and {b}); a ring must be simple"
            ));
        }
    }
    for (i, hole) in rings.iter().enumerate().skip(1) {
        if let Some(e) = crossing_between(&rings[0], hole) {
            return Err(format!(
                "{prefix}hole {i} crosses the exterior ring (exterior edge {e})"
            ));
        }
        if !point_in_ring(&hole[0], &rings[0]) {
            return Err(format!("{prefix}hole {i} lies outside the exterior ring"));
        }
    }
    Ok(())
}

fn orient(a: &Coord<f64>, b: &Coord<f64>, c: &Coord<f64>) -> f64 {
    (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
}

fn on_segment(a: &Coord<f64>, b: &Coord<f64>, p: &Coord<f64>) -> bool {
    p.x >= a.x.min(b.x) && p.x <= a.x.max(b.x) && p.y >= a.y.min(b.y) && p.y <= a.y.max(b.y)
}

fn segments_intersect(a: &Coord<f64>, b: &Coord<f64>, c: &Coord<f64>, d: &Coord<f64>) -> bool {
    let (d1, d2, d3, d4) = (
        orient(c, d, a),
        orient(c, d, b),
        orient(a, b, c),
        orient(a, b, d),
    );
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    (d1 == 0.0 && on_segment(c, d, a))
        || (d2 == 0.0 && on_segment(c, d, b))
        || (d3 == 0.0 && on_segment(a, b, c))
        || (d4 == 0.0 && on_segment(a, b, d))
}

/// The first pair of non-adjacent edges of a closed ring that touch or cross.
/// Edges are sorted by their smallest x so each is compared only with those it overlaps in x.
fn self_crossing(r: &[Coord<f64>]) -> Option<(usize, usize)> {
    let n = r.len().saturating_sub(1);
    if n < 3 {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    let minx = |i: usize| r[i].x.min(r[i + 1].x);
    let maxx = |i: usize| r[i].x.max(r[i + 1].x);
    order.sort_by(|&a, &b| minx(a).total_cmp(&minx(b)));
    for (k, &i) in order.iter().enumerate() {
        for &j in &order[k + 1..] {
            if minx(j) > maxx(i) {
                break;
            }
            let (lo, hi) = (i.min(j), i.max(j));
            let adjacent = hi == lo + 1 || (lo == 0 && hi == n - 1);
            if adjacent {
                // Adjacent edges share one vertex; they are bad only if they fold back onto each other.
                let (a, b, c) = if hi == lo + 1 {
                    (&r[lo], &r[hi], &r[hi + 1])
                } else {
                    (&r[1], &r[0], &r[n - 1])
                };
                if orient(a, b, c) == 0.0
                    && (c.x - b.x) * (a.x - b.x) + (c.y - b.y) * (a.y - b.y) > 0.0
                {
                    return Some((lo, hi));
                }
                continue;
            }
            if segments_intersect(&r[i], &r[i + 1], &r[j], &r[j + 1]) {
                return Some((lo, hi));
            }
        }
    }
    None
}

fn crossing_between(shell: &[Coord<f64>], hole: &[Coord<f64>]) -> Option<usize> {
    for i in 0..shell.len().saturating_sub(1) {
        for j in 0..hole.len().saturating_sub(1) {
            if segments_intersect(&shell[i], &shell[i + 1], &hole[j], &hole[j + 1]) {
                return Some(i);
            }
        }
    }
    None
}

/// Planar even-odd point-in-ring test.
pub(crate) fn point_in_ring(p: &Coord<f64>, r: &[Coord<f64>]) -> bool {
    let mut inside = false;
    for w in r.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_repeated_consecutive_vertex_was_refused_as_intersecting_itself() {
        let ring = vec![
            (10.0, 50.0),
            (10.1, 50.0),
            (10.1, 50.0),
            (10.1, 50.1),
            (10.0, 50.1),
            (10.0, 50.0),
        ];
        let g: geo_types::Geometry<f64> =
            geo_types::Polygon::new(geo_types::LineString::from(ring), vec![]).into();
        assert_eq!(super::validate_geometry(&g), Ok(()));
        // A real bow-tie is still refused.
        let bow = vec![
            (10.0, 50.0),
            (10.1, 50.1),
            (10.1, 50.0),
            (10.0, 50.1),
            (10.0, 50.0),
        ];
        let g: geo_types::Geometry<f64> =
            geo_types::Polygon::new(geo_types::LineString::from(bow), vec![]).into();
        assert!(super::validate_geometry(&g).is_err());
    }

    use super::*;
    use geo_types::polygon;

    #[test]
    fn bow_tie_is_refused_and_square_accepted() {
        let bow: Geometry<f64> = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0), (x: 1.0, y: 0.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0)].into();
        assert!(validate_geometry(&bow)
            .unwrap_err()
            .0
            .contains("intersects itself"));
        let sq: Geometry<f64> = polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0)].into();
        assert!(validate_geometry(&sq).is_ok());
    }

    #[test]
    fn too_many_vertices_are_refused_by_count() {
        let line: Vec<(f64, f64)> = (0..=MAX_VERTICES).map(|i| (i as f64 * 1e-7, 0.0)).collect();
        let g: Geometry<f64> = LineString::from(line).into();
        assert!(validate_geometry(&g).unwrap_err().0.contains("vertices"));
    }

    #[test]
    fn holes_must_lie_inside() {
        let p: Geometry<f64> = polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 4.0), (x: 0.0, y: 4.0), (x: 0.0, y: 0.0)],
            interiors: [[(x: 5.0, y: 1.0), (x: 6.0, y: 1.0), (x: 6.0, y: 2.0), (x: 5.0, y: 1.0)]],
        ).into();
        assert!(validate_geometry(&p).unwrap_err().0.contains("outside"));
    }

    #[test]
    fn ring_around_the_pole_is_simple() {
        let ring: Vec<(f64, f64)> = (0..=8).map(|i| (-180.0 + 45.0 * i as f64, 88.0)).collect();
        let p: Geometry<f64> = Polygon::new(LineString::from(ring), vec![]).into();
        assert_eq!(validate_geometry(&p), Ok(()));
    }

    #[test]
    fn antimeridian_square_is_simple() {
        let p: Geometry<f64> = polygon![(x: 179.0, y: 0.0), (x: -179.0, y: 0.0), (x: -179.0, y: 1.0), (x: 179.0, y: 1.0), (x: 179.0, y: 0.0)].into();
        assert!(validate_geometry(&p).is_ok());
    }
}
