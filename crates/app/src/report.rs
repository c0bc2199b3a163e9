//! Check reports: a table for people, and JSON, GeoJSON, CSV and KML for machines and maps.

use std::fmt::Write as _;

use geo_types::{Geometry, LineString, Point};
use nostrike_core::{Area, AreaResult, Policy, SiteSet, Verdict};
use nostrike_formats::geojson::geometry_to_value;
use rayon::prelude::*;
use serde::ser::SerializeSeq;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// How an area was given on the command line or in a file.
#[derive(Debug, Clone)]
pub struct AreaInput {
    /// The text as typed (or where it came from).
    pub text: String,
    /// How it was read.
    pub how: String,
    /// The effect profile that set the area's buffer (`check --profile`), if any.
    pub profile: Option<AreaProfile>,
}

/// The effect profile an area was checked with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AreaProfile {
    /// The profile's name in the policy.
    pub name: String,
    /// Its radius: the area's buffer (metres).
    pub radius_m: f64,
}

/// Everything a report states.
pub struct Report<'a> {
    /// UTC time of the check.
    pub checked_at: String,
    /// Registry path.
    pub registry_path: String,
    /// Registry revision checked against.
    pub revision: i64,
    /// Content hash of the sites checked against.
    pub content_hash: String,
    /// `--as-of` as given.
    pub as_of: Option<String>,
    /// The time site validity periods were judged at.
    pub validity_time: String,
    /// The policy.
    pub policy: &'a Policy,
    /// Where the policy came from.
    pub policy_source: String,
    /// SHA-256 of the policy's canonical text (`nostrike policy show`), hex.
    pub policy_sha256: String,
    /// The sites.
    pub index: &'a dyn SiteSet,
    /// The areas and how they were given.
    pub areas: &'a [(Area, AreaInput)],
    /// Results, in area order.
    pub results: &'a [AreaResult],
    /// The run's verdict.
    pub verdict: Verdict,
    /// The sources' declared coverage (empty: none declared, and "no
    /// hits" then says nothing about where the sources have looked).
    pub coverage: &'a [crate::DeclaredCoverage],
    /// When each source was last imported (seconds since the Unix epoch, UTC), at the checked revision.
    pub last_import: &'a std::collections::BTreeMap<String, i64>,
    /// The highest marking of the sites the report shows.
    pub banner: crate::marking::Banner,
    /// The partner the report is for (`check --releasable-to`), if any.
    pub partner: Option<&'a str>,
    /// Per area, what the partner's report leaves out (empty without a partner).
    pub withheld: &'a [crate::marking::Withheld],
    /// The groups of linked sites (each reported once per area).
    pub groups: &'a crate::groups::Groups,
    /// Imagery under the map reports (`check --tiles`), if any.
    pub tiles: Option<&'a crate::tiles::TileSource>,
    /// The registry's signature for the state checked against (`None`: never signed).
    pub signature: Option<crate::signing::SignatureCheck>,
    /// Each declaring source's coverage (lon/lat), drawn on the map reports.
    pub coverage_shapes: &'a [(String, Geometry<f64>)],
}

impl Report<'_> {
    /// The group a hit's site belongs to, as the report may show it: never
    /// in a partner's report (a member's key or distance could point at a
    /// withheld record).
    fn group(&self, site: usize) -> Option<&crate::groups::Group> {
        if self.partner.is_some() {
            return None;
        }
        self.groups.of_site(site)
    }

    /// What area `k` withheld, when anything.
    fn withheld(&self, k: usize) -> Option<&crate::marking::Withheld> {
        self.withheld
            .get(k)
            .filter(|w| w.hits > 0 || w.not_valid > 0)
    }

    /// The sentence for what area `k` withheld.
    pub(crate) fn withheld_sentence(&self, k: usize) -> Option<String> {
        let w = self.withheld(k)?;
        let partner = self.partner.unwrap_or("the partner");
        let mut s = String::new();
        if w.hits > 0 {
            let _ = write!(
                s,
                "{} further protected site(s) not releasable to {partner} within reach: {}",
                w.hits,
                w.verdict.map(str::to_uppercase).unwrap_or_default()
            );
        }
        if w.not_valid > 0 {
            if !s.is_empty() {
                s.push_str("; ");
            }
            let _ = write!(
                s,
                "{} site(s) outside their validity period not releasable to {partner}",
                w.not_valid
            );
        }
        Some(s)
    }
}

impl<'a> Report<'a> {
    /// The same report over one run of its areas (their results and what
    /// each withheld): a streamed report writes its areas a run at a time.
    pub fn for_run<'b>(
        &'b self,
        areas: &'b [(Area, AreaInput)],
        results: &'b [AreaResult],
        withheld: &'b [crate::marking::Withheld],
    ) -> Report<'b>
    where
        'a: 'b,
    {
        Report {
            checked_at: self.checked_at.clone(),
            registry_path: self.registry_path.clone(),
            revision: self.revision,
            content_hash: self.content_hash.clone(),
            as_of: self.as_of.clone(),
            validity_time: self.validity_time.clone(),
            policy: self.policy,
            policy_source: self.policy_source.clone(),
            policy_sha256: self.policy_sha256.clone(),
            index: self.index,
            areas,
            results,
            verdict: self.verdict,
            coverage: self.coverage,
            last_import: self.last_import,
            banner: self.banner.clone(),
            partner: self.partner,
            withheld,
            groups: self.groups,
            tiles: self.tiles,
            signature: self.signature.clone(),
            coverage_shapes: self.coverage_shapes,
        }
    }
}

impl Report<'_> {
    /// How many hits rely on a stale record.
    pub fn stale_hits(&self) -> usize {
        self.results
            .iter()
            .map(|r| r.hits.iter().filter(|h| h.stale.is_some()).count())
            .sum()
    }
}

/// What a report says when no source declares its coverage.
pub const NO_COVERAGE_NOTE: &str = "no source declares its coverage: \"no hits\" means no site is recorded within reach, not that none exists (declare one with `import --coverage` or `nostrike coverage`)";

/// The verdict in capitals, as reports print it.
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Conflict => "CONFLICT",
        Verdict::Uncovered => "UNCOVERED",
        Verdict::Caution => "CAUTION",
        Verdict::Clear => "NO HITS",
    }
}

/// The exit code for a run verdict.
pub fn exit_code(v: Verdict) -> u8 {
    match v {
        Verdict::Clear => 0,
        Verdict::Caution => 3,
        Verdict::Conflict => 4,
        Verdict::Uncovered => 5,
    }
}

/// The report's sentence for a verdict.
pub fn verdict_sentence(v: Verdict) -> &'static str {
    match v {
        Verdict::Conflict => "protected sites within the required distance",
        Verdict::Uncovered => {
            "outside every source's declared coverage: no data here is not no sites here"
        }
        Verdict::Caution => "protected sites within the caution margin of the required distance",
        Verdict::Clear => "no protected sites within the required distance",
    }
}

fn paint(text: &str, v: Verdict, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let colour = match v {
        Verdict::Conflict => anstyle::AnsiColor::Red,
        Verdict::Uncovered => anstyle::AnsiColor::Magenta,
        Verdict::Caution => anstyle::AnsiColor::Yellow,
        Verdict::Clear => anstyle::AnsiColor::Green,
    };
    let style = colour.on_default().bold();
    format!("{style}{text}{style:#}")
}

/// The table report.
fn table(r: &Report<'_>, color: bool, verbose: bool) -> anyhow::Result<String> {
    let mut o = table_head(r);
    table_areas(r, color, verbose, &mut o)?;
    let verdicts: Vec<Verdict> = r.results.iter().map(|x| x.verdict).collect();
    o.push_str(&table_tail(r, &verdicts, r.stale_hits(), color));
    Ok(o)
}

