//! Every policy document of the stack, as typed structs serialised to JSON: the EC2
//! role's trust and inline policies (AMP remote_write on the workspace ARN only, log
//! shipping on the log group only), the Amazon Managed Grafana workspace role's trust
//! and inline policies (AMP query on the workspace only, Logs read on the group only),
//! the alert topics' KMS key policy and the alert topics' access policy.
//! One module owns them all, so the plan diffs and apply puts the same documents.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An IAM policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    /// Always `2012-10-17`.
    #[serde(rename = "Version")]
    pub version: String,
    /// The statements.
    #[serde(rename = "Statement")]
    pub statement: Vec<Statement>,
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// Statement id.
    #[serde(rename = "Sid", skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    /// `Allow`.
    #[serde(rename = "Effect")]
    pub effect: String,
    /// Trust policies only: who may assume the role.
    #[serde(rename = "Principal", skip_serializing_if = "Option::is_none", default)]
    pub principal: Option<Principal>,
    /// Actions.
    #[serde(rename = "Action")]
    pub action: Vec<String>,
    /// Resources (permission policies only).
    #[serde(rename = "Resource", skip_serializing_if = "Option::is_none", default)]
    pub resource: Option<Vec<String>>,
    /// Conditions: operator → key → value.
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none", default)]
    pub condition: Option<Conditions>,
}

/// A principal: an AWS service or an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// e.g. `ec2.amazonaws.com`.
    #[serde(rename = "Service", skip_serializing_if = "Option::is_none", default)]
    pub service: Option<String>,
    /// e.g. `arn:aws:iam::123456789012:root` (key policies).
    #[serde(rename = "AWS", skip_serializing_if = "Option::is_none", default)]
    pub aws: Option<String>,
}

impl Principal {
    /// The AWS service `name` (`aps.amazonaws.com`).
    pub fn service(name: &str) -> Principal {
        Principal {
            service: Some(name.to_string()),
            aws: None,
        }
    }

    /// The account `account_id` (its root: every IAM identity the account allows).
    pub fn account(account_id: &str) -> Principal {
        Principal {
            service: None,
            aws: Some(format!("arn:aws:iam::{account_id}:root")),
        }
    }
}

/// Condition operator → key → value.
type Conditions = BTreeMap<String, BTreeMap<String, String>>;

