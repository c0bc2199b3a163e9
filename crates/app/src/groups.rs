//! Groups of linked sites: records of one place from several sources.
//!
//! A check holds every member of a group to the standoff of its most
//! demanding member ([`nostrike_core::Checker::with_groups`]) and reports
//! the group once per area — at its nearest member, with the group's face
//! (the record of the most trusted source, by the policy's
//! `source_precedence`), the other members and every disagreement among
//! them: members far apart, different categories or protection levels, or
//! a member retired while another is live. Disagreement is flagged, never
//! resolved silently.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use nostrike_core::{distance_within, AreaResult, Policy, SetError, Shape, SiteSet};
use serde::Serialize;

/// Members of one group farther apart than this disagree about where the place is (metres).
pub const DISAGREEMENT_M: f64 = 100.0;

/// One group of linked sites.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// The face: the live member of the most trusted source.
    pub face: String,
    /// Every member's key (`SOURCE/ID`), live or not, in key order.
    pub members: Vec<String>,
    /// What the members disagree about, in words (empty: nothing).
    pub disagreement: Vec<String>,
    /// Live members' site numbers in the set.
    #[serde(skip)]
    pub live: Vec<usize>,
}

/// The groups of a registry at one revision.
#[derive(Debug, Clone, Default)]
pub struct Groups {
    /// Every group.
    pub groups: Vec<Group>,
    /// Site number → its group.
    pub of: HashMap<usize, usize>,
    /// Site number → the standoff and accuracy of its group's most demanding member.
    pub extra: HashMap<usize, (f64, f64)>,
}

fn find(parent: &mut [usize], x: usize) -> usize {
    let mut r = x;
    while parent[r] != r {
        r = parent[r];
    }
    let mut y = x;
    while parent[y] != r {
        let next = parent[y];
        parent[y] = r;
        y = next;
    }
    r
}

impl Groups {
    /// The groups `links` make among the sites of `set`, judged under `policy`.
    pub fn build(
        set: &dyn SiteSet,
        links: &[(String, String)],
        policy: &Policy,
    ) -> Result<Groups, SetError> {
        if links.is_empty() {
            return Ok(Groups::default());
        }
        // Keys → numbers, for the linked keys only (one pass over the labels).
        let wanted: BTreeSet<&str> = links
            .iter()
            .flat_map(|(a, b)| [a.as_str(), b.as_str()])
            .collect();
        let mut index: HashMap<String, usize> = HashMap::new();
        for i in 0..set.len() {
            let key = set.label(i)?.key();
            if wanted.contains(key.as_str()) {
                index.insert(key, i);
            }
        }
        let keys: Vec<&str> = wanted.iter().copied().collect();
        let pos: HashMap<&str, usize> = keys.iter().enumerate().map(|(k, s)| (*s, k)).collect();
        let mut parent: Vec<usize> = (0..keys.len()).collect();
        for (a, b) in links {
            let (x, y) = (
                find(&mut parent, pos[a.as_str()]),
                find(&mut parent, pos[b.as_str()]),
            );
            if x != y {
                parent[x.max(y)] = x.min(y);
            }
        }
        let mut by_root: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
        for (k, key) in keys.iter().enumerate() {
            let r = find(&mut parent, k);
            by_root.entry(r).or_default().push(key);
        }
        let rank = |source: &str| {
            policy
                .source_precedence
                .iter()
                .position(|s| s == source)
                .unwrap_or(usize::MAX)
        };
        let mut out = Groups::default();
        for members in by_root.into_values() {
            let live: Vec<usize> = members
                .iter()
                .filter_map(|m| index.get(*m).copied())
                .collect();
            let mut disagreement = Vec::new();
            for m in &members {
                if !index.contains_key(*m) && !live.is_empty() {
                    disagreement.push(format!(
                        "{m} is retired (or absent) while other members are live"
                    ));
                }
            }
            let mut labels = Vec::new();
            for &i in &live {
                labels.push((i, set.label(i)?));
            }
            let face = labels
                .iter()
                .min_by_key(|(_, l)| (rank(&l.source), l.key()))
                .map(|(_, l)| l.key())
                .unwrap_or_else(|| members[0].to_string());
            let cats: BTreeSet<&str> = labels.iter().map(|(_, l)| l.category.as_str()).collect();
            if cats.len() > 1 {
                disagreement.push(format!(
                    "categories differ: {}",
                    labels
                        .iter()
                        .map(|(_, l)| format!("{} ({})", l.category, l.key()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let prots: BTreeSet<&str> = labels.iter().map(|(_, l)| l.protection.as_str()).collect();
            if prots.len() > 1 {
                disagreement.push(format!(
                    "protection levels differ: {}",
                    labels
                        .iter()
                        .map(|(_, l)| format!("{} ({})", l.protection, l.key()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for (x, (i, a)) in labels.iter().enumerate() {
                for (j, b) in labels.iter().skip(x + 1) {
                    let sa = Shape::new(&set.geometry(*i)?)
                        .map_err(|e| SetError::Damaged(e.to_string()))?;
                    let sb = Shape::new(&set.geometry(*j)?)
                        .map_err(|e| SetError::Damaged(e.to_string()))?;
                    if distance_within(&sa, &sb, DISAGREEMENT_M).is_none() {
                        disagreement.push(format!(
                            "{} and {} are more than {DISAGREEMENT_M} m apart",
                            a.key(),
                            b.key()
                        ));
                    }
                }
            }
            // The most demanding member's standoff and accuracy, for every member.
            let mut most = (0.0f64, 0.0f64);
            for &i in &live {
                let p = set.params(i)?;
                let st = p
                    .standoff_m
                    .unwrap_or_else(|| policy.default_standoff_m(p.category, p.protection));
                let acc = p.positional_accuracy_m.max(0.0);
                if st + acc > most.0 + most.1 {
                    most = (st, acc);
                }
            }
            let g = out.groups.len();
            for &i in &live {
                out.of.insert(i, g);
                out.extra.insert(i, most);
            }
            out.groups.push(Group {
                face,
                members: members.iter().map(|m| m.to_string()).collect(),
                disagreement,
                live,
            });
        }
        Ok(out)
    }

    /// Report each group once per area: of the hits of one group's members,
    /// the most severe (smallest margin) is kept; the others are dropped.
    /// Every member is held to the group's standoff, so the kept hit has the
    /// nearest geometry and the group's largest required distance.
    pub fn merge(&self, results: &mut [AreaResult]) {
        if self.groups.is_empty() {
            return;
        }
        for r in results {
            let mut seen: BTreeSet<usize> = BTreeSet::new();
            // Hits are sorted most severe first: the first of each group stays.
            r.hits.retain(|h| match self.of.get(&h.site) {
                Some(g) => seen.insert(*g),
                None => true,
            });
        }
    }

    /// The group of site number `site`, if it is linked.
    pub fn of_site(&self, site: usize) -> Option<&Group> {
        self.of.get(&site).map(|g| &self.groups[*g])
    }
}
