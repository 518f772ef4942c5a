//! The AWS side of alerting, read through the control planes (AMP's via aws-sdk-amp):
//! the stack's rule-groups namespaces and the workspace's Alertmanager definition are
//! ACTIVE (AMP's `statusReason` shown otherwise); every SNS topic the definition
//! publishes to lets the workspace publish ([`judge_topic_policy`]), with every configured
//! subscriber of its severity subscribed ([`judge_subscriptions`]; pending confirmation is
//! a warning, a topic nobody is subscribed to pages nobody); the stack's CloudWatch log
//! alarms exist and notify one of those topics ([`judge_alarms`]).
//!
//! The judging is pure (policy JSON, definition YAML, subscription and alarm lists in;
//! results out) so it is unit-tested without AWS; the reads are thin.

use aws_sdk_amp::types::{AlertManagerDefinitionStatusCode, RuleGroupsNamespaceStatusCode};

use monitor_stack::Subscriber;

use crate::catalog::{
    ALERTS_ALARMS, ALERTS_ALERTMANAGER_DEFINITION, ALERTS_RULE_NAMESPACES, ALERTS_SNS_POLICY,
    ALERTS_SNS_SUBSCRIPTIONS, HINT_ALARMS, HINT_ALERTMANAGER_DEFINITION, HINT_RULE_NAMESPACES,
    HINT_SNS_PENDING, HINT_SNS_POLICY, HINT_SNS_SUBSCRIPTIONS,
};
use crate::{CheckResult, ChecksError};

/// What the control-plane checks read and expect.
#[derive(Debug)]
pub struct ControlPlane<'a> {
    /// AMP control-plane client.
    pub amp: &'a aws_sdk_amp::Client,
    /// SNS client (same region).
    pub sns: &'a aws_sdk_sns::Client,
    /// CloudWatch client (same region).
    pub cloudwatch: &'a aws_sdk_cloudwatch::Client,
    /// The workspace.
    pub workspace_id: String,
    /// What the stack expects.
    pub expect: super::AwsExpectations,
}

impl ControlPlane<'_> {
    /// Runs the checks: namespaces, the Alertmanager definition, then for each topic it
    /// publishes to the policy and subscriptions, then the log alarms.
    ///
    /// # Errors
    /// [`ChecksError::Aws`] when an AMP, SNS or CloudWatch call fails (other than "not
    /// found").
    pub async fn run(&self) -> Result<Vec<CheckResult>, ChecksError> {
        let mut out = self.namespaces().await?;
        let (definition, topics) = self.definition().await?;
        out.push(definition);
        if !topics.is_empty() {
            let ws = self
                .amp
                .describe_workspace()
                .workspace_id(&self.workspace_id)
                .send()
                .await
                .map_err(|e| ChecksError::aws("DescribeWorkspace", &e))?;
            let ws_arn = ws.workspace().map(|w| w.arn()).unwrap_or_default();
            for t in &topics {
                out.extend(self.topic(t, ws_arn).await?);
            }
        }
        if !self.expect.alarms.is_empty() {
            out.push(self.alarms(&topics).await?);
        }
        Ok(out)
    }

    /// The policy and subscription results of `topic_arn`.
    async fn topic(&self, topic_arn: &str, ws_arn: &str) -> Result<Vec<CheckResult>, ChecksError> {
        let attrs = match self
            .sns
            .get_topic_attributes()
            .topic_arn(topic_arn)
            .send()
            .await
        {
            Ok(a) => a,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_not_found_exception()) =>
            {
                return Ok(vec![CheckResult::fail(
                    ALERTS_SNS_POLICY,
                    None,
                    format!("{topic_arn} does not exist: AMP's alerts go nowhere"),
                    HINT_SNS_POLICY,
                )]);
            }
            Err(e) => return Err(ChecksError::aws("sns:GetTopicAttributes", &e)),
        };
        let policy = attrs
            .attributes()
            .and_then(|a| a.get("Policy"))
            .map(String::as_str)
            .unwrap_or_default();
        let mut out = vec![judge_topic_policy(topic_arn, policy, ws_arn)];
        let mut have = Vec::new();
        let mut pages = self
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ChecksError::aws("sns:ListSubscriptionsByTopic", &e))?;
            have.extend(page.subscriptions().iter().map(|s| Subscription {
                protocol: s.protocol().unwrap_or_default().to_string(),
                endpoint: s.endpoint().unwrap_or_default().to_string(),
                arn: s.subscription_arn().unwrap_or_default().to_string(),
            }));
        }
        let severity = monitor_alerts::alertmanager::topic_severity(topic_arn);
        let want: Vec<&Subscriber> = self
            .expect
            .subscribers
            .iter()
            .filter(|s| severity.is_some_and(|sev| s.severities.contains(&sev)))
            .collect();
        out.extend(judge_subscriptions(topic_arn, &want, &have));
        Ok(out)
    }

    /// The stack's log alarms, read by name.
    async fn alarms(&self, topics: &[String]) -> Result<CheckResult, ChecksError> {
        let resp = self
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(self.expect.alarms.clone()))
            .send()
            .await
            .map_err(|e| ChecksError::aws("cloudwatch:DescribeAlarms", &e))?;
        let found: Vec<Alarm> = resp
            .metric_alarms()
            .iter()
            .map(|a| Alarm {
                name: a.alarm_name().unwrap_or_default().to_string(),
                actions: a.alarm_actions().to_vec(),
                state: a
                    .state_value()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            })
            .collect();
        Ok(judge_alarms(&self.expect.alarms, &found, topics))
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
        Ok(judge_namespaces(&self.expect.namespaces, &found))
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

