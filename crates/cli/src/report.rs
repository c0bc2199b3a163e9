//! Check reports: a table for people, and JSON, GeoJSON, CSV and KML for machines and maps.

use std::fmt::Write as _;

use geo_types::{Geometry, LineString, Point};
use nostrike_core::{Area, AreaResult, Policy, SiteSet, Verdict};
use nostrike_formats::geojson::geometry_to_value;
use rayon::prelude::*;
use serde::ser::SerializeSeq;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::check::verdict_word;

/// How an area was given on the command line or in a file.
#[derive(Debug, Clone)]
pub struct AreaInput {
    /// The text as typed (or where it came from).
    pub text: String,
    /// How it was read.
    pub how: String,
}

/// Everything a report states.
pub struct Report<'a> {
    /// UTC time of the check.
    pub checked_at: String,
    /// Registry path.
    pub registry_path: String,
    /// Registry revision checked against.
    pub revision: i64,
    /// Content hash of the sites checked against.
    pub content_hash: String,
    /// `--as-of` as given.
    pub as_of: Option<String>,
    /// The time site validity periods were judged at.
    pub validity_time: String,
    /// The policy.
    pub policy: &'a Policy,
    /// Where the policy came from.
    pub policy_source: String,
    /// The sites.
    pub index: &'a dyn SiteSet,
    /// The areas and how they were given.
    pub areas: &'a [(Area, AreaInput)],
    /// Results, in area order.
    pub results: &'a [AreaResult],
    /// The run's verdict.
    pub verdict: Verdict,
}

/// The report's sentence for a verdict.
pub fn verdict_sentence(v: Verdict) -> &'static str {
    match v {
        Verdict::Conflict => "protected sites within the required distance",
        Verdict::Caution => "protected sites within the caution margin of the required distance",
        Verdict::Clear => "no protected sites within the required distance",
    }
}

fn paint(text: &str, v: Verdict, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let code = match v {
        Verdict::Conflict => "1;31",
        Verdict::Caution => "1;33",
        Verdict::Clear => "1;32",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The table report.
pub fn table(r: &Report<'_>, color: bool) -> anyhow::Result<String> {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "nostrike {} check — {}",
        env!("CARGO_PKG_VERSION"),
        r.checked_at
    );
    let _ = writeln!(
        o,
        "registry  {}  revision {}  content {}",
        r.registry_path, r.revision, r.content_hash
    );
    if let Some(a) = &r.as_of {
        let _ = writeln!(
            o,
            "as of     {a} (site validity judged at {})",
            r.validity_time
        );
    }
    let _ = writeln!(
        o,
        "policy    {} — {}; caution margin {} m",
        r.policy.name, r.policy_source, r.policy.caution_margin_m
    );
    for ((area, input), res) in r.areas.iter().zip(r.results) {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "AREA {}  buffer {} m  location error {} m",
            area.id, area.buffer_m, area.location_error_m
        );
        let _ = writeln!(o, "  input   {}", input.text);
        let _ = writeln!(o, "  read as {}", input.how);
        let word = verdict_word(res.verdict);
        let _ = writeln!(
            o,
            "  {}: {} ({} site(s))",
            paint(word, res.verdict, color),
            verdict_sentence(res.verdict),
            res.hits.len()
        );
        if res.hits.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "  {:<8} {:>11} {:>11} {:>11} {:>7}  {:<19} {:<9} {:<28} name",
            "verdict",
            "margin_m",
            "distance_m",
            "required_m",
            "bearing",
            "category",
            "protect.",
            "site"
        );
        for h in &res.hits {
            let s = r.index.label(h.site)?;
            let b = h
                .bearing_deg
                .map(|b| format!("{b:.1}"))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                o,
                "  {:<8} {:>11.1} {:>11.1} {:>11.1} {:>7}  {:<19} {:<9} {:<28} {}",
                paint(verdict_word(h.verdict), h.verdict, color),
                h.margin_m,
                h.distance_m,
                h.required_m,
                b,
                s.category.as_str(),
                s.protection.as_str(),
                s.key(),
                s.name
            );
        }
    }
    let _ = writeln!(o);
    let code = crate::check::exit_code(r.verdict);
    let _ = writeln!(
        o,
        "RESULT: {} — {} (exit {code})",
        paint(verdict_word(r.verdict), r.verdict, color),
        verdict_sentence(r.verdict)
    );
    Ok(o)
}

