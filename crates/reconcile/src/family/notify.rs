//! Where the alerts go: one SNS topic per notified severity (`<stack>-alerts-<severity>`,
//! standard, encrypted with the stack's customer-managed KMS key so AMP and CloudWatch
//! may publish — the AWS-managed `alias/aws/sns` key does not let them), its access
//! policy ([`policy::topic_policy`]: AMP only for the stack's workspace, CloudWatch only
//! for the stack's log alarms, TLS only) and its email / HTTPS subscriptions.
//!
//! A subscription SNS has not seen confirmed is shown as pending, never unsubscribed (SNS
//! gives it no ARN and deletes it after 48 hours); a confirmed one that is no longer
//! configured is unsubscribed. The key is never deleted at once: destroy removes the
//! alias and schedules the key's deletion after KMS's minimum of 7 days.

use serde::Serialize;

use super::{Env, Known, StepOutput};
use crate::desired::{subscription_shown, DesiredTopic};
use crate::error::{ReconcileError, Result};
use crate::names::Names;
use crate::observe::{Observed, TopicState};
use crate::plan::{Action, Change, Detail, Resource, ResourceKind, KNOWN_AFTER_APPLY};
use crate::policy::{self, same_policy, PolicyDocument};
use crate::Desired;

/// KMS's minimum waiting period before a scheduled key deletion.
pub const KEY_DELETION_DAYS: i32 = 7;

/// What apply does to the alert key, topics and subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NotifyOp {
    /// CreateKey (tagged, [`policy::alert_key_policy`]), point the alias at it
    /// (CreateAlias, or UpdateAlias when the alias names an unusable key; if that fails the
    /// new key is scheduled for deletion, so no key is left that no alias finds), then
    /// EnableKeyRotation (if that fails, the next plan finds the key by its alias with
    /// rotation off and turns it on: [`NotifyOp::EnableKeyRotation`]).
    CreateKey {
        /// `alias/<stack>-alerts`.
        alias: String,
        /// Whether the alias exists (it is moved to the new key).
        alias_exists: bool,
    },
    /// EnableKeyRotation of the stack's key.
    EnableKeyRotation {
        /// Key id.
        key_id: String,
    },
    /// PutKeyPolicy `default`.
    PutKeyPolicy {
        /// Key id.
        key_id: String,
    },
    /// DeleteAlias, then ScheduleKeyDeletion after [`KEY_DELETION_DAYS`].
    DeleteKey {
        /// Key id.
        key_id: String,
        /// The alias.
        alias: String,
    },
    /// CreateTopic with its key, policy and tags.
    CreateTopic {
        /// Topic name.
        name: String,
        /// Log alarms publish to it.
        log_alarms: bool,
    },
    /// SetTopicAttributes for what differs.
    UpdateTopic {
        /// Topic ARN.
        arn: String,
        /// Log alarms publish to it.
        log_alarms: bool,
        /// Put the policy.
        policy: bool,
        /// Set the key.
        key: bool,
    },
    /// DeleteTopic (its subscriptions go with it).
    DeleteTopic {
        /// Topic ARN.
        arn: String,
    },
    /// Subscribe.
    Subscribe {
        /// Topic ARN.
        topic_arn: String,
        /// `email` / `https`.
        protocol: String,
        /// The endpoint as shown ([`subscription_shown`]).
        shown: String,
        /// The endpoint (never serialised: an HTTPS URL often holds a key).
        #[serde(skip)]
        endpoint: String,
    },
    /// Unsubscribe a confirmed subscription that is no longer configured.
    Unsubscribe {
        /// Subscription ARN.
        arn: String,
        /// The endpoint as shown.
        shown: String,
    },
}

/// The stack's key policy.
fn key_policy(desired: &Desired) -> PolicyDocument {
    policy::alert_key_policy(&desired.account_id, &desired.region, &desired.names.stack)
}

