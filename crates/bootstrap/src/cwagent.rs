//! The CloudWatch Agent configuration (JSON) as typed structs: log files only.

use serde::{Deserialize, Serialize};

/// Root of the CloudWatch Agent JSON config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CwAgentConfig {
    /// `agent`; absent in a fleet member's config, which is merged with the instance's
    /// own (the agent then runs as root and sends to the instance's region, its defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentSection>,
    /// `logs`.
    pub logs: LogsSection,
}

/// `agent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// Region of the log group.
    pub region: String,
    /// `root`: `/var/log/messages` is root-only (0600); the RPM's `cwagent` user cannot
    /// read it.
    pub run_as_user: String,
}

/// `logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsSection {
    /// `logs_collected`.
    pub logs_collected: LogsCollected,
}

/// `logs.logs_collected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsCollected {
    /// `files`.
    pub files: Files,
}

/// `logs.logs_collected.files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Files {
    /// One entry per file.
    pub collect_list: Vec<CollectEntry>,
}

/// One `collect_list` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectEntry {
    /// Absolute path (globs allowed).
    pub file_path: String,
    /// Destination log group.
    pub log_group_name: String,
    /// Destination stream; `{instance_id}` is filled in by the agent.
    pub log_stream_name: String,
    /// Timestamps in UTC.
    pub timezone: String,
}

/// The log stream name: the agent replaces `{instance_id}` itself.
pub const LOG_STREAM_NAME: &str = "{instance_id}";

/// Builds the config shipping `files` to `group` in `region`.
pub fn config(region: &str, group: &str, files: &[String]) -> CwAgentConfig {
    CwAgentConfig {
        agent: Some(AgentSection {
            region: region.to_string(),
            run_as_user: "root".to_string(),
        }),
        ..logs_config(group, files)
    }
}

/// Builds a config with only the `logs` section, shipping `files` to `group`: what a
/// fleet member appends beside the CloudWatch Agent configuration its team may already
/// have. The agent merges every appended file and refuses two that set one `agent` key
/// to different values, so this one sets none: the defaults (run as root, the
/// instance's region) are what the stack needs on a member of a fleet in its region.
pub fn logs_config(group: &str, files: &[String]) -> CwAgentConfig {
    CwAgentConfig {
        agent: None,
        logs: LogsSection {
            logs_collected: LogsCollected {
                files: Files {
                    collect_list: files
                        .iter()
                        .map(|f| CollectEntry {
                            file_path: f.clone(),
                            log_group_name: group.to_string(),
                            log_stream_name: LOG_STREAM_NAME.to_string(),
                            timezone: "UTC".to_string(),
                        })
                        .collect(),
                },
            },
        },
    }
}
