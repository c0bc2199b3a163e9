//! Cursor on Target out: the no-strike list as CoT events a TAK device
//! (ATAK, WinTAK, iTAK) shows — each site a marker (points) or a closed
//! drawn shape (`u-d-f`, one `<link point="LAT,LON"/>` per vertex), with
//! the minimum-safe-distance ring `<msd range="…"/>` of its required
//! distance — as single events, a stream, or an ATAK data package; and a
//! check's areas and hits as CoT.
//!
//! Each site's `uid` is derived from its source and id (SHA-256), so a
//! re-export updates the markers on a device instead of duplicating them;
//! the data package has a stable uid (from its name) and stable entry names
//! and timestamps, so the same list gives the same bytes and re-sending it
//! updates in place. A device does not delete markers a newer package no
//! longer holds: a retired site must be removed on the device (or its
//! marker left to go stale, `--stale-after`).

use std::fmt::Write as _;
use std::io::Write as _;

use geo_types::Geometry;
use nostrike_core::{Category, Class, Policy, Site, Verdict};
use sha2::{Digest, Sha256};

use crate::marking::Banner;
use crate::report::{verdict_word, xml, Report};

/// The stable CoT uid of a site: `nostrike-` and 32 hex digits of
/// SHA-256 of `LEN:SOURCEID`, LEN the source's length in bytes (so no two
/// (source, id) pairs share the hashed text).
pub fn uid(source: &str, id: &str) -> String {
    let d = Sha256::digest(format!("{}:{source}{id}", source.len()).as_bytes());
    format!("nostrike-{}", &nostrike_store::hex(&d)[..32])
}

/// CoT times: `2026-12-01T10:00:00.000Z`.
fn cot_time(t: i64) -> String {
    let s = nostrike_core::time::format_utc(t);
    format!("{}.000Z", s.trim_end_matches('Z'))
}

/// An ARGB colour as the signed 32-bit integer TAK writes.
fn argb(rgb: u32) -> i32 {
    (0xFF00_0000u32 | rgb) as i32
}

/// The protective emblem's blue for cultural property; green for civilian objects.
fn site_rgb(c: Category) -> u32 {
    if c.class() == Class::Cultural {
        0x1F4FB5
    } else {
        0x2E7D32
    }
}

fn verdict_rgb(v: Verdict) -> u32 {
    match v {
        Verdict::Conflict => 0xC00000,
        Verdict::Caution => 0xFF8C00,
        Verdict::Uncovered => 0x6A1B9A,
        Verdict::Clear => 0x1B5E20,
    }
}

/// The CoT type of a site's marker: a neutral ground installation
/// (MIL-STD-2525 `G-I`), a hospital for medical sites.
fn marker_type(c: Category) -> &'static str {
    if c == Category::Medical {
        "a-n-G-I-X-H"
    } else {
        "a-n-G-I"
    }
}

/// A site's name as a callsign: its own, or `unnamed CATEGORY ID`.
pub fn callsign(s: &Site) -> String {
    if s.name.trim().is_empty() {
        format!("unnamed {} {}", s.category.as_str(), s.id)
    } else {
        s.name.clone()
    }
}

/// What an event's times are.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// `time` and `start` (seconds since the Unix epoch).
    pub now: i64,
    /// Seconds from `start` to `stale`.
    pub stale_after_s: i64,
}

fn open_event(o: &mut String, uid: &str, kind: &str, t: Times, access: Option<&str>, how: &str) {
    let _ = write!(
        o,
        "<event version=\"2.0\" uid=\"{}\" type=\"{kind}\" time=\"{}\" start=\"{}\" stale=\"{}\" how=\"{how}\"{}>",
        xml(uid),
        cot_time(t.now),
        cot_time(t.now),
        cot_time(t.now + t.stale_after_s),
        access
            .map(|a| format!(" access=\"{}\"", xml(a)))
            .unwrap_or_default()
    );
}

fn point(o: &mut String, lon: f64, lat: f64, ce: f64) {
    let _ =
        write!(
        o,
        "<point lat=\"{lat:.9}\" lon=\"{lon:.9}\" hae=\"9999999.0\" ce=\"{}\" le=\"9999999.0\"/>",
        if ce > 0.0 { format!("{ce:.1}") } else { "9999999.0".into() }
    );
}

