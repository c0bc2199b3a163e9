//! The site index as a persisted byte image, read lazily and verified chunk by chunk.
//!
//! A registry of a million sites cannot be decoded and put into an R-tree
//! in the few hundred milliseconds a one-point check should take. The
//! packed index is written once, when an import commits, and read in place:
//! a check fetches only the chunks its search touches, and every chunk is
//! checked against its SHA-256 before a single byte of it is used. The
//! chunk hashes hash to a root that the registry records beside the
//! revision and content hash the image was built from, so a stale, partial
//! or damaged image is refused, never used.
//!
//! # Layout
//! Five sections, each a sequence of [`CHUNK`]-byte chunks (the last one
//! shorter), little-endian throughout:
//! - 0, header: magic, counts, tree levels, section lengths, the bounds of
//!   [`SetLimits`], and the revision and content hash the image was built from;
//! - 1, site table: 64 bytes per site — heap offset and length, kind,
//!   category, protection, flags, standoff, accuracy, validity, and for a
//!   point its lon/lat (for any other geometry its shape number);
//! - 2, heap: per site its source, id, name, last-verified date,
//!   classification and releasability (comma-joined; each empty when not
//!   recorded), and for non-point sites the geometry as WKB, each as a u32
//!   length and bytes;
//! - 3, leaf items: the site number of each leaf of the tree, u32;
//! - 4, tree boxes: a packed R-tree (16 children per node, leaves sorted
//!   along a Morton curve of their Earth-centred box centres), level by
//!   level from the leaves up; each box is six f32 rounded outward, so a
//!   box only ever grows — candidates may be more, never fewer (the bound
//!   argued in [`crate::SiteIndex`] carries over unchanged).
//!
//! The root hash is SHA-256 over, for every chunk in (section, number)
//! order, the section byte, the chunk number as u64 and the chunk's hash.

use std::borrow::Cow;
use std::sync::OnceLock;

use geo_types::{Geometry, Point};
use sha2::{Digest, Sha256};

use crate::geodesy::{ecef, Aabb};
use crate::shape::{checked_vertex, Shape};
use crate::site::{Category, Protection, Site};
use crate::sites::{GeomRef, SetError, SetLimits, SiteLabel, SiteParams, SiteSet};
use crate::wkb;

/// Bytes per chunk (the last chunk of a section may be shorter).
pub const CHUNK: usize = 1 << 16;
const MAGIC: &[u8; 8] = b"NSPACK03";
const SECTIONS: usize = 5;
const ENTRY: usize = 64;
const BOX: usize = 24;
const NODE: usize = 16;
const MAX_LEVELS: usize = 16;

const HEADER: usize = 0;
const TABLE: usize = 1;
const HEAP: usize = 2;
const ITEMS: usize = 3;
const BOXES: usize = 4;

/// Receives the chunks of a packed index as they are written.
pub trait ChunkSink {
    /// Store chunk `no` of `section` with its SHA-256.
    fn put(&mut self, section: u8, no: u64, data: &[u8], hash: &[u8; 32])
        -> Result<(), ChunkError>;
}

/// Why a [`ChunkSource`] could not supply a chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The chunk is not there: the image is damaged.
    #[error("the chunk is missing")]
    Missing,
    /// The storage failed to read or write it (busy, I/O); the image may be sound.
    #[error("{0}")]
    Storage(String),
}

/// Supplies the chunks of a packed index when a check first needs them.
pub trait ChunkSource: Send + Sync {
    /// The bytes of chunk `no` of `section`.
    fn chunk(&self, section: u8, no: u64) -> Result<Vec<u8>, ChunkError>;
}

/// The SHA-256 of a chunk.
pub fn chunk_hash(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The root hash over every chunk's hash, given in (section, number) order.
pub fn root_hash<'a>(chunks: impl IntoIterator<Item = (u8, u64, &'a [u8; 32])>) -> [u8; 32] {
    let mut h = Sha256::new();
    for (section, no, hash) in chunks {
        h.update([section]);
        h.update(no.to_le_bytes());
        h.update(hash);
    }
    h.finalize().into()
}

/// Why a packed index cannot be written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PackError {
    /// A site's geometry cannot be indexed.
    #[error("site {source_name}/{id}: {reason}")]
    Site {
        /// The site's source.
        source_name: String,
        /// The site's id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The sink refused a chunk.
    #[error("writing the packed index: {0}")]
    Sink(String),
    /// More sites than the format holds.
    #[error("the packed index holds at most {} sites", u32::MAX)]
    TooMany,
}

struct SectionWriter {
    section: u8,
    buf: Vec<u8>,
    len: u64,
    hashes: Vec<[u8; 32]>,
}

impl SectionWriter {
    fn new(section: usize) -> Self {
        SectionWriter {
            section: section as u8,
            buf: Vec::with_capacity(CHUNK),
            len: 0,
            hashes: Vec::new(),
        }
    }

