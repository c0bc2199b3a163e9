//! An analyst's decisions about single sites, recorded as logged changes:
//! a re-verification moves `last_verified` (so the site's hash, the content
//! hash and the revision move, and the log says who and when).

use nostrike_core::Site;
use nostrike_store::{BatchMeta, ImportSummary, Registry, SourceMeta, StoreError};

/// Why a curation could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum CurateError {
    /// The registry failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No live site has that key.
    #[error("{registry}: no live site {key:?} (give SOURCE/ID; `nostrike sites` lists them)")]
    NoSite {
        /// The registry.
        registry: String,
        /// The key given.
        key: String,
    },
    /// The id names sites in several sources.
    #[error("{registry}: {key:?} is a site of several sources ({sources}); give SOURCE/ID")]
    Ambiguous {
        /// The registry.
        registry: String,
        /// The key given.
        key: String,
        /// The sources, comma separated.
        sources: String,
    },
    /// The date is not a date, or lies in the future.
    #[error("--date {date:?}: {reason}")]
    BadDate {
        /// The text given.
        date: String,
        /// Why.
        reason: String,
    },
}

/// The live site `key` names: `SOURCE/ID`, or an `ID` unique across sources.
pub fn find_site(registry: &Registry, key: &str) -> Result<Site, CurateError> {
    let (mut all, _, _) = registry.live_sites()?;
    // SOURCE/ID first (ids may hold '/': "osm:way/45"), then an ID alone.
    let exact = key
        .split_once('/')
        .and_then(|(source, id)| all.iter().position(|s| s.source == source && s.id == id));
    if let Some(i) = exact {
        return Ok(all.swap_remove(i));
    }
    let mut matching: Vec<Site> = all.into_iter().filter(|s| s.id == key).collect();
    match matching.len() {
        1 => Ok(matching.remove(0)),
        0 => Err(CurateError::NoSite {
            registry: registry.path().display().to_string(),
            key: key.to_string(),
        }),
        _ => Err(CurateError::Ambiguous {
            registry: registry.path().display().to_string(),
            key: key.to_string(),
            sources: matching
                .iter()
                .map(|s| s.source.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Record that `by` re-verified the site `key` on `date` (ISO 8601, not in
/// the future): its `last_verified` becomes `date`, as one logged batch
/// (format `verify-site`, operator `by`) and a new revision.
pub fn verify_site(
    registry: &mut Registry,
    key: &str,
    date: &str,
    by: &str,
) -> Result<ImportSummary, CurateError> {
    let bad = |reason: String| CurateError::BadDate {
        date: date.to_string(),
        reason,
    };
    let t = nostrike_core::time::parse_utc(date.trim()).map_err(|e| bad(e.to_string()))?;
    if t > nostrike_core::time::now() {
        return Err(bad("lies in the future".into()));
    }
    let mut site = find_site(registry, key)?;
    site.last_verified = Some(date.trim().to_string());
    let source = registry
        .sources()?
        .into_iter()
        .find(|m| m.name == site.source)
        .unwrap_or_else(|| SourceMeta {
            name: site.source.clone(),
            ..SourceMeta::default()
        });
    let meta = BatchMeta {
        file_name: format!("verify-site {}/{}", site.source, site.id),
        file_sha256: String::new(),
        format: "verify-site".into(),
        operator: by.to_string(),
        imported_at: nostrike_core::time::now(),
        replace: false,
    };
    let mut session = registry.begin_import()?;
    let file = session.file(&source, &meta);
    session.push(file, site, 0)?;
    let mut out = session.commit()?;
    Ok(out.remove(0))
}

/// Why a link could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A site could not be found.
    #[error(transparent)]
    Curate(#[from] CurateError),
    /// The registry failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Linking a site to another of its own source, or to itself.
    #[error("{a} and {b} are of the same source: links join records of different sources")]
    SameSource {
        /// The first site.
        a: String,
        /// The second site.
        b: String,
    },
    /// Already linked, or not linked.
    #[error("{a} and {b} are {state}")]
    State {
        /// The first site.
        a: String,
        /// The second site.
        b: String,
        /// "already linked" or "not linked".
        state: &'static str,
    },
}

/// Record an analyst's decision that sites `a` and `b` (of different
/// sources) are the same place (`link`), or withdraw it: one entry of the
/// link log, one batch (format `link`/`unlink`, operator `by`) and a new revision.
pub fn link(
    registry: &mut Registry,
    a: &str,
    b: &str,
    link: bool,
    by: &str,
    note: Option<&str>,
) -> Result<ImportSummary, LinkError> {
    // An unlink may name a site that has since been retired.
    let resolve = |given: &str| -> Result<(String, Option<String>), CurateError> {
        match find_site(registry, given) {
            Ok(s) => Ok((format!("{}/{}", s.source, s.id), Some(s.source))),
            Err(CurateError::NoSite { .. }) if !link => Ok((given.to_string(), None)),
            Err(e) => Err(e),
        }
    };
    let ((ka, src_a), (kb, src_b)) = (resolve(a)?, resolve(b)?);
    if src_a.is_some() && src_a == src_b {
        return Err(LinkError::SameSource { a: ka, b: kb });
    }
    let (lo, hi) = if ka <= kb { (&ka, &kb) } else { (&kb, &ka) };
    let linked = registry
        .links_at(None)?
        .iter()
        .any(|(x, y)| x == lo && y == hi);
    if linked == link {
        return Err(LinkError::State {
            a: ka.clone(),
            b: kb.clone(),
            state: if link { "already linked" } else { "not linked" },
        });
    }
    let source_name = lo.split_once('/').map_or(lo.as_str(), |(s, _)| s);
    let source = registry
        .sources()?
        .into_iter()
        .find(|m| m.name == source_name)
        .unwrap_or_else(|| SourceMeta {
            name: source_name.to_string(),
            ..SourceMeta::default()
        });
    let meta = BatchMeta {
        file_name: format!("{} {lo} {hi}", if link { "link" } else { "unlink" }),
        file_sha256: String::new(),
        format: if link { "link" } else { "unlink" }.into(),
        operator: by.to_string(),
        imported_at: nostrike_core::time::now(),
        replace: false,
    };
    let mut session = registry.begin_import()?;
    let file = session.file(&source, &meta);
    session.link(file, link, lo, hi, by, note);
    let mut out = session.commit()?;
    Ok(out.remove(0))
}
