//! `nostrike check`: areas from the command line or a file, checked against the registry.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use geo_types::{Geometry, LineString};
use nostrike_core::{run_verdict, time, Area, AreaKind, Checker, Policy, Verdict};
use nostrike_formats::{read_features, Format, ReadOptions};
use sha2::Digest;

use crate::coord::{parse_coord, parse_distance, Coordinate, Distance};
use crate::output::{self, Dest, Protected};
use crate::Out;
use nostrike_app::marking::Withheld;
use nostrike_app::report::{self, exit_code, verdict_word, AreaInput, Report};
use nostrike_app::spill::{encode_area, Spill};
use nostrike_app::{AsOf, Snapshot};

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ReportFormat {
    /// A table for people.
    #[default]
    Table,
    /// JSON (docs/report.schema.json).
    Json,
    /// GeoJSON: areas, hit sites and the shortest connecting lines (for QGIS).
    Geojson,
    /// CSV, one row per hit.
    Csv,
    /// KML (for Google Earth): areas, hits coloured by verdict, required-distance rings.
    Kml,
    /// The KML report zipped (KMZ).
    Kmz,
    /// SVG: a scale-true map of each area for the target folder.
    Svg,
    /// HTML: one self-contained file with the interactive map, the table and the JSON report.
    Html,
    /// Cursor on Target, one event per line: the areas as shapes and the hits as markers (for TAK devices).
    Cot,
}

/// Arguments of `check`.
#[derive(Debug, Default, Clone, Args)]
#[command(group(
    clap::ArgGroup::new("area")
        .required(true)
        .multiple(true)
        .args(["points", "wkts", "routes", "areas"])
))]
pub struct CheckArgs {
    /// A point: `LAT,LON`, `LAT LON`, degrees-minutes-seconds, MGRS, UTM or UPS (repeatable; negative values allowed: `-33.86,151.21`).
    #[arg(long = "point", value_name = "COORD", allow_hyphen_values = true)]
    pub points: Vec<Coordinate>,
    /// A WKT geometry in lon/lat (repeatable).
    #[arg(long = "wkt", value_name = "WKT")]
    pub wkts: Vec<String>,
    /// A route: `LAT,LON; LAT,LON; …` (coordinates as for --point) or a WKT LINESTRING (repeatable).
    #[arg(
        long = "route",
        value_name = "COORDS_OR_WKT",
        allow_hyphen_values = true
    )]
    pub routes: Vec<String>,
    /// Corridor half-width for routes (default: --buffer); needs --route.
    #[arg(long, value_name = "DIST", requires = "routes")]
    pub corridor: Option<Distance>,
    /// Label the command line's areas (a target number), in the order --point, --wkt, --route; one --id per area.
    #[arg(long = "id", value_name = "NAME")]
    pub ids: Vec<String>,
    /// Areas from a GeoJSON FeatureCollection or CSV file (`-` for standard input); per-feature `id`, `buffer_m`, `location_error_m`.
    #[arg(long, value_name = "FILE")]
    pub areas: Option<PathBuf>,
    /// Buffer (radius) for areas without their own: `95 m`, `0.1km`, `300ft`, `2 nmi`; bare numbers are metres.
    #[arg(
        long,
        visible_alias = "radius",
        value_name = "DIST",
        default_value = "0"
    )]
    pub buffer: Distance,
    /// Target location error added to every required distance.
    #[arg(long, value_name = "DIST", default_value = "0")]
    pub location_error: Distance,
    /// Policy TOML file (default: the shipped example, illustrative only).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Check against the registry as it was at revision REV, or at a UTC time (`2026-03-01T14:00:00Z`; a bare date means 00:00 UTC that day), judging site validity at that time.
    #[arg(long, value_name = "REV|DATE")]
    pub as_of: Option<AsOf>,
    /// Set every area's buffer from the policy's effect profile NAME (repeatable: one result per profile).
    #[arg(long = "profile", value_name = "NAME", conflicts_with = "buffer")]
    pub profiles: Vec<String>,
    /// Write the report for partner X (a country or group): sites not releasable to X count in every verdict but are shown only as a number, with nothing that locates them.
    #[arg(long, value_name = "X")]
    pub releasable_to: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Refuse the check (exit 1) unless the registry's current state is signed by one of these public keys (`nostrike key new`; repeatable).
    #[arg(long = "trust", value_name = "KEY.pub")]
    pub trust: Vec<PathBuf>,
    /// Imagery under the svg and html maps: a local .mbtiles file (embedded, offline) or a tile URL template `https://…/{z}/{x}/{y}.png` (fetched by whoever opens the report). None by default.
    #[arg(long, value_name = "MBTILES|URL_TEMPLATE")]
    pub tiles: Option<String>,
    /// Write the report to FILE (written whole, then renamed into place); `-` or none: standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Load a policy file, or the shipped example; returns the policy and a description of where it came from.
