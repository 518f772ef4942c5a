//! The `monitor-agent` configuration (`/etc/monitor-agent/config.toml`) as typed structs,
//! in the schema `monitor_collector::config::AgentConfig` parses.
//!
//! `[queue]` puts the agent's durable on-disk queue in `/var/lib/monitor-agent/queue`,
//! inside the unit's `StateDirectory=monitor-agent` (the one writable place under
//! `ProtectSystem=strict`), so an AMP outage or a reboot loses no samples.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Root of the agent's TOML config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// External labels on every series.
    pub labels: BTreeMap<String, String>,
    /// `[[scrape]]` targets.
    pub scrape: Vec<Scrape>,
    /// `[remote_write]`.
    pub remote_write: RemoteWrite,
    /// `[queue]`: the durable on-disk queue.
    pub queue: Queue,
}

/// Directory of the agent's on-disk queue (inside its systemd `StateDirectory`).
pub const QUEUE_DIR: &str = "/var/lib/monitor-agent/queue";

/// `[queue]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// Queue directory.
    pub dir: String,
    /// Size bound, e.g. `512MiB` (oldest data dropped and counted beyond it).
    pub max_size: String,
}

/// One `[[scrape]]` target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scrape {
    /// `job` label.
    pub job: String,
    /// Metrics URL.
    pub url: String,
    /// e.g. `15s`.
    pub interval: String,
    /// e.g. `10s`.
    pub timeout: String,
    /// `[[scrape.metric_relabel_configs]]`: the metric allowlist, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_relabel_configs: Vec<crate::KeepRule>,
}

/// `[remote_write]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWrite {
    /// AMP remote-write URL.
    pub url: String,
    /// SigV4 signing (credentials from the instance profile).
    pub sigv4: SigV4,
}

/// `remote_write.sigv4`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigV4 {
    /// Region of the AMP workspace.
    pub region: String,
}