/// The report's header as JSON: everything but the areas.
pub fn head_value(r: &Report<'_>) -> Value {
    json!({
        "verdict": r.verdict.as_str(),
        "summary": verdict_sentence(r.verdict),
        "tool": "nostrike",
        "version": env!("CARGO_PKG_VERSION"),
        "checked_at": r.checked_at,
        "registry": {"path": r.registry_path, "revision": r.revision, "content_hash": r.content_hash},
        "as_of": r.as_of,
        "validity_time": r.validity_time,
        "policy": {"name": r.policy.name, "source": r.policy_source, "caution_margin_m": r.policy.caution_margin_m},
    })
}

#[derive(Serialize)]
struct JsonHit<'a> {
    site_id: String,
    source: &'a str,
    source_id: &'a str,
    name: &'a str,
    category: &'static str,
    class: &'static str,
    protection: &'static str,
    distance_m: f64,
    required_m: f64,
    margin_m: f64,
    verdict: &'static str,
    bearing_deg: Option<f64>,
    nearest_on_area: [f64; 2],
    nearest_on_site: [f64; 2],
}

/// The hits of one area, serialised one at a time (no intermediate tree).
struct JsonHits<'a> {
    hits: &'a [nostrike_core::Hit],
    index: &'a dyn SiteSet,
}

impl Serialize for JsonHits<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(Some(self.hits.len()))?;
        for h in self.hits {
            let s = self
                .index
                .label(h.site)
                .map_err(serde::ser::Error::custom)?;
            seq.serialize_element(&JsonHit {
                site_id: s.key(),
                source: &s.source,
                source_id: &s.id,
                name: &s.name,
                category: s.category.as_str(),
                class: match s.category.class() {
                    nostrike_core::Class::Cultural => "cultural",
                    nostrike_core::Class::Civilian => "civilian",
                },
                protection: s.protection.as_str(),
                distance_m: h.distance_m,
                required_m: h.required_m,
                margin_m: h.margin_m,
                verdict: h.verdict.as_str(),
                bearing_deg: h.bearing_deg,
                nearest_on_area: [h.nearest_on_area.0, h.nearest_on_area.1],
                nearest_on_site: [h.nearest_on_site.0, h.nearest_on_site.1],
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct JsonArea<'a> {
    id: &'a str,
    input: &'a str,
    read_as: &'a str,
    geometry: Value,
    buffer_m: f64,
    location_error_m: f64,
    verdict: &'static str,
    hits: JsonHits<'a>,
}

struct JsonAreas<'a>(&'a Report<'a>);

fn json_area<'a>(
    r: &'a Report<'a>,
    area: &'a Area,
    input: &'a AreaInput,
    res: &'a AreaResult,
) -> JsonArea<'a> {
    JsonArea {
        id: &area.id,
        input: &input.text,
        read_as: &input.how,
        geometry: geometry_to_value(&area.geometry),
        buffer_m: area.buffer_m,
        location_error_m: area.location_error_m,
        verdict: res.verdict.as_str(),
        hits: JsonHits {
            hits: &res.hits,
            index: r.index,
        },
    }
}

impl Serialize for JsonAreas<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut seq = ser.serialize_seq(Some(r.results.len()))?;
        for ((area, input), res) in r.areas.iter().zip(r.results) {
            seq.serialize_element(&json_area(r, area, input, res))?;
        }
        seq.end()
    }
}

/// The whole JSON report, streamed field by field.
struct JsonReport<'a>(&'a Report<'a>);

impl Serialize for JsonReport<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let head = head_value(self.0);
        let mut map = ser.serialize_map(None)?;
        if let Value::Object(h) = &head {
            for (k, v) in h {
                map.serialize_entry(k, v)?;
            }
        }
        map.serialize_entry("areas", &JsonAreas(self.0))?;
        map.end()
    }
}

/// Write the JSON report (schema: docs/report.schema.json); indented when `pretty`.
pub fn write_json<W: std::io::Write>(
    r: &Report<'_>,
    mut w: W,
    pretty: bool,
) -> std::io::Result<()> {
    if pretty {
        serde_json::to_writer_pretty(&mut w, &JsonReport(r))?;
        w.write_all(b"\n")?;
        return w.flush();
    }
    // Compact: the same document, its areas serialised on all cores a group
    // at a time and written in order (memory stays bounded by one group).
    let mut head = serde_json::to_vec(&head_value(r))?;
    if head.pop() != Some(b'}') {
        return Err(std::io::Error::other("report header is not a JSON object"));
    }
    w.write_all(&head)?;
    w.write_all(if head.len() > 1 {
        b",\"areas\":["
    } else {
        b"\"areas\":["
    })?;
    let items: Vec<_> = r.areas.iter().zip(r.results).collect();
    let mut first = true;
    for group in items.chunks(512) {
        let parts: Vec<std::io::Result<Vec<u8>>> = group
            .par_iter()
            .map(|((area, input), res)| {
                serde_json::to_vec(&json_area(r, area, input, res)).map_err(std::io::Error::from)
            })
            .collect();
        for p in parts {
            if !first {
                w.write_all(b",")?;
            }
            first = false;
            w.write_all(&p?)?;
        }
    }
    w.write_all(b"]}\n")?;
    w.flush()
}

