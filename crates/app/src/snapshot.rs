//! The registry as one check sees it: the site set, its revision and
//! content hash, and the time site validity is judged at.

use std::path::Path;

use nostrike_core::{Coverage, SiteIndex, SiteSet};
use nostrike_store::{Digest, Registry};

/// `--as-of`: a revision number, or a UTC time (a bare date is 00:00 UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Registry revision.
    Revision(i64),
    /// Seconds since the Unix epoch, UTC.
    Time(i64),
}

/// Text that is neither a revision number nor a UTC time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadAsOf(String);

impl std::str::FromStr for AsOf {
    type Err = BadAsOf;
    fn from_str(s: &str) -> Result<AsOf, BadAsOf> {
        match s.trim().parse::<i64>() {
            Ok(r) if r >= 0 => Ok(AsOf::Revision(r)),
            Ok(r) => Err(BadAsOf(format!("revision {r} is negative"))),
            Err(_) => nostrike_core::time::parse_utc(s)
                .map(AsOf::Time)
                .map_err(|e| {
                    BadAsOf(format!(
                        "{e} (give a revision number or a UTC time such as 2026-03-01T14:00:00Z)"
                    ))
                }),
        }
    }
}

impl std::fmt::Display for AsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AsOf::Revision(r) => write!(f, "{r}"),
            AsOf::Time(t) => f.write_str(&nostrike_core::time::format_utc(*t)),
        }
    }
}

/// The sites a check runs against: the registry's packed index, read in
/// place (the usual case), or sites decoded from the rows (a past
/// revision, or a registry written before the packed index existed).
enum Sites {
    /// The packed index, chunks verified as they are read.
    Packed(Box<nostrike_core::PackedIndex>),
    /// Sites held in memory.
    Memory(Box<SiteIndex>),
}

/// Why a registry cannot be checked against.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The registry is missing, foreign, damaged or unreadable.
    #[error(transparent)]
    Store(#[from] nostrike_store::StoreError),
    /// A past revision's sites cannot be indexed.
    #[error("{}: {cause}", path.display())]
    Index {
        /// The registry.
        path: std::path::PathBuf,
        /// Which site and why.
        cause: nostrike_core::IndexError,
    },
    /// No sites: a check against nothing is not a clear.
    #[error("{}: the registry has no sites{}; a check against nothing is not a clear", path.display(), if as_of.is_some() { " at that revision" } else { "" })]
    Empty {
        /// The registry.
        path: std::path::PathBuf,
        /// The revision or time asked for, if any.
        as_of: Option<AsOf>,
    },
}

/// A registry opened read-only for checks: what a report names and what
/// the checker reads.
pub struct Snapshot {
    sites: Sites,
    /// The registry revision checked against.
    pub revision: i64,
    /// The content hash of the sites checked against.
    pub content_hash: Digest,
    /// The time `--as-of` named (seconds since the Unix epoch, UTC), if it named one.
    pub as_of_time: Option<i64>,
    /// The sources' declared coverage at the snapshot's revision.
    pub coverage: Coverage,
    /// Each source with a declared coverage and how it was declared, in name order.
    pub declared: Vec<DeclaredCoverage>,
    /// When each source was last imported (seconds since the Unix epoch, UTC), at the snapshot's revision.
    pub last_import: std::collections::BTreeMap<String, i64>,
    /// The links between sites (`SOURCE/ID` pairs) at the snapshot's revision.
    pub links: Vec<(String, String)>,
    /// The state a signature of this snapshot must cover (`None` for a
    /// past revision, or when the registry moved while it was opened).
    pub signed_state: Option<nostrike_store::SignedState>,
    /// Every signature stored in the registry.
    pub signatures: Vec<nostrike_store::StoredSignature>,
    /// Each declaring source's coverage polygon(s) (lon/lat), for maps.
    pub coverage_shapes: Vec<(String, geo_types::Geometry<f64>)>,
}

/// A source's declared coverage, as a report names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeclaredCoverage {
    /// The source.
    pub source: String,
    /// How the coverage was declared.
    pub how: String,
}

