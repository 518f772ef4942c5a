//! What pages a human, rendered from the stack: the Prometheus rule files (recording rules
//! shared with the dashboards, host, exporter and collector alerts, one absence alert
//! per expected host, and the user's own files, validated first), the Alertmanager
//! configuration (AMP's SNS variant and a local webhook variant, one routing tree), and
//! the CloudWatch Logs metric filters and alarms. Pure: no I/O but reading the user's rule
//! files; `monitor-reconcile` sends the results to AWS and the local stack and tests load
//! them into a real Prometheus and Alertmanager.
//!
//! ```
//! let stack = monitor_stack::from_toml_str(
//!     "[alerting]\n[[hosts]]\nname = \"web-1\"\nlabels = { env = \"prod\", role = \"web\", team = \"ops\" }\n",
//!     std::path::Path::new("stack.toml"),
//! ).unwrap();
//! let namespaces = monitor_alerts::stack_rules(&stack).unwrap();
//! assert_eq!(namespaces[0].name, "monitoring-test");
//! let yaml = namespaces[0].file.to_yaml();
//! assert!(yaml.contains("alert: HostAbsent"));
//! assert!(yaml.contains("record: instance:node_cpu_utilisation:rate5m"));
//! ```

// Libraries never print: they report through return values, traits and `tracing`.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod absent;
pub mod alertmanager;
pub mod catalog;
mod error;
pub mod groups;
pub mod log_alarms;
pub mod model;
pub mod recording;
pub mod user;

use std::collections::BTreeMap;
use std::path::PathBuf;

use monitor_stack::{format_prometheus_duration, AlertingConfig, Stack};

use catalog::{AlertDef, Selectors};
pub use error::AlertsError;
use model::{AlertRule, Rule, RuleGroup, RulesFile};

/// How an alert's description names the host: by every label the stack puts on its series.
pub const HOST_REF: &str = "Host: {{ $labels.host }} ({{ $labels.instance_id }}; env={{ $labels.env }}, role={{ $labels.role }}, team={{ $labels.team }}).";

/// Where each alert's runbook section is: `docs/alerts.md` of this project, anchored by
/// the lower-cased alert name.
pub fn runbook_url(alert: &str) -> String {
    format!(
        "{}/blob/main/docs/alerts.md#{}",
        env!("CARGO_PKG_REPOSITORY"),
        alert.to_ascii_lowercase()
    )
}

/// Where a namespace's rules come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Rendered from the stack (recording, host, collector and absence rules).
    Shipped,
    /// One of `[alerting] rule_files`.
    User(PathBuf),
}

/// One AMP rule-groups namespace (one rules file for a local Prometheus).
#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    /// Namespace name: the stack name, or `<stack>-<file stem>` for a user file.
    pub name: String,
    /// Its rules.
    pub file: RulesFile,
    /// Where they come from.
    pub origin: Origin,
}

/// The stack's rule namespaces: the shipped one, then one per user file. With no
/// `[alerting]` table the shipped rules use the defaults (callers decide whether to send
/// them; [`Stack::alerting_enabled`] says whether the user asked for alerting).
///
/// # Errors
/// [`AlertsError::UnknownAlert`] / [`AlertsError::NotTunable`] for an override that does
/// not apply (naming the stack file and line), [`AlertsError::Read`] /
/// [`AlertsError::UserRules`] for a user file that cannot be read or is not valid.
pub fn stack_rules(stack: &Stack) -> Result<Vec<Namespace>, AlertsError> {
    stack_rules_with_members(stack, &[])
}

/// A running member of a `[[fleets]]` entry, as `monitor-provision` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetMember {
    /// `[[fleets]] name`.
    pub fleet: String,
    /// Its instance id: the `host` label its bootstrap sets.
    pub instance_id: String,
}

