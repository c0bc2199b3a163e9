//! [`Digest`]: a SHA-256 value (site hash, content hash) as a type, shown
//! and stored as 64 lowercase hex digits.

use crate::canonical::{hex, parse_hex};

/// A SHA-256 digest: a registry's content hash or a site's hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&hex(&self.0))
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// Text that is not 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a SHA-256 digest (64 lowercase hex digits)")]
pub struct BadDigest(pub String);

impl std::str::FromStr for Digest {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Digest, BadDigest> {
        parse_hex(s)
            .map(Digest)
            .ok_or_else(|| BadDigest(s.to_string()))
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        parse_hex(other) == Some(self.0)
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        self == other.as_str()
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl rusqlite::ToSql for Digest {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.to_string().into())
    }
}

impl rusqlite::types::FromSql for Digest {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        v.as_str()?
            .parse()
            .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::Digest;

    #[test]
    fn digests_read_and_write_as_lowercase_hex() {
        let text = "1664c074885c27aca1950356241926a13496bf7cf390f2372f13c76f583130e8";
        let d: Digest = text.parse().unwrap();
        assert_eq!(d.to_string(), text);
        assert_eq!(d.0[0], 0x16);
        assert!(d == *text);
        for bad in [
            "",
            "00",
            &text.to_uppercase(),
            &format!("{text}0"),
            &text.replace('1', "g"),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }
}
