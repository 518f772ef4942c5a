//! The verification framework behind `monitor-verify`: checks produce
//! [`CheckResult`]s (pass / fail / skip, one line of detail, a one-line hint on failure),
//! a [`Report`] collects them, renders an aligned table or JSON and decides the exit code.
//! The [`metrics`] checks prove, host by host, that CPU, memory, filesystem, disk IO and
//! network data reach AMP (or a local Prometheus) fresh and sane; [`catalog`] maps every
//! check id to the seed's troubleshooting failure modes and hints, so the provisioning,
//! AMG and logs checks of later issues join the same report. [`adhoc`] runs one PromQL
//! query for `monitor-verify query`; [`connect`] turns endpoint flags into a client and
//! builds the process's one AWS `SdkConfig`; [`checklist`] is `monitor-verify all`: the
//! metrics checks, host discovery, the per-host log checks, one report.
//!
//! ```no_run
//! use monitor_checks::{connect, metrics::{run_metrics_checks, MetricsCheckConfig}};
//! # async fn demo() -> Result<(), monitor_checks::ChecksError> {
//! let endpoint = "http://127.0.0.1:9090";
//! let mode = connect::auth_mode(endpoint, None, false)?;
//! let client = connect::connect(endpoint, &mode).await?;
//! let cfg = MetricsCheckConfig { expected_labels: vec!["env".into()], ..Default::default() };
//! let report = run_metrics_checks(&client, &cfg).await?;
//! report.render_table(&mut std::io::stdout())?;
//! std::process::exit(report.exit_code().into());
//! # }
//! ```

// Libraries never print: they report through return values, traits and `tracing`.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod adhoc;
pub mod alerts;
pub mod catalog;
pub mod checklist;
pub mod connect;
pub mod metrics;
pub mod report;

pub use report::{CheckResult, Report, Status, Summary};

use monitor_amp::query::QueryError;

/// Errors that stop a verification run (exit code 2, see `docs/ARCHITECTURE.md`, "Exit
/// codes"). A failing check is not an error: it is a [`CheckResult`] with [`Status::Fail`].
#[derive(Debug, thiserror::Error)]
pub enum ChecksError {
    /// Invalid flags or configuration (found before any I/O).
    #[error("{0}")]
    Usage(String),
    /// A runtime error: the endpoint could not be queried (unreachable, wrong URL, auth
    /// or permissions).
    #[error(transparent)]
    Query(#[from] QueryError),
    /// An AWS API call failed (not found is a failed check, not this).
    #[error("AWS {action} failed: {message}")]
    Aws {
        /// The API action, e.g. `DescribeAlertManagerDefinition`.
        action: &'static str,
        /// The SDK error chain.
        message: String,
    },
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

impl ChecksError {
    /// An AWS SDK error of `action`, with its whole cause chain.
    pub fn aws(action: &'static str, e: &(dyn std::error::Error + 'static)) -> ChecksError {
        ChecksError::Aws {
            action,
            message: monitor_amp::error_chain(e),
        }
    }

    /// The process exit code for this error: always 2 (usage, config or runtime error).
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// How a report, query result or log rows are printed: the one output format of every
/// `monitor-verify` subcommand (`monitor_logs::report` re-exports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Aligned columns.
    #[default]
    Table,
    /// JSON for CI.
    Json,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<OutputFormat, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(OutputFormat::Table),
            "json" => Ok(OutputFormat::Json),
            other => Err(format!("unknown output {other:?} (expected table or json)")),
        }
    }
}
