//! Geodesic kernels on the WGS84 ellipsoid: point-to-point, point-to-edge,
//! edge crossing and the Earth-centred (ECEF) bounds the index relies on.
//!
//! Exact geodesics come from `geographiclib-rs` (Karney's algorithms,
//! accurate to about 15 nm). What is written here is the search for the
//! nearest point of a geodesic edge, which the crate does not provide.

use std::sync::LazyLock;

use geographiclib_rs::{DirectGeodesic, Geodesic, InverseGeodesic};

/// WGS84 semi-major axis (metres).
pub const WGS84_A: f64 = 6_378_137.0;
/// WGS84 flattening.
pub const WGS84_F: f64 = 1.0 / 298.257_223_563;
const E2: f64 = WGS84_F * (2.0 - WGS84_F);

/// The smallest radius of curvature of the WGS84 ellipsoid, the meridional
/// radius at the equator `a (1 - e²)` (metres). No geodesic bends more
/// sharply than a circle of this radius, which bounds how far an edge can
/// stray from its chord.
pub const MIN_RADIUS_OF_CURVATURE_M: f64 = WGS84_A * (1.0 - E2);

static GEOD: LazyLock<Geodesic> = LazyLock::new(Geodesic::wgs84);

/// The shared WGS84 geodesic solver.
pub fn geod() -> &'static Geodesic {
    &GEOD
}

/// Slack (metres) added to every candidate search distance, so that
/// floating-point rounding in box distances can only add candidates.
pub const CANDIDATE_SLACK_M: f64 = 1e-3;

/// A vertex: longitude and latitude (degrees) and its Earth-centred position (metres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vertex {
    /// Longitude, degrees east.
    pub lon: f64,
    /// Latitude, degrees north.
    pub lat: f64,
    /// Earth-centred, Earth-fixed coordinates on the ellipsoid surface (metres).
    pub ecef: [f64; 3],
}

impl Vertex {
    /// A vertex from longitude and latitude in degrees.
    pub fn new(lon: f64, lat: f64) -> Vertex {
        Vertex {
            lon,
            lat,
            ecef: ecef(lon, lat),
        }
    }
}

/// Earth-centred, Earth-fixed coordinates (metres) of a point on the WGS84 surface.
///
/// # Units
/// degrees in, metres out
pub fn ecef(lon: f64, lat: f64) -> [f64; 3] {
    let (sl, cl) = lat.to_radians().sin_cos();
    let (so, co) = lon.to_radians().sin_cos();
    let n = WGS84_A / (1.0 - E2 * sl * sl).sqrt();
    [n * cl * co, n * cl * so, n * (1.0 - E2) * sl]
}

/// Straight-line (chord) distance between two ECEF points. Never more than the geodesic distance.
///
/// # Units
/// metres
pub fn chord(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

/// An axis-aligned box in ECEF coordinates (metres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aabb {
    /// Lower corner.
    pub lo: [f64; 3],
    /// Upper corner.
    pub hi: [f64; 3],
}

impl Aabb {
    /// The empty box (contains nothing; grows with [`Aabb::add`]).
    pub const EMPTY: Aabb = Aabb {
        lo: [f64::INFINITY; 3],
        hi: [f64::NEG_INFINITY; 3],
    };

    /// A box holding the whole ellipsoid.
    pub const EARTH: Aabb = Aabb {
        lo: [-WGS84_A - 1.0; 3],
        hi: [WGS84_A + 1.0; 3],
    };

    /// Grow the box to hold `p`.
    pub fn add(&mut self, p: &[f64; 3]) {
        self.union(&Aabb { lo: *p, hi: *p });
    }

    /// Grow the box to hold `other`.
    pub fn union(&mut self, other: &Aabb) {
        for k in 0..3 {
            self.lo[k] = self.lo[k].min(other.lo[k]);
            self.hi[k] = self.hi[k].max(other.hi[k]);
        }
    }

    /// The box widened by `d` metres on every side.
    pub fn expanded(&self, d: f64) -> Aabb {
        Aabb {
            lo: [self.lo[0] - d, self.lo[1] - d, self.lo[2] - d],
            hi: [self.hi[0] + d, self.hi[1] + d, self.hi[2] + d],
        }
    }

    /// Length of the box's diagonal (metres); at least the longest chord between two points in it.
    pub fn diagonal(&self) -> f64 {
        chord(&self.lo, &self.hi)
    }

