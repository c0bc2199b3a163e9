//! # nostrike-formats
//!
//! Streaming readers and writers of protected-site data. Every reader turns
//! a file into [`RawFeature`]s one at a time (never the whole file in
//! memory); [`Mapping`] turns each into a validated [`nostrike_core::Site`]
//! or a [`FeatureError`] that names the file, the feature or row, the id if
//! any, and the reason.
#![deny(missing_docs)]

pub mod cot;
pub mod csv;
pub mod geojson;
pub mod gpkg;
pub mod kml;
pub mod layout;
mod mapping;
pub mod osm;
pub mod shp;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use mapping::{namespaced, Mapping, MappingError, OWN_FIELDS};
pub use validate::{validate_geometry, InvalidGeometry};

/// A file format nostrike reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// GeoJSON FeatureCollection (RFC 7946).
    GeoJson,
    /// Newline-delimited GeoJSON: one Feature per line.
    GeoJsonSeq,
    /// CSV with lat/lon columns or a WKT column.
    Csv,
    /// OGC GeoPackage.
    Gpkg,
    /// KML (Google Earth).
    Kml,
    /// ESRI Shapefile, plain or zipped.
    Shp,
    /// OpenStreetMap PBF.
    Osm,
    /// Cursor on Target events (a `.cot` file, a TAK stream, or an ATAK data package).
    Cot,
}

impl Format {
    /// The format's name as the command line takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::GeoJson => "geojson",
            Format::GeoJsonSeq => "ndjson",
            Format::Csv => "csv",
            Format::Gpkg => "gpkg",
            Format::Kml => "kml",
            Format::Shp => "shp",
            Format::Osm => "osm",
            Format::Cot => "cot",
        }
    }

    /// Parse a format name (`geojson`, `ndjson`/`geojsonseq`, `csv`).
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "geojson" | "json" => Some(Format::GeoJson),
            "ndjson" | "geojsonl" | "geojsonseq" | "geojsons" => Some(Format::GeoJsonSeq),
            "csv" => Some(Format::Csv),
            "gpkg" | "geopackage" => Some(Format::Gpkg),
            "kml" | "kmz" => Some(Format::Kml),
            "shp" | "shapefile" => Some(Format::Shp),
            "osm" | "pbf" => Some(Format::Osm),
            "cot" => Some(Format::Cot),
            _ => None,
        }
    }

    /// Decide a file's format from its first bytes, then its extension.
    pub fn detect(path: &Path) -> Result<Format, ReadError> {
        use std::io::Read;
        let mut head = [0u8; 512];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|e| ReadError::io(path, e))?;
        let head = &head[..n];
        if head.starts_with(b"SQLite format 3\0") {
            return Ok(Format::Gpkg);
        }
        if head.starts_with(b"PK\x03\x04") {
            return zip_format(path);
        }
        // A shapefile's main file starts with the big-endian file code 9994.
        if head.starts_with(&[0x00, 0x00, 0x27, 0x0A]) {
            return Ok(Format::Shp);
        }
        // An OSM PBF starts with a 4-byte header length, then a BlobHeader whose type is "OSMHeader".
        if head.len() > 14 && head[4..].windows(9).any(|w| w == b"OSMHeader") {
            return Ok(Format::Osm);
        }
        let text = String::from_utf8_lossy(head);
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        let ext = extension(path);
        if let Some(what) = unsupported(&ext) {
            return Err(ReadError::invalid(path, what));
        }
        // A known extension decides.
        if let Some(f) = Format::from_name(&ext) {
            return Ok(f);
        }
        if trimmed.starts_with("<event")
            || (trimmed.starts_with("<?xml") && text.contains("<event"))
        {
            return Ok(Format::Cot);
        }
        if trimmed.starts_with("<?xml") || trimmed.starts_with("<kml") {
            return Ok(Format::Kml);
        }
        if trimmed.starts_with('{') {
            return Ok(json_kind(trimmed));
        }
        if ext == "csv" || ext == "tsv" || ext == "txt" {
            return Ok(Format::Csv);
        }
        Err(ReadError::Unrecognised {
            file: path.to_path_buf(),
        })
    }
}

impl Format {
    /// The format of a stream from its first bytes: GeoJSON (a document or
    /// a sequence) when it starts with `{`, else CSV. Only the formats
    /// [`read_features_from`] reads.
    pub fn detect_stream(head: &[u8]) -> Format {
        let text = String::from_utf8_lossy(head);
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        if trimmed.starts_with('{') {
            json_kind(trimmed)
        } else {
            Format::Csv
        }
    }
}

/// A FeatureCollection spans lines; a sequence has one Feature per line.
fn json_kind(trimmed: &str) -> Format {
    let first_line = trimmed.lines().next().unwrap_or("");
    if first_line.contains("\"Feature\"")
        && !first_line.contains("FeatureCollection")
        && first_line.trim_end().ends_with('}')
    {
        Format::GeoJsonSeq
    } else {
        Format::GeoJson
    }
}

