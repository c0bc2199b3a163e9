//! The registry's public values: errors, metadata, summaries, findings.

use super::*;

/// A registry error. Every variant names the registry file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file does not exist.
    #[error("{}: no registry here (create one with `nostrike init`)", path.display())]
    Missing {
        /// The registry path.
        path: PathBuf,
    },
    /// The file exists and `init` would overwrite it.
    #[error("{}: already exists; refusing to overwrite", path.display())]
    Exists {
        /// The registry path.
        path: PathBuf,
    },
    /// The file is SQLite but not a nostrike registry, or not SQLite at all.
    #[error("{}: not a nostrike registry ({reason})", path.display())]
    Foreign {
        /// The registry path.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The registry was written by a newer nostrike.
    #[error("{}: schema version {found} is newer than this nostrike understands ({SCHEMA_VERSION}); upgrade nostrike", path.display())]
    TooNew {
        /// The registry path.
        path: PathBuf,
        /// The version found.
        found: i32,
    },
    /// The registry was written by an older nostrike and a read-only
    /// command cannot upgrade it (it never writes the registry).
    #[error("{}: schema version {found} is older than this nostrike's ({SCHEMA_VERSION}); open it once with a writing command (e.g. `nostrike verify`) to upgrade it — read-only commands never write the registry", path.display())]
    TooOld {
        /// The registry path.
        path: PathBuf,
        /// The version found.
        found: i32,
    },
    /// The registry's contents are damaged or do not match their hashes.
    #[error("{}: registry is damaged: {reason}", path.display())]
    Damaged {
        /// The registry path.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// A site given to import cannot be stored.
    #[error("{}: site {source_name}/{id}: {reason}", path.display())]
    BadSite {
        /// The registry path.
        path: PathBuf,
        /// The site's source.
        source_name: String,
        /// The site's id.
        id: String,
        /// Why.
        reason: String,
    },
    /// A source name the registry cannot hold (see [`crate::source_name_problem`]).
    #[error("{}: source {name:?} cannot be stored: {reason}", path.display())]
    BadSource {
        /// The registry path.
        path: PathBuf,
        /// The name given.
        name: String,
        /// Why.
        reason: String,
    },
    /// Another import holds the registry.
    #[error("{}: busy: an import is writing it (waited {waited_s} s); try again when it has finished", path.display())]
    Busy {
        /// The registry path.
        path: PathBuf,
        /// Seconds waited.
        waited_s: u64,
    },
    /// A revision that does not exist was asked for.
    #[error("{}: revision {revision} does not exist (the registry is at revision {current})", path.display())]
    NoSuchRevision {
        /// The registry path.
        path: PathBuf,
        /// The revision asked for.
        revision: i64,
        /// The current revision.
        current: i64,
    },
    /// The registry could not be read (busy, locked, I/O): it may be sound.
    #[error("{}: could not be read: {reason}", path.display())]
    Unreadable {
        /// The registry path.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// An SQLite error.
    #[error("{}: {cause}", path.display())]
    Sqlite {
        /// The registry path.
        path: PathBuf,
        /// The cause (named in the message, so not also a `source()`).
        cause: rusqlite::Error,
    },
    /// The shared registry on PostgreSQL could not be reached, read or written.
    #[error("registry {url}: {reason}")]
    Shared {
        /// The registry's URL, without its password.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// Metadata of a source (a dataset sites come from).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceMeta {
    /// Name (unique).
    pub name: String,
    /// What the source is.
    pub description: Option<String>,
    /// Licence of the data.
    pub licence: Option<String>,
    /// Required attribution.
    pub attribution: Option<String>,
    /// Where it came from.
    pub url: Option<String>,
    /// The region the source claims to be complete for, if declared.
    pub coverage: Option<SourceCoverage>,
}

/// A source's declared coverage: where it claims to hold every protected site.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceCoverage {
    /// A Polygon or MultiPolygon as canonical WKB (WGS84 lon/lat).
    pub wkb: Vec<u8>,
    /// How it was declared, in words (a file and its SHA-256, or the
    /// features' extent and its buffer).
    pub how: String,
}

/// What an import batch records about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchMeta {
    /// The file imported (as given).
    pub file_name: String,
    /// SHA-256 of the file's bytes (hex).
    pub file_sha256: String,
    /// Format name.
    pub format: String,
    /// Who imported it.
    pub operator: String,
    /// Seconds since the Unix epoch (UTC).
    pub imported_at: i64,
    /// Retire the source's live sites missing from this batch.
    pub replace: bool,
}

/// Counts and identity of a finished import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Batch number.
    pub batch: i64,
    /// The file imported, as given.
    pub file_name: String,
    /// The source its sites belong to.
    pub source: String,
    /// Sites added.
    pub added: usize,
    /// Sites whose content changed.
    pub updated: usize,
    /// Sites retired (`replace`).
    pub retired: usize,
    /// Sites identical to what was stored.
    pub unchanged: usize,
    /// Registry revision after the import.
    pub revision: i64,
    /// Content hash after the import.
    pub content_hash: Digest,
}

