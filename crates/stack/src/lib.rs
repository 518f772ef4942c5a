//! The stack model: what `stack.toml` describes (name, region, collector, log shipping,
//! hosts and their labels), loaded and validated into plain typed values before anything
//! renders or provisions.
//!
//! Loading is two steps, like a Vector component config: serde reads the file into
//! `deny_unknown_fields` structs ([`mod@file`]) that keep the position of every value, then a
//! pure validation pass fills the documented defaults ([`defaults`]) and checks every
//! value, so each error names the file, the line and the key to fix
//! (``stack.toml:9:16: key `hosts[0].labels.Bad-Name`: …``). Values come out typed:
//! `[collector] kind` is a [`CollectorKind`] whose variant holds only that collector's
//! keys, durations are [`std::time::Duration`] (parsed with `humantime`), addresses are
//! [`std::net::SocketAddr`].
//!
//! `[grafana]` ([`GrafanaConfig`]) turns on Amazon Managed Grafana (`enabled = true`)
//! and lists the IAM Identity Center groups per Grafana role. `[alerting]`
//! ([`AlertingConfig`]) says who is paged for which [`Severity`], overrides shipped alerts
//! and adds the user's rule files (rendered by `monitor-alerts`). A new section is an
//! `Option<…>` in [`file::StackFile`] and [`Stack`], validated in the same pass.
//!
//! ```
//! let text = r#"
//! [[hosts]]
//! name = "web-1"
//! labels = { env = "prod", role = "web", team = "platform" }
//! "#;
//! let stack = monitor_stack::from_toml_str(text, "stack.toml".as_ref()).unwrap();
//! assert_eq!(stack.name, "monitoring-test");
//! assert_eq!(stack.logs.group, "/monitoring-test/system");
//! assert_eq!(stack.hosts[0].instance_type, "t3.micro");
//! assert_eq!(stack.logs.retention_days, 30);
//! assert_eq!(stack.network.subnet_id, None);
//! assert_eq!(stack.collector.scrape_interval, std::time::Duration::from_secs(15));
//! assert!(matches!(stack.collector.kind, monitor_stack::CollectorKind::Adot(_)));
//! ```

// Libraries never print: they report through return values, traits and `tracing`.
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod alerting;
mod error;
mod estimate;
pub mod file;
mod fleets;
mod groups;
mod model;
mod validate;

use std::path::Path;

pub use alerting::{
    redact_endpoint, AlertingConfig, AlertingFile, Protocol, RuleOverride, RuleOverrideFile,
    Severity, Subscriber,
};
pub use error::{Location, StackError};
pub use estimate::{EstimateConfig, EstimateFile, QuotasFile};
pub use fleets::{is_metadata_tag_key, Fleet, FleetFile, FLEET_NAME_MAX};
pub use groups::{Group, GroupFile, GROUP_NAME_MAX, GROUP_SIZE_MAX};
pub use model::{
    defaults, format_prometheus_duration, Adot, Architecture, Artifact, Collector, CollectorKind,
    GrafanaConfig, GrafanaPermissionType, Host, Logs, MetricSelection, MonitorAgent, Network,
    NodeExporter, PerArch, Stack,
};
pub use validate::is_identity_store_group_id;

/// Reads and validates the stack file at `path`.
///
/// # Errors
/// [`StackError::Read`] if the file cannot be read; [`StackError::Parse`] /
/// [`StackError::Invalid`] (with file, line and key) if its content is not acceptable.
pub fn load(path: &Path) -> Result<Stack, StackError> {
    let text = std::fs::read_to_string(path).map_err(|source| StackError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    from_toml_str(&text, path)
}

/// Parses and validates stack TOML `text`; `path` is only used in error messages and
/// recorded as [`Stack::source`].
///
/// # Errors
/// [`StackError::Parse`] or [`StackError::Invalid`], naming `path`, the line and the key.
pub fn from_toml_str(text: &str, path: &Path) -> Result<Stack, StackError> {
    let file: file::StackFile = toml::from_str(text).map_err(|e| {
        let span = e.span();
        let key = span.as_ref().map_or_else(
            || "(top level)".to_string(),
            |s| error::key_at(text, s.start),
        );
        StackError::Parse {
            location: Location::of_span(path, text, span),
            key,
            message: e.message().trim().to_string(),
        }
    })?;
    validate::validate(&validate::Ctx { path, text }, file)
}

#[cfg(test)]
mod tests;
