//! Alerting inside the AMP workspace: the rule-groups namespaces `monitor-alerts` renders
//! (put when missing, when their content sha256 tag differs or when the last put failed;
//! deleted when no longer rendered) and the Alertmanager definition (put when its content
//! differs). Each put waits for ACTIVE and reports AMP's `statusReason` on
//! CREATION_FAILED / UPDATE_FAILED (`AMP-API/API_PutRuleGroupsNamespace.html`,
//! `API_PutAlertManagerDefinition.html`; the SDK base64-encodes the `data` blob).

use aws_sdk_amp::primitives::Blob;
use serde::Serialize;

use super::{ignore_not_found, Env, Known, StepOutput};
use crate::error::{ReconcileError, Result};
use crate::names::TAG_RULES_SHA;
use crate::observe::Observed;
use crate::plan::{Action, Change, Detail, Resource, ResourceKind};
use crate::poll::Poll;
use crate::Desired;

/// What apply does to the alerting resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AlertingOp {
    /// CreateRuleGroupsNamespace (tagged) or PutRuleGroupsNamespace + TagResource, then
    /// wait for ACTIVE.
    PutNamespace {
        /// Namespace name.
        name: String,
        /// Whether it exists (put) or not (create).
        exists: bool,
        /// sha256 of the rules file.
        sha: String,
        /// The rules file (not shown in the plan: see `sha`).
        #[serde(skip)]
        data: String,
    },
    /// DeleteRuleGroupsNamespace.
    DeleteNamespace {
        /// Namespace name.
        name: String,
    },
    /// Create/PutAlertManagerDefinition, then wait for ACTIVE.
    PutAlertmanager {
        /// Whether a definition exists.
        exists: bool,
        /// sha256 of the definition file.
        sha: String,
        /// The definition file (not shown in the plan).
        #[serde(skip)]
        data: String,
    },
    /// DeleteAlertManagerDefinition.
    DeleteAlertmanager,
}

/// The apply plan's alerting changes.
pub(crate) fn plan(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let mut changes = Vec::new();
    let want = desired.alerting.as_ref();
    for n in want.iter().flat_map(|a| &a.namespaces) {
        let have = observed.rule_namespaces.iter().find(|o| o.name == n.name);
        let (action, reason) = match have {
            None => (Action::Create, "rule namespace does not exist".to_string()),
            Some(h) if h.failed() => (
                Action::Update,
                format!(
                    "last put failed ({}): {}",
                    h.status.as_str(),
                    h.status_reason.as_deref().unwrap_or("no reason given")
                ),
            ),
            Some(h) if h.sha.as_deref() != Some(n.sha.as_str()) => {
                (Action::Update, "rules changed".to_string())
            }
            Some(_) => continue,
        };
        changes.push(
            Change::new(
                Resource::new(
                    ResourceKind::RuleNamespace,
                    &n.name,
                    have.map(|h| h.arn.clone()),
                ),
                action,
                reason,
                AlertingOp::PutNamespace {
                    name: n.name.clone(),
                    exists: have.is_some(),
                    sha: n.sha.clone(),
                    data: n.data.clone(),
                },
            )
            .detail(Detail::new(
                "rules_sha256",
                have.and_then(|h| h.sha.as_deref()),
                Some(&n.sha),
            )),
        );
    }
    for o in &observed.rule_namespaces {
        if !want.is_some_and(|a| a.namespaces.iter().any(|n| n.name == o.name)) {
            changes.push(delete_namespace(o, "no longer rendered from the stack"));
        }
    }
    let Some(a) = want else {
        if observed.alertmanager.is_some() {
            changes.push(delete_alertmanager(
                &desired.names.stack,
                "[alerting] is off; the stack workspace's definition is removed",
            ));
        }
        return changes;
    };
    {
        let sha = crate::names::sha256_hex(&a.alertmanager);
        let have = observed.alertmanager.as_ref();
        let change = match have {
            None => Some((Action::Create, "no Alertmanager definition".to_string())),
            Some(h) if h.failed() => Some((
                Action::Update,
                format!(
                    "last put failed ({}): {}",
                    h.status.as_str(),
                    h.status_reason.as_deref().unwrap_or("no reason given")
                ),
            )),
            Some(h) if h.sha != sha => Some((Action::Update, "definition differs".to_string())),
            Some(_) => None,
        };
        if let Some((action, reason)) = change {
            changes.push(
                Change::new(
                    Resource::new(
                        ResourceKind::AlertmanagerDefinition,
                        &desired.names.stack,
                        None,
                    ),
                    action,
                    reason,
                    AlertingOp::PutAlertmanager {
                        exists: have.is_some(),
                        sha: sha.clone(),
                        data: a.alertmanager.clone(),
                    },
                )
                .detail(Detail::new(
                    "definition_sha256",
                    have.map(|h| h.sha.as_str()),
                    Some(&sha),
                )),
            );
        }
    }
    changes
}

fn delete_namespace(o: &crate::observe::RuleNamespaceState, reason: &str) -> Change {
    Change::new(
        Resource::new(ResourceKind::RuleNamespace, &o.name, Some(o.arn.clone())),
        Action::Delete,
        reason,
        AlertingOp::DeleteNamespace {
            name: o.name.clone(),
        },
    )
}

/// The destroy plan's alerting changes (the workspace's deletion would take them too;
/// deleting them first keeps a destroy that stops half-way consistent).
pub(crate) fn plan_destroy(names: &crate::names::Names, observed: &Observed) -> Vec<Change> {
    let mut changes: Vec<Change> = observed
        .rule_namespaces
        .iter()
        .map(|o| delete_namespace(o, "destroy: rule namespace tagged with the stack"))
        .collect();
    if observed.alertmanager.is_some() {
        changes.push(delete_alertmanager(
            &names.stack,
            "destroy: the stack workspace's Alertmanager definition",
        ));
    }
    changes
}