    /// Euclidean distance from a point to the box (0 inside). A lower bound
    /// of the geodesic distance from the point to anything inside the box.
    pub fn distance_to_point(&self, p: &[f64; 3]) -> f64 {
        let mut s = 0.0;
        for (k, pk) in p.iter().enumerate() {
            let d = (self.lo[k] - pk).max(pk - self.hi[k]).max(0.0);
            s += d * d;
        }
        s.sqrt()
    }

    /// Whether the box lies within Euclidean distance `reach` of `o`, with a
    /// millimetre of slack against rounding: false only when every point of
    /// one is more than `reach` (chord, hence geodesic) metres from every
    /// point of the other.
    pub fn within(&self, o: &Aabb, reach: f64) -> bool {
        let r = reach + CANDIDATE_SLACK_M;
        let mut s = 0.0;
        for k in 0..3 {
            let d = (self.lo[k] - o.hi[k]).max(o.lo[k] - self.hi[k]).max(0.0);
            s += d * d;
        }
        s <= r * r
    }

    /// Euclidean distance between two boxes (0 if they overlap). A lower
    /// bound of the geodesic distance between anything in one and anything in the other.
    pub fn distance_to_box(&self, o: &Aabb) -> f64 {
        let mut s = 0.0;
        for k in 0..3 {
            let d = (self.lo[k] - o.hi[k]).max(o.lo[k] - self.hi[k]).max(0.0);
            s += d * d;
        }
        s.sqrt()
    }
}

/// How far (metres) any point of a geodesic of length `len_m` can be from the
/// straight chord between its ends.
///
/// A geodesic's curvature as a space curve equals the normal curvature of the
/// surface along it, at most `1 / MIN_RADIUS_OF_CURVATURE_M`. Among curves
/// with curvature bounded by `k`, the circular arc of radius `1/k` strays
/// farthest from its chord, by the sagitta `(1 - cos(k L / 2)) / k`. The
/// result is doubled and 1 m added so that rounding can never make it short.
/// Edges longer than a quarter of a great circle get a bound that covers the Earth.
pub fn edge_bulge_m(len_m: f64) -> f64 {
    let k = 1.0 / MIN_RADIUS_OF_CURVATURE_M;
    let half = 0.5 * k * len_m;
    if half >= std::f64::consts::FRAC_PI_2 * 0.5 {
        return 2.0 * WGS84_A;
    }
    2.0 * (1.0 - half.cos()) / k + 1.0
}

/// How far (metres) the surface inside a ring can rise above the box of the
/// ring, given the box's diagonal `diag_m`: the height of a cap of the
/// sharpest-curved sphere whose chord radius is the whole diagonal (twice
/// what a cap through the ring would need), plus 1 m. Rings wider than half
/// the radius of curvature get a bound that covers the Earth.
pub fn interior_bulge_m(diag_m: f64) -> f64 {
    let r = MIN_RADIUS_OF_CURVATURE_M;
    if diag_m >= r {
        return 2.0 * WGS84_A;
    }
    r - (r * r - diag_m * diag_m).sqrt() + 1.0
}

/// An upper bound (metres) of the length of a geodesic whose chord is `chord_m`.
///
/// For a curve whose curvature never exceeds `k`, the ratio of length to
/// chord is at most that of a circular arc of radius `1/k`,
/// `θ / (2 sin(θ/2)) ≈ 1 + c²k²/24`; this returns `c (1 + c²k²/6)` (four times
/// the excess) for chords under half the radius and `c π/2` (a half circle) beyond.
pub fn length_bound_m(chord_m: f64) -> f64 {
    let r = MIN_RADIUS_OF_CURVATURE_M;
    if chord_m < 0.5 * r {
        chord_m * (1.0 + chord_m * chord_m / (6.0 * r * r))
    } else {
        chord_m * std::f64::consts::FRAC_PI_2
    }
}

/// Longest chord (metres) for which [`short_inverse`] answers.
pub const SHORT_RANGE_M: f64 = 20_000.0;

/// Geodesic distance (metres) and initial azimuth (degrees) from `a` to `b`
/// for points less than [`SHORT_RANGE_M`] apart (chord), else `None`.
///
/// A geodesic is a space curve whose curvature is the normal curvature `κ`
/// of the surface in its direction, so its length `s` and chord `c` obey
/// `s = c + κ² c³ / 24 + O(c⁴ κ κ')`; taking `κ` at the chord's midpoint
/// (Euler's formula, `κ = cos²α / M + sin²α / N`) cancels the `c⁴` term by
/// symmetry, leaving an error of order `c⁵ κ⁴ / 200`, under a micrometre at
/// 20 km. The azimuth is that of the chord in the local east-north plane at
/// `a`, within about `e² c / R` radians (≈ 0.001°) of the geodesic's. Tested
/// against GeographicLib to 1 µm and 1e-5° in this module.
pub fn short_inverse(a: &Vertex, b: &Vertex) -> Option<(f64, f64)> {
    let s = short_distance(a, b)?;
    Some((s, short_azimuth(a, b)))
}

