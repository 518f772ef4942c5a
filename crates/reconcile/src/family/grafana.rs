//! Amazon Managed Grafana (`[grafana] enabled`): the workspace (found by tags, replaced
//! when failed), the Identity Center group roles, and the content (folder, datasources,
//! dashboards) put in with a token living for this run only. The workspace role is an
//! IAM [`super::iam::RoleSpec`]; every AMG and Grafana call goes through
//! `monitor-grafana`.

use std::collections::{BTreeMap, BTreeSet};

use monitor_grafana::amg::{self, RoleAssignments, WorkspaceSpec};
use monitor_grafana::api::{self, GrafanaClient};
use monitor_stack::GrafanaConfig;
use serde::Serialize;

use super::{Env, Known, Produced, StepOutput};
use crate::error::{ReconcileError, Result};
use crate::names::{Names, TAG_CONTENT_SHA};
use crate::observe::{GrafanaWorkspaceState, Observed};
use crate::plan::{Action, Change, Detail, Resource, ResourceKind, KNOWN_AFTER_APPLY};
use crate::Desired;

/// What apply does in Amazon Managed Grafana.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GrafanaOp {
    /// Delete `replaces` (a failed workspace) if set, find the workspace by tags or
    /// create it, wait until ACTIVE.
    EnsureWorkspace {
        /// Workspace name.
        name: String,
        /// Grafana version of a new workspace.
        grafana_version: String,
        /// `CUSTOMER_MANAGED` / `SERVICE_MANAGED`.
        permission_type: String,
        /// The failed workspace this one replaces.
        replaces: Option<String>,
    },
    /// DeleteWorkspace.
    DeleteWorkspace {
        /// `g-…`.
        id: String,
    },
    /// Give exactly these Identity Center groups their roles (others are removed).
    SetPermissions {
        /// `(role, group id)` pairs.
        groups: Vec<(String, String)>,
    },
    /// Upsert the stack's content, then tag the workspace with its sha256.
    PutContent {
        /// The AMP workspace the Prometheus datasource reads; `None`: the one this apply
        /// creates.
        amp_workspace_id: Option<String>,
    },
}

/// The apply plan's Grafana changes (the role's come from [`super::iam`]).
pub(crate) fn plan(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let Some(g) = &desired.grafana else {
        return Vec::new();
    };
    let names = &desired.names;
    let ws = observed.grafana_workspace.as_ref();
    let failed = ws.is_some_and(|w| w.workspace.is_failed());
    let mut changes = Vec::new();
    changes.extend(workspace_change(names, g, ws, failed));
    changes.extend(permissions_change(names, g, ws, failed));
    changes.extend(content_change(
        desired,
        observed,
        ws,
        failed,
        &g.grafana_version,
    ));
    changes
}

/// `+ grafana_workspace` when there is none, `-/+` when it failed; `None` otherwise.
fn workspace_change(
    names: &Names,
    g: &GrafanaConfig,
    ws: Option<&GrafanaWorkspaceState>,
    failed: bool,
) -> Option<Change> {
    let ensure = GrafanaOp::EnsureWorkspace {
        name: names.grafana_workspace.clone(),
        grafana_version: g.grafana_version.clone(),
        permission_type: g.permission_type.as_str().to_string(),
        replaces: ws.filter(|_| failed).map(|w| w.workspace.id.clone()),
    };
    let res = |id| Resource::new(ResourceKind::GrafanaWorkspace, &names.grafana_workspace, id);
    match ws {
        None => Some(
            Change::new(
                res(None),
                Action::Create,
                format!(
                    "no Amazon Managed Grafana workspace tagged stack={}",
                    names.stack
                ),
                ensure,
            )
            .detail(Detail::new(
                "grafana_version",
                None,
                Some(&g.grafana_version),
            ))
            .detail(Detail::new(
                "permission_type",
                None,
                Some(g.permission_type.as_str()),
            ))
            .detail(Detail::new("authentication", None, Some("AWS_SSO")))
            .detail(Detail::new("endpoint", None, Some(KNOWN_AFTER_APPLY))),
        ),
        Some(w) if failed => Some(Change::new(
            res(Some(w.workspace.id.clone())),
            Action::Replace,
            format!(
                "workspace is {}; it is deleted and recreated",
                w.workspace.status.as_str()
            ),
            ensure,
        )),
        Some(_) => None,
    }
}