    fn write(&mut self, mut bytes: &[u8], sink: &mut dyn ChunkSink) -> Result<(), PackError> {
        self.len += bytes.len() as u64;
        while !bytes.is_empty() {
            let room = CHUNK - self.buf.len();
            let take = room.min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() == CHUNK {
                self.flush(sink)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, sink: &mut dyn ChunkSink) -> Result<(), PackError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let h = chunk_hash(&self.buf);
        sink.put(self.section, self.hashes.len() as u64, &self.buf, &h)
            .map_err(|e| PackError::Sink(e.to_string()))?;
        self.hashes.push(h);
        self.buf.clear();
        Ok(())
    }
}

fn down(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) > x {
        f.next_down()
    } else {
        f
    }
}

fn up(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) < x {
        f.next_up()
    } else {
        f
    }
}

/// Spread the low 21 bits of `v` three apart.
fn spread(v: u64) -> u64 {
    let mut x = v & 0x1f_ffff;
    x = (x | (x << 32)) & 0x1f_0000_0000_ffff;
    x = (x | (x << 16)) & 0x1f_0000_ff00_00ff;
    x = (x | (x << 8)) & 0x100f_00f0_0f00_f00f;
    x = (x | (x << 4)) & 0x10c3_0c30_c30c_30c3;
    x = (x | (x << 2)) & 0x1249_2492_4924_9249;
    x
}

fn morton(b: &[f32; 6]) -> u64 {
    let q = |k: usize| {
        let c = (f64::from(b[k]) + f64::from(b[k + 3])) / 2.0;
        (((c + 6.5e6) / 13e6).clamp(0.0, 1.0) * f64::from((1u32 << 21) - 1)) as u64
    };
    spread(q(0)) | (spread(q(1)) << 1) | (spread(q(2)) << 2)
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s);
}

/// Writes a packed index from sites given one at a time, in bounded memory
/// (the heap and table stream to the sink; 36 bytes per site are kept for the tree).
pub struct PackedBuilder {
    table: SectionWriter,
    heap: SectionWriter,
    leaves: Vec<(u64, [f32; 6], u32)>,
    shapes: u64,
    limits: SetLimits,
    record: Vec<u8>,
}

impl std::fmt::Debug for PackedBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedBuilder")
            .field("sites", &self.leaves.len())
            .finish()
    }
}

impl Default for PackedBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PackedBuilder {
    /// An empty builder.
    pub fn new() -> PackedBuilder {
        PackedBuilder {
            table: SectionWriter::new(TABLE),
            heap: SectionWriter::new(HEAP),
            leaves: Vec::new(),
            shapes: 0,
            limits: SetLimits::default(),
            record: Vec::new(),
        }
    }

    /// Add the next site (its geometry given as WKB, exactly as stored).
    pub fn add(
        &mut self,
        site: &Site,
        wkb_bytes: &[u8],
        sink: &mut dyn ChunkSink,
    ) -> Result<(), PackError> {
        let number = u32::try_from(self.leaves.len()).map_err(|_| PackError::TooMany)?;
        let bad = |reason: String| PackError::Site {
            source_name: site.source.clone(),
            id: site.id.clone(),
            reason,
        };
        let (place, bbox) = match &site.geometry {
            Geometry::Point(p) => {
                let v = checked_vertex(&p.0, 0).map_err(|e| bad(e.to_string()))?;
                let e = ecef(v.lon, v.lat);
                (
                    Place::Point {
                        lon: v.lon,
                        lat: v.lat,
                    },
                    Aabb { lo: e, hi: e },
                )
            }
            g => {
                let s = Shape::new(g).map_err(|e| bad(e.to_string()))?;
                let no = self.shapes;
                self.shapes += 1;
                (Place::Shape(no), s.aabb())
            }
        };
        self.record.clear();
        put_str(&mut self.record, site.source.as_bytes());
        put_str(&mut self.record, site.id.as_bytes());
        put_str(&mut self.record, site.name.as_bytes());
        put_str(
            &mut self.record,
            site.last_verified.as_deref().unwrap_or("").as_bytes(),
        );
        put_str(
            &mut self.record,
            site.marking
                .classification
                .as_deref()
                .unwrap_or("")
                .as_bytes(),
        );
        put_str(
            &mut self.record,
            site.marking.releasable_to.join(",").as_bytes(),
        );
        let geometry: &[u8] = match place {
            Place::Point { .. } => &[],
            Place::Shape(_) => wkb_bytes,
        };
        put_str(&mut self.record, geometry);
        let e = TableEntry {
            heap_off: self.heap.len,
            heap_len: u32::try_from(self.record.len())
                .map_err(|_| bad("record longer than 4 GiB".into()))?,
            place,
            category: site.category.code(),
            protection: site.protection.code(),
            standoff_m: site.standoff_m,
            positional_accuracy_m: site.positional_accuracy_m,
            valid_from: site.valid_from,
            valid_to: site.valid_to,
        }
        .encode();
        self.heap.write(&self.record, sink)?;
        self.table.write(&e, sink)?;
        let fbox = [
            down(bbox.lo[0]),
            down(bbox.lo[1]),
            down(bbox.lo[2]),
            up(bbox.hi[0]),
            up(bbox.hi[1]),
            up(bbox.hi[2]),
        ];
        self.leaves.push((morton(&fbox), fbox, number));
        self.limits.add(&SiteParams::of(site));
        Ok(())
    }

