//! `nostrike`: check planned strike areas and routes against a registry of protected sites.
//!
//! Exit codes: 0 no protected site within the required distance, 3 caution
//! only, 4 at least one conflict, 5 uncovered (no source's declared coverage
//! holds the area), 1 error, 2 usage error.

/// `println!` that returns an error instead of panicking when standard
/// output is closed (`nostrike sites | head -1`); `main` ends such a run quietly.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

/// `print!` that returns an error instead of panicking (see `outln!`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)?
    }};
}

mod alloc;
mod check;
mod coord;
mod output;
mod registry_cmds;
mod serve;
mod shared;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// Sites are many small allocations; mimalloc loads a large registry markedly faster than the system allocator.
/// Built as mimalloc v2 without transparent huge pages (Cargo.toml): v3's one-second purge delay and 2 MiB
/// pages kept a 1M-site batch check 406 MB resident instead of 270 MB, for no measurable speed (docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const AFTER_HELP: &str = "Exit codes:
  0  no protected site within the required distance
  3  caution only (a site beyond the required distance but within the caution margin)
  4  at least one conflict (a site within the required distance)
  5  uncovered: no site within reach, but no source declares its data complete there (never a clear)
  1  error (bad input, missing, empty, foreign or damaged registry) — never a verdict
  2  usage error";

/// Check planned strike areas and routes against a registry of protected sites.
#[derive(Debug, Parser)]
#[command(name = "nostrike", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// The registry: a file, or a shared registry's postgresql:// URL [env: NOSTRIKE_REGISTRY; default: ./nostrike.db].
    #[arg(long, global = true, value_name = "PATH")]
    registry: Option<PathBuf>,
    /// Print only errors and the result.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print more detail.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Colour the output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When standard output is a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Output settings shared by the commands.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// Print only errors and the result.
    pub quiet: bool,
    /// Verbosity level.
    pub verbose: u8,
    /// Colour the output.
    pub color: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an empty registry (refuses if the file exists).
    Init,
    /// Import site data (all or nothing unless --skip-invalid).
    Import(registry_cmds::ImportArgs),
    /// Check planned areas and routes against the registry.
    #[command(after_help = AFTER_HELP)]
    Check(check::CheckArgs),
    /// Find and list sites.
    Sites(registry_cmds::SitesArgs),
    /// Show one site with its full history from the change log.
    Show {
        /// The site's id (`ID` or `SOURCE/ID`).
        id: String,
    },
    /// Export sites to a file.
    Export(registry_cmds::ExportArgs),
    /// The import batches, oldest first.
    Log {
        /// Only batches from this revision on.
        #[arg(long, default_value_t = 0)]
        since: i64,
    },
    /// The sources: coverage, licence, attribution, last import and site counts.
    Sources {
        /// Output format.
        #[arg(long, value_enum, default_value_t = registry_cmds::TextOrJson::Table)]
        format: registry_cmds::TextOrJson,
    },
    /// Declare or replace a source's coverage on its own (a logged change and a new revision).
    Coverage(registry_cmds::CoverageArgs),
    /// Record that a site was re-verified (its last_verified moves: a logged change and a new revision).
    VerifySite {
        /// The site (`SOURCE/ID`, or an `ID` unique across sources).
        site: String,
        /// The date it was verified (YYYY-MM-DD; not in the future).
        #[arg(long)]
        date: String,
        /// Who verified it (recorded as the batch's operator).
        #[arg(long)]
        by: String,
    },
    /// Candidate pairs of sites from different sources that are probably the same place, with the evidence.
    Duplicates {
        /// How close two sites must be (default 100 m).
        #[arg(long, value_name = "DIST", default_value = "100m")]
        within: crate::coord::Distance,
        /// Output format.
        #[arg(long, value_enum, default_value_t = registry_cmds::TextOrJson::Table)]
        format: registry_cmds::TextOrJson,
    },
    /// Record that two sites of different sources are the same place (a logged change and a new revision).
    Link(registry_cmds::LinkArgs),
    /// Withdraw a link (a logged change and a new revision).
    Unlink(registry_cmds::LinkArgs),
    /// Groups of linked sites whose members disagree (distance, category, protection, retired), for review.
    Review {
        /// Output format.
        #[arg(long, value_enum, default_value_t = registry_cmds::TextOrJson::Table)]
        format: registry_cmds::TextOrJson,
        /// The policy whose source_precedence picks each group's face (default: the built-in example).
        #[arg(long, value_name = "FILE")]
        policy: Option<std::path::PathBuf>,
    },
    /// Counts by category, source and protection; revision and content hash.
    Stats {
        /// Output format.
        #[arg(long, value_enum, default_value_t = registry_cmds::TextOrJson::Table)]
        format: registry_cmds::TextOrJson,
    },
    /// Check the registry's integrity, change-log chain and content hash (exit 1 on any finding).
    Verify,
    /// Rebuild the packed index that checks read, from the live rows (each verified against its hash).
    Repack,
    /// Print or validate a standoff policy.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Make an Ed25519 key pair for signing revisions: NAME.key (secret, owner-only) and NAME.pub (hand it to whoever checks).
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Sign the registry's current revision (revision, content hash, log heads, packed root) and store the signature.
    Sign {
        /// The secret key file (`nostrike key new`).
        #[arg(long, value_name = "NAME.key")]
        key: PathBuf,
        /// Who signs (default: $USER).
        #[arg(long, value_name = "NAME")]
        signer: Option<String>,
    },
    /// Bring an offline copy (a laptop's registry) up to a registry's current state: a verified copy, put in place whole; never over a copy that went its own way.
    Pull {
        /// The registry to copy from.
        #[arg(long, value_name = "REGISTRY")]
        from: PathBuf,
        /// The copy to create or bring up to date.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Pull only a state signed by one of these public keys (repeatable).
        #[arg(long = "trust", value_name = "KEY.pub")]
        trust: Vec<PathBuf>,
        /// A partner's copy: only the sites releasable to X, as a registry of their own (its content hash is the subset's).
        #[arg(long, value_name = "X")]
        releasable_to: Option<String>,
    },
    /// The registry's signatures and whether each verifies for the current state.
    Signatures {
        /// Public keys to mark as trusted (repeatable).
        #[arg(long = "trust", value_name = "KEY.pub")]
        trust: Vec<PathBuf>,
    },
    /// Serve a local web app over the registry (read-only): map, check form, site pages, JSON API.
    Serve(serve::ServeArgs),
    /// Build a registry from the shipped data and run a few telling checks.
    Demo(DemoArgs),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Keep the demo registry at this path (default: a temporary directory).
    #[arg(long, value_name = "PATH")]
    keep: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Make a new key pair NAME.key and NAME.pub (never replaces a file).
    New {
        /// The key's name.
        name: String,
        /// Where to write the files.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyAction {
    /// Print the policy in force (the shipped example unless FILE is given).
    Show {
        /// A policy TOML file.
        file: Option<PathBuf>,
    },
    /// Validate a policy file; exit 1 with the reason if it is invalid.
    Check {
        /// A policy TOML file.
        file: PathBuf,
    },
}