/// `<link point="LAT,LON"/>` for each vertex (note the order: latitude first).
fn links(o: &mut String, coords: &[geo_types::Coord<f64>]) {
    for c in coords {
        let _ = write!(o, "<link point=\"{:.9},{:.9}\"/>", c.y, c.x);
    }
}

/// The outline of a non-point geometry as CoT links: a polygon's exterior
/// ring (closed), or a line's vertices.
fn outline(g: &Geometry<f64>) -> Option<Vec<geo_types::Coord<f64>>> {
    match g {
        Geometry::Point(_) | Geometry::MultiPoint(_) => None,
        Geometry::Polygon(p) => Some(p.exterior().0.clone()),
        Geometry::MultiPolygon(m) => m.0.first().map(|p| p.exterior().0.clone()),
        Geometry::LineString(l) => Some(l.0.clone()),
        Geometry::MultiLineString(m) => m.0.first().map(|l| l.0.clone()),
        Geometry::Rect(r) => Some(r.to_polygon().exterior().0.clone()),
        Geometry::Triangle(t) => Some(t.to_polygon().exterior().0.clone()),
        Geometry::Line(l) => Some(vec![l.start, l.end]),
        Geometry::GeometryCollection(c) => c.0.iter().find_map(outline),
    }
}

/// The marking of one site as the CoT `access` attribute (`None`: unmarked).
fn access_of(s: &Site, order: &[String]) -> Option<String> {
    if s.marking.is_empty() {
        return None;
    }
    let rel = s.marking.releasable_to.join(",");
    Some(Banner::of(order, [(s.marking.classification.as_deref(), rel.as_str())]).text())
}

/// One site as a CoT event: a marker for a point site, a closed drawn
/// shape for an area site, each with its required distance (standoff plus
/// positional accuracy under `policy`) as the `<msd>` ring.
pub fn site_event(s: &Site, policy: &Policy, t: Times) -> String {
    let standoff = policy.standoff_for(s);
    let required = standoff + s.positional_accuracy_m;
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
    let shape = outline(&s.geometry);
    let access = access_of(s, &policy.classifications);
    open_event(
        &mut o,
        &uid(&s.source, &s.id),
        if shape.is_some() {
            "u-d-f"
        } else {
            marker_type(s.category)
        },
        t,
        access.as_deref(),
        "h-t",
    );
    let (lon, lat) = match &s.geometry {
        Geometry::Point(p) => (p.x(), p.y()),
        g => crate::map::centre_of(g),
    };
    point(&mut o, lon, lat, s.positional_accuracy_m);
    o.push_str("<detail>");
    let rgb = site_rgb(s.category);
    if let Some(c) = &shape {
        links(&mut o, c);
        let _ = write!(
            o,
            "<strokeColor value=\"{}\"/><strokeWeight value=\"3.0\"/><fillColor value=\"{}\"/>",
            argb(rgb),
            (0x6000_0000u32 | rgb) as i32
        );
    } else {
        let _ = write!(o, "<color argb=\"{}\"/>", argb(rgb));
    }
    let _ = writeln!(
        o,
        "<contact callsign=\"{}\"/><remarks>{}</remarks><msd range=\"{required:.1}\"/><labels_on value=\"true\"/><archive/></detail></event>",
        xml(&callsign(s)),
        xml(&format!(
            "nostrike protected site — {} ({}), protection {}; source {}/{}; last verified {}; required distance {required:.1} m (standoff {standoff:.1} m + accuracy {:.1} m, policy {}){}",
            s.category.as_str(),
            if s.category.class() == Class::Cultural { "cultural property" } else { "civilian object" },
            s.protection.as_str(),
            s.source,
            s.id,
            s.last_verified.as_deref().unwrap_or("never"),
            s.positional_accuracy_m,
            policy.name,
            access.as_deref().map(|a| format!("; marking {a}")).unwrap_or_default()
        ))
    );
    o
}

