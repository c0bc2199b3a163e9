//! Hostile and broken files: each is refused with a reason, never a panic,
//! never an entity expansion or a file fetched from outside.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use nostrike_formats::{read_features, Format, Mapping, ReadError, ReadOptions};

/// Fixtures in the repository (tests/fixtures/README.md gives sources and licences).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
/// The shipped site extracts (data/README.md).
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");

/// Read every feature; Ok(number of features that mapped to valid sites, reasons of the others) or the file-level error.
fn read(path: &Path, format: Format) -> Result<(usize, Vec<String>), ReadError> {
    let mut ok = 0;
    let mut bad = Vec::new();
    let mapping = Mapping::default();
    read_features(path, format, &ReadOptions::default(), &mut |raw| {
        match mapping.to_site(raw, Some("t"), path, "feature") {
            Ok(_) => ok += 1,
            Err(e) => bad.push(e.to_string()),
        }
        Ok(())
    })?;
    Ok((ok, bad))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn refused(path: &Path, format: Format, needle: &str) {
    match read(path, format) {
        Err(e) => assert!(e.to_string().contains(needle), "{}: {e}", path.display()),
        Ok((ok, bad)) => {
            assert_eq!(ok, 0, "{}: something was accepted", path.display());
            assert!(
                bad.iter().any(|b| b.contains(needle)),
                "{}: {bad:?}",
                path.display()
            );
        }
    }
}

/// One valid site, the seed of the GeoPackages made here.
fn one_museum() -> nostrike_core::Site {
    let mut s = nostrike_core::Site::new(
        "a",
        "t",
        nostrike_core::Category::Museum,
        geo_types::point!(x: 10.0, y: 50.0).into(),
    );
    s.name = "x".into();
    s
}

const PLACEMARK: &str = "<Placemark><name>x</name><ExtendedData><Data name=\"category\"><value>museum</value></Data><Data name=\"id\"><value>a</value></Data></ExtendedData><Point><coordinates>10,50</coordinates></Point></Placemark>";

#[test]
fn kml_external_entities_and_entity_expansion_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let xxe = format!("<?xml version=\"1.0\"?><!DOCTYPE kml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><kml><Document><Placemark><name>&xxe;</name></Placemark>{PLACEMARK}</Document></kml>");
    refused(
        &write(d.path(), "xxe.kml", xxe.as_bytes()),
        Format::Kml,
        "document type declarations",
    );
    let lol = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\"><!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]><kml><Placemark><name>&lol3;</name></Placemark></kml>";
    refused(
        &write(d.path(), "lol.kml", lol.as_bytes()),
        Format::Kml,
        "document type declarations",
    );
    let undefined = format!(
        "<kml><Document><Placemark><name>&nope;</name></Placemark>{PLACEMARK}</Document></kml>"
    );
    refused(
        &write(d.path(), "undef.kml", undefined.as_bytes()),
        Format::Kml,
        "entity &nope; is not defined",
    );
    // The good placemark alone reads, with predefined and character entities resolved.
    let good = "<kml><Placemark><name>A &amp; B &#233;</name><ExtendedData><Data name=\"category\"><value>museum</value></Data><Data name=\"id\"><value>a</value></Data></ExtendedData><Point><coordinates>10,50</coordinates></Point></Placemark></kml>";
    assert_eq!(
        read(&write(d.path(), "good.kml", good.as_bytes()), Format::Kml)
            .unwrap()
            .0,
        1
    );
    refused(
        &write(d.path(), "trunc.kml", &good.as_bytes()[..good.len() / 2]),
        Format::Kml,
        "",
    );
    refused(
        &write(d.path(), "notkml.kml", b"<html><body>hi</body></html>"),
        Format::Kml,
        "not KML",
    );
    let open_ring = "<kml><Placemark><ExtendedData><Data name=\"category\"><value>museum</value></Data><Data name=\"id\"><value>a</value></Data></ExtendedData><Polygon><outerBoundaryIs><LinearRing><coordinates>0,0 1,0 1,1 0,1</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></kml>";
    refused(
        &write(d.path(), "open.kml", open_ring.as_bytes()),
        Format::Kml,
        "not closed",
    );
}