/// The policy of `topic_arn` once the AMP workspace `ws_arn` is known.
fn topic_policy(
    names_stack: &str,
    account: &str,
    region: &str,
    topic_arn: &str,
    ws_arn: &str,
    log_alarms: bool,
) -> PolicyDocument {
    let prefix = monitor_alerts::log_alarms::alarm_prefix(names_stack);
    policy::topic_policy(
        topic_arn,
        ws_arn,
        account,
        region,
        log_alarms.then_some(prefix.as_str()),
    )
}

/// The apply plan's key, topic and subscription changes.
pub(crate) fn plan(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let want = desired.alerting.as_ref().filter(|a| !a.topics.is_empty());
    let have = &observed.notify;
    let alias = &desired.names.alert_key_alias;
    let mut changes = Vec::new();
    let Some(want) = want else {
        changes.extend(have.topics.iter().map(|t| {
            delete_topic(
                t,
                "no severity is notified ([alerting] off or notify empty)",
            )
        }));
        changes.extend(delete_key(
            &desired.names,
            observed,
            "no alert topic needs it",
        ));
        return changes;
    };
    let key_policy = key_policy(desired);
    match &have.key {
        None => changes.push(Change::new(
            Resource::new(ResourceKind::AlertKey, alias, None),
            Action::Create,
            "no KMS key encrypts the alert topics",
            NotifyOp::CreateKey {
                alias: alias.clone(),
                alias_exists: false,
            },
        )),
        Some(k) if !k.usable() => changes.push(Change::new(
            Resource::new(ResourceKind::AlertKey, alias, Some(k.key_id.clone())),
            Action::Replace,
            format!(
                "the alias names a key that is {}: a new key takes the alias",
                k.state.as_str()
            ),
            NotifyOp::CreateKey {
                alias: alias.clone(),
                alias_exists: true,
            },
        )),
        Some(k)
            if !k
                .policy
                .as_ref()
                .is_some_and(|p| same_policy(p, &key_policy.to_value())) =>
        {
            changes.push(Change::new(
                Resource::new(ResourceKind::AlertKey, alias, Some(k.key_id.clone())),
                Action::Update,
                "key policy differs (AMP and CloudWatch must be able to use it)",
                NotifyOp::PutKeyPolicy {
                    key_id: k.key_id.clone(),
                },
            ));
        }
        Some(k) if !k.rotation => changes.push(
            Change::new(
                Resource::new(ResourceKind::AlertKey, alias, Some(k.key_id.clone())),
                Action::Update,
                "automatic key rotation is off",
                NotifyOp::EnableKeyRotation {
                    key_id: k.key_id.clone(),
                },
            )
            .detail(Detail::new("rotation", Some("off"), Some("on"))),
        ),
        Some(_) => {}
    }
    let ws_arn = observed.amp_workspace().map(|w| w.arn.as_str());
    for t in &want.topics {
        let existing = have.topics.iter().find(|h| h.severity == t.severity);
        match existing {
            None => changes.push(
                Change::new(
                    Resource::new(ResourceKind::AlertTopic, &t.name, None),
                    Action::Create,
                    format!("{} alerts have no topic", t.severity.as_str()),
                    NotifyOp::CreateTopic {
                        name: t.name.clone(),
                        log_alarms: t.log_alarms,
                    },
                )
                .detail(Detail::new("kms_master_key_id", None, Some(alias))),
            ),
            Some(h) => changes.extend(update_topic(desired, t, h, ws_arn)),
        }
        changes.extend(plan_subscriptions(t, existing));
    }
    for h in &have.topics {
        if !want.topics.iter().any(|t| t.severity == h.severity) {
            changes.push(delete_topic(
                h,
                &format!("{} is no longer in [alerting] notify", h.severity.as_str()),
            ));
        }
    }
    changes
}