fn delete_alertmanager(stack: &str, reason: &str) -> Change {
    Change::new(
        Resource::new(ResourceKind::AlertmanagerDefinition, stack, None),
        Action::Delete,
        reason,
        AlertingOp::DeleteAlertmanager,
    )
}

pub(crate) async fn apply(env: &Env<'_>, known: &Known, op: &AlertingOp) -> Result<StepOutput> {
    let ws = known.amp.as_ref().map(|a| a.id.clone()).ok_or_else(|| {
        ReconcileError::Failed("no AMP workspace for the alerting resources".into())
    })?;
    let amp = &env.clients.amp;
    match op {
        AlertingOp::PutNamespace {
            name,
            exists,
            sha,
            data,
        } => {
            let blob = Blob::new(data.as_bytes());
            let arn = if *exists {
                let out = amp
                    .put_rule_groups_namespace()
                    .workspace_id(&ws)
                    .name(name)
                    .data(blob)
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("aps:PutRuleGroupsNamespace", e))?;
                let arn = out.arn().to_string();
                amp.tag_resource()
                    .resource_arn(&arn)
                    .tags(TAG_RULES_SHA, sha)
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("aps:TagResource", e))?;
                arn
            } else {
                let mut req = amp
                    .create_rule_groups_namespace()
                    .workspace_id(&ws)
                    .name(name)
                    .data(blob)
                    .tags(TAG_RULES_SHA, sha);
                for (k, v) in env.names.owner_tags() {
                    req = req.tags(k, v);
                }
                req.send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("aps:CreateRuleGroupsNamespace", e))?
                    .arn()
                    .to_string()
            };
            wait_namespace(env, &ws, name).await?;
            Ok(StepOutput::message(format!(
                "{} {name} ({arn}), ACTIVE",
                if *exists { "updated" } else { "created" }
            )))
        }
        AlertingOp::DeleteNamespace { name } => {
            let r = amp
                .delete_rule_groups_namespace()
                .workspace_id(&ws)
                .name(name)
                .send()
                .await;
            Ok(StepOutput::message(match r {
                Ok(_) => format!("deleted {name}"),
                Err(e) => {
                    ignore_not_found(ReconcileError::from_sdk("aps:DeleteRuleGroupsNamespace", e))?;
                    format!("{name} already gone")
                }
            }))
        }
        AlertingOp::PutAlertmanager { exists, data, .. } => {
            let blob = Blob::new(data.as_bytes());
            if *exists {
                amp.put_alert_manager_definition()
                    .workspace_id(&ws)
                    .data(blob)
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("aps:PutAlertManagerDefinition", e))?;
            } else {
                amp.create_alert_manager_definition()
                    .workspace_id(&ws)
                    .data(blob)
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("aps:CreateAlertManagerDefinition", e))?;
            }
            wait_alertmanager(env, &ws).await?;
            Ok(StepOutput::message(format!(
                "{} the Alertmanager definition, ACTIVE",
                if *exists { "updated" } else { "created" }
            )))
        }
        AlertingOp::DeleteAlertmanager => {
            let r = amp
                .delete_alert_manager_definition()
                .workspace_id(&ws)
                .send()
                .await;
            Ok(StepOutput::message(match r {
                Ok(_) => "deleted".to_string(),
                Err(e) => {
                    ignore_not_found(ReconcileError::from_sdk(
                        "aps:DeleteAlertManagerDefinition",
                        e,
                    ))?;
                    "already gone".to_string()
                }
            }))
        }
    }
}

async fn wait_namespace(env: &Env<'_>, ws: &str, name: &str) -> Result<()> {
    wait_active(env, &format!("rule namespace {name}"), || async {
        let out = env
            .clients
            .amp
            .describe_rule_groups_namespace()
            .workspace_id(ws)
            .name(name)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("aps:DescribeRuleGroupsNamespace", e))?;
        let status = out.rule_groups_namespace().and_then(|n| n.status());
        Ok(status.map(|s| {
            (
                s.status_code().as_str().to_string(),
                s.status_reason().map(str::to_string),
            )
        }))
    })
    .await
}

async fn wait_alertmanager(env: &Env<'_>, ws: &str) -> Result<()> {
    wait_active(env, "the Alertmanager definition", || async {
        let out = env
            .clients
            .amp
            .describe_alert_manager_definition()
            .workspace_id(ws)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("aps:DescribeAlertManagerDefinition", e))?;
        let status = out.alert_manager_definition().and_then(|d| d.status());
        Ok(status.map(|s| {
            (
                s.status_code().as_str().to_string(),
                s.status_reason().map(str::to_string),
            )
        }))
    })
    .await
}

/// Polls `describe` (status code and AMP's `statusReason`) until ACTIVE; CREATION_FAILED
/// and UPDATE_FAILED end the wait with the reason. Rule namespaces and the Alertmanager
/// definition share these codes.
async fn wait_active<F, Fut>(env: &Env<'_>, what: &str, describe: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Option<(String, Option<String>)>>>,
{
    let waiting = format!("{what} to be ACTIVE");
    env.poll_shown(&waiting, || async {
        match describe().await? {
            Some((code, _)) if code == "ACTIVE" => Ok(Poll::Ready(())),
            Some((code, reason)) if code == "CREATION_FAILED" || code == "UPDATE_FAILED" => {
                Err(ReconcileError::Failed(format!(
                    "{what} is {code}: {}",
                    reason.as_deref().unwrap_or("AMP gave no reason")
                )))
            }
            Some((code, _)) => Ok(Poll::Pending(code)),
            None => Ok(Poll::Pending("unknown".to_string())),
        }
    })
    .await
}