/// [`stack_rules`], with one absence rule per fleet member besides one per host: a
/// member is watched by its instance id (its `host` label), with its fleet's fixed labels
/// and `fleet`. Members are those found at apply time; one that joins later is watched
/// from the next apply (the fleet's association enrols it at once).
///
/// # Errors
/// As [`stack_rules`].
pub fn stack_rules_with_members(
    stack: &Stack,
    members: &[FleetMember],
) -> Result<Vec<Namespace>, AlertsError> {
    let default_cfg = AlertingConfig::default();
    let cfg = stack.alerting.as_ref().unwrap_or(&default_cfg);
    check_overrides(cfg)?;
    let sel = Selectors {
        node: format!("job=\"{}\"", stack.node_exporter.job),
    };
    let mut groups = vec![RuleGroup {
        name: format!("{}.recording", stack.name),
        interval: None,
        rules: recording::rules(&sel.node),
    }];
    let host_alerts = catalog::ALERTS
        .iter()
        .filter(|d| !d.needs_systemd || stack.node_exporter.systemd_collector)
        .filter_map(|d| alert_rule(d, &sel, cfg))
        .collect();
    groups.push(RuleGroup {
        name: format!("{}.hosts", stack.name),
        interval: None,
        rules: host_alerts,
    });
    let absent = &absent::HOST_ABSENT;
    let o = cfg.overrides.get(absent.name);
    if o.is_none_or(|o| o.enabled) {
        let window = o
            .and_then(|o| o.threshold)
            .unwrap_or_else(|| absent::default_window(stack.collector.scrape_interval));
        let for_ = o.and_then(|o| o.for_).unwrap_or(absent.for_);
        groups.push(RuleGroup {
            name: format!("{}.absent", stack.name),
            interval: None,
            rules: absent::rules(
                &sel,
                &watched(stack, members),
                window,
                &format_prometheus_duration(for_),
                &runbook_url(absent.name),
            ),
        });
    }
    let undersized = &crate::groups::GROUP_UNDERSIZED;
    let o = cfg.overrides.get(undersized.name);
    if !stack.groups.is_empty() && o.is_none_or(|o| o.enabled) {
        groups.push(RuleGroup {
            name: format!("{}.groups", stack.name),
            interval: None,
            rules: crate::groups::rules(
                &sel,
                &stack.groups,
                o.and_then(|o| o.for_).unwrap_or(undersized.for_),
                &runbook_url(undersized.name),
            ),
        });
    }
    let mut out = vec![Namespace {
        name: stack.name.clone(),
        file: RulesFile { groups },
        origin: Origin::Shipped,
    }];
    for path in &cfg.rule_files {
        let file = user::load(path)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Namespace {
            name: format!("{}-{}", stack.name, user::namespace_suffix(&stem)),
            file,
            origin: Origin::User(path.clone()),
        });
    }
    Ok(out)
}

/// Every override names a shipped alert, and a threshold only where there is one.
fn check_overrides(cfg: &AlertingConfig) -> Result<(), AlertsError> {
    for (name, o) in &cfg.overrides {
        let Some(def) = catalog::find(name) else {
            return Err(AlertsError::UnknownAlert {
                location: o.location.clone(),
                name: name.clone(),
                known: catalog::ALERTS
                    .iter()
                    .chain([&absent::HOST_ABSENT, &groups::GROUP_UNDERSIZED])
                    .map(|d| d.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        if o.threshold.is_some() && def.threshold.is_none() {
            return Err(AlertsError::NotTunable {
                location: o.location.clone(),
                name: name.clone(),
            });
        }
    }
    Ok(())
}

/// `def` as a rule with `cfg`'s override applied (`None` when disabled).
fn alert_rule(def: &AlertDef, sel: &Selectors, cfg: &AlertingConfig) -> Option<Rule> {
    let o = cfg.overrides.get(def.name);
    if o.is_some_and(|o| !o.enabled) {
        return None;
    }
    let threshold = o
        .and_then(|o| o.threshold)
        .or(def.threshold.map(|(t, _)| t))
        .unwrap_or_default();
    let for_ = o.and_then(|o| o.for_).unwrap_or(def.for_);
    Some(Rule::Alert(AlertRule {
        alert: def.name.to_string(),
        expr: (def.expr)(sel, threshold),
        for_: (!for_.is_zero()).then(|| format_prometheus_duration(for_)),
        keep_firing_for: None,
        labels: BTreeMap::from([("severity".to_string(), def.severity.as_str().to_string())]),
        annotations: BTreeMap::from([
            ("summary".to_string(), def.summary.to_string()),
            (
                "description".to_string(),
                format!("{} {HOST_REF}", def.description),
            ),
            ("runbook_url".to_string(), runbook_url(def.name)),
        ]),
    }))
}

/// The hosts and fleet members the absence rules watch, hosts first.
fn watched(stack: &Stack, members: &[FleetMember]) -> Vec<absent::Watched> {
    let mut out: Vec<absent::Watched> = stack.hosts.iter().map(absent::Watched::from).collect();
    for m in members {
        let Some(f) = stack.fleets.iter().find(|f| f.name == m.fleet) else {
            continue;
        };
        let mut labels = f.labels.clone();
        labels.insert(
            monitor_stack::defaults::FLEET_LABEL.to_string(),
            f.name.clone(),
        );
        out.push(absent::Watched {
            name: m.instance_id.clone(),
            labels,
        });
    }
    out
}
