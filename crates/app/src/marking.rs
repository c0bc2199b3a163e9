//! Releasability: the banner a report or export carries, and the redaction
//! of what a partner may not see.
//!
//! A report for partner X counts every site for the verdict but shows only
//! those releasable to X; of the others it says how many there are and the
//! worst verdict they give — no id, name, category, coordinates, bearing,
//! route position or source, nothing that would locate them.

use nostrike_core::{AreaResult, SetError, SiteSet, Verdict};
use serde::Serialize;
use std::borrow::Cow;

/// The highest marking of what a document contains.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Banner {
    /// The highest classification among the contents (by the policy's
    /// order; one not on the list ranks above every listed one); `None`: none marked.
    pub classification: Option<String>,
    /// The countries and groups every restricted item may go to (the
    /// intersection of their lists); `None`: no item is restricted.
    pub releasable_to: Option<Vec<String>>,
}

impl Banner {
    /// The banner of items each with a classification and a comma-joined
    /// releasability list (empty: unrestricted), ranked by `order` (lowest first).
    pub fn of<'a>(
        order: &[String],
        items: impl IntoIterator<Item = (Option<&'a str>, &'a str)>,
    ) -> Banner {
        let mut b = Banner::default();
        for (class, rel) in items {
            b.add(order, class, rel);
        }
        b
    }

    /// Raise the banner for one more item (see [`Banner::of`]): items can
    /// be added as they come, in the order `of` would take them.
    pub fn add(&mut self, order: &[String], class: Option<&str>, rel: &str) {
        let rank = |c: &str| order.iter().position(|o| o == c).unwrap_or(usize::MAX);
        if let Some(c) = class {
            let higher = match &self.classification {
                None => true,
                Some(h) => (rank(c), c) > (rank(h), h.as_str()),
            };
            if higher {
                self.classification = Some(c.to_string());
            }
        }
        if !rel.is_empty() {
            let list: Vec<String> = rel.split(',').map(str::to_string).collect();
            self.releasable_to = Some(match self.releasable_to.take() {
                None => list,
                Some(have) => have.into_iter().filter(|r| list.contains(r)).collect(),
            });
        }
    }

    /// The banner line: `NATO RESTRICTED // REL TO NATO, UKR`, or `UNMARKED`.
    pub fn text(&self) -> String {
        let class = self.classification.as_deref().unwrap_or("UNMARKED");
        match &self.releasable_to {
            None => class.to_string(),
            Some(r) if r.is_empty() => format!("{class} // REL TO (no partner in common)"),
            Some(r) => format!("{class} // REL TO {}", r.join(", ")),
        }
    }
}

/// What a partner's report leaves out of one area.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Withheld {
    /// Hits not releasable to the partner (counted in the verdict).
    pub hits: usize,
    /// The worst verdict among them, if any.
    pub verdict: Option<&'static str>,
    /// Sites outside their validity period left out as well.
    pub not_valid: usize,
}

/// Remove from `results` every hit (and not-valid site) not releasable to
/// `partner`, leaving each area's verdict as it was; returns what each area
/// withheld.
pub fn redact(
    results: &mut [AreaResult],
    index: &dyn SiteSet,
    partner: &str,
) -> Result<Vec<Withheld>, SetError> {
    let mut out = Vec::with_capacity(results.len());
    for r in results.iter_mut() {
        let mut w = Withheld::default();
        let mut worst: Option<Verdict> = None;
        let mut keep = Vec::with_capacity(r.hits.len());
        for h in std::mem::take(&mut r.hits) {
            if index.label(h.site)?.releasable(partner) {
                keep.push(h);
            } else {
                w.hits += 1;
                worst = worst.max(Some(h.verdict));
            }
        }
        r.hits = keep;
        let mut keep = Vec::with_capacity(r.not_valid.len());
        for h in std::mem::take(&mut r.not_valid) {
            if index.label(h.site)?.releasable(partner) {
                keep.push(h);
            } else {
                w.not_valid += 1;
            }
        }
        r.not_valid = keep;
        w.verdict = worst.map(Verdict::as_str);
        out.push(w);
    }
    Ok(out)
}

/// The banner of every hit (and not-valid site) left in `results`.
pub fn banner_of(
    order: &[String],
    results: &[AreaResult],
    index: &dyn SiteSet,
) -> Result<Banner, SetError> {
    let mut b = Banner::default();
    raise_banner(&mut b, order, results, index, &mut SitesSeen::default())?;
    Ok(b)
}

/// The sites whose marking has raised a banner already, one bit a site of
/// the index: a streamed report keeps one across its runs of areas, so a
/// site that many runs reach is read once (on the dense benchmark set, 87 %
/// of the sites a run of 256 areas met had been met by earlier runs:
/// 532,655 label reads with a set a run, 70,166 with one for the report).
#[derive(Debug, Default, Clone)]
pub struct SitesSeen(Vec<u64>);

