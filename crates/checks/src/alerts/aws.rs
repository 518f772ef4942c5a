//! The AWS side of alerting, read through the control planes (AMP's via aws-sdk-amp):
//! the stack's rule-groups namespaces and the workspace's Alertmanager definition are
//! ACTIVE (AMP's `statusReason` shown otherwise), and the SNS topic the definition
//! publishes to lets the workspace publish ([`judge_topic_policy`]), with every configured
//! subscriber subscribed ([`judge_subscriptions`]; pending confirmation is a warning).
//!
//! The judging is pure (policy JSON, definition YAML, subscription lists in; results out)
//! so it is unit-tested without AWS; the reads are thin.

use aws_sdk_amp::types::{AlertManagerDefinitionStatusCode, RuleGroupsNamespaceStatusCode};

use crate::catalog::{
    ALERTS_ALERTMANAGER_DEFINITION, ALERTS_RULE_NAMESPACES, ALERTS_SNS_POLICY,
    ALERTS_SNS_SUBSCRIPTIONS, HINT_ALERTMANAGER_DEFINITION, HINT_RULE_NAMESPACES, HINT_SNS_PENDING,
    HINT_SNS_POLICY, HINT_SNS_SUBSCRIPTIONS,
};
use crate::{CheckResult, ChecksError};

/// The configured subscribers of the topic (`[alerting] email` and `https`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscribers {
    /// Email addresses.
    pub email: Vec<String>,
    /// HTTPS endpoints (never shown in full: they often carry an integration key).
    pub https: Vec<String>,
}

/// What the control-plane checks read and expect.
#[derive(Debug)]
pub struct ControlPlane<'a> {
    /// AMP control-plane client.
    pub amp: &'a aws_sdk_amp::Client,
    /// The workspace.
    pub workspace_id: String,
    /// The namespaces the stack's rule files go to (`monitor_alerts::rule_files`).
    pub expected_namespaces: Vec<String>,
    /// The configured subscribers.
    pub subscribers: Subscribers,
}

impl ControlPlane<'_> {
    /// Runs the AMP checks: namespaces, then the Alertmanager definition.
    ///
    /// # Errors
    /// [`ChecksError::Aws`] when an AMP call fails (other than "not found").
    pub async fn run(&self) -> Result<Vec<CheckResult>, ChecksError> {
        let mut out = self.namespaces().await?;
        out.push(self.definition().await?.0);
        Ok(out)
    }

    async fn namespaces(&self) -> Result<Vec<CheckResult>, ChecksError> {
        let mut found = Vec::new();
        let mut pages = self
            .amp
            .list_rule_groups_namespaces()
            .workspace_id(&self.workspace_id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ChecksError::aws("ListRuleGroupsNamespaces", &e))?;
            for ns in page.rule_groups_namespaces() {
                let status = ns.status();
                let code = status
                    .map(|s| s.status_code().as_str().to_string())
                    .unwrap_or_default();
                let reason = status.and_then(|s| s.status_reason()).map(str::to_string);
                found.push((ns.name().to_string(), code, reason));
            }
        }
        Ok(judge_namespaces(&self.expected_namespaces, &found))
    }

    /// The definition's result and the SNS topic ARNs it publishes to.
    pub async fn definition(&self) -> Result<(CheckResult, Vec<String>), ChecksError> {
        let resp = self
            .amp
            .describe_alert_manager_definition()
            .workspace_id(&self.workspace_id)
            .send()
            .await;
        let desc = match resp {
            Ok(o) => o.alert_manager_definition().cloned(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => return Err(ChecksError::aws("DescribeAlertManagerDefinition", &e)),
        };
        let Some(d) = desc else {
            let r = CheckResult::fail(
                ALERTS_ALERTMANAGER_DEFINITION,
                None,
                "the workspace has no Alertmanager definition",
                HINT_ALERTMANAGER_DEFINITION,
            );
            return Ok((r, Vec::new()));
        };
        let code = d.status().map(|s| s.status_code().clone());
        let reason = d
            .status()
            .and_then(|s| s.status_reason())
            .unwrap_or("no reason given");
        let topics = topic_arns(&String::from_utf8_lossy(d.data().as_ref()));
        let r = match code {
            Some(AlertManagerDefinitionStatusCode::Active) => CheckResult::pass(
                ALERTS_ALERTMANAGER_DEFINITION,
                None,
                format!(
                    "ACTIVE, publishing to {}",
                    if topics.is_empty() {
                        "no SNS topic".to_string()
                    } else {
                        topics.join(", ")
                    }
                ),
            ),
            Some(c) => CheckResult::fail(
                ALERTS_ALERTMANAGER_DEFINITION,
                None,
                format!("{}: {reason}", c.as_str()),
                HINT_ALERTMANAGER_DEFINITION,
            ),
            None => CheckResult::fail(
                ALERTS_ALERTMANAGER_DEFINITION,
                None,
                "no status",
                HINT_ALERTMANAGER_DEFINITION,
            ),
        };
        Ok((r, topics))
    }
}

