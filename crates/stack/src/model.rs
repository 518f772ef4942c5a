//! The validated stack model: what the rest of the workspace reads. Every value here has
//! passed validation and every default has been filled in.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::AlertingConfig;

/// Default values of every optional key, in one place so docs, the example file and code
/// agree.
pub mod defaults {
    use std::time::Duration;

    /// `name`.
    pub const NAME: &str = "monitoring-test";
    /// `region`.
    pub const REGION: &str = "eu-west-1";
    /// `[logs] retention_days`.
    pub const LOG_RETENTION_DAYS: u32 = 30;
    /// The retention periods CloudWatch Logs accepts (PutRetentionPolicy `retentionInDays`).
    pub const LOG_RETENTION_VALUES: &[u32] = &[
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
        2922, 3288, 3653,
    ];
    /// `[logs] files`.
    pub const LOG_FILES: &[&str] = &["/var/log/messages", "/var/log/cloud-init-output.log"];
    /// `[collector] scrape_interval` (`15s`).
    pub const SCRAPE_INTERVAL: Duration = Duration::from_secs(15);
    /// `[collector] scrape_timeout` (`10s`) when the interval is longer; else 80 % of
    /// the interval.
    pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
    /// `[collector] adot_version`: ADOT collector release (aws-otel-collector v0.49.0,
    /// 2026-07-10), installed from the versioned RPM URL.
    pub const ADOT_VERSION: &str = "v0.49.0";
    /// `[node_exporter] version`.
    pub const NODE_EXPORTER_VERSION: &str = "1.9.1";
    /// sha256 of `node_exporter-1.9.1.linux-amd64.tar.gz`.
    ///
    /// Not downloaded here (no internet where this was written): the value was taken from
    /// several independent public configurations that pin the v1.9.1 release
    /// (`sha256sums.txt` line for this file). Check it against
    /// <https://github.com/prometheus/node_exporter/releases/download/v1.9.1/sha256sums.txt>
    /// when bumping; a wrong value only makes the host fail closed (the download is refused).
    pub const NODE_EXPORTER_SHA256_X86_64: &str =
        "becb950ee80daa8ae7331d77966d94a611af79ad0d3307380907e0ec08f5b4e8";
    /// sha256 of `node_exporter-1.9.1.linux-arm64.tar.gz` (same provenance and caveat as
    /// [`NODE_EXPORTER_SHA256_X86_64`]).
    pub const NODE_EXPORTER_SHA256_ARM64: &str =
        "848f139986f63232ced83babe3cad1679efdbb26c694737edc1f4fbd27b96203";
    /// `[node_exporter] listen_address`: loopback, the collector runs on the same host.
    pub const NODE_EXPORTER_LISTEN: &str = "127.0.0.1:9100";
    /// `[node_exporter] job`: the Prometheus `job` label of the node_exporter scrape.
    pub const NODE_EXPORTER_JOB: &str = "node";
    /// `[[hosts]] instance_type` for x86_64 hosts.
    pub const INSTANCE_TYPE_X86_64: &str = "t3.micro";
    /// `[[hosts]] instance_type` for arm64 (Graviton) hosts.
    pub const INSTANCE_TYPE_ARM64: &str = "t4g.micro";
    /// Labels every host must set.
    pub const REQUIRED_LABELS: &[&str] = &["env", "role", "team"];
    /// `[grafana] grafana_version`: the Grafana version pinned for a new Amazon Managed
    /// Grafana workspace (equal to `monitor_grafana::amg::DEFAULT_GRAFANA_VERSION`; a
    /// test in monitor-reconcile keeps the two in step).
    pub const GRAFANA_VERSION: &str = "10.4";
    /// Label names a host, fleet or group may not set: filled in at render time (`host`,
    /// the host's name, which the absent-host alerts match on; `fleet`, the fleet's
    /// name), at boot (`instance_id`, and `host` of a fleet or group member) or by the
    /// scraper.
    pub const RESERVED_LABELS: &[&str] = &["host", "fleet", "instance_id", "job", "instance"];
    /// Label names a `[[groups]]` entry may not set besides [`RESERVED_LABELS`]: its
    /// instances get them at render time (`group`) and at boot (`availability_zone`).
    /// Hosts and fleets may use them (stack files written before groups keep loading),
    /// but a host's `group` label may not name a group (it would count in that group's
    /// alert).
    pub const GROUP_RESERVED_LABELS: &[&str] = &["group", "availability_zone"];
    /// The label carrying the fleet's name (`[[fleets]] name`) on every series its
    /// instances send.
    pub const FLEET_LABEL: &str = "fleet";
    /// `[[fleets]] select`: at most this many tags (an SSM association takes five targets).
    pub const FLEET_SELECT_MAX: usize = 5;
    /// The label carrying the Auto Scaling group's name (`[[groups]] name`) on every
    /// series its instances send.
    pub const GROUP_LABEL: &str = "group";
    /// The label carrying a group instance's availability zone (from instance metadata).
    pub const AVAILABILITY_ZONE_LABEL: &str = "availability_zone";
    /// The label carrying the host's name (`[[hosts]] name`) on every series it sends.
    pub const HOST_LABEL: &str = "host";
}

