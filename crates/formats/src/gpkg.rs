//! GeoPackage: a reader of every feature table (GeoPackage binary header +
//! WKB; the SRS must be WGS84 lon/lat) and a writer that `ogrinfo` and QGIS open.

use std::path::Path;

use geo_types::Geometry;
use nostrike_core::{time, wkb, Site};
use rusqlite::{params, Connection, OpenFlags};

use crate::layout::{read_column, Columns, Kind};
use serde_json::{Map, Value};

use crate::{RawFeature, ReadError};

const GPKG_APPLICATION_ID: i32 = 0x4750_4B47;

fn sq(path: &Path) -> impl Fn(rusqlite::Error) -> ReadError + '_ {
    move |e| ReadError::invalid(path, format!("GeoPackage: {e}"))
}

/// Decode a GeoPackage geometry blob (header, optional envelope, WKB).
pub(crate) fn decode_blob(b: &[u8]) -> Result<Geometry<f64>, String> {
    if b.len() < 8 || &b[0..2] != b"GP" {
        return Err("geometry blob does not start with the GeoPackage magic \"GP\"".into());
    }
    let flags = b[3];
    if flags & 0b0010_0000 != 0 {
        return Err("extended GeoPackage geometry types are not supported".into());
    }
    if flags & 0b0001_0000 != 0 {
        return Err("empty geometry".into());
    }
    let env = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        n => return Err(format!("invalid envelope indicator {n}")),
    };
    let start = 8 + env;
    if b.len() <= start {
        return Err("geometry blob is truncated".into());
    }
    wkb::decode(&b[start..]).map_err(|e| e.to_string())
}

/// Encode a geometry as a GeoPackage blob: little-endian header, SRS 4326, an XY envelope, then WKB.
pub fn encode_blob(g: &Geometry<f64>) -> Vec<u8> {
    let body = wkb::encode(g);
    let (mut minx, mut maxx, mut miny, mut maxy) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for c in crate::coords(g) {
        minx = minx.min(c.x);
        maxx = maxx.max(c.x);
        miny = miny.min(c.y);
        maxy = maxy.max(c.y);
    }
    let mut out = Vec::with_capacity(body.len() + 40);
    out.extend_from_slice(b"GP");
    out.push(0); // version 1
    out.push(0b0000_0011); // little-endian header, XY envelope
    out.extend_from_slice(&4326i32.to_le_bytes());
    for v in [minx, maxx, miny, maxy] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&body);
    out
}