/// The table report's lines before its first area: the banner and the
/// header (registry, policy, coverage).
pub fn table_head(r: &Report<'_>) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", r.banner.text());
    let _ = writeln!(
        o,
        "nostrike {} check — {}",
        env!("CARGO_PKG_VERSION"),
        r.checked_at
    );
    if let Some(p) = r.partner {
        let _ = writeln!(
            o,
            "for       {p}: sites not releasable to {p} are counted in every verdict and not shown"
        );
    }
    let _ = writeln!(
        o,
        "registry  {}  revision {}  content {}",
        r.registry_path, r.revision, r.content_hash
    );
    if let Some(a) = &r.as_of {
        let _ = writeln!(
            o,
            "as of     {a} (site validity judged at {})",
            r.validity_time
        );
    }
    let _ = writeln!(
        o,
        "policy    {} — {}; caution margin {} m; sha256 {}",
        r.policy.name, r.policy_source, r.policy.caution_margin_m, r.policy_sha256
    );
    let defaulted = r.policy.defaulted_categories();
    if !defaulted.is_empty() {
        let _ = writeln!(
            o,
            "          the policy's default standoff applies to: {}",
            defaulted
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if r.coverage.is_empty() {
        let _ = writeln!(o, "coverage  {NO_COVERAGE_NOTE}");
    }
    for c in r.coverage {
        let _ = writeln!(o, "coverage  {} — {}", c.source, c.how);
    }
    o
}

/// The table report's lines for each area of `r` (a whole report's, or a run's).
pub fn table_areas(
    r: &Report<'_>,
    color: bool,
    verbose: bool,
    o: &mut String,
) -> anyhow::Result<()> {
    for (k, ((area, input), res)) in r.areas.iter().zip(r.results).enumerate() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "AREA {}  buffer {} m  location error {} m",
            area.id, area.buffer_m, area.location_error_m
        );
        let _ = writeln!(o, "  input   {}", input.text);
        let _ = writeln!(o, "  read as {}", input.how);
        if let Some(p) = &input.profile {
            let _ = writeln!(
                o,
                "  profile {}: buffer {} m from the policy",
                p.name, p.radius_m
            );
        }
        let word = verdict_word(res.verdict);
        let _ = writeln!(
            o,
            "  {}: {} ({} site(s))",
            paint(word, res.verdict, color),
            verdict_sentence(res.verdict),
            res.hits.len()
        );
        if let Some(c) = &res.coverage {
            if c.uncovered() {
                let _ = writeln!(
                    o,
                    "  coverage: no source's declared coverage holds the area with everything within {:.0} m of it",
                    c.reach_m
                );
            } else {
                let _ = writeln!(
                    o,
                    "  covered by {} (the area with everything within {:.0} m of it)",
                    c.covered_by.join(", "),
                    c.reach_m
                );
            }
        }
        if let Some(w) = r.withheld_sentence(k) {
            let _ = writeln!(o, "  WITHHELD: {w}");
        }
        for n in not_valid_items(r.index, res)? {
            let _ = writeln!(
                o,
                "  not valid at the check time (not counted): {} {} — valid {} to {}, {:.1} m",
                n.site_id,
                n.name,
                n.valid_from.as_deref().unwrap_or("-"),
                n.valid_to.as_deref().unwrap_or("-"),
                n.distance_m
            );
        }
        if res.hits.is_empty() {
            continue;
        }
        for a in data_ages(r, res)? {
            let _ = writeln!(o, "  data    {}", age_words(&a));
        }
        let _ = writeln!(
            o,
            "  {:<8} {:>11} {:>11} {:>11} {:>7}  {:<19} {:<9} {:<28} name",
            "verdict",
            "margin_m",
            "distance_m",
            "required_m",
            "bearing",
            "category",
            "protect.",
            "site"
        );
        let route = route_of_area(area).map_err(anyhow::Error::msg)?;
        for h in &res.hits {
            let s = r.index.label(h.site)?;
            let b = h
                .bearing_deg
                .map(|b| format!("{b:.1}"))
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                o,
                "  {:<8} {:>11.1} {:>11.1} {:>11.1} {:>7}  {:<19} {:<9} {:<28} {}",
                paint(verdict_word(h.verdict), h.verdict, color),
                h.margin_m,
                h.distance_m,
                h.required_m,
                b,
                s.category.as_str(),
                s.protection.as_str(),
                s.key(),
                s.name
            );
            if let Some(along) = route_of(r.index, route.as_ref(), h).map_err(anyhow::Error::msg)? {
                let km = if along.within_required.is_empty() {
                    "nowhere (within the caution margin only)".to_string()
                } else {
                    along
                        .within_required
                        .iter()
                        .map(|[a, b]| format!("km {:.1}–{:.1}", a / 1000.0, b / 1000.0))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let _ = writeln!(
                    o,
                    "  {:<8} along the route: closest at km {:.1} (leg {}); within the required distance: {km}",
                    "",
                    along.along_route_m / 1000.0,
                    along.leg + 1
                );
            }
            if let Some(st) = &h.stale {
                let _ = writeln!(
                    o,
                    "  {:<8} {}",
                    paint("STALE", Verdict::Caution, color),
                    stale_words(st)
                );
            }
            if let Some(g) = r.group(h.site) {
                let _ = writeln!(
                    o,
                    "  {:<8} linked group of {}: face {}; members {}",
                    "",
                    g.members.len(),
                    g.face,
                    g.members.join(", ")
                );
                for d in &g.disagreement {
                    let _ = writeln!(o, "  {:<8} {d}", paint("DISAGREE", Verdict::Caution, color));
                }
            }
            if verbose {
                let _ = writeln!(
                    o,
                    "  {:<8} required = buffer {} + location error {} + standoff {} ({}) + positional accuracy {} m",
                    "",
                    area.buffer_m,
                    area.location_error_m,
                    h.standoff_m,
                    standoff_from(h),
                    h.positional_accuracy_m
                );
            }
        }
    }
    Ok(())
}

/// The table report's lines after its last area: the profile matrix (from
/// every area's verdict, in order), the stale count, the result and the banner.
pub fn table_tail(r: &Report<'_>, verdicts: &[Verdict], stale: usize, color: bool) -> String {
    let mut o = String::new();
    let _ = writeln!(o);
    profile_matrix(r.areas, verdicts, &mut o, color);
    if stale > 0 {
        let _ = writeln!(
            o,
            "{}: {stale} hit(s) rely on records not verified within the policy's max_age_days (or never): re-verify them (the verdict stands)",
            paint("STALE", Verdict::Caution, color)
        );
    } else if !r.policy.judges_staleness() {
        let _ = writeln!(o, "staleness not judged: the policy sets no max_age_days");
    }
    let code = exit_code(r.verdict);
    let _ = writeln!(
        o,
        "RESULT: {} — {} (exit {code})",
        paint(verdict_word(r.verdict), r.verdict, color),
        verdict_sentence(r.verdict)
    );
    let _ = writeln!(o, "{}", r.banner.text());
    o
}

/// With effect profiles, one line per area and one verdict column per profile.
fn profile_matrix(areas: &[(Area, AreaInput)], verdicts: &[Verdict], o: &mut String, color: bool) {
    let mut names: Vec<&str> = Vec::new();
    let mut rows: Vec<(&str, Vec<(&str, Verdict)>)> = Vec::new();
    for ((area, input), verdict) in areas.iter().zip(verdicts.iter().copied()) {
        let Some(p) = &input.profile else { continue };
        if !names.contains(&p.name.as_str()) {
            names.push(&p.name);
        }
        let base = area
            .id
            .strip_suffix(&format!("@{}", p.name))
            .unwrap_or(&area.id);
        match rows.iter_mut().find(|(b, _)| *b == base) {
            Some((_, cells)) => cells.push((&p.name, verdict)),
            None => rows.push((base, vec![(&p.name, verdict)])),
        }
    }
    if names.is_empty() {
        return;
    }
    let _ = write!(o, "PROFILES  {:<24}", "area");
    for n in &names {
        let _ = write!(o, " {n:<12}");
    }
    let _ = writeln!(o);
    for (base, cells) in rows {
        let _ = write!(o, "          {base:<24}");
        for n in &names {
            match cells.iter().find(|(c, _)| c == n) {
                Some((_, v)) => {
                    let _ = write!(
                        o,
                        " {}",
                        paint(&format!("{:<12}", verdict_word(*v)), *v, color)
                    );
                }
                None => {
                    let _ = write!(o, " {:<12}", "-");
                }
            }
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o);
}

/// A stale hit in words: when it was last verified, how long ago, and the policy's limit.
fn stale_words(st: &nostrike_core::Staleness) -> String {
    match (&st.last_verified, st.age_days) {
        (Some(v), Some(age)) => format!(
            "last verified {v}, {age} days before the check (policy: {} days)",
            st.max_age_days
        ),
        (Some(v), None) => format!(
            "last verified {v:?}, which is not a date (policy: {} days)",
            st.max_age_days
        ),
        (None, _) => format!("never verified (policy: {} days)", st.max_age_days),
    }
}

/// One source's data ages for an area, in words.
fn age_words(a: &SourceAge) -> String {
    let mut s = format!(
        "{}: {} hit(s), last imported {}",
        a.source,
        a.hits,
        a.last_import.as_deref().unwrap_or("(unknown)")
    );
    match (&a.last_verified_oldest, &a.last_verified_newest) {
        (Some(o), Some(n)) if o == n => {
            let _ = write!(s, ", last verified {o}");
        }
        (Some(o), Some(n)) => {
            let _ = write!(s, ", last verified {o} to {n}");
        }
        _ => {}
    }
    if a.never_verified > 0 {
        let _ = write!(s, ", {} never verified", a.never_verified);
    }
    s
}

/// The report's header as JSON: everything but the areas.
pub fn head_value(r: &Report<'_>) -> Value {
    json!({
        "verdict": r.verdict.as_str(),
        "summary": verdict_sentence(r.verdict),
        "tool": "nostrike",
        "version": env!("CARGO_PKG_VERSION"),
        "checked_at": r.checked_at,
        "registry": {"path": r.registry_path, "revision": r.revision, "content_hash": r.content_hash},
        "as_of": r.as_of,
        "validity_time": r.validity_time,
        "policy": {
            "name": r.policy.name,
            "source": r.policy_source,
            "sha256": r.policy_sha256,
            "caution_margin_m": r.policy.caution_margin_m,
            "defaulted_categories": r.policy.defaulted_categories().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        },
        "coverage": {
            "declared": r.coverage,
            "note": r.coverage.is_empty().then_some(NO_COVERAGE_NOTE),
        },
        "staleness": {
            "judged": r.policy.judges_staleness(),
            "stale_hits": r.stale_hits(),
        },
        "signature": r.signature,
        "marking": {
            "banner": r.banner.text(),
            "classification": r.banner.classification,
            "releasable_to": r.banner.releasable_to,
            "for_partner": r.partner,
        },
    })
}

/// How a hit's required distance is made up.
#[derive(Serialize)]
struct Required {
    buffer_m: f64,
    location_error_m: f64,
    standoff_m: f64,
    standoff_from: &'static str,
    positional_accuracy_m: f64,
}

fn required(area: &Area, h: &nostrike_core::Hit) -> Required {
    Required {
        buffer_m: area.buffer_m,
        location_error_m: area.location_error_m,
        standoff_m: h.standoff_m,
        standoff_from: standoff_from(h),
        positional_accuracy_m: h.positional_accuracy_m,
    }
}

fn standoff_from(h: &nostrike_core::Hit) -> &'static str {
    if h.standoff_from_group {
        "group"
    } else if h.standoff_from_site {
        "site"
    } else {
        "policy"
    }
}