    /// Write the tree and the header; returns the root hash the registry must record.
    pub fn finish(
        mut self,
        revision: i64,
        content_hash: &[u8; 32],
        sink: &mut dyn ChunkSink,
    ) -> Result<[u8; 32], PackError> {
        self.table.flush(sink)?;
        self.heap.flush(sink)?;
        let n = self.leaves.len();
        self.leaves.sort_unstable_by_key(|l| (l.0, l.2));
        let mut items = SectionWriter::new(ITEMS);
        let mut boxes = SectionWriter::new(BOXES);
        let mut level: Vec<[f32; 6]> = Vec::with_capacity(n);
        for (_, b, i) in &self.leaves {
            items.write(&i.to_le_bytes(), sink)?;
            level.push(*b);
        }
        items.flush(sink)?;
        drop(std::mem::take(&mut self.leaves));
        let mut level_lens = Vec::new();
        loop {
            for b in &level {
                for v in b {
                    boxes.write(&v.to_le_bytes(), sink)?;
                }
            }
            level_lens.push(level.len() as u64);
            if level.len() <= 1 {
                break;
            }
            level = level
                .chunks(NODE)
                .map(|c| {
                    let mut u = c[0];
                    for b in &c[1..] {
                        for k in 0..3 {
                            u[k] = u[k].min(b[k]);
                            u[k + 3] = u[k + 3].max(b[k + 3]);
                        }
                    }
                    u
                })
                .collect();
        }
        boxes.flush(sink)?;
        let mut h = Vec::new();
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&(n as u64).to_le_bytes());
        h.extend_from_slice(&self.shapes.to_le_bytes());
        h.extend_from_slice(&(level_lens.len() as u64).to_le_bytes());
        for l in &level_lens {
            h.extend_from_slice(&l.to_le_bytes());
        }
        let sections = [&self.table, &self.heap, &items, &boxes];
        for s in sections {
            h.extend_from_slice(&s.len.to_le_bytes());
        }
        h.extend_from_slice(&self.limits.max_explicit_extra_m.to_le_bytes());
        h.extend_from_slice(&self.limits.max_default_accuracy_m.to_le_bytes());
        h.extend_from_slice(&(self.limits.default_pairs.len() as u64).to_le_bytes());
        for (c, p) in &self.limits.default_pairs {
            h.extend_from_slice(&[c.code(), p.code()]);
        }
        h.extend_from_slice(&revision.to_le_bytes());
        h.extend_from_slice(content_hash);
        let mut header = SectionWriter::new(HEADER);
        header.write(&h, sink)?;
        header.flush(sink)?;
        let all = [&header, &self.table, &self.heap, &items, &boxes];
        Ok(root_hash(all.iter().flat_map(|s| {
            s.hashes
                .iter()
                .enumerate()
                .map(|(no, h)| (s.section, no as u64, h))
        })))
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], SetError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| bad("the header is truncated"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u64(&mut self) -> Result<u64, SetError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or([0; 8]),
        ))
    }

    fn f64(&mut self) -> Result<f64, SetError> {
        Ok(f64::from_bits(self.u64()?))
    }
}

fn bad(what: impl Into<String>) -> SetError {
    SetError::Damaged(what.into())
}

/// A packed index opened for reading: chunks are fetched and verified on first use.
pub struct PackedIndex {
    src: Box<dyn ChunkSource>,
    hashes: [Vec<[u8; 32]>; SECTIONS],
    chunks: [Vec<OnceLock<Box<[u8]>>>; SECTIONS],
    lens: [u64; SECTIONS],
    sites: usize,
    level_start: Vec<u64>,
    level_len: Vec<u64>,
    shapes: Vec<OnceLock<Box<Shape>>>,
    /// Bytes the cached shapes hold, and the most they may.
    shape_bytes: std::sync::atomic::AtomicUsize,
    shape_budget: usize,
    limits: SetLimits,
    revision: i64,
    content_hash: [u8; 32],
}

impl std::fmt::Debug for PackedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedIndex")
            .field("sites", &self.sites)
            .field("revision", &self.revision)
            .finish()
    }
}