/// `(name, status code, statusReason)` of the namespaces found, against the expected
/// names: one failure per missing or not-ACTIVE namespace, or one pass.
pub fn judge_namespaces(
    expected: &[String],
    found: &[(String, String, Option<String>)],
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let names: Vec<&String> = if expected.is_empty() {
        found.iter().map(|f| &f.0).collect()
    } else {
        expected.iter().collect()
    };
    if names.is_empty() {
        out.push(CheckResult::fail(
            ALERTS_RULE_NAMESPACES,
            None,
            "the workspace has no rule-groups namespace",
            HINT_RULE_NAMESPACES,
        ));
    }
    for name in &names {
        match found.iter().find(|f| &&f.0 == name) {
            None => out.push(CheckResult::fail(
                ALERTS_RULE_NAMESPACES,
                None,
                format!("namespace {name} does not exist"),
                HINT_RULE_NAMESPACES,
            )),
            Some((_, code, _)) if code == RuleGroupsNamespaceStatusCode::Active.as_str() => {}
            Some((_, code, reason)) => out.push(CheckResult::fail(
                ALERTS_RULE_NAMESPACES,
                None,
                format!(
                    "namespace {name} is {code}: {}",
                    reason.as_deref().unwrap_or("no reason given")
                ),
                HINT_RULE_NAMESPACES,
            )),
        }
    }
    if out.is_empty() {
        let list: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        out.push(CheckResult::pass(
            ALERTS_RULE_NAMESPACES,
            None,
            format!("ACTIVE: {}", list.join(", ")),
        ));
    }
    out
}

/// The SNS topic ARNs of an AMP Alertmanager definition (`alertmanager_config` is a YAML
/// string inside the YAML document; `receivers[].sns_configs[].topic_arn`).
pub fn topic_arns(definition: &str) -> Vec<String> {
    let outer: serde_yaml_ng::Value = serde_yaml_ng::from_str(definition).unwrap_or_default();
    let inner = match outer.get("alertmanager_config") {
        Some(serde_yaml_ng::Value::String(s)) => serde_yaml_ng::from_str(s).unwrap_or_default(),
        Some(v) => v.clone(),
        None => serde_yaml_ng::Value::Null,
    };
    let mut arns: Vec<String> = inner
        .get("receivers")
        .and_then(|r| r.as_sequence())
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("sns_configs")?.as_sequence())
        .flatten()
        .filter_map(|c| c.get("topic_arn")?.as_str().map(str::to_string))
        .collect();
    arns.sort();
    arns.dedup();
    arns
}

/// Whether a JSON value (string or array of strings) contains a match for `pred`.
fn any_str(v: Option<&serde_json::Value>, pred: impl Fn(&str) -> bool) -> bool {
    match v {
        Some(serde_json::Value::String(s)) => pred(s),
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|x| x.as_str()).any(pred),
        _ => false,
    }
}