fn feature(geometry: &Geometry<f64>, props: Value) -> Value {
    json!({"type": "Feature", "properties": props, "geometry": geometry_to_value(geometry)})
}

/// The GeoJSON report: areas, hit sites and the shortest connecting lines.
pub fn geojson(r: &Report<'_>) -> anyhow::Result<String> {
    let mut features = Vec::new();
    for ((area, _), res) in r.areas.iter().zip(r.results) {
        features.push(feature(&area.geometry, json!({"role": "area", "area_id": area.id, "buffer_m": area.buffer_m, "verdict": res.verdict.as_str()})));
        for h in &res.hits {
            let s = r.index.label(h.site)?;
            let props = json!({"area_id": area.id, "site_id": s.key(), "name": s.name, "category": s.category.as_str(), "protection": s.protection.as_str(), "verdict": h.verdict.as_str(), "distance_m": h.distance_m, "required_m": h.required_m, "margin_m": h.margin_m, "bearing_deg": h.bearing_deg});
            let mut sp = props.clone();
            sp["role"] = "site".into();
            features.push(feature(&r.index.geometry(h.site)?, sp));
            let mut lp = props;
            lp["role"] = "link".into();
            let line: Geometry<f64> = if h.distance_m > 0.0 {
                LineString::from(vec![h.nearest_on_area, h.nearest_on_site]).into()
            } else {
                Point::new(h.nearest_on_area.0, h.nearest_on_area.1).into()
            };
            features.push(feature(&line, lp));
        }
    }
    let mut top = Map::new();
    top.insert("type".into(), "FeatureCollection".into());
    let head = head_value(r);
    for k in [
        "verdict",
        "tool",
        "version",
        "checked_at",
        "registry",
        "policy",
    ] {
        top.insert(k.into(), head[k].clone());
    }
    top.insert("features".into(), Value::Array(features));
    let mut s = Value::Object(top).to_string();
    s.push('\n');
    Ok(s)
}

