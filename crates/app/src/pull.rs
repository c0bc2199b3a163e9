//! `pull`: bring an offline copy of a registry (a laptop's) up to the
//! source's current state — a consistent, verified copy, put in place only
//! when whole, and (with trusted keys) only when that state is signed by
//! one of them. A copy that went its own way (it holds changes the source
//! does not) is never overwritten.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use nostrike_store::{Registry, SignedState};

use crate::signing::{best, SignatureCheck};

/// Why a pull was refused.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// A reason in words (naming the files).
    #[error("{0}; nothing was pulled")]
    Refused(String),
    /// The source or the copy could not be read.
    #[error(transparent)]
    Store(#[from] nostrike_store::StoreError),
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullOutcome {
    /// The copy's revision before (`None`: there was none).
    pub from_revision: Option<i64>,
    /// Its revision now.
    pub to_revision: i64,
    /// Its content hash now.
    pub content_hash: String,
    /// The signature of the state pulled, if it carries one.
    pub signature: Option<SignatureCheck>,
    /// What an incremental pull sent (`None`: a whole copy was made).
    pub sent: Option<nostrike_store::PullCounts>,
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Open the source, refusing a pull onto itself and, when trusted keys are
/// given, a state no trusted key signed: the source, its state and signature.
fn open_source(
    from: &Path,
    to: &Path,
    trust: &[VerifyingKey],
) -> Result<(Registry, SignedState, Option<SignatureCheck>), PullError> {
    if same_file(from, to) {
        return Err(PullError::Refused(format!(
            "--to {} is the source registry itself",
            to.display()
        )));
    }
    let src = Registry::open_read_only(from)?;
    let state = src.signed_state()?;
    let signature = best(&src.signatures()?, Some(&state), trust);
    if let Some(why) = crate::signing::unmet(signature.as_ref()).filter(|_| !trust.is_empty()) {
        return Err(PullError::Refused(format!(
            "{}: revision {} is not signed by a trusted key: {why}",
            from.display(),
            state.revision
        )));
    }
    Ok((src, state, signature))
}

/// Refuse a registry `verify` finds anything in.
fn verified(reg: &Registry, what: &str) -> Result<(), PullError> {
    let findings = reg.verify()?;
    if findings.is_empty() {
        return Ok(());
    }
    Err(PullError::Refused(format!(
        "{what} does not verify: {}",
        findings
            .iter()
            .map(|f| format!("{}: {}", f.kind.as_str(), f.detail))
            .collect::<Vec<_>>()
            .join("; ")
    )))
}

/// Make the new copy with `make` in a temporary file beside `to`, then
/// rename it into place; on any error the temporary file goes and `to`
/// stays as it was.
fn put_in_place<T>(
    to: &Path,
    make: impl FnOnce(&Path) -> Result<T, PullError>,
) -> Result<T, PullError> {
    let tmp = with_suffix(to, &format!(".pull-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let made = make(&tmp);
    for s in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(&tmp, s));
    }
    let made = match made {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    for s in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(to, s));
    }
    std::fs::rename(&tmp, to).map_err(|e| PullError::Refused(format!("{}: {e}", to.display())))?;
    Ok(made)
}

/// Pull `from` into `to` (see the module's documentation).
pub fn pull(from: &Path, to: &Path, trust: &[VerifyingKey]) -> Result<PullOutcome, PullError> {
    let refuse = |m: String| Err(PullError::Refused(m));
    let (src, state, signature) = open_source(from, to, trust)?;
    // The copy there now must be an earlier state of the same registry.
    let mut from_revision = None;
    if to.exists() {
        let wal = with_suffix(to, "-wal");
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
            return refuse(format!("{}: its write-ahead log holds changes not yet merged; open it once with `nostrike verify` first", to.display()));
        }
        let dst = Registry::open_read_only(to)?;
        let d = dst.signed_state()?;
        drop(dst);
        if d.revision > state.revision {
            return refuse(format!(
                "{} is at revision {}, ahead of {} at {}",
                to.display(),
                d.revision,
                from.display(),
                state.revision
            ));
        }
        match src.state_at(d.revision)? {
            Some((content, head)) if content == d.content_hash && head == d.log_head => {}
            _ => {
                return refuse(format!(
                    "{} (revision {}) is not an earlier state of {}: it holds changes the source does not; keep it, or pull to a new file",
                    to.display(),
                    d.revision,
                    from.display()
                ))
            }
        }
        from_revision = Some(d.revision);
    }
    // A verified copy beside the destination, then renamed into place: the
    // destination brought up by what it lacks, or a whole copy when there is none.
    let incremental = from_revision.is_some();
    let (to_revision, content_hash, sent) = put_in_place(to, |tmp| {
        let (copy, sent) = if incremental {
            std::fs::copy(to, tmp)
                .map_err(|e| PullError::Refused(format!("{}: {e}", to.display())))?;
            let mut copy = Registry::open(tmp)?;
            let sent = copy.pull_from(from)?;
            (copy, Some(sent))
        } else {
            src.copy_to(tmp)?;
            (Registry::open(tmp)?, None)
        };
        verified(&copy, &format!("the copy of {}", from.display()))?;
        let got = copy.signed_state()?;
        if got.revision != state.revision
            || got.content_hash != state.content_hash
            || got.log_head != state.log_head
        {
            return Err(PullError::Refused(format!(
                "{} moved while it was being copied (revision {} then {}); pull again",
                from.display(),
                state.revision,
                got.revision
            )));
        }
        Ok((got.revision, got.content_hash, sent))
    })?;
    Ok(PullOutcome {
        from_revision,
        to_revision,
        content_hash,
        signature,
        sent,
    })
}