/// One import batch as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchInfo {
    /// Batch number.
    pub id: i64,
    /// Registry revision after the batch.
    pub revision: i64,
    /// Source name.
    pub source: String,
    /// File name.
    pub file_name: String,
    /// SHA-256 of the file.
    pub file_sha256: String,
    /// Format.
    pub format: String,
    /// Whether it was a `--replace` import.
    pub replace: bool,
    /// What the batch did to its source's sites.
    pub counts: BatchCounts,
    /// Seconds since the Unix epoch (UTC).
    pub imported_at: i64,
    /// Who imported it.
    pub operator: String,
    /// Content hash after the batch.
    pub content_hash: Digest,
}

/// How many sites a batch added, updated, retired and left unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchCounts {
    /// Sites added.
    pub added: i64,
    /// Sites whose content changed.
    pub updated: i64,
    /// Sites retired (`--replace`).
    pub retired: i64,
    /// Sites identical to what was stored.
    pub unchanged: i64,
}

/// One entry of a site's history.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEntry {
    /// Entry number in the log.
    pub seq: i64,
    /// Batch it belongs to.
    pub batch: i64,
    /// Revision it created.
    pub revision: i64,
    /// What the entry did.
    pub kind: ChangeKind,
    /// Site hash before (none when added).
    pub hash_before: Option<String>,
    /// Site hash after (none when retired).
    pub hash_after: Option<String>,
    /// The site as it became (none when retired).
    pub site: Option<Site>,
    /// When the batch was imported (seconds since the Unix epoch, UTC).
    pub imported_at: i64,
    /// Who imported it.
    pub operator: String,
    /// The file it came from.
    pub file_name: String,
}

/// What part of a registry a [`Finding`] concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingKind {
    /// SQLite's own integrity check.
    Integrity,
    /// The change log's hash chain.
    Chain,
    /// A live site row.
    Site,
    /// The recorded content hash.
    ContentHash,
    /// The recorded revision.
    Revision,
    /// The source log (licence, attribution, description, URL).
    Source,
    /// The packed index.
    Packed,
    /// The link log and the links table.
    Link,
}

impl FindingKind {
    /// The name `verify` prints: `integrity`, `chain`, `site`,
    /// `content_hash`, `revision`, `source`, `packed` or `link`.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Integrity => "integrity",
            FindingKind::Chain => "chain",
            FindingKind::Site => "site",
            FindingKind::ContentHash => "content_hash",
            FindingKind::Revision => "revision",
            FindingKind::Source => "source",
            FindingKind::Packed => "packed",
            FindingKind::Link => "link",
        }
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What part of the registry it concerns.
    pub kind: FindingKind,
    /// Where and what.
    pub detail: String,
}

impl Finding {
    /// A finding of `kind`.
    pub fn new(kind: FindingKind, detail: impl Into<String>) -> Finding {
        Finding {
            kind,
            detail: detail.into(),
        }
    }
}

/// Counts for `stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Revision.
    pub revision: i64,
    /// Content hash.
    pub content_hash: Digest,
    /// Live sites.
    pub sites: i64,
    /// Live sites by category.
    pub by_category: Vec<(String, i64)>,
    /// Live sites by source.
    pub by_source: Vec<(String, i64)>,
    /// Live sites by protection level.
    pub by_protection: Vec<(String, i64)>,
    /// Import batches.
    pub batches: i64,
    /// Change-log entries.
    pub changes: i64,
}

/// Sites loaded into the core index with the registry state they came from.
#[derive(Debug)]
pub struct LoadedIndex {
    /// The index.
    pub index: SiteIndex,
    /// Registry revision.
    pub revision: i64,
    /// Content hash (recomputed from the rows and equal to the recorded one).
    pub content_hash: Digest,
}

/// The packed index of the live sites, opened for a check, with the registry state it was built from.
#[derive(Debug)]
pub struct PackedSites {
    /// The index; its chunks are read on first use inside one read transaction, so a check sees one revision.
    pub index: PackedIndex,
    /// Registry revision.
    pub revision: i64,
    /// Content hash (hex), as recorded and as the image records it.
    pub content_hash: Digest,
}

/// What [`Registry::verify_state`] found, and the state it read.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Every finding (empty when all is well).
    pub findings: Vec<Finding>,
    /// The revision of the commit the checks read.
    pub revision: i64,
    /// The content hash recorded at that commit (`None`: unreadable).
    pub content_hash: Option<Digest>,
}
