//! Our own dashboards as typed Grafana dashboard JSON (schema 39, Grafana 10.4+):
//! [`model`] the JSON schema types, [`hosts_dashboard`] and [`logs_dashboard`], and
//! [`structural_problems`], the linter the tests run on both.
//!
//! Only the parts of Grafana's dashboard model that these dashboards use are modelled;
//! everything is serialised with `serde_json` from the structs below, never templated.
//! The PromQL of the hosts dashboard comes from `monitor-promql`, shared with the
//! `monitor-verify` metrics checks.
//!
//! Host identity: every collector on a host scrapes `127.0.0.1:9100`, so the scraper's
//! `instance` label is the same on every host. The host is told apart by the
//! `instance_id` external label (the EC2 instance id, also the CloudWatch log stream
//! name). The dashboards' `instance` variable therefore lists and filters `instance_id`.

mod hosts;
mod layout;
mod lint;
mod logs;
pub mod model;

pub use hosts::{firing_alerts_query, host_selector, hosts_dashboard};
pub use lint::{panel_queries, structural_problems, variable_queries};
pub use logs::{logs_dashboard, logs_query};
pub use model::*;

/// Dashboard JSON schema version written (Grafana 10.4 writes 39; later versions migrate
/// it on load).
pub const SCHEMA_VERSION: u32 = 39;
/// Name of the Prometheus datasource template variable every Prometheus target uses.
pub const DS_PROMETHEUS_VAR: &str = "ds_prometheus";
/// Name of the CloudWatch datasource template variable of the logs dashboard.
pub const DS_CLOUDWATCH_VAR: &str = "ds_cloudwatch";
/// The Logs Insights query of the stack seed (all streams, newest first).
pub const SEED_LOGS_QUERY: &str =
    "fields @timestamp, @logStream, @message | sort @timestamp desc | limit 10000";
/// The `job` label of the node_exporter scrape (stack default `[node_exporter] job`).
pub const NODE_JOB: &str = "node";
/// Plugin id of Grafana's core Prometheus datasource.
pub const PROMETHEUS_CORE_TYPE: &str = "prometheus";

pub(crate) fn ds_variable(name: &str, label: &str, plugin: &str) -> Variable {
    Variable {
        kind: VariableKind::Datasource,
        name: name.into(),
        label: label.into(),
        query: plugin.into(),
        definition: None,
        datasource: None,
        refresh: 1,
        multi: false,
        include_all: false,
        all_value: None,
        hide: 0,
        sort: 0,
        regex: String::new(),
        current: None,
        options: Vec::new(),
    }
}

fn label_variable(name: &str, label: &str, query: String) -> Variable {
    Variable {
        kind: VariableKind::Query,
        name: name.into(),
        label: label.into(),
        definition: Some(query.clone()),
        query,
        datasource: Some(DatasourceRef::var(PROMETHEUS_CORE_TYPE, DS_PROMETHEUS_VAR)),
        refresh: 2,
        multi: true,
        include_all: true,
        all_value: Some(".*".into()),
        hide: 0,
        sort: 1,
        regex: String::new(),
        current: Some(VariableCurrent {
            selected: true,
            text: vec!["All".into()],
            value: vec!["$__all".into()],
        }),
        options: Vec::new(),
    }
}

/// The host filter variables: `env`, `role`, `team`, `instance` (chained: each lists the
/// values left by the ones before it).
pub(crate) fn host_variables() -> Vec<Variable> {
    let up = |filter: &str, label: &str| {
        format!("label_values(up{{job=\"{NODE_JOB}\"{filter}}}, {label})")
    };
    vec![
        label_variable("env", "Environment", up("", "env")),
        label_variable("role", "Role", up(",env=~\"$env\"", "role")),
        label_variable("team", "Team", up(",env=~\"$env\",role=~\"$role\"", "team")),
        label_variable(
            "instance",
            "Instance",
            up(
                ",env=~\"$env\",role=~\"$role\",team=~\"$team\"",
                "instance_id",
            ),
        ),
    ]
}

/// A uid for Grafana (≤ 40 chars, `[A-Za-z0-9_-]`), derived from the stack name.
pub fn stack_uid(stack_name: &str, suffix: &str) -> String {
    let clean: String = stack_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let max = 40usize.saturating_sub(suffix.len() + 1);
    let head: String = clean.chars().take(max).collect();
    format!("{head}-{suffix}")
}
