//! Sites from different sources that probably describe the same place:
//! the candidates an analyst reviews before linking them.
//!
//! Every pair of sites of *different* sources within a distance of each
//! other (exact geodesic distance between their geometries, found through
//! the registry's index) whose categories are of the same class (cultural
//! property or civilian object) is a candidate; the evidence is the
//! distance, how alike the names are (Dice coefficient of their letter
//! pairs, 0 to 1) and whether the categories are the same.

use nostrike_core::{sites_within, Category, SetError, Shape, SiteSet};
use rayon::prelude::*;
use serde::Serialize;

/// One candidate pair, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// The first site (`SOURCE/ID`; the pair is in key order).
    pub a: String,
    /// The second site.
    pub b: String,
    /// Their names.
    pub names: [String; 2],
    /// Their categories.
    pub categories: [Category; 2],
    /// Geodesic distance between the geometries (metres; 0 where they touch or overlap).
    pub distance_m: f64,
    /// How alike the names are (0: nothing in common, 1: the same letters
    /// pairs); `None` when either name is empty.
    pub name_similarity: Option<f64>,
    /// Whether the categories are the same (else only their class is).
    pub same_category: bool,
}

/// The letter pairs of a name, lower case, words kept apart.
fn bigrams(name: &str) -> Vec<[char; 2]> {
    let mut out = Vec::new();
    for word in name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let cs: Vec<char> = word.chars().flat_map(char::to_lowercase).collect();
        if cs.len() == 1 {
            out.push([cs[0], ' ']);
        }
        out.extend(cs.windows(2).map(|w| [w[0], w[1]]));
    }
    out.sort_unstable();
    out
}

/// Dice coefficient of two names' letter pairs; `None` when either is empty.
pub fn name_similarity(a: &str, b: &str) -> Option<f64> {
    let (x, y) = (bigrams(a), bigrams(b));
    if x.is_empty() || y.is_empty() {
        return None;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    Some(2.0 * common as f64 / (x.len() + y.len()) as f64)
}

/// Every candidate pair within `within_m` metres, nearest first.
pub fn find(set: &dyn SiteSet, within_m: f64) -> Result<Vec<Candidate>, SetError> {
    let per_site: Vec<Vec<Candidate>> = (0..set.len())
        .into_par_iter()
        .map(|i| -> Result<Vec<Candidate>, SetError> {
            let g = set.geometry(i)?;
            let shape = Shape::new(&g).map_err(|e| SetError::Damaged(format!("site {i}: {e}")))?;
            let a = set.label(i)?;
            let mut out = Vec::new();
            for (j, d) in sites_within(set, &shape, within_m)? {
                if j <= i {
                    continue;
                }
                let b = set.label(j)?;
                if a.source == b.source || a.category.class() != b.category.class() {
                    continue;
                }
                let (ka, kb) = (a.key(), b.key());
                let (first, second) = if ka <= kb { (&a, &b) } else { (&b, &a) };
                out.push(Candidate {
                    a: first.key(),
                    b: second.key(),
                    names: [first.name.to_string(), second.name.to_string()],
                    categories: [first.category, second.category],
                    distance_m: d,
                    name_similarity: name_similarity(&a.name, &b.name),
                    same_category: a.category == b.category,
                });
            }
            Ok(out)
        })
        .collect::<Result<_, _>>()?;
    let mut all: Vec<Candidate> = per_site.into_iter().flatten().collect();
    all.sort_by(|x, y| {
        x.distance_m
            .total_cmp(&y.distance_m)
            .then_with(|| x.a.cmp(&y.a))
            .then_with(|| x.b.cmp(&y.b))
    });
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostrike_core::{Site, SiteIndex};

    #[test]
    fn names_alike_and_unlike() {
        assert_eq!(name_similarity("Sant Andreu", "Sant Andreu"), Some(1.0));
        let s = name_similarity("Església de Sant Andreu", "Sant Andreu").unwrap();
        assert!(s > 0.6, "{s}");
        assert!(name_similarity("Museum", "Hospital").unwrap() < 0.2);
        assert_eq!(name_similarity("", "x"), None);
    }

    /// Against brute force over every pair, on sites placed close together
    /// across sources and classes.
    #[test]
    fn candidates_are_every_close_pair_of_different_sources_and_one_class() {
        let cats = [Category::Museum, Category::Monument, Category::Medical];
        let mut sites = Vec::new();
        for k in 0..60 {
            let lon = 10.0 + (k % 7) as f64 * 4e-4 + (k / 7) as f64 * 9e-5;
            let lat = 50.0 + (k % 5) as f64 * 3e-4;
            let mut s = Site::new(
                format!("s{k}"),
                format!("src{}", k % 3),
                cats[k % cats.len()],
                geo_types::Point::new(lon, lat).into(),
            );
            s.name = format!("Site {}", k % 4);
            sites.push(s);
        }
        let index = SiteIndex::build(sites.clone()).unwrap();
        let found = find(&index, 50.0).unwrap();
        let mut want = 0;
        for i in 0..sites.len() {
            for j in i + 1..sites.len() {
                let (a, b) = (&sites[i], &sites[j]);
                let (pa, pb) = match (&a.geometry, &b.geometry) {
                    (geo_types::Geometry::Point(p), geo_types::Geometry::Point(q)) => (p, q),
                    _ => unreachable!(),
                };
                let d = nostrike_core::geodesy::distance(
                    &nostrike_core::geodesy::Vertex::new(pa.x(), pa.y()),
                    &nostrike_core::geodesy::Vertex::new(pb.x(), pb.y()),
                );
                if d <= 50.0 && a.source != b.source && a.category.class() == b.category.class() {
                    want += 1;
                }
            }
        }
        assert!(want > 10, "{want}");
        assert_eq!(found.len(), want);
        assert!(found.windows(2).all(|w| w[0].distance_m <= w[1].distance_m));
    }
}