/// The CSV report: one row per hit (and one row per area without hits).
pub fn csv(r: &Report<'_>) -> anyhow::Result<String> {
    use nostrike_formats::csv::guard;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "area_id",
        "area_verdict",
        "site_id",
        "source",
        "source_id",
        "name",
        "category",
        "protection",
        "verdict",
        "distance_m",
        "required_m",
        "margin_m",
        "bearing_deg",
        "area_lon",
        "area_lat",
        "site_lon",
        "site_lat",
        "revision",
        "content_hash",
        "checked_at",
    ])?;
    for ((area, _), res) in r.areas.iter().zip(r.results) {
        if res.hits.is_empty() {
            // An area without hits still gets a row: its id, verdict and the registry state.
            let rev = r.revision.to_string();
            let area_id = guard(&area.id);
            let row = [area_id.as_ref(), res.verdict.as_str()]
                .into_iter()
                .chain(std::iter::repeat_n("", 15))
                .chain([rev.as_str(), r.content_hash.as_str(), r.checked_at.as_str()]);
            w.write_record(row)?;
        }
        for h in &res.hits {
            let s = r.index.label(h.site)?;
            let f = |x: f64| format!("{x:.3}");
            let rec: Vec<String> = vec![
                guard(&area.id).into_owned(),
                res.verdict.as_str().into(),
                guard(&s.key()).into_owned(),
                guard(&s.source).into_owned(),
                guard(&s.id).into_owned(),
                guard(&s.name).into_owned(),
                s.category.as_str().into(),
                s.protection.as_str().into(),
                h.verdict.as_str().into(),
                f(h.distance_m),
                f(h.required_m),
                f(h.margin_m),
                h.bearing_deg.map(|b| format!("{b:.2}")).unwrap_or_default(),
                h.nearest_on_area.0.to_string(),
                h.nearest_on_area.1.to_string(),
                h.nearest_on_site.0.to_string(),
                h.nearest_on_site.1.to_string(),
                r.revision.to_string(),
                r.content_hash.clone(),
                r.checked_at.clone(),
            ];
            w.write_record(&rec)?;
        }
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(String::from_utf8(bytes)?)
}

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(*c as u32, 0..=8 | 11 | 12 | 14..=31))
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// KML coordinates and geometry elements for a geometry.
pub fn kml_geometry(g: &Geometry<f64>) -> String {
    let cs = |l: &LineString<f64>| {
        l.0.iter()
            .map(|c| format!("{},{}", c.x, c.y))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let poly = |p: &geo_types::Polygon<f64>| {
        let mut s = format!("<Polygon><outerBoundaryIs><LinearRing><coordinates>{}</coordinates></LinearRing></outerBoundaryIs>", cs(p.exterior()));
        for h in p.interiors() {
            let _ = write!(s, "<innerBoundaryIs><LinearRing><coordinates>{}</coordinates></LinearRing></innerBoundaryIs>", cs(h));
        }
        s.push_str("</Polygon>");
        s
    };
    match g {
        Geometry::Point(p) => format!(
            "<Point><coordinates>{},{}</coordinates></Point>",
            p.x(),
            p.y()
        ),
        Geometry::LineString(l) => format!(
            "<LineString><tessellate>1</tessellate><coordinates>{}</coordinates></LineString>",
            cs(l)
        ),
        Geometry::Polygon(p) => poly(p),
        Geometry::MultiPoint(m) => format!(
            "<MultiGeometry>{}</MultiGeometry>",
            m.0.iter()
                .map(|p| kml_geometry(&(*p).into()))
                .collect::<String>()
        ),
        Geometry::MultiLineString(m) => format!(
            "<MultiGeometry>{}</MultiGeometry>",
            m.0.iter()
                .map(|l| kml_geometry(&l.clone().into()))
                .collect::<String>()
        ),
        Geometry::MultiPolygon(m) => format!(
            "<MultiGeometry>{}</MultiGeometry>",
            m.0.iter().map(poly).collect::<String>()
        ),
        Geometry::GeometryCollection(c) => format!(
            "<MultiGeometry>{}</MultiGeometry>",
            c.0.iter().map(kml_geometry).collect::<String>()
        ),
        Geometry::Line(l) => kml_geometry(&LineString(vec![l.start, l.end]).into()),
        Geometry::Rect(r) => poly(&r.to_polygon()),
        Geometry::Triangle(t) => poly(&t.to_polygon()),
    }
}

/// The KML report (for Google Earth): one folder per area with its hits.
pub fn kml(r: &Report<'_>) -> anyhow::Result<String> {
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<kml xmlns=\"http://www.opengis.net/kml/2.2\"><Document>\n");
    let _ = writeln!(
        o,
        "<name>nostrike check {}: {}</name>",
        xml(&r.checked_at),
        verdict_word(r.verdict)
    );
    let _ = writeln!(
        o,
        "<description>{}; registry {} revision {} content {}; policy {}</description>",
        verdict_sentence(r.verdict),
        xml(&r.registry_path),
        r.revision,
        r.content_hash,
        xml(&r.policy.name)
    );
    for (color, id) in [
        ("ff0000ff", "conflict"),
        ("ff00ffff", "caution"),
        ("ff00ff00", "clear"),
    ] {
        let _ = writeln!(o, "<Style id=\"{id}\"><LineStyle><color>{color}</color><width>2</width></LineStyle><PolyStyle><color>40{}</color></PolyStyle><IconStyle><color>{color}</color></IconStyle></Style>", &color[2..]);
    }
    for ((area, input), res) in r.areas.iter().zip(r.results) {
        let _ = writeln!(
            o,
            "<Folder><name>{} — {}</name>",
            xml(&area.id),
            verdict_word(res.verdict)
        );
        let _ = writeln!(o, "<Placemark><name>area {}</name><description>{} (buffer {} m)</description><styleUrl>#{}</styleUrl>{}</Placemark>", xml(&area.id), xml(&input.how), area.buffer_m, res.verdict.as_str(), kml_geometry(&area.geometry));
        for h in &res.hits {
            let s = r.index.label(h.site)?;
            let _ = writeln!(
                o,
                "<Placemark><name>{} {}</name><description>{} {}; distance {:.1} m, required {:.1} m, margin {:.1} m</description><styleUrl>#{}</styleUrl>{}</Placemark>",
                verdict_word(h.verdict),
                xml(&s.name),
                xml(&s.key()),
                s.category.as_str(),
                h.distance_m,
                h.required_m,
                h.margin_m,
                h.verdict.as_str(),
                kml_geometry(&r.index.geometry(h.site)?)
            );
        }
        o.push_str("</Folder>\n");
    }
    o.push_str("</Document></kml>\n");
    Ok(o)
}
