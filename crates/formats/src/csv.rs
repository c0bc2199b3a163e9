//! CSV: a streaming reader (latitude/longitude columns or a WKT column) and
//! a writer with one WKT column.
//!
//! # Spreadsheet formula injection
//!
//! A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage
//! return is run as a formula by spreadsheet programs. The writer prefixes
//! such cells — and cells that already begin with `'` — with one `'`, which
//! spreadsheets show as plain text; the reader removes exactly one leading
//! `'` from a cell that begins with `'` followed by one of those characters,
//! so a file written here reads back unchanged. Numeric columns and the WKT
//! column are never prefixed.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use geo_types::{Geometry, Point};
use serde_json::{Map, Value};

use crate::layout::{read_column, Columns, Kind};
use crate::{RawFeature, ReadError, ReadOptions};

const LAT: &[&str] = &["lat", "latitude", "y", "LAT", "Latitude", "Y"];
const LON: &[&str] = &[
    "lon",
    "lng",
    "long",
    "longitude",
    "x",
    "LON",
    "Longitude",
    "X",
];
const WKT: &[&str] = &["wkt", "WKT", "geometry", "geom", "the_geom"];

/// The column named `wanted`, or the first of `defaults`: spelled exactly, else in any case (`LAT`, `Long`).
fn find(headers: &csv::StringRecord, wanted: Option<&String>, defaults: &[&str]) -> Option<usize> {
    let names: Vec<&str> = match wanted {
        Some(w) => vec![w.as_str()],
        None => defaults.to_vec(),
    };
    names
        .iter()
        .find_map(|d| headers.iter().position(|h| h == *d))
        .or_else(|| {
            names
                .iter()
                .find_map(|d| headers.iter().position(|h| h.eq_ignore_ascii_case(d)))
        })
}

/// The delimiter of a CSV file: the one given, else `;` when the header
/// line has more semicolons than commas (spreadsheets in many locales), a
/// tab for a `.tsv` or a header with tabs and no commas, else `,`.
fn delimiter(path: &Path, given: Option<u8>) -> Result<u8, ReadError> {
    if let Some(d) = given {
        return Ok(d);
    }
    let file = std::fs::File::open(path).map_err(|e| ReadError::io(path, e))?;
    let mut first = Vec::new();
    std::io::BufRead::read_until(
        &mut std::io::BufReader::new(std::io::Read::take(file, 1 << 16)),
        b'\n',
        &mut first,
    )
    .map_err(|e| ReadError::io(path, e))?;
    Ok(sniff(path, &first))
}

/// The delimiter a header line suggests (see [`delimiter`]).
fn sniff(path: &Path, first: &[u8]) -> u8 {
    let count = |c: u8| first.iter().filter(|b| **b == c).count();
    let (commas, semis, tabs) = (count(b','), count(b';'), count(b'\t'));
    let tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    if semis > commas && semis >= tabs {
        b';'
    } else if (tsv || tabs > 0) && commas == 0 && tabs > semis {
        b'\t'
    } else {
        b','
    }
}

const RISKY: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// Remove the guard quote the writer adds (see the module docs).
pub fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(RISKY) || rest.starts_with('\'') => rest,
        _ => cell,
    }
}

/// Prefix a text cell that a spreadsheet would run as a formula (see the module docs).
pub fn guard(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(RISKY) || cell.starts_with('\'') {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// Whether a header is nostrike's own export's: every one of its fields,
/// under its name or `nostrike:NAME`, and a `wkt` column.
pub fn is_own_header(headers: &csv::StringRecord) -> bool {
    crate::mapping::OWN_FIELDS.iter().all(|f| {
        headers
            .iter()
            .any(|h| h == *f || h == crate::mapping::namespaced(f))
    }) && headers.iter().any(|h| h == "wkt")
}

/// Whether a CSV file is nostrike's own export (its header).
pub fn is_own_export(path: &Path, options: &ReadOptions) -> Result<bool, ReadError> {
    let delimiter = delimiter(path, options.delimiter)?;
    let file = std::fs::File::open(path).map_err(|e| ReadError::io(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_reader(std::io::BufReader::new(file));
    Ok(rdr.headers().map(is_own_header).unwrap_or(false))
}

/// Read a CSV file with a header row, streaming rows to `each`.
pub fn read(
    path: &Path,
    options: &ReadOptions,
    each: &mut dyn FnMut(RawFeature) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let delimiter = delimiter(path, options.delimiter)?;
    let file = std::fs::File::open(path).map_err(|e| ReadError::io(path, e))?;
    read_rows(path, file, delimiter, options, each)
}

/// [`read`] over any reader; `path` names it in messages.
pub fn read_from(
    path: &Path,
    input: impl std::io::Read,
    options: &ReadOptions,
    each: &mut dyn FnMut(RawFeature) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut input = std::io::BufReader::with_capacity(1 << 20, input);
    let delimiter = match options.delimiter {
        Some(d) => d,
        None => {
            let head =
                std::io::BufRead::fill_buf(&mut input).map_err(|e| ReadError::io(path, e))?;
            let line = head.split(|b| *b == b'\n').next().unwrap_or(&[]);
            sniff(path, line)
        }
    };
    read_rows(path, input, delimiter, options, each)
}

fn read_rows(
    path: &Path,
    input: impl std::io::Read,
    delimiter: u8,
    options: &ReadOptions,
    each: &mut dyn FnMut(RawFeature) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, input));
    let headers = rdr
        .headers()
        .map_err(|e| ReadError::invalid(path, format!("header: {e}")))?
        .clone();
    let headers: csv::StringRecord = headers
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim())
        .collect();
    let own_export = is_own_header(&headers);
    let wkt = find(&headers, options.wkt_column.as_ref(), WKT);
    let lat = find(&headers, options.lat_column.as_ref(), LAT);
    let lon = find(&headers, options.lon_column.as_ref(), LON);
    let no_geometry = wkt.is_none() && (lat.is_none() || lon.is_none());
    if no_geometry && !options.geometry_optional {
        return Err(ReadError::invalid(
            path,
            format!(
                "no geometry columns: need a WKT column ({}) or latitude and longitude columns ({} / {}); found {}",
                WKT.join(", "),
                LAT.join(", "),
                LON.join(", "),
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(ReadError::invalid(path, e.to_string())),
        }
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let geometry = match (wkt, lat, lon) {
            (Some(i), _, _) => parse_wkt(&record[i]),
            (None, Some(a), Some(o)) => parse_latlon(&record[a], &record[o]),
            _ => Err("no geometry columns (latitude and longitude, or WKT)".to_string()),
        };
        let mut properties = Map::new();
        for (i, (h, v)) in headers.iter().zip(record.iter()).enumerate() {
            if Some(i) == wkt || (wkt.is_none() && (Some(i) == lat || Some(i) == lon)) {
                continue;
            }
            let v = unguard(v);
            if own_export && h != "extra" && h != "designations" {
                // nostrike's own export: an empty cell is an absent property, `NAME:json` is JSON.
                if let Some((k, value)) = read_column(h, v) {
                    properties.insert(k, value);
                }
                continue;
            }
            let value = if h == "extra" || h == "designations" {
                serde_json::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.to_string()))
            } else {
                Value::String(v.to_string())
            };
            properties.insert(h.to_string(), value);
        }
        each(RawFeature {
            index: line,
            id: None,
            geometry,
            properties,
        })?;
    }
    Ok(())
}

fn parse_latlon(lat: &str, lon: &str) -> Result<Geometry<f64>, String> {
    let num = |s: &str, what: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|_| format!("{what} {s:?} is not a number"))
    };
    let (lat, lon) = (num(lat, "latitude")?, num(lon, "longitude")?);
    Ok(Point::new(lon, lat).into())
}

