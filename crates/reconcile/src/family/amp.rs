//! The AMP workspace: keep the oldest healthy one ([`Observed::amp_workspace`]), delete
//! failed ones and duplicates, create one when none is healthy.

use aws_sdk_amp::types::WorkspaceStatusCode;
use serde::Serialize;

use super::{ignore_not_found, Env, Known, Produced, StepOutput};
use crate::error::{ReconcileError, Result};
use crate::observe::Observed;
use crate::plan::{Action, Change, Detail, Resource, ResourceKind};
use crate::poll::Poll;
use crate::Desired;

/// What apply does to the AMP workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum AmpOp {
    /// CreateWorkspace with the stack's alias and ownership tags, then wait for ACTIVE.
    CreateWorkspace {
        /// The alias (= stack name).
        alias: String,
    },
    /// DeleteWorkspace (already gone counts as done).
    DeleteWorkspace {
        /// `ws-…`.
        id: String,
    },
}

/// The apply plan's AMP changes.
pub(crate) fn plan(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let names = &desired.names;
    let keeper = observed.amp_workspace();
    let mut changes = Vec::new();
    for w in &observed.workspaces {
        if keeper.is_some_and(|k| k.id == w.id) {
            continue;
        }
        let reason = if w.status == WorkspaceStatusCode::CreationFailed {
            "workspace creation failed; it is deleted and recreated".to_string()
        } else {
            format!(
                "duplicate workspace tagged stack={} (keeping {})",
                names.stack,
                keeper.map_or("-", |k| k.id.as_str())
            )
        };
        changes.push(delete(&names.workspace_alias, &w.id, reason));
    }
    if keeper.is_none() {
        changes.push(
            Change::new(
                Resource::new(ResourceKind::AmpWorkspace, &names.workspace_alias, None),
                Action::Create,
                format!("no AMP workspace tagged stack={}", names.stack),
                AmpOp::CreateWorkspace {
                    alias: names.workspace_alias.clone(),
                },
            )
            .detail(Detail::new("alias", None, Some(&names.workspace_alias))),
        );
    }
    changes
}

fn delete(alias: &str, id: &str, reason: impl Into<String>) -> Change {
    Change::new(
        Resource::new(ResourceKind::AmpWorkspace, alias, Some(id.to_string())),
        Action::Delete,
        reason,
        AmpOp::DeleteWorkspace { id: id.to_string() },
    )
}

/// The destroy plan's AMP changes: every workspace tagged with the stack.
pub(crate) fn plan_destroy(alias: &str, observed: &Observed) -> Vec<Change> {
    observed
        .workspaces
        .iter()
        .map(|w| {
            delete(
                alias,
                &w.id,
                "destroy: workspace tagged with the stack (its metrics are deleted)",
            )
        })
        .collect()
}

pub(crate) async fn apply(env: &Env<'_>, _known: &Known, op: &AmpOp) -> Result<StepOutput> {
    match op {
        AmpOp::CreateWorkspace { alias } => create(env, alias).await,
        AmpOp::DeleteWorkspace { id } => {
            let r = env
                .clients
                .amp
                .delete_workspace()
                .workspace_id(id)
                .send()
                .await;
            Ok(StepOutput::message(match r {
                Ok(_) => format!("deleted {id}"),
                Err(e) => {
                    ignore_not_found(ReconcileError::from_sdk("aps:DeleteWorkspace", e))?;
                    format!("{id} already gone")
                }
            }))
        }
    }
}

async fn create(env: &Env<'_>, alias: &str) -> Result<StepOutput> {
    let mut req = env.clients.amp.create_workspace().alias(alias);
    for (k, v) in env.names.owner_tags() {
        req = req.tags(k, v);
    }
    let out = req
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("aps:CreateWorkspace", e))?;
    let id = out.workspace_id().to_string();
    let arn = out.arn().to_string();
    let what = format!("AMP workspace {id} to be ACTIVE");
    env.poll_shown(&what, || async {
        let out = env
            .clients
            .amp
            .describe_workspace()
            .workspace_id(&id)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("aps:DescribeWorkspace", e))?;
        let status = out
            .workspace()
            .and_then(|w| w.status())
            .map(|s| s.status_code().clone());
        match status {
            Some(WorkspaceStatusCode::Active) => Ok(Poll::Ready(())),
            Some(s @ (WorkspaceStatusCode::CreationFailed | WorkspaceStatusCode::Deleting)) => {
                Err(ReconcileError::Failed(format!(
                    "AMP workspace {id} is {}; re-run apply to replace it",
                    s.as_str()
                )))
            }
            other => Ok(Poll::Pending(
                other.as_ref().map_or("unknown", |s| s.as_str()).to_string(),
            )),
        }
    })
    .await?;
    Ok(StepOutput {
        message: format!("created {id}"),
        produced: Some(Produced::AmpWorkspace { id, arn }),
    })
}
