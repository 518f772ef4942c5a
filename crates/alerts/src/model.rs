//! The Prometheus rules-file format as typed structs: what `promtool check rules`, a
//! Prometheus server and an AMP rule-groups namespace read
//! (<https://prometheus.io/docs/prometheus/latest/configuration/recording_rules/>).
//! Serialises to the YAML Prometheus expects; deserialises a user's file strictly (an
//! unknown key is an error, as in Prometheus).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A rules file: `groups:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// The groups, evaluated independently.
    pub groups: Vec<RuleGroup>,
}

/// One group: its rules are evaluated in order, at the group's interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    /// Unique within the file.
    pub name: String,
    /// Evaluation interval (default: the server's global one; 1 minute on AMP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// A recording or an alerting rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Rule {
    /// `record:`.
    Recording(RecordingRule),
    /// `alert:`.
    Alert(AlertRule),
}

impl Rule {
    /// The rule's expression.
    pub fn expr(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.expr,
            Rule::Alert(a) => &a.expr,
        }
    }

    /// The recorded series' or the alert's name.
    pub fn name(&self) -> &str {
        match self {
            Rule::Recording(r) => &r.record,
            Rule::Alert(a) => &a.alert,
        }
    }
}

/// `record: level:metric:operations` with its expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingRule {
    /// The new series' name.
    pub record: String,
    /// PromQL.
    pub expr: String,
    /// Labels added to the result.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `alert: Name`: fires for every series `expr` returns for longer than `for`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Alert name (the `alertname` label).
    pub alert: String,
    /// PromQL; each returned series is one alert.
    pub expr: String,
    /// How long the condition must hold before the alert fires (absent: at once).
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    /// How long the alert keeps firing after the condition cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<String>,
    /// Labels added to the alert (`severity`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Templated text (`summary`, `description`, `runbook_url`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl RulesFile {
    /// The file as Prometheus YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).expect("rules serialise to YAML")
    }

    /// Every rule of every group.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.groups.iter().flat_map(|g| g.rules.iter())
    }

    /// Every alerting rule.
    pub fn alerts(&self) -> impl Iterator<Item = &AlertRule> {
        self.rules().filter_map(|r| match r {
            Rule::Alert(a) => Some(a),
            Rule::Recording(_) => None,
        })
    }
}
