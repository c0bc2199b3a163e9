//! A streamed report's spill: what a batch check has found, held compactly
//! in memory up to a limit and then in an unnamed temporary file, so that a
//! report's header — whose verdict, stale count and banner cover every area
//! — can be written before its areas without the areas' results, or their
//! serialised report, ever being in memory at once.
//!
//! The results are spilled in a compact binary form (98 bytes for a hit with
//! a bearing and a stale marker, by the layout below; its JSON averaged 562
//! bytes a hit on the dense benchmark set), not as report bytes: spilling the report itself
//! made a batch check a third (1M sites) to a half (the dense set) slower
//! than holding it in memory (docs/BENCHMARKS.md).

use std::io::{BufReader, Read};

use geo_types::Coord;
use nostrike_core::{AreaCoverage, AreaResult, Hit, Staleness, Verdict};

use crate::marking::Withheld;

/// Bytes written now and read back once, in order: held in memory up to a
/// limit, then in an unnamed temporary file (which the system removes when
/// it is closed) — so a streamed report's body never has to fit in memory.
#[derive(Debug)]
pub struct Spill {
    memory: Vec<u8>,
    limit: usize,
    file: Option<std::io::BufWriter<std::fs::File>>,
    len: u64,
}

impl Spill {
    /// A spill that keeps up to `limit` bytes in memory.
    pub fn new(limit: usize) -> Spill {
        Spill {
            memory: Vec::new(),
            limit,
            file: None,
            len: 0,
        }
    }

    /// How many bytes it holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it went to a temporary file.
    pub fn spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Everything it holds, from the start.
    pub fn into_reader(self) -> std::io::Result<Box<dyn Read>> {
        use std::io::Seek;
        Ok(match self.file {
            None => Box::new(std::io::Cursor::new(self.memory)),
            Some(f) => {
                let mut f = f.into_inner().map_err(|e| e.into_error())?;
                f.seek(std::io::SeekFrom::Start(0))?;
                Box::new(BufReader::with_capacity(1 << 20, f))
            }
        })
    }
}

impl std::io::Write for Spill {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.write_all(b)?;
        Ok(b.len())
    }

    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.len += b.len() as u64;
        if self.file.is_none() && self.memory.len() + b.len() > self.limit {
            let f = tempfile::tempfile().map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "a temporary file in {} for the report's body: {e}",
                        std::env::temp_dir().display()
                    ),
                )
            })?;
            let mut f = std::io::BufWriter::with_capacity(1 << 20, f);
            f.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => f.write_all(b),
            None => {
                self.memory.extend_from_slice(b);
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// Write one area's results, and what it withheld, to `o`.
pub fn encode_area(res: &AreaResult, withheld: &Withheld, o: &mut Vec<u8>) {
    put_str(o, &res.area_id);
    o.push(verdict_byte(res.verdict));
    for list in [&res.hits, &res.not_valid] {
        o.extend_from_slice(&(list.len() as u64).to_le_bytes());
        for h in list {
            encode_hit(h, o);
        }
    }
    match &res.coverage {
        None => o.push(0),
        Some(c) => {
            o.push(1);
            o.extend_from_slice(&(c.covered_by.len() as u64).to_le_bytes());
            for s in &c.covered_by {
                put_str(o, s);
            }
            o.extend_from_slice(&c.reach_m.to_le_bytes());
        }
    }
    o.extend_from_slice(&(withheld.hits as u64).to_le_bytes());
    o.push(match withheld.verdict {
        None => 0,
        Some(v) => 1 + verdict_byte(verdict_of(v).unwrap_or(Verdict::Conflict)),
    });
    o.extend_from_slice(&(withheld.not_valid as u64).to_le_bytes());
}

fn encode_hit(h: &Hit, o: &mut Vec<u8>) {
    o.extend_from_slice(&(h.site as u64).to_le_bytes());
    for x in [h.distance_m, h.required_m, h.margin_m] {
        o.extend_from_slice(&x.to_le_bytes());
    }
    o.push(verdict_byte(h.verdict));
    put_opt_f64(o, h.bearing_deg);
    for x in [
        h.nearest_on_area.x,
        h.nearest_on_area.y,
        h.nearest_on_site.x,
        h.nearest_on_site.y,
        h.standoff_m,
        h.positional_accuracy_m,
    ] {
        o.extend_from_slice(&x.to_le_bytes());
    }
    o.push(u8::from(h.standoff_from_site) | (u8::from(h.standoff_from_group) << 1));
    match &h.stale {
        None => o.push(0),
        Some(st) => {
            o.push(1);
            match &st.last_verified {
                None => o.push(0),
                Some(t) => {
                    o.push(1);
                    put_str(o, t);
                }
            }
            match st.age_days {
                None => o.push(0),
                Some(a) => {
                    o.push(1);
                    o.extend_from_slice(&a.to_le_bytes());
                }
            }
            o.extend_from_slice(&st.max_age_days.to_le_bytes());
        }
    }
}

fn put_str(o: &mut Vec<u8>, s: &str) {
    o.extend_from_slice(&(s.len() as u64).to_le_bytes());
    o.extend_from_slice(s.as_bytes());
}

fn put_opt_f64(o: &mut Vec<u8>, x: Option<f64>) {
    match x {
        None => o.push(0),
        Some(x) => {
            o.push(1);
            o.extend_from_slice(&x.to_le_bytes());
        }
    }
}

fn verdict_byte(v: Verdict) -> u8 {
    match v {
        Verdict::Clear => 0,
        Verdict::Caution => 1,
        Verdict::Uncovered => 2,
        Verdict::Conflict => 3,
    }
}

fn verdict_of(s: &str) -> Option<Verdict> {
    [
        Verdict::Clear,
        Verdict::Caution,
        Verdict::Uncovered,
        Verdict::Conflict,
    ]
    .into_iter()
    .find(|v| v.as_str() == s)
}

/// Reads back, in order, the areas [`encode_area`] wrote into a [`Spill`].
pub struct Decoder {
    source: Box<dyn Read>,
}

impl Spill {
    /// A reader of the areas encoded into it.
    pub fn into_decoder(self) -> std::io::Result<Decoder> {
        Ok(Decoder {
            source: self.into_reader()?,
        })
    }
}

fn damaged(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("the report's temporary file is damaged: {what}"),
    )
}