/// A site within reach that is outside its validity period at the check's time.
#[derive(Serialize)]
struct NotValid {
    site_id: String,
    name: String,
    valid_from: Option<String>,
    valid_to: Option<String>,
    distance_m: f64,
}

fn not_valid_items(
    index: &dyn SiteSet,
    res: &AreaResult,
) -> Result<Vec<NotValid>, nostrike_core::SetError> {
    res.not_valid
        .iter()
        .map(|h| {
            let s = index.label(h.site)?;
            let p = index.params(h.site)?;
            Ok(NotValid {
                site_id: s.key(),
                name: s.name.to_string(),
                valid_from: p.valid_from.map(nostrike_core::time::format_utc),
                valid_to: p.valid_to.map(nostrike_core::time::format_utc),
                distance_m: h.distance_m,
            })
        })
        .collect()
}

#[derive(Serialize)]
struct JsonHit<'a> {
    site_id: String,
    source: &'a str,
    source_id: &'a str,
    name: &'a str,
    category: &'static str,
    class: &'static str,
    protection: &'static str,
    distance_m: f64,
    required_m: f64,
    required: Required,
    margin_m: f64,
    verdict: &'static str,
    bearing_deg: Option<f64>,
    nearest_on_area: [f64; 2],
    nearest_on_site: [f64; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    stale: Option<JsonStale<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a crate::groups::Group>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<JsonRoute>,
}

/// A hit's stale record in the JSON report.
#[derive(Serialize)]
struct JsonStale<'a> {
    last_verified: Option<&'a str>,
    age_days: Option<i64>,
    max_age_days: u32,
}

fn json_stale(h: &nostrike_core::Hit) -> Option<JsonStale<'_>> {
    h.stale.as_ref().map(|s| JsonStale {
        last_verified: s.last_verified.as_deref(),
        age_days: s.age_days,
        max_age_days: s.max_age_days,
    })
}

/// The data one area's hits relied on, per source: when the source was
/// last imported and how old the hits' verifications are.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SourceAge {
    /// The source.
    pub source: String,
    /// When the source was last imported (UTC), at the checked revision.
    pub last_import: Option<String>,
    /// How many of the area's hits came from it.
    pub hits: usize,
    /// The oldest `last_verified` among them.
    pub last_verified_oldest: Option<String>,
    /// The newest `last_verified` among them.
    pub last_verified_newest: Option<String>,
    /// How many of them have no (readable) `last_verified`.
    pub never_verified: usize,
}

/// Per source, the data an area's hits relied on, in source order.
fn data_ages(r: &Report<'_>, res: &AreaResult) -> Result<Vec<SourceAge>, nostrike_core::SetError> {
    let labels = res
        .hits
        .iter()
        .map(|h| r.index.label(h.site))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(data_ages_of(r, &labels))
}

/// [`data_ages`] of the hits' labels, read once by the caller.
fn data_ages_of(r: &Report<'_>, labels: &[nostrike_core::SiteLabel<'_>]) -> Vec<SourceAge> {
    let mut by: std::collections::BTreeMap<&str, (SourceAge, Option<i64>, Option<i64>)> =
        Default::default();
    for s in labels {
        let e = by.entry(s.source.as_ref()).or_insert_with(|| {
            (
                SourceAge {
                    source: s.source.to_string(),
                    last_import: r
                        .last_import
                        .get(s.source.as_ref())
                        .map(|t| nostrike_core::time::format_utc(*t)),
                    hits: 0,
                    last_verified_oldest: None,
                    last_verified_newest: None,
                    never_verified: 0,
                },
                None,
                None,
            )
        });
        e.0.hits += 1;
        let at = s
            .last_verified
            .as_deref()
            .and_then(|t| nostrike_core::time::parse_utc(t.trim()).ok());
        match (at, s.last_verified.as_deref()) {
            (Some(t), Some(text)) => {
                if e.1.is_none_or(|o| t < o) {
                    e.1 = Some(t);
                    e.0.last_verified_oldest = Some(text.to_string());
                }
                if e.2.is_none_or(|n| t > n) {
                    e.2 = Some(t);
                    e.0.last_verified_newest = Some(text.to_string());
                }
            }
            _ => e.0.never_verified += 1,
        }
    }
    by.into_values().map(|v| v.0).collect()
}

/// Where along a route a hit's site is within reach (route areas only).
#[derive(Serialize)]
struct JsonRoute {
    leg: usize,
    along_route_m: f64,
    within_required: Vec<[f64; 2]>,
}

/// A route area (one line), prepared once for all its hits; `None` for any other area.
fn route_of_area(area: &Area) -> Result<Option<nostrike_core::Route>, String> {
    match &area.geometry {
        geo_types::Geometry::LineString(line) if area.kind == nostrike_core::AreaKind::Route => {
            nostrike_core::Route::new(line)
                .map(Some)
                .map_err(|e| format!("area {:?}: {e}", area.id))
        }
        _ => Ok(None),
    }
}

/// Where along the area's route the hit's site comes within its required
/// distance; `None` when the area is not a route.
fn route_of(
    index: &dyn SiteSet,
    route: Option<&nostrike_core::Route>,
    h: &nostrike_core::Hit,
) -> Result<Option<JsonRoute>, String> {
    let Some(route) = route else {
        return Ok(None);
    };
    let point;
    let geom = index.geom(h.site).map_err(|e| e.to_string())?;
    let site = match &geom {
        nostrike_core::GeomRef::Point { lon, lat } => {
            point = nostrike_core::Shape::point(*lon, *lat).map_err(|e| e.to_string())?;
            &point
        }
        nostrike_core::GeomRef::Shape(s) => s,
        nostrike_core::GeomRef::Built(s) => &**s,
    };
    let r = route.reach(site, h.required_m);
    Ok(Some(JsonRoute {
        leg: r.leg,
        along_route_m: r.along_route_m,
        within_required: r.within_required,
    }))
}

/// The hits of one area, serialised one at a time (no intermediate tree).
struct JsonHits<'a> {
    hits: &'a [nostrike_core::Hit],
    index: &'a dyn SiteSet,
    area: &'a Area,
    report: &'a Report<'a>,
}

impl Serialize for JsonHits<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(Some(self.hits.len()))?;
        let route = route_of_area(self.area).map_err(serde::ser::Error::custom)?;
        for h in self.hits {
            let s = self
                .index
                .label(h.site)
                .map_err(serde::ser::Error::custom)?;
            seq.serialize_element(&JsonHit {
                site_id: s.key(),
                source: &s.source,
                source_id: &s.id,
                name: &s.name,
                category: s.category.as_str(),
                class: class_word(s.category),
                protection: s.protection.as_str(),
                distance_m: h.distance_m,
                required_m: h.required_m,
                required: required(self.area, h),
                margin_m: h.margin_m,
                verdict: h.verdict.as_str(),
                bearing_deg: h.bearing_deg,
                nearest_on_area: [h.nearest_on_area.x, h.nearest_on_area.y],
                nearest_on_site: [h.nearest_on_site.x, h.nearest_on_site.y],
                stale: json_stale(h),
                group: self.report.group(h.site),
                route: route_of(self.index, route.as_ref(), h)
                    .map_err(serde::ser::Error::custom)?,
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct JsonArea<'a> {
    id: &'a str,
    input: &'a str,
    read_as: &'a str,
    geometry: Value,
    buffer_m: f64,
    location_error_m: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<&'a AreaProfile>,
    verdict: &'static str,
    coverage: Option<JsonCoverage<'a>>,
    data: Vec<SourceAge>,
    #[serde(skip_serializing_if = "Option::is_none")]
    withheld: Option<&'a crate::marking::Withheld>,
    hits: JsonHits<'a>,
    not_valid_at_check_time: Vec<NotValid>,
}

/// An area's coverage in the JSON report.
#[derive(Serialize)]
struct JsonCoverage<'a> {
    covered_by: &'a [String],
    uncovered: bool,
    reach_m: f64,
}

fn json_coverage(res: &AreaResult) -> Option<JsonCoverage<'_>> {
    res.coverage.as_ref().map(|c| JsonCoverage {
        covered_by: &c.covered_by,
        uncovered: c.uncovered(),
        reach_m: c.reach_m,
    })
}

struct JsonAreas<'a>(&'a Report<'a>);

fn json_area<'a>(
    r: &'a Report<'a>,
    k: usize,
    area: &'a Area,
    input: &'a AreaInput,
    res: &'a AreaResult,
) -> Result<JsonArea<'a>, nostrike_core::SetError> {
    Ok(JsonArea {
        id: &area.id,
        input: &input.text,
        read_as: &input.how,
        geometry: geometry_to_value(&area.geometry),
        buffer_m: area.buffer_m,
        location_error_m: area.location_error_m,
        profile: input.profile.as_ref(),
        verdict: res.verdict.as_str(),
        coverage: json_coverage(res),
        data: data_ages(r, res)?,
        withheld: r.withheld(k),
        hits: JsonHits {
            hits: &res.hits,
            index: r.index,
            area,
            report: r,
        },
        not_valid_at_check_time: not_valid_items(r.index, res)?,
    })
}

