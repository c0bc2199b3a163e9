//! Where along a route a site comes within reach: the leg of the closest
//! approach, its distance from the route's start, and every stretch of the
//! route that lies within the site's required distance — all on the route's
//! geodesic legs.
//!
//! The stretches are found by marching along each leg. The distance from a
//! point of the leg to the site changes by at most the arc length moved
//! (it is 1-Lipschitz), so from a point `m` metres outside the required
//! distance no point within the next `m` metres can be inside it, and from a
//! point `m` metres inside, every point within the next `m` metres is
//! inside: each step of `|m|` (at least [`TOLERANCE_M`]) skips nothing. A
//! point within [`TOLERANCE_M`] of the boundary counts as inside, so a
//! stretch is reported at most that much wider than it is, never narrower.

use geo_types::LineString;

use crate::geodesy::{distance, Aabb, Edge, Vertex};
use crate::shape::{
    checked_vertex, distance_to_vertex_within, distance_within, GeometryError, Shape,
};

/// How close to the required distance a point of the route counts as within it (metres).
pub const TOLERANCE_M: f64 = 0.01;

/// Marching steps allowed per leg before the rest of the leg is reported as
/// within the required distance (conservative; see [`RouteReach::capped`]).
const MAX_STEPS_PER_LEG: usize = 200_000;

/// Where along a route a site comes within reach.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteReach {
    /// The leg (0-based segment index) of the closest approach.
    pub leg: usize,
    /// Distance along the route from its start to the closest approach (metres).
    pub along_route_m: f64,
    /// The stretches of the route within the required distance, as
    /// `[from, to]` metres along the route, in order and disjoint.
    pub within_required: Vec<[f64; 2]>,
    /// The route's length (metres).
    pub route_length_m: f64,
    /// A leg needed more marching steps than allowed and its rest was
    /// reported as within the required distance (never less).
    pub capped: bool,
}

/// A route prepared once for many sites: its validated vertices, its
/// geodesic legs and its shape.
#[derive(Debug, Clone)]
pub struct Route {
    vertices: Vec<Vertex>,
    edges: Vec<Edge>,
    /// Each leg's Earth-centred box ([`Edge::aabb`]).
    boxes: Vec<Aabb>,
    line: Shape,
}

impl Route {
    /// Validate a route (lon/lat degrees; its legs are geodesics).
    pub fn new(route: &LineString<f64>) -> Result<Route, GeometryError> {
        let vertices = route
            .0
            .iter()
            .enumerate()
            .map(|(i, c)| checked_vertex(c, i))
            .collect::<Result<Vec<Vertex>, _>>()?;
        let edges = vertices.windows(2).map(|p| Edge::new(p[0], p[1])).collect();
        let boxes = vertices
            .windows(2)
            .map(|p| Edge::aabb(&p[0], &p[1]))
            .collect();
        let line = Shape::new(&geo_types::Geometry::LineString(route.clone()))?;
        Ok(Route {
            vertices,
            edges,
            boxes,
            line,
        })
    }

    /// Where along the route `site` comes within `required_m` metres.
    pub fn reach(&self, site: &Shape, required_m: f64) -> RouteReach {
        self.reach_marching(site, required_m, true)
    }

