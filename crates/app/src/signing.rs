//! Signed revisions: Ed25519 keys (`ed25519-dalek`), signing the registry's
//! current state, and judging a stored signature against the state a check
//! runs on — and against the keys the user trusts.
//!
//! Key files are text: a secret key file `NAME.key` (written readable by
//! its owner only) and a public key file `NAME.pub` to hand to whoever
//! checks, each a header line and the key's 32 bytes in hex. A key's id is
//! the hex of the first 8 bytes of SHA-256 of its public key.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use nostrike_store::{hex, Registry, SignedState, StoredSignature};
use serde::Serialize;
use sha2::{Digest, Sha256};

const SECRET_HEADER: &str = "nostrike ed25519 secret key v1";
const PUBLIC_HEADER: &str = "nostrike ed25519 public key v1";

/// Why a key or signature cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A key file is missing, unreadable or not a key.
    #[error("{}: {reason}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The registry could not be read or written.
    #[error(transparent)]
    Store(#[from] nostrike_store::StoreError),
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() & 1 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The id of a public key.
pub fn key_id(vk: &VerifyingKey) -> String {
    hex(&Sha256::digest(vk.as_bytes())[..8])
}

/// Make a new key pair `DIR/NAME.key` and `DIR/NAME.pub`; never replaces a file.
pub fn new_key(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf, String), SigningError> {
    let bad = |path: &Path, reason: String| SigningError::Key {
        path: path.to_path_buf(),
        reason,
    };
    if name.is_empty() || name.contains(['/', '\\', '\0']) || name.starts_with('.') {
        return Err(bad(
            dir,
            format!("key name {name:?}: give a plain file name"),
        ));
    }
    let (sk_path, pk_path) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    );
    for p in [&sk_path, &pk_path] {
        if p.exists() {
            return Err(bad(
                p,
                "exists already; a key is never replaced (choose another name)".into(),
            ));
        }
    }
    let mut seed = [0u8; 32];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom")
            .map_err(|e| bad(Path::new("/dev/urandom"), e.to_string()))?,
        &mut seed,
    )
    .map_err(|e| bad(Path::new("/dev/urandom"), e.to_string()))?;
    let sk = SigningKey::from_bytes(&seed);
    let vk = sk.verifying_key();
    let id = key_id(&vk);
    write_new(
        &sk_path,
        &format!("{SECRET_HEADER}\n{}\n", hex(&seed)),
        true,
    )
    .map_err(|e| bad(&sk_path, e.to_string()))?;
    write_new(
        &pk_path,
        &format!("{PUBLIC_HEADER} {id} {name}\n{}\n", hex(vk.as_bytes())),
        false,
    )
    .map_err(|e| bad(&pk_path, e.to_string()))?;
    Ok((sk_path, pk_path, id))
}