pub fn load_policy(file: Option<&Path>) -> anyhow::Result<(Policy, String)> {
    match file {
        None => Ok((
            Policy::example(),
            "built-in example (illustrative, not doctrine)".to_string(),
        )),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("policy {}", p.display()))?;
            let policy =
                Policy::from_toml_str(&text).with_context(|| format!("policy {}", p.display()))?;
            Ok((policy, p.display().to_string()))
        }
    }
}

/// A route: its line, how it was read, and how much its corridor must widen.
fn parse_route(text: &str) -> anyhow::Result<(Geometry<f64>, String, f64)> {
    let t = text.trim();
    if t.to_ascii_uppercase().starts_with("LINESTRING") {
        let g = parse_wkt(t)?;
        let how = read_as_geometry(&g);
        return Ok((g, format!("WKT (lon lat): {how}"), 0.0));
    }
    let mut pts = Vec::new();
    let mut how = Vec::new();
    let mut widen = 0.0f64;
    for part in t.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let p = parse_coord(part).map_err(anyhow::Error::msg)?;
        pts.push((p.center.1, p.center.0));
        let mut said = format!("lat {:.7} lon {:.7}", p.center.0, p.center.1);
        if !matches!(p.geometry, Geometry::Point(_)) {
            // A grid square: the vertex is its centre, and the corridor
            // widens by the farthest the square reaches from it.
            let c = nostrike_core::geodesy::Vertex::new(p.center.1, p.center.0);
            let reach = nostrike_formats::coords(&p.geometry)
                .iter()
                .map(|q| {
                    nostrike_core::geodesy::distance(
                        &c,
                        &nostrike_core::geodesy::Vertex::new(q.x, q.y),
                    )
                })
                .fold(0.0, f64::max)
                + p.widen_m;
            widen = widen.max(reach);
            said.push_str(&format!(
                " (centre of the grid square {part}, half-diagonal {reach:.1} m)"
            ));
        }
        how.push(said);
    }
    if pts.len() < 2 {
        bail!("route {text:?} needs at least 2 vertices separated by ';'");
    }
    let mut read = format!("route of {} vertices: {}", pts.len(), how.join("; "));
    if widen > 0.0 {
        read.push_str(&format!(
            "; corridor widened by {widen:.1} m to cover the reduced-precision vertices' squares"
        ));
    }
    Ok((LineString::from(pts).into(), read, widen))
}

/// How a geometry was understood, in explicit latitude/longitude order: a
/// point's coordinates, a line's or polygon's first vertex and vertex count.
/// A swapped latitude and longitude shows here.
pub fn read_as_geometry(g: &Geometry<f64>) -> String {
    let cs = nostrike_formats::coords(g);
    let kind = match g {
        Geometry::Point(_) => "point",
        Geometry::Line(_) | Geometry::LineString(_) => "line",
        Geometry::MultiLineString(_) => "lines",
        Geometry::Polygon(_) | Geometry::Rect(_) | Geometry::Triangle(_) => "polygon",
        Geometry::MultiPolygon(_) => "polygons",
        Geometry::MultiPoint(_) => "points",
        Geometry::GeometryCollection(_) => "collection",
    };
    match (g, cs.first()) {
        (Geometry::Point(p), _) => format!("point lat {} lon {}", p.y(), p.x()),
        (_, Some(c)) => format!(
            "{kind} of {} vertices, first at lat {} lon {}",
            cs.len(),
            c.y,
            c.x
        ),
        (_, None) => format!("empty {kind}"),
    }
}

