//! The importer as a library call: all or nothing, every rejected feature
//! shown to the observer, duplicates named by the feature that came first.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use nostrike_app::{ImportError, ImportObserver, ImportOptions, Importer};
use nostrike_formats::FeatureError;
use nostrike_store::Registry;

#[derive(Default)]
struct Seen {
    rejected: Vec<FeatureError>,
}

impl ImportObserver for Seen {
    fn rejected(&mut self, e: &FeatureError) -> std::io::Result<()> {
        self.rejected.push(e.clone());
        Ok(())
    }
}

fn feature(id: &str, lon: f64, lat: f64) -> String {
    format!(
        r#"{{"type":"Feature","id":"{id}","properties":{{"name":"site {id}","category":"medical"}},"geometry":{{"type":"Point","coordinates":[{lon},{lat}]}}}}"#
    )
}

/// Ten good features, a duplicate of the third, and one without geometry.
fn write_file(dir: &Path) -> PathBuf {
    let mut fs: Vec<String> = (1..=10)
        .map(|i| feature(&format!("s{i}"), 10.0 + i as f64 * 0.01, 50.0))
        .collect();
    fs.push(feature("s3", 11.0, 51.0));
    fs.push(r#"{"type":"Feature","id":"nogeom","properties":{"name":"x","category":"education"},"geometry":null}"#.into());
    let path = dir.join("sites.geojson");
    std::fs::write(
        &path,
        format!(
            r#"{{"type":"FeatureCollection","features":[{}]}}"#,
            fs.join(",")
        ),
    )
    .unwrap();
    path
}

fn options(skip_invalid: bool) -> ImportOptions {
    ImportOptions {
        skip_invalid,
        operator: "tester".into(),
        ..Default::default()
    }
}

#[test]
fn invalid_features_refuse_the_whole_import_and_each_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path());
    let db = dir.path().join("r.db");
    let mut reg = Registry::create(&db).unwrap();
    let mut seen = Seen::default();
    let err = Importer::new(options(false))
        .run(&mut reg, std::slice::from_ref(&file), &mut seen)
        .unwrap_err();
    let ImportError::Invalid { count, kept } = &err else {
        panic!("expected Invalid, got {err}");
    };
    assert_eq!(*count, 2, "{err}");
    assert_eq!(kept.len(), 2);
    assert_eq!(seen.rejected, *kept);
    // The duplicate names the feature that came first, by number.
    assert_eq!(kept[0].index, 11);
    assert!(
        kept[0]
            .reason
            .contains("feature 3 has the same source and id"),
        "{}",
        kept[0].reason
    );
    assert_eq!(kept[1].id.as_deref(), Some("nogeom"));
    // Nothing was stored.
    assert_eq!(reg.revision().unwrap(), 0);
    assert_eq!(reg.stats().unwrap().sites, 0);
}

#[test]
fn skipping_invalid_features_stores_the_valid_ones_as_one_revision() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path());
    let db = dir.path().join("r.db");
    let mut reg = Registry::create(&db).unwrap();
    let mut seen = Seen::default();
    let outcome = Importer::new(options(true))
        .run(&mut reg, std::slice::from_ref(&file), &mut seen)
        .unwrap();
    assert_eq!(outcome.features, 12);
    assert_eq!(outcome.rejected, 2);
    assert_eq!(seen.rejected.len(), 2);
    assert_eq!(outcome.batches.len(), 1);
    let b = &outcome.batches[0];
    assert_eq!((b.added, b.source.as_str(), b.revision), (10, "sites", 1));
    assert_eq!(reg.revision().unwrap(), 1);
    assert_eq!(reg.content_hash().unwrap(), b.content_hash);
}

#[test]
fn replace_without_a_source_is_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let mut reg = Registry::create(&db).unwrap();
    let err = Importer::new(ImportOptions {
        replace: true,
        ..options(false)
    })
    .run(&mut reg, &[dir.path().join("missing.geojson")], &mut ())
    .unwrap_err();
    assert!(matches!(err, ImportError::ReplaceNeedsSource), "{err}");
}