/// The distance half of [`short_inverse`]: no trigonometric function is
/// evaluated (the frame at the chord's midpoint comes from its position).
///
/// The midpoint's geodetic normal is taken as that of the ellipsoid similar
/// to WGS84 through it, `(x, y, z / (1 − e²))`: at the midpoint's depth
/// (at most `c² / 8R`, 8 m at 20 km) this differs from the geodetic normal by
/// under `e² c² / 16R²` radians (4e-9 at 20 km), which moves `κ` by a relative
/// 1e-11 and the distance by under a nanometre.
pub fn short_distance(a: &Vertex, b: &Vertex) -> Option<f64> {
    let d = [
        b.ecef[0] - a.ecef[0],
        b.ecef[1] - a.ecef[1],
        b.ecef[2] - a.ecef[2],
    ];
    let c = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
    if c >= SHORT_RANGE_M {
        return None;
    }
    if c == 0.0 {
        return Some(0.0);
    }
    let m = [
        (a.ecef[0] + b.ecef[0]) / 2.0,
        (a.ecef[1] + b.ecef[1]) / 2.0,
        (a.ecef[2] + b.ecef[2]) / 2.0,
    ];
    let [sl, cl, so, co] = normal_frame(&m, 0.0);
    let w2 = 1.0 - E2 * sl * sl;
    let n_rad = WGS84_A / w2.sqrt();
    let m_rad = WGS84_A * (1.0 - E2) / (w2 * w2.sqrt());
    // Chord components east and north at the midpoint.
    let east = -so * d[0] + co * d[1];
    let north = -sl * co * d[0] - sl * so * d[1] + cl * d[2];
    let h2 = east * east + north * north;
    let kappa = if h2 > 0.0 {
        (north * north / m_rad + east * east / n_rad) / h2
    } else {
        1.0 / m_rad
    };
    Some(c + kappa * kappa * c * c * c / 24.0)
}

/// The azimuth half of [`short_inverse`] (degrees, −180..180): that of the
/// chord from `a` to `b` in the east-north plane at `a` ([`TangentFrame`]);
/// meaningful for points under [`SHORT_RANGE_M`] apart, 0 for `b` at `a`.
pub fn short_azimuth(a: &Vertex, b: &Vertex) -> f64 {
    TangentFrame::at(a).azimuth_to(b).unwrap_or(0.0)
}

/// `[sin φ, cos φ, sin λ, cos λ]` of the geodetic normal of the ellipsoid
/// similar to WGS84 through ECEF point `p` (exact for points on WGS84), from
/// square roots only; on the polar axis, where the longitude is not defined
/// by the position, `lon_deg` gives it.
fn normal_frame(p: &[f64; 3], lon_deg: f64) -> [f64; 4] {
    let q = (p[0] * p[0] + p[1] * p[1]).sqrt();
    let z = p[2] / (1.0 - E2);
    let r = (q * q + z * z).sqrt();
    if r == 0.0 {
        return [0.0, 1.0, 0.0, 1.0];
    }
    let (so, co) = if q > 0.0 {
        (p[1] / q, p[0] / q)
    } else {
        lon_deg.to_radians().sin_cos()
    };
    [z / r, q / r, so, co]
}

/// The local east/north frame at a vertex, for the azimuths of nearby points.
#[derive(Debug, Clone, Copy)]
pub struct TangentFrame {
    origin: [f64; 3],
    east: [f64; 3],
    north: [f64; 3],
}

impl TangentFrame {
    /// The frame at `a`.
    pub fn at(a: &Vertex) -> TangentFrame {
        let [sa, ca, sb, cb] = normal_frame(&a.ecef, a.lon);
        TangentFrame {
            origin: a.ecef,
            east: [-sb, cb, 0.0],
            north: [-sa * cb, -sa * sb, ca],
        }
    }

