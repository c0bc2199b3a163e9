//! Writes the synthetic benchmark data as GeoJSON, for nostrike and its peers alike.
//!
//! `gen sites N SEED OUT.geojson` — sites as in `nostrike_benches::sites_around`, ids `s{i}`, category and name.
//! `gen areas N SEED OUT.geojson` — areas as in `nostrike_benches::areas_around`, with `id` and `buffer_m`.
//! `gen dense-sites N SEED OUT.geojson`, `gen dense-areas N SEED OUT.geojson` — the
//! dense set: sites within 2 km of the cities and of `EDGE_PLACES` (the
//! antimeridian, high latitudes), areas points within 2 km of the same places
//! (about fifty hits an area at 100k sites).
//!
//! The peer benchmark's density: 70 % of sites within 5 km of the 500-odd
//! cities of at least 500,000 people, 70 % of areas within 5 km of them too
//! (tens of hits per area, as a city target list has).

use std::io::{BufWriter, Write};

use nostrike_benches::{
    areas_around, cities_with_population, point_areas_around, sites_around, EDGE_PLACES,
};
use nostrike_formats::geojson::geometry_to_value;
use serde_json::json;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> std::io::Result<()> {
        eprintln!("usage: gen sites|areas|dense-sites|dense-areas N SEED OUT.geojson");
        std::process::exit(2)
    };
    if args.len() != 5 {
        return usage();
    }
    let (Ok(n), Ok(seed)) = (args[2].parse::<usize>(), args[3].parse::<u64>()) else {
        return usage();
    };
    let mut cities = cities_with_population(500_000);
    let dense = args[1].starts_with("dense-");
    let radius = if dense {
        cities.extend_from_slice(EDGE_PLACES);
        2_000.0
    } else {
        5_000.0
    };
    let mut out = BufWriter::new(std::fs::File::create(&args[4])?);
    out.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[\n")?;
    match args[1].as_str() {
        "sites" | "dense-sites" => {
            for (i, s) in sites_around(n, seed, &cities, radius).iter().enumerate() {
                let f = json!({"type": "Feature", "properties": {"id": format!("s{i}"), "name": s.name, "category": s.category.as_str()}, "geometry": geometry_to_value(&s.geometry)});
                writeln!(out, "{}{f}", if i > 0 { "," } else { "" })?;
            }
        }
        "areas" | "dense-areas" => {
            let areas = if dense {
                point_areas_around(n, seed, &cities, radius)
            } else {
                areas_around(n, seed, &cities, radius)
            };
            for (i, a) in areas.iter().enumerate() {
                let f = json!({"type": "Feature", "properties": {"id": a.id, "buffer_m": a.buffer_m}, "geometry": geometry_to_value(&a.geometry)});
                writeln!(out, "{}{f}", if i > 0 { "," } else { "" })?;
            }
        }
        _ => return usage(),
    }
    out.write_all(b"]}\n")?;
    out.flush()
}