fn conditions(items: &[(&str, &str, &str)]) -> Conditions {
    let mut c = Conditions::new();
    for (op, key, value) in items {
        c.entry(op.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
    }
    c
}

impl PolicyDocument {
    /// The document as compact JSON (what IAM takes).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The document as a JSON value (what the plan compares with the observed one).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

const VERSION: &str = "2012-10-17";

fn allow(sid: &str, actions: &[&str], resources: Vec<String>) -> Statement {
    Statement {
        sid: Some(sid.into()),
        effect: "Allow".into(),
        principal: None,
        action: actions.iter().map(|a| a.to_string()).collect(),
        resource: Some(resources),
        condition: None,
    }
}

/// The EC2 role's trust policy: only EC2 may assume it.
pub fn trust_policy() -> PolicyDocument {
    PolicyDocument {
        version: VERSION.into(),
        statement: vec![Statement {
            sid: None,
            effect: "Allow".into(),
            principal: Some(Principal::service("ec2.amazonaws.com")),
            action: vec!["sts:AssumeRole".into()],
            resource: None,
            condition: None,
        }],
    }
}

/// `arn:aws:logs:<region>:<account>:log-group:<name>`.
pub fn log_group_arn(region: &str, account: &str, group: &str) -> String {
    format!("arn:aws:logs:{region}:{account}:log-group:{group}")
}

/// The inline policy of the EC2 role: `aps:RemoteWrite` on the workspace only, and the
/// CloudWatch Agent's log-shipping actions on the log group (and its streams) only.
///
/// The agent creates one stream per instance (`{instance_id}`), describes streams to find
/// its sequence position and puts events; it never needs CreateLogGroup (the group exists
/// before the host) nor PutRetentionPolicy (the provisioner owns retention).
pub fn host_policy(workspace_arn: &str, log_group_arn: &str) -> PolicyDocument {
    let group = log_group_arn.trim_end_matches(":*");
    PolicyDocument {
        version: VERSION.into(),
        statement: vec![
            allow(
                "AmpRemoteWrite",
                &["aps:RemoteWrite"],
                vec![workspace_arn.to_string()],
            ),
            allow(
                "CloudWatchLogsShip",
                &[
                    "logs:CreateLogStream",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ],
                vec![group.to_string(), format!("{group}:*")],
            ),
        ],
    }
}

/// The Grafana workspace role's trust policy: `grafana.amazonaws.com` may assume the
/// role, only for workspaces of this account in this region (confused-deputy guard; the
/// workspace id is not known yet when the role is created, hence `workspaces/*`).
pub fn grafana_trust_policy(account_id: &str, region: &str) -> PolicyDocument {
    let workspaces = format!("arn:aws:grafana:{region}:{account_id}:/workspaces/*");
    let cond = conditions(&[
        ("StringEquals", "aws:SourceAccount", account_id),
        ("ArnLike", "aws:SourceArn", &workspaces),
    ]);
    PolicyDocument {
        version: VERSION.into(),
        statement: vec![Statement {
            sid: Some("GrafanaAssumeRole".into()),
            effect: "Allow".into(),
            principal: Some(Principal::service("grafana.amazonaws.com")),
            action: vec!["sts:AssumeRole".into()],
            resource: None,
            condition: Some(cond),
        }],
    }
}

/// Permissions policy of the Grafana workspace role. A role without AMP query access is
/// the most common "dashboards are empty" cause, so:
/// - AMP query actions (`aps:QueryMetrics`, `GetSeries`, `GetLabels`, `GetMetricMetadata`)
///   on the AMP workspace ARN only;
/// - Logs Insights and log reads on the stack log group (`log_group_arn`, with or without
///   the trailing `:*`; both forms are granted so group- and stream-level actions match);
/// - the Logs actions that take no resource (`DescribeLogGroups` lists groups,
///   `GetQueryResults`/`StopQuery`/`DescribeQueries` address a query id) on `*` — the
///   CloudWatch datasource calls `DescribeLogGroups` for its log group picker and health;
/// - CloudWatch metrics read (`GetMetricData`, `ListMetrics`, …) on `*`, which the
///   CloudWatch datasource health check and metric queries need (these actions have no
///   resource-level scoping);
/// - with `alerting`, the read side of AMP's ruler and Alertmanager on the workspace
///   only ([`GRAFANA_ALERTING_READ`]), so Grafana's Alerting UI lists the rules and the
///   firing alerts — no silence or alert writes.
pub fn grafana_policy(
    amp_workspace_arn: &str,
    log_group_arn: &str,
    alerting: bool,
) -> PolicyDocument {
    let group = log_group_arn.trim_end_matches(":*");
    let mut doc = PolicyDocument {
        version: VERSION.into(),
        statement: vec![
            allow(
                "AmpQuery",
                &[
                    "aps:QueryMetrics",
                    "aps:GetSeries",
                    "aps:GetLabels",
                    "aps:GetMetricMetadata",
                ],
                vec![amp_workspace_arn.to_string()],
            ),
            allow(
                "StackLogGroupRead",
                &[
                    "logs:StartQuery",
                    "logs:GetLogEvents",
                    "logs:FilterLogEvents",
                    "logs:DescribeLogStreams",
                    "logs:GetLogGroupFields",
                ],
                vec![group.to_string(), format!("{group}:*")],
            ),
            allow(
                "LogsWithoutResourceScope",
                &[
                    "logs:DescribeLogGroups",
                    "logs:GetQueryResults",
                    "logs:StopQuery",
                    "logs:DescribeQueries",
                ],
                vec!["*".into()],
            ),
            allow(
                "CloudWatchMetricsRead",
                &[
                    "cloudwatch:DescribeAlarmsForMetric",
                    "cloudwatch:DescribeAlarmHistory",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:ListMetrics",
                    "cloudwatch:GetMetricData",
                    "cloudwatch:GetInsightRuleReport",
                    "ec2:DescribeTags",
                    "ec2:DescribeInstances",
                    "ec2:DescribeRegions",
                    "tag:GetResources",
                ],
                vec!["*".into()],
            ),
        ],
    };
    if alerting {
        doc.statement.push(allow(
            "AmpAlertingRead",
            &GRAFANA_ALERTING_READ,
            vec![amp_workspace_arn.to_string()],
        ));
    }
    doc
}

/// The AMP actions Grafana's Alerting UI reads with (the ruler's rule list, the
/// Alertmanager's alerts, groups, receivers, silences and status).
pub const GRAFANA_ALERTING_READ: [&str; 7] = [
    "aps:ListRules",
    "aps:ListAlertManagerAlerts",
    "aps:ListAlertManagerAlertGroups",
    "aps:ListAlertManagerReceivers",
    "aps:ListAlertManagerSilences",
    "aps:GetAlertManagerSilence",
    "aps:GetAlertManagerStatus",
];

/// The services that publish to the alert topics: AMP's Alertmanager
/// (`AMP-UG/AMP-alertmanager-receiver-AMPpermission.html`) and CloudWatch alarms.
pub const TOPIC_PUBLISHERS: [&str; 2] = ["aps.amazonaws.com", "cloudwatch.amazonaws.com"];

/// The key policy of the stack's alert-topic KMS key:
/// - the account administers the key (without it nobody could change or delete it);
/// - AMP and CloudWatch (the topic publishers) may `kms:GenerateDataKey*` and
///   `kms:Decrypt`, which SNS server-side encryption needs from a publisher
///   (`sns/latest/dg/sns-key-management.html`, "Enable compatibility between event sources
///   from AWS services and encrypted topics"; `AMP-UG/AMP-alertmanager-receiver-AMPpermission.html`),
///   only for the stack's alert topics: SNS passes the topic ARN as the encryption
///   context `aws:sns:topicArn` (the condition AWS documents for GameLift's SSE topics,
///   `flexmatchguide/queue-notification-sns-sse.html`).
pub fn alert_key_policy(account_id: &str, region: &str, stack: &str) -> PolicyDocument {
    let topics = crate::names::alert_topic_arn(region, account_id, stack, "*");
    let mut statement = vec![Statement {
        sid: Some("AccountAdministersKey".into()),
        effect: "Allow".into(),
        principal: Some(Principal::account(account_id)),
        action: vec!["kms:*".into()],
        resource: Some(vec!["*".into()]),
        condition: None,
    }];
    for (sid, service) in [
        ("AmpAlertmanagerUsesKey", TOPIC_PUBLISHERS[0]),
        ("CloudWatchAlarmsUseKey", TOPIC_PUBLISHERS[1]),
    ] {
        statement.push(Statement {
            sid: Some(sid.into()),
            effect: "Allow".into(),
            principal: Some(Principal::service(service)),
            action: vec!["kms:GenerateDataKey*".into(), "kms:Decrypt".into()],
            resource: Some(vec!["*".into()]),
            condition: Some(conditions(&[(
                "ArnLike",
                "kms:EncryptionContext:aws:sns:topicArn",
                &topics,
            )])),
        });
    }
    PolicyDocument {
        version: VERSION.into(),
        statement,
    }
}

/// The access policy of an alert topic (`AMP-UG/AMP-alertmanager-receiver-AMPpermission.html`):
/// - `aps.amazonaws.com` may `sns:Publish` and `sns:GetTopicAttributes`, only for the
///   stack's workspace (`aws:SourceArn`) in this account (`aws:SourceAccount`);
/// - with `alarm_prefix`, `cloudwatch.amazonaws.com` may `sns:Publish` for the stack's
///   alarms only (`aws:SourceArn` like `arn:aws:cloudwatch:<region>:<account>:alarm:<prefix>*`);
/// - publishing over plain HTTP is denied to everyone.
pub fn topic_policy(
    topic_arn: &str,
    workspace_arn: &str,
    account_id: &str,
    region: &str,
    alarm_prefix: Option<&str>,
) -> PolicyDocument {
    let mut statement = vec![Statement {
        sid: Some("AmpAlertmanagerPublishes".into()),
        effect: "Allow".into(),
        principal: Some(Principal::service(TOPIC_PUBLISHERS[0])),
        action: vec!["sns:Publish".into(), "sns:GetTopicAttributes".into()],
        resource: Some(vec![topic_arn.to_string()]),
        condition: Some(conditions(&[
            ("ArnEquals", "aws:SourceArn", workspace_arn),
            ("StringEquals", "aws:SourceAccount", account_id),
        ])),
    }];
    if let Some(prefix) = alarm_prefix {
        let alarms = format!("arn:aws:cloudwatch:{region}:{account_id}:alarm:{prefix}*");
        statement.push(Statement {
            sid: Some("StackLogAlarmsPublish".into()),
            effect: "Allow".into(),
            principal: Some(Principal::service(TOPIC_PUBLISHERS[1])),
            action: vec!["sns:Publish".into()],
            resource: Some(vec![topic_arn.to_string()]),
            condition: Some(conditions(&[
                ("ArnLike", "aws:SourceArn", &alarms),
                ("StringEquals", "aws:SourceAccount", account_id),
            ])),
        });
    }
    statement.push(Statement {
        sid: Some("DenyPublishWithoutTls".into()),
        effect: "Deny".into(),
        principal: Some(Principal {
            service: None,
            aws: Some("*".into()),
        }),
        action: vec!["sns:Publish".into()],
        resource: Some(vec![topic_arn.to_string()]),
        condition: Some(conditions(&[("Bool", "aws:SecureTransport", "false")])),
    });
    PolicyDocument {
        version: VERSION.into(),
        statement,
    }
}

/// Parses a policy document as IAM returns it: GetRolePolicy and GetRole give it
/// URL-encoded (RFC 3986), some emulators give plain JSON.
pub fn parse_document(text: &str) -> Option<serde_json::Value> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str(trimmed).ok();
    }
    serde_json::from_str(&percent_decode(text)?).ok()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Whether two policy documents mean the same, ignoring key order and whether a
/// one-element list was written as a bare string.
pub fn same_policy(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    normalise(a) == normalise(b)
}

fn normalise(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("Action" | "Resource", Value::String(_))
                        | ("Statement", Value::Object(_)) => Value::Array(vec![v.clone()]),
                        _ => v.clone(),
                    };
                    (k.clone(), normalise(&v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_policy_is_scoped() {
        let p = host_policy(
            "arn:aws:aps:eu-west-1:123456789012:workspace/ws-1",
            &log_group_arn("eu-west-1", "123456789012", "/monitoring-test/system"),
        );
        let json = serde_json::to_value(&p).unwrap();
        let text = json.to_string();
        assert!(!text.contains("\"*\""), "{text}");
        assert_eq!(
            json["Statement"][0]["Resource"][0],
            "arn:aws:aps:eu-west-1:123456789012:workspace/ws-1"
        );
        assert_eq!(
            json["Statement"][1]["Resource"][1],
            "arn:aws:logs:eu-west-1:123456789012:log-group:/monitoring-test/system:*"
        );
    }

    #[test]
    fn parses_url_encoded_documents() {
        let doc = serde_json::to_string(&trust_policy()).unwrap();
        let encoded: String = doc
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let v = parse_document(&encoded).unwrap();
        assert!(same_policy(
            &v,
            &serde_json::to_value(trust_policy()).unwrap()
        ));
        let bare: serde_json::Value = serde_json::json!({"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}});
        assert!(same_policy(
            &bare,
            &serde_json::to_value(trust_policy()).unwrap()
        ));
    }

    #[test]
    fn trust_policy_json() {
        let v: serde_json::Value =
            serde_json::from_str(&grafana_trust_policy("123456789012", "eu-west-1").to_json())
                .unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "GrafanaAssumeRole",
                    "Effect": "Allow",
                    "Principal": {"Service": "grafana.amazonaws.com"},
                    "Action": ["sts:AssumeRole"],
                    "Condition": {
                        "ArnLike": {"aws:SourceArn": "arn:aws:grafana:eu-west-1:123456789012:/workspaces/*"},
                        "StringEquals": {"aws:SourceAccount": "123456789012"}
                    }
                }]
            })
        );
    }

    #[test]
    fn amp_query_is_scoped_to_the_workspace_and_logs_to_the_group() {
        let ws = "arn:aws:aps:eu-west-1:123456789012:workspace/ws-1";
        let lg = "arn:aws:logs:eu-west-1:123456789012:log-group:/st/system:*";
        let p = grafana_policy(ws, lg, false);
        assert!(!p.to_json().contains("aps:ListRules"));
        let amp = &p.statement[0];
        assert!(amp.action.iter().all(|a| a.starts_with("aps:")));
        assert_eq!(amp.resource.as_deref(), Some(&[ws.to_string()][..]));
        let logs = &p.statement[1];
        assert_eq!(
            logs.resource.as_deref(),
            Some(
                &[
                    "arn:aws:logs:eu-west-1:123456789012:log-group:/st/system".to_string(),
                    "arn:aws:logs:eu-west-1:123456789012:log-group:/st/system:*".to_string()
                ][..]
            )
        );
        // Nothing but the resource-less actions is granted on "*".
        for s in &p.statement {
            if s.resource.as_deref() == Some(&["*".to_string()][..]) {
                assert!(
                    !s.action
                        .iter()
                        .any(|a| a.starts_with("aps:") || a == "logs:StartQuery"),
                    "{s:?}"
                );
            }
        }
    }

    #[test]
    fn grafana_alerting_adds_only_reads_on_the_workspace() {
        let ws = "arn:aws:aps:eu-west-1:123456789012:workspace/ws-1";
        let lg = "arn:aws:logs:eu-west-1:123456789012:log-group:/st/system";
        let p = grafana_policy(ws, lg, true);
        let extra = p.statement.last().unwrap();
        assert_eq!(extra.sid.as_deref(), Some("AmpAlertingRead"));
        assert_eq!(extra.resource.as_deref(), Some(&[ws.to_string()][..]));
        assert!(extra
            .action
            .iter()
            .all(|a| a.starts_with("aps:List") || a.starts_with("aps:Get")));
        assert_eq!(
            p.statement.len(),
            grafana_policy(ws, lg, false).statement.len() + 1
        );
    }

    #[test]
    fn topic_policy_scopes_publishers_to_workspace_and_stack_alarms() {
        let topic = "arn:aws:sns:eu-west-1:123456789012:st-alerts-critical";
        let ws = "arn:aws:aps:eu-west-1:123456789012:workspace/ws-1";
        let v = topic_policy(topic, ws, "123456789012", "eu-west-1", Some("st-log-")).to_value();
        assert_eq!(
            v["Statement"][0],
            serde_json::json!({
                "Sid": "AmpAlertmanagerPublishes",
                "Effect": "Allow",
                "Principal": {"Service": "aps.amazonaws.com"},
                "Action": ["sns:Publish", "sns:GetTopicAttributes"],
                "Resource": [topic],
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": ws},
                    "StringEquals": {"aws:SourceAccount": "123456789012"}
                }
            })
        );
        assert_eq!(
            v["Statement"][1]["Principal"]["Service"],
            "cloudwatch.amazonaws.com"
        );
        assert_eq!(
            v["Statement"][1]["Condition"]["ArnLike"]["aws:SourceArn"],
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:st-log-*"
        );
        assert_eq!(v["Statement"][2]["Effect"], "Deny");
        assert_eq!(
            v["Statement"][2]["Condition"]["Bool"]["aws:SecureTransport"],
            "false"
        );
        // Without log alarms on this topic CloudWatch gets nothing.
        let v = topic_policy(topic, ws, "123456789012", "eu-west-1", None).to_value();
        assert!(!v.to_string().contains("cloudwatch.amazonaws.com"), "{v}");
    }

    #[test]
    fn key_policy_lets_publishers_use_it_only_for_the_stack_topics() {
        let v = alert_key_policy("123456789012", "eu-west-1", "st").to_value();
        assert_eq!(
            v["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::123456789012:root"
        );
        for (i, service) in TOPIC_PUBLISHERS.iter().enumerate() {
            let s = &v["Statement"][i + 1];
            assert_eq!(s["Principal"]["Service"], *service);
            assert_eq!(
                s["Action"],
                serde_json::json!(["kms:GenerateDataKey*", "kms:Decrypt"])
            );
            assert_eq!(
                s["Condition"]["ArnLike"]["kms:EncryptionContext:aws:sns:topicArn"],
                crate::names::alert_topic_arn("eu-west-1", "123456789012", "st", "*")
            );
        }
    }
}
