//! `monitor-provision`: turn `stack.toml` into a running monitoring stack.
//!
//! Thin dispatcher, like ripgrep's `core/main.rs`: parse flags, call one library entry
//! point per subcommand, print the outcome, map it to an exit code — 0 ok, 2 config,
//! usage or runtime error (clap's usage errors exit 2 too). 1 is kept for "changes
//! pending" of the `plan` subcommand that the provisioning issue adds next to `render`
//! (with `apply` and `destroy`), each as one more `Command` variant and module.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
}

/// Why a subcommand failed; every variant is exit code 2 (fix the input and re-run).
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// The stack file is unreadable or invalid (the message names file, line and key).
    #[error(transparent)]
    Stack(#[from] monitor_stack::StackError),
    /// A host cannot be rendered (e.g. user_data over 16 KB).
    #[error(transparent)]
    Render(#[from] monitor_bootstrap::BootstrapError),
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
}

impl Failure {
    fn exit_code(&self) -> u8 {
        2
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Render(args) => render::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
