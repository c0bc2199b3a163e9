//! Registry commands: init, import, sites, show, export, log, stats, verify, demo.

use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use nostrike_app::{ImportOptions, Importer};
use nostrike_core::{time, Category, Shape, Site};
use nostrike_formats::{FeatureError, Format, Mapping};
use nostrike_store::{Registry, SourceMeta};
use serde_json::{json, Value};

use crate::coord::{Coordinate, Distance};
use crate::output::{self, AtomicFile, Dest, Protected};
use crate::Out;

/// Table or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    /// For people.
    Table,
    /// JSON.
    Json,
}

/// Input formats for `import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InFormat {
    /// From the file's content and extension.
    Auto,
    /// GeoJSON FeatureCollection.
    Geojson,
    /// Newline-delimited GeoJSON.
    Ndjson,
    /// CSV (lat/lon or WKT column).
    Csv,
    /// GeoPackage.
    Gpkg,
    /// KML.
    Kml,
    /// Shapefile (plain or zipped).
    Shp,
    /// OpenStreetMap PBF.
    Osm,
}

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files to import (all or nothing).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Source name for every site (default: each feature's `source` property, else the file name without extension).
    #[arg(long)]
    pub source: Option<String>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = InFormat::Auto)]
    pub format: InFormat,
    /// Field and category mapping (TOML).
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Retire the source's sites that are missing from the new data (logged, kept in the history).
    #[arg(long)]
    pub replace: bool,
    /// Import the valid features and write the invalid ones to --rejects.
    #[arg(long, requires = "rejects")]
    pub skip_invalid: bool,
    /// Where --skip-invalid writes rejected features (newline-delimited JSON with reasons).
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Who is importing (default: $USER).
    #[arg(long)]
    pub operator: Option<String>,
    /// Licence of the source's data.
    #[arg(long)]
    pub licence: Option<String>,
    /// Attribution the source requires.
    #[arg(long)]
    pub attribution: Option<String>,
    /// What the source is.
    #[arg(long)]
    pub description: Option<String>,
    /// Where the source came from.
    #[arg(long)]
    pub url: Option<String>,
    /// CSV latitude column.
    #[arg(long)]
    pub lat_column: Option<String>,
    /// CSV longitude column.
    #[arg(long)]
    pub lon_column: Option<String>,
    /// CSV WKT column.
    #[arg(long)]
    pub wkt_column: Option<String>,
    /// CSV delimiter (default: detected from the header line: `,`, `;` or a tab).
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    pub delimiter: Option<char>,
    /// A shapefile without a .prj is WGS84 lon/lat (only EPSG:4326 may be assumed).
    #[arg(long, value_name = "EPSG:4326")]
    pub assume_crs: Option<String>,
    /// The region the source claims to be complete for: a GeoJSON Polygon/MultiPolygon
    /// file, or `auto` (the imported features' extent, buffered by 1 km, and said so).
    #[arg(long, value_name = "FILE|auto")]
    pub coverage: Option<nostrike_app::coverage::CoverageSpec>,
    /// Classification of every site that does not carry its own (e.g. "NATO RESTRICTED").
    #[arg(long)]
    pub classification: Option<String>,
    /// Countries and groups every site without its own list may be released to (comma separated, e.g. NATO,UKR).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub releasable_to: Vec<String>,
}

/// `link` and `unlink`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// One site (`SOURCE/ID`, or an `ID` unique across sources).
    pub a: String,
    /// The other site, of another source.
    pub b: String,
    /// Who decides (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    /// Why, in words (kept in the link log).
    #[arg(long)]
    pub note: Option<String>,
}

impl ImportArgs {
    /// The demo's import of `files`: every option at its default, by operator `demo`.
    fn for_demo(files: Vec<PathBuf>) -> ImportArgs {
        ImportArgs {
            files,
            source: None,
            format: InFormat::Auto,
            map: None,
            replace: false,
            skip_invalid: false,
            rejects: None,
            operator: Some("demo".into()),
            licence: None,
            attribution: None,
            description: None,
            url: None,
            lat_column: None,
            lon_column: None,
            wkt_column: None,
            delimiter: None,
            assume_crs: None,
            coverage: None,
            classification: None,
            releasable_to: Vec::new(),
        }
    }
}

/// `coverage`: declare a source's coverage on its own.
#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// The source.
    pub source: String,
    /// A GeoJSON Polygon/MultiPolygon file, or `auto` (the extent of the source's live sites, buffered by 1 km).
    #[arg(value_name = "FILE|auto")]
    pub coverage: nostrike_app::coverage::CoverageSpec,
    /// Who declares it (default: $USER).
    #[arg(long)]
    pub operator: Option<String>,
}

fn parse_delimiter(s: &str) -> Result<char, String> {
    match s {
        "\\t" | "tab" => Ok('\t'),
        _ => {
            let mut cs = s.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) if c.is_ascii() && c != '"' && c != '\n' => Ok(c),
                _ => Err(format!(
                    "{s:?}: give one ASCII character, e.g. ';' or 'tab'"
                )),
            }
        }
    }
}

/// Filters shared by `sites` and `export`.
#[derive(Debug, Args, Clone)]
pub struct Filters {
    /// Only this category.
    #[arg(long)]
    pub category: Option<String>,
    /// Only this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Only sites within --within of this coordinate.
    #[arg(
        long,
        value_name = "COORD",
        requires = "within",
        allow_hyphen_values = true
    )]
    pub near: Option<Coordinate>,
    /// Distance for --near.
    #[arg(long, value_name = "DIST", requires = "near")]
    pub within: Option<Distance>,
    /// Only sites with a vertex in this box: W,S,E,N degrees.
    #[arg(long, value_name = "W,S,E,N", allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// Only sites whose name contains TEXT (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// Only the sites with this external id (e.g. `unesco_whc=1093`, `wikidata=Q90`).
    #[arg(long, value_name = "KEY=ID")]
    pub external_id: Option<String>,
}

/// Listing formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// For people.
    Table,
    /// JSON array.
    Json,
    /// GeoJSON FeatureCollection.
    Geojson,
    /// CSV with a WKT column.
    Csv,
}

/// Arguments of `sites`.
#[derive(Debug, Args)]
pub struct SitesArgs {
    #[command(flatten)]
    filters: Filters,
    /// Only sites whose record is stale under the policy's max_age_days (or never verified), oldest first.
    #[arg(long)]
    stale: bool,
    /// The policy whose max_age_days --stale applies (default: the built-in example).
    #[arg(long, value_name = "FILE", requires = "stale")]
    policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    format: ListFormat,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// GeoJSON FeatureCollection (lossless: re-imports to the same content hash).
    Geojson,
    /// CSV with a WKT column.
    Csv,
    /// GeoPackage with a spatial index (QGIS, ogrinfo).
    Gpkg,
    /// KML, one folder per category (Google Earth).
    Kml,
    /// KML zipped (KMZ), one folder and style per category (Google Earth).
    Kmz,
    /// Cursor on Target: `-o DIR` one `UID.cot` per site, `-o FILE.cot` one event per line (a TAK stream).
    Cot,
    /// An ATAK data package (zip) of one CoT event per site: `-o FILE.zip`, then import it on the device.
    Atak,
}

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Output file (written whole, then renamed into place); `-` or none: standard output (text formats only).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    filters: Filters,
    /// Export only the sites releasable to X (a country or group), and say how many were withheld.
    #[arg(long, value_name = "X")]
    releasable_to: Option<String>,
    /// CoT and ATAK: the policy whose standoffs give each site's minimum-safe-distance ring (default: the built-in example).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// CoT and ATAK: when the markers go stale on the device (`30d`, `12h`, `90m`).
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    stale_after: String,
    /// ATAK: the data package's name (its uid is derived from it, so re-sending a package of the same name updates it in place).
    #[arg(long, value_name = "NAME", default_value = "nostrike no-strike list")]
    package_name: String,
}

