//! Well-Known Binary (ISO, 2-D, little-endian) for geo-types geometries:
//! how the registry stores geometry and how its content hash sees it.

use geo_types::{
    Coord, Geometry, GeometryCollection, LineString, MultiLineString, MultiPoint, MultiPolygon,
    Point, Polygon,
};

/// Encode a geometry as little-endian 2-D WKB. Rect and Triangle are written as Polygons, Line as LineString.
pub fn encode(g: &Geometry<f64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write(&mut out, g);
    out
}

fn head(out: &mut Vec<u8>, kind: u32) {
    out.push(1);
    out.extend_from_slice(&kind.to_le_bytes());
}

fn count(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn coord(out: &mut Vec<u8>, c: &Coord<f64>) {
    out.extend_from_slice(&c.x.to_le_bytes());
    out.extend_from_slice(&c.y.to_le_bytes());
}

fn coords(out: &mut Vec<u8>, l: &LineString<f64>) {
    count(out, l.0.len());
    l.0.iter().for_each(|c| coord(out, c));
}

fn polygon(out: &mut Vec<u8>, p: &Polygon<f64>) {
    head(out, 3);
    count(out, 1 + p.interiors().len());
    coords(out, p.exterior());
    p.interiors().iter().for_each(|r| coords(out, r));
}

fn write(out: &mut Vec<u8>, g: &Geometry<f64>) {
    match g {
        Geometry::Point(p) => {
            head(out, 1);
            coord(out, &p.0);
        }
        Geometry::Line(l) => {
            head(out, 2);
            coords(out, &LineString(vec![l.start, l.end]));
        }
        Geometry::LineString(l) => {
            head(out, 2);
            coords(out, l);
        }
        Geometry::Polygon(p) => polygon(out, p),
        Geometry::MultiPoint(m) => {
            head(out, 4);
            count(out, m.0.len());
            for p in &m.0 {
                head(out, 1);
                coord(out, &p.0);
            }
        }
        Geometry::MultiLineString(m) => {
            head(out, 5);
            count(out, m.0.len());
            for l in &m.0 {
                head(out, 2);
                coords(out, l);
            }
        }
        Geometry::MultiPolygon(m) => {
            head(out, 6);
            count(out, m.0.len());
            m.0.iter().for_each(|p| polygon(out, p));
        }
        Geometry::GeometryCollection(c) => {
            head(out, 7);
            count(out, c.0.len());
            c.0.iter().for_each(|g| write(out, g));
        }
        Geometry::Rect(r) => polygon(out, &r.to_polygon()),
        Geometry::Triangle(t) => polygon(out, &t.to_polygon()),
    }
}

/// Why WKB could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid WKB at byte {offset}: {reason}")]
pub struct WkbError {
    /// Byte offset where decoding failed.
    pub offset: usize,
    /// What was wrong.
    pub reason: String,
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
    little: bool,
}

impl Cursor<'_> {
    fn err<T>(&self, reason: impl Into<String>) -> Result<T, WkbError> {
        Err(WkbError {
            offset: self.at,
            reason: reason.into(),
        })
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WkbError> {
        match self.b.get(self.at..self.at + N) {
            Some(s) => {
                self.at += N;
                let mut a = [0u8; N];
                a.copy_from_slice(s);
                Ok(a)
            }
            None => self.err("truncated"),
        }
    }
    fn u32(&mut self) -> Result<u32, WkbError> {
        let a = self.take::<4>()?;
        Ok(if self.little {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }
    fn f64(&mut self) -> Result<f64, WkbError> {
        let a = self.take::<8>()?;
        Ok(if self.little {
            f64::from_le_bytes(a)
        } else {
            f64::from_be_bytes(a)
        })
    }
    /// A count that cannot claim more items than bytes remain (each item takes at least `min_size` bytes).
    fn count(&mut self, min_size: usize) -> Result<usize, WkbError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.b.len() - self.at {
            return self.err(format!("count {n} exceeds the remaining data"));
        }
        Ok(n)
    }
}

/// Dimensions of a WKB type code (ISO 1000s, EWKB flags): (base type, coordinates per position).
fn split_type(t: u32) -> (u32, usize) {
    let ewkb_z = t & 0x8000_0000 != 0;
    let ewkb_m = t & 0x4000_0000 != 0;
    let t = t & 0x0FFF_FFFF;
    let (base, iso) = (t % 1000, t / 1000);
    let dims = match iso {
        1 | 2 => 3,
        3 => 4,
        _ => 2 + ewkb_z as usize + ewkb_m as usize,
    };
    (base, dims)
}

fn read_geom(c: &mut Cursor<'_>, depth: usize) -> Result<Geometry<f64>, WkbError> {
    if depth > 16 {
        return c.err("nested too deeply");
    }
    let order = c.take::<1>()?[0];
    c.little = match order {
        0 => false,
        1 => true,
        b => return c.err(format!("byte order {b} is neither 0 nor 1")),
    };
    let t = c.u32()?;
    let (base, dims) = split_type(t);
    let pos = |c: &mut Cursor<'_>| -> Result<Coord<f64>, WkbError> {
        let x = c.f64()?;
        let y = c.f64()?;
        for _ in 2..dims {
            c.f64()?;
        }
        Ok(Coord { x, y })
    };
    let line = |c: &mut Cursor<'_>| -> Result<LineString<f64>, WkbError> {
        let n = c.count(16)?;
        (0..n)
            .map(|_| pos(c))
            .collect::<Result<Vec<_>, _>>()
            .map(LineString)
    };
    let poly = |c: &mut Cursor<'_>| -> Result<Polygon<f64>, WkbError> {
        let n = c.count(4)?;
        if n == 0 {
            return Ok(Polygon::new(LineString(vec![]), vec![]));
        }
        let mut rings = (0..n).map(|_| line(c)).collect::<Result<Vec<_>, _>>()?;
        let ext = rings.remove(0);
        Ok(Polygon::new(ext, rings))
    };
    let sub = |c: &mut Cursor<'_>, want: u32| -> Result<Geometry<f64>, WkbError> {
        let g = read_geom(c, depth + 1)?;
        let ok = matches!(
            (want, &g),
            (1, Geometry::Point(_)) | (2, Geometry::LineString(_)) | (3, Geometry::Polygon(_))
        );
        if ok {
            Ok(g)
        } else {
            c.err(format!("a multi-geometry member is not of type {want}"))
        }
    };
    Ok(match base {
        1 => Point(pos(c)?).into(),
        2 => line(c)?.into(),
        3 => poly(c)?.into(),
        4 => {
            let n = c.count(21)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                if let Geometry::Point(p) = sub(c, 1)? {
                    v.push(p);
                }
            }
            MultiPoint(v).into()
        }
        5 => {
            let n = c.count(9)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                if let Geometry::LineString(l) = sub(c, 2)? {
                    v.push(l);
                }
            }
            MultiLineString(v).into()
        }
        6 => {
            let n = c.count(9)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                if let Geometry::Polygon(p) = sub(c, 3)? {
                    v.push(p);
                }
            }
            MultiPolygon(v).into()
        }
        7 => {
            let n = c.count(9)?;
            let v = (0..n)
                .map(|_| read_geom(c, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Geometry::GeometryCollection(GeometryCollection(v))
        }
        other => return c.err(format!("unsupported geometry type {other} (code {t})")),
    })
}

