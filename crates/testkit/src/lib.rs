//! Test support shared by nostrike's test suites: random data biased
//! toward the hard places (the poles, the ±180° meridian, holes, tiny and
//! huge shapes) and the brute-force geodesic oracle the checks are held to.
//!
//! The oracle compares geometries without any index, bound or iteration of
//! nostrike's own: it densifies every geodesic edge with GeographicLib's
//! direct problem, refines the nearest sample by golden section, and decides
//! containment by the winding of unit normal vectors on the densified rings.
//! Not published; a dev-dependency only.

#![allow(clippy::unwrap_used, missing_docs)]

use geo_types::{Coord, Geometry, LineString, MultiPolygon, Point, Polygon};
use geographiclib_rs::{DirectGeodesic, Geodesic, InverseGeodesic};
use proptest::prelude::*;
use proptest::test_runner::TestRng;

pub const SAMPLES: usize = 24;

pub fn g() -> Geodesic {
    Geodesic::wgs84()
}

pub fn nvec(lon: f64, lat: f64) -> [f64; 3] {
    let (sl, cl) = lat.to_radians().sin_cos();
    let (so, co) = lon.to_radians().sin_cos();
    [cl * co, cl * so, sl]
}

pub fn inv(a: (f64, f64), b: (f64, f64)) -> f64 {
    g().inverse(a.1, a.0, b.1, b.0)
}

/// Points along the geodesic a→b at fractions 0, 1/n, …, 1.
pub fn densify(a: (f64, f64), b: (f64, f64), n: usize) -> Vec<(f64, f64)> {
    let (s12, azi1, _azi2, _a12): (f64, f64, f64, f64) = g().inverse(a.1, a.0, b.1, b.0);
    (0..=n)
        .map(|k| {
            if k == 0 {
                return a;
            }
            if k == n {
                return b;
            }
            let (lat, lon): (f64, f64) = g().direct(a.1, a.0, azi1, s12 * k as f64 / n as f64);
            (lon, lat)
        })
        .collect()
}

/// Distance from `p` to the geodesic edge a→b: best of dense samples, then golden section.
pub fn point_edge(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (s12, azi1, _azi2, _a12): (f64, f64, f64, f64) = g().inverse(a.1, a.0, b.1, b.0);
    let at = |s: f64| -> f64 {
        let (lat, lon): (f64, f64) = g().direct(a.1, a.0, azi1, s);
        inv(p, (lon, lat))
    };
    let n = 64;
    let mut best = (inv(p, a), 0usize);
    for k in 1..=n {
        let d = if k == n {
            inv(p, b)
        } else {
            at(s12 * k as f64 / n as f64)
        };
        if d < best.0 {
            best = (d, k);
        }
    }
    let step = s12 / n as f64;
    let (mut lo, mut hi) = (
        (best.1 as f64 - 1.0).max(0.0) * step,
        (best.1 as f64 + 1.0).min(n as f64) * step,
    );
    let r = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..80 {
        let m1 = hi - r * (hi - lo);
        let m2 = lo + r * (hi - lo);
        if at(m1) < at(m2) {
            hi = m2;
        } else {
            lo = m1;
        }
    }
    best.0.min(at(0.5 * (lo + hi)))
}

#[derive(Default)]
pub struct Parts {
    points: Vec<(f64, f64)>,
    lines: Vec<Vec<(f64, f64)>>,
    polys: Vec<Vec<Vec<(f64, f64)>>>,
}

pub fn parts(geom: &Geometry<f64>) -> Parts {
    let mut p = Parts::default();
    let ls = |l: &LineString<f64>| l.0.iter().map(|c| (c.x, c.y)).collect::<Vec<_>>();
    match geom {
        Geometry::Point(q) => p.points.push((q.x(), q.y())),
        Geometry::LineString(l) => p.lines.push(ls(l)),
        Geometry::Polygon(pg) => p.polys.push(
            std::iter::once(pg.exterior())
                .chain(pg.interiors())
                .map(ls)
                .collect(),
        ),
        Geometry::MultiPolygon(m) => {
            for pg in &m.0 {
                p.polys.push(
                    std::iter::once(pg.exterior())
                        .chain(pg.interiors())
                        .map(ls)
                        .collect(),
                )
            }
        }
        other => panic!("oracle does not take {other:?}"),
    }
    p
}