/// Pull, for a partner, only the sites releasable to `partner` into a
/// registry of their own: one revision whose content hash is the
/// releasable subset's (not the source's), each source's licence,
/// attribution and coverage kept, links between kept sites kept. The
/// destination must be absent or an earlier partner copy made this way.
/// The source's signature covers the source, not the subset: the outcome
/// names the source state it was cut from.
pub fn pull_for_partner(
    from: &Path,
    to: &Path,
    partner: &str,
    trust: &[VerifyingKey],
    now: i64,
) -> Result<(PullOutcome, usize), PullError> {
    let refuse = |m: String| Err(PullError::Refused(m));
    let partner = partner.trim();
    if partner.is_empty() {
        return refuse("--releasable-to: give a country or group".into());
    }
    let (src, state, signature) = open_source(from, to, trust)?;
    let mut from_revision = None;
    if to.exists() {
        let dst = Registry::open_read_only(to)?;
        let log = dst.log(0)?;
        if log.iter().any(|b| b.format != "partner-pull") {
            return refuse(format!(
                "{} is not a partner copy made by `pull --releasable-to`; it is never replaced",
                to.display()
            ));
        }
        from_revision = Some(dst.revision()?);
    }
    let (sites, rev, _) = src.live_sites()?;
    if rev != state.revision {
        return refuse(format!(
            "{} moved while it was being read; pull again",
            from.display()
        ));
    }
    let total = sites.len();
    let kept: Vec<nostrike_core::Site> = sites
        .into_iter()
        .filter(|s| s.marking.releasable_to(partner))
        .collect();
    let withheld = total - kept.len();
    if kept.is_empty() {
        return refuse(format!(
            "no site of {} is releasable to {partner}",
            from.display()
        ));
    }
    let keys: std::collections::BTreeSet<String> = kept
        .iter()
        .map(|s| format!("{}/{}", s.source, s.id))
        .collect();
    let links: Vec<(String, String)> = src
        .links_at(None)?
        .into_iter()
        .filter(|(a, b)| keys.contains(a) && keys.contains(b))
        .collect();
    let sources = src.sources()?;
    drop(src);
    let (to_revision, content_hash) = put_in_place(to, |tmp| {
        let mut reg = Registry::create(tmp)?;
        let mut session = reg.begin_import()?;
        let meta = nostrike_store::BatchMeta {
            file_name: format!(
                "{} revision {} (content {}) for {partner}",
                from.display(),
                state.revision,
                state.content_hash
            ),
            file_sha256: state.content_hash.clone(),
            format: "partner-pull".into(),
            operator: "pull".into(),
            imported_at: now,
            replace: false,
        };
        let mut last = None;
        for m in &sources {
            let mine: Vec<&nostrike_core::Site> =
                kept.iter().filter(|s| s.source == m.name).collect();
            if mine.is_empty() {
                continue;
            }
            let file = session.file(m, &meta);
            for (i, s) in mine.into_iter().enumerate() {
                session.push(file, s.clone(), i as u64 + 1)?;
            }
            session.end_file(file)?;
            last = Some(file);
        }
        if let Some(file) = last {
            for (a, b) in &links {
                session.link(
                    file,
                    true,
                    a,
                    b,
                    "pull",
                    Some("linked in the source registry"),
                );
            }
        }
        session.commit()?;
        verified(&reg, "the partner copy")?;
        Ok((reg.revision()?, reg.content_hash()?.to_string()))
    })?;
    Ok((
        PullOutcome {
            from_revision,
            to_revision,
            content_hash,
            signature,
            sent: None,
        },
        withheld,
    ))
}
