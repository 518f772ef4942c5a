//! The `monitor-agent` configuration (`/etc/monitor-agent/config.toml`) as typed structs,
//! in the schema `monitor_collector::config::AgentConfig` parses.
//!
//! No `[queue]` table: the agent's queue is in memory (`[queue]` accepts only
//! `max_samples`, whose default is kept), so the `dir` key of the original schema sketch
//! would be rejected as unknown. The unit still gets `StateDirectory=monitor-agent`
//! (`/var/lib/monitor-agent`), the one writable place for an on-disk queue later.

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
