//! The canonical form of a site and the registry's hashes (see docs/REGISTRY.md).

use nostrike_core::{wkb, Site};
use sha2::{Digest, Sha256};

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    // Bytes, then one conversion: a `char` pushed at a time is a UTF-8
    // encoding a digit, 128 million of them (two hashes a site) in a
    // million-site import.
    let mut s = vec![0u8; bytes.len() * 2];
    hex_digits(bytes, &mut s);
    String::from_utf8(s).unwrap_or_default()
}

/// `bytes` as lowercase hex digits, written into the first twice as many
/// bytes of `out`.
fn hex_digits(bytes: &[u8], out: &mut [u8]) {
    const D: &[u8; 16] = b"0123456789abcdef";
    for (b, o) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        o[0] = D[(b >> 4) as usize];
        o[1] = D[(b & 15) as usize];
    }
}

/// Length-prefixed binary encoder for hashing (every field self-delimiting).
#[derive(Default)]
pub(crate) struct Enc(pub(crate) Vec<u8>);

impl Enc {
    /// An encoder with room for `n` bytes: a site's encoding grown from
    /// empty was reallocated half a dozen times.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Enc(Vec::with_capacity(n))
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(b.len() as u64).to_le_bytes());
        self.0.extend_from_slice(b);
        self
    }
    pub(crate) fn text(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }
    /// An optional value: byte 0 when absent, byte 1 then the value when present.
    fn opt<T>(&mut self, x: Option<T>, put: impl FnOnce(&mut Self, T) -> &mut Self) -> &mut Self {
        match x {
            None => {
                self.0.push(0);
                self
            }
            Some(v) => {
                self.0.push(1);
                put(self, v)
            }
        }
    }
    pub(crate) fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        self.opt(s, |e, s| e.text(s))
    }
    pub(crate) fn f64(&mut self, x: f64) -> &mut Self {
        // -0.0 and 0.0 are the same distance.
        let x = if x == 0.0 { 0.0 } else { x };
        self.0.extend_from_slice(&x.to_bits().to_le_bytes());
        self
    }
    pub(crate) fn opt_f64(&mut self, x: Option<f64>) -> &mut Self {
        self.opt(x, |e, x| e.f64(x))
    }
    pub(crate) fn i64(&mut self, x: i64) -> &mut Self {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    pub(crate) fn opt_i64(&mut self, x: Option<i64>) -> &mut Self {
        self.opt(x, |e, x| e.i64(x))
    }
    pub(crate) fn sha256_hex(&self) -> String {
        hex(&self.sha256())
    }
    pub(crate) fn sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.0).into()
    }
}

/// Properties text that is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadProperties(pub String);

/// The properties text in canonical form: compact JSON, the keys of every
/// object sorted by their UTF-8 bytes — written here explicitly, so the
/// canonical form (and every site hash) does not depend on whether a cargo
/// feature anywhere in the build (serde_json's `preserve_order`) keeps keys
/// in file order.
pub fn canonical_properties(text: &str) -> Result<String, BadProperties> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| BadProperties(format!("properties are not JSON: {e}")))?;
    if !v.is_object() {
        return Err(BadProperties("properties must be a JSON object".into()));
    }
    let mut out = String::with_capacity(text.len());
    canonical_json(&v, &mut out);
    Ok(out)
}

