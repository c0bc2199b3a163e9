//! # nostrike-app
//!
//! The application layer the command line (and later a server) calls:
//! [`Snapshot`] — the registry as one check sees it — and the [`report`]
//! writers over one report model.
#![deny(missing_docs)]

pub mod report;
mod snapshot;

pub use snapshot::{AsOf, Snapshot};