/// A loaded and validated `stack.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    /// Stack name (default `monitoring-test`); prefixes AWS resource names and the log group.
    pub name: String,
    /// AWS region of every resource (default `eu-west-1`).
    pub region: String,
    /// Which collector ships metrics to AMP, and how it is installed.
    pub collector: Collector,
    /// node_exporter release and listener.
    pub node_exporter: NodeExporter,
    /// CloudWatch Logs shipping.
    pub logs: Logs,
    /// The hosts `apply` launches (unique names; at least one host or fleet).
    pub hosts: Vec<Host>,
    /// `[[fleets]]`: running instances enrolled by their tags through SSM.
    pub fleets: Vec<crate::Fleet>,
    /// `[[groups]]`: Auto Scaling groups launched from the stack's template.
    pub groups: Vec<crate::Group>,
    /// `[network]`: where the hosts run (default VPC when empty).
    pub network: Network,
    /// `[grafana]`: Amazon Managed Grafana (`None` when the table is absent; see
    /// [`Stack::grafana_enabled`]).
    pub grafana: Option<GrafanaConfig>,
    /// `[alerting]` (`None` when the table is absent; see [`Stack::alerting_enabled`]).
    pub alerting: Option<AlertingConfig>,
    /// `[estimate]`: the cost estimate's assumptions, prices and quotas (defaults filled).
    pub estimate: crate::EstimateConfig,
    /// The file this was loaded from, if any.
    pub source: Option<PathBuf>,
}

impl Stack {
    /// The `[grafana]` settings when `enabled = true`, else `None`.
    pub fn grafana_enabled(&self) -> Option<&GrafanaConfig> {
        self.grafana.as_ref().filter(|g| g.enabled)
    }

    /// The `[alerting]` settings when the table exists and is enabled, else `None`.
    pub fn alerting_enabled(&self) -> Option<&AlertingConfig> {
        self.alerting.as_ref().filter(|a| a.enabled)
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

/// CPU architecture of a host (Amazon Linux 2023 ships both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Architecture {
    /// Intel/AMD 64-bit (`uname -m` = `x86_64`; Go/Debian name `amd64`).
    #[serde(rename = "x86_64")]
    X86_64,
    /// Graviton (`uname -m` = `aarch64`; Go/Debian name `arm64`).
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    /// Both architectures, in a stable order.
    pub const ALL: [Architecture; 2] = [Architecture::X86_64, Architecture::Arm64];

    /// The name used in `stack.toml` (`x86_64`, `arm64`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }

    /// What `uname -m` prints on such a host (`x86_64`, `aarch64`).
    pub fn uname(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "aarch64",
        }
    }

