//! The AMG workspace IAM role's documents, as typed structs serialised to JSON. The
//! provisioning reconciler creates the role with them and passes its ARN as
//! `workspaceRoleArn`; this crate makes no IAM call.
//!
//! A role without AMP query access is the most common "dashboards are empty" cause, so
//! the AMP statement is scoped to exactly the stack's AMP workspace, and `monitor-verify
//! grafana` points at it when the datasource health check fails.

use std::collections::BTreeMap;

use serde::Serialize;

/// An IAM policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// Always `2012-10-17`.
    pub version: String,
    /// Statements.
    pub statement: Vec<Statement>,
}

/// One policy statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// Statement id.
    pub sid: String,
    /// `Allow`.
    pub effect: String,
    /// Trust policies: who may assume the role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// Actions.
    pub action: Vec<String>,
    /// Resources (absent in trust policies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Vec<String>>,
    /// Conditions: operator → key → value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<BTreeMap<String, BTreeMap<String, String>>>,
}

/// A service principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Principal {
    /// e.g. `grafana.amazonaws.com`.
    pub service: String,
}

impl PolicyDocument {
    /// The document as compact JSON (what IAM takes).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Trust policy: `grafana.amazonaws.com` may assume the role, only for workspaces of this
/// account in this region (confused-deputy guard; the workspace id is not known yet when
/// the role is created, hence `workspaces/*`).
pub fn trust_policy(account_id: &str, region: &str) -> PolicyDocument {
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
        version: "2012-10-17".into(),
        statement: vec![Statement {
            sid: "GrafanaAssumeRole".into(),
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

fn allow(sid: &str, actions: &[&str], resources: Vec<String>) -> Statement {
    Statement {
        sid: sid.into(),
        effect: "Allow".into(),
        principal: None,
        action: actions.iter().map(|a| a.to_string()).collect(),
        resource: Some(resources),
        condition: None,
    }
}

/// Permissions policy of the workspace role:
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
pub fn permissions_policy(amp_workspace_arn: &str, log_group_arn: &str) -> PolicyDocument {
    let group = log_group_arn.trim_end_matches(":*");
    PolicyDocument {
        version: "2012-10-17".into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_policy_json() {
        let v: serde_json::Value =
            serde_json::from_str(&trust_policy("123456789012", "eu-west-1").to_json())
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
        let p = permissions_policy(ws, lg);
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