impl SitesSeen {
    /// Whether `s` is met for the first time (and note it). A site past the
    /// bits held (past the index's end) always counts as unseen: its label,
    /// read next, refuses it.
    fn first(&mut self, s: usize) -> bool {
        match self.0.get_mut(s / 64) {
            Some(w) if *w & (1 << (s % 64)) != 0 => false,
            Some(w) => {
                *w |= 1 << (s % 64);
                true
            }
            None => true,
        }
    }
}

/// Raise `banner` for the sites `results` show, as [`banner_of`] would had
/// they come after the results it was raised for before: a streamed report
/// raises it one run of areas at a time, with one `seen` for all its runs
/// (a site in `seen` is not read again: its marking raised the banner already).
pub fn raise_banner(
    banner: &mut Banner,
    order: &[String],
    results: &[AreaResult],
    index: &dyn SiteSet,
    seen: &mut SitesSeen,
) -> Result<(), SetError> {
    use rayon::prelude::*;
    // One bit a site of the index, held from the report's first run on.
    let words = index.len().div_ceil(64);
    if seen.0.len() < words {
        seen.0.resize(words, 0);
    }
    let sites: Vec<usize> = results
        .iter()
        .flat_map(|r| r.hits.iter().chain(&r.not_valid))
        .map(|h| h.site)
        .filter(|&s| seen.first(s))
        .collect();
    // Their labels read on every core (a batch check's other cores wait
    // for this), their markings added in the order met, as one by one.
    let marked = sites
        .par_iter()
        .map(|&s| {
            let l = index.label(s)?;
            Ok(
                (l.classification.is_some() || !l.releasable_to.is_empty()).then(|| {
                    (
                        l.classification.map(Cow::into_owned),
                        l.releasable_to.into_owned(),
                    )
                }),
            )
        })
        .collect::<Result<Vec<_>, SetError>>()?;
    for (class, rel) in marked.into_iter().flatten() {
        banner.add(order, class.as_deref(), &rel);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(site: usize) -> nostrike_core::Hit {
        let at = geo_types::Coord { x: 0.0, y: 0.0 };
        nostrike_core::Hit {
            site,
            distance_m: 0.0,
            required_m: 0.0,
            margin_m: 0.0,
            verdict: Verdict::Conflict,
            bearing_deg: None,
            nearest_on_area: at,
            nearest_on_site: at,
            standoff_m: 0.0,
            standoff_from_site: false,
            standoff_from_group: false,
            positional_accuracy_m: 0.0,
            stale: None,
        }
    }

    /// Oracle: [`Banner::of`] over each hit site's marking, one by one in
    /// the order first met, as the banner was raised before its labels
    /// were read in parallel.
    /// Area `a`'s result: a conflict with these hits and not-valid sites.
    fn result(
        a: usize,
        hits: Vec<nostrike_core::Hit>,
        not_valid: Vec<nostrike_core::Hit>,
    ) -> AreaResult {
        AreaResult {
            area_id: format!("a{a}"),
            verdict: Verdict::Conflict,
            hits,
            not_valid,
            coverage: None,
        }
    }

    /// The classifications in order, and 300 sites marked five ways.
    fn marked_index() -> (Vec<String>, nostrike_core::SiteIndex) {
        let order: Vec<String> = ["NATO UNCLASSIFIED", "NATO RESTRICTED", "NATO SECRET"]
            .map(String::from)
            .to_vec();
        let classes = [
            None,
            Some("NATO UNCLASSIFIED"),
            Some("NATO RESTRICTED"),
            Some("NATO SECRET"),
            Some("ODD"),
        ];
        let lists: [&[&str]; 5] = [
            &[],
            &["NATO", "UKR"],
            &["UKR"],
            &["NATO", "POL", "UKR"],
            &["POL"],
        ];
        let sites: Vec<nostrike_core::Site> = (0..300)
            .map(|i| {
                let g = geo_types::Geometry::Point(geo_types::Point::new(i as f64 * 0.01, 1.0));
                let mut s = nostrike_core::Site::new(
                    format!("s{i}"),
                    "src",
                    nostrike_core::Category::Museum,
                    g,
                );
                s.marking.classification = classes[i * 7 % 5].map(str::to_string);
                s.marking.releasable_to = lists[i * 3 % 5].iter().map(|r| r.to_string()).collect();
                s
            })
            .collect();
        (
            order,
            nostrike_core::SiteIndex::build(sites).expect("index"),
        )
    }

    #[test]
    fn the_banner_read_in_parallel_is_the_banner_raised_one_site_at_a_time() {
        let (order, index) = marked_index();
        // Runs of a few areas, some meeting a site twice; a quarter of the
        // runs leave out the sites restricted to POL alone.
        let mut state = 17usize;
        for run in 0..400 {
            let results: Vec<AreaResult> = (0..2)
                .map(|a| {
                    let mut pick = |n: usize| {
                        state = (state * 1_103_515_245 + 12_345) % (1 << 31);
                        (0..n)
                            .map(|_| {
                                state = (state * 1_103_515_245 + 12_345) % (1 << 31);
                                state % 300
                            })
                            .filter(|s| run % 4 != 0 || s * 3 % 5 != 4)
                            .map(hit)
                            .collect::<Vec<_>>()
                    };
                    let hits = pick(3);
                    result(a, hits, pick(1))
                })
                .collect();
            let mut seen = std::collections::HashSet::new();
            let mut markings = Vec::new();
            for h in results
                .iter()
                .flat_map(|r| r.hits.iter().chain(&r.not_valid))
            {
                if seen.insert(h.site) {
                    let l = index.label(h.site).expect("label");
                    markings.push((
                        l.classification.map(Cow::into_owned),
                        l.releasable_to.into_owned(),
                    ));
                }
            }
            let oracle = Banner::of(
                &order,
                markings.iter().map(|(c, r)| (c.as_deref(), r.as_str())),
            );
            assert_eq!(
                banner_of(&order, &results, &index).expect("banner"),
                oracle,
                "run {run}"
            );
        }
        // A hit on a site past the index's end is an error, not a panic.
        let stray = AreaResult {
            area_id: "stray".into(),
            verdict: Verdict::Conflict,
            hits: vec![hit(0), hit(300), hit(100_000)],
            not_valid: vec![],
            coverage: None,
        };
        assert!(banner_of(&order, &[stray], &index).is_err());
    }

    #[test]
    fn the_banner_is_the_highest_marking_and_the_common_releasability() {
        let order: Vec<String> = ["NATO UNCLASSIFIED", "NATO RESTRICTED", "NATO SECRET"]
            .map(String::from)
            .to_vec();
        let b = Banner::of(
            &order,
            [
                (Some("NATO RESTRICTED"), "NATO,UKR"),
                (Some("NATO UNCLASSIFIED"), ""),
                (None, "NATO,POL,UKR"),
            ],
        );
        assert_eq!(b.text(), "NATO RESTRICTED // REL TO NATO, UKR");
        // A classification not on the list ranks above every listed one.
        let b = Banner::of(&order, [(Some("NATO SECRET"), ""), (Some("ODD"), "")]);
        assert_eq!(b.text(), "ODD");
        assert_eq!(Banner::of(&order, []).text(), "UNMARKED");
        let b = Banner::of(&order, [(None, "USA"), (None, "UKR")]);
        assert_eq!(b.text(), "UNMARKED // REL TO (no partner in common)");
    }

    /// A site set that counts the labels read.
    struct Counting<'a>(&'a nostrike_core::SiteIndex, std::sync::atomic::AtomicUsize);

    impl SiteSet for Counting<'_> {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn limits(&self) -> &nostrike_core::SetLimits {
            self.0.limits()
        }
        fn for_each_candidate(
            &self,
            near: &nostrike_core::geodesy::Aabb,
            reach: f64,
            f: &mut dyn FnMut(usize) -> Result<(), SetError>,
        ) -> Result<(), SetError> {
            self.0.for_each_candidate(near, reach, f)
        }
        fn params(&self, i: usize) -> Result<nostrike_core::SiteParams, SetError> {
            self.0.params(i)
        }
        fn geom(&self, i: usize) -> Result<nostrike_core::GeomRef<'_>, SetError> {
            self.0.geom(i)
        }
        fn label(&self, i: usize) -> Result<nostrike_core::SiteLabel<'_>, SetError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.label(i)
        }
        fn geometry(&self, i: usize) -> Result<geo_types::Geometry<f64>, SetError> {
            self.0.geometry(i)
        }
    }

    /// A streamed report raises its banner run by run: with one
    /// [`SitesSeen`] for all runs, each site's label is read once however
    /// many runs reach it, and the banner is the whole report's.
    #[test]
    fn a_site_many_runs_reach_is_read_once_for_the_banner() {
        let (order, index) = marked_index();
        let mut state = 5usize;
        let results: Vec<AreaResult> = (0..600)
            .map(|a| {
                let mut pick = |n: usize| {
                    (0..n)
                        .map(|_| {
                            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                            hit((state >> 8) % 300)
                        })
                        .collect::<Vec<_>>()
                };
                let hits = pick(4);
                result(a, hits, pick(1))
            })
            .collect();
        let distinct: std::collections::HashSet<usize> = results
            .iter()
            .flat_map(|r| r.hits.iter().chain(&r.not_valid))
            .map(|h| h.site)
            .collect();
        let whole = banner_of(&order, &results, &index).expect("banner");
        for run_len in [1, 7, 64, 600] {
            let counting = Counting(&index, Default::default());
            let (mut banner, mut seen) = (Banner::default(), SitesSeen::default());
            for run in results.chunks(run_len) {
                raise_banner(&mut banner, &order, run, &counting, &mut seen).expect("banner");
            }
            assert_eq!(banner, whole, "runs of {run_len}");
            assert_eq!(
                counting.1.into_inner(),
                distinct.len(),
                "labels read, runs of {run_len}"
            );
        }
    }
}
