//! From raw features to validated sites: which property holds which field,
//! and how source category values map onto nostrike's categories.

use std::collections::BTreeMap;
use std::path::Path;

use nostrike_core::{time, Category, Marking, Protection, Site};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::validate::validate_geometry;
use crate::{FeatureError, RawFeature};

/// An error in a mapping file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    /// Not valid TOML or an unknown key.
    #[error("mapping: {0}")]
    Syntax(String),
    /// A `[categories]` value names no category.
    #[error("mapping: [categories] {from:?} = {to:?}: {reason}")]
    Category {
        /// The source value.
        from: String,
        /// The category named.
        to: String,
        /// Why it is refused.
        reason: String,
    },
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Which property holds each site field (the first present name wins), and
/// how source category values map to categories.
///
/// Read from TOML, e.g.
/// ```toml
/// name = ["NAME_EN", "name"]
/// category = ["kind"]
/// [categories]
/// church = "religious_site"
/// hospital = "medical"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    /// Id properties, tried before the feature's own id.
    pub id: Vec<String>,
    /// Source-name properties (used when no source is given on import).
    pub source: Vec<String>,
    /// Name properties.
    pub name: Vec<String>,
    /// Category properties.
    pub category: Vec<String>,
    /// Protection-level properties.
    pub protection: Vec<String>,
    /// Designation properties (array of strings, or one comma-separated string).
    pub designations: Vec<String>,
    /// Explicit standoff properties (metres).
    pub standoff_m: Vec<String>,
    /// Positional accuracy properties (metres).
    pub positional_accuracy_m: Vec<String>,
    /// Start-of-validity properties (ISO 8601).
    pub valid_from: Vec<String>,
    /// End-of-validity properties (ISO 8601).
    pub valid_to: Vec<String>,
    /// Last-verified properties (ISO 8601 date).
    pub last_verified: Vec<String>,
    /// Classification properties (free text, e.g. `NATO UNCLASSIFIED`).
    pub classification: Vec<String>,
    /// Releasability properties (array of countries and groups, or one string separated by `,` `;` or spaces).
    pub releasable_to: Vec<String>,
    /// External-id properties holding an object (`{"wikidata": "Q90"}`) or `key=value` pairs separated by `;`.
    pub external_ids: Vec<String>,
    /// External ids read from columns: register key → property (e.g. `unesco_whc = "id_no"`).
    pub external_id_columns: BTreeMap<String, String>,
    /// Inscription-date properties (ISO 8601 date the protection was granted).
    pub inscribed: Vec<String>,
    /// Category used when no category property is present (none: such a feature is invalid).
    pub default_category: Option<String>,
    /// Make ids `<source>:<feature number>` for features without one (off: such a feature is invalid).
    pub generate_ids: bool,
    /// Source value → category name.
    pub categories: BTreeMap<String, String>,
    /// CSV latitude column (the command line's `--lat-column` wins).
    pub lat_column: Option<String>,
    /// CSV longitude column (the command line's `--lon-column` wins).
    pub lon_column: Option<String>,
    /// CSV WKT column (the command line's `--wkt-column` wins).
    pub wkt_column: Option<String>,
    /// Names are exact (no other spelling or case is tried) and the first
    /// one present decides, even when empty: how nostrike reads its own exports.
    #[serde(skip)]
    pub exact: bool,
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            id: names(&["id", "ID", "site_id"]),
            source: names(&["source"]),
            name: names(&["name", "NAME", "Name"]),
            category: names(&["category", "type", "CATEGORY"]),
            protection: names(&["protection"]),
            designations: names(&["designations"]),
            standoff_m: names(&["standoff_m"]),
            positional_accuracy_m: names(&["positional_accuracy_m", "accuracy_m"]),
            valid_from: names(&["valid_from"]),
            valid_to: names(&["valid_to"]),
            last_verified: names(&["last_verified"]),
            classification: names(&["classification"]),
            releasable_to: names(&["releasable_to", "rel_to"]),
            external_ids: names(&["external_ids"]),
            external_id_columns: BTreeMap::new(),
            inscribed: names(&["inscribed", "inscription_date"]),
            default_category: None,
            generate_ids: false,
            categories: BTreeMap::new(),
            lat_column: None,
            lon_column: None,
            wkt_column: None,
            exact: false,
        }
    }
}