impl PackedIndex {
    /// Open a packed index: `chunks` lists every chunk's (section, number,
    /// hash) as recorded; they must hash to `root`, and the header chunk is
    /// read and checked at once. Everything else is read on first use.
    pub fn open(
        src: Box<dyn ChunkSource>,
        chunks: &[(u8, u64, [u8; 32])],
        root: &[u8; 32],
    ) -> Result<PackedIndex, SetError> {
        if root_hash(chunks.iter().map(|(s, n, h)| (*s, *n, h))) != *root {
            return Err(bad("its chunk list does not hash to the recorded root"));
        }
        let mut hashes: [Vec<[u8; 32]>; SECTIONS] = Default::default();
        for (s, n, h) in chunks {
            let list = hashes
                .get_mut(*s as usize)
                .ok_or_else(|| bad(format!("unknown section {s}")))?;
            if *n != list.len() as u64 {
                return Err(bad(format!("section {s} chunk {n} is out of order")));
            }
            list.push(*h);
        }
        let chunks = std::array::from_fn(|s| {
            std::iter::repeat_with(OnceLock::new)
                .take(hashes[s].len())
                .collect()
        });
        let mut p = PackedIndex {
            src,
            hashes,
            chunks,
            lens: [0; SECTIONS],
            sites: 0,
            level_start: Vec::new(),
            level_len: Vec::new(),
            shapes: Vec::new(),
            shape_bytes: std::sync::atomic::AtomicUsize::new(0),
            shape_budget: SHAPE_CACHE_BYTES,
            limits: SetLimits::default(),
            revision: 0,
            content_hash: [0; 32],
        };
        let header = p.chunk(HEADER, 0)?.to_vec();
        let mut c = Cursor { b: &header, at: 0 };
        if c.take(8)? != MAGIC {
            return Err(bad("not a packed index of this version"));
        }
        let sites = c.u64()?;
        let shapes = c.u64()?;
        let levels = c.u64()?;
        if levels == 0 || levels as usize > MAX_LEVELS {
            return Err(bad(format!("{levels} tree levels")));
        }
        let mut start: u64 = 0;
        for _ in 0..levels {
            let l = c.u64()?;
            p.level_start.push(start);
            p.level_len.push(l);
            start = start
                .checked_add(l)
                .ok_or_else(|| bad("tree level sizes overflow"))?;
        }
        p.lens[HEADER] = header.len() as u64;
        for s in TABLE..SECTIONS {
            p.lens[s] = c.u64()?;
        }
        p.limits.max_explicit_extra_m = c.f64()?;
        p.limits.max_default_accuracy_m = c.f64()?;
        let pairs = c.u64()?;
        for _ in 0..pairs {
            let b = c.take(2)?;
            let cat =
                Category::from_code(b[0]).ok_or_else(|| bad("category out of range in header"))?;
            let prot = Protection::from_code(b[1])
                .ok_or_else(|| bad("protection out of range in header"))?;
            p.limits.default_pairs.push((cat, prot));
        }
        p.revision = c.u64()? as i64;
        p.content_hash = c
            .take(32)?
            .try_into()
            .map_err(|_| bad("header is truncated"))?;
        let expect_chunks = |len: u64| len.div_ceil(CHUNK as u64) as usize;
        let n = usize::try_from(sites).map_err(|_| bad("site count"))?;
        let times = |a: u64, b: usize| a.checked_mul(b as u64);
        let consistent = shapes <= sites
            && times(sites, ENTRY) == Some(p.lens[TABLE])
            && times(sites, 4) == Some(p.lens[ITEMS])
            && times(start, BOX) == Some(p.lens[BOXES])
            && p.level_len.first() == Some(&sites)
            && p.level_len.last().is_some_and(|l| *l <= 1)
            && p.level_len
                .windows(2)
                .all(|w| w[0] > 1 && w[1] == w[0].div_ceil(NODE as u64))
            && (TABLE..SECTIONS).all(|s| expect_chunks(p.lens[s]) == p.hashes[s].len());
        if !consistent {
            return Err(bad("its section lengths do not agree with its counts"));
        }
        p.sites = n;
        p.shapes = std::iter::repeat_with(OnceLock::new)
            .take(usize::try_from(shapes).map_err(|_| bad("shape count"))?)
            .collect();
        Ok(p)
    }

    /// Keep at most `bytes` of prepared shapes (polygons and lines) between
    /// uses (default [`SHAPE_CACHE_BYTES`]); shapes past it are prepared
    /// again each time they are needed. Answers do not depend on it.
    pub fn set_shape_cache(&mut self, bytes: usize) {
        self.shape_budget = bytes;
    }

    /// The bytes the cached prepared shapes hold now.
    pub fn shape_cache_bytes(&self) -> usize {
        self.shape_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Fetch and verify every chunk now (on all cores), so that nothing is
    /// read later; returns the number of bytes held.
    pub fn load_all(&self) -> Result<u64, SetError> {
        use crate::par::*;
        (0..SECTIONS)
            .flat_map(|s| (0..self.chunks[s].len()).map(move |n| (s, n)))
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|(s, n)| self.chunk(s, n).map(|c| c.len() as u64))
            .sum()
    }

    /// The registry revision the image was built from.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The content hash (raw SHA-256) the image was built from.
    pub fn content_hash(&self) -> &[u8; 32] {
        &self.content_hash
    }

    fn chunk(&self, section: usize, no: usize) -> Result<&[u8], SetError> {
        let cell = self.chunks[section]
            .get(no)
            .ok_or_else(|| bad(format!("section {section} has no chunk {no}")))?;
        if let Some(c) = cell.get() {
            return Ok(c);
        }
        let data = self
            .src
            .chunk(section as u8, no as u64)
            .map_err(|e| match e {
                ChunkError::Missing => bad(format!("section {section} chunk {no} is missing")),
                ChunkError::Storage(e) => {
                    SetError::Unreadable(format!("section {section} chunk {no}: {e}"))
                }
            })?;
        if chunk_hash(&data) != self.hashes[section][no] {
            return Err(bad(format!(
                "section {section} chunk {no} does not match its recorded hash"
            )));
        }
        let _ = cell.set(data.into_boxed_slice());
        cell.get().map(|c| &c[..]).ok_or_else(|| bad("chunk cache"))
    }

