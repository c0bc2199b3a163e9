//! GeoJSON (RFC 7946) FeatureCollections and newline-delimited Feature
//! sequences: a streaming reader (one feature in memory at a time) and a writer.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use geo_types::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon,
    Point, Polygon,
};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::{RawFeature, ReadError};

type Each<'a> = &'a mut dyn FnMut(RawFeature) -> Result<(), ReadError>;

/// CRS names that mean WGS84 longitude/latitude.
const WGS84_NAMES: &[&str] = &[
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "urn:ogc:def:crs:OGC::CRS84",
    "urn:ogc:def:crs:EPSG::4326",
    "urn:ogc:def:crs:EPSG:4326",
    "EPSG:4326",
    "CRS84",
    "OGC:CRS84",
];

/// Check a (pre-RFC 7946) `crs` member: only WGS84 lon/lat is accepted.
fn check_crs(crs: &Value) -> Result<(), String> {
    if crs.is_null() {
        return Ok(());
    }
    let name = crs.pointer("/properties/name").and_then(Value::as_str);
    match name {
        Some(n) if WGS84_NAMES.iter().any(|w| w.eq_ignore_ascii_case(n)) => Ok(()),
        Some(n) => Err(format!("coordinate reference system {n:?} is not WGS84 lon/lat (EPSG:4326 / CRS84); reproject first, e.g. ogr2ogr -t_srs EPSG:4326")),
        None => Err(format!("unrecognised crs member {crs}; only WGS84 lon/lat is accepted")),
    }
}

struct Reader<'a, 'b> {
    each: Each<'b>,
    path: &'a Path,
    count: usize,
    stopped: Option<ReadError>,
    /// Bytes the current feature may still take (see [`MAX_FEATURE_BYTES`]).
    budget: std::rc::Rc<std::cell::Cell<u64>>,
    /// Top-level members other than `type`, `features` and `crs`.
    members: Map<String, Value>,
}

/// The most bytes one feature of a FeatureCollection may take (256 MiB): a
/// larger one is refused with a message instead of being held in memory.
pub const MAX_FEATURE_BYTES: u64 = 256 << 20;

/// A reader that fails once the current feature has used up its byte budget.
struct Budgeted<R> {
    inner: R,
    budget: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: std::io::Read> std::io::Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.budget.get();
        if left == 0 {
            return Err(std::io::Error::other(format!(
                "a feature is larger than {} MiB; split it or simplify its geometry",
                MAX_FEATURE_BYTES >> 20
            )));
        }
        let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..take])?;
        self.budget.set(left - n as u64);
        Ok(n)
    }
}

impl<'de> Visitor<'de> for &mut Reader<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GeoJSON FeatureCollection object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut kind: Option<String> = None;
        let mut saw_features = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => {
                    let t: String = map.next_value()?;
                    if t != "FeatureCollection"
                        && t != "Feature"
                        && !GEOMETRY_TYPES.contains(&t.as_str())
                    {
                        return Err(de::Error::custom(format!(
                            "top-level type is {t:?}, expected \"FeatureCollection\", \"Feature\" or a geometry"
                        )));
                    }
                    kind = Some(t);
                }
                "features" if kind.as_deref().is_none_or(|k| k == "FeatureCollection") => {
                    saw_features = true;
                    map.next_value_seed(Features(&mut *self))?;
                }
                "crs" => {
                    let crs: Value = map.next_value()?;
                    check_crs(&crs).map_err(de::Error::custom)?;
                }
                _ => {
                    // Kept: a lone Feature's or geometry's members, or a
                    // collection's own (licence, attribution), each bounded
                    // like a feature.
                    self.budget.set(MAX_FEATURE_BYTES);
                    let v: Value = map.next_value()?;
                    self.members.insert(key, v);
                }
            }
        }
        let Some(kind) = kind else {
            return Err(de::Error::custom(
                "no \"type\" member (expected \"FeatureCollection\", \"Feature\" or a geometry)",
            ));
        };
        if kind == "FeatureCollection" {
            if !saw_features {
                return Err(de::Error::custom("no \"features\" member"));
            }
            return Ok(());
        }
        // A single Feature, or a bare geometry, at the top level: one feature (GDAL reads them so).
        let members = std::mem::take(&mut self.members);
        let value = if kind == "Feature" {
            let mut obj = members;
            obj.insert("type".into(), Value::String(kind));
            Value::Object(obj)
        } else {
            let mut geometry = members;
            geometry.insert("type".into(), Value::String(kind));
            serde_json::json!({"type": "Feature", "properties": {}, "geometry": Value::Object(geometry)})
        };
        self.count = 1;
        let raw = feature_from_value(1, value);
        if let Err(e) = (self.each)(raw) {
            self.stopped = Some(e);
            return Err(de::Error::custom("stopped"));
        }
        Ok(())
    }
}

