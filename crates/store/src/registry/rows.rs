//! One site as its columns hold it, and one change-log entry's hash.

use super::*;

pub(super) const SITE_COLUMNS: &str = "source, site_id, name, category, protection, designations, geometry, standoff_m, positional_accuracy_m, valid_from, valid_to, last_verified, properties, extensions";
/// How many columns [`SITE_COLUMNS`] names.
pub(super) const SITE_COLUMN_COUNT: usize = 14;

/// Whether the [`SITE_COLUMNS`] starting at `at`, read through a left
/// join on `versions`, found a version (`name` is never NULL in one).
pub(super) fn has_version(r: &Row<'_>, at: usize) -> rusqlite::Result<bool> {
    Ok(r.get_ref(at + 2)?.data_type() != rusqlite::types::Type::Null)
}

/// One site's key where a map is keyed by (source, id) in one text: the
/// source's length in decimal, `:`, the source, then the id. No character
/// a source or id could hold makes two pairs share a key (a separator
/// would: `a` + `b␟c` and `a␟b` + `c`).
pub(super) fn site_key(buf: &mut String, source: &str, id: &str) {
    use std::fmt::Write;
    let digits = source.len().checked_ilog10().map_or(1, |d| d as usize + 1);
    buf.clear();
    // Exactly the key's length: a key boxed from it is not copied again.
    buf.reserve_exact(digits + 1 + source.len() + id.len());
    let _ = write!(buf, "{}:", source.len());
    buf.push_str(source);
    buf.push_str(id);
}

/// The (source, id) of a [`site_key`].
pub(super) fn split_site_key(key: &str) -> (&str, &str) {
    let (len, rest) = key.split_once(':').unwrap_or(("0", key));
    let len = len.parse::<usize>().unwrap_or(0).min(rest.len());
    match (rest.get(..len), rest.get(len..)) {
        (Some(s), Some(i)) => (s, i),
        _ => ("", rest),
    }
}

/// What is wrong with a live row naming a version `versions` does not hold.
pub(super) fn missing_version(source: &str, id: &str, version: i64) -> String {
    format!("site {source}/{id} names version {version}, which is missing (deleted outside nostrike?); run `nostrike verify`")
}

/// One row of the `live_sites` view ([`SITE_COLUMNS`], then `hash`,
/// `version`): the live site's version and the hash that version carries;
/// `Err` names a live row whose version is missing.
pub(super) fn read_live(r: &Row<'_>) -> rusqlite::Result<Result<(SiteRow, String), String>> {
    if !has_version(r, 0)? {
        let (source, id): (String, String) = (r.get(0)?, r.get(1)?);
        let version: i64 = r.get(SITE_COLUMN_COUNT + 1)?;
        return Ok(Err(missing_version(&source, &id, version)));
    }
    Ok(Ok((SiteRow::read(r, 0)?, r.get(SITE_COLUMN_COUNT)?)))
}

/// A site as its columns hold it; `site()` decodes, `hash()` recomputes.
pub(super) struct SiteRow {
    pub(super) source: String,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) category: String,
    pub(super) protection: String,
    pub(super) designations: String,
    pub(super) geometry: Vec<u8>,
    pub(super) standoff_m: Option<f64>,
    pub(super) positional_accuracy_m: f64,
    pub(super) valid_from: Option<i64>,
    pub(super) valid_to: Option<i64>,
    pub(super) last_verified: Option<String>,
    pub(super) properties: String,
    /// Marking, external ids and inscription date as canonical JSON (schema 5); `None`: none set.
    pub(super) extensions: Option<String>,
}

impl SiteRow {
    /// Read the [`SITE_COLUMN_COUNT`] site columns starting at `at`.
    pub(super) fn read(r: &Row<'_>, at: usize) -> rusqlite::Result<SiteRow> {
        Ok(SiteRow {
            source: r.get(at)?,
            id: r.get(at + 1)?,
            name: r.get(at + 2)?,
            category: r.get(at + 3)?,
            protection: r.get(at + 4)?,
            designations: r.get(at + 5)?,
            geometry: r.get(at + 6)?,
            standoff_m: r.get(at + 7)?,
            positional_accuracy_m: r.get(at + 8)?,
            valid_from: r.get(at + 9)?,
            valid_to: r.get(at + 10)?,
            last_verified: r.get(at + 11)?,
            properties: r.get(at + 12)?,
            extensions: r.get(at + 13)?,
        })
    }