    /// Bytes `off..off+len` of a section, borrowed when they lie in one chunk.
    fn bytes(&self, section: usize, off: u64, len: usize) -> Result<Cow<'_, [u8]>, SetError> {
        let end = off
            .checked_add(len as u64)
            .filter(|e| *e <= self.lens[section])
            .ok_or_else(|| bad(format!("section {section} read past its end")))?;
        let first = (off / CHUNK as u64) as usize;
        let at = (off % CHUNK as u64) as usize;
        let c = self.chunk(section, first)?;
        if at + len <= c.len() {
            return Ok(Cow::Borrowed(&c[at..at + len]));
        }
        let mut out = Vec::with_capacity(len);
        let mut pos = off;
        while pos < end {
            let no = (pos / CHUNK as u64) as usize;
            let at = (pos % CHUNK as u64) as usize;
            let c = self.chunk(section, no)?;
            let take = (c.len() - at).min((end - pos) as usize);
            if take == 0 {
                return Err(bad(format!("section {section} chunk {no} is short")));
            }
            out.extend_from_slice(&c[at..at + take]);
            pos += take as u64;
        }
        Ok(Cow::Owned(out))
    }

    fn entry(&self, i: usize) -> Result<TableEntry, SetError> {
        if i >= self.sites {
            return Err(bad(format!("site {i} out of range")));
        }
        let b = self.bytes(TABLE, (i * ENTRY) as u64, ENTRY)?;
        let e: &[u8; ENTRY] = b
            .as_ref()
            .try_into()
            .map_err(|_| bad(format!("site {i}: table entry is short")))?;
        TableEntry::decode(e)
    }

    /// The bytes of a section from `off` to the end of its chunk, when that
    /// chunk is already in memory (no fetch, no error: for cache warming).
    fn loaded(&self, section: usize, off: u64) -> Option<&[u8]> {
        let chunk = usize::try_from(off / CHUNK as u64).ok()?;
        let at = (off % CHUNK as u64) as usize;
        self.chunks[section].get(chunk)?.get()?.get(at..)
    }

    /// Site `i`'s table entry (and the rest of its chunk) when that chunk is
    /// already in memory.
    fn loaded_entry(&self, i: usize) -> Option<&[u8]> {
        self.loaded(TABLE, i.checked_mul(ENTRY)? as u64)
    }

    /// Read the first byte of each of `sites`' table entries (or, with
    /// `records`, of the heap records the entries point to) whose chunks are
    /// in memory: independent reads, so that their cache misses overlap
    /// instead of being waited for one at a time when the sites are visited.
    fn warm(&self, sites: &[usize], records: bool) {
        let first = |i: usize| -> Option<u8> {
            let e = self.loaded_entry(i)?;
            let b = if records {
                let off = u64::from_le_bytes(e.get(0..8)?.try_into().ok()?);
                self.loaded(HEAP, off)?
            } else {
                e
            };
            b.first().copied()
        };
        std::hint::black_box(sites.iter().fold(0u8, |t, &i| t ^ first(i).unwrap_or(0)));
    }

    fn record(&self, e: &TableEntry) -> Result<Cow<'_, [u8]>, SetError> {
        self.bytes(HEAP, e.heap_off, e.heap_len as usize)
    }

    fn read_box(&self, k: u64, n: usize, out: &mut [[f64; 6]; NODE]) -> Result<(), SetError> {
        let b = self.bytes(BOXES, k * BOX as u64, n * BOX)?;
        for (j, o) in out.iter_mut().take(n).enumerate() {
            for (v, x) in o.iter_mut().enumerate() {
                *x = f64::from(f32::from_bits(u32_at(&b, j * BOX + v * 4)?));
            }
        }
        Ok(())
    }
}

/// Where a site is: a point's lon/lat in its table entry, or the number
/// of its shape (the geometry is in its heap record).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Point { lon: f64, lat: f64 },
    Shape(u64),
}

/// One site's table entry. Its layout is written down here only, in
/// [`TableEntry::encode`] and [`TableEntry::decode`] side by side:
///
/// | bytes | field |
/// |---|---|
/// | 0..8 | heap offset, u64 |
/// | 8..12 | heap record length, u32 |
/// | 12 | kind: 0 point, 1 shape |
/// | 13 | category code |
/// | 14 | protection code |
/// | 15 | flags: 1 standoff, 2 valid_from, 4 valid_to present |
/// | 16..24 | standoff, f64 (0 when absent) |
/// | 24..32 | positional accuracy, f64 |
/// | 32..40 | valid_from, i64 (0 when absent) |
/// | 40..48 | valid_to, i64 (0 when absent) |
/// | 48..64 | point: lon, lat (f64); shape: shape number (u64), 0 |
#[derive(Debug, Clone, Copy, PartialEq)]
struct TableEntry {
    heap_off: u64,
    heap_len: u32,
    place: Place,
    category: u8,
    protection: u8,
    standoff_m: Option<f64>,
    positional_accuracy_m: f64,
    valid_from: Option<i64>,
    valid_to: Option<i64>,
}