/// Judges a topic policy (the `Policy` attribute's JSON): some Allow statement must name
/// the service principal `aps.amazonaws.com`, allow `sns:Publish`, and be scoped by
/// `aws:SourceArn` to `workspace_arn` (ArnEquals/ArnLike/StringEquals, key case-insensitive).
pub fn judge_topic_policy(topic_arn: &str, policy: &str, workspace_arn: &str) -> CheckResult {
    let doc: serde_json::Value = serde_json::from_str(policy).unwrap_or_default();
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.clone(),
        Some(s @ serde_json::Value::Object(_)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let publishes = |s: &serde_json::Value| {
        s.get("Effect").and_then(|e| e.as_str()) == Some("Allow")
            && any_str(s.get("Principal").and_then(|p| p.get("Service")), |p| {
                p == "aps.amazonaws.com"
            })
            && any_str(s.get("Action"), |a| {
                matches!(
                    a.to_ascii_lowercase().as_str(),
                    "sns:publish" | "sns:*" | "*"
                )
            })
    };
    let scoped = |s: &serde_json::Value| {
        s.get("Condition")
            .and_then(|c| c.as_object())
            .is_some_and(|ops| {
                ops.iter()
                    .filter(|(op, _)| {
                        matches!(
                            op.as_str(),
                            "ArnEquals" | "ArnLike" | "StringEquals" | "StringLike"
                        )
                    })
                    .filter_map(|(_, m)| m.as_object())
                    .flat_map(|m| m.iter())
                    .any(|(k, v)| {
                        k.eq_ignore_ascii_case("aws:SourceArn")
                            && any_str(Some(v), |a| a == workspace_arn)
                    })
            })
    };
    let allowing: Vec<&serde_json::Value> = statements.iter().filter(|s| publishes(s)).collect();
    if allowing.iter().any(|s| scoped(s)) {
        return CheckResult::pass(
            ALERTS_SNS_POLICY,
            None,
            format!("{topic_arn} allows aps.amazonaws.com sns:Publish from {workspace_arn}"),
        );
    }
    let detail = if allowing.is_empty() {
        format!("{topic_arn}: no statement allows aps.amazonaws.com sns:Publish")
    } else {
        format!("{topic_arn}: aps.amazonaws.com may publish, but not scoped by aws:SourceArn to {workspace_arn} (another workspace?)")
    };
    CheckResult::fail(ALERTS_SNS_POLICY, None, detail, HINT_SNS_POLICY)
}

/// One subscription of the topic: protocol, endpoint, subscription ARN
/// (`PendingConfirmation` until confirmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `email`, `https`, ...
    pub protocol: String,
    /// The address or URL.
    pub endpoint: String,
    /// The subscription ARN, or `PendingConfirmation`.
    pub arn: String,
}

/// An HTTPS endpoint as it may be shown: scheme and host only (paths and queries of
/// PagerDuty/Opsgenie URLs carry integration keys).
pub fn shown_endpoint(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {
            format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("?"))
        }
        _ => endpoint.to_string(),
    }
}