    /// The Go/Debian name used in release artefact names (`amd64`, `arm64`).
    pub fn go_arch(self) -> &'static str {
        match self {
            Self::X86_64 => "amd64",
            Self::Arm64 => "arm64",
        }
    }

    /// Default EC2 instance type for this architecture.
    pub fn default_instance_type(self) -> &'static str {
        match self {
            Self::X86_64 => defaults::INSTANCE_TYPE_X86_64,
            Self::Arm64 => defaults::INSTANCE_TYPE_ARM64,
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value per architecture.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PerArch<T> {
    /// The x86_64 value.
    pub x86_64: T,
    /// The arm64 value.
    pub arm64: T,
}

impl<T> PerArch<T> {
    /// The value for `arch`.
    pub fn get(&self, arch: Architecture) -> &T {
        match arch {
            Architecture::X86_64 => &self.x86_64,
            Architecture::Arm64 => &self.arm64,
        }
    }
}

/// `[collector]`: settings common to both collectors plus the chosen kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collector {
    /// Which collector, with its install settings.
    pub kind: CollectorKind,
    /// Scrape interval, a whole number of milliseconds above zero (default `15s`).
    /// Rendered back into collector configs with [`format_prometheus_duration`].
    pub scrape_interval: Duration,
    /// Scrape timeout, a whole number of milliseconds strictly below the interval
    /// (default `10s`, or 80 % of a shorter interval).
    pub scrape_timeout: Duration,
    /// `[collector] metrics`: which node_exporter metrics are shipped (AMP bills per
    /// sample).
    pub metrics: MetricSelection,
    /// `[collector] extra_metrics`: names shipped besides the used ones.
    pub extra_metrics: Vec<String>,
}

/// Which node_exporter metrics a collector ships.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MetricSelection {
    /// `used` (default): the ones the stack's dashboards, rules and checks read, plus
    /// `extra_metrics`.
    #[default]
    Used,
    /// `all`: everything node_exporter exposes (the seed design's behaviour).
    All,
}

/// `d` as a Prometheus (and Go `time.ParseDuration`) duration in its largest exact unit
/// (`h`, `m`, `s`, else `ms`): single-unit values print as written (`15s`, `800ms`, `1m`,
/// `90s`), others as an equal value (`60s` → `1m`, `1m 30s` → `90s`). Sub-millisecond
/// parts, which validation refuses, are dropped.
///
/// ```
/// use std::time::Duration;
/// use monitor_stack::format_prometheus_duration as f;
/// assert_eq!(f(Duration::from_secs(15)), "15s");
/// assert_eq!(f(Duration::from_secs(120)), "2m");
/// assert_eq!(f(Duration::from_millis(800)), "800ms");
/// ```
pub fn format_prometheus_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let (n, unit) = if ms != 0 && ms.is_multiple_of(3_600_000) {
        (ms / 3_600_000, "h")
    } else if ms != 0 && ms.is_multiple_of(60_000) {
        (ms / 60_000, "m")
    } else if ms.is_multiple_of(1_000) {
        (ms / 1_000, "s")
    } else {
        (ms, "ms")
    };
    format!("{n}{unit}")
}

/// The collector that scrapes node_exporter and remote-writes to AMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectorKind {
    /// AWS Distro for OpenTelemetry collector (the seed's path), `kind = "adot"`.
    Adot(Adot),
    /// This workspace's `monitor-agent`, `kind = "monitor-agent"`.
    MonitorAgent(MonitorAgent),
}

impl CollectorKind {
    /// The `kind` string used in `stack.toml`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Adot(_) => "adot",
            Self::MonitorAgent(_) => "monitor-agent",
        }
    }
}

/// ADOT install settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adot {
    /// Release tag, `vX.Y.Z` (default [`defaults::ADOT_VERSION`]).
    pub version: String,
    /// Optional sha256 pin of the RPM per architecture, checked in addition to its GPG
    /// signature.
    pub rpm_sha256: PerArch<Option<String>>,
}