/// An ATAK data package (`MissionPackageManifest` version 2): one `.cot`
/// per site at `UID/UID.cot`, the package uid derived from `name`. The
/// same sites give the same bytes (fixed entry times, sorted entries).
pub fn data_package(
    sites: &[Site],
    policy: &Policy,
    t: Times,
    name: &str,
) -> std::io::Result<Vec<u8>> {
    let pkg_uid = {
        let d = Sha256::digest(format!("nostrike data package\n{name}").as_bytes());
        format!("nostrike-package-{}", &nostrike_store::hex(&d)[..32])
    };
    let mut entries: Vec<(String, String, String)> = sites
        .iter()
        .map(|s| {
            let u = uid(&s.source, &s.id);
            (format!("{u}/{u}.cot"), u, site_event(s, policy, t))
        })
        .collect();
    entries.sort();
    let mut manifest = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MissionPackageManifest version=\"2\"><Configuration><Parameter name=\"uid\" value=\"{pkg_uid}\"/><Parameter name=\"name\" value=\"{}\"/><Parameter name=\"onReceiveDelete\" value=\"false\"/></Configuration><Contents>",
        xml(name)
    );
    for (path, u, _) in &entries {
        let _ = write!(
            manifest,
            "<Content ignore=\"false\" zipEntry=\"{path}\"><Parameter name=\"uid\" value=\"{u}\"/></Content>"
        );
    }
    manifest.push_str("</Contents></MissionPackageManifest>\n");
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default());
        z.start_file("MANIFEST/manifest.xml", opts)
            .map_err(std::io::Error::other)?;
        z.write_all(manifest.as_bytes())?;
        for (path, _, text) in &entries {
            z.start_file(path.as_str(), opts)
                .map_err(std::io::Error::other)?;
            z.write_all(text.as_bytes())?;
        }
        z.finish().map_err(std::io::Error::other)?;
    }
    Ok(buf.into_inner())
}

