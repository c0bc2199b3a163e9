//! The import: files read once, streaming, on their own thread; features
//! mapped to sites, de-duplicated, batched per (file, source) and stored in
//! one transaction that is committed only if nothing was invalid (or the
//! invalid features are to be skipped). Memory stays bounded whatever the
//! file size.

use crate::coverage::{CoverageSpec, Extent};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nostrike_core::Site;
use nostrike_formats::{
    read_features, FeatureError, Format, Mapping, RawFeature, ReadError, ReadOptions,
};
use nostrike_store::{BatchMeta, FileHandle, ImportSummary, Registry, SourceMeta, StoreError};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How many feature errors an [`ImportError::Invalid`] keeps (all are counted).
pub const MAX_ERRORS_KEPT: usize = 200;

/// Features handed from the reading thread to the storing one at a time.
const HAND_OVER: usize = 1024;

/// What to import and how; everything but the operator has a default.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The files' format; `None` detects each file's.
    pub format: Option<Format>,
    /// How properties map to site fields; `None` is the default mapping,
    /// and nostrike's own exports are then read back exactly.
    pub mapping: Option<Mapping>,
    /// The source every site belongs to; `None` takes each feature's
    /// `source` property, else the file's stem.
    pub source: Option<String>,
    /// Retire the source's live sites that the files leave out.
    pub replace: bool,
    /// Import the valid features and report the others instead of refusing the whole import.
    pub skip_invalid: bool,
    /// CSV latitude column (else the mapping's, else the reader's default).
    pub lat_column: Option<String>,
    /// CSV longitude column.
    pub lon_column: Option<String>,
    /// CSV WKT column.
    pub wkt_column: Option<String>,
    /// CSV delimiter (else detected).
    pub delimiter: Option<u8>,
    /// The CRS to assume for a shapefile without `.prj`.
    pub assume_crs: Option<String>,
    /// The sources' licence (else what the file states, else the format's: ODbL for OSM).
    pub licence: Option<String>,
    /// The sources' required attribution.
    pub attribution: Option<String>,
    /// What the sources are.
    pub description: Option<String>,
    /// Where the sources came from.
    pub url: Option<String>,
    /// Who imports, as the log records it.
    pub operator: String,
    /// The coverage to declare for every source of the import: a GeoJSON
    /// polygon file, or the extent of the imported features (buffered).
    pub coverage: Option<CoverageSpec>,
    /// The classification of every site that does not carry its own.
    pub classification: Option<String>,
    /// Who every site without its own list may be released to.
    pub releasable_to: Vec<String>,
}

/// What an import tells its caller while it runs.
pub trait ImportObserver {
    /// `features` of `file` have been read so far (called every ten thousand).
    fn progress(&mut self, _file: &Path, _features: usize) {}
    /// A feature could not be imported. An error here stops the import.
    fn rejected(&mut self, _error: &FeatureError) -> std::io::Result<()> {
        Ok(())
    }
}

/// An observer that wants to know nothing.
impl ImportObserver for () {}

/// Where an import's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ImportTimings {
    /// Reading, parsing, mapping and validating (overlapping the storing).
    pub read: Duration,
    /// Storing sites and log entries.
    pub store: Duration,
    /// The commit: packing, the content hash, the durable write.
    pub commit: Duration,
}

/// A finished import.
#[derive(Debug, Clone)]
pub struct ImportOutcome {
    /// One summary per batch (file and source), in the order stored.
    pub batches: Vec<ImportSummary>,
    /// Features read from all files, valid or not.
    pub features: usize,
    /// Features skipped as invalid (only with [`ImportOptions::skip_invalid`]).
    pub rejected: usize,
    /// Where the time went.
    pub timings: ImportTimings,
}