    pub(super) fn of(site: &Site) -> Result<SiteRow, String> {
        let designations = serde_json::to_string(&site.designations).map_err(|e| e.to_string())?;
        Ok(SiteRow {
            source: site.source.clone(),
            id: site.id.clone(),
            name: site.name.clone(),
            category: site.category.as_str().into(),
            protection: site.protection.as_str().into(),
            designations,
            geometry: wkb::encode(&site.geometry),
            standoff_m: site.standoff_m,
            positional_accuracy_m: site.positional_accuracy_m,
            valid_from: site.valid_from,
            valid_to: site.valid_to,
            last_verified: site.last_verified.clone(),
            properties: canonical_properties(&site.properties).map_err(|e| e.0)?,
            extensions: crate::canonical::extensions_json(site),
        })
    }

    pub(super) fn site(&self) -> Result<Site, String> {
        SiteRow {
            source: self.source.clone(),
            id: self.id.clone(),
            name: self.name.clone(),
            category: self.category.clone(),
            protection: self.protection.clone(),
            designations: self.designations.clone(),
            geometry: Vec::new(),
            standoff_m: self.standoff_m,
            positional_accuracy_m: self.positional_accuracy_m,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            last_verified: self.last_verified.clone(),
            properties: self.properties.clone(),
            extensions: self.extensions.clone(),
        }
        .into_site_with(&self.geometry)
    }

    /// The site a live row holds, checked against the hash recorded beside
    /// it, with its geometry's WKB and its digest; a mismatch names the site.
    pub(super) fn into_verified_site(
        mut self,
        stored: &str,
    ) -> Result<(Site, Vec<u8>, [u8; 32]), String> {
        let geometry = std::mem::take(&mut self.geometry);
        let site = self.into_site_with(&geometry)?;
        let d = site_digest_with_wkb(&site, &geometry);
        if parse_hex(stored) != Some(d) {
            return Err(format!("site {}/{} does not match its recorded hash (edited outside nostrike?); run `nostrike verify`", site.source, site.id));
        }
        Ok((site, geometry, d))
    }

    /// Decode into a site, moving the text fields; the geometry is decoded from `wkb_bytes`.
    pub(super) fn into_site_with(self, wkb_bytes: &[u8]) -> Result<Site, String> {
        let fail = |what: String| format!("site {}/{}: {what}", self.source, self.id);
        let category: Category = self
            .category
            .parse()
            .map_err(|e: nostrike_core::UnknownName| fail(e.to_string()))?;
        let protection: Protection = self
            .protection
            .parse()
            .map_err(|e: nostrike_core::UnknownName| fail(e.to_string()))?;
        let geometry = wkb::decode(wkb_bytes).map_err(|e| fail(e.to_string()))?;
        let designations: Vec<String> = if self.designations == "[]" {
            Vec::new()
        } else {
            serde_json::from_str(&self.designations)
                .map_err(|e| fail(format!("designations: {e}")))?
        };
        let mut s = Site::new(self.id, self.source, category, geometry);
        s.name = self.name;
        s.protection = protection;
        s.designations = designations;
        s.standoff_m = self.standoff_m;
        s.positional_accuracy_m = self.positional_accuracy_m;
        s.valid_from = self.valid_from;
        s.valid_to = self.valid_to;
        s.last_verified = self.last_verified;
        s.properties = self.properties;
        if let Some(x) = &self.extensions {
            crate::canonical::apply_extensions(&mut s, x)
                .map_err(|what| format!("site {}/{}: {what}", s.source, s.id))?;
        }
        Ok(s)
    }

    /// The site hash of the row [`SiteRow::of`] made of `site`, without
    /// decoding the row back: the site's own fields, with the geometry,
    /// properties and extensions as the row holds them. The same hash as
    /// [`SiteRow::hash`] of the row (tested), which `verify` and every load
    /// recompute from the stored row.
    pub(super) fn hash_of(&self, site: &Site) -> String {
        crate::canonical::hex(&site_digest_of(
            site,
            &self.geometry,
            &self.properties,
            self.extensions.as_deref(),
        ))
    }

