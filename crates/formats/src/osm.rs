//! OpenStreetMap PBF: protected-site candidates from tagged nodes, ways and
//! multipolygon relations, with a documented tag → category mapping.
//!
//! Ids are `osm:node/N`, `osm:way/N`, `osm:relation/N`. A tagged node is a
//! Point; a closed way (not `area=no`) a Polygon, another way a LineString;
//! a `type=multipolygon` or `type=boundary` relation a MultiPolygon built by
//! joining its member ways into rings. Properties: `name`, `category` and
//! `tags` (every OSM tag).
//!
//! # Tag → category (first rule that matches wins)
//!
//! | category | tags |
//! | --- | --- |
//! | dangerous_forces | `waterway=dam\|weir`, `man_made=dyke`, `power=plant\|generator` with a nuclear source |
//! | medical | `amenity=hospital\|clinic\|doctors\|dentist\|ambulance_station`, `healthcare=*` (not `no`), `emergency=ambulance_station` |
//! | diplomatic | `office=diplomatic`, `amenity=embassy`, `diplomatic=*` |
//! | humanitarian | `amenity=refugee_site`, `office=international_organization`, `amenity=social_facility` unless `social_facility=shelter` |
//! | museum | `tourism=museum` |
//! | library | `amenity=library` |
//! | archive | `amenity=archive`, `office=archive` |
//! | religious_site | `amenity=place_of_worship\|monastery` |
//! | education | `amenity=school\|university\|college\|kindergarten` |
//! | water | `man_made=water_works\|water_tower\|pumping_station\|wastewater_plant\|reservoir_covered\|water_well` |
//! | power | `power=plant\|substation` (not nuclear) |
//! | shelter | `amenity=shelter`, `social_facility=shelter` |
//! | archaeological_site | `historic=archaeological_site` |
//! | historic_district | `historic=district\|city\|town\|village\|neighbourhood\|quarter\|settlement`, `boundary=protected_area` with `protect_class=22` |
//! | monument | any other `historic=*` |
//! | religious_site | `building=church\|cathedral\|chapel\|mosque\|synagogue\|temple\|shrine\|monastery\|basilica` |
//! | historic_district / monument / other | `heritage=*`: with `place=*` or `landuse=residential` a district; a building, `man_made` or bridge a monument; else other |
//!
//! This is the mapping of `shared/data/scripts/extract_osm_sites.py`, so the
//! shipped OSM-derived GeoJSON and a direct PBF import agree.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use geo_types::{Coord, Geometry, LineString, MultiPolygon, Point, Polygon};
use nostrike_core::Category;
use osmpbf::{Element, ElementReader, RelMemberType};
use serde_json::{Map, Value};

use crate::{RawFeature, ReadError};

type Tags = BTreeMap<String, String>;

/// A candidate relation: id, tags, category and its way members (id, is-inner).
type Relation = (i64, Tags, Category, Vec<(i64, bool)>);

fn is(t: &Tags, k: &str, vals: &[&str]) -> bool {
    t.get(k).is_some_and(|v| vals.contains(&v.as_str()))
}

fn nuclear(t: &Tags) -> bool {
    ["plant:source", "generator:source"]
        .iter()
        .any(|k| t.get(*k).is_some_and(|v| v.contains("nuclear")))
        || t.iter()
            .any(|(k, v)| k.ends_with(":method") && v == "fission")
}