#[test]
fn geopackages_that_are_not_wgs84_or_are_damaged_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let s = one_museum();
    let good = d.path().join("good.gpkg");
    nostrike_formats::gpkg::write(&good, &[s], "").unwrap();
    assert_eq!(read(&good, Format::Gpkg).unwrap().0, 1);
    let mercator = d.path().join("mercator.gpkg");
    std::fs::copy(&good, &mercator).unwrap();
    let c = rusqlite::Connection::open(&mercator).unwrap();
    c.execute_batch("INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84 / Pseudo-Mercator', 3857, 'EPSG', 3857, 'PROJCS[...]', NULL); PRAGMA foreign_keys = OFF; UPDATE gpkg_geometry_columns SET srs_id = 3857; UPDATE gpkg_contents SET srs_id = 3857;").unwrap();
    drop(c);
    refused(&mercator, Format::Gpkg, "EPSG:3857");
    let blob = d.path().join("blob.gpkg");
    std::fs::copy(&good, &blob).unwrap();
    rusqlite::Connection::open(&blob)
        .unwrap()
        .execute_batch("UPDATE sites SET geom = X'47500003E6100000'")
        .unwrap();
    refused(&blob, Format::Gpkg, "truncated");
    refused(
        &write(
            d.path(),
            "text.gpkg",
            b"this is not a database at all, just text, long enough",
        ),
        Format::Gpkg,
        "not a GeoPackage",
    );
    let plain = d.path().join("plain.gpkg");
    rusqlite::Connection::open(&plain)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    refused(&plain, Format::Gpkg, "not a GeoPackage");
}

/// A GeoPackage whose column name is not UTF-8 (found by the fuzzer, a
/// byte flipped in the table's schema): rusqlite panics when asked for
/// such a name, and the reader asked for every column's. Now refused with
/// the reason — for a plain column and for a generated one, which
/// `SELECT *` returns and `table_info` does not list.
#[test]
fn a_gpkg_column_name_not_utf8_panicked() {
    let d = tempfile::tempdir().unwrap();
    for (name, column) in [
        ("plain.gpkg", "ALTER TABLE sites ADD COLUMN qqqqz TEXT"),
        (
            "generated.gpkg",
            "ALTER TABLE sites ADD COLUMN qqqqz TEXT GENERATED ALWAYS AS ('v') VIRTUAL",
        ),
    ] {
        let g = d.path().join(name);
        nostrike_formats::gpkg::write(&g, &[one_museum()], "").unwrap();
        rusqlite::Connection::open(&g)
            .unwrap()
            .execute_batch(column)
            .unwrap();
        // The name's first byte, in the schema's text, made a lone 0xFF.
        let mut bytes = std::fs::read(&g).unwrap();
        let mut patched = 0;
        for i in 0..bytes.len().saturating_sub(5) {
            if &bytes[i..i + 5] == b"qqqqz" {
                bytes[i] = 0xff;
                patched += 1;
            }
        }
        assert!(patched > 0, "{name}: the column name is not in the file");
        std::fs::write(&g, &bytes).unwrap();
        refused(&g, Format::Gpkg, "not valid UTF-8");
    }
}

#[test]
fn shapefiles_with_foreign_or_missing_prj_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let src = Path::new(DATA).join("helsinki-sites.geojson");
    let shp = d.path().join("p.shp");
    let st = std::process::Command::new("ogr2ogr")
        .args(["-f", "ESRI Shapefile"])
        .arg(&shp)
        .arg(&src)
        .args(["-where", "OGR_GEOMETRY='POINT'"])
        .output()
        .expect("ogr2ogr (gdal-bin) must be installed");
    assert!(st.status.success());
    assert_eq!(read(&shp, Format::Shp).unwrap().1.len(), 0);
    std::fs::write(
        d.path().join("p.prj"),
        "PROJCS[\"WGS_1984_Web_Mercator_Auxiliary_Sphere\",GEOGCS[\"GCS_WGS_1984\"]]",
    )
    .unwrap();
    refused(&shp, Format::Shp, "WGS_1984_Web_Mercator_Auxiliary_Sphere");
    std::fs::remove_file(d.path().join("p.prj")).unwrap();
    refused(&shp, Format::Shp, "no .prj");
    refused(
        &write(d.path(), "junk.zip", b"PK\x03\x04 not really a zip"),
        Format::Shp,
        "zip",
    );
}

