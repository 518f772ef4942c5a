//! Reads what pages a human outside AMP: the KMS key behind the stack's alias, the alert
//! topics (`<stack>-alerts-<severity>`, looked up by name, proven ours by their tags) with
//! their subscriptions, the metric filters on the stack's log group and the log alarms.

use aws_sdk_kms::types::KeyState;
use monitor_alerts::log_alarms::{alarm_name, filter_name, LOG_ALARMS};
use monitor_logs::admin::MetricFilter;
use monitor_stack::{Severity, Stack};

use crate::error::{ReconcileError, Result};
use crate::names::{alert_topic_arn, alert_topic_name, Names};
use crate::policy::parse_document;
use crate::Clients;

/// The KMS key the stack's alias points at.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertKeyState {
    /// Key id.
    pub key_id: String,
    /// Key ARN.
    pub arn: String,
    /// `Enabled`, `PendingDeletion`, … (KMS `KeyState`).
    pub state: KeyState,
    /// The key policy named `default`.
    pub policy: Option<serde_json::Value>,
    /// Whether automatic yearly rotation is on (`GetKeyRotationStatus`; `false` when the
    /// key is not enabled).
    pub rotation: bool,
}

impl AlertKeyState {
    /// Whether the key can encrypt (a key pending deletion or disabled is replaced).
    pub fn usable(&self) -> bool {
        self.state == KeyState::Enabled
    }
}

/// One subscription of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// `email`, `https`, …
    pub protocol: String,
    /// The endpoint (never printed whole: see [`crate::desired::subscription_shown`]).
    pub endpoint: String,
    /// The subscription ARN; `None` while it is pending confirmation (SNS then shows
    /// `PendingConfirmation` instead, and it cannot be unsubscribed).
    pub arn: Option<String>,
}

/// An alert topic of the stack.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicState {
    /// Severity in its name.
    pub severity: Severity,
    /// Topic name.
    pub name: String,
    /// Topic ARN.
    pub arn: String,
    /// Its access policy.
    pub policy: Option<serde_json::Value>,
    /// `KmsMasterKeyId` (an alias or key id; `None`: not encrypted).
    pub kms_key: Option<String>,
    /// Its subscriptions.
    pub subscriptions: Vec<SubscriptionState>,
}

/// A log alarm of the stack (found by its catalogue name, proven ours by its tags).
#[derive(Debug, Clone, PartialEq)]
pub struct LogAlarmState {
    /// Alarm name.
    pub name: String,
    /// Alarm ARN.
    pub arn: String,
    /// Metric namespace / name.
    pub metric: (String, String),
    /// Threshold.
    pub threshold: f64,
    /// Period in seconds.
    pub period_secs: i32,
    /// Alarm actions (topic ARNs).
    pub actions: Vec<String>,
    /// Description.
    pub description: String,
}

/// Everything [`observe`] reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotifyState {
    /// The key behind `alias/<stack>-alerts`.
    pub key: Option<AlertKeyState>,
    /// Alert topics that exist, by severity.
    pub topics: Vec<TopicState>,
    /// The stack's metric filters on its log group.
    pub metric_filters: Vec<MetricFilter>,
    /// The stack's log alarms.
    pub log_alarms: Vec<LogAlarmState>,
}

/// Reads the key, topics, filters and alarms of `stack`.
///
/// # Errors
/// [`ReconcileError::NotOurs`] for a same-named topic, key or alarm without the stack's
/// tags; the mapped SDK error of any failing read.
pub(crate) async fn observe(
    clients: &Clients,
    names: &Names,
    stack: &Stack,
    account_id: &str,
) -> Result<NotifyState> {
    let (key, topics, metric_filters, log_alarms) = tokio::try_join!(
        key(clients, names),
        topics(clients, names, account_id),
        async {
            let prefix = format!("{}-", names.stack);
            let all =
                monitor_logs::admin::metric_filters(&clients.logs, &stack.logs.group, &prefix)
                    .await?;
            let ours: Vec<String> = LOG_ALARMS.iter().map(|a| filter_name(stack, a)).collect();
            Ok(all.into_iter().filter(|f| ours.contains(&f.name)).collect())
        },
        alarms(clients, names, stack),
    )?;
    Ok(NotifyState {
        key,
        topics,
        metric_filters,
        log_alarms,
    })
}

