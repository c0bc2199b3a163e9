//! `nostrike`: check planned strike areas and routes against a registry of protected sites.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use nostrike_core::Policy;

/// Check planned strike areas and routes against a registry of protected sites.
///
/// Exit codes: 0 no protected site within the required distance, 3 caution
/// only, 4 at least one conflict, 1 error, 2 usage error.
#[derive(Debug, Parser)]
#[command(name = "nostrike", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print or validate a standoff policy.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
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

fn load_policy(path: &std::path::Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    Policy::from_toml_str(&text).with_context(|| format!("{}", path.display()))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Policy {
            action: PolicyAction::Show { file },
        } => {
            let policy = match file {
                Some(f) => load_policy(&f)?,
                None => Policy::example(),
            };
            print!("{}", policy.to_toml_string());
        }
        Command::Policy {
            action: PolicyAction::Check { file },
        } => {
            load_policy(&file)?;
            println!("{}: valid policy", file.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nostrike: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