/// Decode WKB (either byte order; Z and M values are read and dropped). Trailing bytes are an error.
pub fn decode(bytes: &[u8]) -> Result<Geometry<f64>, WkbError> {
    let mut c = Cursor {
        b: bytes,
        at: 0,
        little: true,
    };
    let g = read_geom(&mut c, 0)?;
    if c.at != bytes.len() {
        return c.err(format!("{} trailing bytes", bytes.len() - c.at));
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{line_string, point, polygon};

    #[test]
    fn round_trips() {
        let gs: Vec<Geometry<f64>> = vec![
            point!(x: 1.5, y: -2.25).into(),
            line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)].into(),
            polygon!(exterior: [(x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 4.0), (x: 0.0, y: 0.0)], interiors: [[(x: 1.0, y: 1.0), (x: 2.0, y: 1.0), (x: 1.0, y: 2.0), (x: 1.0, y: 1.0)]]).into(),
            MultiPoint(vec![point!(x: 1.0, y: 2.0), point!(x: -0.0, y: 3.0)]).into(),
        ];
        for g in gs {
            assert_eq!(decode(&encode(&g)).unwrap(), g);
        }
        // A point as PostGIS writes it (hex from ST_AsBinary('POINT(1 2)')).
        let pg = [
            1u8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 240, 63, 0, 0, 0, 0, 0, 0, 0, 64,
        ];
        assert_eq!(decode(&pg).unwrap(), point!(x: 1.0, y: 2.0).into());
    }

    #[test]
    fn rejects_damage() {
        let g: Geometry<f64> = line_string![(x: 0.0, y: 0.0), (x: 1.0, y: 1.0)].into();
        let b = encode(&g);
        assert!(decode(&b[..b.len() - 1]).is_err());
        let mut huge = b.clone();
        huge[5..9].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).unwrap_err().reason.contains("exceeds"));
        let mut order = b.clone();
        order[0] = 7;
        assert!(decode(&order).is_err());
        let mut extra = b;
        extra.push(0);
        assert!(decode(&extra).is_err());
    }
}
