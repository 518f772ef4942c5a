//! `monitor-verify`: prove the stack works end to end; diagnose what does not.
//!
//! Thin dispatcher: parse flags, call one library entry point per subcommand, map the
//! outcome to an exit code (0 all checks pass, 1 a check failed, 2 usage/config/auth error).
//! `metrics` and `query` use `monitor-checks` (over `monitor-amp`'s query client), `logs`
//! uses `monitor-logs`.

use clap::{Args, Parser, Subcommand};
use monitor_checks::adhoc::{render_query_json, render_query_table, run_query, QueryWindow};
use monitor_checks::metrics::{run_metrics_checks, MetricsCheckConfig};
use monitor_checks::{connect, ChecksError, OutputFormat};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "monitor-verify", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check, host by host, that CPU/RAM/disk/IO/network data arrives fresh and sane.
    Metrics(MetricsArgs),
    /// Run one PromQL query and print the result.
    Query(QueryArgs),
    /// Query (or follow) the hosts' logs in CloudWatch Logs.
    Logs(LogsArgs),
    /// The whole checklist: the metrics checks, then the log checks of the stack's log
    /// group for every host (from --instance, or discovered from the metrics' instance_id).
    All(AllArgs),
    /// Amazon Managed Grafana: the workspace is ACTIVE, Identity Center groups hold their
    /// roles, datasources exist and are healthy, dashboards are in the stack folder.
    Grafana(GrafanaArgs),
}

#[derive(Debug, Args)]
struct GrafanaArgs {
    /// The stack file (name, region, [grafana]).
    #[arg(long, value_name = "stack.toml")]
    config: std::path::PathBuf,
    /// table or json.
    #[arg(long, default_value = "table")]
    output: OutputFormat,
}

#[derive(Debug, Args)]
struct AllArgs {
    #[command(flatten)]
    metrics: MetricsArgs,
    /// The stack file (log group, its region and retention).
    #[arg(long, value_name = "stack.toml")]
    config: std::path::PathBuf,
    /// A host as NAME=INSTANCE_ID for the log checks; repeatable. Default: every
    /// instance_id found by the metrics checks.
    #[arg(long = "instance", value_name = "NAME=ID")]
    instances: Vec<String>,
    /// Look for cloud-init's lines this far back.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    since: Duration,
}

/// Where to query and how to authenticate.
#[derive(Debug, Args)]
struct Endpoint {
    /// AMP workspace root (https://aps-workspaces.<region>.amazonaws.com/workspaces/ws-.../)
    /// or a Prometheus root (http://127.0.0.1:9090).
    #[arg(long, env = "MONITOR_VERIFY_ENDPOINT")]
    endpoint: String,
    /// Sign queries with SigV4 (service aps) in this region.
    #[arg(long, conflicts_with = "no_sigv4")]
    region: Option<String>,
    /// Send queries unsigned (default for hosts other than *.amazonaws.com).
    #[arg(long)]
    no_sigv4: bool,
    /// table or json.
    #[arg(long, default_value = "table")]
    output: OutputFormat,
}

#[derive(Debug, Args)]
struct MetricsArgs {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Host to check (instance_id, host or instance label value); repeatable. Default: all.
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,
    /// Newest sample must be younger than this.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    max_age: Duration,
    /// External label every host must carry (env, role, team, instance_id); repeatable.
    #[arg(long = "label", value_name = "NAME")]
    labels: Vec<String>,
    /// Scrape job of node_exporter.
    #[arg(long, default_value = "node")]
    job: String,
    /// Window of the agent's drop and remote-write counters.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    window: Duration,
}

#[derive(Debug, Args)]
struct QueryArgs {
    /// The PromQL expression.
    promql: String,
    #[command(flatten)]
    endpoint: Endpoint,
    /// Range query over this long back from now (instant query without it).
    #[arg(long, value_parser = humantime::parse_duration)]
    range: Option<Duration>,
    /// Resolution of a range query (default: range / 60).
    #[arg(long, requires = "range", value_parser = humantime::parse_duration)]
    step: Option<Duration>,
}

