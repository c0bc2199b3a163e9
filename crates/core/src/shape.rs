//! Validated geometry prepared for geodesic distance: vertices with their
//! Earth-centred positions, geodesic edges, polygon containment and the
//! exact minimum distance between two shapes.

use geo_types::{Coord, Geometry, LineString, Polygon};

use crate::geodesy::{
    self, chord, interior_bulge_m, wrap180, Aabb, Edge, Vertex, MIN_RADIUS_OF_CURVATURE_M,
};

/// Why a geometry cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeometryError {
    /// A coordinate is NaN or infinite.
    #[error("coordinate {index} is not a finite number ({lon}, {lat})")]
    NonFinite {
        /// Position of the coordinate in the geometry (0-based, all parts counted).
        index: usize,
        /// Longitude found.
        lon: f64,
        /// Latitude found.
        lat: f64,
    },
    /// Longitude outside [-180, 180] or latitude outside [-90, 90].
    #[error("coordinate {index} is out of range: lon {lon}, lat {lat} (need -180..180, -90..90)")]
    OutOfRange {
        /// Position of the coordinate in the geometry (0-based, all parts counted).
        index: usize,
        /// Longitude found.
        lon: f64,
        /// Latitude found.
        lat: f64,
    },
    /// The geometry has no coordinates at all.
    #[error("empty geometry")]
    Empty,
    /// A line has fewer than two positions.
    #[error("line {part} has {count} position(s); a line needs at least 2")]
    ShortLine {
        /// Index of the line among the geometry's lines.
        part: usize,
        /// Positions found.
        count: usize,
    },
    /// A ring has fewer than four positions.
    #[error("ring {ring} of polygon {part} has {count} position(s); a ring needs at least 4")]
    ShortRing {
        /// Index of the polygon.
        part: usize,
        /// Index of the ring in the polygon (0 = exterior).
        ring: usize,
        /// Positions found.
        count: usize,
    },
    /// A polygon too wide for an unambiguous interior.
    #[error("polygon {part} is about {across_km:.0} km across; polygons wider than {max_km:.0} km are not supported (split it)")]
    TooLarge {
        /// Index of the polygon.
        part: usize,
        /// Chord across the polygon's box (km).
        across_km: f64,
        /// The largest supported (km).
        max_km: f64,
    },
    /// A ring's last position is not its first.
    #[error("ring {ring} of polygon {part} is not closed (first and last positions differ)")]
    UnclosedRing {
        /// Index of the polygon.
        part: usize,
        /// Index of the ring in the polygon (0 = exterior).
        ring: usize,
    },
}

/// The widest polygon accepted: the diagonal of its Earth-centred box (metres).
///
/// Within this size a point inside the polygon's box is never near the
/// antipode of the polygon, so the winding of the ring around the point
/// (see `winding`) tells the polygon's own interior from its complement
/// without ambiguity. Wider polygons are refused, never guessed at.
pub const MAX_POLYGON_ACROSS_M: f64 = 0.9 * MIN_RADIUS_OF_CURVATURE_M;

/// A polygon's rings (exterior first, then holes), closed, with a box that
/// holds the polygon's whole surface.
#[derive(Debug, Clone)]
pub(crate) struct PolygonShape {
    pub(crate) rings: Vec<Vec<Vertex>>,
    pub(crate) bbox: Aabb,
}

/// A geometry ready for geodesic checks.
///
/// Points, lines (geodesic edges between consecutive vertices) and polygons
/// (rings of geodesic edges; the interior is the smaller of the two regions
/// a ring bounds, whatever the winding order, and polygons wider than
/// [`MAX_POLYGON_ACROSS_M`] are refused).
#[derive(Debug, Clone)]
pub struct Shape {
    pub(crate) points: Vec<Vertex>,
    pub(crate) lines: Vec<Vec<Vertex>>,
    pub(crate) polygons: Vec<PolygonShape>,
    pub(crate) bbox: Aabb,
    /// Each edge's geodesic length and azimuth ([`Edge::new`]), in the order
    /// of [`Shape::edges`], solved the first time a check needs it and kept:
    /// a site's shape held by the set's cache is solved once for all the
    /// areas that reach it, not once an area (shared by the checking threads).
    pub(crate) solved: Box<[std::sync::OnceLock<[f64; 2]>]>,
}

