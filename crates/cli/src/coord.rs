//! What a person types for a place or a distance, read exactly or refused.
//!
//! Coordinates: decimal `LAT,LON` or `LAT LON`; degrees-minutes-seconds with
//! hemisphere letters (`50°27'10.4"N 30°30'51.5"E`, `50 27 10.4 N 30 30 51.5 E`,
//! `50.45N 30.51E`); MGRS at any precision (`36UUA2093589395`, spaces allowed);
//! UTM (`36U 320935 5589395`, `36n 320935 5589395`, `36north …`) and UPS
//! (`n 2000000 2000000`, `s 1500000 2500000`, `south …`).
//!
//! MGRS is read by the `mgrs-convert` crate, which follows NGA's grid with the
//! Norway and Svalbard exceptions and the polar UPS zones and is tested here
//! against GeographicLib's `GeoConvert`. A reference at less than 1 m
//! precision names a whole grid square; it is returned as that square (its
//! sides densified), so the whole square is checked.
//!
//! UTM zone letters: `n`/`north` and `south` name the hemisphere as in
//! GeoConvert; other band letters (C–X) are accepted and checked against the
//! latitude they produce. A bare `S` is refused as ambiguous: GeoConvert reads
//! `38S` as the southern hemisphere, MGRS as latitude band S (32°–40° N).

use geo_types::{Coord, Geometry, LineString, Point, Polygon};
use mgrs_convert::{Mgrs, UtmUps};

/// A parsed place: a point or an MGRS grid square, with how it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// The geometry (lon/lat degrees).
    pub geometry: Geometry<f64>,
    /// The point the place is centred on, (lat, lon) degrees.
    pub center: (f64, f64),
    /// How the input was read, for the report.
    pub how: String,
    /// Metres to add to the buffer so that the whole place is covered (the
    /// bound on a grid square's sides beyond its polygon; 0 for a point).
    pub widen_m: f64,
}

fn point(lat: f64, lon: f64, how: String) -> Result<Place, String> {
    if !lat.is_finite()
        || !lon.is_finite()
        || !(-90.0..=90.0).contains(&lat)
        || !(-180.0..=180.0).contains(&lon)
    {
        return Err(format!(
            "latitude {lat} / longitude {lon} out of range (latitude -90…90, longitude -180…180)"
        ));
    }
    Ok(Place {
        geometry: Point::new(lon, lat).into(),
        center: (lat, lon),
        how,
        widen_m: 0.0,
    })
}

/// The accepted forms, named in every refusal.
const FORMS: &str = "accepted forms: decimal LAT,LON (-33.86,151.21); degrees-minutes-seconds with N/S and E/W (39°17'56.4\"N 76°35'24\"W, 39d17'56.40\"N 076d35'24.00\"W, 39:17:56.4N 076:35:24W, 391756N0763524W); MGRS at any precision, spaces allowed (18SUJ6289651162, 18S UJ 62896 51162); UTM (18n 362896 4351162, or a band letter: 18T …) and UPS (n 2000000 2000000)";

/// Parse a coordinate in any of the accepted forms.
pub fn parse_coord(input: &str) -> Result<Place, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty coordinate".into());
    }
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let fail = |why: String| format!("cannot read {input:?} as a coordinate: {why}; {FORMS}");
    // Decimal degrees: two signed numbers.
    if s.chars()
        .all(|c| c.is_ascii_digit() || " ,.;+-\t".contains(c))
    {
        let parts: Vec<&str> = s
            .split([',', ' ', ';', '\t'])
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() != 2 {
            return Err(fail(format!(
                "expected LAT,LON, found {} numbers",
                parts.len()
            )));
        }
        let lat: f64 = parts[0]
            .parse()
            .map_err(|_| fail(format!("{:?} is not a number", parts[0])))?;
        let lon: f64 = parts[1]
            .parse()
            .map_err(|_| fail(format!("{:?} is not a number", parts[1])))?;
        return point(lat, lon, format!("decimal degrees lat {lat}, lon {lon}")).map_err(fail);
    }
    let tokens: Vec<&str> = s.split_whitespace().collect();
    // UTM / UPS: zone designator then easting and northing.
    // MGRS: starts with a zone number and band, or a polar letter, then letters and digits.
    let upper = compact.to_ascii_uppercase();
    let looks_mgrs = upper.chars().all(|c| c.is_ascii_alphanumeric())
        && (upper.starts_with(|c: char| c.is_ascii_digit())
            || upper.starts_with(['A', 'B', 'Y', 'Z']))
        && upper.chars().filter(|c| c.is_ascii_alphabetic()).count() >= 2;
    if tokens.len() == 3 && tokens[1].parse::<f64>().is_ok() && tokens[2].parse::<f64>().is_ok() {
        // `18SUJ 62896 51162` is MGRS with spaces, not a UTM zone.
        return utm_ups(tokens[0], tokens[1], tokens[2])
            .or_else(|e| {
                if looks_mgrs {
                    mgrs(&upper).map_err(|_| e)
                } else {
                    Err(e)
                }
            })
            .map_err(fail);
    }
    if looks_mgrs {
        // Compact DMS (391756N0763524W) is alphanumeric too: tried when MGRS fails.
        return mgrs(&upper)
            .or_else(|e| dms(s).map_err(|_| e))
            .map_err(fail);
    }
    dms(s).map_err(fail)
}

