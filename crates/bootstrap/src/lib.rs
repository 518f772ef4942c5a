//! Host bootstrap rendering: turns the typed stack model into everything a fresh Amazon
//! Linux 2023 instance needs to become a monitored host — node_exporter, a metrics
//! collector (ADOT or `monitor-agent`) remote-writing to AMP, and the CloudWatch Agent
//! shipping system logs — as one EC2 user_data script plus the list of files it writes.
//! For a `[[fleets]]` entry, [`render_fleet`] renders the same installation as an SSM
//! Command document that enrols (and, with `action=uninstall`, releases) instances a
//! team already runs.
//!
//! Rendering is pure and synchronous: no network, no clock, no randomness, so the output
//! is snapshot-tested byte for byte. Every config file is built from typed structs
//! ([`adot`], [`agent`], [`cwagent`], [`systemd`]) and serialised; the bash script embeds
//! them with quoted heredocs. See `docs/bootstrap.md` for what the script does and why.
//!
//! ```
//! let stack = monitor_stack::from_toml_str(r#"
//! [[hosts]]
//! name = "web-1"
//! labels = { env = "prod", role = "web", team = "platform" }
//! "#, "stack.toml".as_ref()).unwrap();
//! let inputs = monitor_bootstrap::RenderInputs {
//!     workspace_id: Some("ws-1234abcd".into()),
//!     ..Default::default()
//! };
//! let host = monitor_bootstrap::render_host(&stack, &stack.hosts[0], &inputs).unwrap();
//! assert!(host.user_data.starts_with("#!/bin/bash\n"));
//! assert!(host.user_data.len() <= monitor_bootstrap::USER_DATA_LIMIT);
//! assert!(host.files.iter().any(|f| f.path == monitor_bootstrap::ADOT_CONFIG_PATH));
//! ```

// Libraries never print: they report through return values, traits and `tracing`.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod adot;
pub mod agent;
pub mod collectors;
pub mod cwagent;
mod fleet;
mod render;
mod script;
pub mod systemd;

use monitor_stack::Architecture;

pub use fleet::{
    fleet_cwagent_config_path, fleet_marker_dir, render_fleet, RenderedFleet,
    FLEET_ACTION_PARAMETER, FLEET_INSTALL, FLEET_MARKER_ROOT, FLEET_UNINSTALL, SSM_DOCUMENT_LIMIT,
};
pub use monitor_stack::defaults::{
    NODE_EXPORTER_SHA256_ARM64, NODE_EXPORTER_SHA256_X86_64, NODE_EXPORTER_VERSION,
};
pub use render::{render_all, render_group, render_host};

/// EC2 user_data limit: 16 KB of raw data, before base64.
pub const USER_DATA_LIMIT: usize = 16 * 1024;

/// AMP workspace id used when rendering offline without `--workspace-id`; the user_data
/// says so in a comment, and remote write fails until the real id is rendered in.
pub const PLACEHOLDER_WORKSPACE_ID: &str = "ws-PLACEHOLDER-set-by-monitor-provision";

/// Stands for the EC2 instance id in rendered collector configs. The script reads the id
/// from IMDSv2 at boot and replaces this token (with `sed` on a host, bash pattern
/// replacement on a fleet member); the id is checked against `^i-[0-9a-f]{8,17}$` first,
/// so the substitution cannot inject anything.
pub const INSTANCE_ID_SENTINEL: &str = "__INSTANCE_ID__";

/// Stands for the availability zone in a `[[groups]]` instance's collector config,
/// replaced at boot like [`INSTANCE_ID_SENTINEL`] by the zone read from IMDSv2 (checked
/// against `^[a-z0-9-]{4,40}$` first).
pub const AVAILABILITY_ZONE_SENTINEL: &str = "__AVAILABILITY_ZONE__";

/// Label carrying the instance id on every series.
pub const INSTANCE_ID_LABEL: &str = "instance_id";

/// The only path the ADOT collector reads its config from (the seed's gotcha #2).
pub const ADOT_CONFIG_PATH: &str = "/opt/aws/aws-otel-collector/etc/config.yaml";
/// ADOT control script.
pub const ADOT_CTL: &str = "/opt/aws/aws-otel-collector/bin/aws-otel-collector-ctl";
/// ADOT RPM signing key, published next to the RPMs.
pub const ADOT_GPG_KEY_URL: &str =
    "https://aws-otel-collector.s3.amazonaws.com/aws-otel-collector.gpg";

/// CloudWatch Agent config written by the script and loaded with `fetch-config`.
pub const CWAGENT_CONFIG_PATH: &str = "/opt/aws/amazon-cloudwatch-agent/etc/config.json";
/// CloudWatch Agent control script.
pub const CWAGENT_CTL: &str = "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl";

/// node_exporter binary.
pub const NODE_EXPORTER_BINARY: &str = "/usr/local/bin/node_exporter";
/// node_exporter unit.
pub const NODE_EXPORTER_UNIT_PATH: &str = "/etc/systemd/system/node_exporter.service";

/// monitor-agent binary.
pub const AGENT_BINARY: &str = "/usr/local/bin/monitor-agent";
/// monitor-agent config (schema of `monitor_collector::config`).
pub const AGENT_CONFIG_PATH: &str = "/etc/monitor-agent/config.toml";
/// monitor-agent unit.
pub const AGENT_UNIT_PATH: &str = "/etc/systemd/system/monitor-agent.service";