fn update_topic(
    desired: &Desired,
    t: &DesiredTopic,
    h: &TopicState,
    ws_arn: Option<&str>,
) -> Option<Change> {
    let alias = &desired.names.alert_key_alias;
    let want_policy = ws_arn.map(|ws| {
        topic_policy(
            &desired.names.stack,
            &desired.account_id,
            &desired.region,
            &t.arn,
            ws,
            t.log_alarms,
        )
    });
    let policy_differs = match &want_policy {
        Some(p) => !h
            .policy
            .as_ref()
            .is_some_and(|have| same_policy(have, &p.to_value())),
        None => true,
    };
    let key_differs = h.kms_key.as_deref() != Some(alias.as_str());
    if !policy_differs && !key_differs {
        return None;
    }
    let mut c = Change::new(
        Resource::new(ResourceKind::AlertTopic, &t.name, Some(h.arn.clone())),
        Action::Update,
        match (policy_differs, key_differs) {
            (true, true) => "access policy and encryption key differ",
            (true, false) => "access policy differs (AMP must be allowed to publish)",
            _ => "encryption key differs",
        },
        NotifyOp::UpdateTopic {
            arn: h.arn.clone(),
            log_alarms: t.log_alarms,
            policy: policy_differs,
            key: key_differs,
        },
    );
    if policy_differs && want_policy.is_none() {
        c = c.detail(Detail::new("policy", None, Some(KNOWN_AFTER_APPLY)));
    }
    if key_differs {
        c = c.detail(Detail::new(
            "kms_master_key_id",
            h.kms_key.as_deref(),
            Some(alias),
        ));
    }
    Some(c)
}

fn plan_subscriptions(t: &DesiredTopic, have: Option<&TopicState>) -> Vec<Change> {
    let subs = have.map(|h| h.subscriptions.as_slice()).unwrap_or_default();
    let mut changes = Vec::new();
    for s in &t.subscriptions {
        if subs
            .iter()
            .any(|o| o.protocol == s.protocol && o.endpoint == s.endpoint)
        {
            continue;
        }
        changes.push(Change::new(
            Resource::new(
                ResourceKind::AlertSubscription,
                format!("{}/{}", t.severity.as_str(), s.shown()),
                None,
            ),
            Action::Create,
            "configured in [alerting]; SNS sends a confirmation first",
            NotifyOp::Subscribe {
                topic_arn: t.arn.clone(),
                protocol: s.protocol.to_string(),
                shown: s.shown(),
                endpoint: s.endpoint.clone(),
            },
        ));
    }
    for o in subs {
        let configured = t
            .subscriptions
            .iter()
            .any(|s| o.protocol == s.protocol && o.endpoint == s.endpoint);
        if let (false, Some(arn)) = (configured, &o.arn) {
            let shown = subscription_shown(&o.protocol, &o.endpoint);
            changes.push(Change::new(
                Resource::new(
                    ResourceKind::AlertSubscription,
                    format!("{}/{shown}", t.severity.as_str()),
                    Some(arn.clone()),
                ),
                Action::Delete,
                "no longer configured in [alerting]",
                NotifyOp::Unsubscribe {
                    arn: arn.clone(),
                    shown,
                },
            ));
        }
    }
    changes
}

fn delete_topic(t: &TopicState, reason: &str) -> Change {
    Change::new(
        Resource::new(ResourceKind::AlertTopic, &t.name, Some(t.arn.clone())),
        Action::Delete,
        reason,
        NotifyOp::DeleteTopic { arn: t.arn.clone() },
    )
}

fn delete_key(names: &Names, observed: &Observed, reason: &str) -> Option<Change> {
    let k = observed.notify.key.as_ref().filter(|k| k.usable())?;
    let alias = &names.alert_key_alias;
    Some(Change::new(
        Resource::new(ResourceKind::AlertKey, alias, Some(k.key_id.clone())),
        Action::Delete,
        format!("{reason}; KMS deletes it {KEY_DELETION_DAYS} days after scheduling"),
        NotifyOp::DeleteKey {
            key_id: k.key_id.clone(),
            alias: alias.clone(),
        },
    ))
}

