//! One library call per subcommand (or the whole checkup without one), its report printed.

use crate::args::{Cli, Command};
use crate::progress::Spinner;
use crate::Failure;
use monitor_checks::checklist::{self, Checklist, LogChecker};
use monitor_checks::{adhoc, connect, metrics, ChecksError, OutputFormat, Report};
use monitor_logs::LogChecks;
use std::io::Write;

pub(crate) async fn run(cli: Cli) -> Result<u8, Failure> {
    let mut out = std::io::stdout().lock();
    let Some(command) = cli.command else {
        let a = cli.stack;
        let Some(path) = &a.config else {
            let msg = "give --config stack.toml (the whole checklist) or a subcommand (see --help)";
            return Err(ChecksError::Usage(msg.into()).into());
        };
        let stack = monitor_stack::load(path)?;
        let sdk = connect::sdk_config(Some(&stack.region)).await;
        let clients = monitor_reconcile::Clients::new(&sdk)?;
        let opts = a.checkup_options();
        let spinner = Spinner::new();
        let report = monitor_reconcile::verify::checkup(&clients, &stack, &opts, &spinner).await;
        drop(spinner);
        return print(&report?, a.output, &mut out);
    };
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