/// What the caller knows at render time beyond the stack file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderInputs {
    /// AMP workspace id (`ws-…`); `None` renders [`PLACEHOLDER_WORKSPACE_ID`].
    pub workspace_id: Option<String>,
    /// Regex of the metric names node_exporter's scrape keeps (a `keep` rule on
    /// `__name__` in the collector's `metric_relabel_configs`); `None` ships everything.
    /// `monitor_reconcile::allowlist` derives it from the stack.
    pub keep_metrics: Option<String>,
    /// node_exporter collectors to enable instead of its defaults
    /// (`--collector.disable-defaults --collector.<name>…`; see
    /// [`collectors::node_exporter_collectors`]); `None` keeps the defaults.
    pub node_collectors: Option<Vec<String>>,
}

/// A Prometheus `metric_relabel_configs` entry keeping the series whose `__name__`
/// matches: the same keys in monitor-agent's TOML and ADOT's embedded Prometheus YAML.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepRule {
    /// `["__name__"]`.
    pub source_labels: Vec<String>,
    /// The allowlist as one regex (anchored by the collector).
    pub regex: String,
    /// `keep`.
    pub action: String,
}

impl KeepRule {
    /// The rules for `inputs.keep_metrics`: one keep rule, or none.
    pub fn for_inputs(inputs: &RenderInputs) -> Vec<KeepRule> {
        inputs
            .keep_metrics
            .iter()
            .map(|regex| KeepRule {
                source_labels: vec!["__name__".into()],
                regex: regex.clone(),
                action: "keep".into(),
            })
            .collect()
    }
}

/// One file the user_data writes on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Absolute on-host path.
    pub path: String,
    /// Unix permission bits (e.g. `0o644`).
    pub mode: u32,
    /// Content as embedded in the user_data.
    pub content: String,
    /// Whether the script replaces [`INSTANCE_ID_SENTINEL`] in it with the instance id
    /// after writing it.
    pub fills_instance_id: bool,
}

/// Everything rendered for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedHost {
    /// Host name from the stack.
    pub host: String,
    /// The user_data exactly as EC2 receives it (before base64): a `#!/bin/bash` script.
    pub user_data: String,
    /// The files the script writes, in the order it writes them.
    pub files: Vec<RenderedFile>,
}

/// What can go wrong rendering a host or a fleet.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The rendered script is over EC2's 16 KB user_data limit.
    #[error(
        "user_data for host `{host}` is {size} bytes, over the EC2 limit of {limit} bytes \
         (raw, before base64): use fewer or shorter labels or log files for this host"
    )]
    UserDataTooLarge {
        /// Host name.
        host: String,
        /// Rendered size in bytes.
        size: usize,
        /// The limit ([`USER_DATA_LIMIT`]).
        limit: usize,
    },
    /// The rendered SSM Command document is over SSM's 64 KB content limit.
    #[error(
        "the SSM document of fleet `{fleet}` is {size} bytes, over the SSM limit of {limit} \
         bytes: use fewer or shorter labels or log files for this fleet"
    )]
    DocumentTooLarge {
        /// Fleet name.
        fleet: String,
        /// Rendered size in bytes.
        size: usize,
        /// The limit ([`SSM_DOCUMENT_LIMIT`]).
        limit: usize,
    },
    /// `--workspace-id` is not an AMP workspace id.
    #[error(
        "`{id}` is not an AMP workspace id (expected `ws-` followed by letters, digits and `-`)"
    )]
    InvalidWorkspaceId {
        /// The rejected id.
        id: String,
    },
    /// The stack has no monitor-agent binary for this host's architecture.
    #[error(
        "host `{host}` is {architecture} but the stack has no monitor-agent binary for it: \
         set agent_url_{architecture} and agent_sha256_{architecture} in [collector]"
    )]
    MissingAgentBinary {
        /// Host name.
        host: String,
        /// Its architecture.
        architecture: Architecture,
    },
    /// A value would break the file or script it is embedded in.
    #[error("cannot embed {what}: {detail}")]
    UnsafeContent {
        /// The file or value concerned.
        what: String,
        /// Why.
        detail: String,
    },
    /// A typed config failed to serialise (a bug, not a user error).
    #[error("cannot serialise {what}: {message}")]
    Serialize {
        /// Which file.
        what: String,
        /// Serializer message.
        message: String,
    },
}

/// `https://aps-workspaces.<region>.amazonaws.com/workspaces/<ws>/api/v1/remote_write`.
pub fn remote_write_url(region: &str, workspace_id: &str) -> String {
    format!("https://aps-workspaces.{region}.amazonaws.com/workspaces/{workspace_id}/api/v1/remote_write")
}

/// The node_exporter release tarball name for `version` on `arch`.
pub fn node_exporter_tarball(version: &str, arch: Architecture) -> String {
    format!("node_exporter-{version}.linux-{}.tar.gz", arch.go_arch())
}

/// Upstream download URL of the node_exporter tarball.
pub fn node_exporter_url(version: &str, arch: Architecture) -> String {
    format!(
        "https://github.com/prometheus/node_exporter/releases/download/v{version}/{}",
        node_exporter_tarball(version, arch)
    )
}

/// Versioned ADOT collector RPM URL (`version` is the release tag, `v0.49.0`).
pub fn adot_rpm_url(version: &str, arch: Architecture) -> String {
    format!(
        "https://aws-otel-collector.s3.amazonaws.com/amazon_linux/{}/{version}/aws-otel-collector.rpm",
        arch.go_arch()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            remote_write_url("eu-west-1", "ws-1"),
            "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
        );
        assert_eq!(
            node_exporter_url("1.9.1", Architecture::Arm64),
            "https://github.com/prometheus/node_exporter/releases/download/v1.9.1/node_exporter-1.9.1.linux-arm64.tar.gz"
        );
        assert_eq!(
            adot_rpm_url("v0.49.0", Architecture::X86_64),
            "https://aws-otel-collector.s3.amazonaws.com/amazon_linux/amd64/v0.49.0/aws-otel-collector.rpm"
        );
    }
}