/// Read every feature table of a GeoPackage, streaming rows to `each`.
///
/// Features are numbered across tables in table order, from 1. A feature's
/// id is its table's primary key (the feature id); in a GeoPackage with
/// several feature tables, where feature ids restart in each table, it is
/// `TABLE:FID` (an `id` column, where there is one, still wins in the mapping).
pub fn read(
    path: &Path,
    each: &mut dyn FnMut(RawFeature) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    std::fs::metadata(path).map_err(|e| ReadError::io(path, e))?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sq(path))?;
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| {
            ReadError::invalid(
                path,
                format!("not a GeoPackage (not an SQLite database: {e})"),
            )
        })?;
    let has_contents: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'gpkg_geometry_columns'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(|e| ReadError::invalid(path, format!("not a GeoPackage ({e})")))?
        > 0;
    if app != GPKG_APPLICATION_ID && !has_contents {
        return Err(ReadError::invalid(
            path,
            "not a GeoPackage (no GPKG application id, no gpkg_geometry_columns table)",
        ));
    }
    let layers: Vec<(String, String, i64, String)> = {
        let mut st = conn
            .prepare("SELECT g.table_name, g.column_name, g.srs_id, coalesce(c.description, '') FROM gpkg_geometry_columns g JOIN gpkg_contents c ON c.table_name = g.table_name WHERE c.data_type = 'features' ORDER BY g.table_name")
            .map_err(sq(path))?;
        let v = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(sq(path))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sq(path))?;
        v
    };
    if layers.is_empty() {
        return Err(ReadError::invalid(path, "GeoPackage has no feature tables"));
    }
    let mut n = 0usize;
    let several = layers.len() > 1;
    for (table, column, srs, description) in layers {
        // nostrike's own export: NULL is an absent property, `NAME:json` columns hold JSON.
        let own = description.starts_with(OWN_DESCRIPTION);
        let (org, code, name): (String, i64, String) = conn
            .query_row("SELECT organization, organization_coordsys_id, srs_name FROM gpkg_spatial_ref_sys WHERE srs_id = ?1", [srs], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| ReadError::invalid(path, format!("table {table:?}: SRS {srs} is not described in gpkg_spatial_ref_sys ({e})")))?;
        if !(org.eq_ignore_ascii_case("EPSG") && code == 4326) {
            return Err(ReadError::invalid(path, format!("table {table:?}: coordinate reference system {org}:{code} ({name}) is not WGS84 lon/lat (EPSG:4326); reproject first, e.g. ogr2ogr -t_srs EPSG:4326")));
        }
        let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        // Every column name, hidden and generated ones too, must be UTF-8
        // before the statement's names are asked for (rusqlite panics on
        // one that is not): a damaged or hostile file is refused, with the reason.
        {
            let mut info = conn
                .prepare(&format!("PRAGMA table_xinfo({})", quoted(&table)))
                .map_err(sq(path))?;
            let mut rows = info.query([]).map_err(sq(path))?;
            while let Some(r) = rows.next().map_err(sq(path))? {
                let raw = r.get_ref(1).map_err(sq(path))?;
                if let rusqlite::types::ValueRef::Text(b) = raw {
                    if std::str::from_utf8(b).is_err() {
                        return Err(ReadError::invalid(
                            path,
                            format!(
                                "table {table:?}: column {:?} has a name that is not valid UTF-8",
                                String::from_utf8_lossy(b)
                            ),
                        ));
                    }
                }
            }
        }
        let mut st = conn
            .prepare(&format!("SELECT * FROM {}", quoted(&table)))
            .map_err(sq(path))?;
        let names: Vec<String> = st.column_names().iter().map(|s| s.to_string()).collect();
        let pk: Option<String> = {
            let mut info = conn
                .prepare(&format!("PRAGMA table_info({})", quoted(&table)))
                .map_err(sq(path))?;
            let v = info
                .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(5)?)))
                .map_err(sq(path))?
                .filter_map(Result::ok)
                .find(|(_, pk)| *pk > 0)
                .map(|(c, _)| c);
            v
        };
        let mut rows = st.query([]).map_err(sq(path))?;
        while let Some(row) = rows.next().map_err(sq(path))? {
            n += 1;
            let mut props = Map::new();
            let mut geometry = Err("no geometry".to_string());
            let mut id = None;
            for (i, col) in names.iter().enumerate() {
                let v = row.get_ref(i).map_err(sq(path))?;
                use rusqlite::types::ValueRef as V;
                if col == &column {
                    geometry = match v {
                        V::Blob(b) => decode_blob(b),
                        V::Null => Err("null geometry".into()),
                        _ => Err("geometry column does not hold a blob".into()),
                    };
                    continue;
                }
                if own {
                    match v {
                        V::Null => continue,
                        V::Text(t) if col.ends_with(crate::layout::JSON_SUFFIX) => {
                            if let Some((k, value)) = read_column(col, &String::from_utf8_lossy(t))
                            {
                                props.insert(k, value);
                            }
                            continue;
                        }
                        _ => {}
                    }
                }
                let value = match v {
                    V::Null => Value::Null,
                    V::Integer(x) => Value::from(x),
                    V::Real(x) => serde_json::Number::from_f64(x)
                        .map(Value::Number)
                        .unwrap_or(Value::Null),
                    V::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
                    V::Blob(_) => continue,
                };
                if Some(col) == pk.as_ref() {
                    let fid = match &value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    // Feature ids restart in each table: with several tables, the table names them.
                    id = Some(if several {
                        format!("{table}:{fid}")
                    } else {
                        fid
                    });
                    continue;
                }
                props.insert(col.clone(), value);
            }
            let geometry = geometry.map_err(|e| format!("table {table:?}: {e}"));
            each(RawFeature {
                index: n,
                id,
                geometry,
                properties: props,
            })?;
        }
    }
    Ok(())
}

/// Whether a GeoPackage is nostrike's own export (its `sites` table's description).
pub fn is_own_export(path: &Path) -> bool {
    let Ok(conn) = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return false;
    };
    conn.query_row(
        "SELECT count(*) FROM gpkg_contents WHERE description LIKE ?1",
        [format!("{OWN_DESCRIPTION}%")],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .unwrap_or(false)
}