impl Serialize for JsonAreas<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut seq = ser.serialize_seq(Some(r.results.len()))?;
        for (k, ((area, input), res)) in r.areas.iter().zip(r.results).enumerate() {
            seq.serialize_element(
                &json_area(r, k, area, input, res).map_err(serde::ser::Error::custom)?,
            )?;
        }
        seq.end()
    }
}

/// The whole JSON report, streamed field by field.
struct JsonReport<'a>(&'a Report<'a>);

impl Serialize for JsonReport<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let head = head_value(self.0);
        let mut map = ser.serialize_map(None)?;
        if let Value::Object(h) = &head {
            for (k, v) in h {
                map.serialize_entry(k, v)?;
            }
        }
        map.serialize_entry("areas", &JsonAreas(self.0))?;
        map.end()
    }
}

fn out(text: anyhow::Result<String>, mut w: impl std::io::Write) -> std::io::Result<()> {
    let text = text.map_err(|e| std::io::Error::other(e.to_string()))?;
    w.write_all(text.as_bytes())?;
    w.flush()
}

/// Write the report as a table for people; coloured when `color`, with
/// each hit's standoff and accuracy when `verbose`.
pub fn write_table(
    r: &Report<'_>,
    w: impl std::io::Write,
    color: bool,
    verbose: bool,
) -> std::io::Result<()> {
    out(table(r, color, verbose), w)
}

/// Write the report as a GeoJSON FeatureCollection: the areas and, for each
/// hit, the site's nearest point and the line to it.
pub fn write_geojson(r: &Report<'_>, w: impl std::io::Write) -> std::io::Result<()> {
    out(geojson(r), w)
}

/// Write the report as CSV, one row per hit (and one per area without hits).
pub fn write_csv(r: &Report<'_>, w: impl std::io::Write) -> std::io::Result<()> {
    out(csv(r), w)
}

/// Write the report as KML for Google Earth.
pub fn write_kml(r: &Report<'_>, w: impl std::io::Write) -> std::io::Result<()> {
    out(kml(r), w)
}

/// Write the KML report zipped as a KMZ (`doc.kml`).
pub fn write_kmz(r: &Report<'_>, mut w: impl std::io::Write) -> std::io::Result<()> {
    let doc = kml(r).map_err(|e| std::io::Error::other(e.to_string()))?;
    w.write_all(&kmz_bytes(&doc)?)?;
    w.flush()
}

/// A KMZ: `doc.kml` in a zip (deflated, fixed entry time, so the same
/// document gives the same bytes).
pub fn kmz_bytes(doc: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut z = kmz_start(std::io::Cursor::new(Vec::new()))?;
    z.write_all(doc.as_bytes())?;
    Ok(z.finish().map_err(std::io::Error::other)?.into_inner())
}

/// A KMZ being written to `w`: its `doc.kml` entry is open; write the
/// document into it, then `finish`. [`kmz_bytes`] and the streamed batch
/// check both write through it, so a document gives the same bytes
/// whichever way it was written.
pub fn kmz_start<W: std::io::Write + std::io::Seek>(w: W) -> std::io::Result<zip::ZipWriter<W>> {
    let mut z = zip::ZipWriter::new(w);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    z.start_file("doc.kml", opts)
        .map_err(std::io::Error::other)?;
    Ok(z)
}

/// Write the JSON report (schema: docs/report.schema.json); indented when `pretty`.
pub fn write_json<W: std::io::Write + Send>(
    r: &Report<'_>,
    mut w: W,
    pretty: bool,
) -> std::io::Result<()> {
    if pretty {
        serde_json::to_writer_pretty(&mut w, &JsonReport(r))?;
        w.write_all(b"\n")?;
        return w.flush();
    }
    w.write_all(&json_head(r, r.stale_hits())?)?;
    let mut first = true;
    write_json_areas(r, &mut w, &mut first)?;
    w.write_all(JSON_TAIL)?;
    w.flush()
}

/// The compact JSON report's bytes before its first area: the header
/// object (with `stale_hits` as given: a streamed report counts them as it
/// goes) left open, and `"areas":[`.
pub fn json_head(r: &Report<'_>, stale_hits: usize) -> std::io::Result<Vec<u8>> {
    let mut v = head_value(r);
    v["staleness"]["stale_hits"] = json!(stale_hits);
    let mut head = serde_json::to_vec(&v)?;
    if head.pop() != Some(b'}') {
        return Err(std::io::Error::other("report header is not a JSON object"));
    }
    head.extend_from_slice(if head.len() > 1 {
        b",\"areas\":["
    } else {
        b"\"areas\":["
    });
    Ok(head)
}

/// The compact JSON report's bytes after its last area.
pub const JSON_TAIL: &[u8] = b"]}\n";

/// Write the areas of `r` as compact JSON array items, each after a comma
/// unless it is the report's very first (`first`, cleared once one is written).
pub fn write_json_areas<W: std::io::Write + Send>(
    r: &Report<'_>,
    mut w: W,
    first: &mut bool,
) -> std::io::Result<()> {
    const GROUP: usize = 512;
    let mut areas = AreaWriter::new(std::mem::take(first));
    for start in (0..r.areas.len()).step_by(GROUP) {
        let end = (start + GROUP).min(r.areas.len());
        let group = r.for_run(
            &r.areas[start..end],
            &r.results[start..end.min(r.results.len())],
            // What each area withheld, where it is given (it may be shorter).
            &r.withheld[start.min(r.withheld.len())..end.min(r.withheld.len())],
        );
        areas.push(&mut w, &group)?;
    }
    *first = areas.finish(&mut w)?;
    Ok(())
}

/// The compact JSON report's areas, written a run at a time: while one run
/// is written, the next is serialised on the other cores into buffers that
/// alternate and are reused, so the report's memory is touched once, not
/// once per area. The whole-report writer and the command line's streamed
/// batch check both write through it.
#[derive(Debug)]
pub struct AreaWriter {
    filling: Vec<Vec<u8>>,
    pending: Vec<Vec<u8>>,
    first: bool,
}

impl AreaWriter {
    /// Areas to come; `first`: none of the report's has been written yet.
    pub fn new(first: bool) -> AreaWriter {
        AreaWriter {
            filling: vec![Vec::new(); PIECES],
            pending: vec![Vec::new(); PIECES],
            first,
        }
    }

    /// Serialise the areas of `run` (on all cores) while the run before is written.
    pub fn push<W: std::io::Write + Send + ?Sized>(
        &mut self,
        w: &mut W,
        run: &Report<'_>,
    ) -> std::io::Result<()> {
        let (written, filled) = rayon::join(
            || write_pieces(w, &self.pending, &mut self.first),
            || serialize_pieces(run, &mut self.filling),
        );
        written?;
        filled?;
        std::mem::swap(&mut self.filling, &mut self.pending);
        // A buffer an area with many hits grew is not kept for the next run:
        // what a run holds stays the size of the run, not of the largest area seen.
        for b in &mut self.filling {
            if b.capacity() > PIECE_KEPT {
                *b = Vec::new();
            }
        }
        Ok(())
    }

    /// Write the last run; whether no area was written at all.
    pub fn finish<W: std::io::Write + ?Sized>(mut self, w: &mut W) -> std::io::Result<bool> {
        write_pieces(w, &self.pending, &mut self.first)?;
        Ok(self.first)
    }
}

/// How many buffers a run of areas is serialised into (on all cores).
const PIECES: usize = 8;

/// The largest buffer kept from one run to the next (1 MiB).
const PIECE_KEPT: usize = 1 << 20;

/// Serialise the areas of `r` as compact JSON array items into `pieces`
/// (cleared first; consecutive runs of areas, each area after a comma).
fn serialize_pieces(r: &Report<'_>, pieces: &mut [Vec<u8>]) -> std::io::Result<()> {
    let items: Vec<_> = r
        .areas
        .iter()
        .zip(r.results)
        .enumerate()
        .map(|(k, (a, res))| (k, a, res))
        .collect();
    let per = items.len().div_ceil(pieces.len().max(1)).max(1);
    pieces.par_iter_mut().enumerate().try_for_each(|(k, buf)| {
        buf.clear();
        let run = items.chunks(per).nth(k).unwrap_or(&[]);
        // Room for the whole run at once: no copying as it grows.
        let need: usize = run
            .iter()
            .map(|(_, _, res)| 512 + res.hits.len() * 640)
            .sum();
        buf.reserve(need);
        for (k, (area, input), res) in run {
            buf.push(b',');
            compact_area(r, *k, area, input, res, buf)?;
        }
        Ok::<(), std::io::Error>(())
    })
}

/// Write serialised runs of areas, each area preceded by a comma; the
/// report's very first area loses its comma.
fn write_pieces<W: std::io::Write + ?Sized>(
    w: &mut W,
    pieces: &[Vec<u8>],
    first: &mut bool,
) -> std::io::Result<()> {
    for p in pieces.iter().filter(|p| !p.is_empty()) {
        let p = if *first { &p[1..] } else { &p[..] };
        *first = false;
        w.write_all(p)?;
    }
    Ok(())
}

