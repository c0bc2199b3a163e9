//! nostrike's GeoJSON reader against the `geojson` crate's streaming
//! `FeatureReader`, on one file, both producing `geo_types` geometries and
//! property maps. The figure behind keeping the hand-written reader
//! (docs/ARCHITECTURE.md, "Written by hand, and why").
//!
//! `geojson_read FILE.geojson [RUNS=3]` prints the median time of each.

use std::io::BufReader;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nostrike_formats::{read_features, Format, ReadOptions};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().ok_or("usage: geojson_read FILE [RUNS]")?);
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(3);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut n_ours, mut n_theirs) = (0usize, 0usize);
    for _ in 0..runs {
        let t = Instant::now();
        let mut n = 0usize;
        read_features(
            &path,
            Format::GeoJson,
            &ReadOptions::default(),
            &mut |raw| {
                if raw.geometry.is_ok() {
                    n += 1;
                }
                std::hint::black_box(&raw.properties);
                Ok(())
            },
        )?;
        ours.push(t.elapsed());
        n_ours = n;

        let t = Instant::now();
        let mut n = 0usize;
        let file = std::fs::File::open(&path)?;
        for f in
            geojson::FeatureReader::from_reader(BufReader::with_capacity(1 << 20, file)).features()
        {
            let f = f?;
            if let Some(g) = f.geometry {
                let g: geo_types::Geometry<f64> = g.value.try_into()?;
                std::hint::black_box(&g);
                n += 1;
            }
            std::hint::black_box(&f.properties);
        }
        theirs.push(t.elapsed());
        n_theirs = n;
    }
    let (a, b) = (median(ours), median(theirs));
    println!(
        "{}: nostrike reader {n_ours} features in {:.3} s; geojson FeatureReader {n_theirs} features in {:.3} s; ratio {:.2}",
        path.display(),
        a.as_secs_f64(),
        b.as_secs_f64(),
        b.as_secs_f64() / a.as_secs_f64()
    );
    Ok(())
}