impl TableEntry {
    fn encode(&self) -> [u8; ENTRY] {
        let mut e = [0u8; ENTRY];
        e[0..8].copy_from_slice(&self.heap_off.to_le_bytes());
        e[8..12].copy_from_slice(&self.heap_len.to_le_bytes());
        let (kind, a, b) = match self.place {
            Place::Point { lon, lat } => (0u8, lon.to_le_bytes(), lat.to_le_bytes()),
            Place::Shape(no) => (1u8, no.to_le_bytes(), [0u8; 8]),
        };
        e[12] = kind;
        e[13] = self.category;
        e[14] = self.protection;
        e[15] = u8::from(self.standoff_m.is_some())
            | (u8::from(self.valid_from.is_some()) << 1)
            | (u8::from(self.valid_to.is_some()) << 2);
        e[16..24].copy_from_slice(&self.standoff_m.unwrap_or(0.0).to_le_bytes());
        e[24..32].copy_from_slice(&self.positional_accuracy_m.to_le_bytes());
        e[32..40].copy_from_slice(&self.valid_from.unwrap_or(0).to_le_bytes());
        e[40..48].copy_from_slice(&self.valid_to.unwrap_or(0).to_le_bytes());
        e[48..56].copy_from_slice(&a);
        e[56..64].copy_from_slice(&b);
        e
    }

    fn decode(e: &[u8; ENTRY]) -> Result<TableEntry, SetError> {
        let w8 = |at: usize| -> [u8; 8] {
            let mut w = [0u8; 8];
            w.copy_from_slice(&e[at..at + 8]);
            w
        };
        let mut w4 = [0u8; 4];
        w4.copy_from_slice(&e[8..12]);
        let flags = e[15];
        if flags & !7 != 0 {
            return Err(bad(format!("table entry flags {flags:#x} unknown")));
        }
        let place = match e[12] {
            0 => Place::Point {
                lon: f64::from_le_bytes(w8(48)),
                lat: f64::from_le_bytes(w8(56)),
            },
            1 => Place::Shape(u64::from_le_bytes(w8(48))),
            k => return Err(bad(format!("table entry kind {k} unknown"))),
        };
        Ok(TableEntry {
            heap_off: u64::from_le_bytes(w8(0)),
            heap_len: u32::from_le_bytes(w4),
            place,
            category: e[13],
            protection: e[14],
            standoff_m: (flags & 1 != 0).then(|| f64::from_le_bytes(w8(16))),
            positional_accuracy_m: f64::from_le_bytes(w8(24)),
            valid_from: (flags & 2 != 0).then(|| i64::from_le_bytes(w8(32))),
            valid_to: (flags & 4 != 0).then(|| i64::from_le_bytes(w8(40))),
        })
    }

    fn params(&self, i: usize) -> Result<SiteParams, SetError> {
        Ok(SiteParams {
            category: Category::from_code(self.category)
                .ok_or_else(|| bad(format!("site {i}: category out of range")))?,
            protection: Protection::from_code(self.protection)
                .ok_or_else(|| bad(format!("site {i}: protection out of range")))?,
            standoff_m: self.standoff_m,
            positional_accuracy_m: self.positional_accuracy_m,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
        })
    }
}

/// The little-endian u32 at `at` of `b`; past the end is damage, never a 0.
fn u32_at(b: &[u8], at: usize) -> Result<u32, SetError> {
    b.get(at..at.saturating_add(4))
        .and_then(|w| w.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| bad(format!("read past the end of a {}-byte block", b.len())))
}

impl PackedIndex {
    fn geom_of(&self, i: usize, e: &TableEntry) -> Result<GeomRef<'_>, SetError> {
        let no = match e.place {
            Place::Point { lon, lat } => return Ok(GeomRef::Point { lon, lat }),
            Place::Shape(no) => usize::try_from(no)
                .map_err(|_| bad(format!("site {i}: shape {no} out of range")))?,
        };
        let cell = self
            .shapes
            .get(no)
            .ok_or_else(|| bad(format!("site {i}: shape {no} out of range")))?;
        if let Some(s) = cell.get() {
            return Ok(GeomRef::Shape(s));
        }
        let g = self.geometry(i)?;
        let s = Shape::new(&g).map_err(|e| bad(format!("site {i}: {e}")))?;
        // Kept while the cache is within its budget; past it, built for this use only.
        let size = s.heap_bytes();
        let held = self
            .shape_bytes
            .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        if held + size > self.shape_budget {
            self.shape_bytes
                .fetch_sub(size, std::sync::atomic::Ordering::Relaxed);
            return Ok(GeomRef::Built(std::sync::Arc::new(s)));
        }
        let _ = cell.set(Box::new(s));
        cell.get()
            .map(|s| GeomRef::Shape(s))
            .ok_or_else(|| bad("shape cache"))
    }
}