/// A check as CoT, one event per line (a TAK stream: `nc HOST 8087 <
/// check.cot`): each area as a shape (a circle of its buffer for a point, a
/// route, a drawn polygon) and each hit as a marker coloured by its
/// verdict with its distance and required distance in the remarks and its
/// required distance as the `<msd>` ring.
pub fn check_events(r: &Report<'_>, t: Times) -> anyhow::Result<String> {
    let mut o = String::new();
    let line = |mut e: String, o: &mut String| {
        e.retain(|c| c != '\n');
        o.push_str(&e);
        o.push('\n');
    };
    let banner = r.banner.text();
    let access = (r.banner != Banner::default()).then_some(banner.as_str());
    for (k, ((area, input), res)) in r.areas.iter().zip(r.results).enumerate() {
        let area_uid = {
            let d = Sha256::digest(
                format!("nostrike check area\n{}\n{}", area.id, input.text).as_bytes(),
            );
            format!("nostrike-area-{}", &nostrike_store::hex(&d)[..24])
        };
        let mut e = String::new();
        let rgb = verdict_rgb(res.verdict);
        let (lon, lat) = crate::map::centre_of(&area.geometry);
        let remarks = format!(
            "nostrike check {}: area {} — {}; {}; buffer {:.1} m, location error {:.1} m; registry revision {} content {}; policy {}{}",
            r.checked_at,
            area.id,
            verdict_word(res.verdict),
            input.how,
            area.buffer_m,
            area.location_error_m,
            r.revision,
            r.content_hash,
            r.policy.name,
            r.withheld_sentence(k).map(|w| format!("; WITHHELD: {w}")).unwrap_or_default()
        );
        match (&area.geometry, outline(&area.geometry)) {
            (Geometry::Point(p), _) => {
                open_event(
                    &mut e,
                    &area_uid,
                    if area.buffer_m > 0.0 {
                        "u-d-c-c"
                    } else {
                        "b-m-p-s-m"
                    },
                    t,
                    access,
                    "h-e",
                );
                point(&mut e, p.x(), p.y(), 0.0);
                e.push_str("<detail>");
                if area.buffer_m > 0.0 {
                    let _ = write!(
                        e,
                        "<shape><ellipse major=\"{0:.3}\" minor=\"{0:.3}\" angle=\"360\"/></shape>",
                        area.buffer_m
                    );
                }
            }
            (g, Some(c)) => {
                let route = matches!(g, Geometry::LineString(_) | Geometry::MultiLineString(_));
                open_event(
                    &mut e,
                    &area_uid,
                    if route { "b-m-r" } else { "u-d-f" },
                    t,
                    access,
                    "h-e",
                );
                point(&mut e, lon, lat, 0.0);
                e.push_str("<detail>");
                if route {
                    for (i, v) in c.iter().enumerate() {
                        let _ = write!(
                            e,
                            "<link uid=\"{area_uid}.{i}\" type=\"{}\" point=\"{:.9},{:.9}\" relation=\"c\"/>",
                            if i == 0 || i + 1 == c.len() { "b-m-p-w" } else { "b-m-p-c" },
                            v.y,
                            v.x
                        );
                    }
                } else {
                    links(&mut e, &c);
                }
            }
            (_, None) => {
                open_event(&mut e, &area_uid, "b-m-p-s-m", t, access, "h-e");
                point(&mut e, lon, lat, 0.0);
                e.push_str("<detail>");
            }
        }
        let _ = write!(
            e,
            "<strokeColor value=\"{}\"/><strokeWeight value=\"3.0\"/><contact callsign=\"{} {}\"/><remarks>{}</remarks><labels_on value=\"true\"/></detail></event>",
            argb(rgb),
            xml(&area.id),
            verdict_word(res.verdict),
            xml(&remarks)
        );
        line(e, &mut o);
        for h in &res.hits {
            let s = r.index.label(h.site)?;
            let hit_uid = {
                let d = Sha256::digest(
                    format!("nostrike check hit\n{}\n{}", area.id, s.key()).as_bytes(),
                );
                format!("nostrike-hit-{}", &nostrike_store::hex(&d)[..24])
            };
            let mut e = String::new();
            open_event(&mut e, &hit_uid, marker_type(s.category), t, access, "h-e");
            point(&mut e, h.nearest_on_site.x, h.nearest_on_site.y, 0.0);
            let _ = write!(
                e,
                "<detail><color argb=\"{}\"/><contact callsign=\"{} {}\"/><remarks>{}</remarks><msd range=\"{:.1}\"/><labels_on value=\"true\"/></detail></event>",
                argb(verdict_rgb(h.verdict)),
                verdict_word(h.verdict),
                xml(&s.name),
                xml(&format!(
                    "{} in area {}: {} ({}), {} {}; distance {:.1} m, required {:.1} m, margin {:.1} m{}{}",
                    verdict_word(h.verdict),
                    area.id,
                    s.key(),
                    s.category.as_str(),
                    s.protection.as_str(),
                    if s.name.is_empty() { "(unnamed)" } else { "" },
                    h.distance_m,
                    h.required_m,
                    h.margin_m,
                    h.bearing_deg.map(|b| format!(", bearing {b:.0}° from the area")).unwrap_or_default(),
                    if h.stale.is_some() { "; STALE record" } else { "" }
                )),
                h.required_m
            );
            line(e, &mut o);
        }
    }
    Ok(o)
}

/// Write a check as CoT (see [`check_events`]).
pub fn write_check(r: &Report<'_>, mut w: impl std::io::Write) -> std::io::Result<()> {
    let now = nostrike_core::time::parse_utc(&r.checked_at).unwrap_or(0);
    let s = check_events(
        r,
        Times {
            now,
            stale_after_s: 86_400,
        },
    )
    .map_err(std::io::Error::other)?;
    w.write_all(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_stable_and_distinct() {
        assert_eq!(uid("a", "1"), uid("a", "1"));
        assert_ne!(uid("a", "1"), uid("a", "2"));
        assert_ne!(uid("a\n1", ""), uid("a", "1\n"));
        assert_eq!(uid("a", "1").len(), "nostrike-".len() + 32);
    }

    #[test]
    fn colours_are_signed_argb_as_tak_writes_them() {
        assert_eq!(argb(0xFFFFFF), -1);
        assert_eq!(argb(0xFF0000), -65536);
    }
}