impl Shape {
    /// The bytes this shape holds (its own and its vertices'), for caches
    /// that keep memory bounded.
    pub fn heap_bytes(&self) -> usize {
        let v = std::mem::size_of::<Vertex>();
        let vecs = |n: usize| n * v + std::mem::size_of::<Vec<Vertex>>();
        std::mem::size_of::<Shape>()
            + self.points.capacity() * v
            + self.lines.iter().map(|l| vecs(l.capacity())).sum::<usize>()
            + self
                .polygons
                .iter()
                .map(|p| {
                    std::mem::size_of::<PolygonShape>()
                        + p.rings.iter().map(|r| vecs(r.capacity())).sum::<usize>()
                })
                .sum::<usize>()
            + std::mem::size_of_val(&*self.solved)
    }
}

/// The nearest points of two shapes and the geodesic distance between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearest {
    /// Geodesic distance (metres); 0 where the shapes touch or overlap.
    pub distance_m: f64,
    /// Nearest point on the first shape.
    pub on_a: Vertex,
    /// Nearest point on the second shape.
    pub on_b: Vertex,
    /// Initial azimuth from `on_a` toward `on_b` (degrees), when it came for free with the distance.
    pub azimuth_deg: Option<f64>,
}

struct Builder {
    shape: Shape,
    count: usize,
}

/// Validate one coordinate (the `index`-th of its geometry) and make it a vertex.
pub(crate) fn checked_vertex(c: &Coord<f64>, index: usize) -> Result<Vertex, GeometryError> {
    let (lon, lat) = (c.x, c.y);
    if !lon.is_finite() || !lat.is_finite() {
        return Err(GeometryError::NonFinite { index, lon, lat });
    }
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(GeometryError::OutOfRange { index, lon, lat });
    }
    Ok(Vertex::new(lon, lat))
}

impl Builder {
    fn vertex(&mut self, c: &Coord<f64>) -> Result<Vertex, GeometryError> {
        self.count += 1;
        checked_vertex(c, self.count - 1)
    }

    fn line(&mut self, ls: &LineString<f64>) -> Result<(), GeometryError> {
        if ls.0.len() < 2 {
            return Err(GeometryError::ShortLine {
                part: self.shape.lines.len(),
                count: ls.0.len(),
            });
        }
        let v =
            ls.0.iter()
                .map(|c| self.vertex(c))
                .collect::<Result<Vec<_>, _>>()?;
        self.shape.lines.push(v);
        Ok(())
    }