/// The formats read, for messages.
pub const FORMATS_READ: &str = "GeoJSON, newline-delimited GeoJSON, CSV, GeoPackage, KML, KMZ, Shapefile (plain or zipped), OpenStreetMap PBF and Cursor on Target (.cot, ATAK data packages)";

/// A file's extension in lower case ("" for none).
fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// What a zip archive holds: a KML (a KMZ) or a shapefile; anything else is named as such.
fn zip_format(path: &Path) -> Result<Format, ReadError> {
    let file = std::fs::File::open(path).map_err(|e| ReadError::io(path, e))?;
    let zip = zip::ZipArchive::new(file)
        .map_err(|e| ReadError::invalid(path, format!("not a readable zip archive: {e}")))?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.to_ascii_lowercase())
        .collect();
    // An ATAK data package: a manifest, CoT events (perhaps a KML overlay beside them).
    if names.iter().any(|n| n.ends_with(".cot")) {
        return Ok(Format::Cot);
    }
    if names.iter().any(|n| n.ends_with(".kml")) {
        return Ok(Format::Kml);
    }
    if names.iter().any(|n| n.ends_with(".shp")) {
        return Ok(Format::Shp);
    }
    if let Some(what) = unsupported(&extension(path)) {
        return Err(ReadError::invalid(path, what));
    }
    Err(ReadError::invalid(
        path,
        format!("a zip archive holding neither a .kml (KMZ) nor a .shp: not a recognised format (nostrike reads {FORMATS_READ})"),
    ))
}

/// The character an XML general reference stands for: one of XML's five
/// predefined entities or a character reference; `None` for any other
/// entity (which the XML readers refuse: no entity is ever defined).
pub(crate) fn xml_reference_char(r: &quick_xml::events::BytesRef<'_>) -> Option<char> {
    let name: &str = r.as_ref();
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => r.resolve_char_ref().ok().flatten(),
    }
}

/// A message for file extensions of formats nostrike does not read.
fn unsupported(ext: &str) -> Option<String> {
    let what = match ext {
        "xlsx" | "xls" | "ods" => "a spreadsheet is not a format nostrike reads: save it as CSV",
        "gpx" => "GPX is not a format nostrike reads: convert it (ogr2ogr -f GeoJSON out.geojson in.gpx)",
        "gml" => "GML is not a format nostrike reads: convert it (ogr2ogr -f GeoJSON out.geojson in.gml)",
        "topojson" => "TopoJSON is not a format nostrike reads: convert it to GeoJSON",
        "fgb" => "FlatGeobuf is not a format nostrike reads: convert it (ogr2ogr -f GPKG out.gpkg in.fgb)",
        "mbtiles" | "pmtiles" => "tiles are not site data: export the features as GeoJSON or GeoPackage",
        "dbf" | "shx" | "prj" | "cpg" => "part of a shapefile: give the .shp (with its .dbf, .shx and .prj beside it) or a zip of them",
        _ => return None,
    };
    Some(format!("{what} (nostrike reads {FORMATS_READ})"))
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One feature or row as read from a file, before mapping and validation.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFeature {
    /// 1-based feature number (GeoJSON) or line number (CSV, counting the header as line 1).
    pub index: usize,
    /// The feature's own id (GeoJSON `id` member), if any.
    pub id: Option<String>,
    /// The geometry, or why it could not be read.
    pub geometry: Result<geo_types::Geometry<f64>, String>,
    /// The feature's properties.
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// A feature that cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureError {
    /// The file.
    pub file: PathBuf,
    /// What the index counts ("feature" or "line") and the 1-based number.
    pub unit: &'static str,
    /// 1-based feature or line number.
    pub index: usize,
    /// The feature's id, if known.
    pub id: Option<String>,
    /// Why it cannot be imported.
    pub reason: String,
}

impl fmt::Display for FeatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.file.display(), self.unit, self.index)?;
        if let Some(id) = &self.id {
            write!(f, " (id {id:?})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// An error that stops reading a file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{}: {cause}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause (named in the message, so not also a `source()`).
        cause: std::io::Error,
    },
    /// The file is not valid in its format (syntax, structure or CRS).
    #[error("{}: {reason}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong, with the line and column where known.
        reason: String,
    },
    /// The format could not be recognised.
    #[error("{}: not a recognised format (nostrike reads {FORMATS_READ}; give --format if it is one of them)", file.display())]
    Unrecognised {
        /// The file.
        file: PathBuf,
    },
}

/// An error writing a file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", file.display())]
pub struct WriteError {
    /// The file.
    pub file: PathBuf,
    /// What went wrong.
    pub reason: String,
}

