//! The packed index's chunks in the `packed` table: reading, writing and verifying them.

use super::*;

/// Chunk rows of the `packed` table, read through a connection that holds
/// one read transaction open for the life of the index.
pub(super) struct SqlChunks {
    pub(super) conn: Mutex<Connection>,
    /// The registry, for messages.
    pub(super) path: PathBuf,
}

impl ChunkSource for SqlChunks {
    fn chunk(&self, section: u8, no: u64) -> Result<Vec<u8>, ChunkError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| ChunkError::Storage("connection lock poisoned".into()))?;
        conn.prepare_cached("SELECT data FROM packed WHERE id = ?1")
            .and_then(|mut st| st.query_row([packed_id(section, no)], |r| r.get(0)))
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => ChunkError::Missing,
                // Busy, locked, I/O: said as such, not as damage.
                e => ChunkError::Storage(format!("{}: {e}", self.path.display())),
            })
    }
}

pub(super) fn packed_id(section: u8, no: u64) -> i64 {
    (i64::from(section) << 40) | no as i64
}

/// The (section, chunk number) a `packed` row id stands for (see [`packed_id`]).
pub(super) fn packed_key(id: i64) -> (u8, u64) {
    ((id >> 40) as u8, (id & ((1 << 40) - 1)) as u64)
}

/// Writes chunks as rows of the `packed` table.
pub(super) struct SqlSink<'c> {
    pub(super) conn: &'c Connection,
}

impl ChunkSink for SqlSink<'_> {
    fn put(
        &mut self,
        section: u8,
        no: u64,
        data: &[u8],
        hash: &[u8; 32],
    ) -> Result<(), ChunkError> {
        put_chunk(self.conn, section, no, data, hash)
            .map_err(|e| ChunkError::Storage(e.to_string()))
    }
}

/// Store one packed-index chunk.
pub(super) fn put_chunk(
    conn: &Connection,
    section: u8,
    no: u64,
    data: &[u8],
    hash: &[u8; 32],
) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO packed (id, hash, data) VALUES (?1, ?2, ?3)")
        .and_then(|mut st| st.execute(params![packed_id(section, no), &hash[..], data]))
        .map(|_| ())
}

/// A sink that keeps only the hashes (to recompute an image's root without storing it).
#[derive(Default)]
pub(super) struct HashSink;

impl ChunkSink for HashSink {
    fn put(&mut self, _: u8, _: u64, _: &[u8], _: &[u8; 32]) -> Result<(), ChunkError> {
        Ok(())
    }
}

/// Every live row, in rowid order, decoded and checked against its recorded
/// hash in parallel a chunk at a time (so the raw rows of the whole registry
/// are never in memory at once); `f` gets each chunk as (site, WKB, digest).
pub(super) fn for_each_verified_live_chunk(
    conn: &Connection,
    path: &Path,
    mut f: impl FnMut(Vec<(Site, Vec<u8>, [u8; 32])>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let sq = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        cause: source,
    };
    let mut st = conn
        .prepare(&format!(
            "SELECT {SITE_COLUMNS}, hash, version FROM live_sites ORDER BY live_order"
        ))
        .map_err(sq)?;
    let mut rows = st.query([]).map_err(sq)?;
    let mut chunk: Vec<(SiteRow, String)> = Vec::with_capacity(LOAD_CHUNK);
    loop {
        let next = rows.next().map_err(sq)?;
        if let Some(r) = next {
            chunk.push(
                read_live(r)
                    .map_err(sq)?
                    .map_err(|reason| StoreError::Damaged {
                        path: path.to_path_buf(),
                        reason,
                    })?,
            );
        }
        if chunk.len() == LOAD_CHUNK || (next.is_none() && !chunk.is_empty()) {
            let decoded = std::mem::replace(&mut chunk, Vec::with_capacity(LOAD_CHUNK))
                .into_par_iter()
                .map(|(row, stored)| row.into_verified_site(&stored))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|reason| StoreError::Damaged {
                    path: path.to_path_buf(),
                    reason,
                })?;
            f(decoded)?;
        }
        if next.is_none() {
            return Ok(());
        }
    }
}

/// Finish a packed index whose sites were all added to `builder`: the
/// content hash from their digests, the tree and header written to `sink`,
/// and, when `record` is given, the root recorded in `meta`. Returns
/// (content hash hex, root hex).
pub(super) fn finish_pack(
    builder: PackedBuilder,
    digests: &mut [[u8; 32]],
    revision: i64,
    sink: &mut dyn ChunkSink,
    record: Option<&Connection>,
    path: &Path,
) -> Result<(String, String), StoreError> {
    let damaged = |reason: String| StoreError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    let content = content_hash_of_digests(digests);
    let raw = parse_hex(&content).ok_or_else(|| damaged("content hash".into()))?;
    let root = crate::canonical::hex(
        &builder
            .finish(revision, &raw, sink)
            .map_err(|e| damaged(e.to_string()))?,
    );
    if let Some(conn) = record {
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('packed_root', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [&root],
        )
        .map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            cause: source,
        })?;
    }
    Ok((content, root))
}

/// Rebuild the packed index of the live sites inside `conn`'s open
/// transaction from the verified rows (see [`for_each_verified_live_chunk`]),
/// packed in rowid order; the content hash is recomputed on the way. With
/// `store`, the image replaces the `packed` rows and its root is recorded;
/// without, only its root is computed. Returns (content hash hex, root hex).
pub(super) fn pack_live(
    conn: &Connection,
    path: &Path,
    revision: i64,
    store: bool,
) -> Result<(String, String), StoreError> {
    if store {
        conn.execute("DELETE FROM packed", [])
            .map_err(|source| StoreError::Sqlite {
                path: path.to_path_buf(),
                cause: source,
            })?;
    }
    let mut sql_sink = SqlSink { conn };
    let mut hash_sink = HashSink;
    let sink: &mut dyn ChunkSink = if store { &mut sql_sink } else { &mut hash_sink };
    let mut builder = PackedBuilder::new();
    let mut digests: Vec<[u8; 32]> = Vec::new();
    for_each_verified_live_chunk(conn, path, |chunk| {
        for (site, geometry, d) in chunk {
            builder
                .add(&site, &geometry, sink)
                .map_err(|e| StoreError::Damaged {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
            digests.push(d);
        }
        Ok(())
    })?;
    finish_pack(
        builder,
        &mut digests,
        revision,
        sink,
        store.then_some(conn),
        path,
    )
}

#[cfg(test)]
mod tests {
    use super::{packed_id, packed_key};

    #[test]
    fn packed_row_ids_and_keys_round_trip() {
        for (section, no) in [(0u8, 0u64), (1, 1), (3, 12_345), (255, (1 << 40) - 1)] {
            let id = packed_id(section, no);
            assert!(id >= 0);
            assert_eq!(packed_key(id), (section, no));
        }
        // Section is the high part: ids sort by section, then chunk number.
        assert!(packed_id(1, (1 << 40) - 1) < packed_id(2, 0));
    }
}