fn parse_wkt(text: &str) -> Result<Geometry<f64>, String> {
    let w =
        wkt::Wkt::<f64>::from_str(text.trim()).map_err(|e| format!("WKT {}: {e}", short(text)))?;
    Geometry::try_from(w).map_err(|e| format!("WKT {}: {e}", short(text)))
}

fn short(s: &str) -> String {
    let t: String = s.chars().take(40).collect();
    if t.len() < s.len() {
        format!("{t:?}…")
    } else {
        format!("{t:?}")
    }
}

/// Writes sites as CSV rows with a WKT geometry column: nostrike's fields,
/// then the sources' own properties as columns (see [`crate::layout`]).
pub struct Writer<W: Write> {
    out: csv::Writer<W>,
    columns: Columns,
}

impl<W: Write> Writer<W> {
    /// Start a file for `sites` and write the header.
    pub fn new(out: W, sites: &[nostrike_core::Site]) -> csv::Result<Writer<W>> {
        let columns = Columns::plan(sites, false);
        let mut out = csv::Writer::from_writer(out);
        let mut header: Vec<&str> = columns.own.iter().map(|(_, c)| c.as_str()).collect();
        if columns.nested {
            header.push("extra");
        }
        header.extend(columns.extra.iter().map(|(_, c, _)| c.as_str()));
        header.push("wkt");
        out.write_record(&header)?;
        Ok(Writer { out, columns })
    }

    /// Write one site.
    pub fn site(&mut self, s: &nostrike_core::Site) -> csv::Result<()> {
        use wkt::ToWkt;
        let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
        let t = |x: Option<i64>| x.map(nostrike_core::time::format_utc).unwrap_or_default();
        let designations = Value::Array(
            s.designations
                .iter()
                .map(|d| Value::String(d.clone()))
                .collect(),
        )
        .to_string();
        let mut row: Vec<std::borrow::Cow<'_, str>> = vec![
            guard(&s.source),
            guard(&s.id),
            guard(&s.name),
            s.category.as_str().into(),
            s.protection.as_str().into(),
            designations.into(),
            opt(s.standoff_m).into(),
            s.positional_accuracy_m.to_string().into(),
            t(s.valid_from).into(),
            t(s.valid_to).into(),
            guard(s.last_verified.as_deref().unwrap_or("")),
            guard(s.marking.classification.as_deref().unwrap_or("")),
            guard(&s.marking.releasable_to.join(","))
                .into_owned()
                .into(),
            guard(&crate::layout::external_ids_text(s))
                .into_owned()
                .into(),
            guard(s.inscribed.as_deref().unwrap_or("")),
        ];
        if self.columns.nested {
            row.push(guard(&s.properties));
        }
        let extras = crate::layout::extras(s);
        for (key, _, kind) in &self.columns.extra {
            let cell = match (extras.get(key), kind) {
                (None, _) => String::new(),
                (Some(Value::String(t)), Kind::Text) => guard(t).into_owned(),
                (Some(v), _) => guard(&v.to_string()).into_owned(),
            };
            row.push(cell.into());
        }
        row.push(s.geometry.wkt_string().into());
        self.out.write_record(row.iter().map(|c| c.as_ref()))
    }

    /// Flush and return the output.
    pub fn finish(self) -> std::io::Result<W> {
        self.out
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_round_trips() {
        for s in [
            "=1+1",
            "+x",
            "-3",
            "@SUM(A1)",
            "'quoted",
            "''",
            "plain",
            "",
            "\tx",
            "'=already",
        ] {
            assert_eq!(unguard(&guard(s)), s, "{s:?}");
        }
        assert_eq!(guard("=HYPERLINK()"), "'=HYPERLINK()");
        assert_eq!(guard("Louvre"), "Louvre");
    }
}