    /// Azimuth (degrees) of the chord to `b` in this frame: the same formula
    /// as [`short_inverse`]'s azimuth (within 1e-5° of GeographicLib's
    /// initial azimuth, tested) — `None` for `b` at the origin or a chord of
    /// [`SHORT_RANGE_M`] or more.
    pub fn azimuth_to(&self, b: &Vertex) -> Option<f64> {
        let d = [
            b.ecef[0] - self.origin[0],
            b.ecef[1] - self.origin[1],
            b.ecef[2] - self.origin[2],
        ];
        let c2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        if c2 == 0.0 || c2 >= SHORT_RANGE_M * SHORT_RANGE_M {
            return None;
        }
        let e = self.east[0] * d[0] + self.east[1] * d[1];
        let n = self.north[0] * d[0] + self.north[1] * d[1] + self.north[2] * d[2];
        Some(e.atan2(n).to_degrees())
    }
}

/// Geodesic distance (metres) and the initial and final azimuths (degrees) from `a` to `b`.
pub fn inverse(a: &Vertex, b: &Vertex) -> (f64, f64, f64) {
    let (s12, azi1, azi2, _a12) = geod().inverse(a.lat, a.lon, b.lat, b.lon);
    (s12, azi1, azi2)
}

/// Initial azimuth (degrees) from `a` to `b`.
pub fn azimuth(a: &Vertex, b: &Vertex) -> f64 {
    let (azi1, _azi2, _a12) = geod().inverse(a.lat, a.lon, b.lat, b.lon);
    azi1
}

/// Initial azimuth (degrees, −180..180) from `a` to `b` for a report's
/// bearing: [`short_azimuth`] for a chord of 1 m to [`SHORT_RANGE_M`]
/// (within 1e-5° of GeographicLib's, poles included — tested; 3e-7° at
/// worst in that test), GeographicLib's inverse otherwise (under a metre the
/// difference of Earth-centred coordinates loses digits: 1e-5° at 1 cm).
pub fn bearing(a: &Vertex, b: &Vertex) -> f64 {
    if chord(&a.ecef, &b.ecef) >= 1.0 {
        if let Some(azi) = TangentFrame::at(a).azimuth_to(b) {
            return azi;
        }
    }
    azimuth(a, b)
}

/// Geodesic distance in metres between two vertices ([`short_inverse`] under
/// [`SHORT_RANGE_M`], GeographicLib's inverse beyond).
pub fn distance(a: &Vertex, b: &Vertex) -> f64 {
    if let Some(s) = short_distance(a, b) {
        return s;
    }
    let s12: f64 = geod().inverse(a.lat, a.lon, b.lat, b.lon);
    s12
}

/// Geodesic distance (metres) and initial azimuth (degrees) from `a` to `b`
/// ([`short_inverse`] under [`SHORT_RANGE_M`], GeographicLib's inverse beyond).
pub fn distance_azimuth(a: &Vertex, b: &Vertex) -> (f64, f64) {
    if let Some(r) = short_inverse(a, b) {
        return r;
    }
    let (s, azi, _) = inverse(a, b);
    (s, azi)
}

/// The point `s` metres from (`lon`, `lat`) along the geodesic leaving at
/// azimuth `azi` degrees: (lon, lat) degrees, longitude in [-180, 180].
pub fn direct(lon: f64, lat: f64, azi: f64, s: f64) -> (f64, f64) {
    let (lat2, lon2): (f64, f64) = geod().direct(lat, lon, azi, s);
    (wrap180(lon2), lat2)
}

/// The ellipsoidal azimuthal equidistant projection centred on a point, as
/// GeographicLib's `AzimuthalEquidistant` defines it: a point maps to
/// `(s sin α, s cos α)` where `s` is its geodesic distance from the centre
/// and `α` the azimuth at the centre. Distances and azimuths from the centre
/// are true, so a circle around the centre is a true geodesic circle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aeqd {
    /// Centre longitude (degrees).
    pub lon: f64,
    /// Centre latitude (degrees).
    pub lat: f64,
}

impl Aeqd {
    /// The projection centred on (`lon`, `lat`) degrees.
    pub fn new(lon: f64, lat: f64) -> Aeqd {
        Aeqd { lon, lat }
    }

    /// Easting and northing (metres) of (`lon`, `lat`) degrees.
    pub fn forward(&self, lon: f64, lat: f64) -> (f64, f64) {
        let (s, azi, _, _): (f64, f64, f64, f64) = geod().inverse(self.lat, self.lon, lat, lon);
        let (sa, ca) = azi.to_radians().sin_cos();
        (s * sa, s * ca)
    }

    /// (lon, lat) degrees of easting `x` and northing `y` (metres).
    pub fn reverse(&self, x: f64, y: f64) -> (f64, f64) {
        let s = x.hypot(y);
        if s == 0.0 {
            return (self.lon, self.lat);
        }
        direct(self.lon, self.lat, x.atan2(y).to_degrees(), s)
    }
}

