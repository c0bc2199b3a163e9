//! Standoff policy: how far from each kind of site a strike must stay.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::site::{Category, Protection, Site};

/// The example policy shipped with nostrike (`crates/core/policy.example.toml`).
///
/// It is an illustrative example, not doctrine: its distances show how a
/// policy works and carry no authority.
pub const EXAMPLE_POLICY_TOML: &str = include_str!("../policy.example.toml");

/// An error in a policy file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not valid TOML, or has a key or value of the wrong kind.
    #[error("policy is not valid: {0}")]
    Syntax(String),
    /// A key in `[standoff_m]` or `[protection_extra_m]` names no category or level.
    #[error("policy: unknown key {key:?} in [{table}]; allowed: {allowed}")]
    UnknownKey {
        /// The table the key was in.
        table: &'static str,
        /// The key found.
        key: String,
        /// The allowed keys.
        allowed: String,
    },
    /// The policy leaves a category's standoff or a protection level's extra
    /// unset, and gives no explicit default: a silent 0 m is never assumed.
    #[error("policy is incomplete: {} not set; give each (0 is a value), or an explicit default_standoff_m = X for categories", missing.join(", "))]
    Incomplete {
        /// What is missing, e.g. `standoff_m.medical`, `protection_extra_m.special`.
        missing: Vec<String>,
    },
    /// A distance is negative or not finite.
    #[error("policy: {key} = {value} is not a finite, non-negative number of metres")]
    BadDistance {
        /// Where the value was (e.g. `standoff_m.museum`).
        key: String,
        /// The value found.
        value: f64,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Option<String>,
    caution_margin_m: f64,
    default_standoff_m: Option<f64>,
    standoff_m: BTreeMap<String, f64>,
    #[serde(default)]
    protection_extra_m: BTreeMap<String, f64>,
    /// Days after its last verification a site's record is stale, per
    /// category (`default` for the others); absent: staleness is not judged.
    max_age_days: Option<BTreeMap<String, u32>>,
    /// Classifications, lowest first: how banners rank markings.
    #[serde(default)]
    classifications: Vec<String>,
    /// Named effect profiles.
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
    /// Sources, most trusted first: the face of a group of linked sites.
    #[serde(default)]
    source_precedence: Vec<String>,
    /// Refuse checks against a registry whose current state is not validly signed.
    #[serde(default)]
    require_signature: bool,
}

/// A named effect profile: the area buffer a class of weapon or effect
/// needs (e.g. its collateral-effects radius), chosen with `check --profile NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The area buffer the profile sets (metres).
    pub radius_m: f64,
    /// What the profile stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Default standoff per category, extra standoff per protection level and the caution margin.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// A short name for reports.
    pub name: String,
    /// Default standoff per category in metres, indexed by `Category as usize`.
    standoff_m: [f64; Category::ALL.len()],
    /// Extra standoff per protection level in metres, indexed by `Protection as usize`.
    protection_extra_m: [f64; Protection::ALL.len()],
    /// Margin beyond the required distance within which a site is a CAUTION (metres).
    pub caution_margin_m: f64,
    /// Categories the file did not list, which take its explicit default.
    defaulted: Vec<Category>,
    /// Days after `last_verified` a site's record is stale, per category; `None`: not judged.
    max_age_days: Option<[u32; Category::ALL.len()]>,
    /// Classifications, lowest first (how banners rank markings; one not listed ranks highest).
    pub classifications: Vec<String>,
    /// Named effect profiles, by name.
    pub profiles: BTreeMap<String, Profile>,
    /// Sources, most trusted first: which record of a group of linked sites
    /// is its face (sources not listed come after, by name).
    pub source_precedence: Vec<String>,
    /// Whether a check refuses a registry whose current state carries no
    /// valid signature (by a key given with `--trust`, when any is given).
    pub require_signature: bool,
}

/// Builds a [`Policy`] in code; see [`Policy::builder`].
#[derive(Debug, Clone)]
pub struct PolicyBuilder {
    name: String,
    caution_margin_m: f64,
    /// The default standoff and the key it was given under.
    default: Option<(&'static str, f64)>,
    standoff_m: [Option<f64>; Category::ALL.len()],
    protection_extra_m: [Option<f64>; Protection::ALL.len()],
    /// Whether any maximum age was given, the default, and each category's.
    ages: bool,
    default_max_age_days: Option<u32>,
    max_age_days: [Option<u32>; Category::ALL.len()],
}

impl PolicyBuilder {
    /// Days after its last verification a record of `category` is stale.
    /// Once any maximum age is given, every category needs one (or a default).
    pub fn max_age_days(mut self, category: Category, days: u32) -> Self {
        self.ages = true;
        self.max_age_days[category as usize] = Some(days);
        self
    }