    fn polygon(&mut self, p: &Polygon<f64>) -> Result<(), GeometryError> {
        let part = self.shape.polygons.len();
        let mut rings = Vec::with_capacity(1 + p.interiors().len());
        for (ring, ls) in std::iter::once(p.exterior())
            .chain(p.interiors())
            .enumerate()
        {
            if ls.0.is_empty() && ring == 0 {
                return Err(GeometryError::Empty);
            }
            if ls.0.len() < 4 {
                return Err(GeometryError::ShortRing {
                    part,
                    ring,
                    count: ls.0.len(),
                });
            }
            if ls.0.first() != ls.0.last() {
                return Err(GeometryError::UnclosedRing { part, ring });
            }
            rings.push(
                ls.0.iter()
                    .map(|c| self.vertex(c))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        let mut bbox = Aabb::EMPTY;
        for w in rings[0].windows(2) {
            bbox.union(&Edge::aabb(&w[0], &w[1]));
        }
        let across = bbox.diagonal();
        if across > MAX_POLYGON_ACROSS_M {
            return Err(GeometryError::TooLarge {
                part,
                across_km: across / 1000.0,
                max_km: MAX_POLYGON_ACROSS_M / 1000.0,
            });
        }
        let bbox = bbox.expanded(interior_bulge_m(across));
        self.shape.polygons.push(PolygonShape { rings, bbox });
        Ok(())
    }

    fn geometry(&mut self, g: &Geometry<f64>) -> Result<(), GeometryError> {
        match g {
            Geometry::Point(p) => {
                let v = self.vertex(&p.0)?;
                self.shape.points.push(v);
            }
            Geometry::MultiPoint(mp) => {
                for p in &mp.0 {
                    let v = self.vertex(&p.0)?;
                    self.shape.points.push(v);
                }
            }
            Geometry::Line(l) => self.line(&LineString(vec![l.start, l.end]))?,
            Geometry::LineString(ls) => self.line(ls)?,
            Geometry::MultiLineString(m) => {
                for ls in &m.0 {
                    self.line(ls)?;
                }
            }
            Geometry::Polygon(p) => self.polygon(p)?,
            Geometry::MultiPolygon(m) => {
                for p in &m.0 {
                    self.polygon(p)?;
                }
            }
            Geometry::Rect(r) => self.polygon(&r.to_polygon())?,
            Geometry::Triangle(t) => self.polygon(&t.to_polygon())?,
            Geometry::GeometryCollection(c) => {
                for g in &c.0 {
                    self.geometry(g)?;
                }
            }
        }
        Ok(())
    }
}

/// Result of a point-in-polygon test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inside {
    Out,
    In,
    Boundary,
}

impl Shape {
    /// Validate and prepare a geometry (WGS84 lon/lat degrees).
    pub fn new(g: &Geometry<f64>) -> Result<Shape, GeometryError> {
        let mut b = Builder {
            shape: Shape {
                points: vec![],
                lines: vec![],
                polygons: vec![],
                bbox: Aabb::EMPTY,
                solved: Box::new([]),
            },
            count: 0,
        };
        b.geometry(g)?;
        let mut s = b.shape;
        if s.points.is_empty() && s.lines.is_empty() && s.polygons.is_empty() {
            return Err(GeometryError::Empty);
        }
        let mut bbox = Aabb::EMPTY;
        for p in &s.points {
            bbox.add(&p.ecef);
        }
        for l in &s.lines {
            for w in l.windows(2) {
                bbox.union(&Edge::aabb(&w[0], &w[1]));
            }
        }
        for p in &s.polygons {
            bbox.union(&p.bbox);
        }
        s.bbox = bbox;
        s.solved = s.edges().map(|_| std::sync::OnceLock::new()).collect();
        Ok(s)
    }

    /// A single point.
    pub fn point(lon: f64, lat: f64) -> Result<Shape, GeometryError> {
        Shape::new(&Geometry::Point(geo_types::Point::new(lon, lat)))
    }

    /// A box in ECEF coordinates (metres) that holds every point of the shape, interiors included.
    pub fn aabb(&self) -> Aabb {
        self.bbox
    }

    /// The single point, if the shape is exactly one point.
    pub fn as_point(&self) -> Option<&Vertex> {
        match (
            &self.points[..],
            self.lines.is_empty(),
            self.polygons.is_empty(),
        ) {
            ([p], true, true) => Some(p),
            _ => None,
        }
    }

    /// Every vertex: points, line vertices and ring vertices.
    fn vertices(&self) -> impl Iterator<Item = &Vertex> {
        self.points
            .iter()
            .chain(self.lines.iter().flatten())
            .chain(self.polygons.iter().flat_map(|p| p.rings.iter().flatten()))
    }

    /// Every edge as a pair of vertices.
    fn edges(&self) -> impl Iterator<Item = (&Vertex, &Vertex)> {
        self.lines
            .iter()
            .chain(self.polygons.iter().flat_map(|p| p.rings.iter()))
            .flat_map(|r| r.windows(2).map(|w| (&w[0], &w[1])))
    }

    /// One vertex of each connected part: if a part of one shape lies
    /// inside the other shape without any edges crossing, this vertex is inside.
    pub(crate) fn representatives(&self) -> impl Iterator<Item = &Vertex> {
        self.points
            .iter()
            .chain(self.lines.iter().map(|l| &l[0]))
            .chain(self.polygons.iter().map(|p| &p.rings[0][0]))
    }