fn mgrs(text: &str) -> Result<Place, String> {
    let m: Mgrs = text
        .parse()
        .map_err(|e: mgrs_convert::Error| format!("not a valid MGRS reference ({e})"))?;
    let p = m.precision().get();
    let c = m.to_latlon();
    let how = format!("MGRS {m} ({} m precision)", 10f64.powi(5 - p as i32));
    if p > 5 {
        return point(
            c.lat(),
            c.lon(),
            format!("{how}, centre {:.7}, {:.7}", c.lat(), c.lon()),
        );
    }
    let (polygon, widen_m) = grid_square(&m)?;
    Ok(Place {
        geometry: polygon.into(),
        center: (c.lat(), c.lon()),
        how: format!(
            "{how}: the whole grid square, centre {:.7}, {:.7}; buffer widened by {widen_m:.3} m because the square's sides are grid lines, which bow outward between the polygon's geodesic edges",
            c.lat(),
            c.lon()
        ),
        widen_m,
    })
}

/// Vertices per side of a grid square's polygon.
const SQUARE_SIDE_VERTICES: usize = 64;

/// A reduced-precision MGRS reference's whole square as a polygon of
/// geodesic edges, with the bound (metres) by which the square's true sides
/// may lie outside it.
///
/// The square's sides are lines of the zone's grid, which bow outward
/// between the polygon's vertices (by up to 0.15 m between vertices 12.5 km
/// apart on a 100 km UTM side, 0.24 m in UPS). With 64 vertices a side the
/// gap is a few millimetres; it is measured, not assumed: each edge's grid
/// line is sampled at a quarter, half and three quarters of its length and
/// the largest distance of a sample from the geodesic edge, doubled (the
/// gap is a smooth arch whose top is at the middle, so the samples see it to
/// second order) plus a micrometre, rounded up to the millimetre, is the bound. Widening the area's buffer
/// by it covers the whole square: a site within the buffer of the true
/// square is within the widened buffer of the polygon.
fn grid_square(m: &Mgrs) -> Result<(Polygon<f64>, f64), String> {
    use nostrike_core::geodesy::{Edge, Vertex};
    let u = m.to_utmups();
    let p = m.precision().get();
    let half = 10f64.powi(5 - p as i32) / 2.0;
    let at = |de: f64, dn: f64| -> Result<Coord<f64>, String> {
        let g = if u.zone() == 0 {
            UtmUps::ups(u.is_north(), u.easting() + de, u.northing() + dn)
        } else {
            UtmUps::utm(u.zone(), u.is_north(), u.easting() + de, u.northing() + dn)
        }
        .map_err(|e| format!("grid square corner: {e}"))?
        .to_latlon();
        Ok(Coord {
            x: g.lon(),
            y: g.lat(),
        })
    };
    let n = SQUARE_SIDE_VERTICES;
    let corners = [
        (-1.0, -1.0),
        (1.0, -1.0),
        (1.0, 1.0),
        (-1.0, 1.0),
        (-1.0, -1.0),
    ];
    let mut ring = Vec::with_capacity(4 * n + 1);
    let mut gap = 0.0f64;
    for w in corners.windows(2) {
        let grid = |t: f64| {
            (
                half * (w[0].0 + (w[1].0 - w[0].0) * t),
                half * (w[0].1 + (w[1].1 - w[0].1) * t),
            )
        };
        for k in 0..n {
            let (t0, t1) = (k as f64 / n as f64, (k + 1) as f64 / n as f64);
            let (e0, n0) = grid(t0);
            let (e1, n1) = grid(t1);
            let a = at(e0, n0)?;
            let b = at(e1, n1)?;
            ring.push(a);
            let edge = Edge::new(Vertex::new(a.x, a.y), Vertex::new(b.x, b.y));
            for f in [0.25, 0.5, 0.75] {
                let (e, no) = grid(t0 + (t1 - t0) * f);
                let q = at(e, no)?;
                let (_, d, _) = edge.nearest_to(&Vertex::new(q.x, q.y));
                gap = gap.max(d);
            }
        }
    }
    ring.push(ring[0]);
    // Rounded up to the millimetre: still a bound, and a buffer people can read.
    let bound = ((2.0 * gap + 1e-6) * 1000.0).ceil() / 1000.0;
    Ok((Polygon::new(LineString(ring), vec![]), bound))
}