    /// Days after its last verification a record of any category not given its own is stale.
    pub fn default_max_age_days(mut self, days: u32) -> Self {
        self.ages = true;
        self.default_max_age_days = Some(days);
        self
    }

    /// The margin beyond the required distance within which a site is a CAUTION (metres).
    pub fn caution_margin_m(mut self, m: f64) -> Self {
        self.caution_margin_m = m;
        self
    }

    /// The standoff of every category not given one (metres).
    pub fn default_standoff_m(mut self, m: f64) -> Self {
        self.default = Some(("default_standoff_m", m));
        self
    }

    /// A category's standoff (metres).
    pub fn standoff_m(mut self, category: Category, m: f64) -> Self {
        self.standoff_m[category as usize] = Some(m);
        self
    }

    /// A protection level's extra standoff (metres).
    pub fn protection_extra_m(mut self, level: Protection, m: f64) -> Self {
        self.protection_extra_m[level as usize] = Some(m);
        self
    }

    /// The policy, or what is missing or out of range.
    pub fn build(self) -> Result<Policy, PolicyError> {
        let caution_margin_m = check_distance("caution_margin_m".into(), self.caution_margin_m)?;
        let default = match self.default {
            Some((key, v)) => Some(check_distance(key.into(), v)?),
            None => None,
        };
        let mut missing = Vec::new();
        let mut defaulted = Vec::new();
        let mut standoff_m = [0.0; Category::ALL.len()];
        for c in Category::ALL {
            standoff_m[*c as usize] = match (self.standoff_m[*c as usize], default) {
                (Some(v), _) => check_distance(format!("standoff_m.{}", c.as_str()), v)?,
                (None, Some(d)) => {
                    defaulted.push(*c);
                    d
                }
                (None, None) => {
                    missing.push(format!("standoff_m.{}", c.as_str()));
                    0.0
                }
            };
        }
        let mut protection_extra_m = [0.0; Protection::ALL.len()];
        for p in Protection::ALL {
            protection_extra_m[*p as usize] = match self.protection_extra_m[*p as usize] {
                Some(v) => check_distance(format!("protection_extra_m.{}", p.as_str()), v)?,
                // Provisional enhanced protection is protection as enhanced
                // (Second Protocol, art. 11(9)) unless the policy says otherwise.
                None if *p == Protection::EnhancedProvisional => {
                    match self.protection_extra_m[Protection::Enhanced as usize] {
                        Some(v) => check_distance("protection_extra_m.enhanced".into(), v)?,
                        None => 0.0,
                    }
                }
                None => {
                    missing.push(format!("protection_extra_m.{}", p.as_str()));
                    0.0
                }
            };
        }
        let max_age_days = self.ages.then(|| {
            let mut ages = [0u32; Category::ALL.len()];
            for c in Category::ALL {
                ages[*c as usize] =
                    match (self.max_age_days[*c as usize], self.default_max_age_days) {
                        (Some(v), _) | (None, Some(v)) => v,
                        (None, None) => {
                            missing.push(format!("max_age_days.{}", c.as_str()));
                            0
                        }
                    };
            }
            ages
        });
        if !missing.is_empty() {
            return Err(PolicyError::Incomplete { missing });
        }
        Ok(Policy {
            name: self.name,
            standoff_m,
            protection_extra_m,
            caution_margin_m,
            defaulted,
            max_age_days,
            classifications: Vec::new(),
            profiles: BTreeMap::new(),
            source_precedence: Vec::new(),
            require_signature: false,
        })
    }
}

/// A key of a per-category table (`standoff_m`, `max_age_days`) as its category.
fn category_key(table: &'static str, key: &str) -> Result<Category, PolicyError> {
    key.parse().map_err(|_| PolicyError::UnknownKey {
        table,
        key: key.to_string(),
        allowed: std::iter::once("default")
            .chain(Category::ALL.iter().map(|c| c.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

fn check_distance(key: String, value: f64) -> Result<f64, PolicyError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(PolicyError::BadDistance { key, value })
    }
}

impl Policy {
    /// Parse a policy from TOML text (see `crates/core/policy.example.toml` for the layout).
    ///
    /// Unknown keys, unknown categories or levels and negative or non-finite
    /// distances are errors. A policy must be complete: every category's
    /// standoff and every protection level's extra is given, except that
    /// categories may take an explicit default (`default_standoff_m = X`, or
    /// `default = X` in `[standoff_m]`); [`Policy::defaulted_categories`]
    /// names those that do. Nothing is ever silently 0 m.
    pub fn from_toml_str(text: &str) -> Result<Policy, PolicyError> {
        let raw: RawPolicy =
            toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let mut b = Policy::builder(raw.name.as_deref().unwrap_or("unnamed"))
            .caution_margin_m(raw.caution_margin_m);
        match (raw.default_standoff_m, raw.standoff_m.get("default")) {
            (Some(_), Some(_)) => {
                return Err(PolicyError::Syntax(
                    "both default_standoff_m and [standoff_m] default are given; keep one".into(),
                ))
            }
            (Some(v), None) => b = b.default_standoff_m(v),
            (None, Some(v)) => {
                b.default = Some(("standoff_m.default", *v));
            }
            (None, None) => {}
        }
        for (key, value) in &raw.standoff_m {
            if key == "default" {
                continue;
            }
            let cat = category_key("standoff_m", key)?;
            b = b.standoff_m(cat, *value);
        }
        for (key, value) in &raw.protection_extra_m {
            let level: Protection = key.parse().map_err(|_| PolicyError::UnknownKey {
                table: "protection_extra_m",
                key: key.clone(),
                allowed: "general, special, enhanced, enhanced_provisional".into(),
            })?;
            b = b.protection_extra_m(level, *value);
        }
        for (key, days) in raw.max_age_days.iter().flatten() {
            if key == "default" {
                b = b.default_max_age_days(*days);
                continue;
            }
            let cat = category_key("max_age_days", key)?;
            b = b.max_age_days(cat, *days);
        }
        if raw.max_age_days.as_ref().is_some_and(|m| m.is_empty()) {
            return Err(PolicyError::Syntax(
                "[max_age_days] is empty: give a default (and any category's own), or leave the table out".into(),
            ));
        }
        let mut p = b.build()?;
        p.classifications = raw.classifications;
        for (name, profile) in &raw.profiles {
            check_distance(format!("profiles.{name}.radius_m"), profile.radius_m)?;
        }
        p.profiles = raw.profiles;
        p.source_precedence = raw.source_precedence;
        p.require_signature = raw.require_signature;
        Ok(p)
    }

    /// A policy built in code: every category's standoff (or an explicit
    /// default for those not given) and every protection level's extra
    /// must be set, as in a file.
    ///
    /// ```
    /// use nostrike_core::{Category, Policy, Protection};
    /// let mut b = Policy::builder("cell 3 interim")
    ///     .caution_margin_m(250.0)
    ///     .default_standoff_m(300.0)
    ///     .standoff_m(Category::DangerousForces, 2_000.0);
    /// for p in Protection::ALL {
    ///     b = b.protection_extra_m(*p, 0.0);
    /// }
    /// let policy = b.build().unwrap();
    /// assert_eq!(policy.default_standoff_m(Category::Museum, Protection::General), 300.0);
    /// assert_eq!(policy.defaulted_categories().len(), Category::ALL.len() - 1);
    /// // Leaving a level out is an error, never a silent 0 m.
    /// assert!(Policy::builder("x").default_standoff_m(1.0).build().is_err());
    /// ```
    pub fn builder(name: &str) -> PolicyBuilder {
        PolicyBuilder {
            name: name.to_string(),
            caution_margin_m: 0.0,
            default: None,
            standoff_m: [None; Category::ALL.len()],
            protection_extra_m: [None; Protection::ALL.len()],
            ages: false,
            default_max_age_days: None,
            max_age_days: [None; Category::ALL.len()],
        }
    }

    /// Whether the policy judges staleness (has `max_age_days`).
    pub fn judges_staleness(&self) -> bool {
        self.max_age_days.is_some()
    }

    /// Days after its last verification a record of `category` is stale;
    /// `None` when the policy does not judge staleness.
    pub fn max_age_days(&self, category: Category) -> Option<u32> {
        self.max_age_days.map(|a| a[category as usize])
    }

    /// The categories the policy file did not list, which take its explicit default standoff.
    pub fn defaulted_categories(&self) -> &[Category] {
        &self.defaulted
    }

    /// The shipped example policy (illustrative, not doctrine).
    pub fn example() -> Policy {
        // The example is compiled in and covered by a unit test; failing to parse it is a build defect.
        Policy::from_toml_str(EXAMPLE_POLICY_TOML)
            .unwrap_or_else(|e| unreachable!("shipped example policy is invalid: {e}"))
    }

    /// A policy with every standoff and the caution margin at zero: required distance = area buffer.
    pub fn zero() -> Policy {
        Policy {
            name: "zero".into(),
            standoff_m: [0.0; Category::ALL.len()],
            protection_extra_m: [0.0; Protection::ALL.len()],
            caution_margin_m: 0.0,
            defaulted: Vec::new(),
            max_age_days: None,
            classifications: Vec::new(),
            profiles: BTreeMap::new(),
            source_precedence: Vec::new(),
            require_signature: false,
        }
    }

    /// Default standoff for a category and protection level.
    ///
    /// # Units
    /// metres
    pub fn default_standoff_m(&self, category: Category, protection: Protection) -> f64 {
        self.standoff_m[category as usize] + self.protection_extra_m[protection as usize]
    }

    /// The largest default standoff of any category and protection level:
    /// what a site not (yet) in the registry could require.
    ///
    /// # Units
    /// metres
    pub fn max_default_standoff_m(&self) -> f64 {
        let cat = self.standoff_m.iter().copied().fold(0.0, f64::max);
        let extra = self.protection_extra_m.iter().copied().fold(0.0, f64::max);
        cat + extra
    }

    /// Standoff that applies to `site`: its explicit `standoff_m`, else the policy default.
    ///
    /// # Units
    /// metres
    pub fn standoff_for(&self, site: &Site) -> f64 {
        site.standoff_m
            .unwrap_or_else(|| self.default_standoff_m(site.category, site.protection))
    }

    /// Render the policy as TOML that [`Policy::from_toml_str`] reads back
    /// to the same policy (written by the `toml` serializer, so any name is
    /// quoted as TOML requires).
    pub fn to_toml_string(&self) -> String {
        /// Keys in their declared order, not sorted.
        struct Ordered<'a, T>(Vec<(&'a str, T)>);
        impl<T: Serialize> Serialize for Ordered<'_, T> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in &self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        #[derive(Serialize)]
        struct Out<'a> {
            name: &'a str,
            caution_margin_m: f64,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            classifications: &'a [String],
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            source_precedence: &'a [String],
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            require_signature: bool,
            standoff_m: Ordered<'a, f64>,
            protection_extra_m: Ordered<'a, f64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            max_age_days: Option<Ordered<'a, u32>>,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            profiles: &'a BTreeMap<String, Profile>,
        }
        let out = Out {
            name: &self.name,
            caution_margin_m: self.caution_margin_m,
            classifications: &self.classifications,
            source_precedence: &self.source_precedence,
            require_signature: self.require_signature,
            standoff_m: Ordered(
                Category::ALL
                    .iter()
                    .map(|c| (c.as_str(), self.standoff_m[*c as usize]))
                    .collect(),
            ),
            protection_extra_m: Ordered(
                Protection::ALL
                    .iter()
                    .map(|p| (p.as_str(), self.protection_extra_m[*p as usize]))
                    .collect(),
            ),
            max_age_days: self.max_age_days.map(|a| {
                Ordered(
                    Category::ALL
                        .iter()
                        .map(|c| (c.as_str(), a[*c as usize]))
                        .collect(),
                )
            }),
            profiles: &self.profiles,
        };
        // Strings, finite floats and tables of them always serialise.
        toml::to_string(&out).unwrap_or_else(|e| unreachable!("policy TOML: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_policy_parses_and_is_labelled() {
        let p = Policy::example();
        assert!(EXAMPLE_POLICY_TOML.contains("NOT DOCTRINE"));
        assert_eq!(p.caution_margin_m, 500.0);
        assert_eq!(
            p.default_standoff_m(Category::DangerousForces, Protection::General),
            2000.0
        );
        assert_eq!(
            p.default_standoff_m(Category::Museum, Protection::Enhanced),
            1200.0
        );
    }

    #[test]
    fn round_trips_through_toml() {
        let p = Policy::example();
        assert_eq!(Policy::from_toml_str(&p.to_toml_string()).unwrap(), p);
    }

    #[test]
    fn max_age_days_are_complete_or_refused() {
        let p = Policy::example();
        assert_eq!(p.max_age_days(Category::Diplomatic), Some(90));
        assert_eq!(p.max_age_days(Category::Museum), Some(365));
        assert!(p.to_toml_string().contains("[max_age_days]"));
        let base = "caution_margin_m = 0.0\n[standoff_m]\ndefault = 1.0\n[protection_extra_m]\ngeneral = 0.0\nspecial = 0.0\nenhanced = 0.0\n";
        assert!(!Policy::from_toml_str(base).unwrap().judges_staleness());
        // Some categories and no default: every other one is named as missing.
        let e =
            Policy::from_toml_str(&format!("{base}[max_age_days]\nmedical = 10\n")).unwrap_err();
        assert!(e.to_string().contains("max_age_days.museum"), "{e}");
        let e = Policy::from_toml_str(&format!("{base}[max_age_days]\nchurch = 10\n")).unwrap_err();
        assert!(e.to_string().contains("[max_age_days]"), "{e}");
        let e = Policy::from_toml_str(&format!("{base}[max_age_days]\n")).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }

    #[test]
    fn policy_show_wrote_a_name_toml_cannot_read() {
        let mut b = Policy::builder("cell \"3\"\u{1}\\ é\nnext").default_standoff_m(1.5);
        for p in Protection::ALL {
            b = b.protection_extra_m(*p, 0.25);
        }
        let mut p = b.build().unwrap();
        // A file lists every category: the round trip has none defaulted.
        let text = p.to_toml_string();
        p.defaulted.clear();
        assert_eq!(Policy::from_toml_str(&text).unwrap(), p, "{text}");
    }

    const LEVELS: &str = "[protection_extra_m]\ngeneral = 0\nspecial = 0\nenhanced = 0\n";

    #[test]
    fn default_key_fills_unlisted_categories() {
        let p = Policy::from_toml_str(&format!(
            "caution_margin_m = 10\n[standoff_m]\ndefault = 7\nmuseum = 9\n{LEVELS}"
        ))
        .unwrap();
        assert_eq!(p.defaulted_categories().len(), Category::ALL.len() - 1);
        assert!(!p.defaulted_categories().contains(&Category::Museum));
        assert_eq!(
            p.default_standoff_m(Category::Museum, Protection::General),
            9.0
        );
        assert_eq!(
            p.default_standoff_m(Category::Water, Protection::Special),
            7.0
        );
    }

    #[test]
    fn a_partial_policy_gave_unlisted_categories_zero_metres() {
        let err = Policy::from_toml_str(&format!(
            "caution_margin_m = 10\n[standoff_m]\nmedical = 300\n{LEVELS}"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("incomplete"), "{err}");
        assert!(
            err.contains("standoff_m.museum") && err.contains("standoff_m.water"),
            "{err}"
        );
        assert!(!err.contains("standoff_m.medical"), "{err}");
        let err = Policy::from_toml_str(
            "caution_margin_m = 10\ndefault_standoff_m = 100\n[standoff_m]\n[protection_extra_m]\ngeneral = 0\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("protection_extra_m.special")
                && err.contains("protection_extra_m.enhanced"),
            "{err}"
        );
        let p = Policy::from_toml_str(&format!(
            "caution_margin_m = 10\ndefault_standoff_m = 100\n[standoff_m]\nmedical = 300\n{LEVELS}"
        ))
        .unwrap();
        assert_eq!(
            p.default_standoff_m(Category::Museum, Protection::General),
            100.0
        );
        assert_eq!(
            p.default_standoff_m(Category::Medical, Protection::General),
            300.0
        );
        // The round trip lists every category: nothing is defaulted any more, same distances.
        let back = Policy::from_toml_str(&p.to_toml_string()).unwrap();
        assert!(back.defaulted_categories().is_empty());
        assert_eq!(
            back.default_standoff_m(Category::Museum, Protection::General),
            100.0
        );
    }

    #[test]
    fn explicit_standoff_overrides_policy() {
        let p = Policy::example();
        let mut s = Site::new(
            "x",
            "t",
            Category::Medical,
            geo_types::point!(x: 1.0, y: 2.0).into(),
        );
        assert_eq!(p.standoff_for(&s), 300.0);
        s.standoff_m = Some(12.5);
        assert_eq!(p.standoff_for(&s), 12.5);
    }

    #[test]
    fn rejects_bad_policies() {
        let cases = [
            ("caution_margin_m = -1\n[standoff_m]\n", "caution_margin_m"),
            (
                "caution_margin_m = 1\n[standoff_m]\nmuseum = -5\n",
                "standoff_m.museum",
            ),
            ("caution_margin_m = 1\n[standoff_m]\nchurch = 5\n", "church"),
            (
                "caution_margin_m = 1\n[standoff_m]\n[protection_extra_m]\nsuper = 1\n",
                "super",
            ),
            ("caution_margin_m = 1\ncolour = 2\n[standoff_m]\n", "colour"),
            ("caution_margin_m = nan\n[standoff_m]\n", "caution_margin_m"),
            ("[standoff_m]\n", "caution_margin_m"),
        ];
        for (text, needle) in cases {
            let err = Policy::from_toml_str(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?} gave {err}");
        }
    }
}