async fn key(clients: &Clients, names: &Names) -> Result<Option<AlertKeyState>> {
    let mut pages = clients.kms.list_aliases().into_paginator().send();
    let mut target = None;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| ReconcileError::from_sdk("kms:ListAliases", e))?;
        if let Some(a) = page
            .aliases()
            .iter()
            .find(|a| a.alias_name() == Some(names.alert_key_alias.as_str()))
        {
            target = a.target_key_id().map(str::to_string);
            break;
        }
    }
    let Some(key_id) = target else {
        return Ok(None);
    };
    let d = clients
        .kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("kms:DescribeKey", e))?;
    let meta = d
        .key_metadata()
        .ok_or_else(|| ReconcileError::Failed(format!("kms:DescribeKey {key_id}: no metadata")))?;
    let tags = clients
        .kms
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("kms:ListResourceTags", e))?;
    let owned = names.owns(tags.tags().iter().map(|t| (t.tag_key(), t.tag_value())));
    if !owned {
        return Err(ReconcileError::NotOurs {
            kind: "KMS key",
            name: names.alert_key_alias.clone(),
            stack: names.stack.clone(),
        });
    }
    let state = meta.key_state().cloned().unwrap_or(KeyState::Enabled);
    let rotation = state == KeyState::Enabled
        && clients
            .kms
            .get_key_rotation_status()
            .key_id(&key_id)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("kms:GetKeyRotationStatus", e))?
            .key_rotation_enabled();
    let policy = if state == KeyState::PendingDeletion {
        None
    } else {
        let p = clients
            .kms
            .get_key_policy()
            .key_id(&key_id)
            .policy_name("default")
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("kms:GetKeyPolicy", e))?;
        p.policy().and_then(parse_document)
    };
    Ok(Some(AlertKeyState {
        key_id: meta.key_id().to_string(),
        arn: meta.arn().unwrap_or_default().to_string(),
        state,
        policy,
        rotation,
    }))
}

async fn topics(clients: &Clients, names: &Names, account_id: &str) -> Result<Vec<TopicState>> {
    let mut out = Vec::new();
    for severity in Severity::ALL {
        let arn = alert_topic_arn(&clients.region, account_id, &names.stack, severity.as_str());
        let attrs = match clients
            .sns
            .get_topic_attributes()
            .topic_arn(&arn)
            .send()
            .await
        {
            Ok(a) => a,
            Err(e) => {
                let e = ReconcileError::from_sdk("sns:GetTopicAttributes", e);
                if e.is_not_found() {
                    continue;
                }
                return Err(e);
            }
        };
        let tags = clients
            .sns
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("sns:ListTagsForResource", e))?;
        let name = alert_topic_name(&names.stack, severity.as_str());
        if !names.owns(tags.tags().iter().map(|t| (t.key(), t.value()))) {
            return Err(ReconcileError::NotOurs {
                kind: "SNS topic",
                name,
                stack: names.stack.clone(),
            });
        }
        let attrs = attrs.attributes();
        let get = |k: &str| attrs.and_then(|a| a.get(k)).filter(|v| !v.is_empty());
        out.push(TopicState {
            severity,
            name,
            policy: get("Policy").and_then(|p| parse_document(p)),
            kms_key: get("KmsMasterKeyId").cloned(),
            subscriptions: subscriptions(clients, &arn).await?,
            arn,
        });
    }
    Ok(out)
}

async fn subscriptions(clients: &Clients, topic_arn: &str) -> Result<Vec<SubscriptionState>> {
    let mut out = Vec::new();
    let mut pages = clients
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| ReconcileError::from_sdk("sns:ListSubscriptionsByTopic", e))?;
        for s in page.subscriptions() {
            out.push(subscription_state(
                s.protocol().unwrap_or_default(),
                s.endpoint().unwrap_or_default(),
                s.subscription_arn().unwrap_or_default(),
            ));
        }
    }
    Ok(out)
}

/// One entry of ListSubscriptionsByTopic: an ARN that is not one (`PendingConfirmation`,
/// `Deleted`) means the subscription is pending.
pub(crate) fn subscription_state(protocol: &str, endpoint: &str, arn: &str) -> SubscriptionState {
    SubscriptionState {
        protocol: protocol.to_string(),
        endpoint: endpoint.to_string(),
        arn: arn.starts_with("arn:").then(|| arn.to_string()),
    }
}

async fn alarms(clients: &Clients, names: &Names, stack: &Stack) -> Result<Vec<LogAlarmState>> {
    let wanted: Vec<String> = LOG_ALARMS.iter().map(|a| alarm_name(stack, a)).collect();
    let out = clients
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(wanted))
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("cloudwatch:DescribeAlarms", e))?;
    let mut states = Vec::new();
    for a in out.metric_alarms() {
        let (Some(name), Some(arn)) = (a.alarm_name(), a.alarm_arn()) else {
            continue;
        };
        let tags = clients
            .cloudwatch
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("cloudwatch:ListTagsForResource", e))?;
        let owned = names.owns(
            tags.tags()
                .iter()
                .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
        );
        if !owned {
            return Err(ReconcileError::NotOurs {
                kind: "CloudWatch alarm",
                name: name.to_string(),
                stack: names.stack.clone(),
            });
        }
        states.push(LogAlarmState {
            name: name.to_string(),
            arn: arn.to_string(),
            metric: (
                a.namespace().unwrap_or_default().to_string(),
                a.metric_name().unwrap_or_default().to_string(),
            ),
            threshold: a.threshold().unwrap_or_default(),
            period_secs: a.period().unwrap_or_default(),
            actions: a.alarm_actions().to_vec(),
            description: a.alarm_description().unwrap_or_default().to_string(),
        });
    }
    states.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_without_an_arn_is_pending() {
        let s = subscription_state("email", "a@example.com", "PendingConfirmation");
        assert_eq!(s.arn, None);
        let arn = "arn:aws:sns:eu-west-1:123456789012:t-alerts-critical:2f1c";
        let s = subscription_state("email", "a@example.com", arn);
        assert_eq!(s.arn.as_deref(), Some(arn));
    }
}
