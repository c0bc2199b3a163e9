//! The HTML report: one self-contained file — the maps (pan, zoom, click a
//! site for its record), the hit tables and the full JSON report — that
//! opens from a USB stick with no network. Scripts and styles are inline
//! and pinned by hash in its Content-Security-Policy, which allows no
//! origin at all: the page cannot fetch anything.

use std::fmt::Write as _;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::map::{self, MapError};
use crate::report::{verdict_word, xml, Report};

/// The page's script: pan and zoom on each map, a site's record on click.
pub const SCRIPT: &str = include_str!("../assets/report.js");
/// The page's styles, print included.
pub const STYLE: &str = include_str!("../assets/report.css");

/// Standard base64 (RFC 4648, padded), for CSP hashes.
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                o.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

/// The CSP source of an inline script or style: `'sha256-…'`.
pub fn csp_hash(text: &str) -> String {
    format!("'sha256-{}'", base64(&Sha256::digest(text.as_bytes())))
}

/// The Content-Security-Policy of a page whose only script and style are
/// `script` and `style`: nothing may be loaded from anywhere (but images
/// from `img_origin`, the operator's tile server, when given).
pub fn csp(script: &str, style: &str, img_origin: Option<&str>) -> String {
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src data:{}; base-uri 'none'; form-action 'none'",
        csp_hash(script),
        csp_hash(style),
        img_origin.map(|o| format!(" {o}")).unwrap_or_default()
    )
}

/// JSON made safe inside a `<script type="application/json">` element:
/// `<` (the only character that could end it) escaped, which JSON allows
/// only inside strings, where `\u003c` means the same.
pub fn script_json(s: &str) -> String {
    s.replace('<', "\\u003c")
}