/// Why an import stopped; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The registry refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be read as a whole.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A file could not be hashed.
    #[error("{}: {cause}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        cause: std::io::Error,
    },
    /// The observer failed to take a rejected feature (e.g. its rejects file).
    #[error("{cause}")]
    Observer {
        /// What went wrong.
        cause: std::io::Error,
    },
    /// A file held no features at all.
    #[error("{}: no features found; nothing to import", file.display())]
    Empty {
        /// The file.
        file: PathBuf,
    },
    /// The reading thread panicked.
    #[error("{}: the reading thread failed", file.display())]
    ReaderFailed {
        /// The file.
        file: PathBuf,
    },
    /// `replace` without a named source: which source's sites to retire is unknown.
    #[error("--replace retires the source's sites that are missing from the new data, so the source must be named: give --source NAME")]
    ReplaceNeedsSource,
    /// Features were invalid and `skip_invalid` was not given.
    #[error("{count} invalid feature(s); nothing was imported (use --skip-invalid --rejects FILE to import the valid ones):\n{}", list(kept, *count))]
    Invalid {
        /// How many features were invalid.
        count: usize,
        /// The first [`MAX_ERRORS_KEPT`] of them.
        kept: Vec<FeatureError>,
    },
    /// The declared coverage cannot be used.
    #[error(transparent)]
    Coverage(#[from] crate::coverage::CoverageError),
}

fn list(kept: &[FeatureError], count: usize) -> String {
    let mut s = kept
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n");
    if count > kept.len() {
        s.push_str(&format!("\n  … and {} more", count - kept.len()));
    }
    s
}

/// Imports files into a registry: see the module documentation.
#[derive(Debug, Clone)]
pub struct Importer {
    options: ImportOptions,
}

/// Feature errors: the first ones kept, all counted, each shown to the observer.
struct Errors<'o> {
    kept: Vec<FeatureError>,
    count: usize,
    observer: &'o mut dyn ImportObserver,
}

impl Errors<'_> {
    fn push(&mut self, e: FeatureError) -> Result<(), ImportError> {
        self.count += 1;
        self.observer
            .rejected(&e)
            .map_err(|cause| ImportError::Observer { cause })?;
        if self.kept.len() < MAX_ERRORS_KEPT {
            self.kept.push(e);
        }
        Ok(())
    }
}

impl Importer {
    /// An importer with these options.
    pub fn new(options: ImportOptions) -> Importer {
        Importer { options }
    }