/// Every configured subscriber against the topic's subscriptions: missing = failure,
/// pending confirmation = warning ("confirm the email"), else one pass.
pub fn judge_subscriptions(want: &Subscribers, have: &[Subscription]) -> Vec<CheckResult> {
    let wanted = want
        .email
        .iter()
        .map(|e| ("email", e))
        .chain(want.https.iter().map(|h| ("https", h)));
    let mut out = Vec::new();
    let mut confirmed = 0;
    for (protocol, endpoint) in wanted {
        let shown = shown_endpoint(endpoint);
        match have
            .iter()
            .find(|s| s.protocol == protocol && &s.endpoint == endpoint)
        {
            None => out.push(CheckResult::fail(
                ALERTS_SNS_SUBSCRIPTIONS,
                None,
                format!("{protocol} {shown} is not subscribed"),
                HINT_SNS_SUBSCRIPTIONS,
            )),
            Some(s) if s.arn == "PendingConfirmation" => out.push(CheckResult::warn(
                ALERTS_SNS_SUBSCRIPTIONS,
                None,
                format!("{protocol} {shown}: pending confirmation"),
                HINT_SNS_PENDING,
            )),
            Some(_) => confirmed += 1,
        }
    }
    if out.is_empty() {
        let detail = if confirmed == 0 {
            "no subscribers configured ([alerting] email/https)".to_string()
        } else {
            format!("{confirmed} subscriber(s) confirmed")
        };
        out.push(CheckResult::pass(ALERTS_SNS_SUBSCRIPTIONS, None, detail));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    const WS: &str = "arn:aws:aps:eu-west-1:123456789012:workspace/ws-1";
    const TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:monitoring-alerts";

    #[test]
    fn the_documented_topic_policy_passes_and_an_unscoped_one_fails() {
        // AMP-UG/AMP-alertmanager-receiver-AMPpermission.html
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "Allow_Publish_Alarms", "Effect": "Allow",
            "Principal": {"Service": "aps.amazonaws.com"},
            "Action": ["sns:Publish", "sns:GetTopicAttributes"], "Resource": TOPIC,
            "Condition": {"ArnEquals": {"aws:SourceArn": WS}, "StringEquals": {"AWS:SourceAccount": "123456789012"}}}]});
        assert!(judge_topic_policy(TOPIC, &policy.to_string(), WS).passed());
        let other = judge_topic_policy(
            TOPIC,
            &policy.to_string(),
            "arn:aws:aps:eu-west-1:123456789012:workspace/ws-2",
        );
        assert_eq!(other.status, Status::Fail);
        assert!(other.detail.contains("not scoped"), "{}", other.detail);
        let none = judge_topic_policy(
            TOPIC,
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sns:Subscribe"}]}"#,
            WS,
        );
        assert!(
            none.detail.contains("no statement allows"),
            "{}",
            none.detail
        );
    }

    #[test]
    fn topics_are_read_from_the_nested_alertmanager_config() {
        let def = format!("template_files:\n  t: x\nalertmanager_config: |\n  route:\n    receiver: sns\n  receivers:\n    - name: sns\n      sns_configs:\n        - topic_arn: {TOPIC}\n          sigv4:\n            region: eu-west-1\n    - name: crit\n      sns_configs:\n        - topic_arn: {TOPIC}\n");
        assert_eq!(topic_arns(&def), vec![TOPIC.to_string()]);
        assert!(topic_arns("not: [yaml").is_empty());
    }

    #[test]
    fn namespaces_name_the_failure_reason_and_missing_ones() {
        let found = vec![
            ("monitoring-host".to_string(), "ACTIVE".to_string(), None),
            (
                "monitoring-custom".to_string(),
                "CREATION_FAILED".to_string(),
                Some("yaml: line 3: mapping values are not allowed".to_string()),
            ),
        ];
        let want = vec![
            "monitoring-host".to_string(),
            "monitoring-custom".to_string(),
            "monitoring-extra".to_string(),
        ];
        let r = judge_namespaces(&want, &found);
        assert_eq!(r.len(), 2, "{r:#?}");
        assert_eq!(r[0].detail, "namespace monitoring-custom is CREATION_FAILED: yaml: line 3: mapping values are not allowed");
        assert_eq!(r[1].detail, "namespace monitoring-extra does not exist");
        assert!(judge_namespaces(&want[..1], &found)[0].passed());
    }

    #[test]
    fn pending_is_a_warning_missing_a_failure_and_urls_are_not_shown() {
        let want = Subscribers {
            email: vec!["oncall@example.com".into(), "lead@example.com".into()],
            https: vec!["https://events.pagerduty.com/integration/SECRETKEY/enqueue".into()],
        };
        let have = vec![
            Subscription {
                protocol: "email".into(),
                endpoint: "oncall@example.com".into(),
                arn: "PendingConfirmation".into(),
            },
            Subscription {
                protocol: "https".into(),
                endpoint: want.https[0].clone(),
                arn: format!("{TOPIC}:abc"),
            },
        ];
        let r = judge_subscriptions(&want, &have);
        assert_eq!(r.len(), 2, "{r:#?}");
        assert_eq!(r[0].status, Status::Warn);
        assert!(r[0]
            .hint
            .as_deref()
            .unwrap()
            .starts_with("confirm the email"));
        assert_eq!(r[1].status, Status::Fail);
        assert!(r[1].detail.contains("lead@example.com"));
        let all: String = r.iter().map(|x| x.detail.clone()).collect();
        assert!(!all.contains("SECRETKEY"));
        assert_eq!(
            shown_endpoint(&want.https[0]),
            "https://events.pagerduty.com/…"
        );
    }
}