    /// Whether `v` is inside or on the boundary of one of the shape's polygons.
    pub fn contains(&self, v: &Vertex) -> bool {
        self.polygons
            .iter()
            .any(|p| polygon_contains(p, v) != Inside::Out)
    }
}

/// Winding of `ring` around `p` in turns, from the geodesic azimuths at `p`
/// to each vertex. Each edge subtends less than 180° as seen from a point
/// off it (geodesics from `p` meet a short geodesic edge at most once), so
/// the wrapped azimuth differences add up to the true winding: ±1 inside, 0
/// outside. A point on a vertex, or seeing an edge at 180° (on the edge to
/// within rounding), is on the boundary.
///
/// The azimuths come from the local frame at `p` when every vertex is
/// within the short range ([`geodesy::TangentFrame::azimuth_to`], within
/// 1e-5° of the geodesic azimuths): then each wrapped difference is within
/// 2e-5° of the exact one, and as long as none comes within 1° of ±180° the
/// sum, a whole number of turns, rounds to the same winding. Otherwise (a
/// far vertex, or `p` within 1° of seeing an edge edge-on, i.e. very near
/// the boundary) every azimuth is solved exactly.
fn winding(ring: &[Vertex], p: &Vertex) -> Result<i32, Inside> {
    winding_short(ring, p).unwrap_or_else(|| winding_exact(ring, p))
}

fn winding_short(ring: &[Vertex], p: &Vertex) -> Option<Result<i32, Inside>> {
    let frame = geodesy::TangentFrame::at(p);
    let mut total = 0.0;
    let mut prev: Option<f64> = None;
    for v in ring {
        if chord(&v.ecef, &p.ecef) < 1e-6 {
            return Some(Err(Inside::Boundary));
        }
        let azi = frame.azimuth_to(v)?;
        if let Some(prev) = prev {
            let d = wrap180(azi - prev);
            if d.abs() > 179.0 {
                return None;
            }
            total += d;
        }
        prev = Some(azi);
    }
    Some(Ok((total / 360.0).round() as i32))
}

fn winding_exact(ring: &[Vertex], p: &Vertex) -> Result<i32, Inside> {
    let mut total = 0.0;
    let mut prev: Option<f64> = None;
    for v in ring {
        if chord(&v.ecef, &p.ecef) < 1e-6 {
            return Err(Inside::Boundary);
        }
        let azi = geodesy::azimuth(p, v);
        if let Some(prev) = prev {
            let d = wrap180(azi - prev);
            if d.abs() > 179.999_999 {
                return Err(Inside::Boundary);
            }
            total += d;
        }
        prev = Some(azi);
    }
    Ok((total / 360.0).round() as i32)
}

fn polygon_contains(poly: &PolygonShape, p: &Vertex) -> Inside {
    if poly.bbox.distance_to_point(&p.ecef) > 0.0 {
        return Inside::Out;
    }
    match winding(&poly.rings[0], p) {
        Err(b) => return b,
        Ok(0) => return Inside::Out,
        Ok(_) => {}
    }
    for hole in &poly.rings[1..] {
        match winding(hole, p) {
            Err(b) => return b,
            Ok(0) => {}
            Ok(_) => return Inside::Out,
        }
    }
    Inside::In
}

/// A shape's edges with their boxes, each solved on first use (and kept in
/// the shape: [`Shape::solved`]).
struct EdgeCache<'a> {
    raw: Vec<(&'a Vertex, &'a Vertex, Aabb)>,
    shape: &'a Shape,
}

impl<'a> EdgeCache<'a> {
    fn new(s: &'a Shape) -> Self {
        let raw: Vec<_> = s.edges().map(|(a, b)| (a, b, Edge::aabb(a, b))).collect();
        EdgeCache { raw, shape: s }
    }