/// A duration such as `30d`, `12h`, `90m` or `45s`, in seconds.
fn duration_s(text: &str) -> anyhow::Result<i64> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = num.parse().map_err(|_| {
        anyhow::anyhow!(
            "--stale-after {text:?}: give a whole number and a unit, such as 30d, 12h or 90m"
        )
    })?;
    let k = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => anyhow::bail!("--stale-after {text:?}: the unit must be s, m, h, d or w"),
    };
    match n.checked_mul(k) {
        Some(s) if s > 0 && s <= 10 * 365 * 86_400 => Ok(s),
        _ => anyhow::bail!("--stale-after {text:?}: give a duration from 1 s to 10 years"),
    }
}

/// `init`.
pub fn init(path: &Path, out: Out) -> anyhow::Result<ExitCode> {
    Registry::create(path)?;
    if !out.quiet {
        outln!("created empty registry {}", crate::output::shown(path));
    }
    Ok(ExitCode::SUCCESS)
}

fn operator(given: Option<&String>) -> String {
    given
        .cloned()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

impl InFormat {
    /// The format named, or `None` for auto-detection per file.
    fn format(self) -> Option<Format> {
        Some(match self {
            InFormat::Auto => return None,
            InFormat::Geojson => Format::GeoJson,
            InFormat::Ndjson => Format::GeoJsonSeq,
            InFormat::Csv => Format::Csv,
            InFormat::Gpkg => Format::Gpkg,
            InFormat::Kml => Format::Kml,
            InFormat::Shp => Format::Shp,
            InFormat::Osm => Format::Osm,
        })
    }
}

/// The command line's view of a running import: a spinner on a terminal,
/// and rejected features written to `--rejects` as they come.
struct Watch {
    progress: indicatif::ProgressBar,
    rejects: Option<(PathBuf, BufWriter<std::fs::File>)>,
}

impl nostrike_app::ImportObserver for Watch {
    fn progress(&mut self, file: &Path, features: usize) {
        self.progress
            .set_message(format!("{}: {features} features read", file.display()));
    }

    fn rejected(&mut self, e: &FeatureError) -> std::io::Result<()> {
        if let Some((path, w)) = self.rejects.as_mut() {
            writeln!(
                w,
                "{}",
                json!({"file": e.file.display().to_string(), e.unit: e.index, "id": e.id, "reason": e.reason})
            )
            .map_err(|c| std::io::Error::new(c.kind(), format!("{}: {c}", path.display())))?;
        }
        Ok(())
    }
}

/// `import`: the files go to the registry through [`nostrike_app::Importer`]
/// as one revision, all or nothing; this renders progress and the summary.
pub fn import(path: &Path, args: &ImportArgs, out: Out) -> anyhow::Result<ExitCode> {
    let mapping = args
        .map
        .as_ref()
        .map(|m| {
            let text = std::fs::read_to_string(m).with_context(|| m.display().to_string())?;
            Mapping::from_toml_str(&text).with_context(|| m.display().to_string())
        })
        .transpose()?;
    let options = ImportOptions {
        format: args.format.format(),
        mapping,
        source: args.source.clone(),
        replace: args.replace,
        skip_invalid: args.skip_invalid,
        lat_column: args.lat_column.clone(),
        lon_column: args.lon_column.clone(),
        wkt_column: args.wkt_column.clone(),
        delimiter: args.delimiter.map(|c| c as u8),
        assume_crs: args.assume_crs.clone(),
        licence: args.licence.clone(),
        attribution: args.attribution.clone(),
        description: args.description.clone(),
        url: args.url.clone(),
        operator: operator(args.operator.as_ref()),
        coverage: args.coverage.clone(),
        classification: args.classification.clone(),
        releasable_to: args.releasable_to.clone(),
    };
    let importer = Importer::new(options);
    let started = std::time::Instant::now();
    let mut reg = Registry::open(path)?;
    // Rejects go to a temporary file beside their destination, renamed into
    // place only if there are any; never over the registry or an input.
    let rejects_file = match (&args.rejects, args.skip_invalid) {
        (Some(r), true) => {
            let mut protected = Protected::default().registry(path);
            for f in args.files.iter().chain(args.map.iter()) {
                protected = protected.input(f);
            }
            protected.check("--rejects", r)?;
            Some((r.clone(), AtomicFile::create(r)?))
        }
        _ => None,
    };
    let rejects = rejects_file
        .as_ref()
        .map(|(r, f)| f.handle().map(|h| (r.clone(), BufWriter::new(h))))
        .transpose()?;
    let progress = indicatif::ProgressBar::new_spinner();
    if out.quiet || !std::io::stderr().is_terminal() {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    progress.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut watch = Watch { progress, rejects };
    let outcome = importer.run(&mut reg, &args.files, &mut watch);
    watch.progress.finish_and_clear();
    let outcome = outcome?;
    if outcome.rejected > 0 {
        if let (Some((_, mut w)), Some((r, file))) = (watch.rejects.take(), rejects_file) {
            w.flush().with_context(|| r.display().to_string())?;
            drop(w);
            file.commit()?;
            if !out.quiet {
                eprintln!(
                    "{} invalid feature(s) skipped, listed in {}",
                    outcome.rejected,
                    r.display()
                );
            }
        }
    }
    if out.verbose > 0 {
        let t = outcome.timings;
        eprintln!(
            "read and validated: {:.2} s; stored (sites, log): {:.2} s; commit (pack, content hash, durable write): {:.2} s",
            t.read.as_secs_f64(),
            t.store.as_secs_f64(),
            t.commit.as_secs_f64()
        );
    }
    if !out.quiet {
        for s in &outcome.batches {
            let named = if args.source.is_none()
                && Path::new(&s.file_name).file_stem().and_then(|x| x.to_str())
                    == Some(s.source.as_str())
            {
                " — named after the file; give --source NAME to choose"
            } else {
                ""
            };
            outln!(
                "imported {} (source {}{named}): added {}, updated {}, retired {}, unchanged {}; revision {}, content hash {}",
                s.file_name, s.source, s.added, s.updated, s.retired, s.unchanged, s.revision, s.content_hash
            );
        }
    }
    if out.verbose > 0 {
        eprintln!("{} features in {:.2?}", outcome.features, started.elapsed());
    }
    Ok(ExitCode::SUCCESS)
}

/// The live sites the filters select, the revision and content hash, and their sources.
type Selected = (Vec<Site>, i64, nostrike_store::Digest, Vec<SourceMeta>);

fn filter_sites(path: &Path, f: &Filters) -> anyhow::Result<Selected> {
    let category = f
        .category
        .as_deref()
        .map(|c| c.parse::<Category>())
        .transpose()?;
    let reg = Registry::open_read_only(path)?;
    let (sites, rev, hash) = match (&f.near, &f.within) {
        // Through the index: only the sites within reach are read and decoded.
        (Some(c), Some(d)) => {
            let snapshot = nostrike_app::Snapshot::open(path, None)?;
            let shape = Shape::new(&c.place.geometry)?;
            let set = snapshot.sites();
            let keys = nostrike_core::sites_within(set, &shape, d.0 + c.place.widen_m)
                .map_err(|e| anyhow::anyhow!("{}: {e}", crate::output::shown(path)))?
                .into_iter()
                .map(|(i, _)| {
                    let l = set.label(i)?;
                    Ok((l.source.into_owned(), l.id.into_owned()))
                })
                .collect::<Result<Vec<_>, nostrike_core::SetError>>()
                .map_err(|e| anyhow::anyhow!("{}: {e}", crate::output::shown(path)))?;
            let (sites, rev) = reg.live_sites_by_key(&keys)?;
            if rev != snapshot.revision {
                bail!(
                    "{}: the registry moved from revision {} to {rev} while it was read; run the command again",
                    crate::output::shown(path),
                    snapshot.revision
                );
            }
            (sites, rev, snapshot.content_hash)
        }
        _ => reg.live_sites()?,
    };
    let all_sources = reg.sources()?;
    let bbox = match &f.bbox {
        None => None,
        Some(b) => {
            let v: Vec<f64> = b
                .split(',')
                .map(|x| x.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| anyhow::anyhow!("--bbox {b:?}: expected W,S,E,N numbers"))?;
            if v.len() != 4 || v[1] > v[3] {
                bail!("--bbox {b:?}: expected W,S,E,N with S <= N");
            }
            Some((v[0], v[1], v[2], v[3]))
        }
    };
    let name = f.name.as_ref().map(|n| n.to_lowercase());
    let external = match &f.external_id {
        None => None,
        Some(e) => match e.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                Some((k.trim().to_string(), v.trim().to_string()))
            }
            _ => bail!("--external-id {e:?}: expected KEY=ID, e.g. unesco_whc=1093"),
        },
    };
    let mut out = Vec::new();
    for s in sites {
        if let Some((k, v)) = &external {
            if s.external_ids.get(k) != Some(v) {
                continue;
            }
        }
        if category.is_some_and(|c| c != s.category)
            || f.source.as_ref().is_some_and(|x| x != &s.source)
        {
            continue;
        }
        if name
            .as_ref()
            .is_some_and(|n| !s.name.to_lowercase().contains(n))
        {
            continue;
        }
        if let Some((w, so, e, n)) = bbox {
            let inside = nostrike_formats::coords(&s.geometry).iter().any(|c| {
                let lon_ok = if w <= e {
                    c.x >= w && c.x <= e
                } else {
                    c.x >= w || c.x <= e
                };
                lon_ok && c.y >= so && c.y <= n
            });
            if !inside {
                continue;
            }
        }
        out.push(s);
    }
    let (sources, _) = notice(&all_sources, &out);
    Ok((out, rev, hash, sources))
}

