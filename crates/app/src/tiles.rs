//! Context imagery under the report maps and the served map: raster tiles
//! from a local MBTiles file (read here, embedded in a report so it stays
//! offline) or from a URL template the operator gives (referenced, fetched
//! by whoever opens the report). Nothing is ever fetched by nostrike itself,
//! and nothing unless the operator asks.
//!
//! Tiles are Web Mercator squares; a report map is azimuthal equidistant.
//! Each tile is placed by the affine map that sends three of its corners
//! exactly where they project (the test checks those corners against
//! GeodSolve); inside a tile the placement is that affine approximation,
//! not measured here. The imagery is context only: every distance in a
//! report is measured on the vectors.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// Where tiles come from.
pub enum TileSource {
    /// A URL template with `{z}`, `{x}` and `{y}`.
    Url(String),
    /// A local MBTiles file (raster tiles).
    MbTiles {
        /// The file.
        path: PathBuf,
        /// Its connection, read-only (boxed: a connection is large beside
        /// a URL, larger still when a test build enables rusqlite's hooks).
        conn: Box<Mutex<Connection>>,
        /// Highest zoom level it holds.
        max_zoom: u8,
        /// Lowest zoom level it holds.
        min_zoom: u8,
    },
}

/// Why a tile source cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    /// Neither a URL template nor a readable MBTiles file.
    #[error("--tiles {0:?}: give a URL template with {{z}}, {{x}} and {{y}} (http or https), or an .mbtiles file")]
    Unknown(String),
    /// The MBTiles file could not be read.
    #[error("--tiles {}: {reason}", path.display())]
    MbTiles {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl TileSource {
    /// Open `spec`: an `http(s)://…{z}/{x}/{y}…` template or an MBTiles file.
    pub fn open(spec: &str) -> Result<TileSource, TileError> {
        if spec.starts_with("http://") || spec.starts_with("https://") {
            if ["{z}", "{x}", "{y}"].iter().all(|k| spec.contains(k))
                && !spec.contains(['"', '<', '>', ' ', '\''])
            {
                return Ok(TileSource::Url(spec.to_string()));
            }
            return Err(TileError::Unknown(spec.to_string()));
        }
        let path = Path::new(spec);
        if !path.is_file() {
            return Err(TileError::Unknown(spec.to_string()));
        }
        let bad = |reason: String| TileError::MbTiles {
            path: path.to_path_buf(),
            reason,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| bad(e.to_string()))?;
        let format: Option<String> = conn
            .query_row(
                "SELECT value FROM metadata WHERE name = 'format'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| bad(format!("not an MBTiles file (no metadata table: {e})")))?;
        if let Some(f) = &format {
            if !matches!(f.as_str(), "png" | "jpg" | "jpeg" | "webp") {
                return Err(bad(format!(
                    "holds {f:?} tiles; only raster tiles (png, jpg, webp) can be drawn"
                )));
            }
        }
        let (min, max): (Option<i64>, Option<i64>) = conn
            .query_row(
                "SELECT min(zoom_level), max(zoom_level) FROM tiles",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| bad(format!("not an MBTiles file (no tiles table: {e})")))?;
        let (Some(min), Some(max)) = (min, max) else {
            return Err(bad("holds no tiles".into()));
        };
        if !(0..=24).contains(&min) || !(0..=24).contains(&max) {
            return Err(bad(format!("zoom levels {min}–{max} are outside 0–24")));
        }
        Ok(TileSource::MbTiles {
            path: path.to_path_buf(),
            conn: Box::new(Mutex::new(conn)),
            max_zoom: max as u8,
            min_zoom: min as u8,
        })
    }

    /// The origin images come from, for a Content-Security-Policy (`None`: embedded).
    pub fn origin(&self) -> Option<String> {
        match self {
            TileSource::Url(t) => {
                let (scheme, rest) = t.split_once("://")?;
                Some(format!("{scheme}://{}", rest.split('/').next()?))
            }
            TileSource::MbTiles { .. } => None,
        }
    }

    /// Words for a report's footnote.
    pub fn describe(&self) -> String {
        match self {
            TileSource::Url(t) => format!("tiles from {t} (fetched by the viewer)"),
            TileSource::MbTiles { path, .. } => format!(
                "tiles from {} (embedded)",
                path.file_name().unwrap_or_default().to_string_lossy()
            ),
        }
    }

    /// The zoom levels available (URL templates: 0–19).
    pub fn zooms(&self) -> (u8, u8) {
        match self {
            TileSource::Url(_) => (0, 19),
            TileSource::MbTiles {
                min_zoom, max_zoom, ..
            } => (*min_zoom, *max_zoom),
        }
    }

    /// One tile (XYZ numbering, y from the north) from an MBTiles file: its
    /// bytes and MIME type, `None` when the file does not hold it.
    pub fn tile(
        &self,
        z: u8,
        x: u32,
        y: u32,
    ) -> Result<Option<(Vec<u8>, &'static str)>, TileError> {
        let TileSource::MbTiles { path, conn, .. } = self else {
            return Ok(None);
        };
        if z > 24 || u64::from(x) >= 1u64 << z || u64::from(y) >= 1u64 << z {
            return Ok(None);
        }
        let row = (1u64 << z) - 1 - u64::from(y); // MBTiles rows count from the south (TMS)
        let conn = conn.lock().map_err(|_| TileError::MbTiles {
            path: path.clone(),
            reason: "connection lock poisoned".into(),
        })?;
        let data: Option<Vec<u8>> = conn
            .query_row(
                "SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 AND tile_row = ?3",
                rusqlite::params![z, x, row as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| TileError::MbTiles {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        Ok(data.map(|d| {
            let mime = mime_of(&d);
            (d, mime)
        }))
    }

    /// The URL of a tile under a template (`None` for MBTiles).
    pub fn url(&self, z: u8, x: u32, y: u32) -> Option<String> {
        match self {
            TileSource::Url(t) => Some(
                t.replace("{z}", &z.to_string())
                    .replace("{x}", &x.to_string())
                    .replace("{y}", &y.to_string()),
            ),
            TileSource::MbTiles { .. } => None,
        }
    }
}

/// The MIME type of image bytes, by their magic number.
pub fn mime_of(d: &[u8]) -> &'static str {
    if d.starts_with(b"\x89PNG") {
        "image/png"
    } else if d.starts_with(b"\xFF\xD8") {
        "image/jpeg"
    } else if d.len() > 12 && &d[0..4] == b"RIFF" && &d[8..12] == b"WEBP" {
        "image/webp"
    } else {
        "application/octet-stream"
    }
}

/// Longitude and latitude (degrees) of a Web Mercator tile corner.
pub fn tile_corner(z: u8, x: f64, y: f64) -> (f64, f64) {
    let n = (1u64 << z) as f64;
    let lon = x / n * 360.0 - 180.0;
    let lat = (std::f64::consts::PI * (1.0 - 2.0 * y / n))
        .sinh()
        .atan()
        .to_degrees();
    (lon, lat)
}

/// The (fractional) tile coordinates of a point at zoom `z`.
pub fn tile_of(z: u8, lon: f64, lat: f64) -> (f64, f64) {
    let n = (1u64 << z) as f64;
    let lat = lat.clamp(-85.051_128_78, 85.051_128_78).to_radians();
    let x = (lon + 180.0) / 360.0 * n;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n;
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_numbers_match_the_slippy_map_convention() {
        // Zoom 0: one tile; Berlin at zoom 10 is tile 550/335 (OSM wiki example).
        assert_eq!(tile_of(0, 0.0, 0.0), (0.5, 0.5));
        let (x, y) = tile_of(10, 13.384, 52.517);
        assert_eq!((x as u32, y as u32), (550, 335));
        let (lon, lat) = tile_corner(10, 550.0, 335.0);
        let (bx, by) = tile_of(10, lon, lat);
        assert!((bx - 550.0).abs() < 1e-9 && (by - 335.0).abs() < 1e-9);
    }

    #[test]
    fn url_templates_must_name_z_x_and_y() {
        assert!(TileSource::open("https://t.example/{z}/{x}/{y}.png").is_ok());
        assert!(TileSource::open("https://t.example/{z}/{x}.png").is_err());
        assert!(TileSource::open("https://t.example/{z}/{x}/{y}.png\" onload=\"x").is_err());
        assert!(TileSource::open("/no/such/file.mbtiles").is_err());
        assert_eq!(
            TileSource::open("https://t.example:8443/a/{z}/{x}/{y}.png")
                .unwrap()
                .origin()
                .as_deref(),
            Some("https://t.example:8443")
        );
    }
}
