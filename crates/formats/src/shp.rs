//! ESRI Shapefile, plain (`.shp` with `.shx`, `.dbf`, `.prj` beside it) or
//! zipped. The `.prj` must describe WGS84 longitude/latitude; a missing or
//! projected `.prj` is refused, never guessed at.

use std::io::Read;
use std::path::{Path, PathBuf};

use geo_types::{
    Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon,
};
use serde_json::{Map, Value};
use shapefile::dbase::FieldValue;
use shapefile::{PolygonRing, Shape};

use crate::{RawFeature, ReadError};

/// Whether a CRS name given on the command line means WGS84 lon/lat.
fn is_wgs84_name(crs: &str) -> bool {
    matches!(
        crs.trim().to_ascii_uppercase().as_str(),
        "EPSG:4326" | "CRS84" | "OGC:CRS84" | "WGS84"
    )
}

/// Whether a `.prj` WKT names geographic WGS84 (and nothing projected).
fn prj_is_wgs84(wkt: &str) -> Result<(), String> {
    let w = wkt.to_ascii_uppercase();
    if w.contains("PROJCS") || w.contains("PROJCRS") {
        let name = wkt.split('"').nth(1).unwrap_or("?");
        return Err(format!("projected coordinate reference system {name:?} is not WGS84 lon/lat; reproject first, e.g. ogr2ogr -t_srs EPSG:4326"));
    }
    if (w.contains("GEOGCS") || w.contains("GEOGCRS"))
        && (w.contains("WGS_1984") || w.contains("WGS 84") || w.contains("WGS84"))
    {
        return Ok(());
    }
    let name = wkt.split('"').nth(1).unwrap_or("?");
    Err(format!(
        "coordinate reference system {name:?} is not WGS84 lon/lat"
    ))
}

fn ring<P>(pts: &[P], xy: impl Fn(&P) -> (f64, f64)) -> LineString<f64> {
    LineString(
        pts.iter()
            .map(|p| {
                let (x, y) = xy(p);
                Coord { x, y }
            })
            .collect(),
    )
}

fn polygons<P>(
    rings: &[PolygonRing<P>],
    xy: impl Fn(&P) -> (f64, f64) + Copy,
) -> Result<Geometry<f64>, String> {
    let mut out: Vec<Polygon<f64>> = Vec::new();
    for r in rings {
        match r {
            PolygonRing::Outer(p) => out.push(Polygon::new(ring(p, xy), vec![])),
            PolygonRing::Inner(p) => match out.last_mut() {
                Some(last) => last.interiors_push(ring(p, xy)),
                None => return Err("a hole comes before any outer ring".into()),
            },
        }
    }
    Ok(match out.len() {
        0 => return Err("polygon with no rings".into()),
        1 => out.remove(0).into(),
        _ => MultiPolygon(out).into(),
    })
}

fn lines<P>(parts: &[Vec<P>], xy: impl Fn(&P) -> (f64, f64) + Copy) -> Geometry<f64> {
    let ls: Vec<LineString<f64>> = parts.iter().map(|p| ring(p, xy)).collect();
    if ls.len() == 1 {
        ls.into_iter()
            .next()
            .map(Geometry::LineString)
            .unwrap_or_else(|| MultiLineString(vec![]).into())
    } else {
        MultiLineString(ls).into()
    }
}