/// The category for a set of OSM tags, or `None` if the object is not a protected-site candidate.
pub fn category(t: &Tags) -> Option<Category> {
    if is(t, "waterway", &["dam", "weir"])
        || is(t, "man_made", &["dyke"])
        || (is(t, "power", &["plant", "generator"]) && nuclear(t))
    {
        return Some(Category::DangerousForces);
    }
    if is(
        t,
        "amenity",
        &[
            "hospital",
            "clinic",
            "doctors",
            "dentist",
            "ambulance_station",
        ],
    ) || t.get("healthcare").is_some_and(|v| v != "no")
        || is(t, "emergency", &["ambulance_station"])
    {
        return Some(Category::Medical);
    }
    if is(t, "office", &["diplomatic"])
        || is(t, "amenity", &["embassy"])
        || t.contains_key("diplomatic")
    {
        return Some(Category::Diplomatic);
    }
    if is(t, "amenity", &["refugee_site"])
        || is(t, "office", &["international_organization"])
        || (is(t, "amenity", &["social_facility"]) && !is(t, "social_facility", &["shelter"]))
    {
        return Some(Category::Humanitarian);
    }
    if is(t, "tourism", &["museum"]) {
        return Some(Category::Museum);
    }
    if is(t, "amenity", &["library"]) {
        return Some(Category::Library);
    }
    if is(t, "amenity", &["archive"]) || is(t, "office", &["archive"]) {
        return Some(Category::Archive);
    }
    if is(t, "amenity", &["place_of_worship", "monastery"]) {
        return Some(Category::ReligiousSite);
    }
    if is(
        t,
        "amenity",
        &["school", "university", "college", "kindergarten"],
    ) {
        return Some(Category::Education);
    }
    if is(
        t,
        "man_made",
        &[
            "water_works",
            "water_tower",
            "pumping_station",
            "wastewater_plant",
            "reservoir_covered",
            "water_well",
        ],
    ) {
        return Some(Category::Water);
    }
    if is(t, "power", &["plant", "substation"]) {
        return Some(Category::Power);
    }
    if is(t, "amenity", &["shelter"]) || is(t, "social_facility", &["shelter"]) {
        return Some(Category::Shelter);
    }
    if is(t, "historic", &["archaeological_site"]) {
        return Some(Category::ArchaeologicalSite);
    }
    if is(
        t,
        "historic",
        &[
            "district",
            "city",
            "town",
            "village",
            "neighbourhood",
            "quarter",
            "settlement",
        ],
    ) || (is(t, "boundary", &["protected_area"]) && is(t, "protect_class", &["22"]))
    {
        return Some(Category::HistoricDistrict);
    }
    if t.contains_key("historic") {
        return Some(Category::Monument);
    }
    if is(
        t,
        "building",
        &[
            "church",
            "cathedral",
            "chapel",
            "mosque",
            "synagogue",
            "temple",
            "shrine",
            "monastery",
            "basilica",
        ],
    ) {
        return Some(Category::ReligiousSite);
    }
    if t.contains_key("heritage") {
        if t.contains_key("place") || is(t, "landuse", &["residential"]) {
            return Some(Category::HistoricDistrict);
        }
        if t.contains_key("building") || t.contains_key("man_made") || t.contains_key("bridge") {
            return Some(Category::Monument);
        }
        return Some(Category::Other);
    }
    None
}

fn tags<'a>(it: impl Iterator<Item = (&'a str, &'a str)>) -> Tags {
    it.map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn props(t: &Tags, cat: Category) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert(
        "name".into(),
        t.get("name")
            .map(|n| Value::String(n.clone()))
            .unwrap_or(Value::Null),
    );
    p.insert("category".into(), cat.as_str().into());
    p.insert(
        "tags".into(),
        Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    );
    p
}

fn invalid(path: &Path, e: osmpbf::Error) -> ReadError {
    ReadError::invalid(path, format!("not a readable OSM PBF file: {e}"))
}

/// Join ways (as node-id lists) into closed rings; `None` if they do not close.
fn rings(mut ways: Vec<Vec<i64>>) -> Option<Vec<Vec<i64>>> {
    let mut out = Vec::new();
    while let Some(mut ring) = ways.pop() {
        while ring.first() != ring.last() || ring.len() < 4 {
            let end = *ring.last()?;
            let i = ways
                .iter()
                .position(|w| w.first() == Some(&end) || w.last() == Some(&end))?;
            let mut w = ways.swap_remove(i);
            if w.first() != Some(&end) {
                w.reverse();
            }
            ring.extend_from_slice(&w[1..]);
            if ring.len() > 10_000_000 {
                return None;
            }
        }
        out.push(ring);
    }
    Some(out)
}

