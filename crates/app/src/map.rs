//! The check drawn as a map: one scale-true panel per area, in an
//! azimuthal equidistant projection centred on the area, for the SVG and
//! HTML reports.
//!
//! Every position is projected exactly (GeographicLib's geodesic inverse
//! from the panel's centre), so distances and azimuths from the centre are
//! true and the scale bar holds anywhere on the map's centre lines; edges
//! are densified along their geodesics before projection. A hit's
//! required-distance zone is drawn from exact geodesic offsets of the
//! site's vertices and edges (joined by straight lines in the projection
//! between points at most a few pixels apart). Nothing is fetched: the
//! basemap is Natural Earth's 1:110m countries, compiled in.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::LazyLock;

use geo_types::{Coord, Geometry, LineString, Polygon};
use nostrike_core::geodesy::{direct, ecef, inverse, Aabb, Aeqd, Vertex};
use nostrike_core::{Area, AreaKind, AreaResult, SiteSet, Verdict};

use crate::marking::Banner;
use crate::report::{verdict_word, xml, Report};

/// The most areas a map report draws (one panel each).
pub const MAX_PANELS: usize = 100;
/// The most neighbouring (non-hit) sites drawn in grey on one panel; the
/// nearest are kept and the rest counted.
pub const MAX_CONTEXT: usize = 2000;
/// The map's size in pixels (SVG user units).
pub const MAP_W: f64 = 1000.0;
/// The map's height in pixels.
pub const MAP_H: f64 = 700.0;
/// Below this half-width (metres) the basemap is left out: at large scales
/// the registry's own sites are the context, and 1:110m outlines would
/// mislead by kilometres.
pub const BASEMAP_MIN_HALF_WIDTH_M: f64 = 20_000.0;

/// Why a map cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// Too many areas for one picture.
    #[error("a map report draws at most {MAX_PANELS} areas, and this check has {0}: split the areas file, or use --format json, geojson, csv, kml or kmz, which stream in bounded memory")]
    TooManyAreas(usize),
    /// A site could not be read from the registry.
    #[error("{0}")]
    Set(#[from] nostrike_core::SetError),
    /// A route could not be read.
    #[error("{0}")]
    Other(String),
}

/// How a verdict is drawn: a colour, and a dash pattern and marker shape so
/// that it still reads on a black-and-white print.
pub struct Style {
    /// Stroke and fill colour.
    pub color: &'static str,
    /// SVG `stroke-dasharray` (empty: solid).
    pub dash: &'static str,
    /// Marker shape: `square`, `triangle`, `circle` or `diamond`.
    pub shape: &'static str,
}

/// The style of a verdict on the map.
pub fn style(v: Verdict) -> Style {
    match v {
        Verdict::Conflict => Style {
            color: "#c00000",
            dash: "",
            shape: "square",
        },
        Verdict::Caution => Style {
            color: "#c06000",
            dash: "9 5",
            shape: "triangle",
        },
        Verdict::Uncovered => Style {
            color: "#6a1b9a",
            dash: "2 4",
            shape: "diamond",
        },
        Verdict::Clear => Style {
            color: "#1b5e20",
            dash: "",
            shape: "circle",
        },
    }
}

/// A panel's projection and scale.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// The projection centred on the area.
    pub proj: Aeqd,
    /// Pixels per metre.
    pub scale: f64,
    /// Half the map's width in metres at its centre line.
    pub half_width_m: f64,
}

impl Frame {
    /// Pixel position of projected metres.
    pub fn px(&self, (x, y): (f64, f64)) -> (f64, f64) {
        (MAP_W / 2.0 + x * self.scale, MAP_H / 2.0 - y * self.scale)
    }

    /// Pixel position of (lon, lat) degrees.
    pub fn px_of(&self, lon: f64, lat: f64) -> (f64, f64) {
        self.px(self.proj.forward(lon, lat))
    }

    /// A step (metres) along which geodesic edges are densified: a few pixels.
    fn step_m(&self) -> f64 {
        4.0 / self.scale
    }
}

/// The centre of an area: its point, or the normalised mean of its
/// vertices' Earth-centred positions (which stays right across the
/// antimeridian and near the poles).
pub fn centre_of(g: &Geometry<f64>) -> (f64, f64) {
    let cs = nostrike_formats::coords(g);
    if let Geometry::Point(p) = g {
        return (p.x(), p.y());
    }
    let mut sum = [0.0f64; 3];
    for c in &cs {
        let e = ecef(c.x, c.y);
        for k in 0..3 {
            sum[k] += e[k];
        }
    }
    let n = (sum[0] * sum[0] + sum[1] * sum[1] + sum[2] * sum[2]).sqrt();
    if cs.is_empty() {
        return (0.0, 0.0);
    }
    if n < 1.0 {
        return (cs[0].x, cs[0].y);
    }
    // The mean direction's geocentric latitude, made geodetic (for a point
    // on the ellipsoid, tan φ = tan ψ / (1 − e²)).
    let e2 = nostrike_core::geodesy::WGS84_F * (2.0 - nostrike_core::geodesy::WGS84_F);
    let lat = (sum[2] / (sum[0].hypot(sum[1]) * (1.0 - e2)))
        .atan()
        .to_degrees();
    let lon = sum[1].atan2(sum[0]).to_degrees();
    (lon, lat)
}

/// A geodesic edge from `a` to `b` as points (lon, lat) at most `step`
/// metres apart, `a` included and `b` left out.
fn densify(a: Coord<f64>, b: Coord<f64>, step: f64, out: &mut Vec<(f64, f64)>) {
    out.push((a.x, a.y));
    let (s, azi, _) = inverse(&Vertex::new(a.x, a.y), &Vertex::new(b.x, b.y));
    if s.is_nan() || s <= step {
        return;
    }
    let n = ((s / step).ceil() as usize).min(2000);
    for i in 1..n {
        out.push(direct(a.x, a.y, azi, s * i as f64 / n as f64));
    }
}

/// A line's vertices densified along its geodesic edges (lon, lat).
fn dense_line(l: &LineString<f64>, step: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for w in l.0.windows(2) {
        densify(w[0], w[1], step, &mut out);
    }
    if let Some(last) = l.0.last() {
        out.push((last.x, last.y));
    }
    out
}