/// Normalise an angle in degrees to (-180, 180].
pub fn wrap180(x: f64) -> f64 {
    let y = x.rem_euclid(360.0);
    if y > 180.0 {
        y - 360.0
    } else {
        y
    }
}

/// What GeographicLib's `direct` asks of a geodesic line: latitude,
/// longitude and azimuth at a distance.
const DIRECT_CAPS: u64 = geographiclib_rs::capability::LATITUDE
    | geographiclib_rs::capability::LONGITUDE
    | geographiclib_rs::capability::AZIMUTH
    | geographiclib_rs::capability::DISTANCE_IN;

/// An [`Edge`] with its geodesic line set up ([`Edge::line`]).
#[derive(Debug, Clone, Copy)]
pub struct EdgeLine<'a> {
    edge: &'a Edge,
    line: geographiclib_rs::GeodesicLine,
}

impl EdgeLine<'_> {
    /// The point `s` metres from `a` along the edge and the forward azimuth
    /// there: GeographicLib's `direct` from `a` bit for bit (`direct` is
    /// this line's set-up followed by this position; tested), with `a`
    /// itself at or before the start and `b` kept exact, rather than as
    /// re-solved, at or past the end.
    pub fn point_at(&self, s: f64) -> (Vertex, f64) {
        let e = self.edge;
        if s <= 0.0 {
            return (e.a, e.azi_deg);
        }
        let (_, lat, lon, azi, ..) = self.line._gen_position(false, s, DIRECT_CAPS);
        if s >= e.len_m {
            return (e.b, azi);
        }
        (Vertex::new(lon, lat), azi)
    }
}

/// A geodesic edge from `a` to `b` with its length and initial azimuth.
#[derive(Debug, Clone, Copy)]
pub struct Edge {
    /// Start vertex.
    pub a: Vertex,
    /// End vertex.
    pub b: Vertex,
    /// Geodesic length (metres).
    pub len_m: f64,
    /// Azimuth at `a` toward `b` (degrees).
    pub azi_deg: f64,
}

impl Edge {
    /// Solve the edge between two vertices.
    pub fn new(a: Vertex, b: Vertex) -> Edge {
        let (len_m, azi_deg, _) = inverse(&a, &b);
        Edge {
            a,
            b,
            len_m,
            azi_deg,
        }
    }

    /// The point at `s` metres from `a` along the edge, with the edge's forward azimuth there.
    /// (For many points along one edge, set its line up once: [`Edge::line`].)
    pub fn point_at(&self, s: f64) -> (Vertex, f64) {
        self.line().point_at(s)
    }

