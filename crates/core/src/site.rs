//! Protected sites: what the registry holds and the index checks against.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use geo_types::Geometry;
use serde::{Deserialize, Serialize};

/// Whether a category is cultural property or civilian infrastructure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Cultural property under the 1954 Hague Convention.
    Cultural,
    /// Civilian objects and infrastructure protected under IHL.
    Civilian,
}

macro_rules! categories {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal, $class:ident; )*) => {
        /// The kind of protected site (a closed set; names are `snake_case`).
        ///
        /// Each category has a fixed one-byte code, stored in every packed
        /// index: codes are append-only and never reused, and a test pins
        /// them (a category inserted mid-list would otherwise remap every
        /// stored image while its hashes still passed).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[repr(u8)]
        pub enum Category {
            $( $(#[$doc])* $variant = $code, )*
        }

        impl Category {
            /// Every category, in code order (`ALL[c.code() as usize] == c`).
            pub const ALL: &'static [Category] = &[$(Category::$variant),*];

            /// The category's stored code.
            pub fn code(self) -> u8 {
                self as u8
            }

            /// The category of a stored code.
            pub fn from_code(code: u8) -> Option<Category> {
                match code {
                    $($code => Some(Category::$variant),)*
                    _ => None,
                }
            }

            /// The `snake_case` name used in files, reports and policies.
            pub fn as_str(self) -> &'static str {
                match self { $(Category::$variant => $name,)* }
            }

            /// Cultural property or civilian infrastructure.
            pub fn class(self) -> Class {
                match self { $(Category::$variant => Class::$class,)* }
            }
        }
    };
}

categories! {
    /// A monument of architecture, art or history.
    Monument = 0, "monument", Cultural;
    /// An archaeological site.
    ArchaeologicalSite = 1, "archaeological_site", Cultural;
    /// A place of worship.
    ReligiousSite = 2, "religious_site", Cultural;
    /// A museum.
    Museum = 3, "museum", Cultural;
    /// A library.
    Library = 4, "library", Cultural;
    /// An archive.
    Archive = 5, "archive", Cultural;
    /// A historic centre or district.
    HistoricDistrict = 6, "historic_district", Cultural;
    /// A refuge sheltering movable cultural property.
    CulturalRefuge = 7, "cultural_refuge", Cultural;
    /// Hospitals, clinics and other medical facilities.
    Medical = 8, "medical", Civilian;
    /// Schools, universities, kindergartens.
    Education = 9, "education", Civilian;
    /// Drinking-water installations and supplies.
    Water = 10, "water", Civilian;
    /// Foodstuffs, agricultural areas, livestock.
    Food = 11, "food", Civilian;
    /// Works and installations containing dangerous forces: dams, dykes, nuclear plants.
    DangerousForces = 12, "dangerous_forces", Civilian;
    /// Power generation and distribution.
    Power = 13, "power", Civilian;
    /// Shelters and camps for civilians.
    Shelter = 14, "shelter", Civilian;
    /// Diplomatic premises.
    Diplomatic = 15, "diplomatic", Civilian;
    /// Humanitarian premises.
    Humanitarian = 16, "humanitarian", Civilian;
    /// Any other protected civilian object.
    Other = 17, "other", Civilian;
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a name that is not a known category or protection level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {found:?}; allowed: {allowed}")]
pub struct UnknownName {
    /// What was being parsed ("category" or "protection level").
    pub what: &'static str,
    /// The text found.
    pub found: String,
    /// The allowed values, comma separated.
    pub allowed: String,
}

impl FromStr for Category {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "category",
                found: s.to_string(),
                allowed: Category::ALL
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

/// Protection level under the 1954 Hague Convention and its Second Protocol.
/// Codes are stored in packed indexes: fixed and pinned by a test.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Protection {
    /// General protection (every protected site).
    #[default]
    General = 0,
    /// Special protection (Hague 1954, chapter II).
    Special = 1,
    /// Enhanced protection (Second Protocol 1999, chapter 3).
    Enhanced = 2,
    /// Provisional enhanced protection (Second Protocol 1999, article 11(9)),
    /// granted pending the regular procedure; protected as enhanced.
    EnhancedProvisional = 3,
}

impl Protection {
    /// Every level, weakest first.
    pub const ALL: &'static [Protection] = &[
        Protection::General,
        Protection::Special,
        Protection::Enhanced,
        Protection::EnhancedProvisional,
    ];

    /// The level's stored code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The level of a stored code.
    pub fn from_code(code: u8) -> Option<Protection> {
        match code {
            0 => Some(Protection::General),
            1 => Some(Protection::Special),
            2 => Some(Protection::Enhanced),
            3 => Some(Protection::EnhancedProvisional),
            _ => None,
        }
    }

    /// The `snake_case` name used in files, reports and policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Protection::General => "general",
            Protection::Special => "special",
            Protection::Enhanced => "enhanced",
            Protection::EnhancedProvisional => "enhanced_provisional",
        }
    }
}

impl fmt::Display for Protection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protection {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protection::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "protection level",
                found: s.to_string(),
                allowed: "general, special, enhanced, enhanced_provisional".to_string(),
            })
    }
}

