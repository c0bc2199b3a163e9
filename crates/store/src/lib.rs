//! # nostrike-store
//!
//! The registry: one SQLite file holding protected sites, their sources,
//! every import batch and an append-only, hash-chained change log.
//!
//! - **Revision**: rises by one per import batch that changed something.
//! - **Content hash**: SHA-256 over the live sites' canonical hashes
//!   (`docs/REGISTRY.md` says exactly how to recompute it from an export).
//! - **Change log**: one entry per added, updated or retired site, each
//!   holding the site as it became and chained by SHA-256 to the entry
//!   before, so an edit or removal anywhere breaks the chain; [`Registry::verify`]
//!   finds it, and [`Registry::as_of`] rebuilds any past revision from it.
//!
//! - **Source log**: every change to a source's description, licence,
//!   attribution or URL, hash-chained the same way, so `verify` names an
//!   edit of the `sources` table made behind the tool's back.
//!
//! Imports are all-or-nothing (one transaction); the database runs in WAL
//! mode with `synchronous=FULL`, so readers see one whole revision and an
//! acknowledged import survives a crash.
#![deny(missing_docs)]

mod canonical;
mod digest;
mod links;
mod registry;
#[cfg(feature = "postgres")]
pub mod shared;
mod signatures;
mod sources;

pub use canonical::{canonical_properties, content_hash, hex, site_hash, BadProperties};
pub use digest::{BadDigest, Digest};
pub use links::LinkEntry;
pub use registry::{
    BatchCounts, BatchInfo, BatchMeta, ChangeEntry, ChangeKind, FileHandle, Finding, FindingKind,
    ImportSession, ImportSummary, LoadedIndex, PackedSites, PullCounts, Registry, SourceCoverage,
    SourceMeta, Stats, StoreError, UnknownChangeKind, Verified, APPLICATION_ID, SCHEMA_VERSION,
};
pub use signatures::{SignedState, StoredSignature};
pub use sources::source_name_problem;
