//! Cursor on Target (CoT): a reader of the areas a unit draws on a TAK
//! device — routes (`b-m-r`, their `<link point="lat,lon">` waypoints and
//! control points in order), free-form shapes (`u-d-f`, closed: a polygon;
//! open: a line), rectangles (`u-d-r`) and circles and ellipses (`u-d-c-c`,
//! `u-d-c-e`: the centre, with the larger semi-axis as its radius, given
//! as the feature's `buffer_m`) — and any other event as its point.
//!
//! A file holds one event, several events one after another (a TAK stream),
//! or events under one root element; a zip is an ATAK data package whose
//! `.cot` entries are read in name order. As for KML, document type
//! declarations with entities are refused (no external entity is fetched,
//! no entity expansion can happen), and an event's `<link point>` list is
//! capped so a hostile file cannot take the memory.
//!
//! Note the order in CoT: `point="LAT,LON"`, the reverse of GeoJSON.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use geo_types::{Coord, Geometry, LineString, Point, Polygon};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use serde_json::{Map, Value};

use crate::{RawFeature, ReadError};

/// The most `<link point>` vertices one event may carry.
pub const MAX_LINKS: usize = 100_000;

#[derive(Default)]
struct Ev {
    uid: Option<String>,
    kind: String,
    point: Option<Result<Coord<f64>, String>>,
    links: Vec<Result<Coord<f64>, String>>,
    radius: Option<Result<f64, String>>,
    callsign: Option<String>,
    remarks: String,
    in_remarks: bool,
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| {
            a.normalized_value(XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

fn number(s: &str, what: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{what} {s:?} is not a number"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{what} {s:?} is not a finite number"))
    }
}

/// `"LAT,LON"` (and an optional height) → a coordinate (x longitude, y latitude).
fn lat_lon(s: &str) -> Result<Coord<f64>, String> {
    let v: Vec<&str> = s.split(',').collect();
    if v.len() < 2 || v.len() > 3 {
        return Err(format!("link point {s:?} is not LAT,LON"));
    }
    Ok(Coord {
        x: number(v[1], "longitude")?,
        y: number(v[0], "latitude")?,
    })
}

impl Ev {
    fn start(&mut self, name: &str, e: &BytesStart<'_>, depth: usize) -> Result<(), String> {
        match name {
            "point" if depth == 2 => {
                self.point = Some((|| {
                    let lat = number(&attr(e, "lat").ok_or("point has no lat")?, "lat")?;
                    let lon = number(&attr(e, "lon").ok_or("point has no lon")?, "lon")?;
                    Ok(Coord { x: lon, y: lat })
                })());
            }
            "link" => {
                if let Some(p) = attr(e, "point") {
                    if self.links.len() >= MAX_LINKS {
                        return Err(format!("an event with more than {MAX_LINKS} link points"));
                    }
                    self.links.push(lat_lon(&p));
                }
            }
            "ellipse" => {
                self.radius = Some((|| {
                    let major = number(
                        &attr(e, "major").ok_or("ellipse has no major")?,
                        "ellipse major",
                    )?;
                    let minor = attr(e, "minor")
                        .map(|m| number(&m, "ellipse minor"))
                        .transpose()?
                        .unwrap_or(major);
                    if major < 0.0 || minor < 0.0 {
                        return Err("ellipse axes must not be negative".into());
                    }
                    Ok(major.max(minor))
                })());
            }
            "contact" => self.callsign = attr(e, "callsign").filter(|c| !c.is_empty()),
            "remarks" => self.in_remarks = true,
            _ => {}
        }
        Ok(())
    }

    fn into_feature(self, index: usize) -> RawFeature {
        let mut props = Map::new();
        props.insert("cot_type".into(), Value::String(self.kind.clone()));
        if let Some(u) = &self.uid {
            props.insert("cot_uid".into(), Value::String(u.clone()));
        }
        if let Some(c) = &self.callsign {
            props.insert("name".into(), Value::String(c.clone()));
        }
        if !self.remarks.trim().is_empty() {
            props.insert(
                "remarks".into(),
                Value::String(self.remarks.trim().to_string()),
            );
        }
        let geometry = (|| -> Result<Geometry<f64>, String> {
            let links: Vec<Coord<f64>> = self.links.into_iter().collect::<Result<_, _>>()?;
            let kind = self.kind.as_str();
            if kind == "b-m-r" {
                if links.len() < 2 {
                    return Err(format!(
                        "route has {} waypoint(s); a route needs at least 2",
                        links.len()
                    ));
                }
                return Ok(LineString(links).into());
            }
            if kind == "u-d-f" || kind == "u-d-r" || kind.starts_with("u-d-f") {
                if links.len() < 2 {
                    return Err(format!("shape {kind} has {} vertex(es)", links.len()));
                }
                let mut ring = links;
                let closed = ring.first() == ring.last();
                if kind == "u-d-r" && !closed {
                    ring.push(ring[0]);
                }
                if ring.first() == ring.last() && ring.len() >= 4 {
                    return Ok(Polygon::new(LineString(ring), vec![]).into());
                }
                return Ok(LineString(ring).into());
            }
            let p = self
                .point
                .ok_or_else(|| format!("event of type {kind:?} has no point"))??;
            if kind.starts_with("u-d-c") {
                let r = self
                    .radius
                    .ok_or_else(|| format!("{kind} circle has no <ellipse>"))??;
                props.insert("buffer_m".into(), Value::from(r));
            }
            Ok(Point(p).into())
        })();
        RawFeature {
            index,
            id: self.uid.clone().or(self.callsign.clone()),
            geometry,
            properties: props,
        }
    }
}