    /// Import `files` into `registry` as one revision: all or nothing.
    pub fn run(
        &self,
        registry: &mut Registry,
        files: &[PathBuf],
        observer: &mut dyn ImportObserver,
    ) -> Result<ImportOutcome, ImportError> {
        let o = &self.options;
        if o.replace && o.source.is_none() {
            return Err(ImportError::ReplaceNeedsSource);
        }
        let formats = files
            .iter()
            .map(|f| o.format.map_or_else(|| Format::detect(f), Ok))
            .collect::<Result<Vec<_>, _>>()?;
        let mut errors = Errors {
            kept: Vec::new(),
            count: 0,
            observer,
        };
        // A coverage file is read and checked before anything is stored.
        let declared = match &o.coverage {
            Some(CoverageSpec::File(path)) => Some(crate::coverage::read_file(
                path,
                o.source.as_deref().unwrap_or("(every source)"),
            )?),
            _ => None,
        };
        let mut extents: BTreeMap<String, Extent> = BTreeMap::new();
        let auto = matches!(o.coverage, Some(CoverageSpec::Auto { .. }));
        // Every site without its own list gets this one: normalised once, not once a site.
        let releasable_to = nostrike_core::Marking::normalise(&o.releasable_to);
        let mut session = registry.begin_import()?;
        let clock = Instant::now();
        let mut total = 0usize;
        let default_mapping = Mapping::default();
        let given = o.mapping.as_ref().unwrap_or(&default_mapping);
        for (file, format) in files.iter().zip(formats) {
            let meta = BatchMeta {
                file_name: file.display().to_string(),
                // Hashed beside the reading (below), and set before commit.
                file_sha256: String::new(),
                format: format.as_str().into(),
                operator: o.operator.clone(),
                imported_at: nostrike_core::time::now(),
                replace: o.replace,
            };
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("import")
                .to_string();
            let (licence, attribution) = self.source_defaults(file, format)?;
            let read_options = ReadOptions {
                lat_column: o.lat_column.clone().or(given.lat_column.clone()),
                lon_column: o.lon_column.clone().or(given.lon_column.clone()),
                wkt_column: o.wkt_column.clone().or(given.wkt_column.clone()),
                delimiter: o.delimiter,
                geometry_optional: false,
                assume_crs: o.assume_crs.clone(),
            };
            // nostrike's own exports read back exactly, whatever their sources' properties are called.
            let own = (o.mapping.is_none()
                && nostrike_formats::is_own_export(file, format, &read_options)?)
            .then(Mapping::nostrike_export);
            let mapping = own.as_ref().unwrap_or(given);
            let unit = nostrike_formats::unit_of(format);
            let mut handles: BTreeMap<String, FileHandle> = BTreeMap::new();
            let mut store_error: Option<StoreError> = None;
            let mut features = 0usize;
            let to_site = |raw: RawFeature| {
                let index = raw.index;
                let fallback = (raw.properties.get("source").is_none()).then_some(stem.as_str());
                let source = o.source.as_deref().or(fallback);
                (index, mapping.to_site(raw, source, file, unit))
            };
            // The file's own hash, for its batch, on a thread of its own: it
            // overlaps the first chunks instead of delaying them.
            let hasher = {
                let file = file.clone();
                std::thread::spawn(move || sha256_file(&file))
            };
            // Reading, parsing and mapping run on their own thread, a
            // thousand features at a time, while this one checks ids and stores.
            let read = std::thread::scope(|scope| -> Result<Result<(), ReadError>, ImportError> {
                type Mapped = Vec<(usize, Result<Site, FeatureError>)>;
                let (tx, rx) = std::sync::mpsc::sync_channel::<Mapped>(8);
                let read_options = &read_options;
                let reader = scope.spawn(move || {
                    let mut buf = Vec::with_capacity(HAND_OVER);
                    let r = read_features(file, format, read_options, &mut |raw| {
                        buf.push(to_site(raw));
                        if buf.len() == HAND_OVER {
                            let full = std::mem::replace(&mut buf, Vec::with_capacity(HAND_OVER));
                            tx.send(full).map_err(|_| ReadError::Invalid {
                                file: file.clone(),
                                reason: "stopped".into(),
                            })?;
                        }
                        Ok(())
                    });
                    if r.is_ok() && !buf.is_empty() {
                        let _ = tx.send(buf);
                    }
                    r
                });
                'chunks: for chunk in rx {
                    for (index, site) in chunk {
                        features += 1;
                        if features.is_multiple_of(10_000) {
                            errors.observer.progress(file, features);
                        }
                        let site = match site {
                            Ok(site) => site,
                            Err(e) => {
                                errors.push(e)?;
                                continue;
                            }
                        };
                        // Claimed even when the import will be refused, so
                        // that every duplicate is listed in one pass.
                        if let Some(first) = session.claim(&site.source, &site.id, index as u64) {
                            let first = first as usize;
                            errors.push(FeatureError {
                                file: file.clone(),
                                unit,
                                index,
                                id: Some(site.id.clone()),
                                reason: if first == 0 {
                                    "duplicate id: an earlier feature has the same source and id"
                                        .into()
                                } else {
                                    format!(
                                        "duplicate id: {unit} {first} has the same source and id"
                                    )
                                },
                            })?;
                            continue;
                        }
                        if errors.count > 0 && !o.skip_invalid {
                            // The import will be refused; keep reading only to
                            // list every invalid feature.
                            continue;
                        }
                        // Looked up by reference: the source is cloned once, not once a site.
                        let handle = match handles.get(&site.source) {
                            Some(h) => *h,
                            None => {
                                let src = SourceMeta {
                                    name: site.source.clone(),
                                    description: o.description.clone(),
                                    licence: licence.clone(),
                                    attribution: attribution.clone(),
                                    url: o.url.clone(),
                                    coverage: declared.clone(),
                                };
                                let h = session.file(&src, &meta);
                                handles.insert(site.source.clone(), h);
                                h
                            }
                        };
                        let mut site = site;
                        if site.marking.classification.is_none() {
                            site.marking.classification.clone_from(&o.classification);
                        }
                        if site.marking.releasable_to.is_empty() {
                            site.marking.releasable_to.clone_from(&releasable_to);
                        }
                        if auto {
                            extents
                                .entry(site.source.clone())
                                .or_default()
                                .add(&site.geometry);
                        }
                        if let Err(e) = session.push_claimed(handle, site) {
                            store_error = Some(e);
                            break 'chunks;
                        }
                    }
                }
                reader
                    .join()
                    .map_err(|_| ImportError::ReaderFailed { file: file.clone() })
            })?;
            let sha256 = hasher
                .join()
                .map_err(|_| ImportError::ReaderFailed { file: file.clone() })??;
            if let Some(e) = store_error {
                return Err(e.into());
            }
            read?;
            if features == 0 {
                return Err(ImportError::Empty { file: file.clone() });
            }
            for handle in handles.into_values() {
                session.set_file_sha256(handle, &sha256);
                session.end_file(handle)?;
            }
            total += features;
        }
        if errors.count > 0 && !o.skip_invalid {
            return Err(ImportError::Invalid {
                count: errors.count,
                kept: errors.kept,
            });
        }
        if let Some(CoverageSpec::Auto { buffer_m }) = o.coverage {
            for (source, extent) in &extents {
                session.set_coverage(source, extent.polygon(source, buffer_m)?);
            }
        }
        let read_and_stored = clock.elapsed();
        let storing = session.storing_time();
        let batches = session.commit()?;
        Ok(ImportOutcome {
            batches,
            features: total,
            rejected: errors.count,
            timings: ImportTimings {
                read: read_and_stored.saturating_sub(storing),
                store: storing,
                commit: clock.elapsed().saturating_sub(read_and_stored),
            },
        })
    }

    /// A file's licence and attribution: as given in the options, else as
    /// a GeoJSON document states them in its top-level `licence`/`license`
    /// and `attribution` members, else ODbL 1.0 and "© OpenStreetMap
    /// contributors" for OpenStreetMap PBF.
    fn source_defaults(
        &self,
        file: &Path,
        format: Format,
    ) -> Result<(Option<String>, Option<String>), ReadError> {
        let o = &self.options;
        let (mut licence, mut attribution) = (o.licence.clone(), o.attribution.clone());
        match format {
            Format::GeoJson if licence.is_none() || attribution.is_none() => {
                let head = nostrike_formats::geojson::head_members(file)?;
                let text = |k: &str| head.get(k).and_then(Value::as_str).map(str::to_string);
                licence = licence
                    .or_else(|| text("licence"))
                    .or_else(|| text("license"));
                attribution = attribution.or_else(|| text("attribution"));
            }
            Format::Osm => {
                licence = licence.or_else(|| Some("ODbL-1.0".into()));
                attribution = attribution.or_else(|| Some("© OpenStreetMap contributors".into()));
            }
            _ => {}
        }
        Ok((licence, attribution))
    }
}

/// SHA-256 of a file's bytes (hex), as its batch records it.
pub fn sha256_file(path: &Path) -> Result<String, ImportError> {
    let io = |cause| ImportError::Io {
        file: path.to_path_buf(),
        cause,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(nostrike_store::hex(&h.finalize()))
}