    /// The edge's geodesic set up once, for many points along it
    /// ([`EdgeLine::point_at`]: [`Edge::point_at`] without GeographicLib
    /// setting the geodesic up again for each point).
    pub fn line(&self) -> EdgeLine<'_> {
        EdgeLine {
            edge: self,
            line: geographiclib_rs::GeodesicLine::new(
                geod(),
                self.a.lat,
                self.a.lon,
                self.azi_deg,
                Some(DIRECT_CAPS),
                None,
                None,
            ),
        }
    }

    /// A box in ECEF coordinates that holds every point of the edge.
    pub fn aabb(a: &Vertex, b: &Vertex) -> Aabb {
        let mut bx = Aabb::EMPTY;
        bx.add(&a.ecef);
        bx.add(&b.ecef);
        bx.expanded(edge_bulge_m(length_bound_m(chord(&a.ecef, &b.ecef))))
    }

    /// Which side of the edge's geodesic `p` is on, seen along the edge:
    /// `1` right, `-1` left, `0` on it (to rounding).
    pub fn side(&self, p: &Vertex) -> i32 {
        let d = wrap180(azimuth(&self.a, p) - self.azi_deg);
        if d > 0.0 && d < 180.0 {
            1
        } else if d < 0.0 && d > -180.0 {
            -1
        } else {
            0
        }
    }

    /// The nearest point of the edge to `p`, its distance from `p` (metres)
    /// and the distance along the edge from `a` (metres).
    ///
    /// The distance from `p` to a point sliding along a geodesic falls and
    /// then rises (on the sphere `cos d = cos p cos(s - s0)`; the ellipsoid
    /// perturbs this by the flattening), so the minimum over the edge is the
    /// foot of the perpendicular, clamped to the edge. It is found by
    /// iterating the spherical right-triangle relation
    /// `tan Δs = tan d · cos(β − α)` between the current point, its azimuth
    /// `α` along the edge and the azimuth `β` toward `p`: each step is exact
    /// on the sphere, so the error shrinks by about the flattening per step
    /// (three to five steps reach 0.1 mm). Both end points are compared as well.
    pub fn nearest_to(&self, p: &Vertex) -> (Vertex, f64, f64) {
        let da = distance(&self.a, p);
        if self.len_m <= 0.0 || da == 0.0 {
            return (self.a, da, 0.0);
        }
        let mut s = self.initial_guess(p).clamp(0.0, self.len_m);
        let mut best = (self.a, da, 0.0);
        let line = self.line();
        for _ in 0..40 {
            let (x, alpha) = line.point_at(s);
            let (d, beta) = distance_azimuth(&x, p);
            // Later iterates are nearer the foot; prefer them when the distance is flat to 1 nm.
            if d <= best.1 + 1e-9 {
                best = (x, d, s);
            }
            if d == 0.0 {
                break;
            }
            let sig = d / WGS84_A;
            let theta = (beta - alpha).to_radians();
            let step = WGS84_A * (sig.sin() * theta.cos()).atan2(sig.cos());
            let next = (s + step).clamp(0.0, self.len_m);
            if (next - s).abs() < 1e-5 {
                break;
            }
            s = next;
        }
        let db = distance(&self.b, p);
        if db < best.1 {
            best = (self.b, db, self.len_m);
        }
        best
    }

    /// Where the foot of `p` lies along the edge on a sphere, as a distance from `a`.
    fn initial_guess(&self, p: &Vertex) -> f64 {
        let u = unit(&self.a.ecef);
        let v = unit(&self.b.ecef);
        let w = unit(&p.ecef);
        let n = cross(&u, &v);
        let nn = dot(&n, &n).sqrt();
        if nn < 1e-15 {
            return 0.0;
        }
        let theta_b = nn.atan2(dot(&u, &v));
        let theta_p = dot(&cross(&u, &w), &n).atan2(dot(&u, &w) * nn);
        if theta_b <= 0.0 {
            return 0.0;
        }
        theta_p / theta_b * self.len_m
    }

    /// Where this edge crosses `other`, if they properly cross (each edge's
    /// ends lie strictly on opposite sides of the other). Touching and
    /// collinear overlaps are left to the vertex-to-edge distances, which
    /// find them at distance zero.
    ///
    /// The side tests alone are not enough: two geodesics meet twice, about
    /// half the Earth apart, and a pair of edges can straddle each other's
    /// geodesics at the two different meeting points (one edge near the
    /// first, the other near the second — possible for edges of any length,
    /// and common with edges of thousands of km or over a pole). So the
    /// meeting point found on this edge must also lie on `other`.
    pub fn crossing(&self, other: &Edge) -> Option<Vertex> {
        let x = self.crossing_of_geodesics(other)?;
        // The bracketing stops within 0.1 mm along this edge, so a true
        // crossing lies within a fraction of a millimetre of `other`; the
        // far meeting point lies thousands of km from it. The threshold
        // between the two errs toward reporting a crossing.
        const ON_OTHER_M: f64 = 1_000.0;
        let (_, d, _) = other.nearest_to(&x);
        (d <= ON_OTHER_M).then_some(x)
    }

    /// The point of this edge on `other`'s geodesic, when each edge's ends lie
    /// strictly on opposite sides of the other's geodesic.
    fn crossing_of_geodesics(&self, other: &Edge) -> Option<Vertex> {
        let s1 = self.side(&other.a);
        let s2 = self.side(&other.b);
        if s1 * s2 >= 0 {
            return None;
        }
        let s3 = other.side(&self.a);
        let s4 = other.side(&self.b);
        if s3 * s4 >= 0 {
            return None;
        }
        // Bracket the crossing on this edge by the signed offset from `other`.
        let line = self.line();
        let f = |s: f64| -> (f64, Vertex) {
            let (x, _) = line.point_at(s);
            let (d, azi, _) = inverse(&other.a, &x);
            (d * (azi - other.azi_deg).to_radians().sin(), x)
        };
        let (mut lo, mut hi) = (0.0, self.len_m);
        let (mut flo, _) = f(lo);
        let (mut fhi, _) = f(hi);
        let mut x = self.a;
        let mut side = 0;
        for _ in 0..100 {
            // Illinois false position.
            let mut m = if flo != fhi {
                hi - fhi * (hi - lo) / (fhi - flo)
            } else {
                0.5 * (lo + hi)
            };
            if !(m > lo && m < hi) {
                m = 0.5 * (lo + hi);
            }
            let (fm, xm) = f(m);
            x = xm;
            if fm == 0.0 || hi - lo < 1e-4 {
                break;
            }
            if (fm > 0.0) == (fhi > 0.0) {
                hi = m;
                fhi = fm;
                if side == 1 {
                    flo *= 0.5;
                }
                side = 1;
            } else {
                lo = m;
                flo = fm;
                if side == -1 {
                    fhi *= 0.5;
                }
                side = -1;
            }
        }
        Some(x)
    }
}