    fn get(&mut self, i: usize) -> Edge {
        let (a, b) = (*self.raw[i].0, *self.raw[i].1);
        let [len_m, azi_deg] = *self.shape.solved[i].get_or_init(|| {
            let e = Edge::new(a, b);
            [e.len_m, e.azi_deg]
        });
        Edge {
            a,
            b,
            len_m,
            azi_deg,
        }
    }
}

/// The exact geodesic minimum distance between two shapes, and the points
/// that attain it, when it is at most `limit_m`; `None` when it is more.
///
/// The shapes are at distance 0 when a part of one lies inside a polygon of
/// the other or an edge of one crosses an edge of the other. Otherwise the
/// minimum is attained between a vertex of one shape and a point or edge of
/// the other (two geodesic edges that do not cross come closest at an end
/// of one of them), and every such pair whose Earth-centred lower bound is
/// within reach is solved exactly.
///
/// # Units
/// metres
pub fn distance_within(a: &Shape, b: &Shape, limit_m: f64) -> Option<Nearest> {
    if a.bbox.distance_to_box(&b.bbox) > limit_m {
        return None;
    }
    if let (Some(p), Some(q)) = (a.as_point(), b.as_point()) {
        if chord(&p.ecef, &q.ecef) > limit_m {
            return None;
        }
        let d = geodesy::distance(p, q);
        return (d <= limit_m).then_some(Nearest {
            distance_m: d,
            on_a: *p,
            on_b: *q,
            azimuth_deg: None,
        });
    }
    for r in a.representatives() {
        if b.contains(r) {
            return Some(Nearest {
                distance_m: 0.0,
                on_a: *r,
                on_b: *r,
                azimuth_deg: None,
            });
        }
    }
    for r in b.representatives() {
        if a.contains(r) {
            return Some(Nearest {
                distance_m: 0.0,
                on_a: *r,
                on_b: *r,
                azimuth_deg: None,
            });
        }
    }
    let mut ea = EdgeCache::new(a);
    let mut eb = EdgeCache::new(b);
    for i in 0..ea.raw.len() {
        if ea.raw[i].2.distance_to_box(&b.bbox) > 0.0 {
            continue;
        }
        for j in 0..eb.raw.len() {
            if ea.raw[i].2.distance_to_box(&eb.raw[j].2) > 0.0 {
                continue;
            }
            let (e1, e2) = (ea.get(i), eb.get(j));
            if let Some(x) = e1.crossing(&e2) {
                return Some(Nearest {
                    distance_m: 0.0,
                    on_a: x,
                    on_b: x,
                    azimuth_deg: None,
                });
            }
        }
    }
    let mut best: Option<Nearest> = None;
    let mut reach = limit_m;
    let mut consider = |d: f64, on_a: Vertex, on_b: Vertex, reach: &mut f64| {
        if d <= *reach {
            *reach = d;
            best = Some(Nearest {
                distance_m: d,
                on_a,
                on_b,
                azimuth_deg: None,
            });
        }
    };
    // Vertex to vertex first: each is a true distance between points of the
    // shapes, so the smallest bounds the minimum from above and lets edges
    // whose boxes lie farther be skipped. Edges are then solved nearest box first.
    for p in a.vertices() {
        if b.bbox.distance_to_point(&p.ecef) > reach {
            continue;
        }
        for q in b.vertices() {
            if chord(&p.ecef, &q.ecef) <= reach {
                consider(geodesy::distance(p, q), *p, *q, &mut reach);
            }
        }
    }
    let mut order: Vec<(f64, usize)> = Vec::new();
    for p in a.vertices() {
        if b.bbox.distance_to_point(&p.ecef) > reach {
            continue;
        }
        nearest_first(&eb.raw, &p.ecef, reach, &mut order);
        for &(lower, j) in &order {
            if lower > reach {
                break;
            }
            let (x, d, _) = eb.get(j).nearest_to(p);
            consider(d, *p, x, &mut reach);
        }
    }
    for q in b.vertices() {
        if a.bbox.distance_to_point(&q.ecef) > reach {
            continue;
        }
        nearest_first(&ea.raw, &q.ecef, reach, &mut order);
        for &(lower, i) in &order {
            if lower > reach {
                break;
            }
            let (x, d, _) = ea.get(i).nearest_to(q);
            consider(d, x, *q, &mut reach);
        }
    }
    best
}