/// A protected site as held in the registry.
///
/// Geometry is WGS84 longitude/latitude in degrees (x = lon, y = lat). Edges
/// of lines and polygon rings are geodesics between consecutive vertices.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// Identifier, unique within its source (e.g. `osm:way/45`).
    pub id: String,
    /// Name of the source the site came from.
    pub source: String,
    /// Human-readable name (may be empty).
    pub name: String,
    /// What kind of site this is.
    pub category: Category,
    /// Protection level.
    pub protection: Protection,
    /// Designations such as `unesco_whs` or `blue_shield`.
    pub designations: Vec<String>,
    /// The site's footprint: Point, LineString, Polygon (holes allowed) or their Multi forms.
    pub geometry: Geometry<f64>,
    /// Explicit standoff distance in metres; overrides the policy's default when set.
    pub standoff_m: Option<f64>,
    /// How far (metres) the true site may be from the recorded geometry.
    pub positional_accuracy_m: f64,
    /// Start of validity, seconds since the Unix epoch (UTC), inclusive.
    pub valid_from: Option<i64>,
    /// End of validity, seconds since the Unix epoch (UTC), exclusive.
    pub valid_to: Option<i64>,
    /// When the site was last verified, as given by the source (ISO 8601 date text).
    pub last_verified: Option<String>,
    /// Every other property of the source record, kept verbatim as a JSON object's text (`{}` if none).
    pub properties: String,
    /// Who may see the site: its classification and releasability.
    pub marking: Marking,
    /// Identifiers in other registers (`unesco_whc`, `wikidata`, `osm`, …): key → id.
    pub external_ids: BTreeMap<String, String>,
    /// When the protection level was granted (ISO 8601 date), e.g. the date
    /// of inscription on the List of Cultural Property under Enhanced Protection.
    pub inscribed: Option<String>,
}

/// A site's security marking: its classification and who it may be released to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Marking {
    /// Classification as free text from the policy's list (e.g. `NATO UNCLASSIFIED`); `None`: unmarked.
    pub classification: Option<String>,
    /// Countries and groups the site may be released to (e.g. `NATO`, `UKR`),
    /// upper case, sorted and without repeats; empty: no restriction recorded.
    pub releasable_to: Vec<String>,
}

impl Marking {
    /// Normalise a list of countries and groups: trimmed, upper case, sorted, without repeats or empties.
    pub fn normalise(list: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<String> {
        let mut v: Vec<String> = list
            .into_iter()
            .map(|s| s.as_ref().trim().to_uppercase())
            .filter(|s| !s.is_empty())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Whether the site may be released to `partner` (a country or group):
    /// unrestricted (no list), or listed.
    pub fn releasable_to(&self, partner: &str) -> bool {
        let p = partner.trim().to_uppercase();
        self.releasable_to.is_empty() || self.releasable_to.contains(&p)
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.classification.is_none() && self.releasable_to.is_empty()
    }
}

impl Site {
    /// A site with the given identity, category and geometry and every other field at its default.
    pub fn new(
        id: impl Into<String>,
        source: impl Into<String>,
        category: Category,
        geometry: Geometry<f64>,
    ) -> Self {
        Site {
            id: id.into(),
            source: source.into(),
            name: String::new(),
            category,
            protection: Protection::General,
            designations: Vec::new(),
            geometry,
            standoff_m: None,
            positional_accuracy_m: 0.0,
            valid_from: None,
            valid_to: None,
            last_verified: None,
            properties: "{}".to_string(),
            marking: Marking::default(),
            external_ids: BTreeMap::new(),
            inscribed: None,
        }
    }

    /// Whether the site is in force at `t` (seconds since the Unix epoch, UTC).
    ///
    /// `valid_from` is inclusive, `valid_to` exclusive; a missing bound is open.
    pub fn is_valid_at(&self, t: i64) -> bool {
        crate::SiteParams::of(self).is_valid_at(t)
    }
}

#[cfg(test)]
mod codes {
    use super::*;

    /// The stored codes, pinned: packed indexes on disk hold these bytes.
    /// Append new categories with new codes; never renumber.
    #[test]
    fn category_and_protection_codes_are_pinned() {
        let pinned: [(&str, u8); 18] = [
            ("monument", 0),
            ("archaeological_site", 1),
            ("religious_site", 2),
            ("museum", 3),
            ("library", 4),
            ("archive", 5),
            ("historic_district", 6),
            ("cultural_refuge", 7),
            ("medical", 8),
            ("education", 9),
            ("water", 10),
            ("food", 11),
            ("dangerous_forces", 12),
            ("power", 13),
            ("shelter", 14),
            ("diplomatic", 15),
            ("humanitarian", 16),
            ("other", 17),
        ];
        assert_eq!(Category::ALL.len(), pinned.len());
        for (name, code) in pinned {
            let c: Category = name.parse().expect("known category");
            assert_eq!(c.code(), code, "{name}");
            assert_eq!(Category::from_code(code), Some(c));
            assert_eq!(Category::ALL[code as usize], c, "ALL is in code order");
        }
        assert_eq!(Category::from_code(18), None);
        for (name, code) in [
            ("general", 0),
            ("special", 1),
            ("enhanced", 2),
            ("enhanced_provisional", 3),
        ] {
            let p: Protection = name.parse().expect("known level");
            assert_eq!(p.code(), code);
            assert_eq!(Protection::from_code(code), Some(p));
        }
        assert_eq!(Protection::from_code(4), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_round_trip_and_classes() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), *c);
        }
        assert_eq!(Category::Museum.class(), Class::Cultural);
        assert_eq!(Category::DangerousForces.class(), Class::Civilian);
        assert_eq!(Category::ALL.len(), 18);
        let err = "church".parse::<Category>().unwrap_err();
        assert!(err.to_string().contains("religious_site"), "{err}");
    }

    #[test]
    fn validity_period_bounds() {
        let mut s = Site::new(
            "a",
            "t",
            Category::Museum,
            geo_types::point!(x: 0.0, y: 0.0).into(),
        );
        assert!(s.is_valid_at(0));
        s.valid_from = Some(100);
        s.valid_to = Some(200);
        assert!(!s.is_valid_at(99));
        assert!(s.is_valid_at(100));
        assert!(s.is_valid_at(199));
        assert!(!s.is_valid_at(200));
    }
}