fn parse_wkt(text: &str) -> anyhow::Result<Geometry<f64>> {
    use std::str::FromStr;
    let w = wkt::Wkt::<f64>::from_str(text.trim())
        .map_err(|e| anyhow::anyhow!("cannot read WKT {text:?}: {e}"))?;
    let g = Geometry::try_from(w).map_err(|e| anyhow::anyhow!("cannot read WKT {text:?}: {e}"))?;
    nostrike_formats::validate_geometry(&g).map_err(|e| anyhow::anyhow!("WKT {text:?}: {e}"))?;
    Ok(g)
}

fn metres_prop(
    p: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    default: f64,
    what: &str,
) -> anyhow::Result<f64> {
    match p.get(key) {
        None | Some(serde_json::Value::Null) => Ok(default),
        Some(serde_json::Value::Number(n)) => {
            let v = n.as_f64().unwrap_or(f64::NAN);
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                bail!("{what}: {key} = {v} must be a non-negative number of metres")
            }
        }
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(default),
        Some(serde_json::Value::String(s)) => {
            parse_distance(s).map_err(|e| anyhow::anyhow!("{what}: {key}: {e}"))
        }
        Some(v) => bail!("{what}: {key} = {v} is not a distance"),
    }
}

fn areas_from_file(
    path: &Path,
    buffer: f64,
    loc: f64,
    out: &mut Vec<(Area, AreaInput)>,
) -> anyhow::Result<()> {
    // Standard input is read as a stream (GeoJSON or CSV, told from its
    // first bytes); a file by its content and extension.
    let stdin = path == Path::new("-");
    let mut buffered = None;
    let (path, format) = if stdin {
        let mut input = std::io::BufReader::with_capacity(1 << 16, std::io::stdin().lock());
        let head =
            std::io::BufRead::fill_buf(&mut input).context("reading areas from standard input")?;
        let format = Format::detect_stream(head);
        buffered = Some(input);
        (PathBuf::from("<standard input>"), format)
    } else {
        (path.to_path_buf(), Format::detect(path)?)
    };
    let mut errors = Vec::new();
    let options = ReadOptions {
        geometry_optional: true,
        ..ReadOptions::default()
    };
    let mut each = |raw: nostrike_formats::RawFeature| {
        let what = format!(
            "{}: {} {}",
            path.display(),
            nostrike_formats::unit_of(format),
            raw.index
        );
        let r: anyhow::Result<()> = (|| {
            // A grid reference in an `mgrs` column (any precision; a square is checked whole).
            let mgrs = raw
                .properties
                .iter()
                .find(|(k, v)| {
                    k.eq_ignore_ascii_case("mgrs")
                        && v.as_str().is_some_and(|s| !s.trim().is_empty())
                })
                .and_then(|(_, v)| v.as_str());
            let (geometry, widen, grid) = match (&raw.geometry, mgrs) {
                (Err(_), Some(m)) => {
                    let p = parse_coord(m).map_err(anyhow::Error::msg)?;
                    (p.geometry, p.widen_m, Some(p.how))
                }
                (g, _) => (g.clone().map_err(anyhow::Error::msg)?, 0.0, None),
            };
            nostrike_formats::validate_geometry(&geometry)?;
            let id = raw
                .id
                .clone()
                .or_else(|| {
                    raw.properties.get("id").map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("area-{}", raw.index));
            let b = metres_prop(&raw.properties, "buffer_m", buffer, &what)? + widen;
            // The file's location error and --location-error: the larger applies, and the report says which.
            let from_file = metres_prop(&raw.properties, "location_error_m", 0.0, &what)?;
            let l = from_file.max(loc);
            let mut how = grid.unwrap_or_else(|| read_as_geometry(&geometry));
            if from_file > 0.0 || loc > 0.0 {
                how.push_str(&format!(
                    "; location error {l} m: the larger of the file's {from_file} m and --location-error {loc} m"
                ));
            }
            let area = Area::geometry(id, geometry, b).with_location_error(l);
            out.push((
                area,
                AreaInput {
                    text: what.clone(),
                    how: format!("from {what}: {how}"),
                    profile: None,
                },
            ));
            Ok(())
        })();
        if let Err(e) = r {
            errors.push(format!("{what}: {}", crate::error_message(&e)));
        }
        Ok(())
    };
    match buffered {
        Some(input) => {
            nostrike_formats::read_features_from(&path, input, format, &options, &mut each)?
        }
        None => read_features(&path, format, &options, &mut each)?,
    }
    if !errors.is_empty() {
        bail!(
            "{} invalid area(s):\n  {}",
            errors.len(),
            errors.join("\n  ")
        );
    }
    Ok(())
}

/// Every area the arguments name, in the order given.
/// The areas of a check: as given, or once per `--profile` with the
/// buffer the profile sets (ids suffixed `@PROFILE`).
fn areas_with_profiles(
    args: &CheckArgs,
    policy: &Policy,
    policy_source: &str,
) -> anyhow::Result<Vec<(Area, AreaInput)>> {
    if args.profiles.is_empty() {
        return build_areas(args);
    }
    let mut all = Vec::new();
    for name in &args.profiles {
        let Some(p) = policy.profiles.get(name) else {
            let known: Vec<&str> = policy.profiles.keys().map(String::as_str).collect();
            anyhow::bail!(
                "--profile {name:?}: the policy ({policy_source}) has no such profile; it has: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
        };
        let mut with = args.clone();
        with.buffer = Distance(p.radius_m);
        for (mut area, mut input) in build_areas(&with)? {
            area.id = format!("{}@{name}", area.id);
            input.profile = Some(nostrike_app::report::AreaProfile {
                name: name.clone(),
                radius_m: p.radius_m,
            });
            all.push((area, input));
        }
    }
    Ok(all)
}

pub fn build_areas(args: &CheckArgs) -> anyhow::Result<Vec<(Area, AreaInput)>> {
    let (buffer, loc) = (args.buffer.0, args.location_error.0);
    let corridor = args.corridor.map_or(buffer, |c| c.0);
    let mut areas = Vec::new();
    for (i, p) in args.points.iter().enumerate() {
        let place = p.place.clone();
        let mut a = Area::geometry(
            format!("point-{}", i + 1),
            place.geometry,
            buffer + place.widen_m,
        )
        .with_location_error(loc);
        a.kind = AreaKind::Point;
        areas.push((
            a,
            AreaInput {
                text: p.text.clone(),
                how: place.how,
                profile: None,
            },
        ));
    }
    for (i, w) in args.wkts.iter().enumerate() {
        let g = parse_wkt(w).context("--wkt")?;
        areas.push((
            Area::geometry(format!("wkt-{}", i + 1), g.clone(), buffer).with_location_error(loc),
            AreaInput {
                text: w.clone(),
                how: format!("WKT (lon lat): {}", read_as_geometry(&g)),
                profile: None,
            },
        ));
    }
    for (i, r) in args.routes.iter().enumerate() {
        let (g, how, widen) = parse_route(r).context("--route")?;
        let mut a = Area::geometry(format!("route-{}", i + 1), g, corridor + widen)
            .with_location_error(loc);
        a.kind = AreaKind::Route;
        areas.push((
            a,
            AreaInput {
                text: r.clone(),
                how,
                profile: None,
            },
        ));
    }
    if !args.ids.is_empty() {
        if args.ids.len() != areas.len() {
            bail!(
                "--id given {} time(s) for {} area(s) on the command line; give one --id per --point, --wkt and --route, in that order",
                args.ids.len(),
                areas.len()
            );
        }
        for ((a, _), id) in areas.iter_mut().zip(&args.ids) {
            a.id = id.clone();
        }
    }
    if let Some(f) = &args.areas {
        areas_from_file(f, buffer, loc, &mut areas)?;
    }
    if areas.is_empty() {
        bail!("nothing to check: give --point, --wkt, --route or --areas");
    }
    let mut seen = std::collections::HashSet::new();
    for (a, _) in &areas {
        if !seen.insert(a.id.clone()) {
            bail!("two areas have the id {:?}; area ids must be unique", a.id);
        }
    }
    Ok(areas)
}

/// Run `check`.
pub fn run(path: &Path, args: &CheckArgs, out: Out) -> anyhow::Result<ExitCode> {
    run_verdict_of(path, args, out).map(|v| ExitCode::from(exit_code(v)))
}

/// Run `check` and return the run's verdict.
pub fn run_verdict_of(path: &Path, args: &CheckArgs, out: Out) -> anyhow::Result<Verdict> {
    let clock = std::time::Instant::now();
    let lap = |what: &str| {
        if out.verbose > 0 {
            eprintln!("{what}: {:.3} s", clock.elapsed().as_secs_f64());
        }
    };
    let dest = Dest::from_arg(args.output.as_deref());
    if let Some(f) = dest.file() {
        let mut protected = Protected::default().registry(path);
        for input in args.areas.iter().chain(args.policy.iter()) {
            protected = protected.input(input);
        }
        if let Some(t) = args.tiles.as_deref().filter(|t| !t.contains("://")) {
            protected = protected.input(Path::new(t));
        }
        protected.check("--output", f)?;
    }
    let prepared = Prepared::of(args)?;
    lap("areas and policy read");
    let snapshot = Snapshot::open(path, args.as_of)?;
    lap("registry opened");
    let pretty = dest == Dest::Stdout && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut verdict = Verdict::Clear;
    output::write_to(&dest, |w| {
        verdict = check_into(
            &snapshot,
            path,
            args,
            &prepared,
            w,
            ReportStyle {
                color: out.color,
                verbose: out.verbose > 0,
                pretty,
            },
            &lap,
        )?;
        Ok(())
    })?;
    if let (Some(f), false) = (dest.file(), out.quiet) {
        eprintln!(
            "{}: {} — report written to {}",
            verdict_word(verdict),
            report::verdict_sentence(verdict),
            f.display()
        );
    }
    Ok(verdict)
}

/// A check's policy and areas, read and validated before the registry is opened.
pub struct Prepared {
    /// The policy.
    pub policy: Policy,
    /// Where it came from.
    pub policy_source: String,
    /// The areas and how they were given.
    pub areas: Vec<(Area, AreaInput)>,
    /// The groups of linked sites, when already built for this policy and
    /// the snapshot the check will run on (`None`: built by the check).
    pub groups: Option<std::sync::Arc<nostrike_app::groups::Groups>>,
}

impl Prepared {
    /// Read the policy and the areas of `args`.
    pub fn of(args: &CheckArgs) -> anyhow::Result<Prepared> {
        let (policy, policy_source) = load_policy(args.policy.as_deref())?;
        let areas = areas_with_profiles(args, &policy, &policy_source)?;
        Ok(Prepared {
            policy,
            policy_source,
            areas,
            groups: None,
        })
    }
}

/// How a text report is dressed.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReportStyle {
    /// Colour in the table.
    pub color: bool,
    /// The table's verbose notes.
    pub verbose: bool,
    /// Indented JSON.
    pub pretty: bool,
}

/// Check the prepared areas against an open snapshot of the registry at
/// `path` and write the report in `args.format` to `w`: the one path from
/// areas to report that the command line and `nostrike serve` share.
pub fn check_into(
    snapshot: &Snapshot,
    path: &Path,
    args: &CheckArgs,
    prepared: &Prepared,
    w: &mut (dyn std::io::Write + Send),
    style: ReportStyle,
    lap: &dyn Fn(&str),
) -> anyhow::Result<Verdict> {
    let Prepared {
        policy,
        policy_source,
        areas,
        groups,
    } = prepared;
    let policy_source = policy_source.clone();
    let tiles = match &args.tiles {
        None => None,
        Some(_) if !matches!(args.format, ReportFormat::Svg | ReportFormat::Html) => {
            anyhow::bail!("--tiles draws imagery under the map reports (--format svg or html); this report has no map")
        }
        Some(t) => Some(nostrike_app::tiles::TileSource::open(t)?),
    };
    let trust = args
        .trust
        .iter()
        .map(|p| nostrike_app::signing::read_public(p))
        .collect::<Result<Vec<_>, _>>()?;
    let signature =
        nostrike_app::signing::best(&snapshot.signatures, snapshot.signed_state.as_ref(), &trust);
    let unmet = nostrike_app::signing::unmet(signature.as_ref())
        .filter(|_| !trust.is_empty() || policy.require_signature);
    if let Some(why) = unmet {
        let whose = if trust.is_empty() {
            format!("the policy ({policy_source}) requires a signature")
        } else {
            format!(
                "trusted keys: {}",
                args.trust
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        anyhow::bail!(
            "{}: revision {} is not validly signed ({whose}): {why}; nothing was checked",
            path.display(),
            snapshot.revision,
        );
    }
    let now = time::now();
    let validity_time = snapshot.as_of_time.unwrap_or(now);
    let built;
    let groups = match groups {
        Some(g) => &**g,
        None => {
            built = nostrike_app::groups::Groups::build(snapshot.sites(), &snapshot.links, policy)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            &built
        }
    };
    let checker = Checker::new(snapshot.sites(), policy, Some(validity_time))
        .with_coverage(&snapshot.coverage)
        .with_groups(&groups.extra);
    let partner = args.releasable_to.as_deref().map(str::trim);
    if partner == Some("") {
        anyhow::bail!("--releasable-to: give a country or group");
    }
    // The formats written a run of areas at a time, in bounded memory.
    let streamed = match args.format {
        ReportFormat::Json => !style.pretty,
        ReportFormat::Csv
        | ReportFormat::Geojson
        | ReportFormat::Table
        | ReportFormat::Cot
        | ReportFormat::Kml
        | ReportFormat::Kmz => true,
        _ => false,
    };
    // A streamed report checks and writes its areas a run at a time; the
    // others check them all first.
    let (results, withheld, verdict, banner) = if streamed {
        (Vec::new(), Vec::new(), Verdict::Clear, Default::default())
    } else {
        let (results, withheld, verdict) =
            check_run(&checker, groups, partner, snapshot.sites(), path, areas)?;
        let banner =
            nostrike_app::marking::banner_of(&policy.classifications, &results, snapshot.sites())
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        lap("areas checked");
        (results, withheld, verdict, banner)
    };
    let report = Report {
        checked_at: time::format_utc(now),
        registry_path: crate::output::shown(path),
        revision: snapshot.revision,
        content_hash: snapshot.content_hash.to_string(),
        as_of: args.as_of.map(|a| a.to_string()),
        validity_time: time::format_utc(validity_time),
        policy,
        policy_sha256: nostrike_store::hex(&sha2::Sha256::digest(
            policy.to_toml_string().as_bytes(),
        )),
        policy_source,
        index: snapshot.sites(),
        areas,
        results: &results,
        verdict,
        coverage: &snapshot.declared,
        last_import: &snapshot.last_import,
        banner,
        partner,
        withheld: &withheld,
        groups,
        tiles: tiles.as_ref(),
        signature,
        coverage_shapes: &snapshot.coverage_shapes,
    };
    if streamed {
        let verdict = write_streamed(
            report,
            &checker,
            path,
            args.format,
            (style.color, style.verbose),
            w,
        )?;
        lap("areas checked and report written");
        return Ok(verdict);
    }
    match args.format {
        ReportFormat::Json => report::write_json(&report, w, style.pretty)?,
        ReportFormat::Table => report::write_table(&report, w, style.color, style.verbose)?,
        ReportFormat::Geojson => report::write_geojson(&report, w)?,
        ReportFormat::Csv => report::write_csv(&report, w)?,
        ReportFormat::Kml => report::write_kml(&report, w)?,
        ReportFormat::Kmz => report::write_kmz(&report, w)?,
        ReportFormat::Svg => nostrike_app::map::write_svg(&report, w)?,
        ReportFormat::Html => nostrike_app::html::write_html(&report, w)?,
        ReportFormat::Cot => nostrike_app::cot::write_check(&report, w)?,
    }
    lap("report written");
    Ok(verdict)
}

/// Check `areas`, keep one hit per linked group and redact for a partner:
/// the results a report shows, what each area withheld, and the verdict,
/// taken before redaction (redaction never lowers it).
fn check_run<S: nostrike_core::SiteSet + ?Sized>(
    checker: &Checker<'_, S>,
    groups: &nostrike_app::groups::Groups,
    partner: Option<&str>,
    sites: &dyn nostrike_core::SiteSet,
    path: &Path,
    areas: &[(Area, AreaInput)],
) -> anyhow::Result<(Vec<nostrike_core::AreaResult>, Vec<Withheld>, Verdict)> {
    let list: Vec<Area> = areas.iter().map(|(a, _)| a.clone()).collect();
    let mut results = checker
        .check_batch(&list)
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let verdict = run_verdict(&results);
    groups.merge(&mut results);
    let withheld = match partner {
        Some(p) => nostrike_app::marking::redact(&mut results, sites, p)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        None => Vec::new(),
    };
    Ok((results, withheld, verdict))
}

/// Areas checked per run of a streamed report: enough for both cores, few
/// enough that a run's results stay a few megabytes at 136 hits an area
/// (docs/BENCHMARKS.md: at 1M sites 256 areas held 288 MB peak, 512 296 MB,
/// within noise of each other in time; on the dense set 1024 areas 150 MB).
const STREAM_RUN: usize = 256;

/// Areas read back and serialised per run of a streamed report (two runs'
/// JSON are in flight: one written while the next is serialised).
const WRITE_RUN: usize = 256;

/// Hits read back per run at most (about 5 MB of JSON): at 136 hits an
/// area (the 1M benchmark set), 256 areas were 20 MB a run.
const WRITE_HITS: usize = 8192;

/// How much of a streamed report's body is held in memory before it goes
/// to a temporary file.
const SPILL_IN_MEMORY: usize = 2 << 20;

/// Check `template`'s areas a run at a time and write the report as
/// `format` (compact JSON, CSV, GeoJSON, table, KML, KMZ or CoT). Each run's
/// results (after groups and redaction) go into a [`Spill`] in a compact
/// binary form (memory, then an unnamed temporary file) and are dropped;
/// the header, whose verdict, stale count and banner cover every area, is
/// written once all are checked, then the areas, read back a run at a time
/// and written as the whole-report writer of that format would. So memory
/// holds a run, never the report, and the bytes are the same.
fn write_streamed<S: nostrike_core::SiteSet + ?Sized>(
    mut template: Report<'_>,
    checker: &Checker<'_, S>,
    path: &Path,
    format: ReportFormat,
    (color, verbose): (bool, bool),
    w: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<Verdict> {
    let sites = template.index;
    let order = &template.policy.classifications;
    let mut verdict = Verdict::Clear;
    let mut stale = 0usize;
    let mut banner = nostrike_app::marking::Banner::default();
    let mut seen = nostrike_app::marking::SitesSeen::default();
    use std::io::Write as _;
    let mut spill = Spill::new(SPILL_IN_MEMORY);
    let mut encoded = Vec::new();
    // NOSTRIKE_STREAM_RUN sets another run length (tests: any gives the same bytes).
    let run_len = std::env::var("NOSTRIKE_STREAM_RUN")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(STREAM_RUN);
    for run in template.areas.chunks(run_len) {
        let (results, withheld, v) =
            check_run(checker, template.groups, template.partner, sites, path, run)?;
        verdict = verdict.max(v);
        nostrike_app::marking::raise_banner(&mut banner, order, &results, sites, &mut seen)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        stale += results
            .iter()
            .map(|r| r.hits.iter().filter(|h| h.stale.is_some()).count())
            .sum::<usize>();
        let none = Withheld::default();
        encoded.clear();
        for (k, res) in results.iter().enumerate() {
            encode_area(res, withheld.get(k).unwrap_or(&none), &mut encoded);
        }
        spill.write_all(&encoded)?;
    }
    template.verdict = verdict;
    template.banner = banner;
    let mut back = spill.into_decoder()?;
    // Each run of areas read back, then written as its format asks: up to
    // WRITE_RUN areas or WRITE_HITS hits, so that what is in flight does not
    // grow with the density of the hits.
    let mut next = 0;
    let all = template.areas;
    let runs = std::iter::from_fn(|| {
        if next >= all.len() {
            return None;
        }
        let (mut results, mut withheld) = (Vec::new(), Vec::new());
        let mut hits = 0;
        let start = next;
        while next < all.len() && next - start < WRITE_RUN && hits < WRITE_HITS {
            let (r, wh) = match back.area() {
                Ok(x) => x,
                Err(e) => return Some(Err(e)),
            };
            hits += r.hits.len();
            results.push(r);
            withheld.push(wh);
            next += 1;
        }
        Some(Ok::<_, std::io::Error>((
            &all[start..next],
            results,
            withheld,
        )))
    });
    match format {
        ReportFormat::Csv => {
            let mut out = report::csv_writer(&mut *w);
            report::csv_header(&mut out)?;
            for run in runs {
                let (run, results, withheld) = run?;
                report::csv_rows(&template.for_run(run, &results, &withheld), &mut out)?;
            }
            out.flush()?;
        }
        ReportFormat::Geojson => {
            let (head, tail) = report::geojson_around(&template, stale)?;
            w.write_all(&head)?;
            let mut first = true;
            for run in runs {
                let (run, results, withheld) = run?;
                for f in report::geojson_features(&template.for_run(run, &results, &withheld))? {
                    if !std::mem::take(&mut first) {
                        w.write_all(b",")?;
                    }
                    serde_json::to_writer(&mut *w, &f)?;
                }
            }
            w.write_all(&tail)?;
        }
        ReportFormat::Table => {
            w.write_all(report::table_head(&template).as_bytes())?;
            let mut verdicts = Vec::with_capacity(template.areas.len());
            let mut text = String::new();
            for run in runs {
                let (run, results, withheld) = run?;
                verdicts.extend(results.iter().map(|r| r.verdict));
                text.clear();
                report::table_areas(
                    &template.for_run(run, &results, &withheld),
                    color,
                    verbose,
                    &mut text,
                )?;
                w.write_all(text.as_bytes())?;
            }
            w.write_all(report::table_tail(&template, &verdicts, stale, color).as_bytes())?;
        }
        ReportFormat::Kml | ReportFormat::Kmz => {
            // A KMZ's document is deflated as it is written into a zip in an
            // unnamed temporary file (the zip's headers are written back
            // when it ends), then copied out.
            let mut kmz = match format {
                ReportFormat::Kmz => Some(report::kmz_start(tempfile::tempfile()?)?),
                _ => None,
            };
            let doc: &mut dyn std::io::Write = match kmz.as_mut() {
                Some(z) => z,
                None => &mut *w,
            };
            doc.write_all(report::kml_head(&template).as_bytes())?;
            let mut text = String::new();
            for run in runs {
                let (run, results, withheld) = run?;
                text.clear();
                report::kml_areas(&template.for_run(run, &results, &withheld), &mut text)?;
                doc.write_all(text.as_bytes())?;
            }
            doc.write_all(report::KML_TAIL.as_bytes())?;
            if let Some(z) = kmz {
                let mut file = z.finish().map_err(std::io::Error::other)?;
                std::io::Seek::rewind(&mut file)?;
                std::io::copy(&mut file, &mut *w)?;
            }
        }
        ReportFormat::Cot => {
            for run in runs {
                let (run, results, withheld) = run?;
                nostrike_app::cot::write_check(
                    &template.for_run(run, &results, &withheld),
                    &mut *w,
                )?;
            }
        }
        _ => {
            w.write_all(&report::json_head(&template, stale)?)?;
            let mut areas = report::AreaWriter::new(true);
            for run in runs {
                let (run, results, withheld) = run?;
                areas.push(&mut *w, &template.for_run(run, &results, &withheld))?;
            }
            areas.finish(&mut *w)?;
            w.write_all(report::JSON_TAIL)?;
        }
    }
    w.flush()?;
    Ok(verdict)
}
