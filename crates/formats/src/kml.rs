//! KML: a streaming reader of Placemarks (Point, LineString, Polygon,
//! MultiGeometry; `name`, `description`, ExtendedData `Data` and
//! `SimpleData` fields). Document type declarations with entities are
//! refused, so no external entity is ever fetched and no entity expansion
//! (billion laughs) can happen; only XML's five predefined entities and
//! character references are read.

use std::io::BufReader;
use std::path::Path;

use geo_types::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon,
    Point, Polygon,
};
use quick_xml::events::Event;
use quick_xml::Reader;
use quick_xml::XmlVersion;
use serde_json::{Map, Value};

use crate::{RawFeature, ReadError};

#[derive(Default)]
struct Placemark {
    id: Option<String>,
    props: Map<String, Value>,
    geoms: Vec<Geometry<f64>>,
    error: Option<String>,
}

#[derive(Default)]
struct PolygonParts {
    shell: Option<Vec<Coord<f64>>>,
    holes: Vec<Vec<Coord<f64>>>,
}

fn parse_coords(text: &str) -> Result<Vec<Coord<f64>>, String> {
    text.split_whitespace()
        .map(|tuple| {
            let v: Vec<&str> = tuple.split(',').collect();
            if v.len() < 2 || v.len() > 3 {
                return Err(format!("coordinate tuple {tuple:?} is not lon,lat[,alt]"));
            }
            let num = |s: &str| {
                s.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("coordinate {s:?} is not a number"))
            };
            Ok(Coord {
                x: num(v[0])?,
                y: num(v[1])?,
            })
        })
        .collect()
}

fn ring(c: Vec<Coord<f64>>, what: &str) -> Result<LineString<f64>, String> {
    if c.len() < 4 {
        return Err(format!(
            "{what} has {} positions; a ring needs at least 4",
            c.len()
        ));
    }
    if c.first() != c.last() {
        return Err(format!(
            "{what} is not closed (first and last positions differ)"
        ));
    }
    Ok(LineString(c))
}

fn combine(geoms: Vec<Geometry<f64>>) -> Result<Geometry<f64>, String> {
    if geoms.is_empty() {
        return Err("Placemark has no geometry".into());
    }
    if geoms.len() == 1 {
        return Ok(geoms
            .into_iter()
            .next()
            .unwrap_or(Geometry::GeometryCollection(GeometryCollection(vec![]))));
    }
    if geoms.iter().all(|g| matches!(g, Geometry::Point(_))) {
        return Ok(MultiPoint(
            geoms
                .into_iter()
                .filter_map(|g| {
                    if let Geometry::Point(p) = g {
                        Some(p)
                    } else {
                        None
                    }
                })
                .collect(),
        )
        .into());
    }
    if geoms.iter().all(|g| matches!(g, Geometry::LineString(_))) {
        return Ok(MultiLineString(
            geoms
                .into_iter()
                .filter_map(|g| {
                    if let Geometry::LineString(l) = g {
                        Some(l)
                    } else {
                        None
                    }
                })
                .collect(),
        )
        .into());
    }
    if geoms.iter().all(|g| matches!(g, Geometry::Polygon(_))) {
        return Ok(MultiPolygon(
            geoms
                .into_iter()
                .filter_map(|g| {
                    if let Geometry::Polygon(p) = g {
                        Some(p)
                    } else {
                        None
                    }
                })
                .collect(),
        )
        .into());
    }
    Ok(Geometry::GeometryCollection(GeometryCollection(geoms)))
}

/// Read Placemarks from a KML file, streaming them to `each`.
pub fn read(
    path: &Path,
    each: &mut dyn FnMut(RawFeature) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut file = std::fs::File::open(path).map_err(|e| ReadError::io(path, e))?;
    let mut magic = [0u8; 4];
    let n = std::io::Read::read(&mut file, &mut magic).map_err(|e| ReadError::io(path, e))?;
    std::io::Seek::rewind(&mut file).map_err(|e| ReadError::io(path, e))?;
    if magic[..n] != *b"PK\x03\x04" {
        return read_xml(path, BufReader::with_capacity(1 << 20, file), false, each);
    }
    // KMZ: a zip archive whose KML is `doc.kml`, else its first `.kml` entry.
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| ReadError::invalid(path, format!("not a readable KMZ (zip) archive: {e}")))?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.to_string())
        .collect();
    let kml = names
        .iter()
        .find(|n| n.eq_ignore_ascii_case("doc.kml"))
        .or_else(|| {
            names
                .iter()
                .find(|n| n.to_ascii_lowercase().ends_with(".kml"))
        })
        .cloned()
        .ok_or_else(|| ReadError::invalid(path, "a zip archive holding no .kml file: not a KMZ"))?;
    let entry = zip
        .by_name(&kml)
        .map_err(|e| ReadError::invalid(path, format!("KMZ entry {kml}: {e}")))?;
    read_xml(path, BufReader::with_capacity(1 << 20, entry), true, each)
}

/// The 1-based line of a byte offset in a file (for messages).
fn line_at(path: &Path, byte: u64, zipped: bool) -> String {
    if zipped {
        return format!("byte {byte}");
    }
    let Ok(bytes) = std::fs::read(path) else {
        return format!("byte {byte}");
    };
    let end = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
    let line = 1 + bytes[..end].iter().filter(|b| **b == b'\n').count();
    format!("line {line}")
}