impl Snapshot {
    /// Open the registry at `path` read-only, as it is or as it was at
    /// `as_of`, failing on anything it cannot vouch for: a missing, foreign,
    /// damaged or empty registry is an error, never an empty set.
    pub fn open(path: &Path, as_of: Option<AsOf>) -> Result<Snapshot, SnapshotError> {
        // The packed index: its chunk list must hash to the recorded root, it
        // must have been built from the current revision and content hash, and
        // each chunk is checked against its hash before use. Without one, every
        // live row is read, decoded and hashed and the content hash recomputed
        // (load_index / live_sites). SQLite's full integrity_check runs in `nostrike verify`.
        let reg = Registry::open_read_only(path)?;
        let mut snapshot = match as_of {
            None => match reg.load_packed()? {
                Ok(p) => Snapshot {
                    sites: Sites::Packed(Box::new(p.index)),
                    revision: p.revision,
                    content_hash: p.content_hash,
                    as_of_time: None,
                    coverage: Coverage::none(),
                    declared: Vec::new(),
                    last_import: Default::default(),
                    links: Vec::new(),
                    signed_state: None,
                    signatures: Vec::new(),
                    coverage_shapes: Vec::new(),
                },
                Err(reg) => {
                    let l = reg.load_index()?;
                    Snapshot {
                        sites: Sites::Memory(Box::new(l.index)),
                        revision: l.revision,
                        content_hash: l.content_hash,
                        as_of_time: None,
                        coverage: Coverage::none(),
                        declared: Vec::new(),
                        last_import: Default::default(),
                        links: Vec::new(),
                        signed_state: None,
                        signatures: Vec::new(),
                        coverage_shapes: Vec::new(),
                    }
                }
            },
            Some(as_of) => {
                let (rev, t) = match as_of {
                    AsOf::Revision(r) => (r, None),
                    AsOf::Time(t) => (reg.revision_at(t)?, Some(t)),
                };
                // The current data must be sound before the log is trusted to rebuild the past.
                reg.live_sites()?;
                let sites = reg.as_of(rev)?;
                let mut hashes: Vec<String> = sites.iter().map(nostrike_store::site_hash).collect();
                let content = nostrike_store::content_hash(&mut hashes)
                    .parse::<Digest>()
                    .map_err(|e| nostrike_store::StoreError::Damaged {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    })?;
                let index = SiteIndex::build(sites).map_err(|cause| SnapshotError::Index {
                    path: path.to_path_buf(),
                    cause,
                })?;
                Snapshot {
                    sites: Sites::Memory(Box::new(index)),
                    revision: rev,
                    content_hash: content,
                    as_of_time: t,
                    coverage: Coverage::none(),
                    declared: Vec::new(),
                    last_import: Default::default(),
                    links: Vec::new(),
                    signed_state: None,
                    signatures: Vec::new(),
                    coverage_shapes: Vec::new(),
                }
            }
        };
        // Coverage and import times exactly as they stood at the revision the sites came from.
        let reg = Registry::open_read_only(path)?;
        for b in reg.log(0)? {
            // Imports only: a coverage or re-verification batch brings no new data.
            if b.revision <= snapshot.revision
                && !matches!(b.format.as_str(), "coverage" | "verify-site")
            {
                let t = snapshot
                    .last_import
                    .entry(b.source)
                    .or_insert(b.imported_at);
                *t = (*t).max(b.imported_at);
            }
        }
        snapshot.links = reg.links_at(Some(snapshot.revision))?;
        snapshot.signatures = reg.signatures()?;
        if as_of.is_none() {
            let st = reg.signed_state()?;
            // Only the state the sites were read at can be vouched for.
            if st.revision == snapshot.revision && snapshot.content_hash == st.content_hash {
                snapshot.signed_state = Some(st);
            }
        }
        for (source, c) in reg.coverage_at(Some(snapshot.revision))? {
            let damaged = |reason: String| nostrike_store::StoreError::Damaged {
                path: path.to_path_buf(),
                reason: format!("source {source:?}: its coverage {reason}; run `nostrike verify`"),
            };
            let g = nostrike_core::wkb::decode(&c.wkb).map_err(|e| damaged(e.to_string()))?;
            snapshot
                .coverage
                .add(&source, &g)
                .map_err(|e| damaged(e.to_string()))?;
            snapshot.coverage_shapes.push((source.clone(), g));
            snapshot
                .declared
                .push(DeclaredCoverage { source, how: c.how });
        }
        if snapshot.sites().is_empty() {
            return Err(SnapshotError::Empty {
                path: path.to_path_buf(),
                as_of,
            });
        }
        Ok(snapshot)
    }

    /// The set to check against.
    pub fn sites(&self) -> &dyn SiteSet {
        match &self.sites {
            Sites::Packed(p) => p.as_ref(),
            Sites::Memory(m) => m.as_ref(),
        }
    }
}