/// A downloadable binary pinned by sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `https://` URL of the binary.
    pub url: String,
    /// Lower-case hex sha256 of the binary.
    pub sha256: String,
}

/// monitor-agent install settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorAgent {
    /// Binary per architecture; guaranteed present for every architecture a host uses.
    pub artifact: PerArch<Option<Artifact>>,
}

/// `[node_exporter]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeExporter {
    /// Release version without the `v` (default [`defaults::NODE_EXPORTER_VERSION`]).
    pub version: String,
    /// sha256 of the release tarball per architecture.
    pub sha256: PerArch<String>,
    /// `--web.listen-address` (default `127.0.0.1:9100`).
    pub listen_address: std::net::SocketAddr,
    /// Prometheus `job` label of the scrape (default `node`).
    pub job: String,
    /// Enable node_exporter's systemd collector (default `true`; limited to the units the
    /// bootstrap installs, so alert rules can watch them).
    pub systemd_collector: bool,
}

/// `[logs]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logs {
    /// CloudWatch Logs group (default `/{name}/system`).
    pub group: String,
    /// Retention of the group in days, one of [`defaults::LOG_RETENTION_VALUES`]
    /// (default 30).
    pub retention_days: u32,
    /// Absolute paths of the files shipped (default [`defaults::LOG_FILES`]).
    pub files: Vec<String>,
}

/// `[network]`: the subnet and/or VPC of the hosts. Both empty means the region's
/// default VPC (and a subnet EC2 picks in it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Network {
    /// `subnet_id` (`subnet-…`): launch every host in this subnet.
    pub subnet_id: Option<String>,
    /// `vpc_id` (`vpc-…`): the VPC of the security group; must contain `subnet_id` when
    /// both are set. Without it, the subnet's VPC, else the default VPC.
    pub vpc_id: Option<String>,
}

/// One `[[hosts]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Unique host name (`[A-Za-z0-9][A-Za-z0-9._-]*`, ≤ 63 chars): directory name of the
    /// rendered files and EC2 `Name` tag.
    pub name: String,
    /// CPU architecture (default x86_64).
    pub architecture: Architecture,
    /// EC2 instance type (default `t3.micro` / `t4g.micro` by architecture).
    pub instance_type: String,
    /// External labels on every series from this host; always has `env`, `role`, `team`.
    /// `host` (the name) is added at render time, `instance_id` at boot.
    pub labels: BTreeMap<String, String>,
}

/// How the Amazon Managed Grafana workspace's IAM permissions are managed
/// (`[grafana] permission_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GrafanaPermissionType {
    /// `CUSTOMER_MANAGED` (default): monitor-provision creates and passes the workspace
    /// role, which is what the AMG API expects for workspaces created through the API.
    #[default]
    CustomerManaged,
    /// `SERVICE_MANAGED`: offered for parity with console-created workspaces; the role is
    /// still created and passed.
    ServiceManaged,
}

impl GrafanaPermissionType {
    /// The value used in `stack.toml` and by the AMG API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerManaged => "CUSTOMER_MANAGED",
            Self::ServiceManaged => "SERVICE_MANAGED",
        }
    }
}

/// `[grafana]`: Amazon Managed Grafana for the stack, provisioned by `monitor-provision`
/// when `enabled`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrafanaConfig {
    /// Create and manage the AMG workspace (default `false`).
    pub enabled: bool,
    /// IAM Identity Center group ids that get the Grafana ADMIN role.
    pub admin_group_ids: Vec<String>,
    /// IAM Identity Center group ids that get the Grafana EDITOR role.
    pub editor_group_ids: Vec<String>,
    /// IAM Identity Center group ids that get the Grafana VIEWER role.
    pub viewer_group_ids: Vec<String>,
    /// Permission type of the workspace (default `CUSTOMER_MANAGED`).
    pub permission_type: GrafanaPermissionType,
    /// Grafana version of a new workspace (default [`defaults::GRAFANA_VERSION`]).
    pub grafana_version: String,
}