fn read_xml<R: std::io::BufRead>(
    path: &Path,
    input: R,
    zipped: bool,
    each: &mut dyn FnMut(RawFeature) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut pm: Option<Placemark> = None;
    let mut poly: Option<PolygonParts> = None;
    let mut data_name: Option<String> = None;
    let mut n = 0usize;
    let mut saw_kml = false;
    let bad = |reader: &Reader<R>, msg: String| {
        ReadError::invalid(
            path,
            format!(
                "{msg} ({}); nothing is imported",
                line_at(path, reader.buffer_position(), zipped)
            ),
        )
    };
    loop {
        let ev = reader.read_event_into(&mut buf).map_err(|e| {
            let e = e.to_string();
            if e.contains("end of input") || e.contains("UnexpectedEof") {
                bad(
                    &reader,
                    format!("truncated: the document ends in the middle of a tag ({e})"),
                )
            } else {
                bad(&reader, format!("not valid XML: {e}"))
            }
        })?;
        match ev {
            Event::Eof => break,
            Event::DocType(d) => {
                let t: String = d.as_ref().to_string();
                if t.contains("<!ENTITY") || t.contains("SYSTEM") || t.contains("PUBLIC") {
                    return Err(bad(&reader, "document type declarations with entities or external references are not accepted (XXE and entity-expansion protection)".into()));
                }
            }
            Event::Start(e) => {
                let name: String = e.local_name().as_ref().to_string();
                if name == "kml" {
                    saw_kml = true;
                }
                if name == "Placemark" {
                    n += 1;
                    let mut p = Placemark::default();
                    for a in e.attributes().flatten() {
                        if a.key.local_name().as_ref() == "id" {
                            p.id = a
                                .normalized_value(XmlVersion::Implicit1_0)
                                .ok()
                                .map(|v| v.into_owned());
                        }
                    }
                    pm = Some(p);
                }
                if name == "Polygon" {
                    poly = Some(PolygonParts::default());
                }
                if name == "Data" || name == "SimpleData" {
                    data_name = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == "name")
                        .and_then(|a| {
                            a.normalized_value(XmlVersion::Implicit1_0)
                                .ok()
                                .map(|v| v.into_owned())
                        });
                }
                stack.push(name);
                text.clear();
            }
            Event::Empty(_) => {}
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(c) => text.push_str(c.as_ref()),
            Event::GeneralRef(r) => {
                let name: String = r.as_ref().to_string();
                match crate::xml_reference_char(&r) {
                    Some(c) => text.push(c),
                    None => return Err(bad(&reader, format!("entity &{name}; is not defined (only XML's predefined entities are read)"))),
                }
            }
            Event::End(_) => {
                let name = stack.pop().unwrap_or_default();
                let parent = stack.last().map(String::as_str).unwrap_or("");
                if let Some(p) = pm.as_mut() {
                    let t = text.trim().to_string();
                    match name.as_str() {
                        "name" | "description" if parent == "Placemark" => {
                            p.props.insert(name.clone(), Value::String(t));
                        }
                        "value" if parent == "Data" => {
                            if let Some(k) = &data_name {
                                p.props.insert(k.clone(), Value::String(t));
                            }
                        }
                        "SimpleData" => {
                            if let Some(k) = data_name.take() {
                                p.props.insert(k, Value::String(t));
                            }
                        }
                        "coordinates" => {
                            match parse_coords(&text) {
                                Err(e) => p.error = p.error.take().or(Some(e)),
                                Ok(c) => {
                                    let gp =
                                        stack.iter().rev().nth(1).map(String::as_str).unwrap_or("");
                                    match parent {
                                        "Point" => match c.as_slice() {
                                            [one] => p.geoms.push(Point(*one).into()),
                                            _ => {
                                                p.error = p.error.take().or(Some(format!(
                                                    "a Point needs 1 position, found {}",
                                                    c.len()
                                                )))
                                            }
                                        },
                                        "LineString" => {
                                            if c.len() < 2 {
                                                p.error = p.error.take().or(Some(format!("a LineString needs at least 2 positions, found {}", c.len())));
                                            } else {
                                                p.geoms.push(LineString(c).into());
                                            }
                                        }
                                        "LinearRing" => {
                                            if let Some(pp) = poly.as_mut() {
                                                if gp == "outerBoundaryIs" {
                                                    pp.shell = Some(c);
                                                } else {
                                                    pp.holes.push(c);
                                                }
                                            }
                                        }
                                        _ => {}
                                    }
                                }
                            }
                        }
                        "Polygon" => {
                            if let Some(pp) = poly.take() {
                                let built = (|| -> Result<Polygon<f64>, String> {
                                    let shell = ring(
                                        pp.shell.ok_or("Polygon has no outerBoundaryIs")?,
                                        "outer ring",
                                    )?;
                                    let holes = pp
                                        .holes
                                        .into_iter()
                                        .enumerate()
                                        .map(|(i, h)| ring(h, &format!("inner ring {}", i + 1)))
                                        .collect::<Result<Vec<_>, _>>()?;
                                    Ok(Polygon::new(shell, holes))
                                })();
                                match built {
                                    Ok(pg) => p.geoms.push(pg.into()),
                                    Err(e) => p.error = p.error.take().or(Some(e)),
                                }
                            }
                        }
                        _ => {}
                    }
                }
                if name == "Data" {
                    data_name = None;
                }
                if name == "Placemark" {
                    if let Some(p) = pm.take() {
                        let geometry = match p.error {
                            Some(e) => Err(e),
                            None => combine(p.geoms),
                        };
                        each(RawFeature {
                            index: n,
                            id: p.id,
                            geometry,
                            properties: p.props,
                        })?;
                    }
                }
                text.clear();
            }
            _ => {}
        }
        buf.clear();
    }
    if let Some(open) = stack.last() {
        return Err(bad(
            &reader,
            format!(
                "truncated: the document ends inside <{open}> after {n} Placemark(s) began; a KML must be well-formed to its end"
            ),
        ));
    }
    if !saw_kml {
        return Err(ReadError::invalid(path, "not KML (no <kml> element)"));
    }
    Ok(())
}
