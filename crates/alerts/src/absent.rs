//! **Host absent**: with remote_write a dead host, or a dead collector, sends nothing, so
//! `up == 0` never fires and every other alert goes quiet. One alert per host the stack
//! expects, matching its `host` label (set at render time by the bootstrap), fires when
//! no `up` sample of its node_exporter scrape arrived for the window. `up == 0` (the
//! collector alive, the exporter down) stays [`NodeExporterDown`](crate::catalog::ALERTS).

use std::collections::BTreeMap;
use std::time::Duration;

use monitor_promql as q;
use monitor_stack::{defaults, Severity};

use crate::catalog::{AlertDef, Selectors};
use crate::model::{AlertRule, Rule};

/// The absence alert's definition; its threshold is the window of silence in seconds.
pub const HOST_ABSENT: AlertDef = AlertDef {
    name: "HostAbsent",
    severity: Severity::Critical,
    for_: Duration::from_secs(120),
    threshold: Some((
        120.0,
        "seconds without a sample from the host (at least 4 scrape intervals)",
    )),
    summary: "{{ $labels.host }} sends no metrics",
    description: "No sample from this host reached the workspace: the instance is down, its collector is stopped or cannot reach AMP.",
    expr: |s, t| format!("absent_over_time(up{{{}}}[{}s])", s.node, t.round()),
    needs_systemd: false,
};

/// The window of silence when `[alerting.rules.HostAbsent] threshold` is not set: 2
/// minutes, or 4 scrape intervals if that is longer.
pub fn default_window(scrape_interval: Duration) -> f64 {
    HOST_ABSENT
        .threshold
        .map_or(120.0, |(t, _)| t)
        .max(4.0 * scrape_interval.as_secs_f64())
}

/// What one absence rule watches: the `host` label value and the labels its alert
/// carries (the required ones, and `fleet` for a fleet member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// The `host` label: a `[[hosts]]` name, or a fleet member's instance id.
    pub name: String,
    /// The host's labels (those of [`defaults::REQUIRED_LABELS`] and `fleet` are copied
    /// onto the alert).
    pub labels: BTreeMap<String, String>,
}

impl From<&monitor_stack::Host> for Watched {
    fn from(h: &monitor_stack::Host) -> Watched {
        Watched {
            name: h.name.clone(),
            labels: h.labels.clone(),
        }
    }
}

/// One absence rule per watched host: `window` seconds of silence for `for_`.
pub fn rules(
    node: &Selectors,
    hosts: &[Watched],
    window: f64,
    for_: &str,
    runbook: &str,
) -> Vec<Rule> {
    hosts
        .iter()
        .map(|h| {
            let sel = Selectors {
                node: q::with_matchers(
                    &node.node,
                    &format!("{}=\"{}\"", defaults::HOST_LABEL, h.name),
                ),
            };
            let mut labels = BTreeMap::from([(
                "severity".to_string(),
                HOST_ABSENT.severity.as_str().to_string(),
            )]);
            for k in defaults::REQUIRED_LABELS
                .iter()
                .chain(&[defaults::FLEET_LABEL])
            {
                if let Some(v) = h.labels.get(*k) {
                    labels.insert((*k).to_string(), v.clone());
                }
            }
            let who = defaults::REQUIRED_LABELS
                .iter()
                .filter_map(|k| h.labels.get(*k).map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(", ");
            Rule::Alert(AlertRule {
                alert: HOST_ABSENT.name.to_string(),
                expr: (HOST_ABSENT.expr)(&sel, window),
                for_: Some(for_.to_string()),
                keep_firing_for: None,
                labels,
                annotations: BTreeMap::from([
                    ("summary".to_string(), HOST_ABSENT.summary.to_string()),
                    (
                        "description".to_string(),
                        format!(
                            "{} Host: {} ({who}); silent for more than {}s.",
                            HOST_ABSENT.description,
                            h.name,
                            window.round()
                        ),
                    ),
                    ("runbook_url".to_string(), runbook.to_string()),
                ]),
            })
        })
        .collect()
}