/// The lines and rings of a geometry in lon/lat, densified, with whether each is a closed ring.
fn parts(g: &Geometry<f64>, step: f64, out: &mut Vec<(Vec<(f64, f64)>, bool)>) {
    match g {
        Geometry::Point(p) => out.push((vec![(p.x(), p.y())], false)),
        Geometry::MultiPoint(m) => {
            m.0.iter()
                .for_each(|p| out.push((vec![(p.x(), p.y())], false)))
        }
        Geometry::Line(l) => out.push((dense_line(&LineString(vec![l.start, l.end]), step), false)),
        Geometry::LineString(l) => out.push((dense_line(l, step), false)),
        Geometry::MultiLineString(m) => {
            m.0.iter()
                .for_each(|l| out.push((dense_line(l, step), false)))
        }
        Geometry::Polygon(p) => poly_parts(p, step, out),
        Geometry::MultiPolygon(m) => m.0.iter().for_each(|p| poly_parts(p, step, out)),
        Geometry::Rect(r) => poly_parts(&r.to_polygon(), step, out),
        Geometry::Triangle(t) => poly_parts(&t.to_polygon(), step, out),
        Geometry::GeometryCollection(c) => c.0.iter().for_each(|g| parts(g, step, out)),
    }
}

fn poly_parts(p: &Polygon<f64>, step: f64, out: &mut Vec<(Vec<(f64, f64)>, bool)>) {
    out.push((dense_line(p.exterior(), step), true));
    for i in p.interiors() {
        out.push((dense_line(i, step), true));
    }
}

/// SVG path data of pixel points.
fn d_of(pts: &[(f64, f64)], close: bool, o: &mut String) {
    for (i, (x, y)) in pts.iter().enumerate() {
        let _ = write!(o, "{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, x, y);
    }
    if close {
        o.push('Z');
    }
}

/// Twice the signed area of a pixel ring (positive: clockwise on screen, as y grows downwards).
fn signed_area2(p: &[(f64, f64)]) -> f64 {
    let n = p.len();
    (0..n)
        .map(|i| {
            let (a, b) = (p[i], p[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum()
}

/// Append a ring with clockwise screen winding, so that overlapping
/// rings in one path fill as their union under the non-zero rule.
fn push_ring(mut ring: Vec<(f64, f64)>, o: &mut String) {
    if ring.len() < 3 {
        return;
    }
    if signed_area2(&ring) < 0.0 {
        ring.reverse();
    }
    d_of(&ring, true, o);
}

/// The path data of everything within `radius` metres of a geometry: the
/// geometry itself, a geodesic circle around each vertex and a band along
/// each (densified) edge, whose outer corners are exact geodesic offsets.
/// Drawn with the non-zero fill rule, the pieces paint their union.
fn zone_d(f: &Frame, g: &Geometry<f64>, radius: f64) -> String {
    let mut o = String::new();
    let step = f.step_m().max(radius / 2.0).max(1e-3);
    let circle_n =
        ((radius * f.scale * 2.0 * std::f64::consts::PI / 3.0).ceil() as usize).clamp(24, 180);
    for ring in zone_rings(g, radius, step, circle_n) {
        push_ring(
            ring.iter().map(|&(lon, lat)| f.px_of(lon, lat)).collect(),
            &mut o,
        );
    }
    o
}

/// The pieces whose union is everything within `radius` metres of a
/// geometry, as rings of (lon, lat): its own polygon rings, a geodesic
/// circle of `circle_n` points around each vertex, and a band along each
/// edge (densified to `step` metres) whose corners are exact geodesic
/// offsets. Longitudes in a ring are continuous (they may pass ±180).
pub fn zone_rings(
    g: &Geometry<f64>,
    radius: f64,
    step: f64,
    circle_n: usize,
) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut ps = Vec::new();
    parts(g, step, &mut ps);
    // A ring's longitudes made continuous around its first point.
    let unwrap = |ring: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
        let Some(&(lon0, _)) = ring.first() else {
            return ring;
        };
        ring.into_iter()
            .map(|(lon, lat)| (lon0 + nostrike_core::geodesy::wrap180(lon - lon0), lat))
            .collect()
    };
    for (pts, closed) in &ps {
        if *closed {
            out.push(unwrap(pts.clone()));
        }
        if radius <= 0.0 {
            continue;
        }
        let mut corners: Vec<(f64, f64)> = pts.clone();
        if *closed {
            corners.push(pts[0]);
        }
        // Circles at the given vertices (where the outline turns); points
        // added by densifying lie on one geodesic, so bands meet there.
        for &(lon, lat) in pts.iter() {
            let ring = (0..circle_n)
                .map(|k| direct(lon, lat, 360.0 * k as f64 / circle_n as f64, radius))
                .collect();
            out.push(unwrap(ring));
        }
        for w in corners.windows(2) {
            let (a, b) = (w[0], w[1]);
            let (_, azi1, azi2) = inverse(&Vertex::new(a.0, a.1), &Vertex::new(b.0, b.1));
            out.push(unwrap(vec![
                direct(a.0, a.1, azi1 + 90.0, radius),
                direct(b.0, b.1, azi2 + 90.0, radius),
                direct(b.0, b.1, azi2 - 90.0, radius),
                direct(a.0, a.1, azi1 - 90.0, radius),
            ]));
        }
    }
    out
}

/// The drawing of a geometry's lines and rings (no zone).
fn shape_d(f: &Frame, g: &Geometry<f64>) -> (String, Vec<(f64, f64)>) {
    let mut o = String::new();
    let mut points = Vec::new();
    let mut ps = Vec::new();
    parts(g, f.step_m(), &mut ps);
    for (pts, closed) in ps {
        let px: Vec<(f64, f64)> = pts.iter().map(|&(lon, lat)| f.px_of(lon, lat)).collect();
        if px.len() == 1 {
            points.push(px[0]);
        } else {
            d_of(&px, closed, &mut o);
        }
    }
    (o, points)
}

/// A marker of `shape` at a pixel position.
fn marker(shape: &str, (x, y): (f64, f64), r: f64, attrs: &str) -> String {
    match shape {
        "square" => format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" {attrs}/>",
            x - r,
            y - r,
            2.0 * r,
            2.0 * r
        ),
        "triangle" => format!(
            "<path d=\"M{:.1},{:.1}L{:.1},{:.1}L{:.1},{:.1}Z\" {attrs}/>",
            x,
            y - 1.2 * r,
            x + 1.1 * r,
            y + 0.8 * r,
            x - 1.1 * r,
            y + 0.8 * r
        ),
        "diamond" => format!(
            "<path d=\"M{:.1},{:.1}L{:.1},{:.1}L{:.1},{:.1}L{:.1},{:.1}Z\" {attrs}/>",
            x,
            y - 1.3 * r,
            x + 1.3 * r,
            y,
            x,
            y + 1.3 * r,
            x - 1.3 * r,
            y
        ),
        _ => format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r:.1}\" {attrs}/>"),
    }
}

