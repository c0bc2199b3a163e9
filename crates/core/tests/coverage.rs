//! Coverage against a brute-force oracle: a point area is covered by a
//! polygon exactly when the testkit's winding test puts it inside and its
//! densified GeographicLib distance to every ring is more than the reach —
//! on polygons with holes placed at the poles, across ±180° and anywhere.

#![allow(clippy::unwrap_used)]

use geo_types::{Geometry, Polygon};
use nostrike_core::{Coverage, Shape};
use nostrike_testkit::{go, parts, place, star, tol};
use proptest::prelude::*;
use proptest::test_runner::{RngAlgorithm, TestRng};

#[test]
fn coverage_of_points_matches_a_brute_force_oracle() {
    let mut rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let (mut covered, mut uncovered, mut near_edge) = (0, 0, 0);
    for _ in 0..60 {
        let c = place(&mut rng);
        let r = rng.random_range(2_000.0..400_000.0);
        let rot = rng.random_range(0.0..360.0);
        let n = rng.random_range(3..9);
        let shell = star(&mut rng, c, r, n, rot);
        let holes = if rng.random_bool(0.5) {
            vec![star(&mut rng, c, r * 0.25, 4, rot + 20.0)]
        } else {
            vec![]
        };
        let poly: Geometry<f64> = Polygon::new(shell, holes).into();
        let mut cov = Coverage::none();
        cov.add("s", &poly).unwrap();
        let oracle = parts(&poly);
        for _ in 0..8 {
            let p = go(
                c,
                rng.random_range(0.0..360.0),
                r * rng.random_range(0.0..1.3),
            );
            let reach = r * rng.random_range(0.0..0.4);
            let edge = oracle.dist_from(p);
            if (edge - reach).abs() < tol(edge) + 1.0 {
                near_edge += 1;
                continue;
            }
            let expect = oracle.contains(p) && edge > reach;
            let got = !cov
                .assess(&Shape::point(p.0, p.1).unwrap(), reach)
                .uncovered();
            assert_eq!(
                got, expect,
                "point {p:?}, reach {reach} m, {edge} m from the boundary, polygon {poly:?}"
            );
            if expect {
                covered += 1;
            } else {
                uncovered += 1;
            }
        }
    }
    // Both answers were exercised (the test can fail either way).
    assert!(
        covered > 40 && uncovered > 40,
        "{covered} covered, {uncovered} uncovered, {near_edge} skipped"
    );
}