impl ReadError {
    pub(crate) fn io(file: &Path, source: std::io::Error) -> ReadError {
        ReadError::Io {
            file: file.to_path_buf(),
            cause: source,
        }
    }
    pub(crate) fn invalid(file: &Path, reason: impl Into<String>) -> ReadError {
        ReadError::Invalid {
            file: file.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Read every feature of `path` in `format`, calling `each` for each one in file order.
///
/// Stops at the first [`ReadError`] (a file that is not valid in its format
/// as a whole); errors of single features are in the [`RawFeature`]s.
pub fn read_features(
    path: &Path,
    format: Format,
    options: &ReadOptions,
    each: &mut dyn FnMut(RawFeature) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    match format {
        Format::GeoJson => geojson::read_collection(path, each),
        Format::GeoJsonSeq => geojson::read_sequence(path, each),
        Format::Csv => csv::read(path, options, each),
        Format::Gpkg => gpkg::read(path, each),
        Format::Kml => kml::read(path, each),
        Format::Shp => shp::read(path, options.assume_crs.as_deref(), each),
        Format::Osm => osm::read(path, each),
        Format::Cot => cot::read(path, each),
    }
}

/// Read every feature from `input` in `format`, as [`read_features`]
/// reads a file: for standard input and other streams, without a
/// temporary file. `name` names the input in messages. Formats that need
/// a file (GeoPackage, KML/KMZ, shapefile, OSM PBF) are refused.
pub fn read_features_from(
    name: &Path,
    input: impl std::io::Read,
    format: Format,
    options: &ReadOptions,
    each: &mut dyn FnMut(RawFeature) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    match format {
        Format::GeoJson => geojson::read_document_from(name, input, each).map(|_| ()),
        Format::GeoJsonSeq => geojson::read_sequence_from(name, input, each),
        Format::Csv => csv::read_from(name, input, options, each),
        f => Err(ReadError::invalid(
            name,
            format!("{f} is read from a file only; give its path instead of a stream"),
        )),
    }
}

/// Whether a file is one of nostrike's own exports, to be read with
/// [`Mapping::nostrike_export`] (exact names; the sources' own properties
/// kept whatever they are called).
pub fn is_own_export(
    path: &Path,
    format: Format,
    options: &ReadOptions,
) -> Result<bool, ReadError> {
    Ok(match format {
        Format::GeoJson => geojson::head_members(path)?.contains_key("nostrike"),
        Format::Csv => csv::is_own_export(path, options)?,
        Format::Gpkg => gpkg::is_own_export(path),
        _ => false,
    })
}

/// Options for readers whose layout varies (CSV columns).
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// CSV latitude column (default: the first of `lat`, `latitude`, `y`).
    pub lat_column: Option<String>,
    /// CSV longitude column (default: the first of `lon`, `lng`, `long`, `longitude`, `x`).
    pub lon_column: Option<String>,
    /// CSV WKT geometry column (default: `wkt`, `geometry`, `geom`, `WKT`).
    pub wkt_column: Option<String>,
    /// CSV delimiter (default: detected from the header line: `,`, `;` or tab).
    pub delimiter: Option<u8>,
    /// Read CSV rows without geometry columns, each with a geometry error,
    /// for callers that take the place from another column (an `mgrs` column
    /// of a check's areas).
    pub geometry_optional: bool,
    /// The coordinate reference system to assume for a shapefile without a
    /// `.prj` (only `EPSG:4326` is accepted; without it such a file is refused).
    pub assume_crs: Option<String>,
}

/// The unit features are counted in for a format.
pub fn unit_of(format: Format) -> &'static str {
    match format {
        Format::Csv => "line",
        Format::Shp => "record",
        Format::Cot => "event",
        _ => "feature",
    }
}

/// Every coordinate of a geometry, in order (rings and parts concatenated).
pub fn coords(g: &geo_types::Geometry<f64>) -> Vec<geo_types::Coord<f64>> {
    use geo_types::Geometry as G;
    let poly = |p: &geo_types::Polygon<f64>| {
        p.exterior()
            .0
            .iter()
            .chain(p.interiors().iter().flat_map(|r| r.0.iter()))
            .copied()
            .collect::<Vec<_>>()
    };
    match g {
        G::Point(p) => vec![p.0],
        G::Line(l) => vec![l.start, l.end],
        G::LineString(l) => l.0.clone(),
        G::Polygon(p) => poly(p),
        G::MultiPoint(m) => m.0.iter().map(|p| p.0).collect(),
        G::MultiLineString(m) => m.0.iter().flat_map(|l| l.0.iter().copied()).collect(),
        G::MultiPolygon(m) => m.0.iter().flat_map(poly).collect(),
        G::GeometryCollection(c) => c.0.iter().flat_map(coords).collect(),
        G::Rect(r) => poly(&r.to_polygon()),
        G::Triangle(t) => poly(&t.to_polygon()),
    }
}