/// The edges whose boxes lie within `reach` of `p`, as (lower bound, index), nearest first.
fn nearest_first(
    edges: &[(&Vertex, &Vertex, Aabb)],
    p: &[f64; 3],
    reach: f64,
    out: &mut Vec<(f64, usize)>,
) {
    out.clear();
    out.extend(
        edges
            .iter()
            .enumerate()
            .map(|(j, e)| (e.2.distance_to_point(p), j))
            .filter(|(lower, _)| *lower <= reach),
    );
    out.sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
}

/// [`distance_within`] for a shape and a single vertex `q` (the second shape).
///
/// # Units
/// metres
pub fn distance_to_vertex_within(a: &Shape, q: &Vertex, limit_m: f64) -> Option<Nearest> {
    if a.bbox.distance_to_point(&q.ecef) > limit_m {
        return None;
    }
    if let Some(p) = a.as_point() {
        // Point to point, the commonest case: the distance first, the
        // bearing only for a hit.
        let (d, azi) = match geodesy::short_distance(p, q) {
            Some(d) if d > limit_m => return None,
            Some(d) => (d, geodesy::short_azimuth(p, q)),
            None => geodesy::distance_azimuth(p, q),
        };
        return (d <= limit_m).then_some(Nearest {
            distance_m: d,
            on_a: *p,
            on_b: *q,
            azimuth_deg: Some(azi),
        });
    }
    if a.contains(q) {
        return Some(Nearest {
            distance_m: 0.0,
            on_a: *q,
            on_b: *q,
            azimuth_deg: None,
        });
    }
    let mut best: Option<Nearest> = None;
    let mut reach = limit_m;
    // Every vertex first (a true distance each, bounding the minimum from
    // above), then the edges whose boxes lie within that bound, nearest first.
    for p in a.vertices() {
        if chord(&p.ecef, &q.ecef) <= reach {
            let d = geodesy::distance(p, q);
            if d <= reach {
                reach = d;
                best = Some(Nearest {
                    distance_m: d,
                    on_a: *p,
                    on_b: *q,
                    azimuth_deg: None,
                });
            }
        }
    }
    let edges: Vec<(&Vertex, &Vertex, Aabb)> =
        a.edges().map(|(u, v)| (u, v, Edge::aabb(u, v))).collect();
    let mut order = Vec::new();
    nearest_first(&edges, &q.ecef, reach, &mut order);
    for (lower, j) in order {
        if lower > reach {
            break;
        }
        let (x, d, _) = Edge::new(*edges[j].0, *edges[j].1).nearest_to(q);
        if d <= reach {
            reach = d;
            best = Some(Nearest {
                distance_m: d,
                on_a: x,
                on_b: *q,
                azimuth_deg: None,
            });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{line_string, point, polygon};

    fn sq(lon: f64, lat: f64, h: f64) -> Polygon<f64> {
        polygon![(x: lon - h, y: lat - h), (x: lon + h, y: lat - h), (x: lon + h, y: lat + h), (x: lon - h, y: lat + h), (x: lon - h, y: lat - h)]
    }

    /// Shapes held by a set's cache keep their solved edges from one check
    /// to the next: each pair's distance and nearest points are those of
    /// fresh shapes, whichever checks solved which edges before.
    #[test]
    fn a_shape_reused_across_checks_measures_as_a_fresh_one() {
        let mut next = crate::uniform(0x05EE_D0FE_D6E5);
        let geoms: Vec<Geometry<f64>> = (0..40)
            .map(|i| {
                let (lon, lat) = (10.0 + next() * 0.2, 50.0 + next() * 0.2);
                let h = 0.002 + next() * 0.01;
                if i % 3 == 0 {
                    line_string![(x: lon, y: lat), (x: lon + h, y: lat + h / 2.0), (x: lon + 2.0 * h, y: lat - h)].into()
                } else {
                    let n = 3 + i % 7;
                    let ring: Vec<(f64, f64)> = (0..=n)
                        .map(|k| {
                            let t = std::f64::consts::TAU * (k % n) as f64 / n as f64;
                            let r = h * (0.6 + 0.4 * ((k * 7919) % 5) as f64 / 4.0);
                            (lon + r * t.cos(), lat + r * t.sin())
                        })
                        .collect();
                    Polygon::new(ring.into(), vec![]).into()
                }
            })
            .collect();
        let kept: Vec<Shape> = geoms.iter().map(|g| Shape::new(g).unwrap()).collect();
        let mut met = 0;
        for round in 0..3 {
            for i in 0..geoms.len() {
                for j in 0..geoms.len() {
                    let (i, j) = (
                        (i * 7 + round) % geoms.len(),
                        (j * 11 + round) % geoms.len(),
                    );
                    let fresh = distance_within(
                        &Shape::new(&geoms[i]).unwrap(),
                        &Shape::new(&geoms[j]).unwrap(),
                        5_000.0,
                    );
                    let reused = distance_within(&kept[i], &kept[j], 5_000.0);
                    assert_eq!(reused, fresh, "shapes {i} and {j}, round {round}");
                    met += usize::from(fresh.is_some_and(|n| n.distance_m > 0.0));
                }
            }
        }
        assert!(met > 1000, "{met} pairs apart and within reach");
    }

    #[test]
    fn rejects_invalid_geometry() {
        let bad: Vec<(Geometry<f64>, &str)> = vec![
            (point!(x: f64::NAN, y: 0.0).into(), "finite"),
            (point!(x: 181.0, y: 0.0).into(), "range"),
            (point!(x: 0.0, y: -90.5).into(), "range"),
            (line_string![(x: 0.0, y: 0.0)].into(), "at least 2"),
            (
                Polygon::new(
                    line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 0.0, y: 0.0)],
                    vec![],
                )
                .into(),
                "at least 4",
            ),
            (geo_types::MultiPoint::<f64>(vec![]).into(), "empty"),
        ];
        for (g, needle) in bad {
            let e = Shape::new(&g).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
        // geo_types closes rings on construction, so an unclosed ring can only
        // come from raw input; the formats layer checks it before conversion.
    }

    #[test]
    fn containment_with_hole_and_either_winding() {
        let outer = sq(10.0, 50.0, 1.0);
        let mut hole = sq(10.0, 50.0, 0.2).exterior().clone();
        hole.0.reverse();
        let p = Polygon::new(outer.exterior().clone(), vec![hole]);
        let s = Shape::new(&p.into()).unwrap();
        assert!(s.contains(&Vertex::new(10.5, 50.5)));
        assert!(!s.contains(&Vertex::new(10.0, 50.0)), "in the hole");
        assert!(!s.contains(&Vertex::new(12.0, 50.0)));
        let mut rev = sq(10.0, 50.0, 1.0);
        rev.exterior_mut(|r| r.0.reverse());
        assert!(Shape::new(&rev.into())
            .unwrap()
            .contains(&Vertex::new(10.5, 50.5)));
    }

    #[test]
    fn polygon_around_the_pole_and_across_the_antimeridian() {
        let ring: Vec<(f64, f64)> = (0..=8).map(|i| (-180.0 + 45.0 * i as f64, 88.0)).collect();
        let p = Polygon::new(LineString::from(ring), vec![]);
        let s = Shape::new(&p.into()).unwrap();
        assert!(s.contains(&Vertex::new(0.0, 90.0)));
        assert!(s.contains(&Vertex::new(123.0, 89.5)));
        assert!(!s.contains(&Vertex::new(123.0, 87.0)));
        let am = polygon![(x: 179.0, y: -1.0), (x: -179.0, y: -1.0), (x: -179.0, y: 1.0), (x: 179.0, y: 1.0), (x: 179.0, y: -1.0)];
        let s = Shape::new(&am.into()).unwrap();
        assert!(s.contains(&Vertex::new(180.0, 0.0)));
        assert!(s.contains(&Vertex::new(-179.5, 0.5)));
        assert!(!s.contains(&Vertex::new(0.0, 0.0)));
    }

    /// The short-range winding, whenever it answers, agrees with the exact
    /// one: random small rings (poles, the ±180° meridian, metre to
    /// kilometre scale) and points inside, outside and a hair from edges.
    #[test]
    fn short_range_winding_agrees_with_the_exact_winding() {
        use geographiclib_rs::DirectGeodesic;
        let mut next = crate::uniform(0x9E37_79B9_7F4A_7C15);
        let g = geographiclib_rs::Geodesic::wgs84();
        let (mut fast, mut total) = (0, 0);
        for i in 0..20_000 {
            let lat = match i % 4 {
                0 => 90.0 - next() * 0.01,
                1 => -90.0 + next() * 2.0,
                _ => next() * 170.0 - 85.0,
            };
            let lon = if i % 3 == 0 {
                179.999 + next() * 0.002
            } else {
                next() * 360.0
            };
            let lon = wrap180(lon);
            let r = 10f64.powf(next() * 4.0); // 1 m .. 10 km
            let n = 3 + (next() * 6.0) as usize;
            let mut ring: Vec<Vertex> = (0..n)
                .map(|k| {
                    let azi = 360.0 * (k as f64 + next() * 0.8) / n as f64;
                    let (la, lo): (f64, f64) = g.direct(lat, lon, azi, r * (0.3 + next()));
                    Vertex::new(wrap180(lo), la)
                })
                .collect();
            ring.push(ring[0]);
            // Test points: near the centre, far out, and just off an edge's midpoint.
            let k = (next() * n as f64) as usize % n;
            let (a, b) = (ring[k], ring[k + 1]);
            let (len, azi1, _) = geodesy::inverse(&a, &b);
            let (mla, mlo, mazi): (f64, f64, f64) = g.direct(a.lat, a.lon, azi1, len / 2.0);
            let off = [1e-4, 1e-2, 1.0][(next() * 3.0) as usize % 3];
            let side = if next() < 0.5 { 90.0 } else { -90.0 };
            let (pla, plo): (f64, f64) = g.direct(mla, mlo, mazi + side, off);
            let (cla, clo): (f64, f64) = g.direct(lat, lon, next() * 360.0, r * next() * 0.2);
            let (fla, flo): (f64, f64) = g.direct(lat, lon, next() * 360.0, r * 3.0);
            for (la, lo) in [(pla, plo), (cla, clo), (fla, flo)] {
                let p = Vertex::new(wrap180(lo), la);
                total += 1;
                if let Some(w) = winding_short(&ring, &p) {
                    fast += 1;
                    assert_eq!(w, winding_exact(&ring, &p), "ring {ring:?} point {p:?}");
                }
            }
        }
        assert!(
            fast * 10 > total * 6,
            "the short path answered only {fast} of {total}"
        );
    }

    #[test]
    fn distances_between_shapes() {
        let poly = Shape::new(&sq(0.0, 0.0, 1.0).into()).unwrap();
        let inside = Shape::point(0.5, 0.5).unwrap();
        assert_eq!(
            distance_within(&inside, &poly, 0.0).unwrap().distance_m,
            0.0
        );
        let out = Shape::point(2.0, 0.0).unwrap();
        let d = distance_within(&out, &poly, 1e6).unwrap();
        let expect = geodesy::distance(&Vertex::new(2.0, 0.0), &Vertex::new(1.0, 0.0));
        // The nearest point of the edge lon = 1 is close to, not exactly at, (1, 0).
        assert!(
            (d.distance_m - expect).abs() < 1.0,
            "{} vs {expect}",
            d.distance_m
        );
        assert!(d.distance_m <= expect);
        assert!(distance_within(&out, &poly, d.distance_m - 0.01).is_none());
        let route = Shape::new(&line_string![(x: -3.0, y: 0.3), (x: 3.0, y: 0.2)].into()).unwrap();
        assert_eq!(distance_within(&route, &poly, 0.0).unwrap().distance_m, 0.0);
    }
}