/// `v` as compact JSON with every object's keys sorted (see [`canonical_properties`]).
fn canonical_json(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(x) = m.get(k) {
                    canonical_json(x, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(x, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The site hash: SHA-256 (lowercase hex) of the canonical encoding of
/// every field of the site, with the geometry as WKB. `geometry_wkb` must be
/// `wkb::encode(&site.geometry)`.
pub fn site_hash_with_wkb(site: &Site, geometry_wkb: &[u8]) -> String {
    hex(&site_digest_with_wkb(site, geometry_wkb))
}

/// The site hash as raw bytes (see [`site_hash_with_wkb`]).
pub(crate) fn site_digest_with_wkb(site: &Site, geometry_wkb: &[u8]) -> [u8; 32] {
    site_digest_of(
        site,
        geometry_wkb,
        &site.properties,
        extensions_json(site).as_deref(),
    )
}

/// The site hash as raw bytes, of `site`'s fields but for three given as
/// they are stored: the geometry's WKB, the properties' text and the
/// extensions' canonical JSON ([`extensions_json`]; `None`: none set).
pub(crate) fn site_digest_of(
    site: &Site,
    geometry_wkb: &[u8],
    properties: &str,
    extensions: Option<&str>,
) -> [u8; 32] {
    // Each field's length prefix, the fixed-size fields, and room for the extensions.
    let texts = site.source.len()
        + site.id.len()
        + site.name.len()
        + site.designations.iter().map(|d| d.len() + 8).sum::<usize>()
        + geometry_wkb.len()
        + properties.len()
        + site.last_verified.as_deref().map_or(0, str::len)
        + extensions.map_or(0, |x| x.len() + 32);
    let mut e = Enc::with_capacity(texts + 256);
    e.text("nostrike-site-v1")
        .text(&site.source)
        .text(&site.id)
        .text(&site.name)
        .text(site.category.as_str())
        .text(site.protection.as_str());
    e.0.extend_from_slice(&(site.designations.len() as u64).to_le_bytes());
    for d in &site.designations {
        e.text(d);
    }
    e.bytes(geometry_wkb)
        .opt_f64(site.standoff_m)
        .f64(site.positional_accuracy_m)
        .opt_i64(site.valid_from)
        .opt_i64(site.valid_to)
        .opt_text(site.last_verified.as_deref())
        .text(properties);
    // Schema 5's fields, only when any is set: every older site hashes as before.
    if let Some(x) = extensions {
        e.text("extensions").text(x);
    }
    e.sha256()
}

/// A site's marking, external ids and inscription date as canonical JSON
/// (keys sorted: `classification`, `external_ids`, `inscribed`,
/// `releasable_to`; only those set), or `None` when none is set.
pub fn extensions_json(site: &Site) -> Option<String> {
    use serde_json::{Map, Value};
    let mut m = Map::new();
    if let Some(c) = &site.marking.classification {
        m.insert("classification".into(), Value::String(c.clone()));
    }
    if !site.external_ids.is_empty() {
        m.insert(
            "external_ids".into(),
            Value::Object(
                site.external_ids
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
        );
    }
    if let Some(d) = &site.inscribed {
        m.insert("inscribed".into(), Value::String(d.clone()));
    }
    if !site.marking.releasable_to.is_empty() {
        m.insert(
            "releasable_to".into(),
            Value::Array(
                site.marking
                    .releasable_to
                    .iter()
                    .map(|r| Value::String(r.clone()))
                    .collect(),
            ),
        );
    }
    if m.is_empty() {
        return None;
    }
    let mut out = String::new();
    canonical_json(&Value::Object(m), &mut out);
    Some(out)
}

/// Set a site's marking, external ids and inscription date from
/// [`extensions_json`]'s text.
pub fn apply_extensions(site: &mut Site, text: &str) -> Result<(), String> {
    use serde_json::Value;
    let v: Value = serde_json::from_str(text).map_err(|e| format!("extensions: {e}"))?;
    let Value::Object(m) = v else {
        return Err("extensions: not a JSON object".into());
    };
    let string = |k: &str, v: &Value| -> Result<String, String> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("extensions: {k} is not text"))
    };
    for (k, v) in &m {
        match k.as_str() {
            "classification" => site.marking.classification = Some(string(k, v)?),
            "inscribed" => site.inscribed = Some(string(k, v)?),
            "releasable_to" => {
                site.marking.releasable_to = v
                    .as_array()
                    .ok_or("extensions: releasable_to is not a list")?
                    .iter()
                    .map(|x| string(k, x))
                    .collect::<Result<_, _>>()?
            }
            "external_ids" => {
                site.external_ids = v
                    .as_object()
                    .ok_or("extensions: external_ids is not an object")?
                    .iter()
                    .map(|(id_k, id_v)| Ok((id_k.clone(), string(id_k, id_v)?)))
                    .collect::<Result<_, String>>()?
            }
            other => return Err(format!("extensions: unknown field {other:?}")),
        }
    }
    Ok(())
}

/// The site hash of a site (see [`site_hash_with_wkb`]).
pub fn site_hash(site: &Site) -> String {
    site_hash_with_wkb(site, &wkb::encode(&site.geometry))
}

/// The content hash of a set of sites from their site hashes: SHA-256 of
/// the hashes sorted ascending, each followed by a newline. Independent of
/// order and row ids; the empty registry's is SHA-256 of nothing.
pub fn content_hash<S: AsRef<str>>(site_hashes: &mut [S]) -> String {
    site_hashes.sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    let mut h = Sha256::new();
    for s in site_hashes.iter() {
        h.update(s.as_ref().as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

/// [`content_hash`] from raw digests (sorted in parallel; raw-byte order is the order of their lowercase hex).
pub(crate) fn content_hash_of_digests(digests: &mut [[u8; 32]]) -> String {
    use rayon::slice::ParallelSliceMut;
    digests.par_sort_unstable();
    let mut h = Sha256::new();
    // Each digest's hex digits and newline in one buffer: no string a site.
    let mut line = [b'\n'; 65];
    for d in digests.iter() {
        hex_digits(d, &mut line);
        h.update(line);
    }
    hex(&h.finalize())
}

/// Parse 64 lowercase hex digits into a digest.
pub(crate) fn parse_hex(text: &str) -> Option<[u8; 32]> {
    let b = text.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nib(b[2 * i])? << 4) | nib(b[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod golden {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nostrike_core::{Category, Protection};

    /// Golden vectors: a fixed site's WKB, site hash and a fixed set's
    /// content hash. A change to any canonical encoding fails here, never
    /// silently in the registries people keep (docs/REGISTRY.md defines them).
    #[test]
    fn hashes_and_wkb_are_pinned() {
        let g: geo_types::Geometry<f64> = geo_types::Point::new(1.5306, 42.511).into();
        let w = wkb::encode(&g);
        // Little-endian point: byte order 1, type 1, x, y.
        let mut want = vec![1u8, 1, 0, 0, 0];
        want.extend_from_slice(&1.5306f64.to_le_bytes());
        want.extend_from_slice(&42.511f64.to_le_bytes());
        assert_eq!(w, want);
        let mut s = Site::new("osm:way/1", "andorra", Category::ReligiousSite, g);
        s.name = "Sant Andreu".into();
        s.protection = Protection::Special;
        s.designations = vec!["national".into()];
        s.standoff_m = Some(250.0);
        s.positional_accuracy_m = 5.0;
        s.valid_from = Some(0);
        s.last_verified = Some("2026-10-02".into());
        s.properties =
            canonical_properties(r#"{"z":1,"a":{"y":[true,null],"b":"é\u0001"}}"#).unwrap();
        assert_eq!(
            s.properties,
            r#"{"a":{"b":"é\u0001","y":[true,null]},"z":1}"#
        );
        let h = site_hash(&s);
        assert_eq!(
            h,
            "98796fee49946dabf4cf12b4faba16839da8c46183e6bf52d8704cb9889a3dba"
        );
        let mut t = s.clone();
        t.id = "osm:way/2".into();
        let h2 = site_hash(&t);
        // The content hash, recomputed independently of `content_hash`.
        let mut sorted = [h.clone(), h2.clone()];
        sorted.sort();
        let text = format!("{}\n{}\n", sorted[0], sorted[1]);
        let independent = hex(&Sha256::digest(text.as_bytes()));
        assert_eq!(content_hash(&mut [h2, h]), independent);
        assert_eq!(
            independent,
            "c0d686d2ee7ea12a2de567f81133d04644597f377f361532b2dfd9239f21b24d"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: the content hash of the digests' hex strings, and the hash
    /// of the empty set (SHA-256 of nothing).
    #[test]
    fn the_content_hash_of_digests_is_the_content_hash_of_their_hex() {
        let mut digests: Vec<[u8; 32]> = (0u32..1000)
            .map(|i| Sha256::digest(i.to_le_bytes()).into())
            .collect();
        let mut texts: Vec<String> = digests.iter().map(|d| hex(d)).collect();
        texts.reverse();
        assert_eq!(
            content_hash_of_digests(&mut digests),
            content_hash(&mut texts)
        );
        assert_eq!(
            content_hash_of_digests(&mut []),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hex_is_lowercase_and_parses_back() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let d: [u8; 32] = Sha256::digest(b"nostrike").into();
        let h = hex(&d);
        // An independent encoding: the standard library's formatting.
        let by_format: String = d.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(h, by_format);
        assert_eq!(parse_hex(&h), Some(d));
    }
}