/// One area of the compact JSON report, written by hand: byte for byte what
/// serde_json writes for [`JsonArea`] (tested: `compact_json_is_what_serde_json_writes`).
/// Kept for speed: the report is the batch check's largest cost
/// (docs/BENCHMARKS.md: through a `serde_json::Value` tree 2.5 s, streamed
/// 0.73 s for 100k sites × 10k areas; with these reused buffers the 1M
/// report phase went from 1.3 s to 1.0 s).
fn compact_area(
    r: &Report<'_>,
    k: usize,
    area: &Area,
    input: &AreaInput,
    res: &AreaResult,
    o: &mut Vec<u8>,
) -> std::io::Result<()> {
    key_str(o, b"{\"id\":", &area.id);
    key_str(o, b",\"input\":", &input.text);
    key_str(o, b",\"read_as\":", &input.how);
    o.extend_from_slice(b",\"geometry\":");
    serde_json::to_writer(&mut *o, &geometry_to_value(&area.geometry))?;
    key_f64(o, b",\"buffer_m\":", area.buffer_m);
    key_f64(o, b",\"location_error_m\":", area.location_error_m);
    if let Some(p) = &input.profile {
        o.extend_from_slice(b",\"profile\":");
        serde_json::to_writer(&mut *o, p)?;
    }
    key_word(o, b",\"verdict\":", res.verdict.as_str());
    o.extend_from_slice(b",\"coverage\":");
    serde_json::to_writer(&mut *o, &json_coverage(res))?;
    // Each hit's label is read once, for the data ages and for the hit.
    r.index.warm_labels(&mut res.hits.iter().map(|h| h.site));
    let labels = res
        .hits
        .iter()
        .map(|h| r.index.label(h.site))
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)?;
    o.extend_from_slice(b",\"data\":");
    serde_json::to_writer(&mut *o, &data_ages_of(r, &labels))?;
    if let Some(w) = r.withheld(k) {
        o.extend_from_slice(b",\"withheld\":");
        serde_json::to_writer(&mut *o, w)?;
    }
    o.extend_from_slice(b",\"hits\":[");
    let route = route_of_area(area).map_err(std::io::Error::other)?;
    // What every hit of the area repeats of it, formatted once.
    let mut required = Vec::with_capacity(80);
    key_f64(
        &mut required,
        b",\"required\":{\"buffer_m\":",
        area.buffer_m,
    );
    key_f64(
        &mut required,
        b",\"location_error_m\":",
        area.location_error_m,
    );
    for (n, (h, s)) in res.hits.iter().zip(&labels).enumerate() {
        if n > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"site_id\":\"");
        json_str_inner(o, &s.source);
        o.push(b'/');
        json_str_inner(o, &s.id);
        o.push(b'"');
        key_str(o, b",\"source\":", &s.source);
        key_str(o, b",\"source_id\":", &s.id);
        key_str(o, b",\"name\":", &s.name);
        key_word(o, b",\"category\":", s.category.as_str());
        key_word(o, b",\"class\":", class_word(s.category));
        key_word(o, b",\"protection\":", s.protection.as_str());
        key_f64(o, b",\"distance_m\":", h.distance_m);
        key_f64(o, b",\"required_m\":", h.required_m);
        o.extend_from_slice(&required);
        key_f64(o, b",\"standoff_m\":", h.standoff_m);
        key_word(o, b",\"standoff_from\":", standoff_from(h));
        key_f64(o, b",\"positional_accuracy_m\":", h.positional_accuracy_m);
        o.push(b'}');
        key_f64(o, b",\"margin_m\":", h.margin_m);
        key_word(o, b",\"verdict\":", h.verdict.as_str());
        match h.bearing_deg {
            Some(b) => key_f64(o, b",\"bearing_deg\":", b),
            None => o.extend_from_slice(b",\"bearing_deg\":null"),
        }
        key_pair(o, b",\"nearest_on_area\":", h.nearest_on_area);
        key_pair(o, b",\"nearest_on_site\":", h.nearest_on_site);
        if let Some(st) = json_stale(h) {
            o.extend_from_slice(b",\"stale\":");
            serde_json::to_writer(&mut *o, &st)?;
        }
        if let Some(g) = r.group(h.site) {
            o.extend_from_slice(b",\"group\":");
            serde_json::to_writer(&mut *o, g)?;
        }
        if let Some(along) = route_of(r.index, route.as_ref(), h).map_err(std::io::Error::other)? {
            o.extend_from_slice(b",\"route\":{\"leg\":");
            o.extend_from_slice(along.leg.to_string().as_bytes());
            key_f64(o, b",\"along_route_m\":", along.along_route_m);
            o.extend_from_slice(b",\"within_required\":[");
            for (k, [a, b]) in along.within_required.iter().enumerate() {
                if k > 0 {
                    o.push(b',');
                }
                key_pair(o, b"", geo_types::Coord { x: *a, y: *b });
            }
            o.extend_from_slice(b"]}");
        }
        o.push(b'}');
    }
    o.extend_from_slice(b"],\"not_valid_at_check_time\":");
    if res.not_valid.is_empty() {
        o.extend_from_slice(b"[]");
    } else {
        serde_json::to_writer(
            &mut *o,
            &not_valid_items(r.index, res).map_err(std::io::Error::other)?,
        )?;
    }
    o.push(b'}');
    Ok(())
}

/// `key` (its punctuation included), then `v` as a JSON string.
fn key_str(o: &mut Vec<u8>, key: &[u8], v: &str) {
    o.extend_from_slice(key);
    json_str(o, v);
}

/// `key`, then a fixed word that needs no escaping (a category, verdict…) in quotes.
fn key_word(o: &mut Vec<u8>, key: &[u8], word: &str) {
    o.extend_from_slice(key);
    o.push(b'"');
    o.extend_from_slice(word.as_bytes());
    o.push(b'"');
}

/// `key`, then a number.
fn key_f64(o: &mut Vec<u8>, key: &[u8], x: f64) {
    o.extend_from_slice(key);
    json_f64(o, x);
}

/// `key`, then a (lon, lat) pair as a two-number array.
fn key_pair(o: &mut Vec<u8>, key: &[u8], geo_types::Coord { x, y }: geo_types::Coord<f64>) {
    o.extend_from_slice(key);
    o.push(b'[');
    json_f64(o, x);
    o.push(b',');
    json_f64(o, y);
    o.push(b']');
}

fn class_word(c: nostrike_core::Category) -> &'static str {
    match c.class() {
        nostrike_core::Class::Cultural => "cultural",
        nostrike_core::Class::Civilian => "civilian",
    }
}

/// A number as serde_json writes it (shortest round-trip form; `null` if not finite).
fn json_f64(o: &mut Vec<u8>, x: f64) {
    if x.is_finite() {
        o.extend_from_slice(zmij::Buffer::new().format_finite(x).as_bytes());
    } else {
        o.extend_from_slice(b"null");
    }
}

/// A JSON string literal, escaped as serde_json escapes it.
fn json_str(o: &mut Vec<u8>, s: &str) {
    o.push(b'"');
    json_str_inner(o, s);
    o.push(b'"');
}

/// The inside of a JSON string literal: quote and backslash preceded by a
/// backslash, control characters as backslash-b, t, n, f, r or u00xx
/// (lowercase hex); everything else verbatim.
fn json_str_inner(o: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    // Most names and ids need no escape: one branch-free pass finds out.
    if !b.iter().fold(false, |any, &c| {
        any | (c < 0x20) | (c == b'"') | (c == b'\\')
    }) {
        o.extend_from_slice(b);
        return;
    }
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0A => b"\\n",
            0x0C => b"\\f",
            0x0D => b"\\r",
            0..=0x1F => {
                o.extend_from_slice(&b[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                o.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(c >> 4) as usize],
                    HEX[(c & 0xF) as usize],
                ]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        o.extend_from_slice(&b[start..i]);
        o.extend_from_slice(esc);
        start = i + 1;
    }
    o.extend_from_slice(&b[start..]);
}

fn feature(geometry: &Geometry<f64>, props: Value) -> Value {
    json!({"type": "Feature", "properties": props, "geometry": geometry_to_value(geometry)})
}

/// The GeoJSON report: areas, hit sites and the shortest connecting lines.
/// The GeoJSON report's features for the areas of `r` (all of them, or one
/// run of a streamed report's areas).
pub fn geojson_features(r: &Report<'_>) -> anyhow::Result<Vec<Value>> {
    let mut features = Vec::new();
    for (k, ((area, input), res)) in r.areas.iter().zip(r.results).enumerate() {
        features.push(feature(&area.geometry, json!({"role": "area", "area_id": area.id, "input": input.text, "read_as": input.how, "buffer_m": area.buffer_m, "location_error_m": area.location_error_m, "verdict": res.verdict.as_str(), "coverage": json_coverage(res), "withheld": r.withheld(k)})));
        let route = route_of_area(area).map_err(anyhow::Error::msg)?;
        for h in &res.hits {
            let s = r.index.label(h.site)?;
            let along = route_of(r.index, route.as_ref(), h).map_err(anyhow::Error::msg)?;
            let props = json!({"area_id": area.id, "site_id": s.key(), "name": s.name, "category": s.category.as_str(), "protection": s.protection.as_str(), "verdict": h.verdict.as_str(), "distance_m": h.distance_m, "required_m": h.required_m, "margin_m": h.margin_m, "bearing_deg": h.bearing_deg, "route": along, "stale": json_stale(h), "group": r.group(h.site)});
            let mut sp = props.clone();
            sp["role"] = "site".into();
            features.push(feature(&r.index.geometry(h.site)?, sp));
            let mut lp = props;
            lp["role"] = "link".into();
            let line: Geometry<f64> = if h.distance_m > 0.0 {
                LineString::from(vec![h.nearest_on_area, h.nearest_on_site]).into()
            } else {
                Point::from(h.nearest_on_area).into()
            };
            features.push(feature(&line, lp));
        }
        for (h, n) in res.not_valid.iter().zip(not_valid_items(r.index, res)?) {
            features.push(feature(
                &r.index.geometry(h.site)?,
                json!({"role": "not_valid_site", "area_id": area.id, "site_id": n.site_id, "name": n.name, "valid_from": n.valid_from, "valid_to": n.valid_to, "distance_m": n.distance_m}),
            ));
        }
    }
    Ok(features)
}

