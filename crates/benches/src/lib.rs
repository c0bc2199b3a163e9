//! Synthetic world-wide data for nostrike's benchmarks: sites clustered
//! around real cities (GeoNames, from `shared/data/cities/cities.csv`) plus a
//! uniform background, about 80 % points and 20 % polygons and lines; and
//! check areas of mixed kinds. Everything is drawn from a fixed seed.

use geo_types::{Coord, Geometry, LineString, Point, Polygon};
use geographiclib_rs::{DirectGeodesic, Geodesic};
use nostrike_core::{Area, Category, Site};

/// Path of the GeoNames cities file in the shared data.
pub const CITIES_CSV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/cities/cities.csv"
);

/// A small, fast, seedable generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// (lon, lat) of every city in the shared GeoNames file; panics with the path if it cannot be read.
pub fn cities() -> Vec<(f64, f64)> {
    cities_with_population(0)
}

/// (lon, lat) of the cities with at least `min_population` people.
pub fn cities_with_population(min_population: u64) -> Vec<(f64, f64)> {
    let text = std::fs::read_to_string(CITIES_CSV).unwrap_or_else(|e| panic!("{CITIES_CSV}: {e}"));
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        // id,name,country,lat,lon,population; the name may be quoted and hold commas,
        // so read the numeric columns from the right.
        let f: Vec<&str> = line.rsplitn(4, ',').collect();
        if let (Some(pop), Some(lon), Some(lat)) = (f.first(), f.get(1), f.get(2)) {
            if let (Ok(pop), Ok(lon), Ok(lat)) =
                (pop.parse::<u64>(), lon.parse::<f64>(), lat.parse::<f64>())
            {
                if pop >= min_population {
                    out.push((lon, lat));
                }
            }
        }
    }
    out
}

fn offset(g: &Geodesic, c: (f64, f64), azi: f64, s: f64) -> (f64, f64) {
    let (lat, lon): (f64, f64) = g.direct(c.1, c.0, azi, s);
    (lon, lat)
}

fn uniform(rng: &mut Rng) -> (f64, f64) {
    (
        rng.range(-180.0, 180.0),
        rng.range(-1.0, 1.0).asin().to_degrees(),
    )
}

/// 70 % of the time a point uniformly within `radius_m` of a random city, else uniform on the globe.
fn place(g: &Geodesic, rng: &mut Rng, cities: &[(f64, f64)], radius_m: f64) -> (f64, f64) {
    if rng.unit() < 0.7 && !cities.is_empty() {
        let city = cities[rng.below(cities.len())];
        offset(g, city, rng.range(0.0, 360.0), radius_m * rng.unit().sqrt())
    } else {
        uniform(rng)
    }
}

fn small_polygon(g: &Geodesic, rng: &mut Rng, c: (f64, f64), r: f64) -> Geometry<f64> {
    let n = 4 + rng.below(5);
    let rot = rng.range(0.0, 360.0);
    let mut pts: Vec<Coord<f64>> = (0..n)
        .map(|k| {
            let (x, y) = offset(
                g,
                c,
                rot + 360.0 * k as f64 / n as f64,
                r * rng.range(0.6, 1.0),
            );
            Coord { x, y }
        })
        .collect();
    pts.push(pts[0]);
    Polygon::new(LineString(pts), vec![]).into()
}

fn short_line(g: &Geodesic, rng: &mut Rng, c: (f64, f64), r: f64) -> Geometry<f64> {
    let mut pts = vec![c];
    for _ in 0..(1 + rng.below(4)) {
        let last = pts[pts.len() - 1];
        pts.push(offset(
            g,
            last,
            rng.range(0.0, 360.0),
            r * rng.range(0.3, 1.0),
        ));
    }
    LineString::from(pts).into()
}

/// `n` synthetic sites: 70 % clustered within 20 km of a real city, 30 %
/// uniform over the globe; 80 % points, 15 % polygons (40–400 m across),
/// 5 % lines. Categories cycle through every category. Deterministic for a seed.
pub fn sites(n: usize, seed: u64, cities: &[(f64, f64)]) -> Vec<Site> {
    sites_around(n, seed, cities, 20_000.0)
}

/// As [`sites`], clustered within `radius_m` of the cities.
pub fn sites_around(n: usize, seed: u64, cities: &[(f64, f64)], radius_m: f64) -> Vec<Site> {
    let g = Geodesic::wgs84();
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let c = place(&g, &mut rng, cities, radius_m);
            let kind = rng.unit();
            let geometry = if kind < 0.8 {
                Point::new(c.0, c.1).into()
            } else if kind < 0.95 {
                {
                    let r = rng.range(20.0, 200.0);
                    small_polygon(&g, &mut rng, c, r)
                }
            } else {
                {
                    let r = rng.range(50.0, 500.0);
                    short_line(&g, &mut rng, c, r)
                }
            };
            let mut s = Site::new(
                format!("syn:{i}"),
                "synthetic",
                Category::ALL[i % Category::ALL.len()],
                geometry,
            );
            s.name = format!("Synthetic site {i}");
            s
        })
        .collect()
}

/// `n` check areas: 80 % points with a 200 m – 5 km radius (70 % of them
/// near a city), 10 % polygons a few km across, 10 % routes of a few km with
/// a 100–500 m corridor.
pub fn areas(n: usize, seed: u64, cities: &[(f64, f64)]) -> Vec<Area> {
    areas_around(n, seed, cities, 30_000.0)
}

/// As [`areas`], within `radius_m` of the cities.
pub fn areas_around(n: usize, seed: u64, cities: &[(f64, f64)], radius_m: f64) -> Vec<Area> {
    let g = Geodesic::wgs84();
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let c = place(&g, &mut rng, cities, radius_m);
            let kind = rng.unit();
            let id = format!("area-{i}");
            if kind < 0.8 {
                Area::point(id, c.0, c.1, rng.range(200.0, 5_000.0))
            } else if kind < 0.9 {
                let r = rng.range(500.0, 3_000.0);
                let poly = small_polygon(&g, &mut rng, c, r);
                Area::geometry(id, poly, rng.range(0.0, 500.0))
            } else {
                let r = rng.range(1_000.0, 5_000.0);
                let Geometry::LineString(l) = short_line(&g, &mut rng, c, r) else {
                    unreachable!("short_line makes a LineString")
                };
                Area::route(id, l, rng.range(100.0, 500.0))
            }
        })
        .collect()
}

/// Places the dense benchmark set clusters around besides the cities: both
/// sides of the antimeridian (Fiji, Chukotka) and high latitudes (Svalbard,
/// McMurdo, by the North Pole).
pub const EDGE_PLACES: &[(f64, f64)] = &[
    (179.995, -16.8),
    (-179.995, -16.8),
    (179.99, 65.0),
    (-179.99, 65.0),
    (15.63, 78.22),
    (166.67, -77.85),
    (0.0, 89.95),
];

/// `n` point areas, each within `radius_m` of one of `places`, with a
/// radius of 200 m – 5 km. Deterministic for a seed.
pub fn point_areas_around(n: usize, seed: u64, places: &[(f64, f64)], radius_m: f64) -> Vec<Area> {
    let g = Geodesic::wgs84();
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let place = places[rng.below(places.len())];
            let c = offset(
                &g,
                place,
                rng.range(0.0, 360.0),
                radius_m * rng.unit().sqrt(),
            );
            Area::point(format!("area-{i}"), c.0, c.1, rng.range(200.0, 5_000.0))
        })
        .collect()
}