impl Parts {
    pub fn rings_and_lines(&self) -> impl Iterator<Item = &Vec<(f64, f64)>> {
        self.lines.iter().chain(self.polys.iter().flatten())
    }
    pub fn vertices(&self) -> Vec<(f64, f64)> {
        self.points
            .iter()
            .copied()
            .chain(self.rings_and_lines().flatten().copied())
            .collect()
    }
    pub fn dense_vertices(&self) -> Vec<(f64, f64)> {
        let mut v = self.points.clone();
        for r in self.rings_and_lines() {
            for w in r.windows(2) {
                v.extend(densify(w[0], w[1], SAMPLES));
            }
        }
        v
    }
    pub fn dense_spacing(&self) -> f64 {
        self.rings_and_lines()
            .flat_map(|r| r.windows(2).map(|w| inv(w[0], w[1]) / SAMPLES as f64))
            .fold(0.0, f64::max)
    }
    /// Spherical winding of the densified ring around `p`, in turns.
    pub fn winding(ring: &[(f64, f64)], p: (f64, f64)) -> f64 {
        let pv = nvec(p.0, p.1);
        let mut dense = Vec::new();
        for w in ring.windows(2) {
            dense.extend(densify(w[0], w[1], SAMPLES));
        }
        let mut total = 0.0;
        for w in dense.windows(2) {
            let a = nvec(w[0].0, w[0].1);
            let b = nvec(w[1].0, w[1].1);
            let cr = [
                a[1] * b[2] - a[2] * b[1],
                a[2] * b[0] - a[0] * b[2],
                a[0] * b[1] - a[1] * b[0],
            ];
            let dot = |u: &[f64; 3], v: &[f64; 3]| u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
            let y = dot(&pv, &cr);
            let x = dot(&a, &b) - dot(&a, &pv) * dot(&b, &pv);
            total += y.atan2(x);
        }
        total / std::f64::consts::TAU
    }
    /// Inside the smaller region of each ring: the winding is taken only
    /// for points less than an Earth radius (chord) from the ring, which for
    /// the polygons generated here (under 2,000 km across) is every point
    /// that can be inside.
    pub fn contains(&self, p: (f64, f64)) -> bool {
        let near = |ring: &Vec<(f64, f64)>| {
            let (a, b) = (nvec(p.0, p.1), nvec(ring[0].0, ring[0].1));
            ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt() < 1.0
        };
        self.polys
            .iter()
            .filter(|rings| near(&rings[0]))
            .any(|rings| {
                Parts::winding(&rings[0], p).abs() > 0.5
                    && rings[1..].iter().all(|h| Parts::winding(h, p).abs() < 0.5)
            })
    }
    pub fn dist_from(&self, p: (f64, f64)) -> f64 {
        let mut best = f64::INFINITY;
        for q in &self.points {
            best = best.min(inv(p, *q));
        }
        for r in self.rings_and_lines() {
            for w in r.windows(2) {
                best = best.min(point_edge(p, w[0], w[1]));
            }
        }
        best
    }
}

/// Oracle distance between two geometries and the densification spacing it is exact to.
pub fn oracle(a: &Geometry<f64>, b: &Geometry<f64>) -> (f64, f64) {
    let (pa, pb) = (parts(a), parts(b));
    let spacing = pa.dense_spacing().max(pb.dense_spacing());
    let (da, db) = (pa.dense_vertices(), pb.dense_vertices());
    if da.iter().any(|p| pb.contains(*p)) || db.iter().any(|p| pa.contains(*p)) {
        return (0.0, spacing);
    }
    let mut best = f64::INFINITY;
    for p in pa.vertices() {
        best = best.min(pb.dist_from(p));
    }
    for p in pb.vertices() {
        best = best.min(pa.dist_from(p));
    }
    // Dense pairs find crossings that no vertex sees (to within the spacing).
    for p in &da {
        for q in &db {
            best = best.min(inv(*p, *q));
        }
    }
    (best, spacing)
}

pub fn tol(d: f64) -> f64 {
    (1e-6 * d).max(0.1)
}

// ---- random data biased toward the hard places ----

pub fn place(rng: &mut TestRng) -> (f64, f64) {
    match rng.random_range(0..5) {
        0 => (
            rng.random_range(-180.0..180.0),
            rng.random_range(89.0..=90.0) * if rng.random_bool(0.5) { 1.0 } else { -1.0 },
        ),
        1 => {
            let lon = 180.0 - rng.random_range(0.0..1.0);
            (
                if rng.random_bool(0.5) { lon } else { -lon },
                rng.random_range(-80.0..80.0),
            )
        }
        _ => (
            rng.random_range(-180.0..180.0),
            rng.random::<f64>().mul_add(2.0, -1.0).asin().to_degrees(),
        ),
    }
}

pub fn scale(rng: &mut TestRng) -> f64 {
    match rng.random_range(0..4) {
        0 => rng.random_range(5.0..200.0),
        1 => rng.random_range(200.0..20_000.0),
        2 => rng.random_range(20_000.0..200_000.0),
        _ => rng.random_range(200_000.0..900_000.0),
    }
}

pub fn go(c: (f64, f64), azi: f64, s: f64) -> (f64, f64) {
    let (lat, lon): (f64, f64) = g().direct(c.1, c.0, azi, s);
    (lon, lat)
}

pub fn star(rng: &mut TestRng, c: (f64, f64), r: f64, n: usize, rot: f64) -> LineString<f64> {
    let mut pts: Vec<Coord<f64>> = (0..n)
        .map(|k| {
            let azi = rot + 360.0 * k as f64 / n as f64;
            let (lon, lat) = go(c, azi, r * rng.random_range(0.6..1.0));
            Coord { x: lon, y: lat }
        })
        .collect();
    pts.push(pts[0]);
    LineString(pts)
}

pub fn random_geometry(rng: &mut TestRng, c: (f64, f64)) -> Geometry<f64> {
    let r = scale(rng);
    match rng.random_range(0..10) {
        0..=3 => Point::new(c.0, c.1).into(),
        4 | 5 => {
            let n = rng.random_range(2..5);
            let mut pts = vec![c];
            for _ in 1..n {
                let last = *pts.last().unwrap();
                pts.push(go(
                    last,
                    rng.random_range(0.0..360.0),
                    r * rng.random_range(0.3..1.5),
                ));
            }
            LineString::from(pts).into()
        }
        6 | 7 => {
            let n = rng.random_range(3..8);
            let rot = rng.random_range(0.0..360.0);
            let shell = star(rng, c, r, n, rot);
            let holes = if rng.random_bool(0.5) {
                vec![star(rng, c, r * 0.3, 4, rot + 10.0)]
            } else {
                vec![]
            };
            Polygon::new(shell, holes).into()
        }
        _ => {
            let a = star(rng, c, r * 0.4, 4, 0.0);
            let c2 = go(c, rng.random_range(0.0..360.0), r * 1.5);
            let b = star(rng, c2, r * 0.4, 5, 7.0);
            MultiPolygon(vec![Polygon::new(a, vec![]), Polygon::new(b, vec![])]).into()
        }
    }
}
