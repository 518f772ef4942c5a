//! `monitor-verify`'s flags (clap) and their translation into the libraries' inputs:
//! check configs, the query window, the log target read from `--config` or the flags.
//! `alerts`' flags are in [`alerts`].

mod alerts;

pub use alerts::AlertsArgs;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};
use monitor_checks::checklist::{parse_instances, LogPlan};
use monitor_checks::metrics::MetricsCheckConfig;
use monitor_checks::{adhoc::QueryWindow, connect, ChecksError, OutputFormat};

#[derive(Debug, Parser)]
#[command(
    name = "monitor-verify",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Without a subcommand: the whole checklist of a stack.
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(subcommand)]
    /// The subcommand.
    pub command: Option<Command>,
}

/// `monitor-verify --config stack.toml`: every check, everything found by the stack's tags.
#[derive(Debug, Args)]
pub struct StackArgs {
    /// The stack file. Finds the AMP workspace, the hosts (EC2 tags) and the log group by
    /// the stack's tags and runs every check: AWS (workspace, instances, SSM), metrics,
    /// logs, and Grafana and alerting when enabled.
    #[arg(long, value_name = "stack.toml")]
    pub config: Option<PathBuf>,
    /// Query this PromQL root instead of the discovered workspace's (e.g. through a VPC
    /// endpoint).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Each host's newest sample must be younger than this.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub max_age: Duration,
    /// Window of the collectors' own counters (drops, remote-write status, samples/s); a
    /// host shipping for less than this reads a lower samples/s.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub window: Duration,
    /// table or json.
    #[arg(long, default_value = "table")]
    pub output: OutputFormat,
}

impl StackArgs {
    /// The checkup these flags ask for.
    pub fn checkup_options(&self) -> monitor_reconcile::verify::CheckupOptions {
        monitor_reconcile::verify::CheckupOptions {
            endpoint: self.endpoint.clone(),
            max_age: self.max_age,
            window: self.window,
            // Test/support only, as for `grafana`: replaces https://<workspace endpoint>.
            grafana_api_base: monitor_grafana::api::endpoint_override(),
            ..Default::default()
        }
    }
}

impl Cli {
    /// The `--output` in effect (an error is reported in the same format).
    pub fn output(&self) -> OutputFormat {
        self.command
            .as_ref()
            .map_or(self.stack.output, Command::output)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Alerting: rules load and evaluate, Alertmanager is connected, on AMP the rule
    /// namespaces, Alertmanager definition and SNS topic are ready; --fire-drill proves a
    /// test alert is routed and delivered.
    Alerts(AlertsArgs),
}

#[derive(Debug, Args)]
pub struct GrafanaArgs {
    /// The stack file (name, region, [grafana]).
    #[arg(long, value_name = "stack.toml")]
    pub config: PathBuf,
    /// table or json.
    #[arg(long, default_value = "table")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct AllArgs {
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// The stack file (log group, its region and retention).
    #[arg(long, value_name = "stack.toml")]
    pub config: PathBuf,
    /// A host as NAME=INSTANCE_ID for the log checks; repeatable. Default: every
    /// instance_id found by the metrics checks.
    #[arg(long = "instance", value_name = "NAME=ID")]
    pub instances: Vec<String>,
    /// Look for cloud-init's lines this far back.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub since: Duration,
}

/// Where to query and how to authenticate.
#[derive(Debug, Args)]
pub struct Endpoint {
    /// AMP workspace root (https://aps-workspaces.<region>.amazonaws.com/workspaces/ws-.../)
    /// or a Prometheus root (http://127.0.0.1:9090).
    #[arg(long, env = "MONITOR_VERIFY_ENDPOINT")]
    pub endpoint: String,
    /// Sign queries with SigV4 (service aps) in this region.
    #[arg(long, conflicts_with = "no_sigv4")]
    pub region: Option<String>,
    /// Send queries unsigned (default for hosts other than *.amazonaws.com).
    #[arg(long)]
    pub no_sigv4: bool,
    /// table or json.
    #[arg(long, default_value = "table")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    #[command(flatten)]
    pub endpoint: Endpoint,
    /// Host to check (instance_id, host or instance label value); repeatable. Default: all.
    #[arg(long = "host", value_name = "NAME")]
    pub hosts: Vec<String>,
    /// Newest sample must be younger than this.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub max_age: Duration,
    /// External label every host must carry (env, role, team, instance_id); repeatable.
    #[arg(long = "label", value_name = "NAME")]
    pub labels: Vec<String>,
    /// Scrape job of node_exporter.
    #[arg(long, default_value = "node")]
    pub job: String,
    /// Window of the agent's drop and remote-write counters.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub window: Duration,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The PromQL expression.
    pub promql: String,
    #[command(flatten)]
    pub endpoint: Endpoint,
    /// Range query over this long back from now (instant query without it).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub range: Option<Duration>,
    /// Resolution of a range query (default: range / 60).
    #[arg(long, requires = "range", value_parser = humantime::parse_duration)]
    pub step: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The stack file: log group, region and retention come from it.
    #[arg(long, value_name = "stack.toml", conflicts_with = "groups")]
    pub config: Option<PathBuf>,
    /// Log group (e.g. /monitoring-test/system); repeatable.
    #[arg(
        long = "group",
        value_name = "GROUP",
        required_unless_present = "config"
    )]
    pub groups: Vec<String>,
    /// Run the log checks (group exists with retention, a fresh stream per host,
    /// cloud-init finished) instead of printing rows.
    #[arg(long, conflicts_with_all = ["query", "follow"])]
    pub check: bool,
    /// A host to check, as NAME=INSTANCE_ID; repeatable (with --check).
    #[arg(long = "instance", value_name = "NAME=ID", requires = "check")]
    pub instances: Vec<String>,
    /// With --check: each host's newest event must be younger than this.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub max_age: Duration,
    /// AWS region of the log group (default: the AWS config/environment's region).
    #[arg(long)]
    pub region: Option<String>,
    /// How far back to look.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub since: Duration,
    /// A Logs Insights query (default: the seed's `fields @timestamp, @logStream, @message`).
    #[arg(long, conflicts_with = "follow")]
    pub query: Option<String>,
    /// Follow new events until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// table or json (JSON lines).
    #[arg(long, default_value = "table")]
    pub output: OutputFormat,
}

