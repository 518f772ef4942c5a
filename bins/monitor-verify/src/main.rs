//! `monitor-verify`: prove the stack works end to end; diagnose what does not.
//!
//! Thin dispatcher, like ripgrep's `core/main.rs`: parse flags ([`args`]), call one library
//! entry point per subcommand, map the outcome to an exit code (`docs/ARCHITECTURE.md`,
//! "Exit codes"): 0 every check passed or was skipped, 1 a check failed, 2 usage, config or
//! runtime error (unreachable endpoint, AWS auth, an AWS API error). `metrics`, `query` and
//! `all` use `monitor-checks` (`all` is `checklist::run_all`), `logs` uses `monitor-logs`,
//! `grafana` uses `monitor-reconcile`, `alerts` is `monitor_checks::alerts::run`.

mod args;

use args::{Cli, Command};
use clap::Parser;
use monitor_checks::checklist::{self, Checklist, LogChecker};
use monitor_checks::{adhoc, connect, metrics, ChecksError, OutputFormat, Report};
use monitor_logs::LogChecks;
use std::io::Write;
use std::process::ExitCode;

/// Usage, config or runtime error.
const EXIT_ERROR: u8 = 2;

/// What stops a run (exit 2, one line on stderr). Each library's error keeps its type.
#[derive(Debug, thiserror::Error)]
enum Failure {
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
    let output = cli.command.output();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::Runtime)
        .and_then(|rt| rt.block_on(run(cli.command)));
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

async fn run(command: Command) -> Result<u8, Failure> {
    let mut out = std::io::stdout().lock();
    match command {
        Command::Metrics(a) => {
            let cfg = a.check_config();
            cfg.validate()?;
            let client = a.endpoint.client().await?;
            let report = metrics::run_metrics_checks(&client, &cfg).await?;
            print(&report, a.endpoint.output, &mut out)
        }
        Command::All(a) => {
            let stack = monitor_stack::load(&a.config)?;
            let instances = checklist::parse_instances(&a.instances)?;
            let list = Checklist::for_stack(&stack, a.metrics.check_config(), instances, a.since);
            list.metrics.validate()?;
            let query = a.metrics.endpoint.client().await?;
            let logs = monitor_logs::client(&connect::sdk_config(Some(&stack.region)).await);
            let report = checklist::run_all(&query, &LogChecks(&logs), &list).await?;
            print(&report, a.metrics.endpoint.output, &mut out)
        }
        Command::Grafana(a) => {
            let stack = monitor_stack::load(&a.config)?;
            let sdk = connect::sdk_config(Some(&stack.region)).await;
            let clients = monitor_reconcile::Clients::new(&sdk)?;
            // Test/support only, as for monitor-provision: replaces https://<workspace endpoint>.
            let base = monitor_grafana::api::endpoint_override();
            let results = monitor_reconcile::verify::verify_grafana(&clients, &stack, base).await?;
            print(&Report { results }, a.output, &mut out)
        }
        Command::Alerts(a) => {
            let expect = match a.stack()? {
                Some(stack) => monitor_checks::alerts::expectations(&stack)?,
                None => Default::default(),
            };
            let auth = a.endpoint.auth().await?;
            let report = monitor_checks::alerts::run(&a.check_config(), auth, expect).await?;
            print(&report, a.endpoint.output, &mut out)
        }
        Command::Query(a) => {
            let client = a.endpoint.client().await?;
            let result = adhoc::run_query(&client, &a.promql, a.window()).await?;
            written(match a.endpoint.output {
                OutputFormat::Table => adhoc::render_query_table(&result, &mut out),
                OutputFormat::Json => adhoc::render_query_json(&result, &mut out),
            })?;
            written(out.flush())?;
            Ok(0)
        }
        Command::Logs(a) => {
            let target = a.target()?;
            let sdk = connect::sdk_config(target.region.as_deref()).await;
            if sdk.region().is_none() {
                let msg = "no AWS region: pass --region (the log group's region, e.g. eu-west-1)";
                return Err(ChecksError::Usage(msg.into()).into());
            }
            let client = monitor_logs::client(&sdk);
            if a.check {
                let plan = a.check_plan(&target)?;
                let results = LogChecks(&client).run_log_checks(&plan).await;
                return print(&Report { results }, a.output, &mut out);
            }
            let cmd = monitor_logs::report::LogsCommand {
                groups: target.groups,
                since: a.since,
                query: a.query,
                follow: a.follow,
                output: a.output,
            };
            monitor_logs::report::run_logs_command(&client, cmd, &mut out).await?;
            Ok(0)
        }
    }
}

/// Prints the report; its exit code is the run's (0 ok, 1 a check failed).
fn print(report: &Report, output: OutputFormat, out: &mut impl Write) -> Result<u8, Failure> {
    written(report.render(output, out))?;
    written(out.flush())?;
    Ok(report.exit_code())
}

/// A closed stdout (`monitor-verify ... | head`) is not an error: the exit code still
/// reports the checks.
fn written(r: std::io::Result<()>) -> Result<(), ChecksError> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
