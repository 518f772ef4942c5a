//! `monitor-provision`: turn `stack.toml` into a running monitoring stack.
//!
//! Thin dispatcher, like ripgrep's `core/main.rs`: parse flags, call one library entry
//! point per subcommand, print the outcome, map it to an exit code.
//!
//! Exit codes (the convention of all three binaries, `docs/ARCHITECTURE.md`): 0 done
//! (`plan`: no changes), 1 `plan`: changes pending, 2 usage, config or runtime error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod progress;
mod provision;
mod render;

#[derive(Debug, Parser)]
#[command(name = "monitor-provision", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render each host's EC2 user_data and the files it writes into a directory, offline.
    Render(render::RenderArgs),
    /// Show what `apply` would change. Exit 0: no changes, 1: changes, 2: error.
    Plan(provision::PlanArgs),
    /// Create or update the stack's AWS resources (asks first unless --yes).
    Apply(provision::ApplyArgs),
    /// Delete everything tagged with the stack (asks first unless --yes).
    Destroy(provision::ApplyArgs),
}

/// Why a subcommand failed.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// The stack file is unreadable or invalid (the message names file, line and key).
    #[error(transparent)]
    Stack(#[from] monitor_stack::StackError),
    /// A host cannot be rendered (e.g. user_data over 16 KB).
    #[error(transparent)]
    Render(#[from] monitor_bootstrap::BootstrapError),
    /// An alert override or user rule file does not apply (names file, line and key).
    #[error(transparent)]
    Alerts(#[from] monitor_alerts::AlertsError),
    /// Writing the output failed.
    #[error("cannot write {}: {source}", path.display())]
    Output {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The output directory holds something `render` did not create.
    #[error("{0}")]
    Refused(String),
    /// Planning, applying or destroying failed.
    #[error(transparent)]
    Reconcile(#[from] monitor_reconcile::ReconcileError),
}

/// What a successful subcommand reports.
enum Outcome {
    Done,
    /// `plan` found changes (exit 1).
    ChangesPending,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Render(args) => render::run(args).map(|()| Outcome::Done),
        Command::Plan(args) => provision::plan(args),
        Command::Apply(args) => provision::apply(args),
        Command::Destroy(args) => provision::destroy(args),
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::ChangesPending) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