#[test]
fn damaged_pbf_and_json_are_refused_without_panic() {
    let d = tempfile::tempdir().unwrap();
    let mut pbf = std::fs::read(Path::new(FIXTURES).join("andorra-2013.osm.pbf")).unwrap();
    let mid = pbf.len() / 2;
    for b in &mut pbf[mid..mid + 64] {
        *b ^= 0x5A;
    }
    refused(
        &write(d.path(), "bad.osm.pbf", &pbf),
        Format::Osm,
        "not a readable OSM PBF",
    );
    let truncated = std::fs::read(Path::new(FIXTURES).join("andorra-2013.osm.pbf")).unwrap();
    refused(
        &write(d.path(), "short.osm.pbf", &truncated[..truncated.len() / 3]),
        Format::Osm,
        "not a readable OSM PBF",
    );
    let deep = format!(
        "{{\"type\":\"FeatureCollection\",\"features\":[{}{}]}}",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    refused(
        &write(d.path(), "deep.geojson", deep.as_bytes()),
        Format::GeoJson,
        "recursion limit",
    );
    for (name, text, needle) in [
        ("nan.geojson", "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"category\":\"museum\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[NaN,1]}}]}", "not valid GeoJSON"),
        ("big.geojson", "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"category\":\"museum\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[1e400,1]}}]}", "not valid GeoJSON"),
        ("str.geojson", "{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"category\":\"museum\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[\"1\",\"2\"]}}]}", "not a number"),
        ("crs.geojson", "{\"type\":\"FeatureCollection\",\"crs\":{\"type\":\"name\",\"properties\":{\"name\":\"urn:ogc:def:crs:EPSG::3857\"}},\"features\":[]}", "EPSG::3857"),
        ("feature.geojson", "{\"type\":\"Feature\",\"properties\":{},\"geometry\":null}", "null or missing geometry"),
        ("topology.geojson", "{\"type\":\"Topology\",\"objects\":{}}", "top-level type is \"Topology\""),
        ("empty.geojson", "", "not valid GeoJSON"),
    ] {
        refused(&write(d.path(), name, text.as_bytes()), Format::GeoJson, needle);
    }
}

mod fuzz {
    //! Generated-input fuzzing on the stable toolchain: valid files of every
    //! format, mutated (bytes flipped, cut, spliced, random), fed to the
    //! readers; none may panic. A short run here; `just fuzz` runs long
    //! (set `PROPTEST_CASES`). A crash found becomes a named regression test above.
    use super::*;
    use proptest::prelude::*;

    fn seeds() -> Vec<(&'static str, Format, Vec<u8>)> {
        let d = tempfile::tempdir().unwrap();
        let s = one_museum();
        let g = d.path().join("s.gpkg");
        nostrike_formats::gpkg::write(&g, &[s], "").unwrap();
        vec![
            ("s.geojson", Format::GeoJson, std::fs::read(Path::new(DATA).join("andorra-2013-sites.geojson")).unwrap()[..4000].to_vec()),
            ("s.ndjson", Format::GeoJsonSeq, b"{\"type\":\"Feature\",\"id\":\"a\",\"properties\":{\"category\":\"museum\"},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}}\n".to_vec()),
            ("s.csv", Format::Csv, b"id,category,wkt\na,museum,\"POLYGON((0 0,1 0,1 1,0 0))\"\nb,water,\"POINT(1 2)\"\n".to_vec()),
            ("s.kml", Format::Kml, format!("<kml><Document>{PLACEMARK}</Document></kml>").into_bytes()),
            ("s.gpkg", Format::Gpkg, std::fs::read(&g).unwrap()),
            ("s.osm.pbf", Format::Osm, std::fs::read(Path::new(FIXTURES).join("andorra-2013.osm.pbf")).unwrap()[..20000].to_vec()),
            ("s.cot", Format::Cot, std::fs::read(Path::new(FIXTURES).join("cot/Route.cot")).unwrap()),
        ]
    }

    /// `PROPTEST_CASES` when set (long runs), else `short`.
    fn cases(short: u32) -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(short)
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Flip(usize, u8),
        Cut(usize),
        Splice(usize, Vec<u8>),
        Random(Vec<u8>),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
            any::<usize>().prop_map(Mutation::Cut),
            (
                any::<usize>(),
                proptest::collection::vec(any::<u8>(), 0..64)
            )
                .prop_map(|(i, v)| Mutation::Splice(i, v)),
            proptest::collection::vec(any::<u8>(), 0..512).prop_map(Mutation::Random),
        ]
    }

    fn apply(mut data: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
        for m in ms {
            let n = data.len().max(1);
            match m {
                Mutation::Flip(i, b) => {
                    if !data.is_empty() {
                        data[i % n] ^= b | 1;
                    }
                }
                Mutation::Cut(i) => data.truncate(i % n),
                Mutation::Splice(i, v) => {
                    let at = i % n;
                    let at = at.min(data.len());
                    data.splice(at..at, v.iter().copied());
                }
                Mutation::Random(v) => data = v.clone(),
            }
        }
        data
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(48), failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn readers_never_panic(which in 0usize..7, ms in proptest::collection::vec(mutation(), 1..4)) {
            let d = tempfile::tempdir().unwrap();
            let (name, format, data) = seeds().swap_remove(which);
            let p = write(d.path(), name, &apply(data, &ms));
            // Ok or Err are both fine; a panic fails the test.
            let _ = read(&p, format);
        }
    }
}