/// GeoJSON's geometry types.
const GEOMETRY_TYPES: &[&str] = &[
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
];

impl<'de> DeserializeSeed<'de> for &mut Reader<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

struct Features<'r, 'a, 'b>(&'r mut Reader<'a, 'b>);

impl<'de> Visitor<'de> for Features<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of Features")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            self.0.budget.set(MAX_FEATURE_BYTES);
            let Some(raw) = seq.next_element_seed(FeatureSeed(self.0.count + 1))? else {
                break;
            };
            self.0.count += 1;
            if let Err(e) = (self.0.each)(raw) {
                self.0.stopped = Some(e);
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Features<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

/// Read a FeatureCollection, streaming its features to `each`.
pub fn read_collection(path: &Path, each: Each<'_>) -> Result<(), ReadError> {
    read_document(path, each).map(|_| ())
}

/// Read a FeatureCollection (or a lone Feature or geometry), streaming its
/// features to `each`; returns the collection's other top-level members
/// (`licence`, `attribution`, …).
pub fn read_document(path: &Path, each: Each<'_>) -> Result<Map<String, Value>, ReadError> {
    let file = std::fs::File::open(path).map_err(|e| ReadError::io(path, e))?;
    read_document_from(path, file, each)
}

/// [`read_document`] over any reader; `path` names it in messages.
pub fn read_document_from(
    path: &Path,
    file: impl std::io::Read,
    each: Each<'_>,
) -> Result<Map<String, Value>, ReadError> {
    let budget = std::rc::Rc::new(std::cell::Cell::new(u64::MAX));
    // Under the buffer, so the count costs nothing per byte; it is exact to within the buffer's 1 MiB.
    let mut input = BufReader::with_capacity(
        1 << 20,
        Budgeted {
            inner: file,
            budget: budget.clone(),
        },
    );
    skip_bom(&mut input).map_err(|e| ReadError::io(path, e))?;
    let mut reader = Reader {
        each,
        path,
        count: 0,
        stopped: None,
        budget,
        members: Map::new(),
    };
    let mut de = serde_json::Deserializer::from_reader(input);
    let result = (&mut reader).deserialize(&mut de).and_then(|()| de.end());
    if let Some(e) = reader.stopped {
        return Err(e);
    }
    result.map_err(|e| {
        let what = if e.is_io() {
            format!("feature {}", reader.count + 1)
        } else if e.is_eof() && e.line() == 1 && e.column() == 0 {
            "not valid GeoJSON (the file is empty)".to_string()
        } else if e.is_eof() {
            format!(
                "truncated: the file ends inside the document after {} complete feature(s)",
                reader.count
            )
        } else {
            "not valid GeoJSON".to_string()
        };
        ReadError::invalid(reader.path, format!("{what}: {e}"))
    })?;
    Ok(reader.members)
}

/// The top-level members of a GeoJSON document that come before its
/// `features` (`licence`, `attribution`, `name`, …), read without reading
/// the features: a source's defaults, as the document states them.
pub fn head_members(path: &Path) -> Result<Map<String, Value>, ReadError> {
    struct Head<'a>(&'a mut Map<String, Value>);
    impl<'de> Visitor<'de> for Head<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a GeoJSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "features" {
                    return Err(de::Error::custom(HEAD_DONE));
                }
                let v: Value = map.next_value()?;
                self.0.insert(key, v);
            }
            Ok(())
        }
    }
    const HEAD_DONE: &str = "nostrike: head read";
    let file = std::fs::File::open(path).map_err(|e| ReadError::io(path, e))?;
    let mut input = BufReader::with_capacity(1 << 16, std::io::Read::take(file, MAX_FEATURE_BYTES));
    skip_bom(&mut input).map_err(|e| ReadError::io(path, e))?;
    let mut members = Map::new();
    let mut de = serde_json::Deserializer::from_reader(input);
    // Anything but the stop at `features` is left for the full read to report.
    let _ = de::Deserializer::deserialize_map(&mut de, Head(&mut members));
    Ok(members)
}