    /// The site hash of exactly what the columns hold.
    pub(super) fn hash(&self) -> Result<String, String> {
        let site = self.site()?;
        Ok(site_hash_with_wkb(&site, &self.geometry))
    }
}

/// What a change-log entry's hash covers.
pub(super) struct Entry<'a> {
    pub(super) seq: i64,
    pub(super) batch: i64,
    pub(super) revision: i64,
    pub(super) kind: &'a str,
    pub(super) source: &'a str,
    pub(super) id: &'a str,
    pub(super) before: Option<&'a str>,
    pub(super) after: Option<&'a str>,
}

/// The hash of a change-log entry, chained to the previous entry's hash `prev`.
pub(super) fn entry_hash(entry: &Entry<'_>, prev: &str) -> String {
    let Entry {
        seq,
        batch,
        revision,
        kind,
        source,
        id,
        before,
        after,
    } = *entry;
    // Three hashes of 64 hex digits, the keys, and the fixed-size fields.
    let mut e = Enc::with_capacity(source.len() + id.len() + 3 * 72 + 80);
    e.text("nostrike-log-v1")
        .i64(seq)
        .i64(batch)
        .i64(revision)
        .text(kind)
        .text(source)
        .text(id)
        .opt_text(before)
        .opt_text(after)
        .text(prev);
    e.sha256_hex()
}

#[cfg(test)]
mod tests {
    use super::{site_key, split_site_key};

    /// A site's key splits back into its source and id,
    /// and no two (source, id) pairs share a key, whatever they contain.
    #[test]
    fn site_keys_split_back_and_never_collide() {
        let parts = [
            "",
            "a",
            "b:c",
            "1:",
            ":",
            "12",
            "\u{1f}",
            "é:1",
            "abcdefghij",
        ];
        let mut seen = std::collections::HashMap::new();
        let mut key = String::new();
        for s in parts {
            for i in parts {
                site_key(&mut key, s, i);
                assert_eq!(split_site_key(&key), (s, i));
                assert_eq!(seen.insert(key.clone(), (s, i)), None, "{s:?} {i:?}");
            }
        }
    }

    use super::super::{Chain, ChangeKind, GENESIS};
    use super::{entry_hash, Entry};

    fn entry<'a>(seq: i64, prev_kind: ChangeKind) -> Entry<'a> {
        Entry {
            seq,
            batch: 1,
            revision: 1,
            kind: prev_kind.as_str(),
            source: "src",
            id: "s1",
            before: None,
            after: Some("ab"),
        }
    }

