//! The Alertmanager configuration: one routing tree for AMP's managed Alertmanager (SNS
//! receivers, one topic per notified severity) and a local Alertmanager (one webhook),
//! so what a test proves locally is the routing AMP gets.
//!
//! Routing: one child route per notified severity, grouped by host, with a repeat
//! interval by urgency; severities not notified go to a receiver with no integrations
//! (visible in Grafana's Alerting UI, nobody paged). A host that is absent inhibits that
//! host's other alerts, a critical alert the warning of the same name and host.
//!
//! AMP's definition file (`AMP-UG/AMP-alertmanager-config.html`) is YAML with
//! `template_files` and `alertmanager_config` as a **string**; SNS is its only receiver
//! type and `sigv4.region` is required there (`AMP-UG/AMP-alertmanager-receiver-config.html`).

use std::collections::BTreeMap;
use std::time::Duration;

use monitor_stack::{format_prometheus_duration, Severity};
use serde::Serialize;

/// Name of the SNS template file in AMP's definition (`template_files` key).
pub const TEMPLATE_NAME: &str = "monitor_sns_template";

/// SNS subject and message templates. The subject stays under SNS's 100-character limit
/// (each label cut to 35 characters) and starts with `[`; the message lists at most 20
/// alerts (SNS messages are limited to 256 KB).
pub const SNS_TEMPLATE: &str = r#"{{ define "monitor.sns.subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.severity }} {{ if .CommonLabels.alertname }}{{ reReplaceAll "^(.{0,35}).*$" "$1" .CommonLabels.alertname }}{{ else }}{{ len .Alerts }} alerts{{ end }}{{ if .GroupLabels.host }} on {{ reReplaceAll "^(.{0,35}).*$" "$1" .GroupLabels.host }}{{ end }}{{ end }}
{{ define "monitor.sns.message" }}{{ range $i, $a := .Alerts }}{{ if lt $i 20 }}{{ $a.Status | toUpper }} {{ $a.Labels.severity }}: {{ $a.Labels.alertname }}
{{ $a.Annotations.summary }}
{{ $a.Annotations.description }}
Runbook: {{ $a.Annotations.runbook_url }}
Since: {{ $a.StartsAt }}

{{ end }}{{ end }}{{ if gt (len .Alerts) 20 }}(20 of {{ len .Alerts }} alerts shown)
{{ end }}{{ end }}
"#;

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// AMP: an SNS topic per notified severity, signed for `region`.
    Sns {
        /// The workspace's region.
        region: String,
        /// Topic ARN per severity.
        topics: BTreeMap<Severity, String>,
    },
    /// Local: every notified severity to one webhook.
    Webhook {
        /// The receiver's URL.
        url: String,
    },
}

/// Grouping delays (Alertmanager's defaults are 30 s and 5 min; tests shorten them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Wait before the first notification of a new group.
    pub group_wait: Duration,
    /// Wait before notifying about new alerts in a group already notified.
    pub group_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
        }
    }
}

/// How often a still-firing group is re-sent, by severity.
pub fn repeat_interval(s: Severity) -> Duration {
    Duration::from_secs(match s {
        Severity::Critical => 3600,
        Severity::Warning => 12 * 3600,
        Severity::Info => 24 * 3600,
    })
}

/// The receiver that pages nobody.
pub const SILENT_RECEIVER: &str = "silent";

/// The name of the stack's SNS topic for `severity` (a severity, or `*` in policies),
/// `<stack>-alerts-<severity>`: what the provisioner creates and `monitor-verify` reads.
pub fn topic_name(stack: &str, severity: &str) -> String {
    format!("{stack}{TOPIC_INFIX}{severity}")
}

/// The severity of an alert topic (its name or ARN) named by [`topic_name`]; `None` for a
/// topic named otherwise.
pub fn topic_severity(topic: &str) -> Option<Severity> {
    let name = topic.rsplit(':').next()?;
    Severity::parse(name.rsplit_once(TOPIC_INFIX)?.1)
}

const TOPIC_INFIX: &str = "-alerts-";

/// The receiver of `s`.
pub fn receiver_name(s: Severity) -> String {
    format!("severity-{s}")
}

#[derive(Serialize)]
struct Config {
    route: Route,
    inhibit_rules: Vec<Inhibit>,
    receivers: Vec<Receiver>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    templates: Vec<String>,
}

#[derive(Serialize)]
struct Route {
    receiver: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    matchers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_wait: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_interval: Option<String>,
    repeat_interval: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<Route>,
}

#[derive(Serialize)]
struct Inhibit {
    source_matchers: Vec<String>,
    target_matchers: Vec<String>,
    equal: Vec<String>,
}

#[derive(Serialize)]
struct Receiver {
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sns_configs: Vec<SnsConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    webhook_configs: Vec<WebhookConfig>,
}