/// The configured subscribers of a topic against its subscriptions: missing = failure,
/// pending confirmation (no subscription ARN yet) = warning ("confirm the email"), a topic
/// with no subscription at all = failure (it pages nobody), else one pass.
pub fn judge_subscriptions(
    topic_arn: &str,
    want: &[&Subscriber],
    have: &[Subscription],
) -> Vec<CheckResult> {
    let topic = topic_arn.rsplit(':').next().unwrap_or(topic_arn);
    let mut out = Vec::new();
    for w in want {
        let (protocol, shown) = (w.protocol.as_str(), w.display());
        match have
            .iter()
            .find(|s| s.protocol == protocol && s.endpoint == w.endpoint)
        {
            None => out.push(CheckResult::fail(
                ALERTS_SNS_SUBSCRIPTIONS,
                None,
                format!("{topic}: {protocol} {shown} is not subscribed"),
                HINT_SNS_SUBSCRIPTIONS,
            )),
            Some(s) if !s.arn.starts_with("arn:") => out.push(CheckResult::warn(
                ALERTS_SNS_SUBSCRIPTIONS,
                None,
                format!("{topic}: {protocol} {shown}: pending confirmation"),
                HINT_SNS_PENDING,
            )),
            Some(_) => {}
        }
    }
    if !out.is_empty() {
        return out;
    }
    let confirmed = have.iter().filter(|s| s.arn.starts_with("arn:")).count();
    if confirmed == 0 {
        return vec![CheckResult::fail(
            ALERTS_SNS_SUBSCRIPTIONS,
            None,
            format!("{topic}: no confirmed subscription, its alerts page nobody"),
            HINT_SNS_SUBSCRIPTIONS,
        )];
    }
    vec![CheckResult::pass(
        ALERTS_SNS_SUBSCRIPTIONS,
        None,
        format!("{topic}: {confirmed} subscription(s) confirmed"),
    )]
}