/// The HTML report.
pub fn html(r: &Report<'_>) -> Result<String, MapError> {
    if r.areas.len() > map::MAX_PANELS {
        return Err(MapError::TooManyAreas(r.areas.len()));
    }
    let mut json = Vec::new();
    crate::report::write_json(r, &mut json, false).map_err(|e| MapError::Other(e.to_string()))?;
    let json = String::from_utf8(json).map_err(|e| MapError::Other(e.to_string()))?;
    let banner = xml(&r.banner.text());
    let mut body = String::new();
    let mut records = serde_json::Map::new();
    let _ = write!(
        body,
        "<div class=\"banner\">{banner}</div><header><h1>{}</h1>",
        xml(&map::header_lines(r)[0])
    );
    for line in &map::header_lines(r)[1..] {
        let _ = write!(body, "<p>{}</p>", xml(line));
    }
    body.push_str("</header>");
    for k in 0..r.areas.len() {
        let res = &r.results[k];
        let p = map::panel(r, k)?;
        for &i in &p.context_sites {
            let l = r.index.label(i)?;
            records.insert(
                l.key(),
                json!({"name": l.name, "category": l.category.as_str(), "protection": l.protection.as_str(), "last_verified": l.last_verified, "within_reach": false}),
            );
        }
        let _ = write!(
            body,
            "<section class=\"area\" data-area=\"{k}\" data-verdict=\"{}\"><h2 class=\"verdict-{}\">{}</h2><div class=\"toolbar\"><button type=\"button\" data-zoom=\"in\" aria-label=\"zoom in\">+</button><button type=\"button\" data-zoom=\"out\" aria-label=\"zoom out\">−</button><button type=\"button\" data-zoom=\"reset\">reset view</button> <span class=\"hint\">drag to pan, wheel to zoom, click a site for its record</span></div><div class=\"mapwrap\">{}<aside class=\"record\" aria-live=\"polite\"><p class=\"hint\">Click a site on the map.</p></aside></div>",
            res.verdict.as_str(),
            res.verdict.as_str(),
            xml(&map::area_title(r, k)),
            p.svg
        );
        if res.hits.is_empty() {
            body.push_str("<p class=\"none\">No protected site within reach.</p>");
        } else {
            body.push_str("<table class=\"hits\"><thead><tr><th>#</th><th>verdict</th><th>site</th><th>id</th><th>category</th><th>protection</th><th>distance</th><th>required</th><th>margin</th><th>bearing</th><th>notes</th></tr></thead><tbody>");
            for (n, h) in res.hits.iter().enumerate() {
                let l = r.index.label(h.site)?;
                let mut notes = Vec::new();
                if let Some(st) = &h.stale {
                    notes.push(format!(
                        "STALE: last verified {}, allowed {} days",
                        st.last_verified.as_deref().unwrap_or("never"),
                        st.max_age_days
                    ));
                }
                if let Some(g) = r.groups.of_site(h.site).filter(|_| r.partner.is_none()) {
                    if !g.disagreement.is_empty() {
                        notes.push("sources disagree (see the JSON report)".to_string());
                    }
                }
                let _ = write!(
                    body,
                    "<tr class=\"hit verdict-{}\" data-key=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} m</td><td>{:.1} m</td><td>{:.1} m</td><td>{}</td><td>{}</td></tr>",
                    h.verdict.as_str(),
                    xml(&l.key()),
                    n + 1,
                    verdict_word(h.verdict),
                    xml(&l.name),
                    xml(&l.key()),
                    l.category.as_str(),
                    l.protection.as_str(),
                    h.distance_m,
                    h.required_m,
                    h.margin_m,
                    h.bearing_deg.map(|b| format!("{b:.0}°")).unwrap_or_else(|| "—".into()),
                    xml(&notes.join("; "))
                );
            }
            body.push_str("</tbody></table>");
        }
        if let Some(w) = r.withheld_sentence(k) {
            let _ = write!(body, "<p class=\"withheld\">WITHHELD: {}</p>", xml(&w));
        }
        if let Some(note) = &p.imagery {
            let _ = write!(body, "<p class=\"small imagery\">{}</p>", xml(note));
        }
        let _ = write!(
            body,
            "<p class=\"small\">{} neighbouring site(s) drawn in grey{}.</p></section>",
            p.context_drawn,
            if p.context_left_out > 0 {
                format!("; {} more within the map not drawn", p.context_left_out)
            } else {
                String::new()
            }
        );
    }
    body.push_str("<section class=\"legend\"><h2>Legend</h2><ul>");
    for (_, _, _, words) in map::legend_entries() {
        let _ = write!(body, "<li>{}</li>", xml(words));
    }
    let _ = write!(body, "</ul><p class=\"small\">Maps: azimuthal equidistant projection centred on each area (distances from the centre are true). Basemap: Natural Earth 1:110m countries (public domain), shown when a map is wider than {} km. Nothing on this page is fetched from a network.</p></section>", 2.0 * map::BASEMAP_MIN_HALF_WIDTH_M / 1000.0);
    body.push_str("<details class=\"json\"><summary>Full JSON report</summary><pre id=\"json-view\"></pre></details>");
    let _ = write!(body, "<div class=\"banner\">{banner}</div>");
    let records = serde_json::Value::Object(records).to_string();
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{}\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} — nostrike check {} — {}</title><style>{STYLE}</style></head><body>{body}<script type=\"application/json\" id=\"report-json\">{}</script><script type=\"application/json\" id=\"site-records\">{}</script><script>{SCRIPT}</script></body></html>\n",
        csp(SCRIPT, STYLE, r.tiles.and_then(|t| t.origin()).as_deref()),
        banner,
        xml(&r.checked_at),
        verdict_word(r.verdict),
        script_json(json.trim_end()),
        script_json(&records)
    ))
}

/// Write the HTML report.
pub fn write_html(r: &Report<'_>, mut w: impl std::io::Write) -> std::io::Result<()> {
    let s = html(r).map_err(std::io::Error::other)?;
    w.write_all(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o, "{i:?}");
        }
    }

    #[test]
    fn script_json_cannot_close_its_element() {
        let s = serde_json::json!({"name": "</script><script>alert(1)</script>"}).to_string();
        let safe = script_json(&s);
        assert!(!safe.contains("</"));
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back["name"], "</script><script>alert(1)</script>");
    }
}
