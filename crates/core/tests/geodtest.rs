//! The geodesic kernels against Karney's published test set
//! (`tests/fixtures/GeodTest-short.dat`, CC0, 10,000 geodesics on WGS84).

#![allow(clippy::unwrap_used)]

use geographiclib_rs::{DirectGeodesic, Geodesic};
use nostrike_core::geodesy::{self, Edge, Vertex};

const GEODTEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/GeodTest-short.dat"
);

struct Line {
    lat1: f64,
    lon1: f64,
    azi1: f64,
    lat2: f64,
    lon2: f64,
    azi2: f64,
    s12: f64,
}

fn lines() -> Vec<Line> {
    let text = std::fs::read_to_string(GEODTEST).unwrap_or_else(|e| panic!("{GEODTEST}: {e}"));
    let lines: Vec<Line> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let v: Vec<f64> = l
                .split_whitespace()
                .map(|x| x.parse().unwrap_or_else(|e| panic!("line {}: {e}", i + 1)))
                .collect();
            assert_eq!(v.len(), 10, "line {}", i + 1);
            Line {
                lat1: v[0],
                lon1: v[1],
                azi1: v[2],
                lat2: v[3],
                lon2: v[4],
                azi2: v[5],
                s12: v[6],
            }
        })
        .collect();
    assert_eq!(lines.len(), 10_000);
    lines
}

#[test]
fn point_to_point_distance_and_azimuths_match_the_test_set() {
    let mut worst = 0.0f64;
    for (i, l) in lines().iter().enumerate() {
        let a = Vertex::new(l.lon1, l.lat1);
        let b = Vertex::new(l.lon2, l.lat2);
        let (s, azi1, azi2) = geodesy::inverse(&a, &b);
        let err = (s - l.s12).abs();
        worst = worst.max(err);
        assert!(err < 1e-6, "line {}: distance {s} vs {}", i + 1, l.s12);
        // Azimuths are ill-defined for nearly antipodal points; compare elsewhere.
        if l.s12 < 19_000_000.0 && l.lat1.abs() < 89.9 && l.lat2.abs() < 89.9 {
            assert!(
                geodesy::wrap180(azi1 - l.azi1).abs() < 1e-6,
                "line {}: azi1 {azi1} vs {}",
                i + 1,
                l.azi1
            );
            assert!(
                geodesy::wrap180(azi2 - l.azi2).abs() < 1e-6,
                "line {}: azi2 {azi2} vs {}",
                i + 1,
                l.azi2
            );
        }
    }
    eprintln!("worst distance error {worst:e} m");
}

#[test]
fn edge_positions_match_the_test_set() {
    for (i, l) in lines().iter().enumerate() {
        let e = Edge {
            a: Vertex::new(l.lon1, l.lat1),
            b: Vertex::new(l.lon2, l.lat2),
            len_m: l.s12,
            azi_deg: l.azi1,
        };
        // Just short of the end, so the exact end vertex is not substituted.
        let (x, _) = e.point_at(l.s12 * (1.0 - 1e-12));
        let d = geodesy::distance(&x, &Vertex::new(l.lon2, l.lat2));
        assert!(
            d < 1e-3 + l.s12 * 2e-12,
            "line {}: end point off by {d} m",
            i + 1
        );
    }
}

/// A point `h` metres off the middle of each test geodesic, along the
/// perpendicular geodesic there, is exactly `h` from the edge, and its
/// nearest point on the edge is the middle.
#[test]
fn nearest_point_on_edges_of_the_test_set() {
    let g = Geodesic::wgs84();
    let mut checked = 0;
    for (i, l) in lines().iter().enumerate() {
        // Up to a quarter meridian; longer edges are not used as polygon or route edges.
        if l.s12 > 10_000_000.0 || l.s12 < 1.0 {
            continue;
        }
        let edge = Edge::new(Vertex::new(l.lon1, l.lat1), Vertex::new(l.lon2, l.lat2));
        let half = 0.5 * edge.len_m;
        let (mlat, mlon, mazi): (f64, f64, f64) = g.direct(l.lat1, l.lon1, edge.azi_deg, half);
        for (h, side) in [(3.0, 90.0), (1_000.0, -90.0), (50_000.0, 90.0)] {
            if h > 0.2 * half {
                continue;
            }
            let (plat, plon): (f64, f64) = g.direct(mlat, mlon, mazi + side, h);
            let (x, d, s) = edge.nearest_to(&Vertex::new(plon, plat));
            let tol = (1e-6 * h).max(1e-4);
            assert!(
                (d - h).abs() < tol,
                "line {}: distance {d} vs {h} (edge {} m)",
                i + 1,
                edge.len_m
            );
            assert!(
                (s - half).abs() < 1e-3 + 1e-9 * half,
                "line {}: foot at {s} vs {half}",
                i + 1
            );
            let off = geodesy::distance(&x, &Vertex::new(mlon, mlat));
            assert!(
                off < 1e-3,
                "line {}: nearest point {off} m from the middle; {x:?} vs ({mlon}, {mlat})",
                i + 1
            );
            checked += 1;
        }
    }
    assert!(checked > 8_000, "only {checked} cases");
}