#[derive(Serialize)]
struct SnsConfig {
    topic_arn: String,
    sigv4: SigV4,
    subject: String,
    message: String,
    attributes: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct SigV4 {
    region: String,
}

#[derive(Serialize)]
struct WebhookConfig {
    url: String,
    send_resolved: bool,
}

/// The Alertmanager configuration YAML for `notify` severities delivered by `delivery`;
/// `templates` are the template files it loads (AMP: [`TEMPLATE_NAME`]; a file path for
/// `amtool check-config`).
pub fn config(
    notify: &[Severity],
    delivery: &Delivery,
    timing: Timing,
    templates: &[&str],
) -> String {
    let mut receivers = vec![Receiver {
        name: SILENT_RECEIVER.to_string(),
        sns_configs: Vec::new(),
        webhook_configs: Vec::new(),
    }];
    let mut routes = Vec::new();
    for &s in notify {
        let (sns_configs, webhook_configs) = match delivery {
            Delivery::Sns { region, topics } => {
                let Some(topic) = topics.get(&s) else {
                    continue;
                };
                (
                    vec![SnsConfig {
                        topic_arn: topic.clone(),
                        sigv4: SigV4 {
                            region: region.clone(),
                        },
                        subject: "{{ template \"monitor.sns.subject\" . }}".to_string(),
                        message: "{{ template \"monitor.sns.message\" . }}".to_string(),
                        attributes: BTreeMap::from([("severity".to_string(), s.to_string())]),
                    }],
                    Vec::new(),
                )
            }
            Delivery::Webhook { url } => (
                Vec::new(),
                vec![WebhookConfig {
                    url: url.clone(),
                    send_resolved: true,
                }],
            ),
        };
        receivers.push(Receiver {
            name: receiver_name(s),
            sns_configs,
            webhook_configs,
        });
        routes.push(Route {
            receiver: receiver_name(s),
            matchers: vec![format!("severity=\"{s}\"")],
            group_by: Vec::new(),
            group_wait: None,
            group_interval: None,
            repeat_interval: format_prometheus_duration(repeat_interval(s)),
            routes: Vec::new(),
        });
    }
    let cfg = Config {
        route: Route {
            receiver: SILENT_RECEIVER.to_string(),
            matchers: Vec::new(),
            group_by: vec!["host".to_string()],
            group_wait: Some(format_prometheus_duration(timing.group_wait)),
            group_interval: Some(format_prometheus_duration(timing.group_interval)),
            repeat_interval: format_prometheus_duration(repeat_interval(Severity::Info)),
            routes,
        },
        inhibit_rules: vec![
            Inhibit {
                source_matchers: vec!["alertname=\"HostAbsent\"".into()],
                target_matchers: vec!["alertname!=\"HostAbsent\"".into()],
                equal: vec!["host".into()],
            },
            Inhibit {
                source_matchers: vec!["severity=\"critical\"".into()],
                target_matchers: vec!["severity=~\"warning|info\"".into()],
                equal: vec!["alertname".into(), "host".into()],
            },
        ],
        receivers,
        templates: templates.iter().map(|t| t.to_string()).collect(),
    };
    serde_yaml_ng::to_string(&cfg).expect("alertmanager config serialises")
}

#[derive(Serialize)]
struct AmpDefinition {
    template_files: BTreeMap<String, String>,
    alertmanager_config: String,
}

/// AMP's Alertmanager definition file: the SNS template and the configuration as a YAML
/// string (the bytes `CreateAlertManagerDefinition`'s `data` carries; the SDK
/// base64-encodes them).
pub fn amp_definition(
    notify: &[Severity],
    region: &str,
    topics: &BTreeMap<Severity, String>,
    timing: Timing,
) -> String {
    let delivery = Delivery::Sns {
        region: region.to_string(),
        topics: topics.clone(),
    };
    let def = AmpDefinition {
        template_files: BTreeMap::from([(TEMPLATE_NAME.to_string(), SNS_TEMPLATE.to_string())]),
        alertmanager_config: config(notify, &delivery, timing, &[TEMPLATE_NAME]),
    };
    serde_yaml_ng::to_string(&def).expect("definition serialises")
}

#[cfg(test)]
mod topic_name_tests {
    use super::*;

    #[test]
    fn topic_names_round_trip_to_their_severity() {
        for s in Severity::ALL {
            let name = topic_name("my-alerts-stack", s.as_str());
            assert_eq!(topic_severity(&name), Some(s));
            let arn = format!("arn:aws:sns:eu-west-1:123456789012:{name}");
            assert_eq!(topic_severity(&arn), Some(s));
        }
        assert_eq!(
            topic_severity("arn:aws:sns:eu-west-1:1:monitoring-alerts"),
            None
        );
    }
}