/// nostrike's own fields, as its exports name them.
pub const OWN_FIELDS: &[&str] = &[
    "source",
    "id",
    "name",
    "category",
    "protection",
    "designations",
    "standoff_m",
    "positional_accuracy_m",
    "valid_from",
    "valid_to",
    "last_verified",
    "classification",
    "releasable_to",
    "external_ids",
    "inscribed",
];

/// The name an export gives one of nostrike's own fields when the site's
/// source properties already use the plain name (`nostrike:name`).
pub fn namespaced(field: &str) -> String {
    format!("nostrike:{field}")
}

impl Mapping {
    /// The mapping of nostrike's own exports: each field under its own name,
    /// or `nostrike:NAME` where a source property took the plain name; every
    /// other property is the source's, kept as it came.
    pub fn nostrike_export() -> Mapping {
        let both = |f: &str| vec![namespaced(f), f.to_string()];
        Mapping {
            id: both("id"),
            source: both("source"),
            name: both("name"),
            category: both("category"),
            protection: both("protection"),
            designations: both("designations"),
            standoff_m: both("standoff_m"),
            positional_accuracy_m: both("positional_accuracy_m"),
            valid_from: both("valid_from"),
            valid_to: both("valid_to"),
            last_verified: both("last_verified"),
            classification: both("classification"),
            releasable_to: both("releasable_to"),
            external_ids: both("external_ids"),
            external_id_columns: BTreeMap::new(),
            inscribed: both("inscribed"),
            default_category: None,
            generate_ids: false,
            categories: BTreeMap::new(),
            lat_column: None,
            lon_column: None,
            wkt_column: None,
            exact: true,
        }
    }

    /// The property names tried for `field`.
    fn list(&self, field: Field) -> &[String] {
        match field {
            Field::Id => &self.id,
            Field::Source => &self.source,
            Field::Name => &self.name,
            Field::Category => &self.category,
            Field::Protection => &self.protection,
            Field::Designations => &self.designations,
            Field::StandoffM => &self.standoff_m,
            Field::PositionalAccuracyM => &self.positional_accuracy_m,
            Field::ValidFrom => &self.valid_from,
            Field::ValidTo => &self.valid_to,
            Field::LastVerified => &self.last_verified,
            Field::Classification => &self.classification,
            Field::ReleasableTo => &self.releasable_to,
            Field::ExternalIds => &self.external_ids,
            Field::Inscribed => &self.inscribed,
        }
    }

    /// The fields (bits of [`Field::bit`]) that one of `props`' names is
    /// named for, case aside: a superset of those [`Mapping::take`] could
    /// find anything for, told in one pass over the names instead of each
    /// field's names looked up exactly and then compared with every
    /// property's in every case.
    fn named(&self, props: &Map<String, Value>) -> u32 {
        let mut named = 0;
        for key in props.keys() {
            for field in Field::ALL {
                if named & field.bit() == 0
                    && self.list(field).iter().any(|n| n.eq_ignore_ascii_case(key))
                {
                    named |= field.bit();
                }
            }
        }
        named
    }

    /// [`Mapping::take`] of `field`'s names, when [`Mapping::named`] says a property may hold it.
    fn take_field(
        &self,
        props: &mut Map<String, Value>,
        named: u32,
        field: Field,
    ) -> Option<(String, Value)> {
        if named & field.bit() == 0 {
            return None;
        }
        self.take(props, self.list(field))
    }