/// A CloudWatch alarm as DescribeAlarms gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// Alarm name.
    pub name: String,
    /// Its alarm actions (topic ARNs).
    pub actions: Vec<String>,
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`.
    pub state: String,
}

/// The expected log alarms against those found: one failure per missing alarm or per
/// alarm notifying none of `topics` (the Alertmanager definition's), else one pass naming
/// the alarms in ALARM state.
pub fn judge_alarms(expected: &[String], found: &[Alarm], topics: &[String]) -> CheckResult {
    let mut problems = Vec::new();
    for name in expected {
        match found.iter().find(|a| &a.name == name) {
            None => problems.push(format!("{name} does not exist")),
            Some(a) if !a.actions.iter().any(|t| topics.contains(t)) => {
                problems.push(format!("{name} notifies no alert topic"))
            }
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return CheckResult::fail(ALERTS_ALARMS, None, problems.join("; "), HINT_ALARMS);
    }
    let firing: Vec<&str> = found
        .iter()
        .filter(|a| a.state == "ALARM")
        .map(|a| a.name.as_str())
        .collect();
    let mut detail = format!("{} log alarm(s) notify the alert topics", expected.len());
    if !firing.is_empty() {
        detail.push_str(&format!("; in ALARM now: {}", firing.join(", ")));
    }
    CheckResult::pass(ALERTS_ALARMS, None, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use monitor_stack::Severity;

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
        let topic = "arn:aws:sns:eu-west-1:123456789012:st-alerts-critical";
        let sub = |protocol, endpoint: &str| Subscriber {
            protocol,
            endpoint: endpoint.into(),
            severities: vec![Severity::Critical],
        };
        let hook = "https://events.pagerduty.com/integration/SECRETKEY/enqueue";
        let want = [
            sub(monitor_stack::Protocol::Email, "oncall@example.com"),
            sub(monitor_stack::Protocol::Email, "lead@example.com"),
            sub(monitor_stack::Protocol::Https, hook),
        ];
        let want: Vec<&Subscriber> = want.iter().collect();
        let have = vec![
            Subscription {
                protocol: "email".into(),
                endpoint: "oncall@example.com".into(),
                arn: "PendingConfirmation".into(),
            },
            Subscription {
                protocol: "https".into(),
                endpoint: hook.into(),
                arn: format!("{topic}:abc"),
            },
        ];
        let r = judge_subscriptions(topic, &want, &have);
        assert_eq!(r.len(), 2, "{r:#?}");
        assert_eq!(r[0].status, Status::Warn);
        assert!(
            r[0].detail.starts_with("st-alerts-critical: email"),
            "{}",
            r[0].detail
        );
        assert!(r[0]
            .hint
            .as_deref()
            .unwrap()
            .starts_with("confirm the email"));
        assert_eq!(r[1].status, Status::Fail);
        assert!(r[1].detail.contains("lead@example.com"));
        let all: String = r.iter().map(|x| x.detail.clone()).collect();
        assert!(!all.contains("SECRETKEY"));
        // All confirmed: one pass.
        let r = judge_subscriptions(topic, &want[2..], &have);
        assert_eq!(r.len(), 1);
        assert!(r[0].passed(), "{r:#?}");
        // Nobody subscribed and nobody configured: the topic pages nobody.
        let r = judge_subscriptions(topic, &[], &have[..1]);
        assert_eq!(r[0].status, Status::Fail);
        assert!(r[0].detail.contains("page nobody"), "{}", r[0].detail);
    }

    const TOPIC_CRIT: &str = "arn:aws:sns:eu-west-1:123456789012:my-stack-alerts-critical";

    #[test]
    fn alarms_must_exist_and_notify_a_topic_of_the_definition() {
        let expected = vec![
            "st-log-errors".to_string(),
            "st-log-unit-failed".to_string(),
        ];
        let alarm = |name: &str, topic: &str, state: &str| Alarm {
            name: name.into(),
            actions: vec![topic.into()],
            state: state.into(),
        };
        let topics = vec![TOPIC_CRIT.to_string()];
        let found = vec![
            alarm("st-log-errors", TOPIC_CRIT, "OK"),
            alarm("st-log-unit-failed", TOPIC_CRIT, "ALARM"),
        ];
        let r = judge_alarms(&expected, &found, &topics);
        assert!(r.passed(), "{r:?}");
        assert!(
            r.detail.ends_with("in ALARM now: st-log-unit-failed"),
            "{}",
            r.detail
        );
        let r = judge_alarms(&expected, &found[..1], &topics);
        assert_eq!(r.detail, "st-log-unit-failed does not exist");
        let elsewhere = vec![alarm("st-log-errors", TOPIC, "OK"), found[1].clone()];
        let r = judge_alarms(&expected, &elsewhere, &topics);
        assert_eq!(r.detail, "st-log-errors notifies no alert topic");
    }
}