/// `~ grafana_permissions` unless the workspace's Identity Center group roles are
/// exactly the `[grafana] *_group_ids` (unknown before the workspace is ACTIVE).
fn permissions_change(
    names: &Names,
    g: &GrafanaConfig,
    ws: Option<&GrafanaWorkspaceState>,
    failed: bool,
) -> Option<Change> {
    let want: BTreeSet<(String, String)> = RoleAssignments::from(g).pairs().into_iter().collect();
    let have: Option<BTreeSet<(String, String)>> = ws
        .filter(|_| !failed)
        .and_then(|w| w.permissions.as_ref())
        .map(|p| {
            p.iter()
                .map(|p| (p.role.clone(), p.group_id.clone()))
                .collect()
        });
    let show = |s: &BTreeSet<(String, String)>| {
        s.iter()
            .map(|(r, id)| format!("{r}:{id}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let perms = |reason: &str, before: Option<String>| {
        Change::new(
            Resource::new(
                ResourceKind::GrafanaPermissions,
                &names.grafana_workspace,
                ws.map(|w| w.workspace.id.clone()),
            ),
            Action::Update,
            reason,
            GrafanaOp::SetPermissions {
                groups: want.iter().cloned().collect(),
            },
        )
        .detail(Detail::new("groups", before.as_deref(), Some(&show(&want))))
    };
    match have {
        Some(h) if h == want => None,
        Some(h) => Some(perms(
            "Identity Center group roles differ from [grafana] *_group_ids",
            Some(show(&h)),
        )),
        None if want.is_empty() && ws.is_none() => None,
        None if ws.is_none() => Some(perms(
            "group roles are given once the new workspace is ACTIVE",
            None,
        )),
        None => Some(perms(
            "the workspace is not ACTIVE yet: group roles are set once it is",
            None,
        )),
    }
}

/// `~ grafana_content` unless the workspace's [`TAG_CONTENT_SHA`] tag says the last
/// successful apply put exactly the desired content into it. (The content itself cannot
/// be read without a Grafana token, which plan never creates.)
fn content_change(
    desired: &Desired,
    observed: &Observed,
    ws: Option<&GrafanaWorkspaceState>,
    failed: bool,
    configured_version: &str,
) -> Option<Change> {
    let version = ws
        .map(|w| w.workspace.grafana_version.as_str())
        .filter(|v| !v.is_empty())
        .unwrap_or(configured_version);
    let want = desired.grafana_content_sha256(version);
    let have = ws.filter(|_| !failed).and_then(|w| w.content_sha256());
    let reason = match (ws, &want, have) {
        (None, _, _) => "never applied: the workspace is created by this apply",
        _ if failed => "the workspace is replaced; its content is applied again",
        (_, None, _) => {
            "the AMP workspace is (re)created: the AMP datasource URL is known after apply"
        }
        (_, Some(_), None) => "never applied (the workspace carries no monitor:content-sha256 tag)",
        (_, Some(w), Some(h)) if w == h => return None,
        (_, Some(_), Some(_)) => "dashboards or datasources changed since the last apply",
    };
    let short = |h: &str| h.chars().take(12).collect::<String>();
    let after = want.as_deref().map_or(KNOWN_AFTER_APPLY.to_string(), short);
    Some(
        Change::new(
            Resource::new(
                ResourceKind::GrafanaContent,
                &desired.names.grafana_workspace,
                ws.map(|w| w.workspace.id.clone()),
            ),
            Action::Update,
            format!("{reason} (folder, datasources and dashboards are upserted by uid with a token that lives for this run only)"),
            GrafanaOp::PutContent {
                amp_workspace_id: observed.amp_workspace().map(|w| w.id.clone()),
            },
        )
        .detail(Detail::new(TAG_CONTENT_SHA, have.map(short).as_deref(), Some(&after))),
    )
}

/// The destroy plan's Grafana workspace change.
pub(crate) fn plan_destroy(desired_name: &str, observed: &Observed) -> Vec<Change> {
    observed
        .grafana_workspace
        .iter()
        .map(|w| {
            Change::new(
                Resource::new(
                    ResourceKind::GrafanaWorkspace,
                    desired_name,
                    Some(w.workspace.id.clone()),
                ),
                Action::Delete,
                "destroy: Amazon Managed Grafana workspace tagged with the stack (its dashboards and users are deleted)",
                GrafanaOp::DeleteWorkspace {
                    id: w.workspace.id.clone(),
                },
            )
        })
        .collect()
}

pub(crate) async fn apply(env: &Env<'_>, known: &Known, op: &GrafanaOp) -> Result<StepOutput> {
    match op {
        GrafanaOp::EnsureWorkspace {
            name,
            grafana_version,
            replaces,
            ..
        } => ensure_workspace(env, known, name, grafana_version, replaces.as_deref()).await,
        GrafanaOp::DeleteWorkspace { id } => {
            let gone = env.clients.grafana.delete_workspace(id).await?;
            Ok(StepOutput::message(if gone {
                format!("deleting {id}")
            } else {
                format!("{id} already gone")
            }))
        }
        GrafanaOp::SetPermissions { groups } => {
            let ws = active_workspace(env, known).await?;
            let roles = assignments(groups);
            env.clients
                .grafana
                .update_permissions(&ws.id, &roles, true)
                .await?;
            Ok(StepOutput {
                message: format!(
                    "{} admin, {} editor, {} viewer group(s)",
                    roles.admin_group_ids.len(),
                    roles.editor_group_ids.len(),
                    roles.viewer_group_ids.len()
                ),
                produced: Some(Produced::GrafanaWorkspace(ws)),
            })
        }
        GrafanaOp::PutContent { amp_workspace_id } => {
            let amp = amp_workspace_id
                .clone()
                .or_else(|| known.amp.as_ref().map(|w| w.id.clone()));
            put_content(env, known, amp).await
        }
    }
}

fn assignments(groups: &[(String, String)]) -> RoleAssignments {
    let pick = |role: &str| {
        groups
            .iter()
            .filter(|(r, _)| r == role)
            .map(|(_, g)| g.clone())
            .collect()
    };
    RoleAssignments {
        admin_group_ids: pick("ADMIN"),
        editor_group_ids: pick("EDITOR"),
        viewer_group_ids: pick("VIEWER"),
    }
}

async fn ensure_workspace(
    env: &Env<'_>,
    known: &Known,
    name: &str,
    grafana_version: &str,
    replaces: Option<&str>,
) -> Result<StepOutput> {
    let g = env
        .stack
        .grafana_enabled()
        .ok_or_else(|| ReconcileError::Failed("[grafana] is not enabled".into()))?;
    if let Some(old) = replaces {
        env.clients.grafana.delete_workspace(old).await?;
    }
    let role_arn = known
        .role_arns
        .get(&env.names.grafana_role)
        .cloned()
        .unwrap_or_else(|| {
            format!(
                "arn:aws:iam::{}:role/{}",
                env.observed.account_id, env.names.grafana_role
            )
        });
    let mut spec = WorkspaceSpec::new(&env.names.stack, &role_arn, env.names.owner_tags());
    spec.name = name.to_string();
    spec.grafana_version = grafana_version.to_string();
    spec.permission_type = g.permission_type.into();
    let (ws, created) = ensure_with_propagation(env, &spec).await?;
    let ws = wait_active(env, ws).await?;
    Ok(StepOutput {
        message: format!(
            "{} {} (https://{})",
            if created { "created" } else { "found" },
            ws.id,
            ws.endpoint
        ),
        produced: Some(Produced::GrafanaWorkspace(ws)),
    })
}

/// Whether `e` is AMG not yet seeing (or not yet allowed to pass) a just-created
/// workspace role: a `ValidationException` of CreateWorkspace that talks about the role.
/// (An `AccessDeniedException` for `iam:PassRole` is a missing permission of the caller
/// and is reported at once.)
pub(crate) fn is_role_propagation(e: &monitor_grafana::Error) -> bool {
    match e {
        monitor_grafana::Error::Amg {
            operation: "CreateWorkspace",
            message,
            ..
        } => {
            let m = message.to_ascii_lowercase();
            m.contains("validationexception") && m.contains("role")
        }
        _ => false,
    }
}

/// [`amg::Amg::ensure`], retrying the role-propagation error with
/// [`crate::apply::ApplyOptions::iam_propagation`] (a role created seconds ago may not be
/// visible to AMG yet).
async fn ensure_with_propagation(
    env: &Env<'_>,
    spec: &WorkspaceSpec,
) -> Result<(amg::Workspace, bool)> {
    crate::poll::retry_transient(
        &env.opts.iam_propagation,
        is_role_propagation,
        |e, _| tracing::info!(error = %e, "workspace role not usable by AMG yet; retrying"),
        || env.clients.grafana.ensure(spec),
    )
    .await
    .map_err(|g| match g {
        crate::poll::GaveUp::Permanent(e) | crate::poll::GaveUp::Deadline(e) => e.into(),
    })
}

async fn wait_active(env: &Env<'_>, ws: amg::Workspace) -> Result<amg::Workspace> {
    if ws.is_active() {
        return Ok(ws);
    }
    let what = format!(
        "waiting for Grafana workspace {} to be ACTIVE (usually a few minutes)",
        ws.id
    );
    let wait = env.wait_guard(&what);
    let r = env
        .clients
        .grafana
        .wait_active(&ws.id, env.opts.wait_timeout, env.opts.poll, |p| {
            wait.set(&format!(
                "waiting for Grafana workspace {} to be ACTIVE: {} ({}s of {}s)",
                ws.id,
                p.status,
                p.elapsed.as_secs(),
                p.deadline.as_secs()
            ));
        })
        .await;
    Ok(r?)
}

/// The workspace, ACTIVE (waited for when an earlier run left it CREATING/UPDATING).
async fn active_workspace(env: &Env<'_>, known: &Known) -> Result<amg::Workspace> {
    let ws = known
        .grafana_workspace
        .clone()
        .ok_or_else(|| ReconcileError::Failed("no Grafana workspace".into()))?;
    wait_active(env, ws).await
}

/// Puts the content into Grafana with a token living for this run only, then records its
/// hash in the workspace tag [`TAG_CONTENT_SHA`] — only after the content was applied, so
/// a failure leaves the change pending for the next plan.
async fn put_content(env: &Env<'_>, known: &Known, amp: Option<String>) -> Result<StepOutput> {
    let ws = active_workspace(env, known).await?;
    let amp_id = amp.ok_or_else(|| {
        ReconcileError::Failed("no AMP workspace for the Grafana datasource".into())
    })?;
    let spec = crate::desired::grafana_content(
        &env.names.stack,
        &env.clients.region,
        &env.observed.account_id,
        &env.stack.logs.group,
        &amp_id,
        &ws.grafana_version,
        env.stack.alerting_enabled().is_some(),
    );
    let sha = crate::desired::content_sha256(&spec);
    let base = env
        .opts
        .grafana_api_base
        .clone()
        .unwrap_or_else(|| ws.endpoint.clone());
    let report = env
        .clients
        .grafana
        .with_token(&ws.id, amg::TOKEN_TTL, |token| async move {
            let client = GrafanaClient::new(&base, token)?;
            api::apply_content(&client, &spec).await
        })
        .await?;
    let arn = amg::workspace_arn(&env.clients.region, &env.observed.account_id, &ws.id);
    let tags = BTreeMap::from([(TAG_CONTENT_SHA.to_string(), sha.clone())]);
    env.clients.grafana.tag_workspace(&arn, &tags).await?;
    Ok(StepOutput::message(format!(
        "folder {:?}, {} datasource(s) healthy, {} dashboard(s) saved; tagged {TAG_CONTENT_SHA}={}",
        report.folder,
        report.datasources.len(),
        report.dashboards.len(),
        &sha[..12]
    )))
}