fn geojson(r: &Report<'_>) -> anyhow::Result<String> {
    let features = geojson_features(r)?;
    let mut top = geojson_envelope(r, r.stale_hits());
    top.insert("features".into(), Value::Array(features));
    let mut s = Value::Object(top).to_string();
    s.push('\n');
    Ok(s)
}

/// The GeoJSON report's top-level object without its features (with
/// `stale_hits` as given: a streamed report counts them as it goes).
fn geojson_envelope(r: &Report<'_>, stale_hits: usize) -> Map<String, Value> {
    let mut top = Map::new();
    top.insert("type".into(), "FeatureCollection".into());
    let mut head = head_value(r);
    head["staleness"]["stale_hits"] = json!(stale_hits);
    for k in [
        "verdict",
        "tool",
        "version",
        "checked_at",
        "registry",
        "policy",
        "coverage",
        "staleness",
        "marking",
    ] {
        top.insert(k.into(), head[k].clone());
    }
    top
}

/// The GeoJSON report's bytes around its features: before the first and
/// after the last (features go between, comma-separated).
pub fn geojson_around(r: &Report<'_>, stale_hits: usize) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let mut top = geojson_envelope(r, stale_hits);
    top.insert("features".into(), Value::Array(Vec::new()));
    let text = Value::Object(top).to_string();
    let at = text
        .find("\"features\":[]")
        .ok_or_else(|| anyhow::anyhow!("the GeoJSON report has no features member"))?
        + "\"features\":[".len();
    let mut tail = text.as_bytes()[at..].to_vec();
    tail.push(b'\n');
    Ok((text.as_bytes()[..at].to_vec(), tail))
}

/// The CSV report: one row per hit (and one row per area without hits).
fn csv(r: &Report<'_>) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    csv_header(&mut w)?;
    csv_rows(r, &mut w)?;
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(String::from_utf8(bytes)?)
}

/// A CSV writer as the CSV report writes (the `csv` crate's defaults).
pub fn csv_writer<W: std::io::Write>(w: W) -> csv::Writer<W> {
    csv::Writer::from_writer(w)
}

/// The CSV report's header row.
pub fn csv_header<W: std::io::Write>(w: &mut csv::Writer<W>) -> anyhow::Result<()> {
    w.write_record([
        "area_id",
        "area_verdict",
        "area_read_as",
        "site_id",
        "source",
        "source_id",
        "name",
        "category",
        "protection",
        "verdict",
        "distance_m",
        "required_m",
        "margin_m",
        "bearing_deg",
        "area_lon",
        "area_lat",
        "site_lon",
        "site_lat",
        "revision",
        "content_hash",
        "checked_at",
        "area_covered_by",
        "route_leg",
        "along_route_m",
        "within_required_m",
        "last_verified",
        "stale",
        "report_marking",
    ])?;
    Ok(())
}

/// The CSV report's rows for the areas of `r` (all of them, or one run of a
/// streamed report's areas: each row stands alone).
pub fn csv_rows<W: std::io::Write>(r: &Report<'_>, w: &mut csv::Writer<W>) -> anyhow::Result<()> {
    use nostrike_formats::csv::guard;
    let marking = r.banner.text();
    for (k, ((area, input), res)) in r.areas.iter().zip(r.results).enumerate() {
        let read_as = guard(&input.how).into_owned();
        // Sources joined by ';', "uncovered" when none covers the area, empty when none declares coverage.
        let covered_by = match &res.coverage {
            Some(c) if c.uncovered() => "uncovered".to_string(),
            Some(c) => guard(&c.covered_by.join(";")).into_owned(),
            None => String::new(),
        };
        if res.hits.is_empty() {
            // An area without hits still gets a row: its id, verdict, how it was read and the registry state.
            let rev = r.revision.to_string();
            let area_id = guard(&area.id);
            let row = [area_id.as_ref(), res.verdict.as_str(), read_as.as_str()]
                .into_iter()
                .chain(std::iter::repeat_n("", 15))
                .chain([rev.as_str(), r.content_hash.as_str(), r.checked_at.as_str()])
                .chain([covered_by.as_str(), "", "", "", "", "", marking.as_str()]);
            w.write_record(row)?;
        }
        if let (Some(sentence), Some(wh)) = (r.withheld_sentence(k), r.withheld(k)) {
            // What the partner may not see: how many and how bad, nothing that locates them.
            let rev = r.revision.to_string();
            let area_id = guard(&area.id);
            let row = [
                area_id.as_ref(),
                res.verdict.as_str(),
                read_as.as_str(),
                "(withheld)",
                "",
                "",
                sentence.as_str(),
                "",
                "",
                wh.verdict.unwrap_or(""),
            ]
            .into_iter()
            .chain(std::iter::repeat_n("", 8))
            .chain([rev.as_str(), r.content_hash.as_str(), r.checked_at.as_str()])
            .chain([covered_by.as_str(), "", "", "", "", "", marking.as_str()]);
            w.write_record(row)?;
        }
        let route = route_of_area(area).map_err(anyhow::Error::msg)?;
        // One row per hit; then the sites outside their validity period at
        // the check time, listed with their distance and not counted.
        let row = |h: &nostrike_core::Hit, counted: bool| -> anyhow::Result<Vec<String>> {
            let s = r.index.label(h.site)?;
            let f = |x: f64| format!("{x:.3}");
            let (verdict, required, margin, bearing) = if counted {
                (
                    h.verdict.as_str(),
                    f(h.required_m),
                    f(h.margin_m),
                    h.bearing_deg.map(|b| format!("{b:.2}")).unwrap_or_default(),
                )
            } else {
                (
                    "not_valid_at_check_time",
                    String::new(),
                    String::new(),
                    String::new(),
                )
            };
            let along = if counted {
                route_of(r.index, route.as_ref(), h).map_err(anyhow::Error::msg)?
            } else {
                None
            };
            let (leg, at, within) = match along {
                Some(a) => (
                    a.leg.to_string(),
                    f(a.along_route_m),
                    a.within_required
                        .iter()
                        .map(|[x, y]| format!("{}-{}", f(*x), f(*y)))
                        .collect::<Vec<_>>()
                        .join(";"),
                ),
                None => Default::default(),
            };
            Ok(vec![
                guard(&area.id).into_owned(),
                res.verdict.as_str().into(),
                read_as.clone(),
                guard(&s.key()).into_owned(),
                guard(&s.source).into_owned(),
                guard(&s.id).into_owned(),
                guard(&s.name).into_owned(),
                s.category.as_str().into(),
                s.protection.as_str().into(),
                verdict.into(),
                f(h.distance_m),
                required,
                margin,
                bearing,
                h.nearest_on_area.x.to_string(),
                h.nearest_on_area.y.to_string(),
                h.nearest_on_site.x.to_string(),
                h.nearest_on_site.y.to_string(),
                r.revision.to_string(),
                r.content_hash.clone(),
                r.checked_at.clone(),
                covered_by.clone(),
                leg,
                at,
                within,
                guard(s.last_verified.as_deref().unwrap_or("")).into_owned(),
                match (&h.stale, counted) {
                    (Some(st), true) => stale_words(st),
                    _ => String::new(),
                },
                marking.clone(),
            ])
        };
        for h in &res.hits {
            w.write_record(&row(h, true)?)?;
        }
        for h in &res.not_valid {
            w.write_record(&row(h, false)?)?;
        }
    }
    Ok(())
}

