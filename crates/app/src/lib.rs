//! # nostrike-app
//!
//! The application layer the command line and `nostrike serve` call:
//! the [`Importer`] (files → registry), [`Snapshot`] — the registry as one
//! check sees it — the [`report`] writers over one report model, the map
//! reports ([`map`], [`html`]), Cursor on Target ([`cot`]), signatures
//! ([`signing`]) and offline copies ([`pull`]).
#![deny(missing_docs)]

pub mod cot;
pub mod coverage;
pub mod curate;
pub mod duplicates;
pub mod groups;
pub mod html;
mod import;
pub mod map;
pub mod marking;
pub mod pull;
pub mod report;
pub mod signing;
mod snapshot;
pub mod spill;
pub mod tiles;

pub use import::{
    sha256_file, ImportError, ImportObserver, ImportOptions, ImportOutcome, ImportTimings,
    Importer, MAX_ERRORS_KEPT,
};
pub use snapshot::{AsOf, BadAsOf, DeclaredCoverage, Snapshot, SnapshotError};