/// The description nostrike's own exports give their `sites` table.
pub const OWN_DESCRIPTION: &str = "nostrike protected sites";

/// Write sites as a GeoPackage with one feature table, `sites`, and an R-tree
/// spatial index. Columns: nostrike's fields, then the sources' own
/// properties (see [`crate::layout`]). `notice` (licences and attributions)
/// goes into the table's description and the GeoPackage's metadata.
pub fn write(path: &Path, sites: &[Site], notice: &str) -> Result<(), crate::WriteError> {
    write_file(path, sites, notice).map_err(|reason| crate::WriteError {
        file: path.to_path_buf(),
        reason,
    })
}

fn write_file(path: &Path, sites: &[Site], notice: &str) -> Result<(), String> {
    if path.exists() {
        std::fs::remove_file(path).map_err(|e| e.to_string())?;
    }
    let mut conn = Connection::open(path).map_err(|e| e.to_string())?;
    let err = |e: rusqlite::Error| e.to_string();
    conn.pragma_update(None, "application_id", GPKG_APPLICATION_ID)
        .map_err(err)?;
    conn.pragma_update(None, "user_version", 10300)
        .map_err(err)?;
    let tx = conn.transaction().map_err(err)?;
    tx.execute_batch(
        r#"
CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY, organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system');
INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system');
INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84 geodetic', 4326, 'EPSG', 4326, 'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]', 'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE, description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER, CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name), CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name), CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
CREATE TABLE gpkg_metadata (id INTEGER CONSTRAINT m_pk PRIMARY KEY ASC NOT NULL, md_scope TEXT NOT NULL DEFAULT 'dataset', md_standard_uri TEXT NOT NULL, mime_type TEXT NOT NULL DEFAULT 'text/xml', metadata TEXT NOT NULL DEFAULT '');
CREATE TABLE gpkg_metadata_reference (reference_scope TEXT NOT NULL, table_name TEXT, column_name TEXT, row_id_value INTEGER, timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), md_file_id INTEGER NOT NULL, md_parent_id INTEGER, CONSTRAINT crmr_mfi_fk FOREIGN KEY (md_file_id) REFERENCES gpkg_metadata(id), CONSTRAINT crmr_mpi_fk FOREIGN KEY (md_parent_id) REFERENCES gpkg_metadata(id));
INSERT INTO gpkg_extensions VALUES ('gpkg_metadata', NULL, 'gpkg_metadata', 'http://www.geopackage.org/spec120/#extension_metadata', 'read-write');
INSERT INTO gpkg_extensions VALUES ('gpkg_metadata_reference', NULL, 'gpkg_metadata', 'http://www.geopackage.org/spec120/#extension_metadata', 'read-write');
"#,
    )
    .map_err(err)?;
    let columns = Columns::plan(sites, true);
    let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let own_types = [
        "TEXT NOT NULL",
        "TEXT NOT NULL",
        "TEXT",
        "TEXT NOT NULL",
        "TEXT NOT NULL",
        "TEXT",
        "DOUBLE",
        "DOUBLE",
        "TEXT",
        "TEXT",
        "TEXT",
        "TEXT",
        "TEXT",
        "TEXT",
        "TEXT",
    ];
    let mut defs: Vec<String> = vec![
        "fid INTEGER PRIMARY KEY AUTOINCREMENT".into(),
        "geom GEOMETRY".into(),
    ];
    let mut names: Vec<String> = Vec::new();
    for ((_, col), ty) in columns.own.iter().zip(own_types) {
        defs.push(format!("{} {ty}", quote(col)));
        names.push(quote(col));
    }
    if columns.nested {
        defs.push("extra TEXT".into());
        names.push("extra".into());
    }
    for (_, col, kind) in &columns.extra {
        let ty = match kind {
            Kind::Integer => "INTEGER",
            Kind::Real => "DOUBLE",
            Kind::Text | Kind::Json => "TEXT",
        };
        defs.push(format!("{} {ty}", quote(col)));
        names.push(quote(col));
    }
    tx.execute_batch(&format!("CREATE TABLE sites ({});", defs.join(", ")))
        .map_err(err)?;
    let description = if notice.is_empty() {
        OWN_DESCRIPTION.to_string()
    } else {
        format!("{OWN_DESCRIPTION} — {notice}")
    };
    tx.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) VALUES ('sites', 'features', 'sites', ?1, 4326)",
        [&description],
    )
    .map_err(err)?;
    tx.execute(
        "INSERT INTO gpkg_metadata (id, md_scope, md_standard_uri, mime_type, metadata) VALUES (1, 'dataset', 'http://purl.org/dc/elements/1.1/', 'text/plain', ?1)",
        [&description],
    )
    .map_err(err)?;
    tx.execute_batch(
        "INSERT INTO gpkg_metadata_reference (reference_scope, table_name, md_file_id) VALUES ('table', 'sites', 1);
         INSERT INTO gpkg_geometry_columns VALUES ('sites', 'geom', 'GEOMETRY', 4326, 0, 0);
         CREATE VIRTUAL TABLE rtree_sites_geom USING rtree(id, minx, maxx, miny, maxy);
         INSERT INTO gpkg_extensions VALUES ('sites', 'geom', 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only');",
    )
    .map_err(err)?;
    let insert = format!(
        "INSERT INTO sites (geom, {}) VALUES ({})",
        names.join(", "),
        vec!["?"; names.len() + 1].join(", ")
    );
    let (mut minx, mut miny, mut maxx, mut maxy) = (
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    );
    {
        let mut ins = tx.prepare(&insert).map_err(err)?;
        let mut rt = tx
            .prepare("INSERT INTO rtree_sites_geom VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(err)?;
        for s in sites {
            let cs = crate::coords(&s.geometry);
            let (x0, x1) = cs
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), c| {
                    (a.min(c.x), b.max(c.x))
                });
            let (y0, y1) = cs
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), c| {
                    (a.min(c.y), b.max(c.y))
                });
            minx = minx.min(x0);
            maxx = maxx.max(x1);
            miny = miny.min(y0);
            maxy = maxy.max(y1);
            let designations =
                serde_json::to_string(&s.designations).unwrap_or_else(|_| "[]".into());
            use rusqlite::types::Value as Sql;
            let text = |t: &str| Sql::Text(t.to_string());
            let opt_text = |t: Option<String>| t.map(Sql::Text).unwrap_or(Sql::Null);
            let opt_real = |x: Option<f64>| x.map(Sql::Real).unwrap_or(Sql::Null);
            let mut values: Vec<Sql> = vec![
                Sql::Blob(encode_blob(&s.geometry)),
                text(&s.source),
                text(&s.id),
                text(&s.name),
                text(s.category.as_str()),
                text(s.protection.as_str()),
                text(&designations),
                opt_real(s.standoff_m),
                Sql::Real(s.positional_accuracy_m),
                opt_text(s.valid_from.map(time::format_utc)),
                opt_text(s.valid_to.map(time::format_utc)),
                opt_text(s.last_verified.clone()),
                opt_text(s.marking.classification.clone()),
                opt_text(
                    (!s.marking.releasable_to.is_empty())
                        .then(|| s.marking.releasable_to.join(",")),
                ),
                opt_text((!s.external_ids.is_empty()).then(|| crate::layout::external_ids_text(s))),
                opt_text(s.inscribed.clone()),
            ];
            if columns.nested {
                values.push(text(&s.properties));
            }
            let extras = crate::layout::extras(s);
            for (key, _, kind) in &columns.extra {
                values.push(match (extras.get(key), kind) {
                    (None, _) => Sql::Null,
                    (Some(Value::String(t)), Kind::Text) => text(t),
                    (Some(Value::Number(n)), Kind::Integer) => {
                        n.as_i64().map(Sql::Integer).unwrap_or(Sql::Null)
                    }
                    (Some(Value::Number(n)), Kind::Real) => {
                        n.as_f64().map(Sql::Real).unwrap_or(Sql::Null)
                    }
                    (Some(v), _) => text(&v.to_string()),
                });
            }
            ins.execute(rusqlite::params_from_iter(values))
                .map_err(err)?;
            rt.execute(params![tx.last_insert_rowid(), x0, x1, y0, y1])
                .map_err(err)?;
        }
    }
    let ext = |v: f64| if v.is_finite() { Some(v) } else { None };
    tx.execute(
        "UPDATE gpkg_contents SET min_x = ?1, min_y = ?2, max_x = ?3, max_y = ?4 WHERE table_name = 'sites'",
        params![ext(minx), ext(miny), ext(maxx), ext(maxy)],
    )
    .map_err(err)?;
    tx.commit().map_err(err)?;
    Ok(())
}