fn skip_bom<R: BufRead>(r: &mut R) -> std::io::Result<()> {
    let buf = r.fill_buf()?;
    if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
        r.consume(3);
    }
    Ok(())
}

/// Read newline-delimited GeoJSON (one Feature per line; blank lines and RFC 8142 record separators are skipped).
pub fn read_sequence(path: &Path, each: Each<'_>) -> Result<(), ReadError> {
    let file = std::fs::File::open(path).map_err(|e| ReadError::io(path, e))?;
    read_sequence_from(path, file, each)
}

/// [`read_sequence`] over any reader; `path` names it in messages.
pub fn read_sequence_from(
    path: &Path,
    file: impl std::io::Read,
    each: Each<'_>,
) -> Result<(), ReadError> {
    let mut input = BufReader::with_capacity(1 << 20, file);
    skip_bom(&mut input).map_err(|e| ReadError::io(path, e))?;
    let mut line = Vec::new();
    let mut n = 0usize;
    loop {
        line.clear();
        let read = input
            .read_until(b'\n', &mut line)
            .map_err(|e| ReadError::io(path, e))?;
        if read == 0 {
            break;
        }
        n += 1;
        let text = std::str::from_utf8(&line)
            .map_err(|e| ReadError::invalid(path, format!("line {n}: not UTF-8 ({e})")))?
            .trim_matches(|c: char| c.is_whitespace() || c == '\u{1e}');
        if text.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(text)
            .map_err(|e| ReadError::invalid(path, format!("line {n}: not valid JSON: {e}")))?;
        let mut raw = feature_from_value(n, v);
        raw.index = n;
        each(raw)?;
    }
    Ok(())
}

/// The members of a Feature object that make a raw feature (the others
/// are ignored), each as the JSON value it holds when present.
#[derive(Default)]
struct FeatureMembers {
    kind: Option<Value>,
    id: Option<Value>,
    properties: Option<Value>,
    geometry: Option<Value>,
}

/// A feature in a FeatureCollection's `features` array, read into a
/// [`RawFeature`] as it is parsed: the same feature [`feature_from_value`]
/// makes of the value, without building the object's map and its keys
/// first (a third of the reading's allocations on a file of points).
struct FeatureSeed(usize);

/// The feature members a raw feature is made of, told apart without
/// allocating the key.
enum MemberKey {
    Type,
    Id,
    Properties,
    Geometry,
    Other,
}

