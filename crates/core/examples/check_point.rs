//! Check one planned strike point against a handful of protected sites,
//! in code, with the shipped example policy.
//!
//! `cargo run -p nostrike-core --example check_point -- 48.8606 2.3417 100`
//! (latitude, longitude, radius in metres; these are the defaults).

use geo_types::{polygon, Point};
use nostrike_core::{Area, Category, Policy, Protection, Site, SiteIndex, SiteSet};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<f64> = std::env::args()
        .skip(1)
        .map(|a| a.parse::<f64>())
        .collect::<Result<_, _>>()?;
    let (lat, lon, radius_m) = match args[..] {
        [] => (48.8606, 2.3417, 100.0),
        [lat, lon, r] => (lat, lon, r),
        _ => return Err("give LAT LON RADIUS_M, or nothing".into()),
    };

    let mut louvre = Site::new(
        "louvre",
        "example",
        Category::Museum,
        Point::new(2.3376, 48.8606).into(),
    );
    louvre.name = "Musée du Louvre".into();
    louvre.protection = Protection::Enhanced;
    let mut hospital = Site::new(
        "hotel-dieu",
        "example",
        Category::Medical,
        Point::new(2.3488, 48.8546).into(),
    );
    hospital.name = "Hôtel-Dieu".into();
    let mut cathedral = Site::new(
        "notre-dame",
        "example",
        Category::ReligiousSite,
        polygon![
            (x: 2.3487, y: 48.8527), (x: 2.3509, y: 48.8533),
            (x: 2.3506, y: 48.8539), (x: 2.3484, y: 48.8533),
        ]
        .into(),
    );
    cathedral.name = "Notre-Dame de Paris".into();

    let index = SiteIndex::build(vec![louvre, hospital, cathedral])?;
    let policy = Policy::example();
    let area = Area::point("planned", lon, lat, radius_m);
    let result = index.checker(&policy, None).check(&area)?;

    println!("{}: {}", result.area_id, result.verdict.as_str());
    for hit in &result.hits {
        let site = index.label(hit.site)?;
        println!(
            "  {:<10} {:<24} {:>8.1} m away, {:>7.1} m required ({})",
            hit.verdict.as_str(),
            site.name,
            hit.distance_m,
            hit.required_m,
            site.category
        );
    }
    Ok(())
}