#[derive(Debug, Args)]
struct LogsArgs {
    /// The stack file: log group, region and retention come from it.
    #[arg(long, value_name = "stack.toml", conflicts_with = "groups")]
    config: Option<std::path::PathBuf>,
    /// Log group (e.g. /monitoring-test/system); repeatable.
    #[arg(
        long = "group",
        value_name = "GROUP",
        required_unless_present = "config"
    )]
    groups: Vec<String>,
    /// Run the log checks (group exists with retention, a fresh stream per host,
    /// cloud-init finished) instead of printing rows.
    #[arg(long, conflicts_with_all = ["query", "follow"])]
    check: bool,
    /// A host to check, as NAME=INSTANCE_ID; repeatable (with --check).
    #[arg(long = "instance", value_name = "NAME=ID", requires = "check")]
    instances: Vec<String>,
    /// With --check: each host's newest event must be younger than this.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    max_age: Duration,
    /// AWS region of the log group (default: the AWS config/environment's region).
    #[arg(long)]
    region: Option<String>,
    /// How far back to look.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    since: Duration,
    /// A Logs Insights query (default: the seed's `fields @timestamp, @logStream, @message`).
    #[arg(long, conflicts_with = "follow")]
    query: Option<String>,
    /// Follow new events until Ctrl-C.
    #[arg(long)]
    follow: bool,
    /// table or json (JSON lines).
    #[arg(long, default_value = "table")]
    output: OutputFormat,
}

/// What stops a run: exit code 2 with a one-line message.
#[derive(Debug)]
enum Failure {
    Checks(ChecksError),
    Logs(monitor_logs::LogsError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Checks(e) => e.fmt(f),
            Failure::Logs(e) => e.fmt(f),
        }
    }
}

impl From<ChecksError> for Failure {
    fn from(e: ChecksError) -> Failure {
        Failure::Checks(e)
    }
}

impl From<monitor_logs::LogsError> for Failure {
    fn from(e: monitor_logs::LogsError) -> Failure {
        Failure::Logs(e)
    }
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
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("monitor-verify: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let output = match &cli.command {
        Command::Metrics(a) => a.endpoint.output,
        Command::Query(a) => a.endpoint.output,
        Command::Logs(a) => a.output,
        Command::All(a) => a.metrics.endpoint.output,
        Command::Grafana(a) => a.output,
    };
    match rt.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("monitor-verify: error: {e}");
            if output == OutputFormat::Json {
                let doc =
                    serde_json::json!({ "ok": false, "exit_code": 2, "error": e.to_string() });
                // Nothing more to say if stdout is gone too.
                let _ = writeln!(std::io::stdout(), "{doc}");
            }
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Metrics(a) => {
            let report = metrics_report(&a).await?;
            render(&report, a.endpoint.output, &mut out)?;
            Ok(report.exit_code())
        }
        Command::All(a) => {
            let mut report = metrics_report(&a.metrics).await?;
            let stack =
                monitor_stack::load(&a.config).map_err(|e| ChecksError::Usage(e.to_string()))?;
            let mut hosts = parse_instances(&a.instances)?;
            if hosts.is_empty() {
                // Discover: every host the metrics checks found by its instance_id.
                hosts = report
                    .instance_ids()
                    .into_iter()
                    .map(|id| (id.clone(), id))
                    .collect();
            }
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(stack.region.clone()))
                .load()
                .await;
            let plan = monitor_logs::checks::LogCheckPlan {
                group: stack.logs.group.clone(),
                expected_retention: i32::try_from(stack.logs.retention_days).ok(),
                hosts,
                max_age: a.metrics.max_age.max(Duration::from_secs(600)),
                cloud_init_since: std::time::SystemTime::now() - a.since,
            };
            let client = monitor_logs::client(&sdk);
            report
                .results
                .extend(monitor_logs::checks::run_log_checks(&client, &plan).await);
            render(&report, a.metrics.endpoint.output, &mut out)?;
            Ok(report.exit_code())
        }
        Command::Grafana(a) => {
            let stack =
                monitor_stack::load(&a.config).map_err(|e| ChecksError::Usage(e.to_string()))?;
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(stack.region.clone()))
                .load()
                .await;
            let clients = monitor_reconcile::Clients::new(&sdk)
                .map_err(|e| ChecksError::Usage(e.to_string()))?;
            // Test/support only, as for monitor-provision: replaces https://<workspace endpoint>.
            let api_base = std::env::var("MONITOR_GRAFANA_URL")
                .ok()
                .filter(|u| !u.trim().is_empty());
            let results = monitor_reconcile::verify::verify_grafana(&clients, &stack, api_base)
                .await
                .map_err(|e| ChecksError::Usage(e.to_string()))?;
            let report = monitor_checks::Report { results };
            render(&report, a.output, &mut out)?;
            Ok(report.exit_code())
        }
        Command::Query(a) => {
            let client = client(&a.endpoint).await?;
            let window = match a.range {
                Some(range) => QueryWindow::Range {
                    range,
                    step: a.step,
                },
                None => QueryWindow::Instant { time: None },
            };
            let result = run_query(&client, &a.promql, window).await?;
            written(match a.endpoint.output {
                OutputFormat::Table => render_query_table(&result, &mut out),
                OutputFormat::Json => render_query_json(&result, &mut out),
            })?;
            written(out.flush())?;
            Ok(0)
        }
        Command::Logs(a) => {
            let mut groups = a.groups;
            let mut region = a.region;
            let mut retention = None;
            if let Some(path) = &a.config {
                let stack =
                    monitor_stack::load(path).map_err(|e| ChecksError::Usage(e.to_string()))?;
                groups = vec![stack.logs.group.clone()];
                region = region.or(Some(stack.region.clone()));
                retention = i32::try_from(stack.logs.retention_days).ok();
            }
            let mut sdk = aws_config::defaults(aws_config::BehaviorVersion::latest());
            if let Some(r) = region {
                sdk = sdk.region(aws_config::Region::new(r));
            }
            let sdk = sdk.load().await;
            if sdk.region().is_none() {
                return Err(ChecksError::Usage(
                    "no AWS region: pass --region (the log group's region, e.g. eu-west-1)".into(),
                )
                .into());
            }
            let client = monitor_logs::client(&sdk);
            if a.check {
                let hosts = parse_instances(&a.instances)?;
                let plan = monitor_logs::checks::LogCheckPlan {
                    group: groups.first().cloned().unwrap_or_default(),
                    expected_retention: retention,
                    hosts,
                    max_age: a.max_age,
                    cloud_init_since: std::time::SystemTime::now() - a.since,
                };
                let report = monitor_checks::Report {
                    results: monitor_logs::checks::run_log_checks(&client, &plan).await,
                };
                render(&report, a.output, &mut out)?;
                return Ok(report.exit_code());
            }
            let cmd = monitor_logs::report::LogsCommand {
                groups,
                since: a.since,
                query: a.query,
                follow: a.follow,
                output: match a.output {
                    OutputFormat::Table => monitor_logs::report::OutputFormat::Table,
                    OutputFormat::Json => monitor_logs::report::OutputFormat::Json,
                },
            };
            monitor_logs::report::run_logs_command(&client, cmd, &mut out).await?;
            Ok(0)
        }
    }
}