    fn take(&self, props: &mut Map<String, Value>, keys: &[String]) -> Option<(String, Value)> {
        if !self.exact {
            return take(props, keys);
        }
        for k in keys {
            if let Some(v) = props.remove(k) {
                if v.is_null() || v == Value::String(String::new()) {
                    return None;
                }
                return Some((k.clone(), v));
            }
        }
        None
    }
}

/// The site fields a mapping names properties for, each a bit of
/// [`Mapping::named`]'s answer.
#[derive(Debug, Clone, Copy)]
enum Field {
    Id,
    Source,
    Name,
    Category,
    Protection,
    Designations,
    StandoffM,
    PositionalAccuracyM,
    ValidFrom,
    ValidTo,
    LastVerified,
    Classification,
    ReleasableTo,
    ExternalIds,
    Inscribed,
}

impl Field {
    const ALL: [Field; 15] = [
        Field::Id,
        Field::Source,
        Field::Name,
        Field::Category,
        Field::Protection,
        Field::Designations,
        Field::StandoffM,
        Field::PositionalAccuracyM,
        Field::ValidFrom,
        Field::ValidTo,
        Field::LastVerified,
        Field::Classification,
        Field::ReleasableTo,
        Field::ExternalIds,
        Field::Inscribed,
    ];

    fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// The first of `keys` present with a value, taken out of `props`; a key
/// spelled exactly wins, then one that differs only in case (`NAME`, `Category`).
fn take(props: &mut Map<String, Value>, keys: &[String]) -> Option<(String, Value)> {
    for k in keys {
        if let Some(v) = props.remove(k) {
            if !v.is_null() && v != Value::String(String::new()) {
                return Some((k.clone(), v));
            }
        }
    }
    for k in keys {
        let found = props.keys().find(|p| p.eq_ignore_ascii_case(k)).cloned();
        if let Some(p) = found {
            if let Some(v) = props.remove(&p) {
                if !v.is_null() && v != Value::String(String::new()) {
                    return Some((p, v));
                }
            }
        }
    }
    None
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn metres(field: &str, v: Option<(String, Value)>) -> Result<Option<f64>, String> {
    let Some((key, v)) = v else { return Ok(None) };
    let x = match &v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match x {
        Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
        Some(x) => Err(format!(
            "{field} ({key}) = {x} must be a non-negative number of metres"
        )),
        None => Err(format!("{field} ({key}) = {v} is not a number")),
    }
}

fn when(field: &str, v: Option<(String, Value)>) -> Result<Option<i64>, String> {
    match v {
        None => Ok(None),
        Some((key, v)) => time::parse_utc(&text(&v))
            .map(Some)
            .map_err(|e| format!("{field} ({key}): {e}")),
    }
}

impl Mapping {
    /// Parse a mapping from TOML text; unspecified fields keep their defaults.
    pub fn from_toml_str(text: &str) -> Result<Mapping, MappingError> {
        let m: Mapping = toml::from_str(text).map_err(|e| MappingError::Syntax(e.to_string()))?;
        for (from, to) in &m.categories {
            to.parse::<Category>().map_err(|e| MappingError::Category {
                from: from.clone(),
                to: to.clone(),
                reason: e.to_string(),
            })?;
        }
        if let Some(d) = &m.default_category {
            d.parse::<Category>().map_err(|e| MappingError::Category {
                from: "default_category".into(),
                to: d.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(m)
    }

    fn category(&self, value: &str) -> Result<Category, String> {
        if let Ok(c) = value.parse::<Category>() {
            return Ok(c);
        }
        if let Some(to) = self.categories.get(value) {
            return to.parse::<Category>().map_err(|e| e.to_string());
        }
        // Then without regard to case or surrounding spaces (`Medical`, `Church`).
        let folded = value.trim().to_ascii_lowercase();
        if let Ok(c) = folded.parse::<Category>() {
            return Ok(c);
        }
        if let Some((_, to)) = self
            .categories
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(&folded))
        {
            return to.parse::<Category>().map_err(|e| e.to_string());
        }
        value
            .parse::<Category>()
            .map_err(|e| format!("{e} (or map it in a --map file's [categories])"))
    }

    /// Map and validate one raw feature into a site of `source` (or of the
    /// feature's own source property when `source` is `None`).
    pub fn to_site(
        &self,
        raw: RawFeature,
        source: Option<&str>,
        file: &Path,
        unit: &'static str,
    ) -> Result<Site, FeatureError> {
        // The fields some property can fill; the others are not looked up.
        let named = self.named(&raw.properties);
        self.to_site_looking_up(raw, source, file, unit, named)
    }

    /// [`Mapping::to_site`], looking up only the fields of `named`.
    fn to_site_looking_up(
        &self,
        raw: RawFeature,
        source: Option<&str>,
        file: &Path,
        unit: &'static str,
        named: u32,
    ) -> Result<Site, FeatureError> {
        let mut props = raw.properties;
        // External ids from their columns first: a column may also be the site's id.
        let mut external_ids: BTreeMap<String, String> = BTreeMap::new();
        for (register, column) in &self.external_id_columns {
            if let Some(v) = props.get(column).filter(|v| !v.is_null()) {
                let id = text(v).trim().to_string();
                if !id.is_empty() {
                    external_ids.insert(register.clone(), id);
                }
            }
        }
        let prop_id = self
            .take_field(&mut props, named, Field::Id)
            .map(|(_, v)| text(&v));
        // An id property named by the mapping wins over the feature's own id
        // (exports put `SOURCE/ID` in the feature id and the bare id in `id`).
        let id = prop_id.or(raw.id);
        let err = |reason: String, id: &Option<String>| FeatureError {
            file: file.to_path_buf(),
            unit,
            index: raw.index,
            id: id.clone(),
            reason,
        };
        let geometry = raw.geometry.map_err(|r| err(r, &id))?;
        validate_geometry(&geometry).map_err(|r| err(r.0, &id))?;
        let feature_source = self
            .take_field(&mut props, named, Field::Source)
            .map(|(_, v)| text(&v));
        let source = match (source, feature_source) {
            (Some(s), _) => s.to_string(),
            (None, Some(s)) => s,
            (None, None) => {
                return Err(err(
                    "no source: give --source or a `source` property".into(),
                    &id,
                ))
            }
        };
        let id = match id {
            Some(id) if !id.trim().is_empty() => id,
            _ if self.generate_ids => format!("{source}:{}", raw.index),
            _ => return Err(err("missing id (give ids in the data, or request generated ids with generate_ids = true in a --map file)".into(), &None)),
        };
        let some_id = Some(id.clone());
        let category = match self.take_field(&mut props, named, Field::Category) {
            Some((_, v)) => self.category(&text(&v)).map_err(|r| err(r, &some_id))?,
            None => match &self.default_category {
                Some(d) => self.category(d).map_err(|r| err(r, &some_id))?,
                None => {
                    return Err(err(
                        format!("no category (looked for {})", self.category.join(", ")),
                        &some_id,
                    ))
                }
            },
        };
        let protection = match self.take_field(&mut props, named, Field::Protection) {
            Some((_, v)) => text(&v)
                .parse::<Protection>()
                .map_err(|e| err(e.to_string(), &some_id))?,
            None => Protection::General,
        };
        let designations = match self.take_field(&mut props, named, Field::Designations) {
            None => vec![],
            Some((_, Value::Array(a))) => a.iter().map(text).collect(),
            // A JSON array written as text (our CSV and GeoPackage exports).
            Some((_, Value::String(s))) if s.trim_start().starts_with('[') => {
                match serde_json::from_str::<Vec<Value>>(&s) {
                    Ok(a) => a.iter().map(text).collect(),
                    Err(e) => return Err(err(format!("designations {s:?}: {e}"), &some_id)),
                }
            }
            Some((_, v)) => text(&v)
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        };
        let name = self
            .take_field(&mut props, named, Field::Name)
            .map(|(_, v)| text(&v))
            .unwrap_or_default();
        let standoff_m = metres(
            "standoff_m",
            self.take_field(&mut props, named, Field::StandoffM),
        )
        .map_err(|r| err(r, &some_id))?;
        let positional_accuracy_m = metres(
            "positional_accuracy_m",
            self.take_field(&mut props, named, Field::PositionalAccuracyM),
        )
        .map_err(|r| err(r, &some_id))?
        .unwrap_or(0.0);
        let valid_from = when(
            "valid_from",
            self.take_field(&mut props, named, Field::ValidFrom),
        )
        .map_err(|r| err(r, &some_id))?;
        let valid_to = when(
            "valid_to",
            self.take_field(&mut props, named, Field::ValidTo),
        )
        .map_err(|r| err(r, &some_id))?;
        if let (Some(f), Some(t)) = (valid_from, valid_to) {
            if t <= f {
                return Err(err("valid_to is not after valid_from".into(), &some_id));
            }
        }
        let last_verified = self
            .take_field(&mut props, named, Field::LastVerified)
            .map(|(_, v)| text(&v));
        let classification = self
            .take_field(&mut props, named, Field::Classification)
            .map(|(_, v)| text(&v).trim().to_string())
            .filter(|c| !c.is_empty());
        let releasable_to = match self.take_field(&mut props, named, Field::ReleasableTo) {
            None => Vec::new(),
            Some((_, Value::Array(a))) => Marking::normalise(a.iter().map(text)),
            // A JSON array written as text (CSV and GeoPackage exports).
            Some((key, Value::String(s))) if s.trim_start().starts_with('[') => {
                match serde_json::from_str::<Vec<Value>>(&s) {
                    Ok(a) => Marking::normalise(a.iter().map(text)),
                    Err(e) => return Err(err(format!("{key} {s:?}: {e}"), &some_id)),
                }
            }
            Some((_, v)) => Marking::normalise(
                text(&v).split(|c: char| c == ',' || c == ';' || c.is_whitespace()),
            ),
        };
        match self.take_field(&mut props, named, Field::ExternalIds) {
            None => {}
            Some((key, v)) => {
                let v = match v {
                    Value::String(s) if s.trim_start().starts_with('{') => serde_json::from_str(&s)
                        .map_err(|e| err(format!("{key} {s:?}: {e}"), &some_id))?,
                    v => v,
                };
                match v {
                    Value::Object(m) => {
                        for (k, v) in m {
                            external_ids.insert(k, text(&v));
                        }
                    }
                    v => {
                        for pair in text(&v).split(';').filter(|p| !p.trim().is_empty()) {
                            let (k, id) = pair.split_once('=').ok_or_else(|| {
                                err(
                                    format!("{key}: {pair:?} is not KEY=ID (e.g. wikidata=Q90)"),
                                    &some_id,
                                )
                            })?;
                            external_ids.insert(k.trim().to_string(), id.trim().to_string());
                        }
                    }
                }
            }
        }
        for column in self.external_id_columns.values() {
            props.remove(column);
        }
        if let Some((k, _)) = external_ids
            .iter()
            .find(|(k, v)| k.trim().is_empty() || v.is_empty())
        {
            return Err(err(
                format!("external id {k:?} has an empty register name or id"),
                &some_id,
            ));
        }
        let inscribed = self
            .take_field(&mut props, named, Field::Inscribed)
            .map(|(_, v)| text(&v).trim().to_string());
        if let Some(d) = &inscribed {
            time::parse_utc(d).map_err(|e| err(format!("inscribed: {e}"), &some_id))?;
        }
        // Our own exports nest the extra properties under "extra"; flatten them back.
        // (CSV and GeoPackage carry them as JSON text.)
        if let Some(Value::String(t)) = props.get("extra") {
            if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(t) {
                props.insert("extra".into(), v);
            }
        }
        if let Some(Value::Object(extra)) = props.get("extra").cloned() {
            props.remove("extra");
            for (k, v) in extra {
                props.entry(k).or_insert(v);
            }
        }
        let mut site = Site::new(id, source, category, geometry);
        site.name = name;
        site.protection = protection;
        site.designations = designations;
        site.standoff_m = standoff_m;
        site.positional_accuracy_m = positional_accuracy_m;
        site.valid_from = valid_from;
        site.valid_to = valid_to;
        site.last_verified = last_verified;
        site.marking = Marking {
            classification,
            releasable_to,
        };
        site.external_ids = external_ids;
        site.inscribed = inscribed;
        site.properties = Value::Object(props).to_string();
        Ok(site)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the same feature mapped with every field looked up, as
    /// every feature was before [`Mapping::named`] skipped some. Property
    /// names in several cases and spellings, values null, empty, valid and
    /// not, through the default mapping, nostrike's own exports' (exact)
    /// and a custom one.
    #[test]
    fn skipping_unnamed_fields_maps_every_feature_as_looking_all_up() {
        let names = [
            "id",
            "ID",
            "Id",
            "site_id",
            "SITE_ID",
            "source",
            "SOURCE",
            "name",
            "NAME",
            "nAmE",
            "category",
            "Category",
            "type",
            "TYPE",
            "kind",
            "protection",
            "designations",
            "standoff_m",
            "STANDOFF_M",
            "accuracy_m",
            "positional_accuracy_m",
            "valid_from",
            "valid_to",
            "last_verified",
            "classification",
            "releasable_to",
            "rel_to",
            "external_ids",
            "inscribed",
            "inscription_date",
            "other",
            "Other",
            "wd",
        ];
        let values = [
            Value::Null,
            Value::String(String::new()),
            "museum".into(),
            "hospital".into(),
            "enhanced".into(),
            "3.5".into(),
            serde_json::json!(7),
            serde_json::json!(-1),
            "2020-01-01".into(),
            "2030-01-01T00:00:00Z".into(),
            serde_json::json!(["US", "GB"]),
            "US,GB".into(),
            "wikidata=Q90".into(),
            serde_json::json!({"wikidata": "Q1"}),
            "x".into(),
        ];
        let mut custom = Mapping {
            name: vec!["NAME_EN".into(), "name".into()],
            category: vec!["kind".into()],
            ..Mapping::default()
        };
        custom
            .categories
            .insert("church".into(), "religious_site".into());
        custom
            .external_id_columns
            .insert("wikidata".into(), "wd".into());
        let mappings = [Mapping::default(), Mapping::nostrike_export(), custom];
        // A fixed linear congruential sequence: the same cases every run.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % n as u64) as usize
        };
        let mut compared = 0;
        for case in 0..3000 {
            // A valid category for each mapping, then noise that may spoil it.
            let mut props = Map::new();
            props.insert("category".into(), "museum".into());
            props.insert("kind".into(), "church".into());
            for _ in 0..next(6) {
                props.insert(
                    names[next(names.len())].to_string(),
                    values[next(values.len())].clone(),
                );
            }
            let raw = RawFeature {
                index: case,
                id: (next(2) == 0).then(|| format!("f{case}")),
                geometry: Ok(geo_types::Geometry::Point(geo_types::Point::new(
                    10.0, 50.0,
                ))),
                properties: props,
            };
            for (m, mapping) in mappings.iter().enumerate() {
                let source = (next(2) == 0).then_some("src");
                let file = Path::new("cases.geojson");
                let skipping = mapping.to_site(raw.clone(), source, file, "feature");
                let all =
                    mapping.to_site_looking_up(raw.clone(), source, file, "feature", u32::MAX);
                assert_eq!(skipping, all, "mapping {m}, {:?}", raw.properties);
                compared += usize::from(all.is_ok());
            }
        }
        // Enough of the cases map to sites for the comparison to mean something.
        assert!(compared > 1500, "only {compared} sites");
    }
}