/// Text escaped for XML, with the control characters XML 1.0 cannot hold dropped.
pub fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(*c as u32, 0..=8 | 11 | 12 | 14..=31))
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// KML coordinates and geometry elements for a geometry.
pub fn kml_geometry(g: &Geometry<f64>) -> String {
    let cs = |l: &LineString<f64>| {
        l.0.iter()
            .map(|c| format!("{},{}", c.x, c.y))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let poly = |p: &geo_types::Polygon<f64>| {
        let mut s = format!("<Polygon><outerBoundaryIs><LinearRing><coordinates>{}</coordinates></LinearRing></outerBoundaryIs>", cs(p.exterior()));
        for h in p.interiors() {
            let _ = write!(s, "<innerBoundaryIs><LinearRing><coordinates>{}</coordinates></LinearRing></innerBoundaryIs>", cs(h));
        }
        s.push_str("</Polygon>");
        s
    };
    match g {
        Geometry::Point(p) => format!(
            "<Point><coordinates>{},{}</coordinates></Point>",
            p.x(),
            p.y()
        ),
        Geometry::LineString(l) => format!(
            "<LineString><tessellate>1</tessellate><coordinates>{}</coordinates></LineString>",
            cs(l)
        ),
        Geometry::Polygon(p) => poly(p),
        Geometry::MultiPoint(m) => format!(
            "<MultiGeometry>{}</MultiGeometry>",
            m.0.iter()
                .map(|p| kml_geometry(&(*p).into()))
                .collect::<String>()
        ),
        Geometry::MultiLineString(m) => format!(
            "<MultiGeometry>{}</MultiGeometry>",
            m.0.iter()
                .map(|l| kml_geometry(&l.clone().into()))
                .collect::<String>()
        ),
        Geometry::MultiPolygon(m) => format!(
            "<MultiGeometry>{}</MultiGeometry>",
            m.0.iter().map(poly).collect::<String>()
        ),
        Geometry::GeometryCollection(c) => format!(
            "<MultiGeometry>{}</MultiGeometry>",
            c.0.iter().map(kml_geometry).collect::<String>()
        ),
        Geometry::Line(l) => kml_geometry(&LineString(vec![l.start, l.end]).into()),
        Geometry::Rect(r) => poly(&r.to_polygon()),
        Geometry::Triangle(t) => poly(&t.to_polygon()),
    }
}

/// The KML report (for Google Earth): one folder per area with its hits.
fn kml(r: &Report<'_>) -> anyhow::Result<String> {
    let mut o = kml_head(r);
    kml_areas(r, &mut o)?;
    o.push_str(KML_TAIL);
    Ok(o)
}

/// The KML report's end, after its last area's folder.
pub const KML_TAIL: &str = "</Document></kml>\n";

/// The KML report's beginning: the document's name, description and styles.
pub fn kml_head(r: &Report<'_>) -> String {
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<kml xmlns=\"http://www.opengis.net/kml/2.2\"><Document>\n");
    let _ = writeln!(
        o,
        "<name>{} — nostrike check {}: {}</name>",
        xml(&r.banner.text()),
        xml(&r.checked_at),
        verdict_word(r.verdict)
    );
    let _ = writeln!(
        o,
        "<description>{}: {}; registry {} revision {} content {}; policy {}</description>",
        xml(&r.banner.text()),
        verdict_sentence(r.verdict),
        xml(&r.registry_path),
        r.revision,
        r.content_hash,
        xml(&r.policy.name)
    );
    for (color, id) in [
        ("ff0000ff", "conflict"),
        ("ff00ffff", "caution"),
        ("ff00ff00", "clear"),
        ("ffff00ff", "uncovered"),
    ] {
        let _ = writeln!(o, "<Style id=\"{id}\"><LineStyle><color>{color}</color><width>2</width></LineStyle><PolyStyle><color>40{}</color></PolyStyle><IconStyle><color>{color}</color></IconStyle></Style>", &color[2..]);
        let _ = writeln!(o, "<Style id=\"ring-{id}\"><LineStyle><color>{color}</color><width>1</width></LineStyle><PolyStyle><color>20{}</color><outline>0</outline></PolyStyle></Style>", &color[2..]);
    }
    o
}