fn unit(p: &[f64; 3]) -> [f64; 3] {
    let n = dot(p, p).sqrt();
    [p[0] / n, p[1] / n, p[2] / n]
}

fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chord_never_exceeds_geodesic() {
        for &(a, b) in &[
            ((0.0, 0.0), (1.0, 1.0)),
            ((179.9, 89.0), (-179.9, -89.0)),
            ((10.0, 50.0), (10.001, 50.0)),
        ] {
            let va = Vertex::new(a.0, a.1);
            let vb = Vertex::new(b.0, b.1);
            assert!(chord(&va.ecef, &vb.ecef) <= distance(&va, &vb) + 1e-9);
        }
    }

    #[test]
    fn nearest_on_equatorial_edge_is_perpendicular_foot() {
        let e = Edge::new(Vertex::new(0.0, 0.0), Vertex::new(10.0, 0.0));
        let (x, d, s) = e.nearest_to(&Vertex::new(5.0, 1.0));
        // The equator is a geodesic; the meridian through the point meets it at right angles.
        assert!((x.lon - 5.0).abs() < 1e-9 && x.lat.abs() < 1e-9, "{x:?}");
        assert!((d - distance(&Vertex::new(5.0, 1.0), &Vertex::new(5.0, 0.0))).abs() < 1e-6);
        assert!((s - distance(&Vertex::new(0.0, 0.0), &Vertex::new(5.0, 0.0))).abs() < 1e-6);
    }

    #[test]
    fn nearest_beyond_the_end_is_the_end() {
        let e = Edge::new(Vertex::new(0.0, 0.0), Vertex::new(1.0, 0.0));
        let (x, _, s) = e.nearest_to(&Vertex::new(3.0, 0.5));
        assert_eq!((x.lon, x.lat), (1.0, 0.0));
        assert_eq!(s, e.len_m);
    }

    #[test]
    fn crossing_of_two_edges_over_the_antimeridian() {
        let e1 = Edge::new(Vertex::new(179.5, -0.5), Vertex::new(-179.5, 0.5));
        let e2 = Edge::new(Vertex::new(179.5, 0.5), Vertex::new(-179.5, -0.5));
        let x = e1.crossing(&e2).expect("they cross");
        assert!(distance(&x, &Vertex::new(180.0, 0.0)) < 0.01, "{x:?}");
        let e3 = Edge::new(Vertex::new(179.0, 1.0), Vertex::new(179.2, 2.0));
        assert!(e1.crossing(&e3).is_none());
    }

    /// The short-range formula against GeographicLib on random pairs all over
    /// the globe, poles and the ±180° meridian included, out to its 20 km limit.
    /// Points along an edge's line set up once are GeographicLib's
    /// `direct` points, bit for bit: edges of 1 m to 10,000 km anywhere,
    /// points before, along and past them.
    #[test]
    fn a_point_along_an_edge_line_is_the_direct_point() {
        let mut next = crate::uniform(0x0E06_E11E_0001_2345);
        for i in 0..5_000 {
            let lat = if i % 10 == 0 {
                89.9
            } else {
                next() * 180.0 - 90.0
            };
            let a = Vertex::new(next() * 360.0 - 180.0, lat);
            let len = 10f64.powf(next() * 7.0);
            let (lat2, lon2): (f64, f64) = geod().direct(a.lat, a.lon, next() * 360.0 - 180.0, len);
            let e = Edge::new(a, Vertex::new(lon2, lat2));
            let line = e.line();
            for s in [
                -1.0,
                0.0,
                e.len_m * next(),
                e.len_m * next(),
                e.len_m,
                e.len_m * 1.01,
            ] {
                // Oracle: GeographicLib's own `direct`, at the ends the vertices.
                let (want, want_azi) = if s <= 0.0 {
                    (e.a, e.azi_deg)
                } else {
                    let (lat, lon, azi): (f64, f64, f64) =
                        geod().direct(e.a.lat, e.a.lon, e.azi_deg, s);
                    (
                        if s >= e.len_m {
                            e.b
                        } else {
                            Vertex::new(lon, lat)
                        },
                        azi,
                    )
                };
                let (got, got_azi) = line.point_at(s);
                assert_eq!(
                    (got.lon.to_bits(), got.lat.to_bits(), got_azi.to_bits()),
                    (want.lon.to_bits(), want.lat.to_bits(), want_azi.to_bits()),
                    "{e:?} at {s} m"
                );
            }
        }
    }

    /// A report's bearing against GeographicLib's initial azimuth, from 1 cm
    /// out past the short range, poles and the ±180° meridian included.
    #[test]
    fn the_bearing_is_within_1e5_degrees_of_geographiclib() {
        let mut next = crate::uniform(0x0DDB_1A5E_5BAD_5EED);
        let (mut worst, mut short) = (0.0f64, 0);
        for i in 0..100_000 {
            let lat = match i % 8 {
                0 => 90.0 - next() * 0.05,
                1 => -90.0 + next() * 0.5,
                2 => 90.0,
                3 => -90.0,
                _ => (next() * 2.0 - 1.0).asin().to_degrees(),
            };
            let lon = wrap180(if i % 5 == 0 {
                179.99 + next() * 0.02
            } else {
                next() * 360.0 - 180.0
            });
            let a = Vertex::new(lon, lat);
            // 1 cm to 25 km, evenly over the decades.
            let dist = 10f64.powf(-2.0 + next() * 6.4);
            let (lat2, lon2): (f64, f64) = geod().direct(lat, lon, next() * 360.0 - 180.0, dist);
            let b = Vertex::new(lon2, lat2);
            let want = azimuth(&a, &b);
            let got = bearing(&a, &b);
            // The sample must cover the short formula's domain.
            short += usize::from((1.0..SHORT_RANGE_M).contains(&chord(&a.ecef, &b.ecef)));
            let err = wrap180(got - want).abs();
            assert!(
                err < 1e-5,
                "{a:?} -> {b:?} ({dist} m): {got} against {want}"
            );
            worst = worst.max(err);
        }
        eprintln!(
            "bearing: worst error {worst:e} deg, {short} pairs in the short formula's domain"
        );
        assert!(short > 50_000, "{short}");
    }

    #[test]
    fn short_inverse_matches_geographiclib() {
        let mut next = crate::uniform(0x1234_5678_9ABC_DEF1);
        let (mut worst_d, mut worst_a, mut n) = (0.0f64, 0.0f64, 0);
        for i in 0..200_000 {
            let lat = match i % 4 {
                0 => 90.0 - next() * 0.5,
                1 => -90.0 + next() * 0.5,
                _ => (next() * 2.0 - 1.0).asin().to_degrees(),
            };
            let lon = if i % 5 == 0 {
                179.99 + next() * 0.02 - if next() < 0.5 { 360.0 } else { 0.0 }
            } else {
                next() * 360.0 - 180.0
            };
            let lon = wrap180(lon);
            let a = Vertex::new(lon, lat);
            let dist = SHORT_RANGE_M * 1.05 * next().powi(2);
            let (lat2, lon2): (f64, f64) = geod().direct(lat, lon, next() * 360.0 - 180.0, dist);
            let b = Vertex::new(lon2, lat2);
            let (s, azi, _) = inverse(&a, &b);
            if let Some((fs, fazi)) = short_inverse(&a, &b) {
                n += 1;
                worst_d = worst_d.max((fs - s).abs());
                if s > 1.0 && lat.abs() < 89.99 {
                    worst_a = worst_a.max(wrap180(fazi - azi).abs());
                }
            } else {
                assert!(chord(&a.ecef, &b.ecef) >= SHORT_RANGE_M);
            }
        }
        eprintln!("short_inverse: {n} pairs, worst distance error {worst_d:e} m, worst azimuth error {worst_a:e} deg");
        assert!(n > 150_000, "{n}");
        assert!(worst_d < 1e-6, "worst distance error {worst_d} m");
        assert!(worst_a < 1e-5, "worst azimuth error {worst_a} deg");
    }

    #[test]
    fn wrap180_range() {
        assert_eq!(wrap180(190.0), -170.0);
        assert_eq!(wrap180(-180.0), 180.0);
        assert_eq!(wrap180(180.0), 180.0);
        assert_eq!(wrap180(-190.0), 170.0);
    }
}
