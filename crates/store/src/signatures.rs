//! Signed revisions: a maintainer's Ed25519 signature over the state a
//! revision is (revision, content hash, change-log head, link-log head and
//! packed-index root), kept in the registry. The store keeps and returns
//! them; it neither makes nor checks signatures (the application layer
//! does, with the keys). Signing makes no revision: the data is unchanged.
//!
//! What the signature adds to the hash chains: anyone who can write the
//! file can rewrite every row and recompute every hash, but cannot make a
//! signature a trusted key verifies.

use rusqlite::{params, Connection, OptionalExtension};

use crate::canonical::Enc;

/// Schema of signatures (migration to schema version 7).
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE signatures (
  id            INTEGER PRIMARY KEY,
  revision      INTEGER NOT NULL,
  content_hash  TEXT NOT NULL,
  log_head      TEXT NOT NULL,
  link_log_head TEXT NOT NULL,
  packed_root   TEXT,
  key_id        TEXT NOT NULL,
  public_key    TEXT NOT NULL,
  signer        TEXT NOT NULL,
  signed_at     INTEGER NOT NULL,
  signature     TEXT NOT NULL
) STRICT;
"#;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The state of a registry a signature speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedState {
    /// The revision.
    pub revision: i64,
    /// Its content hash (hex).
    pub content_hash: String,
    /// The change log's head entry hash (hex; all zeros when empty).
    pub log_head: String,
    /// The link log's head entry hash (hex; all zeros when empty).
    pub link_log_head: String,
    /// The packed index's root (hex), if one is built.
    pub packed_root: Option<String>,
}

impl SignedState {
    /// The bytes a signature covers: the state, who signed and when, in
    /// the registry's length-prefixed canonical encoding (docs/REGISTRY.md).
    pub fn message(&self, key_id: &str, signer: &str, signed_at: i64) -> Vec<u8> {
        let mut e = Enc(Vec::new());
        e.text("nostrike signed revision v1")
            .i64(self.revision)
            .text(&self.content_hash)
            .text(&self.log_head)
            .text(&self.link_log_head)
            .opt_text(self.packed_root.as_deref())
            .text(key_id)
            .text(signer)
            .i64(signed_at);
        e.0
    }
}

/// A stored signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSignature {
    /// The state signed.
    pub state: SignedState,
    /// The key's id: hex of the first 8 bytes of SHA-256 of its public key.
    pub key_id: String,
    /// The Ed25519 public key (hex, 32 bytes).
    pub public_key: String,
    /// Who signed, in their words.
    pub signer: String,
    /// When (seconds since the Unix epoch, UTC).
    pub signed_at: i64,
    /// The Ed25519 signature over [`SignedState::message`] (hex, 64 bytes).
    pub signature: String,
}

/// The current state, read in the caller's transaction.
pub(crate) fn state(
    conn: &Connection,
    revision: i64,
    content_hash: String,
) -> rusqlite::Result<SignedState> {
    let log_head: Option<String> = conn
        .query_row(
            "SELECT entry_hash FROM changes ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let meta = |k: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0))
            .optional()
    };
    Ok(SignedState {
        revision,
        content_hash,
        log_head: log_head.unwrap_or_else(|| GENESIS.to_string()),
        link_log_head: meta("link_log_head")?.unwrap_or_else(|| GENESIS.to_string()),
        packed_root: meta("packed_root")?,
    })
}

/// Store a signature.
pub(crate) fn add(conn: &Connection, s: &StoredSignature) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO signatures (revision, content_hash, log_head, link_log_head, packed_root, key_id, public_key, signer, signed_at, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            s.state.revision,
            s.state.content_hash,
            s.state.log_head,
            s.state.link_log_head,
            s.state.packed_root,
            s.key_id,
            s.public_key,
            s.signer,
            s.signed_at,
            s.signature
        ],
    )?;
    Ok(())
}

/// Every stored signature, oldest first.
pub(crate) fn all(conn: &Connection) -> rusqlite::Result<Vec<StoredSignature>> {
    let mut st = conn.prepare(
        "SELECT revision, content_hash, log_head, link_log_head, packed_root, key_id, public_key, signer, signed_at, signature FROM signatures ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(StoredSignature {
            state: SignedState {
                revision: r.get(0)?,
                content_hash: r.get(1)?,
                log_head: r.get(2)?,
                link_log_head: r.get(3)?,
                packed_root: r.get(4)?,
            },
            key_id: r.get(5)?,
            public_key: r.get(6)?,
            signer: r.get(7)?,
            signed_at: r.get(8)?,
            signature: r.get(9)?,
        })
    })?;
    rows.collect()
}
