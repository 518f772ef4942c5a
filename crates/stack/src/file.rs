//! The on-disk shape of `stack.toml`, exactly as serde reads it.
//!
//! Every table is `deny_unknown_fields`, every optional key is an `Option` (defaults are
//! applied in one place, the validation pass), and every value that is checked after
//! parsing keeps its [`Spanned`] position so the error can still name the line.
//! The validated, default-filled model the rest of the workspace uses is [`crate::Stack`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackFile {
    /// Stack name; default `monitoring-test`.
    pub name: Option<Spanned<String>>,
    /// AWS region; default `eu-west-1`.
    pub region: Option<Spanned<String>>,
    /// `[collector]`; default: ADOT.
    pub collector: Option<Spanned<CollectorFile>>,
    /// `[node_exporter]`; default: pinned version, loopback listener.
    pub node_exporter: Option<Spanned<NodeExporterFile>>,
    /// `[logs]`; default group `/{name}/system`.
    pub logs: Option<Spanned<LogsFile>>,
    /// `[network]`; default: the region's default VPC.
    pub network: Option<Spanned<NetworkFile>>,
    /// `[[hosts]]`: instances `apply` launches (at least one host or fleet).
    #[serde(default)]
    pub hosts: Vec<Spanned<HostFile>>,
    /// `[[fleets]]`: running instances enrolled by their tags.
    #[serde(default)]
    pub fleets: Vec<Spanned<crate::fleets::FleetFile>>,
    /// `[[groups]]`: Auto Scaling groups the stack creates.
    #[serde(default)]
    pub groups: Vec<Spanned<crate::groups::GroupFile>>,
    /// `[grafana]`: Amazon Managed Grafana; disabled by default.
    pub grafana: Option<Spanned<GrafanaFile>>,
    /// `[alerting]`: alert rules, Alertmanager routing and SNS subscribers.
    pub alerting: Option<Spanned<crate::alerting::AlertingFile>>,
    /// `[estimate]`: what `plan`'s cost estimate assumes, prices and quotas.
    pub estimate: Option<Spanned<crate::estimate::EstimateFile>>,
}

/// `[collector]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorFile {
    /// `adot` (default) or `monitor-agent`.
    pub kind: Option<Spanned<String>>,
    /// Scrape interval, Prometheus duration; default `15s`.
    pub scrape_interval: Option<Spanned<String>>,
    /// Scrape timeout, Prometheus duration; default `10s` (80 % of a shorter interval).
    pub scrape_timeout: Option<Spanned<String>>,
    /// ADOT release tag, e.g. `v0.49.0`.
    pub adot_version: Option<Spanned<String>>,
    /// Optional extra pin for the ADOT x86_64 RPM.
    pub adot_rpm_sha256_x86_64: Option<Spanned<String>>,
    /// Optional extra pin for the ADOT arm64 RPM.
    pub adot_rpm_sha256_arm64: Option<Spanned<String>>,
    /// monitor-agent binary URL for every architecture.
    pub agent_url: Option<Spanned<String>>,
    /// sha256 of `agent_url`.
    pub agent_sha256: Option<Spanned<String>>,
    /// Per-architecture override of `agent_url`.
    pub agent_url_x86_64: Option<Spanned<String>>,
    /// sha256 of `agent_url_x86_64`.
    pub agent_sha256_x86_64: Option<Spanned<String>>,
    /// Per-architecture override of `agent_url`.
    pub agent_url_arm64: Option<Spanned<String>>,
    /// sha256 of `agent_url_arm64`.
    pub agent_sha256_arm64: Option<Spanned<String>>,
    /// `used` (default): ship only the metrics the stack's dashboards, rules and checks
    /// read; `all`: everything node_exporter exposes.
    pub metrics: Option<Spanned<String>>,
    /// Metric names shipped besides the used ones (the user's own panels).
    pub extra_metrics: Option<Vec<Spanned<String>>>,
}

/// `[node_exporter]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeExporterFile {
    /// Release version without `v`.
    pub version: Option<Spanned<String>>,
    /// sha256 of the linux-amd64 tarball.
    pub sha256_x86_64: Option<Spanned<String>>,
    /// sha256 of the linux-arm64 tarball.
    pub sha256_arm64: Option<Spanned<String>>,
    /// `--web.listen-address`.
    pub listen_address: Option<Spanned<String>>,
    /// Scrape job name.
    pub job: Option<Spanned<String>>,
    /// Enable the systemd collector.
    pub systemd_collector: Option<bool>,
}

/// `[logs]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsFile {
    /// CloudWatch Logs group.
    pub group: Option<Spanned<String>>,
    /// Files shipped by the CloudWatch Agent.
    pub files: Option<Spanned<Vec<Spanned<String>>>>,
    /// Retention of the group in days; default 30.
    pub retention_days: Option<Spanned<i64>>,
}

/// `[network]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    /// Subnet of the hosts, `subnet-…`.
    pub subnet_id: Option<Spanned<String>>,
    /// VPC of the security group, `vpc-…`.
    pub vpc_id: Option<Spanned<String>>,
}

/// One `[[hosts]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFile {
    /// Host name (required).
    pub name: Spanned<String>,
    /// `x86_64` (default) or `arm64`.
    pub architecture: Option<Spanned<String>>,
    /// EC2 instance type; default by architecture.
    pub instance_type: Option<Spanned<String>>,
    /// External labels.
    pub labels: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
}

/// `[grafana]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrafanaFile {
    /// Provision the Amazon Managed Grafana workspace; default `false`.
    pub enabled: Option<bool>,
    /// IAM Identity Center group ids given the ADMIN role.
    pub admin_group_ids: Option<Spanned<Vec<Spanned<String>>>>,
    /// IAM Identity Center group ids given the EDITOR role.
    pub editor_group_ids: Option<Spanned<Vec<Spanned<String>>>>,
    /// IAM Identity Center group ids given the VIEWER role.
    pub viewer_group_ids: Option<Spanned<Vec<Spanned<String>>>>,
    /// `CUSTOMER_MANAGED` (default) or `SERVICE_MANAGED`.
    pub permission_type: Option<Spanned<String>>,
    /// Grafana version of a new workspace, e.g. `10.4`.
    pub grafana_version: Option<Spanned<String>>,
}
