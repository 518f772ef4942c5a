//! `monitor-verify --config stack.toml`: the whole checklist of a stack in one report,
//! with nothing pasted by hand. In order:
//!
//! 1. discovery ([`discover`]): the workspace and the hosts, by the stack's tags, and the
//!    AWS-side checks on them (workspace ACTIVE, an instance per host, SSM online);
//! 2. the metrics checks on the chosen workspace's query URL (SigV4 in the stack's
//!    region), for every expected host by its `host` label, expecting the labels every
//!    host carries;
//! 3. the log checks on the stack's log group for every discovered instance;
//! 4. the Grafana checks when `[grafana]` is enabled;
//! 5. the alerting checks on the workspace when `[alerting]` is enabled.
//!
//! A host that sends nothing is therefore named twice: `metrics.up` ("no up series with
//! host = web-2") and `aws.ssm_online` (its agent's state), never silently absent.

use std::time::{Duration, SystemTime};

use monitor_checks::alerts::{self, AlertsCheckConfig};
use monitor_checks::catalog::METRICS_ENDPOINT;
use monitor_checks::checklist::{Checklist, LogChecker};
use monitor_checks::metrics::{run_metrics_checks, MetricsCheckConfig};
use monitor_checks::{connect, CheckResult, Report};
use monitor_stack::{defaults, Stack};

use super::discover::{aws_checks, discover, Discovered};
use super::grafana::verify_grafana;
use crate::error::Result;
use crate::report::{ApplyReporter, WaitGuard};
use crate::Clients;

/// How the checkup runs; [`Default`] is what `monitor-verify --config` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckupOptions {
    /// PromQL root to query instead of the discovered workspace's (a VPC endpoint; a
    /// local Prometheus in tests).
    pub endpoint: Option<String>,
    /// Each host's newest sample must be younger than this.
    pub max_age: Duration,
    /// Window of the agent's drop and remote-write counters.
    pub window: Duration,
    /// Look for cloud-init's lines this far back.
    pub cloud_init_since: Duration,
    /// Replaces `https://<Grafana workspace endpoint>` (test/support only).
    pub grafana_api_base: Option<String>,
}

impl Default for CheckupOptions {
    fn default() -> CheckupOptions {
        let metrics = MetricsCheckConfig::default();
        CheckupOptions {
            endpoint: None,
            max_age: metrics.max_age,
            window: metrics.window,
            cloud_init_since: Duration::from_secs(24 * 3600),
            grafana_api_base: None,
        }
    }
}

/// The labels every host's series carry: the required ones of the stack file, `host`
/// and `instance_id`.
pub fn expected_labels() -> Vec<String> {
    defaults::REQUIRED_LABELS
        .iter()
        .chain(&[defaults::HOST_LABEL, "instance_id"])
        .map(|s| s.to_string())
        .collect()
}

/// Runs the whole checklist (module docs). `reporter` sees one wait per phase.
///
/// # Errors
/// AWS errors of the discovery and the Grafana/alerting control plane; an unreachable or
/// refusing query endpoint ([`monitor_checks::ChecksError`]). A failing check is a result.
pub async fn checkup(
    clients: &Clients,
    stack: &Stack,
    opts: &CheckupOptions,
    reporter: &dyn ApplyReporter,
) -> Result<Report> {
    let found = {
        let _w = WaitGuard::new(
            reporter,
            0,
            "finding the stack: AMP workspace, EC2 instances, SSM agents",
        );
        discover(clients, stack).await?
    };
    let mut report = Report {
        results: aws_checks(stack, &found),
    };
    let endpoint = opts.endpoint.clone().or_else(|| found.workspace_url());
    let metrics_cfg = MetricsCheckConfig {
        // Hosts by name; fleet members and group instances in service by instance id
        // (their `host` label).
        hosts: found
            .hosts
            .iter()
            .map(|h| h.name.clone())
            .chain(
                found
                    .fleets
                    .iter()
                    .flat_map(|f| f.members.iter().map(|m| m.id.clone())),
            )
            .chain(
                found
                    .groups
                    .iter()
                    .flat_map(|g| g.in_service().map(|i| i.id.clone())),
            )
            .collect(),
        max_age: opts.max_age,
        expected_labels: expected_labels(),
        job: stack.node_exporter.job.clone(),
        window: opts.window,
        // What `plan` priced per host, beside what each host really sends.
        expected_samples_per_second: Some(
            monitor_cost::Usage {
                series_per_host: stack.estimate.series_per_host,
                scrape_interval: stack.collector.scrape_interval,
                ..monitor_cost::Usage::default()
            }
            .samples_per_second_per_host(),
        ),
        ..MetricsCheckConfig::default()
    };
    let metrics = match &endpoint {
        Some(ep) => {
            let _w = WaitGuard::new(reporter, 1, &format!("querying {ep}"));
            metrics(ep, &found, &metrics_cfg).await?
        }
        None => Report {
            results: vec![CheckResult::skip(
                METRICS_ENDPOINT,
                None,
                "no AMP workspace to query (see aws.workspace)",
            )],
        },
    };
    let list = Checklist::for_stack(stack, metrics_cfg, found.instances(), opts.cloud_init_since);
    let plan = list.log_plan(&metrics, SystemTime::now());
    report.extend(metrics);
    {
        let _w = WaitGuard::new(reporter, 2, &format!("reading log group {}", plan.group));
        let logs = monitor_logs::LogChecks(&clients.logs);
        report.results.extend(logs.run_log_checks(&plan).await);
    }
    if stack.grafana_enabled().is_some() {
        let _w = WaitGuard::new(reporter, 3, "checking Amazon Managed Grafana");
        report.results.extend(
            Box::pin(verify_grafana(
                clients,
                stack,
                opts.grafana_api_base.clone(),
            ))
            .await?,
        );
    }
    if let (Some(_), Some(ep)) = (stack.alerting_enabled(), &endpoint) {
        let _w = WaitGuard::new(reporter, 4, "checking rules, Alertmanager and SNS");
        let cfg = AlertsCheckConfig {
            endpoint: ep.clone(),
            alertmanager: None,
            fire_drill: None,
        };
        let auth = connect::auth(&connect::auth_mode_for(ep, &found.region)?).await;
        report.extend(Box::pin(alerts::run(&cfg, auth, alerts::expectations(stack)?)).await?);
    }
    Ok(report)
}

/// The metrics checks on `endpoint` (signed in the stack's region when it is AMP's).
async fn metrics(endpoint: &str, found: &Discovered, cfg: &MetricsCheckConfig) -> Result<Report> {
    let mode = connect::auth_mode_for(endpoint, &found.region)?;
    let query = connect::connect(endpoint, &mode).await?;
    Ok(run_metrics_checks(&query, cfg).await?)
}