fn meets(b: &[f64; 6], near: &Aabb, reach: f64) -> bool {
    Aabb {
        lo: [b[0], b[1], b[2]],
        hi: [b[3], b[4], b[5]],
    }
    .within(near, reach)
}

/// The most memory prepared shapes are kept in between uses (16 MiB): a
/// batch check's memory is the index's chunks plus a bound, whatever the
/// number of shapes it meets.
pub const SHAPE_CACHE_BYTES: usize = 16 << 20;

/// How many length-prefixed fields a heap record holds.
const FIELDS: usize = 7;

/// Split a heap record into its length-prefixed fields.
fn fields(r: &[u8]) -> Result<[&[u8]; FIELDS], SetError> {
    let mut at = 0;
    let mut out: [&[u8]; FIELDS] = [&[]; FIELDS];
    for f in &mut out {
        let len = r
            .get(at..at + 4)
            .ok_or_else(|| bad("heap record is truncated"))
            .and_then(|b| u32_at(b, 0))? as usize;
        *f = r
            .get(at + 4..at + 4 + len)
            .ok_or_else(|| bad("heap record is truncated"))?;
        at += 4 + len;
    }
    Ok(out)
}

fn utf8(x: &[u8]) -> Result<&str, SetError> {
    std::str::from_utf8(x).map_err(|_| bad("heap text is not UTF-8"))
}

/// The text fields of a heap record (all but the geometry), borrowed when
/// the record lies in one chunk.
fn texts(b: Cow<'_, [u8]>) -> Result<[Cow<'_, str>; FIELDS - 1], SetError> {
    fn all(f: [&[u8]; FIELDS]) -> Result<[&str; FIELDS - 1], SetError> {
        let mut out = [""; FIELDS - 1];
        for (o, x) in out.iter_mut().zip(f) {
            *o = utf8(x)?;
        }
        Ok(out)
    }
    match b {
        Cow::Borrowed(r) => Ok(all(fields(r)?)?.map(Cow::Borrowed)),
        Cow::Owned(r) => Ok(all(fields(&r)?)?.map(|t| Cow::Owned(t.to_string()))),
    }
}

impl SiteSet for PackedIndex {
    fn len(&self) -> usize {
        self.sites
    }

    fn limits(&self) -> &SetLimits {
        &self.limits
    }

    fn for_each_candidate(
        &self,
        near: &Aabb,
        reach: f64,
        f: &mut dyn FnMut(usize) -> Result<(), SetError>,
    ) -> Result<(), SetError> {
        if self.sites == 0 {
            return Ok(());
        }
        let top = self.level_len.len() - 1;
        let mut buf = [[0f64; 6]; NODE];
        self.read_box(self.level_start[top], 1, &mut buf)?;
        if !meets(&buf[0], near, reach) {
            return Ok(());
        }
        let mut stack: Vec<(usize, u64)> = vec![(top, 0)];
        while let Some((level, node)) = stack.pop() {
            // Items are visited from their parent node below; only the root
            // of a one-site tree is an item itself.
            if level == 0 {
                let b = self.bytes(ITEMS, node * 4, 4)?;
                let i = u32_at(&b, 0)? as usize;
                f(i)?;
                continue;
            }
            let child = level - 1;
            let first = node * NODE as u64;
            let n = (self.level_len[child].saturating_sub(first) as usize).min(NODE);
            self.read_box(self.level_start[child] + first, n, &mut buf)?;
            if child == 0 {
                // The node's items are sites: their table entries are warmed
                // together, then visited (last first, as the stack would).
                let items = self.bytes(ITEMS, first * 4, n * 4)?;
                let mut picked = [0usize; NODE];
                let mut k = 0;
                for (j, b) in buf.iter().take(n).enumerate() {
                    if meets(b, near, reach) {
                        picked[k] = u32_at(&items, j * 4)? as usize;
                        k += 1;
                    }
                }
                self.warm(&picked[..k], false);
                for &i in picked[..k].iter().rev() {
                    f(i)?;
                }
                continue;
            }
            for (j, b) in buf.iter().take(n).enumerate() {
                if meets(b, near, reach) {
                    stack.push((child, first + j as u64));
                }
            }
        }
        Ok(())
    }

    fn params(&self, i: usize) -> Result<SiteParams, SetError> {
        self.entry(i)?.params(i)
    }

