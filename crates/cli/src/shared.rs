//! Commands on a shared registry (`--registry postgresql://…`): each runs
//! on the registry's working copy, brought up to the database's state
//! first; writing commands run under the registry's lock in one database
//! transaction (`nostrike_store::shared`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use nostrike_store::shared::{is_url, Shared};

use crate::{dispatch, Command, Out};

/// Where working copies of shared registries are kept: `NOSTRIKE_CACHE`,
/// else `$XDG_CACHE_HOME/nostrike`, else `~/.cache/nostrike`.
fn cache_dir() -> anyhow::Result<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = var("NOSTRIKE_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("nostrike")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("nostrike")))
        .ok_or_else(|| {
            anyhow::anyhow!("no folder for the shared registry's working copy: set NOSTRIKE_CACHE")
        })?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("cache folder {}: {e}", dir.display()))?;
    Ok(dir)
}

/// What an error from a command run on the working copy `copy` is about.
fn working_copy(sh: &Shared, copy: &Path) -> String {
    format!("registry {} (working copy {})", sh.url(), copy.display())
}

fn connect(url: &str) -> anyhow::Result<Shared> {
    Ok(Shared::connect(url, &cache_dir()?)?)
}

/// The registry file a pull reads: `from` itself, or the working copy of
/// the shared registry it names, brought up to date.
pub(crate) fn pull_source(from: &Path) -> anyhow::Result<PathBuf> {
    match from.to_str().filter(|s| is_url(s)) {
        Some(url) => Ok(connect(url)?.refresh()?.0),
        None => Ok(from.to_path_buf()),
    }
}

/// Run `command`, one that uses the registry (`Command::uses_registry`),
/// on the shared registry at `url`.
pub(crate) fn run(url: &str, command: Command, out: Out) -> anyhow::Result<ExitCode> {
    nostrike_store::shared::trace(out.verbose >= 2);
    let mut sh = connect(url)?;
    crate::output::show_registry_as(sh.url().to_string());
    match command {
        Command::Init => {
            sh.init()?;
            if !out.quiet {
                outln!("created empty registry {}", sh.url());
            }
            Ok(ExitCode::SUCCESS)
        }
        // Every row read fresh from the database (the working copy is
        // brought up to date by what is new, so it would not see a row
        // edited in place).
        Command::Verify => {
            let dir = tempfile::tempdir()?;
            let copy = dir.path().join("registry.db");
            sh.copy_whole(&copy)?;
            dispatch(&copy, Command::Verify, out)
        }
        Command::Import(_)
        | Command::Link(_)
        | Command::Unlink(_)
        | Command::Coverage(_)
        | Command::VerifySite { .. }
        | Command::Sign { .. }
        | Command::Repack => {
            let url = sh.url().to_string();
            let result = sh.write(|copy| {
                dispatch(copy, command, out)
                    .map(|code| (code == ExitCode::SUCCESS, code))
                    .with_context(|| {
                        format!(
                            "registry {url} (written on its private copy {})",
                            copy.display()
                        )
                    })
            })?;
            let (code, sent) = result?;
            if out.verbose > 0 && code == ExitCode::SUCCESS {
                eprintln!(
                    "{}: sent {} site versions, {} log entries, {} batches, {} live rows, {} index chunks",
                    sh.url(),
                    sent.versions,
                    sent.entries,
                    sent.batches,
                    sent.live_rows,
                    sent.packed_chunks
                );
            }
            Ok(code)
        }
        // The server asks the database for its state (at most every 2 s) and
        // serves each new revision as it does a file's.
        Command::Serve(args) => {
            let (copy, _) = sh.refresh()?;
            let refresh: crate::serve::Refresh =
                Box::new(move || Ok(sh.refresh().map(|(p, _)| p)?));
            crate::serve::run(&copy, &args, Some(refresh))
        }
        read => {
            let (copy, synced) = sh.refresh()?;
            if out.verbose > 0 {
                eprintln!(
                    "{}: working copy {} {} ({} site versions, {} log entries sent)",
                    sh.url(),
                    copy.display(),
                    if synced.rebuilt {
                        "built"
                    } else {
                        "brought up to date"
                    },
                    synced.sent.versions,
                    synced.sent.entries
                );
            }
            dispatch(&copy, read, out).with_context(|| working_copy(&sh, &copy))
        }
    }
}