/// Read a CoT file, or an ATAK data package (zip): one feature per event.
pub fn read(
    path: &Path,
    each: &mut dyn FnMut(RawFeature) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let file = std::fs::File::open(path).map_err(|e| ReadError::io(path, e))?;
    let mut head = [0u8; 4];
    let n = (&file)
        .read(&mut head)
        .map_err(|e| ReadError::io(path, e))?;
    if head[..n].starts_with(b"PK\x03\x04") {
        let mut zip =
            zip::ZipArchive::new(std::fs::File::open(path).map_err(|e| ReadError::io(path, e))?)
                .map_err(|e| {
                    ReadError::invalid(path, format!("not a readable zip archive: {e}"))
                })?;
        let mut names: Vec<String> = zip
            .file_names()
            .filter_map(Result::ok)
            .filter(|n| n.to_ascii_lowercase().ends_with(".cot"))
            .map(|n| n.to_string())
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(ReadError::invalid(
                path,
                "a data package with no .cot entry: nothing to read",
            ));
        }
        let mut index = 0;
        for name in names {
            let entry = zip
                .by_name(&name)
                .map_err(|e| ReadError::invalid(path, format!("data package entry {name}: {e}")))?;
            // A hostile entry cannot claim more than 64 MiB once inflated.
            let limited = entry.take(64 << 20);
            read_xml(path, Some(&name), BufReader::new(limited), &mut index, each)?;
        }
        return Ok(());
    }
    let mut index = 0;
    read_xml(
        path,
        None,
        BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(path).map_err(|e| ReadError::io(path, e))?,
        ),
        &mut index,
        each,
    )
}

fn read_xml<R: BufRead>(
    path: &Path,
    entry: Option<&str>,
    input: R,
    index: &mut usize,
    each: &mut dyn FnMut(RawFeature) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut depth = 0usize; // elements open inside the current event (the event itself is 1)
    let mut ev: Option<Ev> = None;
    let mut seen = 0usize;
    let whence = |reader: &Reader<R>| match entry {
        Some(e) => format!("{e}, byte {}", reader.buffer_position()),
        None => format!("byte {}", reader.buffer_position()),
    };
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| {
            let e = e.to_string();
            let what = if e.contains("end of input") || e.contains("UnexpectedEof") {
                "truncated: the file ends in the middle of a tag"
            } else {
                "not valid XML"
            };
            ReadError::invalid(
                path,
                format!("{what} ({}): {e}; nothing is read", whence(&reader)),
            )
        })?;
        match event {
            Event::Eof => break,
            Event::DocType(d) => {
                let t: String = d.as_ref().to_string();
                if t.contains("<!ENTITY") || t.contains("SYSTEM") || t.contains("PUBLIC") {
                    return Err(ReadError::invalid(path, format!("document type declarations with entities or external references are not accepted ({}; XXE and entity-expansion protection)", whence(&reader))));
                }
            }
            Event::GeneralRef(r) => {
                let name: String = r.as_ref().to_string();
                let Some(ch) = crate::xml_reference_char(&r) else {
                    return Err(ReadError::invalid(path, format!("entity &{name}; is not defined ({}; only XML's predefined entities are read)", whence(&reader))));
                };
                if let Some(e) = ev.as_mut().filter(|e| e.in_remarks) {
                    e.remarks.push(ch);
                }
            }
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(event, Event::Empty(_));
                let name: String = s.local_name().as_ref().to_string();
                if name == "event" {
                    if ev.is_some() {
                        return Err(ReadError::invalid(
                            path,
                            format!("an event inside an event ({})", whence(&reader)),
                        ));
                    }
                    let e = Ev {
                        uid: attr(s, "uid"),
                        kind: attr(s, "type").unwrap_or_default(),
                        ..Ev::default()
                    };
                    if empty {
                        *index += 1;
                        seen += 1;
                        each(e.into_feature(*index))?;
                    } else {
                        depth = 1;
                        ev = Some(e);
                    }
                    continue;
                }
                if let Some(e) = ev.as_mut() {
                    if !empty {
                        depth += 1;
                    }
                    let d = if empty { depth + 1 } else { depth };
                    if let Err(m) = e.start(&name, s, d) {
                        return Err(ReadError::invalid(
                            path,
                            format!("{m} ({})", whence(&reader)),
                        ));
                    }
                }
            }
            Event::Text(t) => {
                // Remarks are kept up to 64 KiB: a hostile event cannot take the memory.
                if let Some(e) = ev
                    .as_mut()
                    .filter(|e| e.in_remarks && e.remarks.len() < 65_536)
                {
                    e.remarks.push_str(&t.xml10_content());
                }
            }
            Event::End(end) => {
                let name: String = end.local_name().as_ref().to_string();
                if let Some(e) = ev.as_mut() {
                    if name == "remarks" {
                        e.in_remarks = false;
                    }
                    if name == "event" {
                        *index += 1;
                        seen += 1;
                        let done = ev.take().unwrap_or_default();
                        each(done.into_feature(*index))?;
                        depth = 0;
                        continue;
                    }
                    depth = depth.saturating_sub(1);
                }
            }
            _ => {}
        }
        buf.clear();
    }
    if ev.is_some() {
        return Err(ReadError::invalid(
            path,
            format!(
                "truncated: the file ends inside an event ({}); nothing is read",
                whence(&reader)
            ),
        ));
    }
    if seen == 0 {
        return Err(ReadError::invalid(
            path,
            format!("no CoT <event> in {}", entry.unwrap_or("the file")),
        ));
    }
    Ok(())
}