impl Cli {
    fn registry_path(&self) -> PathBuf {
        self.registry
            .clone()
            .or_else(|| {
                std::env::var_os("NOSTRIKE_REGISTRY")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from("nostrike.db"))
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if matches!(cli.command, Command::Import(_) | Command::Pull { .. }) {
        alloc::for_bulk_writes();
    }
    let out = Out {
        quiet: cli.quiet,
        verbose: cli.verbose,
        color: match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        },
    };
    let path = cli.registry_path();
    if cli.command.uses_registry() {
        if let Some(url) = path.to_str().filter(|s| nostrike_store::shared::is_url(s)) {
            return shared::run(url, cli.command, out);
        }
        check_registry_path(&path)?;
    }
    dispatch(&path, cli.command, out)
}

impl Command {
    /// Whether the command reads or writes the `--registry` one (`pull`
    /// names its own; policies, keys, completions and the demo need none).
    fn uses_registry(&self) -> bool {
        !matches!(
            self,
            Command::Policy { .. }
                | Command::Demo(_)
                | Command::Completions { .. }
                | Command::Key { .. }
                | Command::Pull { .. }
        )
    }
}

/// Run `command` on the registry file at `path`.
fn dispatch(path: &std::path::Path, command: Command, out: Out) -> anyhow::Result<ExitCode> {
    let path = path.to_path_buf();
    match command {
        Command::Init => registry_cmds::init(&path, out),
        Command::Import(args) => registry_cmds::import(&path, &args, out),
        Command::Check(args) => check::run(&path, &args, out),
        Command::Sites(args) => registry_cmds::sites(&path, &args),
        Command::Show { id } => registry_cmds::show(&path, &id),
        Command::Export(args) => registry_cmds::export(&path, &args, out),
        Command::Log { since } => registry_cmds::log(&path, since),
        Command::Stats { format } => registry_cmds::stats(&path, format),
        Command::Sources { format } => registry_cmds::sources(&path, format),
        Command::Duplicates { within, format } => {
            registry_cmds::duplicates(&path, within.0, format)
        }
        Command::Link(args) => registry_cmds::link(&path, &args, true, out),
        Command::Unlink(args) => registry_cmds::link(&path, &args, false, out),
        Command::Review { format, policy } => {
            registry_cmds::review(&path, format, policy.as_deref())
        }
        Command::Coverage(args) => registry_cmds::coverage(&path, &args, out),
        Command::VerifySite { site, date, by } => {
            registry_cmds::verify_site(&path, &site, &date, &by, out)
        }
        Command::Verify => registry_cmds::verify(&path, out),
        Command::Repack => registry_cmds::repack(&path, out),
        Command::Policy {
            action: PolicyAction::Show { file },
        } => {
            let (policy, _) = check::load_policy(file.as_deref())?;
            out!("{}", policy.to_toml_string());
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy {
            action: PolicyAction::Check { file },
        } => {
            check::load_policy(Some(&file))?;
            outln!("{}: valid policy", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => registry_cmds::demo(args.keep.as_deref(), out),
        Command::Serve(args) => serve::run(&path, &args, None),
        Command::Key {
            action: KeyAction::New { name, dir },
        } => {
            let (sk, pk, id) = nostrike_app::signing::new_key(&dir, &name)?;
            if !out.quiet {
                outln!("key {id}: secret {} (keep it; owner-only), public {} (hand it to whoever checks: check --trust {})", sk.display(), pk.display(), pk.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sign { key, signer } => registry_cmds::sign(&path, &key, signer, out),
        Command::Pull {
            from,
            to,
            trust,
            releasable_to,
        } => {
            let keys = trust
                .iter()
                .map(|p| nostrike_app::signing::read_public(p))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(partner) = releasable_to {
                let from = shared::pull_source(&from)?;
                let (o, withheld) = nostrike_app::pull::pull_for_partner(
                    &from,
                    &to,
                    &partner,
                    &keys,
                    nostrike_core::time::now(),
                )?;
                if !out.quiet {
                    outln!(
                        "{}: the sites releasable to {partner} ({withheld} withheld) as revision {}, content hash of the releasable subset {}; cut from {} {}",
                        to.display(),
                        o.to_revision,
                        o.content_hash,
                        from.display(),
                        match &o.signature {
                            Some(s) if s.valid => format!("as signed by {} (key {}) — the signature covers the source, not this subset", s.signer, s.key_id),
                            _ => "(unsigned)".into(),
                        }
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let from = shared::pull_source(&from)?;
            let o = nostrike_app::pull::pull(&from, &to, &keys)?;
            if !out.quiet {
                outln!(
                    "{}: revision {} (content {}) from {}{}; {}",
                    to.display(),
                    o.to_revision,
                    o.content_hash,
                    from.display(),
                    match (o.from_revision, o.sent) {
                        (Some(r), Some(s)) => format!(
                            ", was revision {r}; sent {} site versions, {} log entries, {} batches, {} live rows, {} index chunks",
                            s.versions, s.entries, s.batches, s.live_rows, s.packed_chunks
                        ),
                        (Some(r), None) => format!(", was revision {r}"),
                        (None, _) => ", new copy".into(),
                    },
                    match &o.signature {
                        Some(s) if s.valid => format!("signed by {} (key {})", s.signer, s.key_id),
                        Some(s) => format!(
                            "its signature is not valid: {}",
                            s.problem.as_deref().unwrap_or("")
                        ),
                        None => "unsigned".into(),
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Signatures { trust } => registry_cmds::signatures(&path, &trust),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "nostrike",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // The reader went away (`| head`): what was written is what it wanted.
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nostrike: error: {}", error_message(&e));
            ExitCode::from(1)
        }
    }
}

/// Refuse a registry path that cannot be one, with the reason in words:
/// a directory, or a file in a folder that does not exist.
fn check_registry_path(path: &std::path::Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!(
            "registry {}: is a directory, not a registry file (give --registry FILE)",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            anyhow::bail!(
                "registry {}: the folder {} does not exist",
                path.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// The error and its causes joined by ": ". nostrike's own errors name
/// their cause in their message and so return no `source()` (the path is
/// attached once, where the error is made); the chain is then the context
/// the command added, outermost first, and the error.
pub(crate) fn error_message(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod error_tests {
    use super::error_message;

    #[test]
    fn cause_was_printed_twice() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let read = nostrike_formats::ReadError::Io {
            file: "a.geojson".into(),
            cause: io,
        };
        let e = anyhow::Error::new(read).context("reading areas");
        assert_eq!(error_message(&e), "reading areas: a.geojson: No such file");
        let sqlite = nostrike_store::StoreError::Sqlite {
            path: "r.db".into(),
            cause: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                Some("database is locked".into()),
            ),
        };
        let e = anyhow::Error::new(sqlite);
        assert_eq!(error_message(&e), "r.db: database is locked");
        // A cause that the message does not name is still shown.
        let e = anyhow::anyhow!("disk full").context("writing report.json");
        assert_eq!(error_message(&e), "writing report.json: disk full");
    }
}