impl Command {
    /// The `--output` of the subcommand (an error is reported in the same format).
    pub fn output(&self) -> OutputFormat {
        match self {
            Command::Metrics(a) => a.endpoint.output,
            Command::Query(a) => a.endpoint.output,
            Command::Logs(a) => a.output,
            Command::All(a) => a.metrics.endpoint.output,
            Command::Grafana(a) => a.output,
            Command::Alerts(a) => a.endpoint.output,
        }
    }
}

impl Endpoint {
    /// The query client: auth mode decided from the flags before any I/O.
    pub async fn client(&self) -> Result<monitor_amp::query::QueryClient, ChecksError> {
        let mode = connect::auth_mode(&self.endpoint, self.region.as_deref(), self.no_sigv4)?;
        connect::connect(&self.endpoint, &mode).await
    }

    /// The request signer the flags ask for (decided before any I/O).
    pub async fn auth(&self) -> Result<monitor_amp::auth::Auth, ChecksError> {
        let mode = connect::auth_mode(&self.endpoint, self.region.as_deref(), self.no_sigv4)?;
        Ok(connect::auth(&mode).await)
    }
}

impl MetricsArgs {
    /// The metrics checks these flags ask for.
    pub fn check_config(&self) -> MetricsCheckConfig {
        MetricsCheckConfig {
            hosts: self.hosts.clone(),
            max_age: self.max_age,
            expected_labels: self.labels.clone(),
            job: self.job.clone(),
            window: self.window,
            ..MetricsCheckConfig::default()
        }
    }
}

impl QueryArgs {
    /// Instant, or a range back from now.
    pub fn window(&self) -> QueryWindow {
        match self.range {
            Some(range) => QueryWindow::Range {
                range,
                step: self.step,
            },
            None => QueryWindow::Instant { time: None },
        }
    }
}

/// Where `monitor-verify logs` looks: from `--config`'s stack, else from the flags.
#[derive(Debug)]
pub struct LogTarget {
    /// The log groups.
    pub groups: Vec<String>,
    /// `--region`, else the stack's region (`None`: the AWS config chain's).
    pub region: Option<String>,
    /// The stack's retention in days.
    pub retention: Option<i32>,
}

impl LogsArgs {
    /// Reads `--config` (if given) into the target.
    pub fn target(&self) -> Result<LogTarget, monitor_stack::StackError> {
        let mut target = LogTarget {
            groups: self.groups.clone(),
            region: self.region.clone(),
            retention: None,
        };
        if let Some(path) = &self.config {
            let stack = monitor_stack::load(path)?;
            target.groups = vec![stack.logs.group.clone()];
            target.region = target.region.or(Some(stack.region.clone()));
            target.retention = i32::try_from(stack.logs.retention_days).ok();
        }
        Ok(target)
    }

    /// The `--check` run on `target`'s (first) group.
    pub fn check_plan(&self, target: &LogTarget) -> Result<LogPlan, ChecksError> {
        Ok(LogPlan {
            group: target.groups.first().cloned().unwrap_or_default(),
            expected_retention: target.retention,
            hosts: parse_instances(&self.instances)?,
            max_age: self.max_age,
            cloud_init_since: SystemTime::now() - self.since,
        })
    }
}
