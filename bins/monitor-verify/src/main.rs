//! `monitor-verify`: prove the stack works end to end; diagnose what does not.
//!
//! Thin dispatcher, like ripgrep's `core/main.rs`: parse flags ([`args`]), call one library
//! entry point per subcommand, map the outcome to an exit code (`docs/ARCHITECTURE.md`,
//! "Exit codes"): 0 every check passed or was skipped, 1 a check failed, 2 usage, config or
//! runtime error (unreachable endpoint, AWS auth, an AWS API error). Without a subcommand,
//! `--config stack.toml` runs `monitor_reconcile::verify::checkup` (everything found by
//! the stack's tags); `metrics`, `query` and `all` use `monitor-checks` (`all` is
//! `checklist::run_all`), `logs` uses `monitor-logs`, `grafana` uses `monitor-reconcile`,
//! `alerts` is `monitor_checks::alerts::run`. Dispatch is in [`run`].

mod args;
mod progress;
mod run;

use args::Cli;
use clap::Parser;
use monitor_checks::{ChecksError, OutputFormat};
use std::io::Write;
use std::process::ExitCode;

/// Usage, config or runtime error.
const EXIT_ERROR: u8 = 2;

/// What stops a run (exit 2, one line on stderr). Each library's error keeps its type.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error(transparent)]
    Checks(#[from] ChecksError),
    #[error(transparent)]
    Logs(#[from] monitor_logs::LogsError),
    #[error(transparent)]
    Stack(#[from] monitor_stack::StackError),
    #[error(transparent)]
    Aws(#[from] monitor_reconcile::ReconcileError),
    #[error(transparent)]
    Alerts(#[from] monitor_alerts::AlertsError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let output = cli.output();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::Runtime)
        .and_then(|rt| rt.block_on(run::run(cli)));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("monitor-verify: error: {e}");
            if output == OutputFormat::Json {
                let doc = serde_json::json!({ "ok": false, "exit_code": EXIT_ERROR, "error": e.to_string() });
                // Nothing more to say if stdout is gone too.
                let _ = writeln!(std::io::stdout(), "{doc}");
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}