fn utm_ups(zone: &str, e: &str, n: &str) -> Result<Place, String> {
    let easting: f64 = e
        .parse()
        .map_err(|_| format!("easting {e:?} is not a number"))?;
    let northing: f64 = n
        .parse()
        .map_err(|_| format!("northing {n:?} is not a number"))?;
    let z = zone.to_ascii_lowercase();
    let digits: String = z.chars().take_while(|c| c.is_ascii_digit()).collect();
    let letters = &z[digits.len()..];
    let (north, band) = match letters {
        "n" | "north" => (true, None),
        "south" => (false, None),
        "s" if digits.is_empty() => (false, None),
        "s" => return Err(format!("{zone:?} is ambiguous: GeoConvert reads S as the southern hemisphere, MGRS as latitude band S (32°–40°N); write {digits}south or {digits}north")),
        l if l.len() == 1 && !digits.is_empty() && ('c'..='x').contains(&l.chars().next().unwrap_or('?')) && !"io".contains(l) => {
            let b = l.chars().next().unwrap_or('n').to_ascii_uppercase();
            (b >= 'N', Some(b))
        }
        _ => return Err(format!("zone {zone:?} is not a UTM zone (1–60 followed by n, north, south or a band letter C–X) or UPS hemisphere (n, north, south)")),
    };
    let u = if digits.is_empty() {
        if band.is_some() {
            return Err(format!(
                "zone {zone:?}: UPS takes a hemisphere (n, north, south), not a band"
            ));
        }
        UtmUps::ups(north, easting, northing).map_err(|e| e.to_string())?
    } else {
        let zn: u8 = digits
            .parse()
            .map_err(|_| format!("zone {digits:?} is not a number"))?;
        if digits.len() > 2 {
            return Err(format!("zone {digits:?} is not 1–60"));
        }
        UtmUps::utm(zn, north, easting, northing).map_err(|e| e.to_string())?
    };
    let ll = u.to_latlon();
    if let Some(b) = band {
        // Bands are 8° tall from 80°S (C…X without I and O; X is 12°).
        let letters = "CDEFGHJKLMNPQRSTUVWX";
        let i = letters.find(b).unwrap_or(0) as f64;
        let lo = -80.0 + 8.0 * i;
        let hi = if b == 'X' { 84.0 } else { lo + 8.0 };
        if ll.lat() < lo - 0.5 || ll.lat() > hi + 0.5 {
            return Err(format!(
                "band {b} is latitude {lo}…{hi} but the point is at latitude {:.4}",
                ll.lat()
            ));
        }
    }
    let kind = if u.zone() == 0 {
        "UPS".to_string()
    } else {
        format!(
            "UTM zone {}{}",
            u.zone(),
            if u.is_north() { "N" } else { "S" }
        )
    };
    point(
        ll.lat(),
        ll.lon(),
        format!(
            "{kind} E {easting} N {northing} = {:.7}, {:.7}",
            ll.lat(),
            ll.lon()
        ),
    )
}