    /// [`Route::reach`]; with `skip_far_legs`, a leg whose box lies so far
    /// from the site's that no point of it can be within the required
    /// distance (a chord is never longer than the geodesic it spans) is not
    /// marched along: marching it would find no stretch, and its steps, each
    /// at least that gap, would stay far under the cap. The same answer
    /// either way (tested); the skip spares the route's far legs the
    /// distances a march computes.
    fn reach_marching(&self, site: &Shape, required_m: f64, skip_far_legs: bool) -> RouteReach {
        let dist = |p: &Vertex| match site.as_point() {
            Some(q) => distance(p, q),
            None => distance_to_vertex_within(site, p, f64::INFINITY)
                .map_or(f64::INFINITY, |n| n.distance_m),
        };
        let mut out = RouteReach {
            leg: 0,
            along_route_m: 0.0,
            within_required: Vec::new(),
            route_length_m: 0.0,
            capped: false,
        };
        if let [only] = self.vertices[..] {
            if dist(&only) <= required_m + TOLERANCE_M {
                out.within_required.push([0.0, 0.0]);
            }
            return out;
        }
        // The closest approach: the route's nearest point to the site, placed
        // on the leg it lies on.
        let nearest = distance_within(&self.line, site, f64::INFINITY).map(|n| n.on_a);
        let mut best = f64::INFINITY;
        let mut offset = 0.0;
        for (leg, edge) in self.edges.iter().enumerate() {
            if let Some(q) = &nearest {
                let (_, d, s) = edge.nearest_to(q);
                if d < best {
                    (best, out.leg, out.along_route_m) = (d, leg, offset + s);
                }
            }
            // A metre of margin over the rounding of the distances marched.
            let gap = self.boxes[leg].distance_to_box(&site.bbox) - required_m;
            if skip_far_legs
                && gap > TOLERANCE_M + 1.0
                && gap * (MAX_STEPS_PER_LEG / 2) as f64 >= edge.len_m
            {
                offset += edge.len_m;
                continue;
            }
            let mut s = 0.0;
            let mut inside_from: Option<f64> = None;
            let mut steps = 0usize;
            let line = edge.line();
            loop {
                let (p, _) = line.point_at(s);
                let m = dist(&p) - required_m;
                let inside = m <= TOLERANCE_M;
                match (inside, inside_from) {
                    (true, None) => inside_from = Some(s),
                    (false, Some(from)) => {
                        push(&mut out.within_required, offset + from, offset + s);
                        inside_from = None;
                    }
                    _ => {}
                }
                if s >= edge.len_m {
                    break;
                }
                steps += 1;
                if steps > MAX_STEPS_PER_LEG {
                    out.capped = true;
                    inside_from = inside_from.or(Some(s));
                    break;
                }
                s = (s + m.abs().max(TOLERANCE_M)).min(edge.len_m);
            }
            if let Some(from) = inside_from {
                push(&mut out.within_required, offset + from, offset + edge.len_m);
            }
            offset += edge.len_m;
        }
        out.route_length_m = offset;
        out
    }
}

/// Where along `route` (lon/lat degrees, geodesic legs) the `site` comes
/// within `required_m` metres: [`Route::new`] then [`Route::reach`].
pub fn route_reach(
    route: &LineString<f64>,
    site: &Shape,
    required_m: f64,
) -> Result<RouteReach, GeometryError> {
    Ok(Route::new(route)?.reach(site, required_m))
}

/// Append a stretch, merged with the last one when they touch.
fn push(v: &mut Vec<[f64; 2]>, from: f64, to: f64) {
    if let Some(last) = v.last_mut() {
        if from <= last[1] + TOLERANCE_M {
            last[1] = last[1].max(to);
            return;
        }
    }
    v.push([from, to]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the march along every leg. Routes of 2 to 9 legs of 50 m to
    /// 30 km, and point, line and polygon sites near them, far from them
    /// and on them, at required distances of 10 m to 8 km.
    #[test]
    fn skipping_far_legs_changes_no_reach() {
        let mut next = crate::uniform(0x0A0B_0C0D_0E0F_1234);
        let (mut within, mut skipped_some) = (0, 0);
        for i in 0..400 {
            let (lon, lat) = (next() * 340.0 - 170.0, next() * 140.0 - 70.0);
            let legs = 2 + i % 8;
            let mut pts = vec![(lon, lat)];
            for _ in 0..legs {
                let &(x0, y0) = pts.last().unwrap();
                let len_deg = 10f64.powf(-3.3 + next() * 2.6);
                let t = next() * std::f64::consts::TAU;
                pts.push((
                    x0 + len_deg * t.cos(),
                    (y0 + len_deg * t.sin()).clamp(-80.0, 80.0),
                ));
            }
            let route = Route::new(&LineString::from(pts.clone())).unwrap();
            let (sx, sy) = pts[(i * 7) % pts.len()];
            let (sx, sy) = (sx + (next() - 0.5) * 0.05, sy + (next() - 0.5) * 0.05);
            let h = 0.001 + next() * 0.01;
            let site = match i % 3 {
                0 => Shape::point(sx, sy).unwrap(),
                1 => Shape::new(&geo_types::Geometry::LineString(LineString::from(vec![
                    (sx, sy),
                    (sx + h, sy + h),
                ])))
                .unwrap(),
                _ => Shape::new(&geo_types::Geometry::Polygon(geo_types::Polygon::new(
                    LineString::from(vec![(sx, sy), (sx + h, sy), (sx + h, sy + h), (sx, sy)]),
                    vec![],
                )))
                .unwrap(),
            };
            let required = 10f64.powf(1.0 + next() * 2.9);
            let all = route.reach_marching(&site, required, false);
            let skipping = route.reach_marching(&site, required, true);
            assert_eq!(skipping, all, "route {i}");
            within += usize::from(!all.within_required.is_empty());
            skipped_some += usize::from(
                route
                    .boxes
                    .iter()
                    .any(|b| b.distance_to_box(&site.bbox) - required > TOLERANCE_M + 1.0),
            );
        }
        assert!(
            within > 50 && skipped_some > 100,
            "{within} within, {skipped_some} with far legs"
        );
    }
}