/// The destroy plan's topic and key changes.
pub(crate) fn plan_destroy(names: &Names, observed: &Observed) -> Vec<Change> {
    let mut changes: Vec<Change> = observed
        .notify
        .topics
        .iter()
        .map(|t| delete_topic(t, "destroy: alert topic of the stack"))
        .collect();
    changes.extend(delete_key(names, observed, "destroy"));
    changes
}

fn sns_tags(env: &Env<'_>) -> Result<Vec<aws_sdk_sns::types::Tag>> {
    env.names
        .owner_tags()
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_sns::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ReconcileError::Failed(format!("SNS tag: {e}")))
        })
        .collect()
}

fn kms_tags(env: &Env<'_>) -> Result<Vec<aws_sdk_kms::types::Tag>> {
    env.names
        .owner_tags()
        .into_iter()
        .map(|(k, v)| {
            aws_sdk_kms::types::Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
                .map_err(|e| ReconcileError::Failed(format!("KMS tag: {e}")))
        })
        .collect()
}

/// The policy of topic `arn` for the workspace known now.
fn apply_topic_policy(env: &Env<'_>, known: &Known, arn: &str, log_alarms: bool) -> Result<String> {
    let ws = known.amp.as_ref().ok_or_else(|| {
        ReconcileError::Failed("no AMP workspace to scope the topic policy to".into())
    })?;
    Ok(topic_policy(
        &env.names.stack,
        &env.observed.account_id,
        &env.clients.region,
        arn,
        &ws.arn,
        log_alarms,
    )
    .to_json())
}

async fn enable_rotation(kms: &aws_sdk_kms::Client, key_id: &str) -> Result<()> {
    kms.enable_key_rotation()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("kms:EnableKeyRotation", e))?;
    Ok(())
}