async fn metrics_report(a: &MetricsArgs) -> Result<monitor_checks::Report, Failure> {
    let cfg = MetricsCheckConfig {
        hosts: a.hosts.clone(),
        max_age: a.max_age,
        expected_labels: a.labels.clone(),
        job: a.job.clone(),
        window: a.window,
        ..MetricsCheckConfig::default()
    };
    cfg.validate()?;
    let client = client(&a.endpoint).await?;
    Ok(run_metrics_checks(&client, &cfg).await?)
}

fn render(
    report: &monitor_checks::Report,
    output: OutputFormat,
    out: &mut impl Write,
) -> Result<(), ChecksError> {
    written(match output {
        OutputFormat::Table => report.render_table(out),
        OutputFormat::Json => report.render_json(out),
    })?;
    written(out.flush())
}

/// `NAME=i-…` pairs.
fn parse_instances(items: &[String]) -> Result<Vec<(String, String)>, ChecksError> {
    items
        .iter()
        .map(|h| match h.split_once('=') {
            Some((n, id)) if !n.is_empty() && id.starts_with("i-") => {
                Ok((n.to_string(), id.to_string()))
            }
            _ => Err(ChecksError::Usage(format!(
                "--instance {h:?}: expected NAME=i-…"
            ))),
        })
        .collect()
}

/// A closed stdout (`monitor-verify ... | head`) is not an error: the exit code still
/// reports the checks.
fn written(r: std::io::Result<()>) -> Result<(), ChecksError> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

async fn client(e: &Endpoint) -> Result<monitor_amp::query::QueryClient, ChecksError> {
    let mode = connect::auth_mode(&e.endpoint, e.region.as_deref(), e.no_sigv4)?;
    connect::connect(&e.endpoint, &mode).await
}