fn geometry(s: Shape) -> Result<Geometry<f64>, String> {
    Ok(match s {
        Shape::NullShape => return Err("null geometry".into()),
        Shape::Point(p) => Point::new(p.x, p.y).into(),
        Shape::PointM(p) => Point::new(p.x, p.y).into(),
        Shape::PointZ(p) => Point::new(p.x, p.y).into(),
        Shape::Multipoint(m) => {
            MultiPoint(m.points().iter().map(|p| Point::new(p.x, p.y)).collect()).into()
        }
        Shape::MultipointM(m) => {
            MultiPoint(m.points().iter().map(|p| Point::new(p.x, p.y)).collect()).into()
        }
        Shape::MultipointZ(m) => {
            MultiPoint(m.points().iter().map(|p| Point::new(p.x, p.y)).collect()).into()
        }
        Shape::Polyline(l) => lines(l.parts(), |p| (p.x, p.y)),
        Shape::PolylineM(l) => lines(l.parts(), |p| (p.x, p.y)),
        Shape::PolylineZ(l) => lines(l.parts(), |p| (p.x, p.y)),
        Shape::Polygon(p) => polygons(p.rings(), |p| (p.x, p.y))?,
        Shape::PolygonM(p) => polygons(p.rings(), |p| (p.x, p.y))?,
        Shape::PolygonZ(p) => polygons(p.rings(), |p| (p.x, p.y))?,
        Shape::Multipatch(_) => return Err("Multipatch geometries are not supported".into()),
    })
}

fn value(v: FieldValue) -> Value {
    match v {
        FieldValue::Character(s) => s.map(Value::String).unwrap_or(Value::Null),
        FieldValue::Numeric(x) => x
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        FieldValue::Logical(b) => b.map(Value::Bool).unwrap_or(Value::Null),
        FieldValue::Date(d) => d
            .map(|d| Value::String(format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())))
            .unwrap_or(Value::Null),
        FieldValue::Float(x) => x
            .and_then(|f| serde_json::Number::from_f64(f as f64))
            .map(Value::Number)
            .unwrap_or(Value::Null),
        FieldValue::Integer(i) => Value::from(i),
        FieldValue::Currency(x) | FieldValue::Double(x) => serde_json::Number::from_f64(x)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        FieldValue::DateTime(d) => Value::String(format!("{d:?}")),
        FieldValue::Memo(s) => Value::String(s),
    }
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Extract the one shapefile in a zip archive; returns the `.shp` path inside a temporary directory.
fn unzip(path: &Path) -> Result<(PathBuf, TempDir), ReadError> {
    let file = std::fs::File::open(path).map_err(|e| ReadError::io(path, e))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| ReadError::invalid(path, format!("not a readable zip archive: {e}")))?;
    let dir =
        std::env::temp_dir().join(format!("nostrike-shp-{}-{}", std::process::id(), zip.len()));
    std::fs::create_dir_all(&dir).map_err(|e| ReadError::io(&dir, e))?;
    let guard = TempDir(dir.clone());
    let mut shp = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| ReadError::invalid(path, format!("zip entry {i}: {e}")))?;
        let name = entry
            .enclosed_name()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
        let Some(name) = name else { continue };
        let lower = name.to_ascii_lowercase();
        if !["shp", "shx", "dbf", "prj", "cpg"]
            .iter()
            .any(|e| lower.ends_with(&format!(".{e}")))
        {
            continue;
        }
        // Bounded: a shapefile part is at most 2 GiB by format; refuse bigger claims.
        if entry.size() > (2u64 << 30) {
            return Err(ReadError::invalid(
                path,
                format!("zip entry {name} claims {} bytes", entry.size()),
            ));
        }
        let mut bytes = Vec::new();
        entry
            .by_ref()
            .take(2u64 << 30)
            .read_to_end(&mut bytes)
            .map_err(|e| ReadError::invalid(path, format!("zip entry {name}: {e}")))?;
        let stem = Path::new(&name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = lower.rsplit('.').next().unwrap_or("").to_string();
        let out = dir.join(format!("{stem}.{ext}"));
        std::fs::write(&out, bytes).map_err(|e| ReadError::io(&out, e))?;
        if ext == "shp" {
            shp.push(out);
        }
    }
    match shp.len() {
        1 => Ok((shp.remove(0), guard)),
        0 => Err(ReadError::invalid(
            path,
            "the zip archive holds no .shp file",
        )),
        n => Err(ReadError::invalid(
            path,
            format!("the zip archive holds {n} .shp files; import them one at a time"),
        )),
    }
}

