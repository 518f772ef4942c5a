//! **Group undersized**: one alert per `[[groups]]` entry, firing when fewer of its
//! instances report `up == 1` for its node_exporter scrape than the group's `desired`
//! capacity. Its instances are not known at render time (Auto Scaling replaces them), so
//! they are counted by their `group` label; with no series at all the count is 0, not
//! absent (`or vector(0)`), so a group whose every instance is gone still fires.

use std::collections::BTreeMap;
use std::time::Duration;

use monitor_promql as q;
use monitor_stack::{defaults, format_prometheus_duration, Group, Severity};

use crate::catalog::{AlertDef, Selectors};
use crate::model::{AlertRule, Rule};

/// The alert's definition; its threshold is the group's `desired` (not tunable: change
/// `desired` in the stack file).
pub const GROUP_UNDERSIZED: AlertDef = AlertDef {
    name: "GroupUndersized",
    severity: Severity::Warning,
    for_: Duration::from_secs(600),
    threshold: None,
    summary: "Auto Scaling group {{ $labels.group }} has {{ $value }} monitored instance(s), fewer than desired",
    description: "Fewer instances of the group send metrics than its desired capacity: instances fail to launch or to bootstrap, or an instance refresh is stuck.",
    expr: |s, desired| {
        format!(
            "(count(up{{{}}} == 1) or vector(0)) < {}",
            s.node,
            desired.round()
        )
    },
    needs_systemd: false,
};

/// One rule per group with `desired` > 0 (a group scaled to zero expects nothing).
pub fn rules(node: &Selectors, groups: &[Group], for_: Duration, runbook: &str) -> Vec<Rule> {
    groups
        .iter()
        .filter(|g| g.desired > 0)
        .map(|g| {
            let sel = Selectors {
                node: q::with_matchers(
                    &node.node,
                    &format!("{}=\"{}\"", defaults::GROUP_LABEL, g.name),
                ),
            };
            let mut labels = BTreeMap::from([
                (
                    "severity".to_string(),
                    GROUP_UNDERSIZED.severity.as_str().to_string(),
                ),
                (defaults::GROUP_LABEL.to_string(), g.name.clone()),
            ]);
            for k in defaults::REQUIRED_LABELS {
                if let Some(v) = g.labels.get(*k) {
                    labels.insert((*k).to_string(), v.clone());
                }
            }
            Rule::Alert(AlertRule {
                alert: GROUP_UNDERSIZED.name.to_string(),
                expr: (GROUP_UNDERSIZED.expr)(&sel, f64::from(g.desired)),
                for_: Some(format_prometheus_duration(for_)),
                keep_firing_for: None,
                labels,
                annotations: BTreeMap::from([
                    // The count has no labels to template from: the name is written in.
                    (
                        "summary".to_string(),
                        GROUP_UNDERSIZED
                            .summary
                            .replace("{{ $labels.group }}", &g.name),
                    ),
                    (
                        "description".to_string(),
                        format!(
                            "{} Group: {} (desired {}, min {}, max {}).",
                            GROUP_UNDERSIZED.description, g.name, g.desired, g.min, g.max
                        ),
                    ),
                    ("runbook_url".to_string(), runbook.to_string()),
                ]),
            })
        })
        .collect()
}