fn write_new(path: &Path, text: &str, secret: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut f = o.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

fn key_bytes(path: &Path, header: &str) -> Result<[u8; 32], SigningError> {
    let bad = |reason: String| SigningError::Key {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let mut lines = text.lines();
    let head = lines.next().unwrap_or("");
    if !head.starts_with(header) {
        return Err(bad(format!(
            "not a {header} file (its first line is {head:?})"
        )));
    }
    let bytes = lines
        .next()
        .and_then(|l| unhex(l.trim()))
        .filter(|b| b.len() == 32)
        .ok_or_else(|| bad("the key is not 64 hex digits".into()))?;
    let mut k = [0u8; 32];
    k.copy_from_slice(&bytes);
    Ok(k)
}

/// Read a secret key file.
pub fn read_secret(path: &Path) -> Result<SigningKey, SigningError> {
    Ok(SigningKey::from_bytes(&key_bytes(path, SECRET_HEADER)?))
}

/// Read a public key file.
pub fn read_public(path: &Path) -> Result<VerifyingKey, SigningError> {
    VerifyingKey::from_bytes(&key_bytes(path, PUBLIC_HEADER)?).map_err(|e| SigningError::Key {
        path: path.to_path_buf(),
        reason: format!("not a valid Ed25519 public key: {e}"),
    })
}

/// Sign the registry's current state with `key` as `signer`, and store the signature.
pub fn sign(
    registry: &Path,
    key: &Path,
    signer: &str,
    now: i64,
) -> Result<StoredSignature, SigningError> {
    let sk = read_secret(key)?;
    let vk = sk.verifying_key();
    let id = key_id(&vk);
    let mut reg = Registry::open(registry)?;
    let state = reg.signed_state()?;
    let sig: Signature = sk.sign(&state.message(&id, signer, now));
    let stored = StoredSignature {
        state,
        key_id: id,
        public_key: hex(vk.as_bytes()),
        signer: signer.to_string(),
        signed_at: now,
        signature: hex(&sig.to_bytes()),
    };
    reg.add_signature(&stored)?;
    Ok(stored)
}

/// A signature as a report states it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignatureCheck {
    /// The signing key's id.
    pub key_id: String,
    /// Who signed.
    pub signer: String,
    /// When (UTC).
    pub signed_at: String,
    /// The revision it signs.
    pub revision: i64,
    /// Whether it verifies and signs exactly the state checked against.
    pub valid: bool,
    /// Whether its key is one of those the check was told to trust (`None`: none given).
    pub trusted: Option<bool>,
    /// Why it is not valid, if it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Why a stored signature does not vouch for `current` (`Err`), in words.
fn signature_problem(s: &StoredSignature, current: Option<&SignedState>) -> Result<(), String> {
    let malformed = || "its key or signature is not well-formed".to_string();
    let pk: [u8; 32] = unhex(&s.public_key)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(malformed)?;
    let sig: [u8; 64] = unhex(&s.signature)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(malformed)?;
    let vk = VerifyingKey::from_bytes(&pk).map_err(|_| malformed())?;
    if key_id(&vk) != s.key_id {
        return Err("its key id does not match its public key".into());
    }
    vk.verify(
        &s.state.message(&s.key_id, &s.signer, s.signed_at),
        &Signature::from_bytes(&sig),
    )
    .map_err(|_| "the signature does not verify (the signed record was altered)".to_string())?;
    match current {
        None => Err("the state checked against is not known (a past revision)".into()),
        Some(c) if c.revision != s.state.revision => Err(format!(
            "it signs revision {}, the registry is at revision {}",
            s.state.revision, c.revision
        )),
        Some(c) if *c != s.state => {
            Err("the registry's content, log or index differ from what was signed".into())
        }
        Some(_) => Ok(()),
    }
}

/// Judge one stored signature against the state checked (`None`: the
/// state is unknown, e.g. a past revision), with the trusted keys.
pub fn judge(
    s: &StoredSignature,
    current: Option<&SignedState>,
    trust: &[VerifyingKey],
) -> SignatureCheck {
    let problem = signature_problem(s, current).err();
    let trusted =
        (!trust.is_empty()).then(|| trust.iter().any(|k| hex(k.as_bytes()) == s.public_key));
    SignatureCheck {
        key_id: s.key_id.clone(),
        signer: s.signer.clone(),
        signed_at: nostrike_core::time::format_utc(s.signed_at),
        revision: s.state.revision,
        valid: problem.is_none(),
        trusted,
        problem,
    }
}

/// The signature a report states for the state checked: the newest valid
/// one by a trusted key, else the newest valid one, else the newest of all
/// (judged invalid, with the reason); `None` when nothing was ever signed.
pub fn best(
    all: &[StoredSignature],
    current: Option<&SignedState>,
    trust: &[VerifyingKey],
) -> Option<SignatureCheck> {
    let judged: Vec<SignatureCheck> = all.iter().map(|s| judge(s, current, trust)).collect();
    judged
        .iter()
        .rev()
        .find(|j| j.valid && j.trusted != Some(false))
        .or_else(|| judged.iter().rev().find(|j| j.valid))
        .or(judged.last())
        .cloned()
}

/// Why `sig` — the signature [`best`] found — cannot vouch for the state,
/// when a signature is required: `None` when it is valid and, if trusted
/// keys were given, made by one of them.
pub fn unmet(sig: Option<&SignatureCheck>) -> Option<String> {
    match sig {
        None => Some("it was never signed".into()),
        Some(s) if !s.valid => Some(format!(
            "its newest signature (key {}, {}) is not valid: {}",
            s.key_id,
            s.signer,
            s.problem.as_deref().unwrap_or("")
        )),
        Some(s) if s.trusted == Some(false) => Some(format!(
            "it is signed only by key {} ({}), which is not trusted",
            s.key_id, s.signer
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_the_state_signed() {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let vk = sk.verifying_key();
        let state = SignedState {
            revision: 3,
            content_hash: "ab".into(),
            log_head: "cd".into(),
            link_log_head: "ef".into(),
            packed_root: None,
        };
        let id = key_id(&vk);
        let sig = sk.sign(&state.message(&id, "Ana", 100));
        let stored = StoredSignature {
            state: state.clone(),
            key_id: id,
            public_key: hex(vk.as_bytes()),
            signer: "Ana".into(),
            signed_at: 100,
            signature: hex(&sig.to_bytes()),
        };
        assert!(judge(&stored, Some(&state), &[vk]).valid);
        assert_eq!(judge(&stored, Some(&state), &[vk]).trusted, Some(true));
        let mut moved = state.clone();
        moved.content_hash = "ac".into();
        assert!(!judge(&stored, Some(&moved), &[]).valid);
        let mut forged = stored.clone();
        forged.signer = "Bob".into();
        assert!(judge(&forged, Some(&state), &[])
            .problem
            .unwrap()
            .contains("does not verify"));
        let mut garbled = stored.clone();
        garbled.public_key = "abcd".into();
        assert!(judge(&garbled, Some(&state), &[])
            .problem
            .unwrap()
            .contains("not well-formed"));
        let other = SigningKey::from_bytes(&[9u8; 32]).verifying_key();
        assert_eq!(judge(&stored, Some(&state), &[other]).trusted, Some(false));
    }
}