/// The text encoding of a shapefile's `.dbf`: named by the `.cpg` beside it
/// (as GDAL and QGIS write it), else by the DBF's language driver byte;
/// where neither says, UTF-8 if every byte of the file is valid UTF-8, else
/// Latin-1 (read as Windows-1252, its superset, as GDAL reads ISO-8859-1).
/// Returns the encoding and how it was decided, for messages.
fn dbf_encoding(
    path: &Path,
    shp: &Path,
) -> Result<(Option<shapefile::dbase::encoding::DynEncoding>, String), ReadError> {
    use shapefile::dbase::encoding::{DynEncoding, EncodingRs};
    let cpg = shp.with_extension("cpg");
    if let Ok(label) = std::fs::read_to_string(&cpg) {
        let name = label.trim().trim_start_matches('\u{feff}');
        return match DynEncoding::from_name(name) {
            Some(e) => Ok((Some(e), format!(".cpg {name}"))),
            None => Err(ReadError::invalid(
                path,
                format!(".cpg names the encoding {name:?}, which nostrike does not know (UTF-8, ISO-8859-1…15, CP1250…1258, 866, 874, 932, 936, 949, 950, BIG5)"),
            )),
        };
    }
    let dbf = shp.with_extension("dbf");
    let mut file = std::fs::File::open(&dbf).map_err(|e| ReadError::io(&dbf, e))?;
    let mut header = [0u8; 32];
    let got = std::io::Read::read(&mut file, &mut header).map_err(|e| ReadError::io(&dbf, e))?;
    let bytes = &header[..got];
    // Byte 29 of a DBF header is its language driver id; 0 says nothing.
    let latin1 = || {
        let e: &'static shapefile::dbase::encoding_rs::Encoding =
            shapefile::dbase::encoding_rs::WINDOWS_1252;
        DynEncoding::from(EncodingRs::from(e))
    };
    let ldid = bytes.get(29).copied().unwrap_or(0);
    // ESRI's "ANSI" drivers (0x57 as ArcGIS and GDAL write it, 0x58, 0x59) are Windows-1252.
    if matches!(ldid, 0x57..=0x59) {
        return Ok((
            Some(latin1()),
            format!("the DBF language driver 0x{ldid:02x} (ANSI)"),
        ));
    }
    let known = !matches!(
        shapefile::dbase::CodePageMark::from(ldid),
        shapefile::dbase::CodePageMark::Invalid | shapefile::dbase::CodePageMark::Undefined
    );
    match (ldid, known) {
        (_, true) => Ok((None, format!("the DBF language driver 0x{ldid:02x}"))),
        _ => {
            // The records start after the header (its length: bytes 8–9, little-endian).
            let start = bytes
                .get(8..10)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as u64)
                .unwrap_or(0);
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(start))
                .map_err(|e| ReadError::io(&dbf, e))?;
            if is_utf8(file).map_err(|e| ReadError::io(&dbf, e))? {
                Ok((
                    Some(DynEncoding::from(shapefile::dbase::Unicode)),
                    "UTF-8 (no .cpg or language driver; the text is valid UTF-8)".into(),
                ))
            } else {
                Ok((
                    Some(latin1()),
                    "Latin-1 (no .cpg or known language driver; the text is not UTF-8)".into(),
                ))
            }
        }
    }
}

/// Whether everything `r` yields is UTF-8, read a block at a time (a
/// character split between two blocks is carried into the next).
fn is_utf8(mut r: impl std::io::Read) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 1 << 16];
    let mut carry = 0usize;
    loop {
        let n = r.read(&mut buf[carry..])?;
        if n == 0 {
            return Ok(carry == 0);
        }
        let filled = carry + n;
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => carry = 0,
            // An incomplete character at the end: keep its bytes for the next block.
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                buf.copy_within(valid..filled, 0);
                carry = filled - valid;
            }
            Err(_) => return Ok(false),
        }
    }
}