impl<'de> de::Deserialize<'de> for MemberKey {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = MemberKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, k: &str) -> Result<MemberKey, E> {
                Ok(match k {
                    "type" => MemberKey::Type,
                    "id" => MemberKey::Id,
                    "properties" => MemberKey::Properties,
                    "geometry" => MemberKey::Geometry,
                    _ => MemberKey::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> DeserializeSeed<'de> for FeatureSeed {
    type Value = RawFeature;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<RawFeature, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FeatureSeed {
    type Value = RawFeature;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Feature")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFeature, A::Error> {
        let mut m = FeatureMembers::default();
        // A member given twice counts once, the last, as in a JSON map.
        while let Some(key) = map.next_key::<MemberKey>()? {
            match key {
                MemberKey::Type => m.kind = Some(map.next_value()?),
                MemberKey::Id => m.id = Some(map.next_value()?),
                MemberKey::Properties => m.properties = Some(map.next_value()?),
                MemberKey::Geometry => m.geometry = Some(map.next_value()?),
                // Parsed, not skipped: a value nested past the parser's
                // recursion limit refuses the file, as it always has.
                MemberKey::Other => {
                    map.next_value::<Value>()?;
                }
            }
        }
        Ok(feature_from_members(self.0, m))
    }
    // A feature that is not an object: the value [`feature_from_value`]
    // names in its error (rare, so built whole).
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawFeature, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        Ok(feature_from_value(self.0, Value::Array(items)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawFeature, E> {
        Ok(feature_from_value(self.0, Value::Null))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawFeature, E> {
        Ok(feature_from_value(self.0, Value::from(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawFeature, E> {
        Ok(feature_from_value(self.0, Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawFeature, E> {
        Ok(feature_from_value(self.0, Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawFeature, E> {
        Ok(feature_from_value(self.0, Value::from(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawFeature, E> {
        Ok(feature_from_value(self.0, Value::from(v)))
    }
}

/// Turn one JSON value into a raw feature (errors go into the feature).
pub fn feature_from_value(index: usize, v: Value) -> RawFeature {
    let Value::Object(mut obj) = v else {
        return RawFeature {
            index,
            id: None,
            geometry: Err(format!("expected a Feature object, found {}", kind_of(&v))),
            properties: Map::new(),
        };
    };
    let m = FeatureMembers {
        kind: obj.remove("type"),
        id: obj.remove("id"),
        properties: obj.remove("properties"),
        geometry: obj.remove("geometry"),
    };
    feature_from_members(index, m)
}

/// [`feature_from_value`] of an object with these members.
fn feature_from_members(index: usize, m: FeatureMembers) -> RawFeature {
    let mut raw = RawFeature {
        index,
        id: None,
        geometry: Err(String::new()),
        properties: Map::new(),
    };
    raw.id = match m.id {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    match m.properties {
        Some(Value::Object(p)) => raw.properties = p,
        Some(Value::Null) | None => {}
        Some(other) => {
            raw.geometry = Err(format!(
                "properties must be an object, found {}",
                kind_of(&other)
            ));
            return raw;
        }
    }
    match m.kind.as_ref().and_then(Value::as_str) {
        Some("Feature") => {}
        Some(t) => {
            raw.geometry = Err(format!("expected type \"Feature\", found {t:?}"));
            return raw;
        }
        None => {
            raw.geometry = Err("missing \"type\": \"Feature\"".into());
            return raw;
        }
    }
    raw.geometry = match &m.geometry {
        None | Some(Value::Null) => Err("null or missing geometry".into()),
        Some(g) => geometry_from_value(g, 0),
    };
    raw
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn position(v: &Value) -> Result<Coord<f64>, String> {
    let Value::Array(a) = v else {
        return Err(format!(
            "a position must be an array of numbers, found {}",
            kind_of(v)
        ));
    };
    if a.len() < 2 || a.len() > 4 {
        return Err(format!(
            "a position needs 2 or 3 numbers, found {}",
            a.len()
        ));
    }
    let num = |x: &Value| {
        x.as_f64()
            .ok_or_else(|| format!("coordinate {x} is not a number"))
    };
    Ok(Coord {
        x: num(&a[0])?,
        y: num(&a[1])?,
    })
}

fn positions(v: &Value) -> Result<Vec<Coord<f64>>, String> {
    match v {
        Value::Array(a) => a.iter().map(position).collect(),
        other => Err(format!(
            "expected an array of positions, found {}",
            kind_of(other)
        )),
    }
}

fn line(v: &Value) -> Result<LineString<f64>, String> {
    let p = positions(v)?;
    if p.len() < 2 {
        return Err(format!(
            "a LineString needs at least 2 positions, found {}",
            p.len()
        ));
    }
    Ok(LineString(p))
}

fn polygon(v: &Value) -> Result<Polygon<f64>, String> {
    let Value::Array(rings) = v else {
        return Err(format!(
            "polygon coordinates must be an array of rings, found {}",
            kind_of(v)
        ));
    };
    if rings.is_empty() {
        return Err("polygon has no rings".into());
    }
    let mut out = Vec::with_capacity(rings.len());
    for (i, r) in rings.iter().enumerate() {
        let p = positions(r)?;
        let which = if i == 0 {
            "exterior ring".to_string()
        } else {
            format!("hole {i}")
        };
        if p.len() < 4 {
            return Err(format!(
                "{which} has {} positions; a ring needs at least 4",
                p.len()
            ));
        }
        if p.first() != p.last() {
            return Err(format!(
                "{which} is not closed (first and last positions differ)"
            ));
        }
        out.push(LineString(p));
    }
    let exterior = out.remove(0);
    Ok(Polygon::new(exterior, out))
}

fn array<'v>(v: &'v Value, what: &str) -> Result<&'v Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{what} coordinates must be an array, found {}", kind_of(v)))
}

/// Parse a GeoJSON geometry object (WGS84 lon/lat), checking its structure
/// but not its validity ([`crate::validate_geometry`] does that).
pub fn parse_geometry(g: &Value) -> Result<Geometry<f64>, String> {
    geometry_from_value(g, 0)
}

/// Parse a GeoJSON geometry object, checking structure but not validity.
pub(crate) fn geometry_from_value(g: &Value, depth: usize) -> Result<Geometry<f64>, String> {
    if depth > 8 {
        return Err("GeometryCollection nested too deeply".into());
    }
    let Value::Object(obj) = g else {
        return Err(format!("geometry must be an object, found {}", kind_of(g)));
    };
    let t = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or("geometry has no type")?;
    if t == "GeometryCollection" {
        let parts = obj
            .get("geometries")
            .and_then(Value::as_array)
            .ok_or("GeometryCollection has no geometries array")?;
        let gs = parts
            .iter()
            .map(|p| geometry_from_value(p, depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        if gs.is_empty() {
            return Err("empty GeometryCollection".into());
        }
        return Ok(Geometry::GeometryCollection(GeometryCollection(gs)));
    }
    let c = match obj.get("coordinates") {
        None | Some(Value::Null) => return Err(format!("{t} has no coordinates")),
        Some(c) => c,
    };
    let geom: Geometry<f64> = match t {
        "Point" => Point(position(c)?).into(),
        "MultiPoint" => MultiPoint(positions(c)?.into_iter().map(Point).collect()).into(),
        "LineString" => line(c)?.into(),
        "MultiLineString" => {
            MultiLineString(array(c, t)?.iter().map(line).collect::<Result<_, _>>()?).into()
        }
        "Polygon" => polygon(c)?.into(),
        "MultiPolygon" => {
            MultiPolygon(array(c, t)?.iter().map(polygon).collect::<Result<_, _>>()?).into()
        }
        other => return Err(format!("unknown geometry type {other:?}")),
    };
    if is_empty(&geom) {
        return Err(format!("empty {t}"));
    }
    Ok(geom)
}

fn is_empty(g: &Geometry<f64>) -> bool {
    match g {
        Geometry::MultiPoint(m) => m.0.is_empty(),
        Geometry::MultiLineString(m) => m.0.is_empty(),
        Geometry::MultiPolygon(m) => m.0.is_empty(),
        _ => false,
    }
}

fn coords(c: &Coord<f64>) -> Value {
    Value::Array(vec![c.x.into(), c.y.into()])
}

fn ring(l: &LineString<f64>) -> Value {
    Value::Array(l.0.iter().map(coords).collect())
}

fn polygon_value(p: &Polygon<f64>) -> Value {
    Value::Array(
        std::iter::once(p.exterior())
            .chain(p.interiors())
            .map(ring)
            .collect(),
    )
}

/// A geo-types geometry as a GeoJSON geometry object (coordinates printed
/// in the shortest form that reads back to the same f64).
pub fn geometry_to_value(g: &Geometry<f64>) -> Value {
    let (t, c) = match g {
        Geometry::Point(p) => ("Point", coords(&p.0)),
        Geometry::MultiPoint(m) => (
            "MultiPoint",
            Value::Array(m.0.iter().map(|p| coords(&p.0)).collect()),
        ),
        Geometry::Line(l) => (
            "LineString",
            Value::Array(vec![coords(&l.start), coords(&l.end)]),
        ),
        Geometry::LineString(l) => ("LineString", ring(l)),
        Geometry::MultiLineString(m) => (
            "MultiLineString",
            Value::Array(m.0.iter().map(ring).collect()),
        ),
        Geometry::Polygon(p) => ("Polygon", polygon_value(p)),
        Geometry::MultiPolygon(m) => (
            "MultiPolygon",
            Value::Array(m.0.iter().map(polygon_value).collect()),
        ),
        Geometry::Rect(r) => ("Polygon", polygon_value(&r.to_polygon())),
        Geometry::Triangle(t) => ("Polygon", polygon_value(&t.to_polygon())),
        Geometry::GeometryCollection(c) => {
            let mut o = Map::new();
            o.insert("type".into(), "GeometryCollection".into());
            o.insert(
                "geometries".into(),
                Value::Array(c.0.iter().map(geometry_to_value).collect()),
            );
            return Value::Object(o);
        }
    };
    let mut o = Map::new();
    o.insert("type".into(), t.into());
    o.insert("coordinates".into(), c);
    Value::Object(o)
}

/// Writes a FeatureCollection one feature at a time.
pub struct Writer<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> Writer<W> {
    /// Start a collection; `members` are extra top-level members (e.g. `source`, `attribution`).
    pub fn new(mut out: W, members: &Map<String, Value>) -> std::io::Result<Writer<W>> {
        out.write_all(b"{\"type\":\"FeatureCollection\"")?;
        for (k, v) in members {
            write!(out, ",{}:{}", Value::String(k.clone()), v)?;
        }
        out.write_all(b",\"features\":[\n")?;
        Ok(Writer { out, first: true })
    }

    /// Write one feature.
    pub fn feature(
        &mut self,
        id: Option<&str>,
        geometry: &Geometry<f64>,
        properties: &Map<String, Value>,
    ) -> std::io::Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        let mut f = Map::new();
        f.insert("type".into(), "Feature".into());
        if let Some(id) = id {
            f.insert("id".into(), id.into());
        }
        f.insert("properties".into(), Value::Object(properties.clone()));
        f.insert("geometry".into(), geometry_to_value(geometry));
        serde_json::to_writer(&mut self.out, &Value::Object(f))?;
        Ok(())
    }

    /// Close the collection and return the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the feature made of the parsed value, as every feature was
    /// read before the members were taken as they are parsed.
    #[test]
    fn a_feature_read_as_parsed_equals_the_feature_of_its_value() {
        let cases = [
            r#"{"type":"Feature","id":"p0","properties":{"name":"A","category":"museum"},"geometry":{"type":"Point","coordinates":[1.5,2.5]}}"#,
            r#"{"geometry":{"type":"Point","coordinates":[1,2]},"properties":{"b":[1,{"c":null}],"a":1.25e-7},"type":"Feature","id":12345678901234567890}"#,
            r#"{"type":"Feature","id":-7,"properties":null,"geometry":{"type":"GeometryCollection","geometries":[{"type":"LineString","coordinates":[[0,0],[1,1]]}]}}"#,
            r#"{"type":"Feature","id":1.5,"properties":{},"geometry":null}"#,
            r#"{"type":"Feature","properties":{}}"#,
            r#"{"type":"Feature","id":{"x":1},"properties":[1,2],"geometry":{"type":"Point","coordinates":[0,0]}}"#,
            r#"{"type":"Point","properties":{},"geometry":{"type":"Point","coordinates":[0,0]}}"#,
            r#"{"type":7,"geometry":{"type":"Point","coordinates":[0,0]}}"#,
            r#"{"properties":{"a":1},"geometry":{"type":"Point","coordinates":[0,0]}}"#,
            r#"{"type":"Nope","type":"Feature","id":"first","id":"last","properties":{"a":1},"properties":{"a":2},"geometry":null,"geometry":{"type":"Point","coordinates":[3,4]}}"#,
            r#"{"type":"Feature","bbox":[0,0,1,1],"extra":{"deep":[1,2,{"x":"y"}]},"properties":{"a":"\u00e9\n"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}"#,
            r#"{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[0]}}"#,
            r#"{}"#,
            r#"[1,{"type":"Feature"}]"#,
            r#""Feature""#,
            r#"42"#,
            r#"-1.5"#,
            r#"true"#,
            r#"null"#,
        ];
        for (i, text) in cases.iter().enumerate() {
            let index = i + 1;
            let oracle = feature_from_value(index, serde_json::from_str(text).expect(text));
            let mut de = serde_json::Deserializer::from_str(text);
            let read = FeatureSeed(index).deserialize(&mut de).expect(text);
            de.end().expect(text);
            assert_eq!(read, oracle, "{text}");
        }
    }
}
