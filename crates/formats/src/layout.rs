//! How exports lay out a site's fields: the source's own properties back at
//! the top level as they were imported (so QGIS shows the attribute table
//! the analyst imported), nostrike's fields beside them under their own
//! names — or `nostrike:NAME` where a source property already uses the name.
//!
//! Tabular formats (CSV, GeoPackage) share one header for every row, so
//! their columns are planned over all the sites exported: a property whose
//! values are all text is a plain column; any other (numbers in CSV, mixed
//! types, booleans, arrays, objects, an empty text that must not read as
//! "absent") is written as JSON text in a column named `NAME:json`, which
//! nostrike's readers parse back. An empty cell is an absent property.

use serde_json::{Map, Value};

use crate::mapping::{namespaced, OWN_FIELDS};
use nostrike_core::Site;

/// The suffix of a column holding JSON text.
pub const JSON_SUFFIX: &str = ":json";

/// How an extra property's column holds its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text, written as it is.
    Text,
    /// Integers (typed columns only).
    Integer,
    /// Floating-point numbers (typed columns only).
    Real,
    /// JSON text, in a `NAME:json` column.
    Json,
}

/// The columns of a tabular export.
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    /// nostrike's own fields and their column names, in [`OWN_FIELDS`] order.
    pub own: Vec<(&'static str, String)>,
    /// Extra properties: key, column name and kind, in first-seen order.
    pub extra: Vec<(String, String, Kind)>,
    /// Set when the properties cannot be columns (names that differ only in
    /// case, which SQLite's columns cannot tell apart): they are then written
    /// whole as JSON in one `extra` column, as earlier exports did.
    pub nested: bool,
}

/// A site's extra properties (the source's own), as an object.
pub fn extras(s: &Site) -> Map<String, Value> {
    match serde_json::from_str::<Value>(&s.properties) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

impl Columns {
    /// Plan the columns for `sites`; `typed` allows integer and real columns (GeoPackage).
    pub fn plan(sites: &[Site], typed: bool) -> Columns {
        let mut order: Vec<String> = Vec::new();
        let mut kinds: std::collections::HashMap<String, Kind> = Default::default();
        for s in sites {
            for (k, v) in extras(s) {
                let k_kind = match &v {
                    Value::String(t) if !t.is_empty() => Kind::Text,
                    Value::Number(n) if typed && n.is_i64() => Kind::Integer,
                    Value::Number(n) if typed && n.is_f64() => Kind::Real,
                    _ => Kind::Json,
                };
                match kinds.get(&k) {
                    None => {
                        order.push(k.clone());
                        kinds.insert(k, k_kind);
                    }
                    Some(prev) if *prev != k_kind => {
                        kinds.insert(k, Kind::Json);
                    }
                    Some(_) => {}
                }
            }
        }
        let own: Vec<(&'static str, String)> = OWN_FIELDS
            .iter()
            .map(|f| {
                let name = if kinds.contains_key(*f) {
                    namespaced(f)
                } else {
                    f.to_string()
                };
                (*f, name)
            })
            .collect();
        let extra: Vec<(String, String, Kind)> = order
            .into_iter()
            .map(|k| {
                let kind = kinds[&k];
                let col = if kind == Kind::Json {
                    format!("{k}{JSON_SUFFIX}")
                } else {
                    k.clone()
                };
                (k, col, kind)
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        let clash = own
            .iter()
            .map(|(_, c)| c.as_str())
            .chain(extra.iter().map(|(_, c, _)| c.as_str()))
            .chain(["wkt", "geom", "fid", "extra"])
            .any(|c| !seen.insert(c.to_ascii_lowercase()));
        // A property that ends in ":json" itself, or a clash, cannot be told apart as a column.
        let odd = extra
            .iter()
            .any(|(k, _, _)| k.ends_with(JSON_SUFFIX) || k.starts_with("nostrike:"));
        if clash || odd {
            return Columns {
                own: OWN_FIELDS.iter().map(|f| (*f, f.to_string())).collect(),
                extra: Vec::new(),
                nested: true,
            };
        }
        Columns {
            own,
            extra,
            nested: false,
        }
    }
}

/// A value read from a column named `col`: a `NAME:json` column's text
/// parsed back, under `NAME`. `None` for an empty cell (an absent property).
pub fn read_column(col: &str, text: &str) -> Option<(String, Value)> {
    if text.is_empty() {
        return None;
    }
    match col.strip_suffix(JSON_SUFFIX) {
        Some(key) => Some((
            key.to_string(),
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())),
        )),
        None => Some((col.to_string(), Value::String(text.to_string()))),
    }
}

/// A site's external ids as `key=id` pairs joined by `;` (empty when none),
/// as CSV and GeoPackage exports write them and imports read them back.
pub fn external_ids_text(s: &nostrike_core::Site) -> String {
    s.external_ids
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}