/// The properties an export writes for a site: nostrike's fields, and the
/// source's own properties back at the top level as they were imported
/// (nostrike's field named `nostrike:NAME` where a source property has its
/// name). Read back by [`Mapping::nostrike_export`].
pub fn export_properties(s: &Site) -> serde_json::Map<String, Value> {
    let extra = nostrike_formats::layout::extras(s);
    // A source property itself called "extra" keeps the earlier nested layout, which reads back exactly.
    let nested = extra.contains_key("extra");
    let own: [(&str, Value); 15] = [
        ("source", s.source.clone().into()),
        ("id", s.id.clone().into()),
        ("name", s.name.clone().into()),
        ("category", s.category.as_str().into()),
        ("protection", s.protection.as_str().into()),
        ("designations", s.designations.clone().into()),
        ("standoff_m", s.standoff_m.into()),
        ("positional_accuracy_m", s.positional_accuracy_m.into()),
        ("valid_from", s.valid_from.map(time::format_utc).into()),
        ("valid_to", s.valid_to.map(time::format_utc).into()),
        ("last_verified", s.last_verified.clone().into()),
        ("classification", s.marking.classification.clone().into()),
        ("releasable_to", s.marking.releasable_to.clone().into()),
        (
            "external_ids",
            Value::Object(
                s.external_ids
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
        ),
        ("inscribed", s.inscribed.clone().into()),
    ];
    let mut p = serde_json::Map::new();
    for (field, value) in own {
        let key = if !nested && extra.contains_key(field) {
            nostrike_formats::namespaced(field)
        } else {
            field.to_string()
        };
        p.insert(key, value);
    }
    if nested {
        p.insert("extra".into(), Value::Object(extra));
    } else {
        p.extend(extra);
    }
    p
}

/// The banner of a list of sites: the highest classification (ranked as
/// the example policy lists them) and the releasability they share.
fn banner_of_sites(list: &[Site]) -> String {
    let rel: Vec<String> = list
        .iter()
        .map(|s| s.marking.releasable_to.join(","))
        .collect();
    nostrike_app::marking::Banner::of(
        &nostrike_core::Policy::example().classifications,
        list.iter()
            .zip(&rel)
            .map(|(s, r)| (s.marking.classification.as_deref(), r.as_str())),
    )
    .text()
}

/// The sources of `sites`, and a one-line notice of their licences and attributions.
fn notice(sources: &[SourceMeta], sites: &[Site]) -> (Vec<SourceMeta>, String) {
    let used: std::collections::BTreeSet<&str> = sites.iter().map(|s| s.source.as_str()).collect();
    let list: Vec<SourceMeta> = sources
        .iter()
        .filter(|m| used.contains(m.name.as_str()))
        .cloned()
        .collect();
    let text = list.iter().map(source_line).collect::<Vec<_>>().join("; ");
    (list, text)
}

/// The licence and attribution every one of `sources` shares, if any.
fn shared(
    sources: &[SourceMeta],
    field: impl Fn(&SourceMeta) -> &Option<String>,
) -> Option<String> {
    let first = field(sources.first()?).clone()?;
    sources
        .iter()
        .all(|m| field(m).as_deref() == Some(first.as_str()))
        .then_some(first)
}

fn write_geojson<W: Write>(
    w: W,
    sites: &[Site],
    rev: i64,
    hash: &nostrike_store::Digest,
    sources: &[SourceMeta],
    marking: Value,
) -> anyhow::Result<()> {
    let mut members = serde_json::Map::new();
    members.insert("marking".into(), marking);
    // Licence and attribution at the top level, as `import` reads them back.
    if let Some(l) = shared(sources, |m| &m.licence) {
        members.insert("licence".into(), l.into());
    }
    if let Some(a) = shared(sources, |m| &m.attribution) {
        members.insert("attribution".into(), a.into());
    }
    members.insert(
        "nostrike".into(),
        json!({"revision": rev, "content_hash": hash, "exported_at": time::format_utc(time::now()),
               "sources": sources.iter().map(|m| json!({"name": m.name, "licence": m.licence, "attribution": m.attribution, "description": m.description, "url": m.url})).collect::<Vec<_>>()}),
    );
    let mut g = nostrike_formats::geojson::Writer::new(w, &members)?;
    for s in sites {
        g.feature(
            Some(&format!("{}/{}", s.source, s.id)),
            &s.geometry,
            &export_properties(s),
        )?;
    }
    g.finish()?;
    Ok(())
}

fn write_kml<W: Write>(
    mut w: W,
    sites: &[Site],
    rev: i64,
    hash: &nostrike_store::Digest,
    notice: &str,
) -> anyhow::Result<()> {
    // One escaper for every KML nostrike writes (it also drops the control
    // characters XML 1.0 cannot hold, which made the export not well-formed).
    let esc = nostrike_app::report::xml;
    writeln!(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<kml xmlns=\"http://www.opengis.net/kml/2.2\"><Document><name>nostrike registry revision {rev}</name><description>content hash {hash}; sources: {}</description>", esc(notice))?;
    let mut by_cat: BTreeMap<&str, Vec<&Site>> = BTreeMap::new();
    for s in sites {
        by_cat.entry(s.category.as_str()).or_default().push(s);
    }
    // One style per category: the protective emblem's blue for cultural
    // property, green for civilian objects (KML colours are aabbggrr).
    for (cat, list) in &by_cat {
        let cultural = list
            .first()
            .is_some_and(|s| s.category.class() == nostrike_core::Class::Cultural);
        let c = if cultural { "b54f1f" } else { "327d2e" };
        writeln!(w, "<Style id=\"cat-{cat}\"><IconStyle><color>ff{c}</color><scale>1.1</scale></IconStyle><LabelStyle><scale>0.8</scale></LabelStyle><LineStyle><color>ff{c}</color><width>2</width></LineStyle><PolyStyle><color>55{c}</color></PolyStyle></Style>")?;
    }
    for (cat, list) in by_cat {
        writeln!(w, "<Folder><name>{cat}</name>")?;
        for s in list {
            writeln!(
                w,
                "<Placemark><name>{}</name><styleUrl>#cat-{cat}</styleUrl><ExtendedData><Data name=\"id\"><value>{}</value></Data><Data name=\"source\"><value>{}</value></Data><Data name=\"category\"><value>{}</value></Data><Data name=\"protection\"><value>{}</value></Data></ExtendedData>{}</Placemark>",
                esc(&nostrike_app::cot::callsign(s)), esc(&s.id), esc(&s.source), cat, s.protection.as_str(), nostrike_app::report::kml_geometry(&s.geometry)
            )?;
        }
        writeln!(w, "</Folder>")?;
    }
    writeln!(w, "</Document></kml>")?;
    Ok(())
}

/// `sites`.
pub fn sites(path: &Path, args: &SitesArgs) -> anyhow::Result<ExitCode> {
    let (mut list, rev, hash, sources) = filter_sites(path, &args.filters)?;
    let mut ages: Vec<Option<nostrike_core::Staleness>> = Vec::new();
    if args.stale {
        let (policy, from) = crate::check::load_policy(args.policy.as_deref())?;
        if !policy.judges_staleness() {
            bail!("{from}: the policy sets no max_age_days, so nothing can be stale; add a [max_age_days] table");
        }
        let now = time::now();
        let mut judged: Vec<(Site, nostrike_core::Staleness)> = list
            .into_iter()
            .filter_map(|s| {
                let max = policy.max_age_days(s.category)?;
                let st = nostrike_core::Staleness::judge(s.last_verified.as_deref(), now, max)?;
                Some((s, st))
            })
            .collect();
        // Oldest first: never verified (or not a date) before any date, then by age.
        judged.sort_by_key(|(s, st)| {
            (
                std::cmp::Reverse(st.age_days.unwrap_or(i64::MAX)),
                s.source.clone(),
                s.id.clone(),
            )
        });
        (list, ages) = judged.into_iter().map(|(s, st)| (s, Some(st))).unzip();
    }
    let stdout = std::io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    match args.format {
        ListFormat::Table => {
            writeln!(
                w,
                "{:<32} {:<19} {:<9} {:<12} {}name",
                "site",
                "category",
                "protect.",
                "geometry",
                if args.stale {
                    "last verified  age (max) days  "
                } else {
                    ""
                }
            )?;
            for (k, s) in list.iter().enumerate() {
                let kind = match &s.geometry {
                    geo_types::Geometry::Point(p) => format!("{:.5},{:.5}", p.y(), p.x()),
                    g => geometry_kind(g).to_string(),
                };
                let age = match ages.get(k).and_then(Option::as_ref) {
                    Some(st) => format!(
                        "{:<14} {:>6} ({:>4})     ",
                        st.last_verified.as_deref().unwrap_or("never"),
                        st.age_days.map_or("-".to_string(), |a| a.to_string()),
                        st.max_age_days
                    ),
                    None => String::new(),
                };
                writeln!(
                    w,
                    "{:<32} {:<19} {:<9} {:<12} {age}{}",
                    format!("{}/{}", s.source, s.id),
                    s.category.as_str(),
                    s.protection.as_str(),
                    kind,
                    s.name
                )?;
            }
            writeln!(
                w,
                "{} site(s); registry revision {rev}, content hash {hash}",
                list.len()
            )?;
        }
        ListFormat::Json => {
            let v: Vec<Value> = list
                .iter()
                .map(|s| {
                    let mut p = export_properties(s);
                    p.insert(
                        "geometry".into(),
                        nostrike_formats::geojson::geometry_to_value(&s.geometry),
                    );
                    Value::Object(p)
                })
                .collect();
            serde_json::to_writer_pretty(&mut w, &v)?;
            writeln!(w)?;
        }
        ListFormat::Geojson => write_geojson(
            &mut w,
            &list,
            rev,
            &hash,
            &sources,
            json!({"banner": banner_of_sites(&list), "for_partner": null, "withheld": 0}),
        )?,
        ListFormat::Csv => {
            let mut c = nostrike_formats::csv::Writer::new(&mut w, &list)?;
            for s in &list {
                c.site(s)?;
            }
            c.finish()?;
        }
    }
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn geometry_kind(g: &geo_types::Geometry<f64>) -> &'static str {
    match g {
        geo_types::Geometry::Point(_) => "Point",
        geo_types::Geometry::LineString(_) | geo_types::Geometry::Line(_) => "LineString",
        geo_types::Geometry::Polygon(_)
        | geo_types::Geometry::Rect(_)
        | geo_types::Geometry::Triangle(_) => "Polygon",
        geo_types::Geometry::MultiPoint(_) => "MultiPoint",
        geo_types::Geometry::MultiLineString(_) => "MultiLine",
        geo_types::Geometry::MultiPolygon(_) => "MultiPolygon",
        geo_types::Geometry::GeometryCollection(_) => "Collection",
    }
}

/// `export`.
pub fn export(path: &Path, args: &ExportArgs, out: Out) -> anyhow::Result<ExitCode> {
    let dest = Dest::from_arg(args.output.as_deref());
    match dest.file() {
        Some(f) => Protected::default().registry(path).check("--output", f)?,
        None if args.format == ExportFormat::Gpkg => {
            bail!("a GeoPackage is a binary file: give --output FILE")
        }
        None if args.format == ExportFormat::Kmz => {
            bail!("a KMZ is a zip file: give --output FILE.kmz")
        }
        None => {}
    }
    let (mut list, rev, hash, sources) = filter_sites(path, &args.filters)?;
    let mut withheld = 0usize;
    if let Some(p) = &args.releasable_to {
        if p.trim().is_empty() {
            bail!("--releasable-to: give a country or group");
        }
        let before = list.len();
        list.retain(|s| s.marking.releasable_to(p));
        withheld = before - list.len();
    }
    let banner = banner_of_sites(&list);
    let for_partner = args
        .releasable_to
        .as_ref()
        .map(|p| format!(" — for {p}: {withheld} site(s) not releasable to {p} withheld"))
        .unwrap_or_default();
    let (_, notice_text) = notice(&sources, &list);
    let notice_text = format!("{banner}{for_partner}; {notice_text}");
    if !out.quiet {
        if let Some(p) = &args.releasable_to {
            eprintln!(
                "{withheld} site(s) not releasable to {p} withheld; {} exported",
                list.len()
            );
        }
    }
    if matches!(args.format, ExportFormat::Cot | ExportFormat::Atak) {
        let (policy, _) = crate::check::load_policy(args.policy.as_deref())?;
        let t = nostrike_app::cot::Times {
            now: time::now(),
            stale_after_s: duration_s(&args.stale_after)?,
        };
        match (args.format, dest.file()) {
            (ExportFormat::Atak, Some(f)) => {
                let bytes = nostrike_app::cot::data_package(&list, &policy, t, &args.package_name)?;
                output::write_to(&dest, |w| Ok(w.write_all(&bytes)?))?;
                if !out.quiet {
                    eprintln!("{} site(s) in the ATAK data package {} ({}); import it on the device (ATAK: Import → Local SD, or send it over TAK Server)", list.len(), f.display(), notice_text);
                }
            }
            (ExportFormat::Atak, None) => {
                bail!("an ATAK data package is a zip file: give --output FILE.zip")
            }
            // A stream, one event per line: standard output or a FILE.cot.
            (_, f)
                if f.is_none()
                    || f.and_then(|f| f.extension())
                        .is_some_and(|e| e.eq_ignore_ascii_case("cot")) =>
            {
                output::write_to(&dest, |w| {
                    for s in &list {
                        let mut e = nostrike_app::cot::site_event(s, &policy, t);
                        e.retain(|c| c != '\n');
                        writeln!(w, "{e}")?;
                    }
                    Ok(())
                })?;
            }
            (_, Some(dir)) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("--output {}", dir.display()))?;
                for s in &list {
                    let file =
                        dir.join(format!("{}.cot", nostrike_app::cot::uid(&s.source, &s.id)));
                    Protected::default()
                        .registry(path)
                        .check("--output", &file)?;
                    output::write_to(&Dest::File(file), |w| {
                        Ok(w.write_all(nostrike_app::cot::site_event(s, &policy, t).as_bytes())?)
                    })?;
                }
                if !out.quiet {
                    eprintln!(
                        "{} CoT event file(s) written to {} ({})",
                        list.len(),
                        dir.display(),
                        notice_text
                    );
                }
            }
            (_, None) => {} // written as a stream above
        }
        return Ok(ExitCode::SUCCESS);
    }
    match (args.format, &dest) {
        (ExportFormat::Gpkg, Dest::File(f)) => {
            let tmp = AtomicFile::create(f)?;
            nostrike_formats::gpkg::write(tmp.path(), &list, &notice_text)?;
            tmp.commit()?;
        }
        (format, dest) => output::write_to(dest, |w| {
            match format {
                ExportFormat::Geojson | ExportFormat::Gpkg => write_geojson(
                    w,
                    &list,
                    rev,
                    &hash,
                    &sources,
                    json!({"banner": banner, "for_partner": args.releasable_to, "withheld": withheld}),
                )?,
                ExportFormat::Csv => {
                    let mut c = nostrike_formats::csv::Writer::new(w, &list)?;
                    for s in &list {
                        c.site(s)?;
                    }
                    c.finish()?.flush()?;
                }
                ExportFormat::Kml => write_kml(w, &list, rev, &hash, &notice_text)?,
                ExportFormat::Kmz => {
                    let mut doc = Vec::new();
                    write_kml(&mut doc, &list, rev, &hash, &notice_text)?;
                    w.write_all(&nostrike_app::report::kmz_bytes(&String::from_utf8(doc)?)?)?;
                }
                ExportFormat::Cot | ExportFormat::Atak => {} // written above
            }
            Ok(())
        })?,
    }
    // CSV has no place for a notice: the licences and attributions go beside it.
    if args.format == ExportFormat::Csv {
        match dest.file() {
            Some(f) => {
                let mut side = f.as_os_str().to_owned();
                side.push(".txt");
                let side = PathBuf::from(side);
                Protected::default()
                    .registry(path)
                    .check("--output", &side)?;
                output::write_to(&Dest::File(side), |w| {
                    writeln!(
                        w,
                        "{banner}{for_partner}\nSites in {} (nostrike registry revision {rev}, content hash {hash}).\nSources, licences and attributions:",
                        f.display()
                    )?;
                    for m in &sources {
                        writeln!(w, "  {}", source_line(m))?;
                    }
                    Ok(())
                })?;
            }
            None if !out.quiet => eprintln!("sources: {notice_text}"),
            None => {}
        }
    }
    if let (Some(f), false) = (dest.file(), out.quiet) {
        eprintln!(
            "exported {} site(s) to {} (registry revision {rev}, content hash {hash})",
            list.len(),
            f.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `show`.
pub fn show(path: &Path, id: &str) -> anyhow::Result<ExitCode> {
    let reg = Registry::open_read_only(path)?;
    let (source, site_id) = match id.split_once('/') {
        Some((s, i)) if !reg.history(Some(s), i)?.is_empty() => {
            (Some(s.to_string()), i.to_string())
        }
        _ => (None, id.to_string()),
    };
    let hist = reg.history(source.as_deref(), &site_id)?;
    if hist.is_empty() {
        bail!("{}: no site with id {id:?}", crate::output::shown(path));
    }
    let sources: std::collections::BTreeSet<&String> = hist.iter().map(|(s, _)| s).collect();
    if sources.len() > 1 {
        bail!(
            "{id:?} exists in several sources ({}); give SOURCE/ID",
            sources.into_iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let last = hist.iter().rev().find_map(|(_, e)| e.site.as_ref());
    if let Some(s) = last {
        outln!("{}/{} — {}", s.source, s.id, s.name);
        outln!("  category    {} ({:?})", s.category, s.category.class());
        outln!("  protection  {}", s.protection);
        if !s.designations.is_empty() {
            outln!("  designations {}", s.designations.join(", "));
        }
        outln!(
            "  standoff    {}",
            s.standoff_m
                .map(|v| format!("{v} m (explicit)"))
                .unwrap_or_else(|| "policy default".into())
        );
        outln!("  accuracy    {} m", s.positional_accuracy_m);
        outln!(
            "  valid       from {} to {}",
            s.valid_from
                .map(time::format_utc)
                .unwrap_or_else(|| "(no start)".into()),
            s.valid_to
                .map(time::format_utc)
                .unwrap_or_else(|| "(no end)".into())
        );
        outln!(
            "  verified    {}",
            s.last_verified.as_deref().unwrap_or("(never recorded)")
        );
        if let Some(d) = &s.inscribed {
            outln!("  inscribed   {d}");
        }
        if !s.marking.is_empty() {
            outln!(
                "  marking     {}{}",
                s.marking
                    .classification
                    .as_deref()
                    .unwrap_or("(unclassified)"),
                if s.marking.releasable_to.is_empty() {
                    String::new()
                } else {
                    format!(" // REL TO {}", s.marking.releasable_to.join(", "))
                }
            );
        }
        for (k, v) in &s.external_ids {
            outln!("  external    {k}={v}");
        }
        outln!(
            "  geometry    {}",
            nostrike_formats::geojson::geometry_to_value(&s.geometry)
        );
        outln!("  properties  {}", s.properties);
        if let Some(m) = reg.sources()?.into_iter().find(|m| m.name == s.source) {
            outln!("  source      {}", source_line(&m));
        }
    }
    let retired = hist
        .last()
        .is_some_and(|(_, e)| e.kind == nostrike_store::ChangeKind::Retired);
    outln!(
        "  status      {}",
        if retired {
            "RETIRED (not checked against)"
        } else {
            "live"
        }
    );
    outln!("history:");
    for (_, e) in &hist {
        outln!(
            "  #{:<6} revision {:<4} {:<8} {} by {} from {}  {} -> {}",
            e.seq,
            e.revision,
            e.kind,
            time::format_utc(e.imported_at),
            e.operator,
            e.file_name,
            e.hash_before
                .as_deref()
                .map(|h| h.get(..12).unwrap_or(h))
                .unwrap_or("-"),
            e.hash_after
                .as_deref()
                .map(|h| h.get(..12).unwrap_or(h))
                .unwrap_or("-")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A source's name with its licence, attribution and where it came from.
fn source_line(m: &SourceMeta) -> String {
    let mut out = format!(
        "{} — licence {}, attribution {}",
        m.name,
        m.licence.as_deref().unwrap_or("(not recorded)"),
        m.attribution.as_deref().unwrap_or("(not recorded)")
    );
    if let Some(u) = &m.url {
        out.push_str(&format!(", {u}"));
    }
    if let Some(d) = &m.description {
        out.push_str(&format!(" ({d})"));
    }
    out
}

/// `coverage`.
pub fn coverage(path: &Path, args: &CoverageArgs, out: Out) -> anyhow::Result<ExitCode> {
    let mut reg = Registry::open(path)?;
    let s = nostrike_app::coverage::set_coverage(
        &mut reg,
        &args.source,
        &args.coverage,
        &operator(args.operator.as_ref()),
    )?;
    if !out.quiet {
        eprintln!(
            "{}: coverage of {} declared — batch {}, revision {}",
            crate::output::shown(path),
            args.source,
            s.batch,
            s.revision
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `verify-site`.
pub fn verify_site(
    path: &Path,
    site: &str,
    date: &str,
    by: &str,
    out: Out,
) -> anyhow::Result<ExitCode> {
    let mut reg = Registry::open(path)?;
    let s = nostrike_app::curate::verify_site(&mut reg, site, date, by)?;
    if !out.quiet {
        eprintln!(
            "{}: {site} verified on {date} by {by} — batch {}, revision {}, content hash {}",
            crate::output::shown(path),
            s.batch,
            s.revision,
            s.content_hash
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `duplicates`.
pub fn duplicates(path: &Path, within_m: f64, format: TextOrJson) -> anyhow::Result<ExitCode> {
    let snapshot = nostrike_app::Snapshot::open(path, None)?;
    let found = nostrike_app::duplicates::find(snapshot.sites(), within_m)
        .map_err(|e| anyhow::anyhow!("{}: {e}", crate::output::shown(path)))?;
    let linked: std::collections::BTreeSet<(String, String)> =
        snapshot.links.iter().cloned().collect();
    match format {
        TextOrJson::Json => {
            let v: Vec<Value> = found
                .iter()
                .map(|c| {
                    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
                    v["linked"] = linked.contains(&(c.a.clone(), c.b.clone())).into();
                    v
                })
                .collect();
            outln!("{}", serde_json::to_string_pretty(&v)?);
        }
        TextOrJson::Table => {
            outln!(
                "{:>10}  {:>5}  {:<8} {:<40} {}",
                "distance_m",
                "names",
                "category",
                "site",
                "other site"
            );
            for c in &found {
                outln!(
                    "{:>10.1}  {:>5}  {:<8} {:<40} {}{}",
                    c.distance_m,
                    c.name_similarity
                        .map_or("-".to_string(), |s| format!("{s:.2}")),
                    if c.same_category { "same" } else { "class" },
                    format!("{} {:?}", c.a, c.names[0]),
                    format!("{} {:?}", c.b, c.names[1]),
                    if linked.contains(&(c.a.clone(), c.b.clone())) {
                        "  (linked)"
                    } else {
                        ""
                    }
                );
            }
            outln!(
                "{} candidate pair(s) within {within_m} m; registry revision {}",
                found.len(),
                snapshot.revision
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `link` / `unlink`.
pub fn link(path: &Path, args: &LinkArgs, link: bool, out: Out) -> anyhow::Result<ExitCode> {
    let mut reg = Registry::open(path)?;
    let by = operator(args.by.as_ref());
    let s =
        nostrike_app::curate::link(&mut reg, &args.a, &args.b, link, &by, args.note.as_deref())?;
    if !out.quiet {
        eprintln!(
            "{}: {} {} and {} by {by} — batch {}, revision {}",
            crate::output::shown(path),
            if link { "linked" } else { "unlinked" },
            args.a,
            args.b,
            s.batch,
            s.revision
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `review`: groups of linked sites whose members disagree.
pub fn review(path: &Path, format: TextOrJson, policy: Option<&Path>) -> anyhow::Result<ExitCode> {
    let (policy, _) = crate::check::load_policy(policy)?;
    let snapshot = nostrike_app::Snapshot::open(path, None)?;
    let groups = nostrike_app::groups::Groups::build(snapshot.sites(), &snapshot.links, &policy)
        .map_err(|e| anyhow::anyhow!("{}: {e}", crate::output::shown(path)))?;
    let to_review: Vec<&nostrike_app::groups::Group> = groups
        .groups
        .iter()
        .filter(|g| !g.disagreement.is_empty())
        .collect();
    match format {
        TextOrJson::Json => outln!("{}", serde_json::to_string_pretty(&to_review)?),
        TextOrJson::Table => {
            for g in &to_review {
                outln!(
                    "group of {} (face {}): {}",
                    g.members.len(),
                    g.face,
                    g.members.join(", ")
                );
                for d in &g.disagreement {
                    outln!("  DISAGREE {d}");
                }
            }
            outln!(
                "{} of {} linked group(s) need review; registry revision {}",
                to_review.len(),
                groups.groups.len(),
                snapshot.revision
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `sources`.
pub fn sources(path: &Path, format: TextOrJson) -> anyhow::Result<ExitCode> {
    let reg = Registry::open_read_only(path)?;
    let stats = reg.stats()?;
    let batches = reg.log(0)?;
    let rows: Vec<Value> = reg
        .sources()?
        .iter()
        .map(|m| {
            let sites = stats
                .by_source
                .iter()
                .find(|(n, _)| *n == m.name)
                .map_or(0, |(_, k)| *k);
            let last = batches
                .iter()
                .filter(|b| {
                    b.source == m.name && !matches!(b.format.as_str(), "coverage" | "verify-site")
                })
                .map(|b| b.imported_at)
                .max();
            json!({
                "name": m.name,
                "sites": sites,
                "last_import": last.map(time::format_utc),
                "coverage": m.coverage.as_ref().map(|c| c.how.clone()),
                "licence": m.licence,
                "attribution": m.attribution,
                "description": m.description,
                "url": m.url,
            })
        })
        .collect();
    match format {
        TextOrJson::Json => outln!("{}", serde_json::to_string_pretty(&rows)?),
        TextOrJson::Table => {
            for r in &rows {
                let t = |k: &str| r[k].as_str().unwrap_or("(not recorded)").to_string();
                outln!("{}", t("name"));
                outln!("  sites        {}", r["sites"]);
                outln!(
                    "  last import  {}",
                    r["last_import"].as_str().unwrap_or("(never)")
                );
                outln!(
                    "  coverage     {}",
                    r["coverage"]
                        .as_str()
                        .unwrap_or("NONE DECLARED — checks cannot tell missing data from no sites")
                );
                outln!("  licence      {}", t("licence"));
                outln!("  attribution  {}", t("attribution"));
                if let Some(u) = r["url"].as_str() {
                    outln!("  url          {u}");
                }
                if let Some(d) = r["description"].as_str() {
                    outln!("  description  {d}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `log`.
pub fn log(path: &Path, since: i64) -> anyhow::Result<ExitCode> {
    let reg = Registry::open_read_only(path)?;
    let source_log = reg.source_log()?;
    for (batch, revision, m) in source_log.iter().filter(|(b, r, _)| *b == 0 && *r >= since) {
        outln!(
            "source {} as recorded when the source log began (batch {batch}, revision {revision})",
            source_line(m)
        );
    }
    for b in reg.log(since)? {
        for (_, _, m) in source_log.iter().filter(|(batch, _, _)| *batch == b.id) {
            outln!("source {}", source_line(m));
        }
        outln!(
            "batch {:<4} revision {:<4} {}  {} by {}  source {}  +{} ~{} -{} ={}{}  file {} (sha256 {})  content {}",
            b.id,
            b.revision,
            time::format_utc(b.imported_at),
            b.format,
            b.operator,
            b.source,
            b.counts.added,
            b.counts.updated,
            b.counts.retired,
            b.counts.unchanged,
            if b.replace { " (replace)" } else { "" },
            b.file_name,
            &b.file_sha256[..b.file_sha256.len().min(16)],
            b.content_hash
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `stats`.
pub fn stats(path: &Path, format: TextOrJson) -> anyhow::Result<ExitCode> {
    let reg = Registry::open_read_only(path)?;
    let s = reg.stats()?;
    let obj =
        |v: &[(String, i64)]| Value::Object(v.iter().map(|(k, n)| (k.clone(), json!(n))).collect());
    match format {
        TextOrJson::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "registry": crate::output::shown(path), "revision": s.revision, "content_hash": s.content_hash, "sites": s.sites,
                "by_category": obj(&s.by_category), "by_source": obj(&s.by_source), "by_protection": obj(&s.by_protection),
                "batches": s.batches, "changes": s.changes,
                "sources": reg.sources()?.iter().map(|m| json!({"name": m.name, "licence": m.licence, "attribution": m.attribution, "description": m.description, "url": m.url})).collect::<Vec<_>>(),
            }))?
        ),
        TextOrJson::Table => {
            outln!(
                "registry {}  revision {}  content hash {}",
                crate::output::shown(path),
                s.revision,
                s.content_hash
            );
            outln!(
                "{} live site(s), {} import batch(es), {} change-log entries",
                s.sites,
                s.batches,
                s.changes
            );
            outln!("sources:");
            for m in reg.sources()? {
                outln!("  {}", source_line(&m));
            }
            for (title, rows) in [
                ("by category", &s.by_category),
                ("by source", &s.by_source),
                ("by protection", &s.by_protection),
            ] {
                outln!("{title}:");
                for (k, n) in rows {
                    outln!("  {k:<24} {n:>8}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `verify`.
pub fn verify(path: &Path, out: Out) -> anyhow::Result<ExitCode> {
    let reg = Registry::open(path)?;
    let verified = reg.verify_state()?;
    let findings = verified.findings;
    if findings.is_empty() {
        if !out.quiet {
            // The state the checks read, not one read after them.
            let hash = verified
                .content_hash
                .map_or_else(|| "(unreadable)".to_string(), |h| h.to_string());
            outln!("{}: OK — integrity, change-log chain, live sites and content hash {} all agree (revision {})", crate::output::shown(path), hash, verified.revision);
        }
        return Ok(ExitCode::SUCCESS);
    }
    for f in &findings {
        outln!("{}: {}: {}", crate::output::shown(path), f.kind, f.detail);
    }
    eprintln!(
        "{}: {} finding(s); do not check against this registry until they are explained",
        crate::output::shown(path),
        findings.len()
    );
    Ok(ExitCode::from(1))
}

/// Run `repack`.
pub fn repack(path: &Path, out: Out) -> anyhow::Result<ExitCode> {
    let mut reg = Registry::open(path)?;
    reg.repack()?;
    if !out.quiet {
        outln!(
            "{}: packed index rebuilt from the live sites (revision {}, content hash {})",
            crate::output::shown(path),
            reg.revision()?,
            reg.content_hash()?
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The shipped demonstration data, compiled in so the demo runs from any directory.
const DEMO_DATA: &[(&str, &str)] = &[
    (
        "helsinki-sites.geojson",
        include_str!("../../../data/helsinki-sites.geojson"),
    ),
    (
        "andorra-2013-sites.geojson",
        include_str!("../../../data/andorra-2013-sites.geojson"),
    ),
    (
        "helsinki-coverage.geojson",
        include_str!("../../../data/helsinki-coverage.geojson"),
    ),
    (
        "andorra-2013-coverage.geojson",
        include_str!("../../../data/andorra-2013-coverage.geojson"),
    ),
];

/// `demo`.
pub fn demo(keep: Option<&Path>, out: Out) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("nostrike-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let reg_path = match keep {
        Some(p) => p.to_path_buf(),
        None => dir.join("demo.db"),
    };
    let result = (|| -> anyhow::Result<()> {
        outln!("== nostrike demo: a registry built from OpenStreetMap data (© OpenStreetMap contributors, ODbL)\n");
        Registry::create(&reg_path)?;
        for (name, text) in DEMO_DATA {
            std::fs::write(dir.join(name), text)?;
        }
        for area in ["helsinki", "andorra-2013"] {
            let mut args = ImportArgs::for_demo(vec![dir.join(format!("{area}-sites.geojson"))]);
            args.licence = Some("ODbL-1.0".into());
            args.attribution = Some("© OpenStreetMap contributors".into());
            args.coverage = Some(nostrike_app::coverage::CoverageSpec::File(
                dir.join(format!("{area}-coverage.geojson")),
            ));
            outln!("$ nostrike import {area}-sites.geojson --coverage {area}-coverage.geojson");
            import(&reg_path, &args, out)?;
        }
        // A second register's record of the church of Sant Andreu, 5 m from
        // OpenStreetMap's and with a larger standoff: found, then linked.
        let ministry = dir.join("ministry.geojson");
        std::fs::write(
            &ministry,
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"church-7","category":"religious_site","name":"Església de Sant Andreu","standoff_m":900},"geometry":{"type":"Point","coordinates":[1.53088,42.5104]}}]}"#,
        )?;
        let mut args = ImportArgs::for_demo(vec![ministry]);
        args.source = Some("ministry".into());
        outln!("$ nostrike import ministry.geojson --source ministry");
        import(&reg_path, &args, out)?;
        outln!("$ nostrike duplicates --within 50m");
        duplicates(&reg_path, 50.0, TextOrJson::Table)?;
        outln!("$ nostrike link ministry/church-7 andorra-2013-sites/osm:way/191582654 --by demo");
        link(
            &reg_path,
            &LinkArgs {
                a: "ministry/church-7".into(),
                b: "andorra-2013-sites/osm:way/191582654".into(),
                by: Some("demo".into()),
                note: Some("one church in two registers".into()),
            },
            true,
            out,
        )?;
        // One record re-verified three weeks ago; the rest were never verified (stale).
        let date = time::format_utc(time::now() - 21 * 86_400)[..10].to_string();
        outln!(
            "$ nostrike verify-site andorra-2013-sites/osm:way/191582654 --date {date} --by demo"
        );
        verify_site(
            &reg_path,
            "andorra-2013-sites/osm:way/191582654",
            &date,
            "demo",
            out,
        )?;
        use crate::check::{CheckArgs, ReportFormat};
        use crate::coord::{Coordinate, Distance};
        let point = |c: &str, buffer: f64| -> anyhow::Result<CheckArgs> {
            Ok(CheckArgs {
                points: vec![c.parse::<Coordinate>().map_err(anyhow::Error::msg)?],
                buffer: Distance(buffer),
                ..CheckArgs::default()
            })
        };
        let cases: Vec<(&str, &str, CheckArgs)> = vec![
            ("A strike point 73 m from the church of Sant Andreu, Andorra la Vella, with a 50 m radius: the church's two linked records are one group, held to the larger standoff; the clinic's record was never verified (STALE)",
             r#"--point 42.5110,1.5306 --buffer "50 m""#, point("42.5110,1.5306", 50.0)?),
            ("The same aim point as a 10 m MGRS reference (the whole grid square is checked)",
             "--point 31TCH79280756 --buffer 50m", point("31TCH79280756", 50.0)?),
            ("A point 420 m from the nearest place of worship: beyond its 250 m required distance, within the caution margin",
             r#"--point "42°30'37\"N 1°31'30\"E" --buffer "50 m""#, point("42°30'37\"N 1°31'30\"E", 50.0)?),
            ("A mountainside west of the town: no protected sites within the required distance",
             r#"--point 42.5200,1.4700 --buffer "200 m""#, point("42.5200,1.4700", 200.0)?),
            ("A movement route through the town with a 100 m corridor: where along it each site is in reach",
             r#"--route "42.5063,1.5218; 42.5100,1.5400" --corridor "100 m""#,
             CheckArgs {
                 routes: vec!["42.5063,1.5218; 42.5100,1.5400".into()],
                 corridor: Some(Distance(100.0)),
                 ..CheckArgs::default()
             }),
            ("The same route as JSON for the target folder",
             r#"--route "42.5063,1.5218; 42.5100,1.5400" --corridor "100 m" --format json"#,
             CheckArgs {
                 routes: vec!["42.5063,1.5218; 42.5100,1.5400".into()],
                 corridor: Some(Distance(100.0)),
                 format: ReportFormat::Json,
                 ..CheckArgs::default()
             }),
            ("A point in Sydney: no site recorded there, but no source covers it either — never a clear",
             r#"--point "-33.8568,151.2153" --buffer "100 m""#, point("-33.8568,151.2153", 100.0)?),
        ];
        for (what, shown, args) in &cases {
            outln!("\n== {what}\n$ nostrike check {shown}");
            let verdict = crate::check::run_verdict_of(&reg_path, args, out)?;
            outln!("(exit code {})", nostrike_app::report::exit_code(verdict));
        }
        // The conflict as a map for the target folder: one self-contained HTML file.
        let html = match keep {
            Some(p) => p.with_extension("conflict.html"),
            None => std::env::temp_dir().join("nostrike-demo-conflict.html"),
        };
        let mut args = point("42.5110,1.5306", 50.0)?;
        args.format = ReportFormat::Html;
        args.output = Some(html.clone());
        outln!(
            "\n== The first conflict as a map: a self-contained HTML report (open it in a browser)\n$ nostrike check --point 42.5110,1.5306 --buffer 50m --format html -o {}",
            html.display()
        );
        crate::check::run_verdict_of(&reg_path, &args, out)?;
        outln!("HTML report: {}", html.display());
        outln!(
            "\nThe registry is at {}{}",
            reg_path.display(),
            if keep.is_some() {
                ""
            } else {
                " (removed on exit; keep it with --keep PATH)"
            }
        );
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// `sign`.
pub fn sign(path: &Path, key: &Path, signer: Option<String>, out: Out) -> anyhow::Result<ExitCode> {
    let signer = operator(signer.as_ref());
    let s = nostrike_app::signing::sign(path, key, &signer, time::now())?;
    if !out.quiet {
        outln!(
            "signed revision {} (content {}) with key {} as {}",
            s.state.revision,
            s.state.content_hash,
            s.key_id,
            s.signer
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `signatures`.
pub fn signatures(path: &Path, trust: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let keys = trust
        .iter()
        .map(|p| nostrike_app::signing::read_public(p))
        .collect::<Result<Vec<_>, _>>()?;
    let reg = Registry::open_read_only(path)?;
    let state = reg.signed_state()?;
    let all = reg.signatures()?;
    if all.is_empty() {
        outln!(
            "{}: no signatures (sign a revision with `nostrike sign --key NAME.key`)",
            crate::output::shown(path)
        );
    }
    for s in &all {
        let j = nostrike_app::signing::judge(s, Some(&state), &keys);
        outln!(
            "revision {:>5}  key {}  {}  {}  {}{}",
            j.revision,
            j.key_id,
            j.signed_at,
            j.signer,
            if j.valid {
                "VALID for the current state"
            } else {
                "not valid"
            },
            match (j.trusted, &j.problem) {
                (_, Some(p)) => format!(": {p}"),
                (Some(true), None) => ", trusted".to_string(),
                (Some(false), None) => ", NOT TRUSTED".to_string(),
                (None, None) => String::new(),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
