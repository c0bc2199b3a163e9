//! Protected sites: what the registry holds and the index checks against.

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
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $class:ident; )*) => {
        /// The kind of protected site (a closed set; names are `snake_case`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Category {
            $( $(#[$doc])* $variant, )*
        }

        impl Category {
            /// Every category, in declaration order.
            pub const ALL: &'static [Category] = &[$(Category::$variant),*];

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
    Monument = "monument", Cultural;
    /// An archaeological site.
    ArchaeologicalSite = "archaeological_site", Cultural;
    /// A place of worship.
    ReligiousSite = "religious_site", Cultural;
    /// A museum.
    Museum = "museum", Cultural;
    /// A library.
    Library = "library", Cultural;
    /// An archive.
    Archive = "archive", Cultural;
    /// A historic centre or district.
    HistoricDistrict = "historic_district", Cultural;
    /// A refuge sheltering movable cultural property.
    CulturalRefuge = "cultural_refuge", Cultural;
    /// Hospitals, clinics and other medical facilities.
    Medical = "medical", Civilian;
    /// Schools, universities, kindergartens.
    Education = "education", Civilian;
    /// Drinking-water installations and supplies.
    Water = "water", Civilian;
    /// Foodstuffs, agricultural areas, livestock.
    Food = "food", Civilian;
    /// Works and installations containing dangerous forces: dams, dykes, nuclear plants.
    DangerousForces = "dangerous_forces", Civilian;
    /// Power generation and distribution.
    Power = "power", Civilian;
    /// Shelters and camps for civilians.
    Shelter = "shelter", Civilian;
    /// Diplomatic premises.
    Diplomatic = "diplomatic", Civilian;
    /// Humanitarian premises.
    Humanitarian = "humanitarian", Civilian;
    /// Any other protected civilian object.
    Other = "other", Civilian;
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Protection {
    /// General protection (every protected site).
    #[default]
    General,
    /// Special protection (Hague 1954, chapter II).
    Special,
    /// Enhanced protection (Second Protocol 1999, chapter 3).
    Enhanced,
}

impl Protection {
    /// Every level, weakest first.
    pub const ALL: &'static [Protection] = &[
        Protection::General,
        Protection::Special,
        Protection::Enhanced,
    ];

    /// The `snake_case` name used in files, reports and policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Protection::General => "general",
            Protection::Special => "special",
            Protection::Enhanced => "enhanced",
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
                allowed: "general, special, enhanced".to_string(),
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