/// One latitude or longitude: up to three numbers and a hemisphere letter.
/// A compact `DDMMSS[.s]` (latitude) or `DDDMMSS[.s]` (longitude) number —
/// also `DDMM`/`DDDMM` — split into degrees, minutes and seconds.
fn split_compact(text: &str, hemi: char) -> Option<(Vec<f64>, Vec<String>)> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if !int.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let deg_digits = if hemi == 'N' || hemi == 'S' { 2 } else { 3 };
    let rest = int.len().checked_sub(deg_digits)?;
    if rest != 2 && rest != 4 {
        return None;
    }
    let mut parts: Vec<String> = vec![
        int[..deg_digits].to_string(),
        int[deg_digits..deg_digits + 2].to_string(),
    ];
    if rest == 4 {
        parts.push(int[deg_digits + 2..].to_string());
    }
    if !frac.is_empty() {
        if let Some(last) = parts.last_mut() {
            last.push('.');
            last.push_str(frac);
        }
    }
    let nums = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<f64>>>()?;
    Some((nums, parts))
}

fn component(nums: &[f64], texts: &[String], hemi: char) -> Result<f64, String> {
    // Compact DMS, as in 391756N0763524W: one number too large to be degrees.
    let limit = if hemi == 'N' || hemi == 'S' {
        90.0
    } else {
        180.0
    };
    if nums.len() == 1 && nums[0] > limit {
        if let Some((n, t)) = split_compact(&texts[0], hemi) {
            return component(&n, &t, hemi);
        }
    }
    if nums.is_empty() || nums.len() > 3 {
        return Err(format!(
            "expected degrees [minutes [seconds]] before or after {hemi}, found {} numbers",
            nums.len()
        ));
    }
    for (k, t) in texts.iter().enumerate().take(nums.len() - 1) {
        if t.contains('.') {
            return Err(format!("only the last of degrees, minutes, seconds may have decimals ({t:?} at position {})", k + 1));
        }
    }
    if nums.iter().any(|x| *x < 0.0) || texts.iter().any(|t| t.starts_with(['-', '+'])) {
        return Err("no sign with a hemisphere letter".into());
    }
    if nums.len() > 1 && nums[1] >= 60.0 {
        return Err(format!("minutes {} must be under 60", nums[1]));
    }
    if nums.len() > 2 && nums[2] >= 60.0 {
        return Err(format!("seconds {} must be under 60", nums[2]));
    }
    let v = nums[0] + nums.get(1).unwrap_or(&0.0) / 60.0 + nums.get(2).unwrap_or(&0.0) / 3600.0;
    Ok(if hemi == 'S' || hemi == 'W' { -v } else { v })
}