impl Decoder {
    fn bytes<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.source.read_exact(&mut b)?;
        Ok(b)
    }
    fn u8(&mut self) -> std::io::Result<u8> {
        Ok(self.bytes::<1>()?[0])
    }
    fn u64(&mut self) -> std::io::Result<u64> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }
    fn f64(&mut self) -> std::io::Result<f64> {
        Ok(f64::from_le_bytes(self.bytes()?))
    }
    fn len(&mut self) -> std::io::Result<usize> {
        usize::try_from(self.u64()?).map_err(|_| damaged("a length"))
    }
    fn string(&mut self) -> std::io::Result<String> {
        let n = self.len()?;
        let mut b = Vec::new();
        (&mut self.source).take(n as u64).read_to_end(&mut b)?;
        if b.len() != n {
            return Err(damaged("a short text"));
        }
        String::from_utf8(b).map_err(|_| damaged("text that is not UTF-8"))
    }
    fn verdict(&mut self) -> std::io::Result<Verdict> {
        match self.u8()? {
            0 => Ok(Verdict::Clear),
            1 => Ok(Verdict::Caution),
            2 => Ok(Verdict::Uncovered),
            3 => Ok(Verdict::Conflict),
            _ => Err(damaged("a verdict")),
        }
    }
    fn opt_f64(&mut self) -> std::io::Result<Option<f64>> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.f64()?),
        })
    }

    /// The next area's results and what it withheld.
    pub fn area(&mut self) -> std::io::Result<(AreaResult, Withheld)> {
        let area_id = self.string()?;
        let verdict = self.verdict()?;
        let mut lists = [Vec::new(), Vec::new()];
        for list in &mut lists {
            let n = self.len()?;
            list.reserve(n.min(1 << 20));
            for _ in 0..n {
                list.push(self.hit()?);
            }
        }
        let [hits, not_valid] = lists;
        let coverage = match self.u8()? {
            0 => None,
            _ => {
                let n = self.len()?;
                let mut covered_by = Vec::with_capacity(n.min(1 << 10));
                for _ in 0..n {
                    covered_by.push(self.string()?);
                }
                Some(AreaCoverage {
                    covered_by,
                    reach_m: self.f64()?,
                })
            }
        };
        let withheld = Withheld {
            hits: self.len()?,
            verdict: match self.u8()? {
                0 => None,
                v => Some(
                    [
                        Verdict::Clear,
                        Verdict::Caution,
                        Verdict::Uncovered,
                        Verdict::Conflict,
                    ]
                    .get(usize::from(v) - 1)
                    .ok_or_else(|| damaged("a withheld verdict"))?
                    .as_str(),
                ),
            },
            not_valid: self.len()?,
        };
        Ok((
            AreaResult {
                area_id,
                verdict,
                hits,
                not_valid,
                coverage,
            },
            withheld,
        ))
    }

    fn hit(&mut self) -> std::io::Result<Hit> {
        let site = self.len()?;
        let (distance_m, required_m, margin_m) = (self.f64()?, self.f64()?, self.f64()?);
        let verdict = self.verdict()?;
        let bearing_deg = self.opt_f64()?;
        let nearest_on_area = Coord {
            x: self.f64()?,
            y: self.f64()?,
        };
        let nearest_on_site = Coord {
            x: self.f64()?,
            y: self.f64()?,
        };
        let (standoff_m, positional_accuracy_m) = (self.f64()?, self.f64()?);
        let flags = self.u8()?;
        let stale = match self.u8()? {
            0 => None,
            _ => {
                let last_verified = match self.u8()? {
                    0 => None,
                    _ => Some(self.string()?),
                };
                let age_days = match self.u8()? {
                    0 => None,
                    _ => Some(i64::from_le_bytes(self.bytes()?)),
                };
                Some(Staleness {
                    last_verified,
                    age_days,
                    max_age_days: u32::from_le_bytes(self.bytes()?),
                })
            }
        };
        Ok(Hit {
            site,
            distance_m,
            required_m,
            margin_m,
            verdict,
            bearing_deg,
            nearest_on_area,
            nearest_on_site,
            standoff_m,
            standoff_from_site: flags & 1 != 0,
            standoff_from_group: flags & 2 != 0,
            positional_accuracy_m,
            stale,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write as _;

    #[test]
    fn a_spill_gives_back_its_bytes_in_order_from_memory_or_from_its_file() {
        use std::io::Write as _;
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        for limit in [usize::MAX, 1000, 0] {
            let mut s = Spill::new(limit);
            for piece in data.chunks(777) {
                s.write_all(piece).unwrap();
            }
            s.flush().unwrap();
            assert_eq!(s.len(), data.len() as u64);
            assert_eq!(s.spilled(), limit < data.len());
            let mut back = Vec::new();
            s.into_reader().unwrap().read_to_end(&mut back).unwrap();
            assert!(back == data, "limit {limit}: bytes differ");
        }
    }

    /// The size the module's documentation states.
    #[test]
    fn a_hit_with_a_bearing_and_a_stale_marker_takes_98_bytes() {
        let area = |hits: usize| AreaResult {
            area_id: "a".into(),
            verdict: Verdict::Conflict,
            hits: (0..hits)
                .map(|site| Hit {
                    site,
                    distance_m: 1.0,
                    required_m: 2.0,
                    margin_m: -1.0,
                    verdict: Verdict::Conflict,
                    bearing_deg: Some(90.0),
                    nearest_on_area: Coord { x: 0.0, y: 0.0 },
                    nearest_on_site: Coord { x: 0.0, y: 0.0 },
                    standoff_m: 0.0,
                    standoff_from_site: false,
                    standoff_from_group: false,
                    positional_accuracy_m: 0.0,
                    stale: Some(Staleness {
                        last_verified: None,
                        age_days: None,
                        max_age_days: 180,
                    }),
                })
                .collect(),
            not_valid: Vec::new(),
            coverage: None,
        };
        let size = |hits: usize| {
            let mut o = Vec::new();
            encode_area(&area(hits), &Withheld::default(), &mut o);
            o.len()
        };
        assert_eq!(size(11) - size(10), 98);
    }

    #[test]
    fn areas_come_back_from_a_spill_exactly_as_they_went_in() {
        let hit = |site: usize, stale: Option<Staleness>| Hit {
            site,
            distance_m: 12.345_678_901_234,
            required_m: -0.0,
            margin_m: f64::MIN_POSITIVE,
            verdict: Verdict::Conflict,
            bearing_deg: (site.is_multiple_of(2)).then_some(359.999_999),
            nearest_on_area: Coord { x: -180.0, y: 90.0 },
            nearest_on_site: Coord {
                x: 179.999_999_9,
                y: -89.9,
            },
            standoff_m: 1e9,
            standoff_from_site: site.is_multiple_of(3),
            standoff_from_group: site.is_multiple_of(5),
            positional_accuracy_m: 0.1,
            stale,
        };
        let areas: Vec<(AreaResult, Withheld)> = (0..50)
            .map(|k| {
                (
                    AreaResult {
                        area_id: format!("área {k} \u{1f}"),
                        verdict: [
                            Verdict::Clear,
                            Verdict::Caution,
                            Verdict::Uncovered,
                            Verdict::Conflict,
                        ][k % 4],
                        hits: (0..k)
                            .map(|i| {
                                hit(
                                    i * 7,
                                    (i.is_multiple_of(2)).then(|| Staleness {
                                        last_verified: (i.is_multiple_of(4))
                                            .then(|| "2026-01-02".to_string()),
                                        age_days: (i.is_multiple_of(3)).then_some(-5),
                                        max_age_days: 180,
                                    }),
                                )
                            })
                            .collect(),
                        not_valid: (0..k % 3).map(|i| hit(i, None)).collect(),
                        coverage: (k.is_multiple_of(2)).then(|| AreaCoverage {
                            covered_by: (0..k % 4).map(|i| format!("src{i}")).collect(),
                            reach_m: k as f64 * 0.5,
                        }),
                    },
                    Withheld {
                        hits: k,
                        verdict: (k.is_multiple_of(3)).then_some("caution"),
                        not_valid: k / 2,
                    },
                )
            })
            .collect();
        for limit in [usize::MAX, 100] {
            let mut s = Spill::new(limit);
            let mut buf = Vec::new();
            for (r, w) in &areas {
                buf.clear();
                encode_area(r, w, &mut buf);
                s.write_all(&buf).unwrap();
            }
            let mut d = s.into_decoder().unwrap();
            for (r, w) in &areas {
                let (r2, w2) = d.area().unwrap();
                assert_eq!(&r2, r);
                assert_eq!(&w2, w);
                // Bit for bit: the report prints what went in.
                assert_eq!(
                    r2.hits.first().map(|h| h.required_m.to_bits()),
                    r.hits.first().map(|h| h.required_m.to_bits())
                );
            }
            assert!(d.area().is_err(), "nothing after the last area");
        }
    }
}