/// Read a shapefile (or a zip holding one), streaming features to `each`.
///
/// Without a `.prj` the file is refused, unless `assume_crs` is
/// `EPSG:4326` (the user's explicit word that it is WGS84 lon/lat).
pub fn read(
    path: &Path,
    assume_crs: Option<&str>,
    each: &mut dyn FnMut(RawFeature) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let zipped = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    let (shp, _guard) = if zipped {
        let (p, g) = unzip(path)?;
        (p, Some(g))
    } else {
        (path.to_path_buf(), None)
    };
    let prj = shp.with_extension("prj");
    match (std::fs::read_to_string(&prj), assume_crs) {
        (Ok(wkt), _) => {
            prj_is_wgs84(&wkt).map_err(|e| ReadError::invalid(path, format!(".prj: {e}")))?
        }
        (Err(_), Some(crs)) if is_wgs84_name(crs) => {}
        (Err(_), Some(crs)) => {
            return Err(ReadError::invalid(
                path,
                format!("--assume-crs {crs}: only EPSG:4326 (WGS84 lon/lat) can be assumed; reproject other data first, e.g. ogr2ogr -t_srs EPSG:4326"),
            ))
        }
        (Err(_), None) => {
            return Err(ReadError::invalid(
                path,
                "no .prj beside the .shp: the coordinate reference system is unknown. If you know the coordinates are WGS84 longitude/latitude, say so with --assume-crs EPSG:4326; otherwise reproject with ogr2ogr -t_srs EPSG:4326",
            ))
        }
    }
    let (encoding, _how) = dbf_encoding(path, &shp)?;
    let open_dbf = || -> Result<_, ReadError> {
        let f = std::fs::File::open(shp.with_extension("dbf"))
            .map_err(|e| ReadError::invalid(path, format!(".dbf: {e}")))?;
        let f = std::io::BufReader::new(f);
        match &encoding {
            Some(e) => shapefile::dbase::ReaderBuilder::new()
                .with_encoding(e.clone())
                .build(f),
            None => shapefile::dbase::Reader::new(f),
        }
        .map_err(|e| ReadError::invalid(path, format!(".dbf: {e}")))
    };
    let dbf_records = open_dbf()?.header().num_records as usize;
    let shapes = shapefile::ShapeReader::from_path(&shp)
        .map_err(|e| ReadError::invalid(path, format!("not a readable shapefile: {e}")))?;
    let mut reader = shapefile::Reader::new(shapes, open_dbf()?);
    if let Ok(n) = reader.shape_count() {
        if n != dbf_records {
            return Err(ReadError::invalid(
                path,
                format!("the .shp has {n} shapes but the .dbf has {dbf_records} records"),
            ));
        }
    }
    let mut n = 0usize;
    for item in reader.iter_shapes_and_records() {
        n += 1;
        let (shape, record) =
            item.map_err(|e| ReadError::invalid(path, format!("record {n}: {e}")))?;
        let mut props = Map::new();
        for (k, v) in record {
            props.insert(k, value(v));
        }
        each(RawFeature {
            index: n,
            id: None,
            geometry: geometry(shape),
            properties: props,
        })?;
    }
    if n != dbf_records {
        return Err(ReadError::invalid(
            path,
            format!("the .shp has {n} shapes but the .dbf has {dbf_records} records"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod utf8_tests {
    /// Yields one byte a read, so every multi-byte character is split between reads.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.split_first() {
                Some((b, rest)) if !buf.is_empty() => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn utf8_is_judged_across_split_reads() {
        let ok = "Lomé São Paulo København 東京".as_bytes();
        assert_eq!(super::is_utf8(Trickle(ok)).ok(), Some(true));
        assert_eq!(super::is_utf8(ok).ok(), Some(true));
        let latin1 = b"Lom\xe9 S\xe3o Paulo";
        assert_eq!(super::is_utf8(Trickle(latin1)).ok(), Some(false));
        // A character cut off by the end of the data is not UTF-8.
        assert_eq!(super::is_utf8(&ok[..4]).ok(), Some(false));
    }
}