    /// A site with every field drawn from `next` (a seeded xorshift):
    /// texts with quotes, escapes and non-ASCII, points, lines and
    /// polygons, properties as non-canonical JSON (keys out of order,
    /// spaces, nesting), and the schema-5 fields set or not.
    fn drawn_site(next: &mut impl FnMut() -> u64) -> nostrike_core::Site {
        use geo_types::{coord, Geometry, LineString, Point, Polygon};
        use nostrike_core::{Category, Protection, Site};
        const TEXTS: &[&str] = &[
            "",
            "a",
            "Ste-Anne \"Kirkko\"",
            "Å\\ö",
            "x\ny",
            "漢字",
            "\u{1f}",
        ];
        let text = |n: u64| TEXTS[(n % TEXTS.len() as u64) as usize].to_string();
        let (x, y) = ((next() % 360) as f64 - 180.0, (next() % 180) as f64 - 90.0);
        let geometry: Geometry<f64> = match next() % 3 {
            0 => Point::new(x, y).into(),
            1 => {
                LineString::new(vec![coord! {x: x, y: y}, coord! {x: x + 0.25, y: y * 0.5}]).into()
            }
            _ => Polygon::new(
                LineString::new(vec![
                    coord! {x: x, y: y},
                    coord! {x: x + 0.1, y: y},
                    coord! {x: x + 0.1, y: y - 0.1},
                    coord! {x: x, y: y},
                ]),
                vec![],
            )
            .into(),
        };
        let category = Category::ALL[(next() % Category::ALL.len() as u64) as usize];
        let mut s = Site::new(format!("id{}", next() % 1000), "src", category, geometry);
        s.name = text(next());
        s.protection = Protection::ALL[(next() % Protection::ALL.len() as u64) as usize];
        s.designations = (0..next() % 3).map(|_| text(next())).collect();
        s.standoff_m = (next().is_multiple_of(2)).then(|| (next() % 5000) as f64 * 0.5);
        s.positional_accuracy_m = (next() % 100) as f64 * 0.25;
        s.valid_from = (next().is_multiple_of(2)).then(|| next() as i64 % 2_000_000_000);
        s.valid_to = (next().is_multiple_of(2)).then(|| 2_000_000_000 + (next() % 1000) as i64);
        s.last_verified = (next().is_multiple_of(2)).then(|| "2026-11-30".to_string());
        s.properties = match next() % 4 {
            0 => "{ }".into(),
            1 => "{}".into(),
            2 => format!(
                "{{ \"z\": {}, \"a\": [1, {{\"y\": null, \"b\": \"é\"}}] }}",
                next() % 7
            ),
            _ => format!("{{\"name:fi\":\"{}\",\"heritage\":\"2\"}}", next() % 9),
        };
        if next().is_multiple_of(2) {
            s.marking.classification = Some("NATO UNCLASSIFIED".into());
        }
        if next().is_multiple_of(2) {
            s.marking.releasable_to = vec!["NATO".into(), "UKR".into()];
        }
        if next().is_multiple_of(2) {
            s.external_ids
                .insert("wikidata".into(), format!("Q{}", next() % 99));
            s.external_ids.insert("osm".into(), "node/1".into());
        }
        if next().is_multiple_of(2) {
            s.inscribed = Some("1991".into());
        }
        s
    }

    /// The import hashes a prepared row from the site it was made of; a
    /// load and `verify` hash the stored row decoded. The two agree on
    /// every field (drawn at random, 3,000 sites), so an import never
    /// records a hash the registry's own checks would refuse.
    #[test]
    fn a_prepared_rows_hash_equals_the_hash_of_the_row_decoded() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut with_extensions = 0;
        for n in 0..3000 {
            let site = drawn_site(&mut next);
            let row = super::SiteRow::of(&site).expect("a drawn site makes a row");
            with_extensions += usize::from(row.extensions.is_some());
            assert_eq!(
                row.hash_of(&site),
                row.hash().expect("the row decodes"),
                "site {n}: {site:?}"
            );
        }
        assert!(
            with_extensions > 2000,
            "{with_extensions} of 3,000 with extensions"
        );
    }

    /// Pinned (recomputed from docs/REGISTRY.md's recipe with Python's hashlib):
    /// a change to the entry encoding would orphan every stored log.
    #[test]
    fn entry_hash_is_pinned() {
        assert_eq!(
            entry_hash(&entry(1, ChangeKind::Added), GENESIS),
            "b67d4da8c8df85d23ea79400c859605aa6532f76abd53abee7cf7860bbf11939"
        );
    }

    #[test]
    fn a_chain_links_each_entry_to_the_one_before() {
        let mut chain = Chain {
            seq: 0,
            prev: GENESIS.to_string(),
            revision: 1,
        };
        let (s1, p1, h1) = chain.next(1, ChangeKind::Added, None, Some("ab"), "src", "s1");
        let (s2, p2, h2) = chain.next(1, ChangeKind::Retired, Some("ab"), None, "src", "s1");
        assert_eq!((s1, s2), (1, 2));
        assert_eq!(p1, GENESIS);
        assert_eq!(p2, h1);
        assert_eq!(h1, entry_hash(&entry(1, ChangeKind::Added), GENESIS));
        assert_ne!(h1, h2);
        assert_eq!(chain.prev, h2);
        // Every field is bound: another kind, another hash.
        assert_ne!(h1, entry_hash(&entry(1, ChangeKind::Updated), GENESIS));
    }
}
