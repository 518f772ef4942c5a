//! Every IAM policy document of the stack, as typed structs serialised to JSON: the EC2
//! role's trust and inline policies (AMP remote_write on the workspace ARN only, log
//! shipping on the log group only) and the Amazon Managed Grafana workspace role's trust
//! and inline policies (AMP query on the workspace only, Logs read on the group only).
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
    pub condition: Option<BTreeMap<String, BTreeMap<String, String>>>,
}

/// A service principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// e.g. `ec2.amazonaws.com`.
    #[serde(rename = "Service")]
    pub service: String,
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
            principal: Some(Principal {
                service: "ec2.amazonaws.com".into(),
            }),
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
    let mut cond = BTreeMap::new();
    cond.insert(
        "StringEquals".to_string(),
        BTreeMap::from([("aws:SourceAccount".to_string(), account_id.to_string())]),
    );
    cond.insert(
        "ArnLike".to_string(),
        BTreeMap::from([(
            "aws:SourceArn".to_string(),
            format!("arn:aws:grafana:{region}:{account_id}:/workspaces/*"),
        )]),
    );
    PolicyDocument {
        version: VERSION.into(),
        statement: vec![Statement {
            sid: Some("GrafanaAssumeRole".into()),
            effect: "Allow".into(),
            principal: Some(Principal {
                service: "grafana.amazonaws.com".into(),
            }),
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
///   resource-level scoping).
pub fn grafana_policy(amp_workspace_arn: &str, log_group_arn: &str) -> PolicyDocument {
    let group = log_group_arn.trim_end_matches(":*");
    PolicyDocument {
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
        let p = grafana_policy(ws, lg);
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
}