/// Degrees, minutes, seconds with hemisphere letters, the letters before or after the numbers.
fn dms(s: &str) -> Result<Place, String> {
    #[derive(Debug)]
    enum Tok {
        Num(f64, String),
        Hemi(char),
    }
    let mut toks = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, toks: &mut Vec<Tok>| -> Result<(), String> {
        if !cur.is_empty() {
            let v: f64 = cur
                .parse()
                .map_err(|_| format!("{cur:?} is not a number"))?;
            toks.push(Tok::Num(v, std::mem::take(cur)));
        }
        Ok(())
    };
    for c in s.chars() {
        match c {
            '0'..='9' | '.' | '-' | '+' => cur.push(c),
            'N' | 'S' | 'E' | 'W' | 'n' | 's' | 'e' | 'w' => {
                flush(&mut cur, &mut toks)?;
                toks.push(Tok::Hemi(c.to_ascii_uppercase()));
            }
            // GeoConvert's -d form writes degrees as `d` (39d17'56.40"N).
            '°' | 'º' | 'd' | 'D' | '\'' | '′' | '’' | '"' | '″' | '”' | ':' | ',' | ';' | ' '
            | '\t' => flush(&mut cur, &mut toks)?,
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    flush(&mut cur, &mut toks)?;
    let prefix = matches!(toks.first(), Some(Tok::Hemi(_)));
    let mut comps: Vec<(char, Vec<f64>, Vec<String>)> = Vec::new();
    let mut nums = Vec::new();
    let mut texts = Vec::new();
    let mut pending: Option<char> = None;
    for t in toks {
        match t {
            Tok::Num(v, text) => {
                nums.push(v);
                texts.push(text);
            }
            Tok::Hemi(h) => {
                if prefix {
                    if let Some(p) = pending.take() {
                        comps.push((p, std::mem::take(&mut nums), std::mem::take(&mut texts)));
                    }
                    pending = Some(h);
                } else {
                    comps.push((h, std::mem::take(&mut nums), std::mem::take(&mut texts)));
                }
            }
        }
    }
    if let Some(p) = pending {
        comps.push((p, std::mem::take(&mut nums), std::mem::take(&mut texts)));
    }
    if !nums.is_empty() || comps.len() != 2 {
        return Err(
            "expected a latitude and a longitude, each with a hemisphere letter (N/S, E/W)".into(),
        );
    }
    let (mut lat, mut lon) = (None, None);
    for (h, n, t) in &comps {
        let v = component(n, t, *h)?;
        let slot = if *h == 'N' || *h == 'S' {
            &mut lat
        } else {
            &mut lon
        };
        if slot.is_some() {
            return Err("both values have the same kind of hemisphere letter; one must be N/S and the other E/W".into());
        }
        *slot = Some(v);
    }
    let (lat, lon) = (lat.unwrap_or(f64::NAN), lon.unwrap_or(f64::NAN));
    point(
        lat,
        lon,
        format!("degrees-minutes-seconds = {lat:.7}, {lon:.7}"),
    )
}

/// A distance in metres, parsed once from the command line (a malformed
/// one is a usage error).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Distance(pub f64);

impl std::str::FromStr for Distance {
    type Err = String;
    fn from_str(s: &str) -> Result<Distance, String> {
        parse_distance(s).map(Distance)
    }
}

/// A coordinate as typed and as read, parsed once from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Coordinate {
    /// The text as typed.
    pub text: String,
    /// How it was read.
    pub place: Place,
}

impl std::str::FromStr for Coordinate {
    type Err = String;
    fn from_str(s: &str) -> Result<Coordinate, String> {
        Ok(Coordinate {
            text: s.to_string(),
            place: parse_coord(s)?,
        })
    }
}

/// Parse a distance: a number with an optional unit (`m`, `km`, `ft`, `mi`, `nmi`), a space allowed; a bare number is metres.
///
/// # Units
/// returns metres
pub fn parse_distance(input: &str) -> Result<f64, String> {
    let s = input.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.trim().parse().map_err(|_| {
        format!(
            "cannot read {input:?} as a distance: {:?} is not a number",
            num.trim()
        )
    })?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "m" => 1.0,
        "km" => 1000.0,
        "ft" => 0.3048,
        "mi" => 1609.344,
        "nmi" | "nm" => 1852.0,
        u => {
            return Err(format!(
            "cannot read {input:?} as a distance: unknown unit {u:?} (use m, km, ft, mi or nmi)"
        ))
        }
    };
    let m = v * factor;
    if !m.is_finite() || m < 0.0 {
        return Err(format!(
            "distance {input:?} must be a finite, non-negative number"
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll(s: &str) -> (f64, f64) {
        parse_coord(s).unwrap_or_else(|e| panic!("{e}")).center
    }

    #[test]
    fn decimal_and_dms() {
        assert_eq!(ll("50.4529, 30.5143"), (50.4529, 30.5143));
        assert_eq!(ll("-33.9 18.4"), (-33.9, 18.4));
        let (a, b) = ll("50°27'10.4\"N 30°30'51.5\"E");
        assert!(
            (a - (50.0 + 27.0 / 60.0 + 10.4 / 3600.0)).abs() < 1e-12
                && (b - (30.0 + 30.0 / 60.0 + 51.5 / 3600.0)).abs() < 1e-12
        );
        assert_eq!(ll("50 27 10.4 N 30 30 51.5 E"), (a, b));
        assert_eq!(ll("N50 27 10.4 E30 30 51.5"), (a, b));
        let (c, d) = ll("33.5S 70.6W");
        assert_eq!((c, d), (-33.5, -70.6));
        for bad in [
            "91,0",
            "0,181",
            "1,2,3",
            "50 61 0 N 30 0 0 E",
            "50N 30N",
            "50.5 27 N 30 E",
            "abc",
            "",
            "N",
            "-50N 30E",
        ] {
            assert!(parse_coord(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn utm_and_ambiguity() {
        // GeoConvert: `echo "36n 320935 5589395" | GeoConvert` gives 50.42924 30.47876.
        let p = parse_coord("36U 320935 5589395").unwrap();
        assert!(
            (p.center.0 - 50.42924).abs() < 1e-5 && (p.center.1 - 30.47876).abs() < 1e-5,
            "{p:?}"
        );
        assert_eq!(parse_coord("36n 320935 5589395").unwrap().center, p.center);
        assert!(parse_coord("36S 320935 5589395")
            .unwrap_err()
            .contains("ambiguous"));
        assert!(parse_coord("36C 320935 5589395")
            .unwrap_err()
            .contains("band C"));
    }

    #[test]
    fn mgrs_square_holds_its_centre() {
        let p = parse_coord("36UUA2093589395").unwrap();
        assert!(matches!(p.geometry, Geometry::Polygon(_)));
        let q = parse_coord("36U UA 20935 89395").unwrap();
        assert_eq!(p.center, q.center);
        // At 0.1 m precision the reference is a point inside the 1 m square.
        let fine = parse_coord("36UUA209350893950").unwrap();
        assert!(matches!(fine.geometry, Geometry::Point(_)));
        assert!(
            (fine.center.0 - p.center.0).abs() < 1e-5 && (fine.center.1 - p.center.1).abs() < 1e-5
        );
        assert!(
            parse_coord("36UUA209358939").is_err(),
            "an odd number of digits is not MGRS"
        );
    }

    /// Runs GeoConvert (GeographicLib) with `args` over `input` lines.
    fn geoconvert(args: &[&str], input: &str) -> Vec<String> {
        use std::io::Write;
        let mut child = std::process::Command::new("GeoConvert")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("GeoConvert (geographiclib-tools) must be installed; .ci/run installs it");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// MGRS references written by GeoConvert, at every precision from
    /// 100 km to 0.1 m, all over the globe (the Norway and Svalbard zone
    /// exceptions and both polar UPS caps included), read back here: the
    /// square's centre is where GeoConvert puts it, and the square holds the
    /// point the reference was made from.
    #[test]
    fn mgrs_reads_as_geoconvert_does() {
        let mut pts = Vec::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..300 {
            pts.push((next() * 180.0 - 90.0, next() * 360.0 - 180.0));
        }
        for _ in 0..100 {
            pts.push((56.0 + next() * 28.0, next() * 42.0)); // Norway and Svalbard
            pts.push((80.0 + next() * 10.0, next() * 360.0 - 180.0)); // north cap and its edge
            pts.push((-90.0 + next() * 11.0, next() * 360.0 - 180.0)); // south cap and its edge
        }
        let input: String = pts.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
        for prec in ["-5", "-4", "-3", "-2", "-1", "0", "1"] {
            let refs = geoconvert(&["-m", "-p", prec], &input);
            let centres = geoconvert(&["-p", "9"], &(refs.join("\n") + "\n"));
            assert_eq!((refs.len(), centres.len()), (pts.len(), pts.len()));
            for ((r, c), (lat, lon)) in refs.iter().zip(&centres).zip(&pts) {
                let p = parse_coord(r).unwrap_or_else(|e| panic!("{r}: {e}"));
                let g: Vec<f64> = c.split_whitespace().map(|v| v.parse().unwrap()).collect();
                assert!(
                    (p.center.0 - g[0]).abs() < 1e-7,
                    "{r}: lat {} vs GeoConvert {}",
                    p.center.0,
                    g[0]
                );
                let dlon = ((p.center.1 - g[1] + 540.0) % 360.0 - 180.0).abs();
                assert!(
                    dlon < 1e-7 || g[0].abs() > 89.999_999,
                    "{r}: lon {} vs GeoConvert {}",
                    p.center.1,
                    g[1]
                );
                if let Geometry::Polygon(_) = p.geometry {
                    let shape = nostrike_core::Shape::new(&p.geometry).unwrap();
                    let v = nostrike_core::geodesy::Vertex::new(*lon, *lat);
                    let d = nostrike_core::distance_to_vertex_within(&shape, &v, 1.0);
                    assert!(
                        d.is_some(),
                        "{r}: the square does not hold its point {lat},{lon}"
                    );
                }
            }
        }
    }

    /// The sides of 100 km and 10 km squares — grid lines, which bow
    /// outward between the polygon's geodesic edges — in standard UTM zones,
    /// the Norway and Svalbard zones and both UPS caps: every point of every
    /// side, as GeoConvert places it, lies within the widening the square
    /// carries (before the bound, a site 5 cm inside a 100 km square came
    /// back as CAUTION at 0.09 m).
    #[test]
    fn reduced_precision_squares_were_under_covered_at_their_sides() {
        let places = [
            (42.5, 1.5),     // 31T, standard UTM
            (-33.9, 151.2),  // southern hemisphere
            (60.5, 4.5),     // 32V, Norway
            (78.2, 15.6),    // 33X, Svalbard
            (86.0, 40.0),    // UPS north
            (-87.0, -120.0), // UPS south
            (0.1, 179.9),    // by the antimeridian
        ];
        let input: String = places.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
        let mut outside = 0;
        for prec in ["-5", "-4"] {
            for r in geoconvert(&["-m", "-p", prec], &input) {
                let m: Mgrs = r.parse().unwrap();
                let place = parse_coord(&r).unwrap();
                let shape = nostrike_core::Shape::new(&place.geometry).unwrap();
                let u = m.to_utmups();
                let half = 10f64.powi(5 - m.precision().get() as i32) / 2.0;
                let zone = if u.zone() == 0 {
                    String::new()
                } else {
                    u.zone().to_string()
                };
                let hemi = if u.is_north() { "n" } else { "s" };
                let mut lines = String::new();
                let n = 4 * super::SQUARE_SIDE_VERTICES;
                for k in 0..n {
                    let t = (k as f64 + 0.5) / n as f64 * 2.0 - 1.0;
                    for (de, dn) in [(t, -1.0), (1.0, t), (t, 1.0), (-1.0, t)] {
                        lines.push_str(&format!(
                            "{zone}{hemi} {:.6} {:.6}\n",
                            u.easting() + half * de,
                            u.northing() + half * dn
                        ));
                    }
                }
                let pts = geoconvert(&["-p", "9"], &lines);
                assert_eq!(pts.len(), 4 * n);
                for (q, line) in pts.iter().zip(lines.lines()) {
                    let g: Vec<f64> = q.split_whitespace().map(|v| v.parse().unwrap()).collect();
                    let v = nostrike_core::geodesy::Vertex::new(g[1], g[0]);
                    let d = nostrike_core::distance_to_vertex_within(&shape, &v, 10.0)
                        .map(|x| x.distance_m)
                        .unwrap_or(f64::INFINITY);
                    assert!(
                        d <= place.widen_m,
                        "{r}: side point {line} ({q}) is {d} m outside the square's polygon, beyond its widening {}",
                        place.widen_m
                    );
                    if d > 0.0 {
                        outside += 1;
                    }
                }
                assert!(place.widen_m < 0.05, "{r}: widening {}", place.widen_m);
            }
        }
        assert!(
            outside > 0,
            "the sides never left the polygon: the test would not see a gap"
        );
    }

    /// The forms field users paste, each written by GeoConvert and read
    /// back to GeoConvert's own decimal degrees: DMS with `d` (`-d`), with
    /// colons (`-:`), the same with degree/minute/second symbols, compact
    /// DMS (`391756.40N0763524.00W`), and MGRS with its usual spacings.
    #[test]
    fn pasted_coordinate_forms_were_refused() {
        let mut x: u64 = 0x5DEE_CE66_D1CE_4E5B;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let pts: Vec<(f64, f64)> = (0..200)
            .map(|_| (next() * 160.0 - 80.0, next() * 360.0 - 180.0))
            .collect();
        let input: String = pts.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
        let check = |text: &str, want: &str, tol: f64| {
            let p = parse_coord(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let w: Vec<f64> = want
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect();
            assert!(
                (p.center.0 - w[0]).abs() < tol,
                "{text}: lat {} vs {}",
                p.center.0,
                w[0]
            );
            let dlon = ((p.center.1 - w[1] + 540.0) % 360.0 - 180.0).abs();
            assert!(dlon < tol, "{text}: lon {} vs {}", p.center.1, w[1]);
        };
        for flag in ["-d", "-:"] {
            let dms = geoconvert(&[flag, "-p", "1"], &input);
            let back = geoconvert(&["-p", "9"], &(dms.join("\n") + "\n"));
            assert_eq!(dms.len(), pts.len());
            for (d, b) in dms.iter().zip(&back) {
                check(d, b, 1e-9);
                if flag == "-d" {
                    let symbols = d.replace('d', "°").replace('\'', "′").replace('"', "″");
                    check(&symbols, b, 1e-9);
                } else {
                    let compact = d.replace([':', ' '], "");
                    check(&compact, b, 1e-9);
                }
            }
        }
        let refs = geoconvert(&["-m", "-p", "1"], &input);
        let centres = geoconvert(&["-p", "9"], &(refs.join("\n") + "\n"));
        for (r, c) in refs.iter().zip(&centres) {
            // 18SUJ6289651162 → 18SUJ 62896 51162 and 18S UJ 6289651162.
            let start = r.len() - r.chars().rev().take_while(char::is_ascii_digit).count();
            let (head, digits) = r.split_at(start);
            let (zone_band, square) = head.split_at(head.len() - 2);
            let (e, nn) = digits.split_at(digits.len() / 2);
            for spaced in [
                format!("{head} {e} {nn}"),
                format!("{zone_band} {square} {digits}"),
                format!("{zone_band} {square} {e} {nn}"),
            ] {
                check(&spaced, c, 1e-7);
            }
        }
        let err = parse_coord("somewhere nice").unwrap_err();
        assert!(
            err.contains("accepted forms") && err.contains("MGRS"),
            "{err}"
        );
    }

    /// UTM and UPS coordinates written by GeoConvert read back to GeoConvert's own latitude and longitude.
    #[test]
    fn utm_and_ups_read_as_geoconvert_does() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let pts: Vec<(f64, f64)> = (0..600)
            .map(|i| {
                let lat = if i % 3 == 0 {
                    80.0 + next() * 10.0
                } else if i % 3 == 1 {
                    -90.0 + next() * 12.0
                } else {
                    next() * 160.0 - 80.0
                };
                (lat, next() * 360.0 - 180.0)
            })
            .collect();
        let input: String = pts.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
        let grid = geoconvert(&["-u", "-p", "1"], &input);
        let back = geoconvert(&["-p", "9"], &(grid.join("\n") + "\n"));
        assert_eq!(grid.len(), pts.len());
        for (g, b) in grid.iter().zip(&back) {
            // GeoConvert writes the hemisphere as n/s; read "Ns" as we require (UTM zones with a bare s are refused as ambiguous).
            let text = match g.split_once(' ') {
                Some((z, rest)) if z.len() > 1 && z.ends_with('s') => {
                    format!("{}south {rest}", &z[..z.len() - 1])
                }
                _ => g.clone(),
            };
            let p = parse_coord(&text).unwrap_or_else(|e| panic!("{g}: {e}"));
            let want: Vec<f64> = b.split_whitespace().map(|v| v.parse().unwrap()).collect();
            assert!(
                (p.center.0 - want[0]).abs() < 1e-7,
                "{g}: lat {} vs {}",
                p.center.0,
                want[0]
            );
            let dlon = ((p.center.1 - want[1] + 540.0) % 360.0 - 180.0).abs();
            assert!(
                dlon < 1e-7 || want[0].abs() > 89.999_999,
                "{g}: lon {} vs {}",
                p.center.1,
                want[1]
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512), failure_persistence: None, ..Default::default() })]
        /// Fuzz: any text at all is read or refused, never a panic, and a
        /// point read is always a valid latitude and longitude.
        #[test]
        fn coordinate_and_distance_parsers_never_panic(text in "\\PC{0,40}", digits in "[0-9NSEWnsew.,:°'\" -]{0,30}") {
            for t in [&text, &digits] {
                if let Ok(p) = parse_coord(t) {
                    proptest::prop_assert!(p.center.0.abs() <= 90.0 && p.center.1.abs() <= 180.0, "{t:?} -> {p:?}");
                }
                if let Ok(d) = parse_distance(t) {
                    proptest::prop_assert!(d.is_finite() && d >= 0.0);
                }
            }
        }
    }

    #[test]
    fn distances() {
        assert_eq!(parse_distance("95 m").unwrap(), 95.0);
        assert_eq!(parse_distance("0.1km").unwrap(), 100.0);
        assert_eq!(parse_distance("2 nmi").unwrap(), 3704.0);
        assert_eq!(parse_distance("10").unwrap(), 10.0);
        assert!((parse_distance("1mi").unwrap() - 1609.344).abs() < 1e-9);
        assert!((parse_distance("100 ft").unwrap() - 30.48).abs() < 1e-9);
        for bad in ["-5", "5 furlongs", "km", "nan", "inf m"] {
            assert!(parse_distance(bad).is_err(), "{bad}");
        }
    }
}