/// The KML report's folder for each area of `r` (a whole report's, or a run's).
pub fn kml_areas(r: &Report<'_>, o: &mut String) -> anyhow::Result<()> {
    for (k, ((area, input), res)) in r.areas.iter().zip(r.results).enumerate() {
        let _ = writeln!(
            o,
            "<Folder><name>{} — {}</name>",
            xml(&area.id),
            verdict_word(res.verdict)
        );
        let withheld = r
            .withheld_sentence(k)
            .map(|w| format!("; WITHHELD: {}", xml(&w)))
            .unwrap_or_default();
        let coverage = match &res.coverage {
            Some(c) if c.uncovered() => {
                "; UNCOVERED: inside no source's declared coverage".to_string()
            }
            Some(c) => format!("; covered by {}", xml(&c.covered_by.join(", "))),
            None => String::new(),
        };
        let _ = writeln!(o, "<Placemark><name>area {}</name><description>{} (buffer {} m){coverage}{withheld}</description><styleUrl>#{}</styleUrl>{}</Placemark>", xml(&area.id), xml(&input.how), area.buffer_m, res.verdict.as_str(), kml_geometry(&area.geometry));
        let route = route_of_area(area).map_err(anyhow::Error::msg)?;
        for h in &res.hits {
            let s = r.index.label(h.site)?;
            let along = match route_of(r.index, route.as_ref(), h).map_err(anyhow::Error::msg)? {
                Some(a) => format!(
                    "; closest at route km {:.1} (leg {}), within the required distance {}",
                    a.along_route_m / 1000.0,
                    a.leg + 1,
                    if a.within_required.is_empty() {
                        "nowhere".to_string()
                    } else {
                        a.within_required
                            .iter()
                            .map(|[x, y]| format!("km {:.1}–{:.1}", x / 1000.0, y / 1000.0))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
                None => String::new(),
            };
            let _ = writeln!(
                o,
                "<Placemark><name>{} {}</name><description>{} {}; distance {:.1} m, required {:.1} m, margin {:.1} m{along}{}</description><styleUrl>#{}</styleUrl>{}</Placemark>",
                verdict_word(h.verdict),
                xml(&s.name),
                xml(&s.key()),
                s.category.as_str(),
                h.distance_m,
                h.required_m,
                h.margin_m,
                h.stale
                    .as_ref()
                    .map(|st| format!("; STALE: {}", xml(&stale_words(st))))
                    .unwrap_or_default(),
                h.verdict.as_str(),
                kml_geometry(&r.index.geometry(h.site)?)
            );
            // The required-distance ring: everything within the required
            // distance of the site, as the polygons whose union it is (a
            // single geodesic circle for a point site).
            let g = r.index.geometry(h.site)?;
            let rings = crate::map::zone_rings(&g, h.required_m, (h.required_m / 2.0).max(1.0), 72);
            let mut polys = String::new();
            for ring in &rings {
                let mut c = String::new();
                for (lon, lat) in ring.iter().chain(ring.first()) {
                    let _ = write!(c, "{lon:.8},{lat:.8} ");
                }
                let _ = write!(polys, "<Polygon><tessellate>1</tessellate><outerBoundaryIs><LinearRing><coordinates>{}</coordinates></LinearRing></outerBoundaryIs></Polygon>", c.trim_end());
            }
            let _ = writeln!(
                o,
                "<Placemark><name>required distance {:.0} m: {}</name><description>{} — the area's geometry within this ring is a {}</description><styleUrl>#ring-{}</styleUrl><MultiGeometry>{polys}</MultiGeometry></Placemark>",
                h.required_m,
                xml(&s.name),
                xml(&s.key()),
                verdict_word(h.verdict),
                h.verdict.as_str(),
            );
        }
        for (h, n) in res.not_valid.iter().zip(not_valid_items(r.index, res)?) {
            let _ = writeln!(
                o,
                "<Placemark><name>NOT VALID AT CHECK TIME {}</name><description>{}; valid {} to {}; distance {:.1} m; not counted in the verdict</description>{}</Placemark>",
                xml(&n.name),
                xml(&n.site_id),
                n.valid_from.as_deref().unwrap_or("-"),
                n.valid_to.as_deref().unwrap_or("-"),
                n.distance_m,
                kml_geometry(&r.index.geometry(h.site)?)
            );
        }
        o.push_str("</Folder>\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostrike_core::{Category, Checker, Site, SiteIndex};

    static NO_IMPORTS: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    static NO_GROUPS: std::sync::LazyLock<crate::groups::Groups> =
        std::sync::LazyLock::new(Default::default);

    /// A report of `results` for `areas`, with fixed times and a name that needs escaping.
    fn test_report<'a>(
        index: &'a SiteIndex,
        policy: &'a Policy,
        areas: &'a [(Area, AreaInput)],
        results: &'a [AreaResult],
    ) -> Report<'a> {
        Report {
            checked_at: "2026-01-01T00:00:00Z".into(),
            registry_path: "r\"eg".into(),
            revision: 3,
            content_hash: "00".into(),
            as_of: None,
            validity_time: "2026-01-01T00:00:00Z".into(),
            policy,
            policy_source: "built in".into(),
            policy_sha256: "ab".into(),
            index,
            areas,
            results,
            verdict: nostrike_core::run_verdict(results),
            coverage: &[],
            last_import: &NO_IMPORTS,
            banner: Default::default(),
            partner: None,
            withheld: &[],
            groups: &NO_GROUPS,
            tiles: None,
            signature: None,
            coverage_shapes: &[],
        }
    }

    /// The hand-written compact JSON is byte for byte what serde_json writes
    /// for the same area (serde_json is the oracle), on names full of quotes,
    /// backslashes, every control character and non-ASCII text, every
    /// category, points and shapes, hits with and without a bearing; and the
    /// whole compact document parses to the same value as the pretty one.
    /// Oracle: serde_json's own string escaping, for every ASCII character
    /// alone, at either end and amid others, and for text that needs none.
    #[test]
    fn a_string_is_escaped_as_serde_json_escapes_it() {
        let mut texts: Vec<String> = (0u8..0x80)
            .flat_map(|c| {
                let c = char::from(c);
                [
                    c.to_string(),
                    format!("{c}ab"),
                    format!("ab{c}"),
                    format!("a{c}b{c}"),
                ]
            })
            .collect();
        texts.extend(
            [
                "",
                "plain id 42",
                "Äänekoski – 東京 🏛",
                "\u{7f}\u{80}\u{2028}",
            ]
            .map(String::from),
        );
        for t in texts {
            let mut o = Vec::new();
            json_str(&mut o, &t);
            assert_eq!(
                String::from_utf8(o).unwrap(),
                serde_json::to_string(&t).unwrap(),
                "{t:?}"
            );
        }
    }

    #[test]
    fn compact_json_is_what_serde_json_writes() {
        let controls: String = (0u8..0x20).map(char::from).collect();
        let names = [
            String::new(),
            "plain".to_string(),
            "quote \" and back\\slash / solidus".to_string(),
            controls,
            "Äänekoski – église Saint-Étienne, 東京, emoji 🏛\u{7f}".to_string(),
        ];
        let mut sites = Vec::new();
        for (i, c) in Category::ALL.iter().enumerate() {
            let lon = 24.94 + i as f64 * 1e-4;
            let g: Geometry<f64> = if i % 3 == 0 {
                geo_types::Polygon::new(
                    LineString::from(vec![
                        (lon, 60.17),
                        (lon + 2e-4, 60.17),
                        (lon, 60.1702),
                        (lon, 60.17),
                    ]),
                    vec![],
                )
                .into()
            } else {
                Point::new(lon, 60.17).into()
            };
            let mut s = Site::new(format!("id\"{i}\\\n"), format!("src\t{}", i % 2), *c, g);
            s.name = names[i % names.len()].clone();
            if i % 4 == 1 {
                // Out of validity at the check's time: listed, not counted.
                s.valid_to = Some(86_400);
            }
            if i % 5 == 2 {
                s.standoff_m = Some(12.5);
            }
            // Stale, not a date, fresh (at the check time, 2001-09-09), never verified.
            s.last_verified = [Some("1990-05-01"), Some("soon"), Some("2001-08-01"), None][i % 4]
                .map(str::to_string);
            sites.push(s);
        }
        let index = SiteIndex::build(sites).expect("index");
        let mut policy = Policy::builder("zero, one year")
            .default_standoff_m(0.0)
            .default_max_age_days(365);
        for p in nostrike_core::Protection::ALL {
            policy = policy.protection_extra_m(*p, 0.0);
        }
        let policy = policy.build().expect("policy");
        let areas: Vec<(Area, AreaInput)> = vec![
            (
                Area::point("a \"1\"", 24.9405, 60.17, 2_000.0),
                AreaInput {
                    text: "24.94,60.17\n".into(),
                    how: "lon,lat \\ degrees".into(),
                    profile: Some(AreaProfile {
                        name: "small \"one\"".into(),
                        radius_m: 2_000.0,
                    }),
                },
            ),
            (
                Area::point("inside", 24.94005, 60.17005, 0.0),
                AreaInput {
                    text: "x".into(),
                    how: "y".into(),
                    profile: None,
                },
            ),
            (
                Area::point("far", 0.0, 0.0, 1.0),
                AreaInput {
                    text: "x".into(),
                    how: "y".into(),
                    profile: None,
                },
            ),
            (
                Area::route(
                    "route",
                    LineString::from(vec![(24.930, 60.169), (24.9405, 60.1705), (24.950, 60.175)]),
                    150.0,
                ),
                AreaInput {
                    text: "r".into(),
                    how: "a route".into(),
                    profile: None,
                },
            ),
        ];
        let mut cov = nostrike_core::Coverage::none();
        cov.add(
            "cov \"src\\",
            &geo_types::Polygon::new(
                LineString::from(vec![
                    (24.93, 60.16),
                    (24.96, 60.16),
                    (24.96, 60.18),
                    (24.93, 60.18),
                    (24.93, 60.16),
                ]),
                vec![],
            )
            .into(),
        )
        .expect("coverage");
        let checker = Checker::new(&index, &policy, Some(1_000_000_000)).with_coverage(&cov);
        let mut results: Vec<AreaResult> = areas
            .iter()
            .map(|(a, _)| checker.check(a).expect("check"))
            .collect();
        // Coverage of each kind: uncovered, covered, and not declared.
        assert!(results[0].coverage.as_ref().is_some_and(|c| c.uncovered()));
        assert!(results[1].coverage.as_ref().is_some_and(|c| !c.uncovered()));
        results[2].coverage = None;
        assert!(
            results[0].hits.len() + results[0].not_valid.len() == Category::ALL.len()
                && !results[0].not_valid.is_empty(),
            "{} + {}",
            results[0].hits.len(),
            results[0].not_valid.len()
        );
        assert!(results[1].hits.iter().any(|h| h.bearing_deg.is_none()));
        // Stale hits of every kind, and fresh ones.
        let stale: Vec<_> = results[0].hits.iter().map(|h| h.stale.as_ref()).collect();
        assert!(stale
            .iter()
            .any(|s| s.is_some_and(|s| s.age_days.is_some())));
        assert!(stale
            .iter()
            .any(|s| s.is_some_and(|s| s.age_days.is_none())));
        assert!(stale.iter().any(|s| s.is_none()));
        let mut report = test_report(&index, &policy, &areas, &results);
        // A partner's report: the first area withheld two hits.
        let withheld = [crate::marking::Withheld {
            hits: 2,
            verdict: Some("conflict"),
            not_valid: 1,
        }];
        report.withheld = &withheld;
        report.partner = Some("UKR \"quoted\"");
        for (k, ((area, input), res)) in areas.iter().zip(&results).enumerate() {
            let mut mine = Vec::new();
            compact_area(&report, k, area, input, res, &mut mine).expect("compact");
            let serde =
                serde_json::to_vec(&json_area(&report, k, area, input, res).expect("sites"))
                    .expect("serde");
            assert_eq!(
                String::from_utf8_lossy(&mine),
                String::from_utf8_lossy(&serde)
            );
        }
        let (mut compact, mut pretty) = (Vec::new(), Vec::new());
        write_json(&report, &mut compact, false).expect("compact");
        write_json(&report, &mut pretty, true).expect("pretty");
        let c: Value = serde_json::from_slice(&compact).expect("compact parses");
        let p: Value = serde_json::from_slice(&pretty).expect("pretty parses");
        assert_eq!(c, p);
        assert_eq!(c["areas"].as_array().map(Vec::len), Some(4));
        // Route hits say where along the route; other areas' hits do not.
        let route_hits = c["areas"][3]["hits"].as_array().expect("hits");
        assert!(!route_hits.is_empty());
        assert!(route_hits.iter().all(|h| h["route"]["within_required"]
            .as_array()
            .is_some_and(|w| !w.is_empty())));
        assert!(c["areas"][0]["hits"][0].get("route").is_none());

        // Written a run of areas at a time (as the command line streams a
        // batch check), every streamed format gives the whole writer's bytes.
        for run_len in [1, 3] {
            let runs: Vec<(usize, usize)> = (0..areas.len())
                .step_by(run_len)
                .map(|a| (a, (a + run_len).min(areas.len())))
                .collect();
            let part = |(a, b): (usize, usize)| {
                report.for_run(
                    &areas[a..b],
                    &results[a..b],
                    &withheld[a.min(withheld.len())..b.min(withheld.len())],
                )
            };
            let stale = report.stale_hits();
            let mut json = json_head(&report, stale).expect("head");
            let mut first = true;
            for &run in &runs {
                write_json_areas(&part(run), &mut json, &mut first).expect("areas");
            }
            json.extend_from_slice(JSON_TAIL);
            let mut whole = Vec::new();
            write_json(&report, &mut whole, false).expect("whole");
            assert!(json == whole, "JSON in runs of {run_len}");
            let mut csv_out = csv_writer(Vec::new());
            csv_header(&mut csv_out).expect("header");
            for &run in &runs {
                csv_rows(&part(run), &mut csv_out).expect("rows");
            }
            let mut whole = Vec::new();
            write_csv(&report, &mut whole).expect("whole");
            assert!(
                csv_out.into_inner().expect("csv") == whole,
                "CSV in runs of {run_len}"
            );
            let (mut geo, tail) = geojson_around(&report, stale).expect("around");
            let mut first = true;
            for &run in &runs {
                for f in geojson_features(&part(run)).expect("features") {
                    if !std::mem::take(&mut first) {
                        geo.push(b',');
                    }
                    serde_json::to_writer(&mut geo, &f).expect("feature");
                }
            }
            geo.extend_from_slice(&tail);
            let mut whole = Vec::new();
            write_geojson(&report, &mut whole).expect("whole");
            assert!(geo == whole, "GeoJSON in runs of {run_len}");
            for (color, verbose) in [(false, false), (true, true)] {
                let mut text = table_head(&report);
                let mut verdicts = Vec::new();
                for &run in &runs {
                    let p = part(run);
                    verdicts.extend(p.results.iter().map(|r| r.verdict));
                    table_areas(&p, color, verbose, &mut text).expect("areas");
                }
                text.push_str(&table_tail(&report, &verdicts, stale, color));
                let mut whole = Vec::new();
                write_table(&report, &mut whole, color, verbose).expect("whole");
                assert!(text.as_bytes() == whole, "table in runs of {run_len}");
            }
            let mut doc = kml_head(&report);
            for &run in &runs {
                kml_areas(&part(run), &mut doc).expect("folders");
            }
            doc.push_str(KML_TAIL);
            let mut whole = Vec::new();
            write_kml(&report, &mut whole).expect("whole");
            assert!(doc.as_bytes() == whole, "KML in runs of {run_len}");
            let mut cot = Vec::new();
            for &run in &runs {
                crate::cot::write_check(&part(run), &mut cot).expect("cot");
            }
            let mut whole = Vec::new();
            crate::cot::write_check(&report, &mut whole).expect("whole");
            assert!(cot == whole, "CoT in runs of {run_len}");
        }

        // Many areas: several groups, runs of uneven length, the last group
        // short; the compact writer is byte for byte serde_json's document.
        for n in [1, 8, 9, 512, 513, 1_300] {
            let many: Vec<(Area, AreaInput)> = (0..n)
                .map(|i| {
                    let (mut a, input) = areas[i % areas.len()].clone();
                    a.id = format!("{}#{i}", a.id);
                    (a, input)
                })
                .collect();
            let res: Vec<AreaResult> = many
                .iter()
                .map(|(a, _)| checker.check(a).expect("check"))
                .collect();
            let r = test_report(&index, &policy, &many, &res);
            let mut compact = Vec::new();
            write_json(&r, &mut compact, false).expect("compact");
            let mut serde = serde_json::to_vec(&JsonReport(&r)).expect("serde");
            serde.push(b'\n');
            assert!(
                compact == serde,
                "{n} areas: compact report differs from serde_json's"
            );
        }
    }
}