    fn geom(&self, i: usize) -> Result<GeomRef<'_>, SetError> {
        self.geom_of(i, &self.entry(i)?)
    }

    fn candidate(&self, i: usize) -> Result<(SiteParams, GeomRef<'_>), SetError> {
        let e = self.entry(i)?;
        Ok((e.params(i)?, self.geom_of(i, &e)?))
    }

    fn label(&self, i: usize) -> Result<SiteLabel<'_>, SetError> {
        let e = self.entry(i)?;
        let p = e.params(i)?;
        let [source, id, name, verified, classification, releasable_to] = texts(self.record(&e)?)?;
        Ok(SiteLabel {
            source,
            id,
            name,
            last_verified: (!verified.is_empty()).then_some(verified),
            classification: (!classification.is_empty()).then_some(classification),
            releasable_to,
            category: p.category,
            protection: p.protection,
        })
    }

    fn warm_labels(&self, sites: &mut dyn Iterator<Item = usize>) {
        // In runs of 32: the entries are warmed together, then the heap
        // records they point to (each record's address is in its entry).
        let mut run = [0usize; 32];
        loop {
            let mut k = 0;
            for i in (&mut *sites).take(run.len()) {
                run[k] = i;
                k += 1;
            }
            if k == 0 {
                return;
            }
            self.warm(&run[..k], false);
            self.warm(&run[..k], true);
        }
    }

    fn geometry(&self, i: usize) -> Result<Geometry<f64>, SetError> {
        let e = self.entry(i)?;
        if let Place::Point { lon, lat } = e.place {
            return Ok(Geometry::Point(Point::new(lon, lat)));
        }
        let r = self.record(&e)?;
        let w = fields(&r)?[FIELDS - 1];
        wkb::decode(w).map_err(|err| bad(format!("site {i}: {err}")))
    }
}

/// Chunks held in memory: for tests, benchmarks and images built before they are stored.
#[derive(Debug, Default, Clone)]
pub struct MemoryChunks {
    /// Chunk bytes and hash by (section, number).
    pub chunks: std::collections::BTreeMap<(u8, u64), (Vec<u8>, [u8; 32])>,
}

impl MemoryChunks {
    /// Every chunk's (section, number, hash), in order, as [`PackedIndex::open`] takes them.
    pub fn list(&self) -> Vec<(u8, u64, [u8; 32])> {
        self.chunks
            .iter()
            .map(|((s, n), (_, h))| (*s, *n, *h))
            .collect()
    }
}

impl ChunkSink for MemoryChunks {
    fn put(
        &mut self,
        section: u8,
        no: u64,
        data: &[u8],
        hash: &[u8; 32],
    ) -> Result<(), ChunkError> {
        self.chunks.insert((section, no), (data.to_vec(), *hash));
        Ok(())
    }
}

impl ChunkSource for MemoryChunks {
    fn chunk(&self, section: u8, no: u64) -> Result<Vec<u8>, ChunkError> {
        self.chunks
            .get(&(section, no))
            .map(|(d, _)| d.clone())
            .ok_or(ChunkError::Missing)
    }
}

impl PackedIndex {
    /// Pack `sites` in memory and open the image (for tests and benchmarks).
    pub fn from_sites(sites: &[Site]) -> Result<PackedIndex, PackError> {
        let mut mem = MemoryChunks::default();
        let mut b = PackedBuilder::new();
        for s in sites {
            b.add(s, &wkb::encode(&s.geometry), &mut mem)?;
        }
        let root = b.finish(0, &[0; 32], &mut mem)?;
        let list = mem.list();
        PackedIndex::open(Box::new(mem), &list, &root).map_err(|e| PackError::Sink(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::{u32_at, Place, TableEntry, ENTRY};

    #[test]
    fn table_entries_round_trip() {
        let values = [0.0, -0.0, 1.5, -179.999_999_9, 1e300, f64::MIN_POSITIVE];
        let mut n = 0;
        for (k, &x) in values.iter().enumerate() {
            for place in [
                Place::Point {
                    lon: x,
                    lat: -x / 2.0,
                },
                Place::Shape(k as u64 * 1_000_003),
            ] {
                for opt in [None, Some(k as i64 - 3)] {
                    let e = TableEntry {
                        heap_off: (k as u64) << 33,
                        heap_len: u32::MAX - k as u32,
                        place,
                        category: k as u8,
                        protection: 2,
                        standoff_m: opt.map(|v| v as f64 * 0.5),
                        positional_accuracy_m: x.abs(),
                        valid_from: opt,
                        valid_to: opt.map(|v| -v),
                    };
                    let bytes = e.encode();
                    assert_eq!(bytes.len(), ENTRY);
                    let back = TableEntry::decode(&bytes).unwrap();
                    // Bit-exact, so -0.0 stays -0.0.
                    assert_eq!(back.encode(), bytes);
                    assert_eq!(format!("{back:?}"), format!("{e:?}"));
                    n += 1;
                }
            }
        }
        assert_eq!(n, values.len() * 4);
    }

    #[test]
    fn unknown_kinds_and_flags_are_damage() {
        let e = TableEntry {
            heap_off: 0,
            heap_len: 0,
            place: Place::Shape(0),
            category: 0,
            protection: 0,
            standoff_m: None,
            positional_accuracy_m: 0.0,
            valid_from: None,
            valid_to: None,
        }
        .encode();
        let mut k = e;
        k[12] = 2;
        assert!(TableEntry::decode(&k).is_err());
        let mut f = e;
        f[15] = 8;
        assert!(TableEntry::decode(&f).is_err());
    }

    #[test]
    fn reading_past_a_block_was_a_silent_zero() {
        let b = [1u8, 0, 0, 0, 2, 0, 0];
        assert_eq!(u32_at(&b, 0).unwrap(), 1);
        assert!(u32_at(&b, 4).is_err());
        assert!(u32_at(&b, usize::MAX - 1).is_err());
    }
}