/// Natural Earth's 1:110m countries (public domain) as GeoJSON: `name` and `iso_a3` only.
pub const BASEMAP_GEOJSON: &str = include_str!("../assets/ne_110m_countries.geojson");

/// Natural Earth's 1:110m countries: rings of (lon, lat).
static BASEMAP: LazyLock<Vec<Vec<(f64, f64)>>> = LazyLock::new(|| {
    let text = BASEMAP_GEOJSON;
    let mut rings = Vec::new();
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return rings;
    };
    let ring_of = |r: &serde_json::Value| -> Vec<(f64, f64)> {
        r.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    for feat in v["features"].as_array().into_iter().flatten() {
        let g = &feat["geometry"];
        let polys: Vec<&serde_json::Value> = match g["type"].as_str() {
            Some("Polygon") => vec![&g["coordinates"]],
            Some("MultiPolygon") => g["coordinates"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        for p in polys {
            for r in p.as_array().into_iter().flatten() {
                rings.push(ring_of(r));
            }
        }
    }
    rings
});

/// Country outlines projected into the frame: each ring cut where it
/// leaves four half-widths of the centre (beyond that the projection
/// stretches and nothing there is on the map).
fn basemap_d(f: &Frame) -> String {
    let mut o = String::new();
    for ring in BASEMAP.iter() {
        near_runs(f, ring, &mut o);
    }
    o
}

/// The path data of a line (lon, lat) cut into the runs within four
/// half-widths of the centre (beyond, the projection stretches and nothing
/// there is on the map).
fn near_runs(f: &Frame, line: &[(f64, f64)], o: &mut String) {
    let c = ecef(f.proj.lon, f.proj.lat);
    let reach = (4.0 * f.half_width_m).min(12_000_000.0);
    let mut run: Vec<(f64, f64)> = Vec::new();
    for &(lon, lat) in line {
        if nostrike_core::geodesy::chord(&c, &ecef(lon, lat)) > reach {
            if run.len() > 1 {
                d_of(&run, false, o);
            }
            run.clear();
        } else {
            run.push(f.px_of(lon, lat));
        }
    }
    if run.len() > 1 {
        d_of(&run, false, o);
    }
}

/// Context imagery under a panel: the tiles covering the map at the zoom
/// whose pixels are at least as fine as the map's, each placed by the
/// affine map of three of its corners. Returns the SVG and a note (what
/// was drawn, or why nothing was).
fn tiles_svg(f: &Frame, t: &crate::tiles::TileSource) -> (String, String) {
    use crate::tiles::{tile_corner, tile_of};
    if f.half_width_m > 3_000_000.0 {
        return (
            String::new(),
            "imagery: none (the map is wider than 6,000 km)".into(),
        );
    }
    // The map's border, back in degrees (longitudes relative to the centre, unwrapped).
    let mut lons: Vec<f64> = Vec::new();
    let mut lats: Vec<f64> = Vec::new();
    for k in 0..=40 {
        let u = f64::from(k) / 40.0;
        for (px, py) in [
            (u * MAP_W, 0.0),
            (u * MAP_W, MAP_H),
            (0.0, u * MAP_H),
            (MAP_W, u * MAP_H),
        ] {
            let (lon, lat) = f
                .proj
                .reverse((px - MAP_W / 2.0) / f.scale, (MAP_H / 2.0 - py) / f.scale);
            lons.push(f.proj.lon + nostrike_core::geodesy::wrap180(lon - f.proj.lon));
            lats.push(lat);
        }
    }
    let (w, e) = (
        lons.iter().copied().fold(f64::INFINITY, f64::min),
        lons.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let (s, n) = (
        lats.iter().copied().fold(f64::INFINITY, f64::min),
        lats.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    if n > 85.0 || s < -85.0 {
        return (
            String::new(),
            "imagery: none (Web Mercator tiles do not reach the poles)".into(),
        );
    }
    let (zmin, zmax) = t.zooms();
    let ground = 156_543.033_92 * f.proj.lat.to_radians().cos();
    let mut z = ((ground * f.scale).log2().ceil().max(0.0) as u8).clamp(zmin, zmax);
    let range = |z: u8| {
        let (x0, y0) = tile_of(z, w, n);
        let (x1, y1) = tile_of(z, e, s);
        (
            x0.floor() as i64,
            x1.floor() as i64,
            y0.floor() as i64,
            y1.floor() as i64,
        )
    };
    let mut r = range(z);
    while (r.1 - r.0 + 1) * (r.3 - r.2 + 1) > 64 && z > zmin {
        z -= 1;
        r = range(z);
    }
    if (r.1 - r.0 + 1) * (r.3 - r.2 + 1) > 64 {
        return (
            String::new(),
            "imagery: none (too many tiles at the source's lowest zoom)".into(),
        );
    }
    let count = 1i64 << z;
    let mut o = String::from("<g class=\"tiles\" opacity=\"0.75\">");
    let (mut drawn, mut missing) = (0, 0);
    for ty in r.2.max(0)..=r.3.min(count - 1) {
        for tx in r.0..=r.1 {
            let (x, y) = (tx.rem_euclid(count) as u32, ty as u32);
            let href = match t.url(z, x, y) {
                Some(u) => u,
                None => match t.tile(z, x, y) {
                    Ok(Some((bytes, mime))) => {
                        format!("data:{mime};base64,{}", crate::html::base64(&bytes))
                    }
                    _ => {
                        missing += 1;
                        continue;
                    }
                },
            };
            let corner = |dx: f64, dy: f64| {
                let (lon, lat) = tile_corner(z, tx as f64 + dx, ty as f64 + dy);
                f.px_of(lon, lat)
            };
            let (nw, ne, sw) = (corner(0.0, 0.0), corner(1.0, 0.0), corner(0.0, 1.0));
            let _ = write!(
                o,
                "<image data-tile=\"{z}/{x}/{y}\" width=\"256\" height=\"256\" preserveAspectRatio=\"none\" transform=\"matrix({:.6} {:.6} {:.6} {:.6} {:.3} {:.3})\" href=\"{}\"/>",
                (ne.0 - nw.0) / 256.0,
                (ne.1 - nw.1) / 256.0,
                (sw.0 - nw.0) / 256.0,
                (sw.1 - nw.1) / 256.0,
                nw.0,
                nw.1,
                xml(&href)
            );
            drawn += 1;
        }
    }
    o.push_str("</g>");
    let note = format!(
        "imagery: {} at zoom {z}, {drawn} tile(s){} — context only, every distance is measured on the vectors",
        t.describe(),
        if missing > 0 { format!(", {missing} not in the file") } else { String::new() }
    );
    (o, note)
}

/// A length for the scale bar: 1, 2 or 5 × 10ⁿ metres, about a fifth of the map.
fn nice_length(half_width_m: f64) -> f64 {
    let target = half_width_m * 2.0 / 5.0;
    let p = 10f64.powf(target.log10().floor());
    [5.0, 2.0, 1.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&l| l <= target)
        .unwrap_or(p)
}

/// A distance in words for map labels.
pub fn metres_words(m: f64) -> String {
    if m >= 10_000.0 {
        format!("{:.1} km", m / 1000.0)
    } else {
        format!("{m:.1} m")
    }
}

fn round_words(m: f64) -> String {
    if m >= 1000.0 {
        format!("{} km", m / 1000.0)
    } else {
        format!("{m} m")
    }
}

/// The frame of area `k`: centred on it, wide enough for the area, its
/// buffer, and every hit with its required-distance zone.
pub fn frame_of(area: &Area, res: &AreaResult, index: &dyn SiteSet) -> Result<Frame, MapError> {
    let (lon, lat) = centre_of(&area.geometry);
    let proj = Aeqd::new(lon, lat);
    let dist = |c: Coord<f64>| {
        let (x, y) = proj.forward(c.x, c.y);
        x.hypot(y)
    };
    let mut half = nostrike_formats::coords(&area.geometry)
        .iter()
        .map(|c| dist(*c))
        .fold(0.0, f64::max)
        + area.buffer_m
        + area.location_error_m;
    for h in res.hits.iter().chain(&res.not_valid) {
        half = half.max(dist(h.nearest_on_site) + h.required_m.min(5e6));
        for c in nostrike_formats::coords(&index.geometry(h.site)?)
            .iter()
            .take(10_000)
        {
            half = half.max(dist(*c));
        }
    }
    // An uncovered area shows its whole reach, the ring that had to lie
    // inside a source's coverage, and so the coverage boundary it crosses.
    if let Some(c) = res.coverage.as_ref().filter(|c| c.uncovered()) {
        let extent = nostrike_formats::coords(&area.geometry)
            .iter()
            .map(|c| dist(*c))
            .fold(0.0, f64::max);
        half = half.max(extent + c.reach_m.min(5e6));
    }
    let half = (half * 1.15).clamp(200.0, 9_000_000.0);
    let scale = (MAP_H / 2.0 - 20.0) / half;
    Ok(Frame {
        proj,
        scale,
        half_width_m: MAP_W / 2.0 / scale,
    })
}

/// Whether a site's marking may appear beside a report of banner `banner`
/// for `partner`: releasable to the partner, and not raising the banner.
fn fits_banner(
    order: &[String],
    banner: &Banner,
    partner: Option<&str>,
    class: Option<&str>,
    rel: &str,
) -> bool {
    if let Some(p) = partner {
        let p = p.trim().to_uppercase();
        if !(rel.is_empty() || rel.split(',').any(|r| r == p)) {
            return false;
        }
    }
    let joined = banner.releasable_to.as_ref().map(|r| r.join(","));
    if matches!(&banner.releasable_to, Some(r) if r.is_empty()) {
        return rel.is_empty()
            && Banner::of(order, [(banner.classification.as_deref(), ""), (class, "")])
                .classification
                == banner.classification;
    }
    Banner::of(
        order,
        [
            (
                banner.classification.as_deref(),
                joined.as_deref().unwrap_or(""),
            ),
            (class, rel),
        ],
    ) == *banner
}

/// One drawn panel: the map's SVG element and what it showed.
pub struct Panel {
    /// The `<svg>` element of the map (its own viewBox, MAP_W × MAP_H).
    pub svg: String,
    /// Neighbouring sites drawn in grey.
    pub context_drawn: usize,
    /// Neighbouring sites within the map not drawn (over [`MAX_CONTEXT`],
    /// or marked above the report's banner or not releasable to its partner).
    pub context_left_out: usize,
    /// The neighbouring sites drawn (numbers in the site set).
    pub context_sites: Vec<usize>,
    /// The frame it was drawn in.
    pub frame: Frame,
    /// What imagery was drawn under the map, if any was asked for.
    pub imagery: Option<String>,
}

/// Draw area `k` of the report.
pub fn panel(r: &Report<'_>, k: usize) -> Result<Panel, MapError> {
    let (area, input) = &r.areas[k];
    let res = &r.results[k];
    let f = frame_of(area, res, r.index)?;
    let mut o = String::new();
    let id = format!("p{k}");
    let _ = write!(
        o,
        "<svg class=\"map\" id=\"map-{k}\" viewBox=\"0 0 {MAP_W} {MAP_H}\" width=\"{MAP_W}\" height=\"{MAP_H}\" data-centre-lon=\"{:.9}\" data-centre-lat=\"{:.9}\" data-px-per-m=\"{:.12}\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">",
        f.proj.lon, f.proj.lat, f.scale
    );
    let _ = write!(o, "<defs><pattern id=\"{id}-hatch\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#000\" stroke-width=\"1\" stroke-opacity=\"0.35\"/></pattern></defs>");
    let _ = write!(o, "<rect class=\"background\" x=\"-100000\" y=\"-100000\" width=\"200000\" height=\"200000\" fill=\"#ffffff\"/>");
    // Imagery, when the operator gave a tile source.
    let imagery = r.tiles.map(|t| {
        let (svg, note) = tiles_svg(&f, t);
        o.push_str(&svg);
        note
    });
    // Basemap at small scales.
    if f.half_width_m >= BASEMAP_MIN_HALF_WIDTH_M {
        let d = basemap_d(&f);
        if !d.is_empty() {
            let _ = write!(o, "<path class=\"basemap\" d=\"{d}\" fill=\"none\" stroke=\"#9e9e9e\" stroke-width=\"0.8\"/>");
        }
    }
    // Declared coverage: each source's boundary, dash-dotted, where it crosses the map.
    for (source, g) in r.coverage_shapes {
        let mut ps = Vec::new();
        parts(g, f.step_m().max(f.half_width_m / 200.0), &mut ps);
        let mut d = String::new();
        for (ring, _) in &ps {
            near_runs(&f, ring, &mut d);
        }
        if !d.is_empty() {
            let _ = write!(o, "<path class=\"coverage\" data-source=\"{}\" d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" stroke-dasharray=\"10 3 2 3\"><title>declared coverage of {}</title></path>", xml(source), style(Verdict::Uncovered).color, xml(source));
        }
    }
    // Neighbouring sites in grey.
    let shown: HashSet<usize> = res
        .hits
        .iter()
        .chain(&res.not_valid)
        .map(|h| h.site)
        .collect();
    let mut near = Aabb::EMPTY;
    near.add(&ecef(f.proj.lon, f.proj.lat));
    let reach = f.half_width_m * std::f64::consts::SQRT_2 * 1.05;
    let centre = ecef(f.proj.lon, f.proj.lat);
    let mut ids: Vec<usize> = Vec::new();
    r.index.for_each_candidate(&near, reach, &mut |i| {
        if !shown.contains(&i) {
            ids.push(i);
        }
        Ok(())
    })?;
    // Nearest first (by the first vertex); each geometry decoded once.
    let mut found: Vec<(f64, usize, Geometry<f64>)> = Vec::with_capacity(ids.len());
    for i in ids {
        let g = r.index.geometry(i)?;
        let c = nostrike_formats::coords(&g)
            .first()
            .copied()
            .unwrap_or_default();
        found.push((
            nostrike_core::geodesy::chord(&centre, &ecef(c.x, c.y)),
            i,
            g,
        ));
    }
    found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut context_sites = Vec::new();
    let mut left_out = 0;
    let _ = write!(
        o,
        "<g class=\"context\" fill=\"none\" stroke=\"#8a8a8a\" stroke-width=\"1\">"
    );
    for (_, i, g) in &found {
        let l = r.index.label(*i)?;
        if context_sites.len() >= MAX_CONTEXT
            || !fits_banner(
                &r.policy.classifications,
                &r.banner,
                r.partner,
                l.classification.as_deref(),
                &l.releasable_to,
            )
        {
            left_out += 1;
            continue;
        }
        context_sites.push(*i);
        let (d, pts) = shape_d(&f, g);
        let key = xml(&l.key());
        let _ = write!(o, "<g class=\"site context-site\" data-key=\"{key}\"><title>{} ({key}) — {}, not within reach</title>", xml(&l.name), l.category.as_str());
        if !d.is_empty() {
            let _ = write!(o, "<path d=\"{d}\" fill=\"#bdbdbd\" fill-opacity=\"0.3\"/>");
        }
        for p in pts {
            o.push_str(&marker("circle", p, 2.5, "fill=\"#ffffff\""));
        }
        o.push_str("</g>");
    }
    o.push_str("</g>");
    // Hits' required-distance zones: a hatched, lightly tinted area with its outline.
    for (n, h) in res.hits.iter().enumerate() {
        let st = style(h.verdict);
        let g = r.index.geometry(h.site)?;
        let d = zone_d(&f, &g, h.required_m);
        let zid = format!("{id}-z{n}");
        let _ = write!(
            o,
            "<g class=\"zone\" data-hit=\"{n}\" data-required-m=\"{}\"><defs><path id=\"{zid}\" d=\"{d}\"/><mask id=\"{zid}-m\" maskUnits=\"userSpaceOnUse\" x=\"-100000\" y=\"-100000\" width=\"200000\" height=\"200000\"><rect x=\"-100000\" y=\"-100000\" width=\"200000\" height=\"200000\" fill=\"#fff\"/><use href=\"#{zid}\" fill=\"#000\"/></mask></defs><use href=\"#{zid}\" fill=\"url(#{id}-hatch)\" stroke=\"none\"/><use href=\"#{zid}\" fill=\"{}\" fill-opacity=\"0.06\" stroke=\"none\"/><use href=\"#{zid}\" fill=\"none\" stroke=\"{}\" stroke-width=\"3\" stroke-dasharray=\"{}\" mask=\"url(#{zid}-m)\"/></g>",
            h.required_m, st.color, st.color, st.dash
        );
    }
    // The area: buffer (and buffer + location error) zone, then its geometry.
    if area.buffer_m + area.location_error_m > 0.0 {
        let d = zone_d(&f, &area.geometry, area.buffer_m + area.location_error_m);
        let _ = write!(o, "<path class=\"area-reach\" d=\"{d}\" fill=\"#1565c0\" fill-opacity=\"0.07\" stroke=\"none\"/>");
    }
    if area.buffer_m > 0.0 {
        let d = zone_d(&f, &area.geometry, area.buffer_m);
        let bid = format!("{id}-buf");
        let _ = write!(o, "<g class=\"area-buffer\" data-buffer-m=\"{}\"><defs><path id=\"{bid}\" d=\"{d}\"/><mask id=\"{bid}-m\" maskUnits=\"userSpaceOnUse\" x=\"-100000\" y=\"-100000\" width=\"200000\" height=\"200000\"><rect x=\"-100000\" y=\"-100000\" width=\"200000\" height=\"200000\" fill=\"#fff\"/><use href=\"#{bid}\" fill=\"#000\"/></mask></defs><use href=\"#{bid}\" fill=\"none\" stroke=\"#1565c0\" stroke-width=\"3\" stroke-dasharray=\"3 3\" mask=\"url(#{bid}-m)\"/></g>", area.buffer_m);
    }
    let (d, pts) = shape_d(&f, &area.geometry);
    let _ = write!(
        o,
        "<g class=\"area\" data-verdict=\"{}\"><title>area {} — {}</title>",
        res.verdict.as_str(),
        xml(&area.id),
        xml(&input.how)
    );
    if !d.is_empty() {
        let fill = if area.kind == AreaKind::Route {
            "none"
        } else {
            "#1565c0"
        };
        let _ = write!(o, "<path d=\"{d}\" fill=\"{fill}\" fill-opacity=\"0.15\" stroke=\"#0d47a1\" stroke-width=\"2.5\"/>");
    }
    for (x, y) in pts {
        let _ = write!(o, "<path d=\"M{:.1},{y:.1}H{:.1}M{x:.1},{:.1}V{:.1}\" stroke=\"#0d47a1\" stroke-width=\"2\"/><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"#ffffff\" stroke=\"#0d47a1\" stroke-width=\"2\"/>", x - 10.0, x + 10.0, y - 10.0, y + 10.0);
    }
    o.push_str("</g>");
    // Sites outside their validity period: hollow, dotted, never coloured as hits.
    for h in &res.not_valid {
        let l = r.index.label(h.site)?;
        let (d, pts) = shape_d(&f, &r.index.geometry(h.site)?);
        let _ = write!(o, "<g class=\"site not-valid\" data-key=\"{}\"><title>{} — outside its validity period at the check's time; not counted</title>", xml(&l.key()), xml(&l.name));
        if !d.is_empty() {
            let _ = write!(o, "<path d=\"{d}\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.5\" stroke-dasharray=\"1 3\"/>");
        }
        for p in pts {
            o.push_str(&marker(
                "circle",
                p,
                4.0,
                "fill=\"none\" stroke=\"#555\" stroke-dasharray=\"1 2\"",
            ));
        }
        o.push_str("</g>");
    }
    // Hits: the site's geometry, the nearest-points line with its distance, a numbered marker.
    for (n, h) in res.hits.iter().enumerate().rev() {
        let st = style(h.verdict);
        let l = r.index.label(h.site)?;
        let key = xml(&l.key());
        let (d, pts) = shape_d(&f, &r.index.geometry(h.site)?);
        let (sx, sy) = f.px_of(h.nearest_on_site.x, h.nearest_on_site.y);
        let (ax, ay) = f.px_of(h.nearest_on_area.x, h.nearest_on_area.y);
        let _ = write!(
            o,
            "<g class=\"site hit\" data-key=\"{key}\" data-hit=\"{n}\" data-verdict=\"{}\" data-distance-m=\"{}\" data-required-m=\"{}\" data-x=\"{sx:.3}\" data-y=\"{sy:.3}\"><title>[{}] {} {} ({key}) — {}, distance {}, required {}{}</title>",
            h.verdict.as_str(), h.distance_m, h.required_m, n + 1, verdict_word(h.verdict), xml(&l.name), l.category.as_str(), metres_words(h.distance_m), metres_words(h.required_m),
            if h.stale.is_some() { "; STALE record" } else { "" }
        );
        if !d.is_empty() {
            let _ = write!(o, "<path d=\"{d}\" fill=\"{}\" fill-opacity=\"0.35\" stroke=\"{}\" stroke-width=\"2.5\" stroke-dasharray=\"{}\"/>", st.color, st.color, st.dash);
        }
        for p in pts {
            o.push_str(&marker(
                st.shape,
                p,
                5.0,
                &format!("fill=\"{}\" stroke=\"#000\" stroke-width=\"1\"", st.color),
            ));
        }
        // The nearest-points line, densified along its geodesic.
        if h.distance_m > 0.0 {
            let mut line = Vec::new();
            densify(h.nearest_on_area, h.nearest_on_site, f.step_m(), &mut line);
            line.push((h.nearest_on_site.x, h.nearest_on_site.y));
            let px: Vec<(f64, f64)> = line.iter().map(|&(lo, la)| f.px_of(lo, la)).collect();
            let mut ld = String::new();
            d_of(&px, false, &mut ld);
            let _ = write!(o, "<path class=\"nearest\" d=\"{ld}\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.2\" stroke-dasharray=\"4 2\"/>");
            let (mx, my) = px[px.len() / 2];
            let _ = write!(o, "<text class=\"distance\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>", mx, my - 4.0, metres_words(h.distance_m));
        } else {
            let _ = write!(o, "<circle cx=\"{ax:.1}\" cy=\"{ay:.1}\" r=\"7\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.5\"/>");
        }
        let label = format!("{}{}", n + 1, if h.stale.is_some() { " STALE" } else { "" });
        let _ = write!(o, "<text class=\"hit-label\" x=\"{:.1}\" y=\"{:.1}\" font-weight=\"bold\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">{label}</text></g>", sx + 8.0, sy - 8.0);
    }
    // Uncovered: the reach that had to be covered, and the words, on the map itself.
    if let Some(c) = res.coverage.as_ref().filter(|c| c.uncovered()) {
        let d = zone_d(&f, &area.geometry, c.reach_m);
        let _ = write!(o, "<path class=\"coverage-reach\" d=\"{d}\" fill=\"{}\" fill-opacity=\"0.04\" stroke=\"none\"><title>the reach ({:.0} m) that must lie inside a source's declared coverage</title></path>", style(Verdict::Uncovered).color, c.reach_m);
    }
    // Uncovered: said on the map itself.
    if res.coverage.as_ref().is_some_and(|c| c.uncovered()) {
        let _ = write!(o, "<g class=\"uncovered\"><rect x=\"4\" y=\"4\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"6\" stroke-dasharray=\"2 4\"/><text x=\"{}\" y=\"30\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\" fill=\"{}\" stroke=\"#fff\" stroke-width=\"4\" paint-order=\"stroke\">UNCOVERED — no source declares its data complete here; absence of sites means nothing</text></g>", MAP_W - 8.0, MAP_H - 8.0, style(Verdict::Uncovered).color, MAP_W / 2.0, style(Verdict::Uncovered).color);
    }
    // Scale bar and north arrow, in map units so they stay true when zoomed.
    let len = nice_length(f.half_width_m);
    let bar = len * f.scale;
    let (x0, y0) = (20.0, MAP_H - 30.0);
    let _ = write!(
        o,
        "<g class=\"scalebar\" data-metres=\"{len}\" data-px=\"{bar:.6}\">"
    );
    for i in 0..4 {
        let fill = if i % 2 == 0 { "#000" } else { "#fff" };
        let _ = write!(o, "<rect x=\"{:.2}\" y=\"{y0:.1}\" width=\"{:.2}\" height=\"6\" fill=\"{fill}\" stroke=\"#000\" stroke-width=\"1\"/>", x0 + bar * i as f64 / 4.0, bar / 4.0);
    }
    let _ = write!(o, "<text x=\"{x0:.1}\" y=\"{:.1}\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">0</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text><text x=\"{x0:.1}\" y=\"{:.1}\" font-size=\"10\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">true along lines through the centre (azimuthal equidistant)</text></g>", y0 - 4.0, x0 + bar, y0 - 4.0, round_words(len), y0 + 20.0);
    let (nx, ny) = (MAP_W - 40.0, 60.0);
    let _ = write!(o, "<g class=\"north\"><path d=\"M{nx},{:.1}L{:.1},{:.1}L{nx},{:.1}Z\" fill=\"#000\"/><path d=\"M{nx},{:.1}L{:.1},{:.1}L{nx},{:.1}Z\" fill=\"#fff\" stroke=\"#000\"/><text x=\"{nx}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\" font-size=\"16\">N</text></g>", ny - 30.0, nx + 10.0, ny + 10.0, ny, ny - 30.0, nx - 10.0, ny + 10.0, ny, ny - 36.0);
    let _ = write!(o, "<rect class=\"frame\" x=\"0.5\" y=\"0.5\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#000\"/></svg>", MAP_W - 1.0, MAP_H - 1.0);
    Ok(Panel {
        svg: o,
        context_drawn: context_sites.len(),
        context_left_out: left_out,
        context_sites,
        frame: f,
        imagery,
    })
}

/// A line of the header: what a filed picture must state.
pub fn header_lines(r: &Report<'_>) -> Vec<String> {
    vec![
        format!(
            "nostrike {} check — {}: {}",
            env!("CARGO_PKG_VERSION"),
            verdict_word(r.verdict),
            crate::report::verdict_sentence(r.verdict)
        ),
        format!(
            "checked {} UTC{}; validity judged at {}",
            r.checked_at,
            r.as_of
                .as_ref()
                .map(|a| format!(" as of {a}"))
                .unwrap_or_default(),
            r.validity_time
        ),
        format!(
            "registry {} revision {} content {}",
            r.registry_path, r.revision, r.content_hash
        ),
        format!(
            "policy {} ({}) sha256 {}",
            r.policy.name, r.policy_source, r.policy_sha256
        ),
        if r.coverage.is_empty() {
            format!("coverage: {}", crate::report::NO_COVERAGE_NOTE)
        } else {
            format!(
                "coverage declared by {}",
                r.coverage
                    .iter()
                    .map(|c| c.source.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    ]
}

/// What one area's title line says.
pub fn area_title(r: &Report<'_>, k: usize) -> String {
    let (area, input) = &r.areas[k];
    let res = &r.results[k];
    let mut s = format!(
        "area {} — {} — {}",
        area.id,
        verdict_word(res.verdict),
        input.how
    );
    if area.buffer_m > 0.0 {
        let _ = write!(s, "; buffer {}", metres_words(area.buffer_m));
    }
    if area.location_error_m > 0.0 {
        let _ = write!(
            s,
            "; location error {}",
            metres_words(area.location_error_m)
        );
    }
    if let Some(p) = &input.profile {
        let _ = write!(s, "; profile {}", p.name);
    }
    match &res.coverage {
        Some(c) if c.uncovered() => s.push_str("; UNCOVERED"),
        Some(c) => {
            let _ = write!(s, "; covered by {}", c.covered_by.join(", "));
        }
        None => {}
    }
    s
}

/// One hit as a line of the list under the map.
pub fn hit_line(r: &Report<'_>, n: usize, h: &nostrike_core::Hit) -> Result<String, MapError> {
    let l = r.index.label(h.site)?;
    let mut s = format!(
        "[{}] {} {} ({}) {}, {} — distance {}, required {}, margin {}",
        n + 1,
        verdict_word(h.verdict),
        l.name,
        l.key(),
        l.category.as_str(),
        l.protection.as_str(),
        metres_words(h.distance_m),
        metres_words(h.required_m),
        metres_words(h.margin_m)
    );
    if let Some(b) = h.bearing_deg {
        let _ = write!(s, ", bearing {b:.0}°");
    }
    if let Some(st) = &h.stale {
        let _ = write!(
            s,
            "; STALE (last verified {}, allowed {} days)",
            st.last_verified.as_deref().unwrap_or("never"),
            st.max_age_days
        );
    }
    if let Some(g) = r.groups.of_site(h.site).filter(|_| r.partner.is_none()) {
        if !g.disagreement.is_empty() {
            s.push_str("; sources DISAGREE");
        }
    }
    Ok(s)
}

/// The legend's entries: (marker shape, colour, dash, words).
pub fn legend_entries() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    let c = style(Verdict::Conflict);
    let w = style(Verdict::Caution);
    vec![
        (c.shape, c.color, c.dash, "CONFLICT: the area is within the site's required distance (solid, square)"),
        (w.shape, w.color, w.dash, "CAUTION: within the caution margin beyond it (dashed, triangle)"),
        ("zone", "#000", "", "hatched: the site's required-distance zone (buffer + location error + standoff + accuracy); the area's geometry must stay outside"),
        ("area", "#0d47a1", "3 3", "blue: the area, its buffer (dashed ring) and buffer + location error (tint)"),
        ("line", "#000", "4 2", "dashed black line: the shortest geodesic between area and site, with its length"),
        ("circle", "#8a8a8a", "", "grey: recorded sites nearby, not within reach"),
        ("circle", "#555", "1 2", "dotted: sites outside their validity period at the check's time (not counted)"),
        ("line", "#6a1b9a", "10 3 2 3", "purple dash-dot: the boundary of a source's declared coverage (outside it, no data is not no sites)"),
    ]
}

/// Text cut at spaces into lines of at most `width` characters (a word
/// longer than that gets a line of its own, cut where it must be).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        let n = cur.chars().count();
        if n > 0 && n + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
        while cur.chars().count() > width {
            let head: String = cur.chars().take(width).collect();
            let tail: String = cur.chars().skip(width).collect();
            lines.push(head);
            cur = tail;
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Wrapped `<text>` lines from `y` on; returns the `y` after them.
fn text_lines(o: &mut String, text: &str, mut y: f64, attrs: &str) -> f64 {
    for line in wrap(text, WRAP) {
        let _ = write!(
            o,
            "<text x=\"20\" y=\"{y:.1}\"{attrs}>{}</text>",
            xml(&line)
        );
        y += 16.0;
    }
    y
}

/// Characters a line of the picture's text holds at 12 px.
const WRAP: usize = 138;

fn legend_svg(y: f64) -> (String, f64) {
    let mut o = String::new();
    let _ = write!(o, "<g class=\"legend\" transform=\"translate(20,{y:.1})\"><text x=\"0\" y=\"0\" font-weight=\"bold\">Legend</text>");
    let mut yy = 18.0;
    for (shape, color, dash, words) in legend_entries() {
        match shape {
            "zone" => {
                let _ = write!(o, "<rect x=\"0\" y=\"{:.1}\" width=\"14\" height=\"12\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\"/><path d=\"M0,{:.1}L14,{:.1}M0,{:.1}L7,{:.1}\" stroke=\"#000\" stroke-width=\"0.8\"/>", yy - 10.0, yy + 2.0, yy - 10.0, yy - 3.0, yy - 10.0);
            }
            "area" | "line" => {
                let _ = write!(o, "<path d=\"M0,{:.1}H14\" stroke=\"{color}\" stroke-width=\"2.5\" stroke-dasharray=\"{dash}\"/>", yy - 4.0);
            }
            _ => {
                o.push_str(&marker(
                    shape,
                    (7.0, yy - 4.0),
                    5.0,
                    &format!("fill=\"{color}\" stroke=\"#000\" stroke-dasharray=\"{dash}\""),
                ));
            }
        }
        let _ = write!(o, "<text x=\"22\" y=\"{yy:.1}\">{}</text>", xml(words));
        yy += 17.0;
    }
    o.push_str("</g>");
    (o, yy + 10.0)
}

/// The SVG report: header, one map panel per area with its hits listed
/// under it, legend, and the marking banner at top and bottom.
pub fn svg(r: &Report<'_>) -> Result<String, MapError> {
    if r.areas.len() > MAX_PANELS {
        return Err(MapError::TooManyAreas(r.areas.len()));
    }
    let banner = xml(&r.banner.text());
    let mut body = String::new();
    let mut y = 0.0;
    let _ = write!(body, "<text class=\"banner\" x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{banner}</text>", MAP_W / 2.0);
    y += 44.0;
    let _ = write!(body, "<g class=\"header\">");
    for (i, line) in header_lines(r).iter().enumerate() {
        let weight = if i == 0 { " font-weight=\"bold\"" } else { "" };
        y = text_lines(&mut body, line, y, weight) + 2.0;
    }
    body.push_str("</g>");
    y += 10.0;
    for k in 0..r.areas.len() {
        let p = panel(r, k)?;
        y = text_lines(
            &mut body,
            &area_title(r, k),
            y,
            " class=\"area-title\" font-weight=\"bold\"",
        ) - 6.0;
        let nested = p.svg.replacen(
            "<svg class=\"map\"",
            &format!("<svg class=\"map\" x=\"0\" y=\"{y:.1}\""),
            1,
        );
        body.push_str(&nested);
        y += MAP_H + 20.0;
        let res = &r.results[k];
        if res.hits.is_empty() {
            let _ = write!(
                body,
                "<text x=\"20\" y=\"{y:.1}\">No protected site within reach.</text>"
            );
            y += 18.0;
        }
        for (n, h) in res.hits.iter().enumerate() {
            let attrs = format!(" class=\"hit-line\" fill=\"{}\"", style(h.verdict).color);
            y = text_lines(&mut body, &hit_line(r, n, h)?, y, &attrs) + 2.0;
        }
        if let Some(w) = r.withheld_sentence(k) {
            y = text_lines(
                &mut body,
                &format!("WITHHELD: {w}"),
                y,
                " font-weight=\"bold\"",
            ) + 1.0;
        }
        if let Some(note) = &p.imagery {
            y = text_lines(&mut body, note, y, " font-size=\"10\"");
        }
        let _ = write!(body, "<text x=\"20\" y=\"{y:.1}\" font-size=\"10\">{} neighbouring site(s) drawn in grey{}</text>", p.context_drawn, if p.context_left_out > 0 { format!(", {} more within the map not drawn (beyond {MAX_CONTEXT}, or marked above this report or not releasable)", p.context_left_out) } else { String::new() });
        y += 28.0;
    }
    let (legend, h) = legend_svg(y);
    body.push_str(&legend);
    y += h;
    let _ = write!(body, "<text x=\"20\" y=\"{y:.1}\" font-size=\"10\">Basemap: Natural Earth 1:110m countries (public domain), shown when the map is wider than {} km.</text>", 2.0 * BASEMAP_MIN_HALF_WIDTH_M / 1000.0);
    y += 28.0;
    let _ = write!(body, "<text class=\"banner\" x=\"{}\" y=\"{y:.1}\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">{banner}</text>", MAP_W / 2.0);
    y += 16.0;
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{MAP_W}\" height=\"{y:.0}\" viewBox=\"0 0 {MAP_W} {y:.0}\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\"><title>nostrike check {} — {}</title><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>{body}</svg>\n",
        xml(&r.checked_at),
        verdict_word(r.verdict)
    ))
}

/// Write the SVG report.
pub fn write_svg(r: &Report<'_>, mut w: impl std::io::Write) -> std::io::Result<()> {
    let s = svg(r).map_err(std::io::Error::other)?;
    w.write_all(s.as_bytes())
}
