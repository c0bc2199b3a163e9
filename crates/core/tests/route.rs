//! Where along a route a site is within reach, against a brute-force walk:
//! every leg walked every few metres with GeographicLib's direct problem and
//! each point measured to the site (GeographicLib for points, the testkit's
//! densified oracle for polygons), on routes placed at the poles, across
//! ±180° and anywhere.

#![allow(clippy::unwrap_used)]

use geo_types::{Geometry, LineString, Point, Polygon};
use geographiclib_rs::{DirectGeodesic, InverseGeodesic};
use nostrike_core::{route_reach, Shape};
use nostrike_testkit::{g, go, parts, place, star};
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng};

/// Slack for the oracle's own error and the reach's tolerance (metres).
const SLACK: f64 = 0.25;

#[test]
fn route_stretches_and_closest_approach_match_a_brute_force_walk() {
    let mut rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let geod = g();
    let mut stretches = 0;
    for case in 0..40 {
        let start = place(&mut rng);
        let legs = rng.random_range(1..4);
        let mut pts = vec![start];
        for _ in 0..legs {
            let last = *pts.last().unwrap();
            pts.push(go(
                last,
                rng.random_range(0.0..360.0),
                rng.random_range(300.0..4_000.0),
            ));
        }
        let route = LineString::from(pts.clone());
        // The site: near the route's middle, a point or a small polygon.
        let mid = go(
            pts[legs / 2],
            rng.random_range(0.0..360.0),
            rng.random_range(0.0..3_000.0),
        );
        let r = rng.random_range(50.0..600.0);
        let site: Geometry<f64> = if case % 2 == 0 {
            Point::new(mid.0, mid.1).into()
        } else {
            Polygon::new(star(&mut rng, mid, r, 5, 0.0), vec![]).into()
        };
        let required = rng.random_range(50.0..2_500.0);
        let reach = route_reach(&route, &Shape::new(&site).unwrap(), required).unwrap();
        let site_parts = parts(&site);
        let dist = |p: (f64, f64)| -> f64 {
            match &site {
                Geometry::Point(q) => {
                    let s: f64 = geod.inverse(p.1, p.0, q.y(), q.x());
                    s
                }
                _ if site_parts.contains(p) => 0.0,
                _ => site_parts.dist_from(p),
            }
        };
        // Walk every leg every 2 m.
        let mut offset = 0.0;
        let mut min = (f64::INFINITY, 0.0);
        let mut samples = Vec::new();
        for w in pts.windows(2) {
            let (len, azi, _, _): (f64, f64, f64, f64) =
                geod.inverse(w[0].1, w[0].0, w[1].1, w[1].0);
            let n = (len / 2.0).ceil() as usize;
            for k in 0..=n {
                let s = len * k as f64 / n as f64;
                let (lat, lon): (f64, f64) = geod.direct(w[0].1, w[0].0, azi, s);
                let d = dist((lon, lat));
                samples.push((offset + s, d));
                if d < min.0 {
                    min = (d, offset + s);
                }
            }
            offset += len;
        }
        assert!(
            (reach.route_length_m - offset).abs() < 1e-3 * offset.max(1.0),
            "length"
        );
        let covered = |t: f64, margin: f64| {
            reach
                .within_required
                .iter()
                .any(|[a, b]| t >= a - margin && t <= b + margin)
        };
        for &(t, d) in &samples {
            // No stretch missed: every point within the required distance is covered.
            if d <= required - SLACK {
                assert!(
                    covered(t, 1e-6),
                    "case {case}: {t} m along ({d} m) not covered: {:?}",
                    reach.within_required
                );
            }
            // No stretch invented: a point well inside a stretch is within reach.
            if d > required + SLACK {
                assert!(
                    !covered(t, -SLACK),
                    "case {case}: {t} m along ({d} m) covered: {:?}",
                    reach.within_required
                );
            }
        }
        // The closest approach is where the walk found the least distance.
        let (lon_lat, _) = point_along(&pts, reach.along_route_m);
        assert!(
            dist(lon_lat) <= min.0 + SLACK,
            "case {case}: closest approach {} vs walk {:?}",
            reach.along_route_m,
            min
        );
        stretches += reach.within_required.len();
    }
    assert!(stretches > 10, "only {stretches} stretches in all cases");
}

/// The point `t` metres along the route's geodesic legs.
fn point_along(pts: &[(f64, f64)], mut t: f64) -> ((f64, f64), usize) {
    let geod = g();
    for (i, w) in pts.windows(2).enumerate() {
        let (len, azi, _, _): (f64, f64, f64, f64) = geod.inverse(w[0].1, w[0].0, w[1].1, w[1].0);
        if t <= len || i == pts.len() - 2 {
            let (lat, lon): (f64, f64) = geod.direct(w[0].1, w[0].0, azi, t.min(len));
            return ((lon, lat), i);
        }
        t -= len;
    }
    (pts[0], 0)
}