/// Read protected-site candidates from an OSM PBF file, streaming them to `each` (nodes, then ways, then relations, each by id).
pub fn read(
    path: &Path,
    each: &mut dyn FnMut(RawFeature) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    // Pass 1: relations that are candidates, and the ways they need.
    let mut rels: Vec<Relation> = Vec::new();
    ElementReader::from_path(path)
        .map_err(|e| invalid(path, e))?
        .for_each(|el| {
            if let Element::Relation(r) = el {
                let t = tags(r.tags());
                if !is(&t, "type", &["multipolygon", "boundary"]) {
                    return;
                }
                if let Some(cat) = category(&t) {
                    let members = r
                        .members()
                        .filter(|m| m.member_type == RelMemberType::Way)
                        .map(|m| (m.member_id, m.role().map(|s| s == "inner").unwrap_or(false)))
                        .collect();
                    rels.push((r.id(), t, cat, members));
                }
            }
        })
        .map_err(|e| invalid(path, e))?;
    let rel_ways: HashSet<i64> = rels.iter().flat_map(|r| r.3.iter().map(|m| m.0)).collect();
    // Pass 2: candidate ways and relation member ways; the nodes they need.
    let mut ways: Vec<(i64, Tags, Category, Vec<i64>)> = Vec::new();
    let mut member_refs: HashMap<i64, Vec<i64>> = HashMap::new();
    ElementReader::from_path(path)
        .map_err(|e| invalid(path, e))?
        .for_each(|el| {
            if let Element::Way(w) = el {
                let t = tags(w.tags());
                if rel_ways.contains(&w.id()) {
                    member_refs.insert(w.id(), w.refs().collect());
                }
                if let Some(cat) = category(&t) {
                    ways.push((w.id(), t, cat, w.refs().collect()));
                }
            }
        })
        .map_err(|e| invalid(path, e))?;
    let needed: HashSet<i64> = ways
        .iter()
        .flat_map(|w| w.3.iter().copied())
        .chain(member_refs.values().flatten().copied())
        .collect();
    // Pass 3: node positions, and candidate nodes.
    let mut pos: HashMap<i64, Coord<f64>> = HashMap::with_capacity(needed.len());
    let mut nodes: Vec<(i64, Tags, Category, Coord<f64>)> = Vec::new();
    let mut node = |id: i64, lon: f64, lat: f64, t: Tags| {
        let c = Coord { x: lon, y: lat };
        if needed.contains(&id) {
            pos.insert(id, c);
        }
        if let Some(cat) = category(&t) {
            nodes.push((id, t, cat, c));
        }
    };
    ElementReader::from_path(path)
        .map_err(|e| invalid(path, e))?
        .for_each(|el| match el {
            Element::Node(n) => node(n.id(), n.lon(), n.lat(), tags(n.tags())),
            Element::DenseNode(n) => node(n.id(), n.lon(), n.lat(), tags(n.tags())),
            _ => {}
        })
        .map_err(|e| invalid(path, e))?;
    nodes.sort_by_key(|n| n.0);
    ways.sort_by_key(|w| w.0);
    rels.sort_by_key(|r| r.0);
    let mut n = 0usize;
    for (id, t, cat, c) in nodes {
        n += 1;
        each(RawFeature {
            index: n,
            id: Some(format!("osm:node/{id}")),
            geometry: Ok(Point(c).into()),
            properties: props(&t, cat),
        })?;
    }
    let line_of = |refs: &[i64]| -> Result<Vec<Coord<f64>>, String> {
        refs.iter()
            .map(|r| {
                pos.get(r)
                    .copied()
                    .ok_or_else(|| format!("node {r} is missing from the extract"))
            })
            .collect()
    };
    for (id, t, cat, refs) in ways {
        n += 1;
        let closed = refs.len() >= 4 && refs.first() == refs.last() && !is(&t, "area", &["no"]);
        let geometry = line_of(&refs).map(|c| {
            if closed {
                Polygon::new(LineString(c), vec![]).into()
            } else {
                LineString(c).into()
            }
        });
        each(RawFeature {
            index: n,
            id: Some(format!("osm:way/{id}")),
            geometry,
            properties: props(&t, cat),
        })?;
    }
    for (id, t, cat, members) in rels {
        n += 1;
        let geometry = (|| -> Result<Geometry<f64>, String> {
            let get = |w: i64| {
                member_refs
                    .get(&w)
                    .cloned()
                    .ok_or_else(|| format!("member way {w} is missing from the extract"))
            };
            let outer: Vec<Vec<i64>> = members
                .iter()
                .filter(|m| !m.1)
                .map(|m| get(m.0))
                .collect::<Result<_, _>>()?;
            let inner: Vec<Vec<i64>> = members
                .iter()
                .filter(|m| m.1)
                .map(|m| get(m.0))
                .collect::<Result<_, _>>()?;
            let outer = rings(outer).ok_or("outer member ways do not join into closed rings")?;
            let inner = rings(inner).ok_or("inner member ways do not join into closed rings")?;
            let mut polys: Vec<Polygon<f64>> = outer
                .iter()
                .map(|r| line_of(r).map(|c| Polygon::new(LineString(c), vec![])))
                .collect::<Result<_, _>>()?;
            for r in inner {
                let c = line_of(&r)?;
                let k = polys
                    .iter()
                    .position(|p| crate::validate::point_in_ring(&c[0], &p.exterior().0))
                    .ok_or("an inner ring lies in no outer ring")?;
                polys[k].interiors_push(LineString(c));
            }
            if polys.is_empty() {
                return Err("multipolygon relation has no outer ring".into());
            }
            Ok(MultiPolygon(polys).into())
        })();
        each(RawFeature {
            index: n,
            id: Some(format!("osm:relation/{id}")),
            geometry,
            properties: props(&t, cat),
        })?;
    }
    Ok(())
}