pub(crate) async fn apply(env: &Env<'_>, known: &Known, op: &NotifyOp) -> Result<StepOutput> {
    let (sns, kms) = (&env.clients.sns, &env.clients.kms);
    let account = &env.observed.account_id;
    let region = &env.clients.region;
    let message = match op {
        NotifyOp::CreateKey {
            alias,
            alias_exists,
        } => {
            let policy = policy::alert_key_policy(account, region, &env.names.stack);
            let out = kms
                .create_key()
                .description(format!(
                    "Encrypts the alert topics of monitoring stack {} (managed by monitor-provision)",
                    env.names.stack
                ))
                .policy(policy.to_json())
                .set_tags(Some(kms_tags(env)?))
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("kms:CreateKey", e))?;
            let key_id = out
                .key_metadata()
                .map(|m| m.key_id().to_string())
                .ok_or_else(|| ReconcileError::Failed("kms:CreateKey returned no key".into()))?;
            // The alias first: it is how the next plan finds the key.
            let aliased = if *alias_exists {
                kms.update_alias()
                    .alias_name(alias)
                    .target_key_id(&key_id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| ReconcileError::from_sdk("kms:UpdateAlias", e))
            } else {
                kms.create_alias()
                    .alias_name(alias)
                    .target_key_id(&key_id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| ReconcileError::from_sdk("kms:CreateAlias", e))
            };
            if let Err(e) = aliased {
                // A key no alias names would be found by nothing and billed: delete it, or
                // say which one is left.
                return Err(
                    match kms
                        .schedule_key_deletion()
                        .key_id(&key_id)
                        .pending_window_in_days(KEY_DELETION_DAYS)
                        .send()
                        .await
                    {
                        Ok(_) => e,
                        Err(d) => ReconcileError::Failed(format!(
                            "{e}; the new key {key_id} could not be scheduled for deletion \
                             either ({}): delete it by hand",
                            ReconcileError::from_sdk("kms:ScheduleKeyDeletion", d)
                        )),
                    },
                );
            }
            enable_rotation(kms, &key_id).await?;
            format!("created key {key_id} (rotation on) as {alias}")
        }
        NotifyOp::EnableKeyRotation { key_id } => {
            enable_rotation(kms, key_id).await?;
            format!("rotation of {key_id} turned on")
        }
        NotifyOp::PutKeyPolicy { key_id } => {
            let policy = policy::alert_key_policy(account, region, &env.names.stack);
            kms.put_key_policy()
                .key_id(key_id)
                .policy_name("default")
                .policy(policy.to_json())
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("kms:PutKeyPolicy", e))?;
            format!("key policy of {key_id} put")
        }
        NotifyOp::DeleteKey { key_id, alias } => {
            if let Err(e) = kms.delete_alias().alias_name(alias).send().await {
                super::ignore_not_found(ReconcileError::from_sdk("kms:DeleteAlias", e))?;
            }
            kms.schedule_key_deletion()
                .key_id(key_id)
                .pending_window_in_days(KEY_DELETION_DAYS)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("kms:ScheduleKeyDeletion", e))?;
            format!("{alias} removed; key {key_id} is deleted in {KEY_DELETION_DAYS} days")
        }
        NotifyOp::CreateTopic { name, log_alarms } => {
            let out = sns
                .create_topic()
                .name(name)
                .attributes("KmsMasterKeyId", &env.names.alert_key_alias)
                .set_tags(Some(sns_tags(env)?))
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("sns:CreateTopic", e))?;
            let arn = out
                .topic_arn()
                .ok_or_else(|| ReconcileError::Failed("sns:CreateTopic returned no ARN".into()))?
                .to_string();
            set_policy(env, known, &arn, *log_alarms).await?;
            format!(
                "created {arn}, encrypted with {}",
                env.names.alert_key_alias
            )
        }
        NotifyOp::UpdateTopic {
            arn,
            log_alarms,
            policy,
            key,
        } => {
            if *key {
                sns.set_topic_attributes()
                    .topic_arn(arn)
                    .attribute_name("KmsMasterKeyId")
                    .attribute_value(&env.names.alert_key_alias)
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("sns:SetTopicAttributes", e))?;
            }
            if *policy {
                set_policy(env, known, arn, *log_alarms).await?;
            }
            format!("updated {arn}")
        }
        NotifyOp::DeleteTopic { arn } => {
            sns.delete_topic()
                .topic_arn(arn)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("sns:DeleteTopic", e))?;
            format!("deleted {arn}")
        }
        NotifyOp::Subscribe {
            topic_arn,
            protocol,
            shown,
            endpoint,
        } => {
            let out = sns
                .subscribe()
                .topic_arn(topic_arn)
                .protocol(protocol)
                .endpoint(endpoint)
                .return_subscription_arn(true)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("sns:Subscribe", e))?;
            let pending = match out.subscription_arn() {
                Some(arn) => sns
                    .get_subscription_attributes()
                    .subscription_arn(arn)
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("sns:GetSubscriptionAttributes", e))?
                    .attributes()
                    .and_then(|a| a.get("PendingConfirmation"))
                    .is_none_or(|v| v == "true"),
                None => true,
            };
            if pending {
                format!("subscribed {shown}: pending confirmation (SNS sent it a confirmation request; unconfirmed subscriptions are deleted after 48 hours)")
            } else {
                format!("subscribed {shown}: confirmed")
            }
        }
        NotifyOp::Unsubscribe { arn, shown } => {
            if let Err(e) = sns.unsubscribe().subscription_arn(arn).send().await {
                super::ignore_not_found(ReconcileError::from_sdk("sns:Unsubscribe", e))?;
            }
            format!("unsubscribed {shown}")
        }
    };
    Ok(StepOutput::message(message))
}

async fn set_policy(env: &Env<'_>, known: &Known, arn: &str, log_alarms: bool) -> Result<()> {
    let doc = apply_topic_policy(env, known, arn, log_alarms)?;
    env.clients
        .sns
        .set_topic_attributes()
        .topic_arn(arn)
        .attribute_name("Policy")
        .attribute_value(doc)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("sns:SetTopicAttributes", e))?;
    Ok(())
}
