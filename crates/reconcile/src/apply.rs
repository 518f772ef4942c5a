//! The executor: performs a [`Plan`] in dependency order, phase by phase, with the
//! independent changes of a phase running concurrently:
//!
//! 1. AMP workspace ∥ log group ∥ security group (create / update)
//! 2. IAM role
//! 3. inline policy ∥ managed policy attachment ∥ instance profile
//! 4. instances (each host concurrently: terminate, launch, wait; or update in place)
//! 5. Grafana workspace (`[grafana] enabled`: create, wait until ACTIVE)
//! 6. Grafana group permissions
//! 7. Grafana content (folder, datasources, dashboards) with a short-lived token
//! 8. deletes of the Grafana workspace
//! 9. deletes of AMP workspaces, log group, security groups, instance profile, policies
//! 10. deletes of the roles (EC2, Grafana)
//!
//! The Grafana roles are created in phase 2 and their policy in phase 3, next to the EC2
//! role's.
//!
//! Every step is idempotent (re-creating what exists reconciles it, deleting what is gone
//! succeeds), so an interrupted apply is finished by the next one: it observes again, the
//! plan only holds what is left.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, Tag, TagSpecification};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use monitor_stack::Stack;
use tokio::sync::Mutex;

use crate::desired::{desired, DesiredHost};
use crate::ec2::{self, Backoff, InstanceSpec};
use crate::error::{ReconcileError, Result};
use crate::names::{Names, INLINE_POLICY_NAME, LABEL_TAG_PREFIX, SSM_CORE_POLICY_ARN};
use crate::observe::Observed;
use crate::plan::{phase, Action, Change, Plan, ResourceKind};
use crate::{policy, Clients};

/// How `apply` behaves.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Show progress spinners on waits (only drawn when stdout is a terminal).
    pub progress: bool,
    /// Print one line per finished step to stdout.
    pub echo: bool,
    /// Poll interval of every wait.
    pub poll: Duration,
    /// Longest wait for any one state change.
    pub wait_timeout: Duration,
    /// Backoff for RunInstances while a new instance profile propagates.
    pub iam_propagation: Backoff,
    /// Test hook: run only the first `n` steps (in execution order), then stop as if
    /// interrupted.
    pub step_limit: Option<usize>,
    /// Test/support hook: the Grafana HTTP API base URL to use instead of
    /// `https://<workspace endpoint>` (e.g. a local stub or a tunnel). `monitor-provision`
    /// reads it from `MONITOR_GRAFANA_URL`. Not for normal use.
    pub grafana_api_base: Option<String>,
}

impl Default for ApplyOptions {
    fn default() -> ApplyOptions {
        ApplyOptions {
            progress: true,
            echo: true,
            poll: Duration::from_secs(2),
            wait_timeout: Duration::from_secs(600),
            iam_propagation: Backoff::default(),
            step_limit: None,
            grafana_api_base: None,
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    /// `kind.name` of the resource.
    pub address: String,
    /// The action performed.
    pub action: Action,
    /// What happened (`created ws-…`, …).
    pub message: String,
}

/// What `apply` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// The steps performed, in completion order.
    pub steps: Vec<StepResult>,
    /// False when [`ApplyOptions::step_limit`] stopped the run early.
    pub complete: bool,
}

/// Ids that later steps need, filled from the observed state and by earlier steps.
#[derive(Debug, Default)]
struct Resolved {
    workspace: Option<(String, String)>,
    security_group: Option<String>,
    grafana_role_arn: Option<String>,
    grafana_workspace: Option<monitor_grafana::amg::Workspace>,
}

struct Env<'a> {
    clients: &'a Clients,
    stack: &'a Stack,
    observed: &'a Observed,
    names: Names,
    opts: &'a ApplyOptions,
    progress: MultiProgress,
    resolved: Mutex<Resolved>,
}

impl Env<'_> {
    fn spinner(&self, msg: String) -> ProgressBar {
        let pb = self.progress.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
            pb.set_style(style);
        }
        pb.set_message(msg);
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    }

    fn echo(&self, line: &str) {
        if !self.opts.echo {
            return;
        }
        if self.progress.is_hidden() {
            println!("{line}");
        } else {
            let _ = self.progress.println(line);
        }
    }
}

/// Performs `plan` (computed from `observed` for `stack`).
///
/// # Errors
/// The first failing step's error (all of them in [`ReconcileError::Many`] when several
/// steps of one phase fail). Later phases are not started after a failure.
pub async fn apply(
    clients: &Clients,
    stack: &Stack,
    observed: &Observed,
    plan: &Plan,
    opts: &ApplyOptions,
) -> Result<ApplyOutcome> {
    let names = Names::new(&stack.name);
    let vpc = observed.network.as_ref().map(|n| n.vpc_id.clone());
    let resolved = Resolved {
        workspace: observed
            .workspaces
            .iter()
            .find(|w| w.status != "CREATION_FAILED")
            .map(|w| (w.id.clone(), w.arn.clone())),
        security_group: observed
            .security_groups
            .iter()
            .find(|g| Some(&g.vpc_id) == vpc.as_ref())
            .map(|g| g.id.clone()),
        grafana_role_arn: observed.grafana_role.as_ref().map(|r| r.arn.clone()),
        grafana_workspace: observed
            .grafana_workspace
            .as_ref()
            .filter(|w| !w.workspace.status.ends_with("FAILED"))
            .map(|w| w.workspace.clone()),
    };
    let draw = if opts.progress && std::io::stdout().is_terminal() {
        ProgressDrawTarget::stdout()
    } else {
        ProgressDrawTarget::hidden()
    };
    let env = Env {
        clients,
        stack,
        observed,
        names,
        opts,
        progress: MultiProgress::with_draw_target(draw),
        resolved: Mutex::new(resolved),
    };

    let mut steps: Vec<&Change> = plan.changes.iter().collect();
    steps.sort_by_key(|c| phase(c));
    let limit = opts.step_limit.unwrap_or(usize::MAX);
    let mut done = Vec::new();
    let mut started = 0usize;
    let mut hosts_cache: Option<BTreeMap<String, DesiredHost>> = None;
    for ph in 1..=crate::plan::LAST_PHASE {
        let in_phase: Vec<&Change> = steps.iter().copied().filter(|c| phase(c) == ph).collect();
        if in_phase.is_empty() {
            continue;
        }
        let take = in_phase.len().min(limit.saturating_sub(started));
        if take == 0 {
            return Ok(ApplyOutcome {
                steps: done,
                complete: false,
            });
        }
        if ph == 4 && hosts_cache.is_none() {
            hosts_cache = Some(desired_hosts(&env).await?);
        }
        let hosts = hosts_cache.as_ref();
        let results = futures::future::join_all(
            in_phase[..take]
                .iter()
                .map(|c| async { run_step(&env, c, hosts).await }),
        )
        .await;
        started += take;
        let mut errors = Vec::new();
        for (c, r) in in_phase.iter().zip(results) {
            match r {
                Ok(message) => {
                    env.echo(&format!(
                        "{} {}: {message}",
                        c.action.symbol(),
                        c.resource.address()
                    ));
                    done.push(StepResult {
                        address: c.resource.address(),
                        action: c.action,
                        message,
                    });
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.len() == 1 {
            return Err(errors.remove(0));
        }
        if !errors.is_empty() {
            return Err(ReconcileError::Many(errors));
        }
        if take < in_phase.len() {
            return Ok(ApplyOutcome {
                steps: done,
                complete: false,
            });
        }
    }
    Ok(ApplyOutcome {
        steps: done,
        complete: true,
    })
}

/// The desired hosts rendered for the workspace that exists after phase 1.
async fn desired_hosts(env: &Env<'_>) -> Result<BTreeMap<String, DesiredHost>> {
    let ws = env.resolved.lock().await.workspace.clone();
    let d = desired(
        env.stack,
        &env.observed.account_id,
        ws.as_ref().map(|w| w.0.as_str()),
    )?;
    Ok(d.hosts
        .into_iter()
        .map(|h| (h.host.name.clone(), h))
        .collect())
}

async fn run_step(
    env: &Env<'_>,
    c: &Change,
    hosts: Option<&BTreeMap<String, DesiredHost>>,
) -> Result<String> {
    use Action::*;
    use ResourceKind::*;
    let id = c.resource.id.clone().unwrap_or_default();
    match (c.resource.kind, c.action) {
        (AmpWorkspace, Create | Replace) => create_workspace(env).await,
        // Never planned: a workspace is only created or deleted.
        (AmpWorkspace, Update) => Ok("nothing to update".into()),
        (AmpWorkspace, Delete) => delete_workspace(env, &id).await,
        (LogGroup, Create | Update | Replace) => {
            let (g, created) = monitor_logs::admin::ensure_log_group(
                &env.clients.logs,
                &env.stack.logs.group,
                env.stack.logs.retention_days as i32,
                &env.names.owner_tags(),
            )
            .await?;
            Ok(format!(
                "{} {} (retention {} days)",
                if created { "created" } else { "updated" },
                g.name,
                env.stack.logs.retention_days
            ))
        }
        (LogGroup, Delete) => {
            let gone =
                monitor_logs::admin::delete_log_group(&env.clients.logs, &c.resource.name).await?;
            Ok(if gone { "deleted" } else { "already gone" }.to_string())
        }
        (SecurityGroup, Create | Replace) => create_security_group(env).await,
        (SecurityGroup, Update) => {
            fix_security_group_rules(env, &id).await?;
            Ok(format!("rules of {id} reconciled"))
        }
        (SecurityGroup, Delete) => delete_security_group(env, &id).await,
        (IamRole, Create | Replace) => create_role(env).await,
        (IamRole, Update) => {
            update_trust(env).await?;
            Ok("trust policy updated".into())
        }
        (IamRole, Delete) => delete_role(env).await,
        (IamRolePolicy, Create | Update | Replace) => put_policy(env).await,
        (IamRolePolicy, Delete) => {
            let policy = c
                .resource
                .name
                .rsplit('/')
                .next()
                .unwrap_or(INLINE_POLICY_NAME);
            match env
                .clients
                .iam
                .delete_role_policy()
                .role_name(&env.names.role)
                .policy_name(policy)
                .send()
                .await
            {
                Ok(_) => Ok("deleted".into()),
                Err(e) => ignore_not_found(ReconcileError::from_sdk("iam:DeleteRolePolicy", e))
                    .map(|()| "already gone".into()),
            }
        }
        (IamRolePolicyAttachment, Create | Update | Replace) => {
            env.clients
                .iam
                .attach_role_policy()
                .role_name(&env.names.role)
                .policy_arn(SSM_CORE_POLICY_ARN)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("iam:AttachRolePolicy", e))?;
            Ok(format!("attached {SSM_CORE_POLICY_ARN}"))
        }
        (IamRolePolicyAttachment, Delete) => {
            let arn = c.resource.id.as_deref().unwrap_or(SSM_CORE_POLICY_ARN);
            match env
                .clients
                .iam
                .detach_role_policy()
                .role_name(&env.names.role)
                .policy_arn(arn)
                .send()
                .await
            {
                Ok(_) => Ok("detached".into()),
                Err(e) => ignore_not_found(ReconcileError::from_sdk("iam:DetachRolePolicy", e))
                    .map(|()| "already detached".into()),
            }
        }
        (IamInstanceProfile, Create | Update | Replace) => ensure_profile(env).await,
        (IamInstanceProfile, Delete) => delete_profile(env).await,
        (Instance, Delete) => {
            let pb = env.spinner(format!("terminating {} ({id})", c.resource.name));
            let r = ec2::terminate_and_wait(
                &env.clients.ec2,
                &id,
                env.opts.poll,
                env.opts.wait_timeout,
            )
            .await;
            pb.finish_and_clear();
            r.map(|()| format!("terminated {id}"))
        }
        (Instance, Create | Replace) => {
            let host = hosts
                .and_then(|h| h.get(&c.resource.name))
                .ok_or_else(|| ReconcileError::Failed(format!("no host {}", c.resource.name)))?;
            if c.action == Replace && !id.is_empty() {
                let pb = env.spinner(format!("terminating {} ({id})", c.resource.name));
                let r = ec2::terminate_and_wait(
                    &env.clients.ec2,
                    &id,
                    env.opts.poll,
                    env.opts.wait_timeout,
                )
                .await;
                pb.finish_and_clear();
                r?;
            }
            let new_id = launch(env, host).await?;
            Ok(if c.action == Replace {
                format!("replaced {id} by {new_id}")
            } else {
                format!("launched {new_id}")
            })
        }
        (Instance, Update) => {
            let host = hosts
                .and_then(|h| h.get(&c.resource.name))
                .ok_or_else(|| ReconcileError::Failed(format!("no host {}", c.resource.name)))?;
            update_instance(env, &id, host).await
        }
        (GrafanaRole, Create | Replace) => grafana::create_role(env).await,
        (GrafanaRole, Update) => {
            grafana::update_trust(env).await?;
            Ok("trust policy updated".into())
        }
        (GrafanaRole, Delete) => delete_role_named(env, &env.names.grafana_role).await,
        (GrafanaRolePolicy, Create | Update | Replace) => grafana::put_policy(env).await,
        (GrafanaRolePolicy, Delete) => {
            match env
                .clients
                .iam
                .delete_role_policy()
                .role_name(&env.names.grafana_role)
                .policy_name(crate::names::GRAFANA_POLICY_NAME)
                .send()
                .await
            {
                Ok(_) => Ok("deleted".into()),
                Err(e) => ignore_not_found(ReconcileError::from_sdk("iam:DeleteRolePolicy", e))
                    .map(|()| "already gone".into()),
            }
        }
        (GrafanaWorkspace, Create | Update | Replace) => {
            grafana::ensure_workspace(env, (c.action == Replace).then_some(id.as_str())).await
        }
        (GrafanaWorkspace, Delete) => {
            let gone = env.clients.grafana.delete_workspace(&id).await?;
            Ok(if gone {
                format!("deleting {id}")
            } else {
                format!("{id} already gone")
            })
        }
        (GrafanaPermissions, _) => grafana::permissions(env).await,
        (GrafanaContent, _) => grafana::content(env).await,
    }
}

// ---------------------------------------------------------------- Grafana

mod grafana {
    use monitor_grafana::amg::{self, RoleAssignments, WorkspaceSpec};
    use monitor_grafana::api::{self, GrafanaClient};

    use super::{iam_tags, to_json, Env};
    use crate::error::{ReconcileError, Result};
    use crate::names::{GRAFANA_POLICY_NAME, TAG_CONTENT_SHA};
    use crate::policy;

    fn trust(env: &Env<'_>) -> Result<String> {
        to_json(&monitor_grafana::iam::trust_policy(
            &env.observed.account_id,
            &env.clients.region,
        ))
    }

    pub(super) async fn create_role(env: &Env<'_>) -> Result<String> {
        let name = &env.names.grafana_role;
        match env
            .clients
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust(env)?)
            .description(format!(
                "Amazon Managed Grafana workspace of monitoring stack {} (managed by monitor-provision)",
                env.names.stack
            ))
            .set_tags(Some(iam_tags(&env.names)))
            .send()
            .await
        {
            Ok(out) => {
                let arn = out.role().map(|r| r.arn().to_string()).unwrap_or_default();
                env.resolved.lock().await.grafana_role_arn = Some(arn.clone());
                Ok(format!("created {arn}"))
            }
            Err(e) => {
                let e = ReconcileError::from_sdk("iam:CreateRole", e);
                if e.code() == Some("EntityAlreadyExists") {
                    update_trust(env).await?;
                    Ok("already existed; trust policy reconciled".into())
                } else {
                    Err(e)
                }
            }
        }
    }

    pub(super) async fn update_trust(env: &Env<'_>) -> Result<()> {
        env.clients
            .iam
            .update_assume_role_policy()
            .role_name(&env.names.grafana_role)
            .policy_document(trust(env)?)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:UpdateAssumeRolePolicy", e))?;
        Ok(())
    }

    fn log_group_arn(env: &Env<'_>) -> String {
        policy::log_group_arn(
            &env.clients.region,
            &env.observed.account_id,
            &env.stack.logs.group,
        )
    }

    pub(super) async fn put_policy(env: &Env<'_>) -> Result<String> {
        let (_, amp_arn) = env.resolved.lock().await.workspace.clone().ok_or_else(|| {
            ReconcileError::Failed("no AMP workspace to scope the Grafana policy to".into())
        })?;
        let doc = monitor_grafana::iam::permissions_policy(&amp_arn, &log_group_arn(env));
        env.clients
            .iam
            .put_role_policy()
            .role_name(&env.names.grafana_role)
            .policy_name(GRAFANA_POLICY_NAME)
            .policy_document(to_json(&doc)?)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:PutRolePolicy", e))?;
        Ok(format!("AMP query scoped to {amp_arn}"))
    }

    fn config<'a>(env: &Env<'a>) -> Result<&'a monitor_stack::GrafanaConfig> {
        env.stack
            .grafana_enabled()
            .ok_or_else(|| ReconcileError::Failed("[grafana] is not enabled".into()))
    }

    /// Finds the workspace by tags or creates it (after deleting `replace`, a failed
    /// one), then waits until it is ACTIVE.
    pub(super) async fn ensure_workspace(env: &Env<'_>, replace: Option<&str>) -> Result<String> {
        let g = config(env)?;
        if let Some(old) = replace.filter(|id| !id.is_empty()) {
            env.clients.grafana.delete_workspace(old).await?;
        }
        let role_arn = match env.resolved.lock().await.grafana_role_arn.clone() {
            Some(a) => a,
            None => format!(
                "arn:aws:iam::{}:role/{}",
                env.observed.account_id, env.names.grafana_role
            ),
        };
        let mut spec = WorkspaceSpec::new(&env.names.stack, &role_arn, env.names.owner_tags());
        spec.name = env.names.grafana_workspace.clone();
        spec.grafana_version = g.grafana_version.clone();
        spec.permission_type = match g.permission_type {
            monitor_stack::GrafanaPermissionType::CustomerManaged => {
                amg::PermissionType::CustomerManaged
            }
            monitor_stack::GrafanaPermissionType::ServiceManaged => {
                amg::PermissionType::ServiceManaged
            }
        };
        let (ws, created) = ensure_with_propagation(env, &spec).await?;
        let ws = wait_active(env, ws).await?;
        let msg = format!(
            "{} {} (https://{})",
            if created { "created" } else { "found" },
            ws.id,
            ws.endpoint
        );
        env.resolved.lock().await.grafana_workspace = Some(ws);
        Ok(msg)
    }

    /// Whether `e` is AMG not yet seeing (or not yet allowed to pass) a just-created
    /// workspace role: a `ValidationException` of CreateWorkspace that talks about the
    /// role. (An `AccessDeniedException` for `iam:PassRole` is a missing permission of
    /// the caller and is reported at once.)
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
    /// [`super::ApplyOptions::iam_propagation`] (a role created seconds ago may not be
    /// visible to AMG yet).
    async fn ensure_with_propagation(
        env: &Env<'_>,
        spec: &WorkspaceSpec,
    ) -> Result<(amg::Workspace, bool)> {
        let backoff = &env.opts.iam_propagation;
        let started = std::time::Instant::now();
        let mut delay = backoff.initial;
        loop {
            match env.clients.grafana.ensure(spec).await {
                Ok(r) => return Ok(r),
                Err(e) if is_role_propagation(&e) && started.elapsed() < backoff.deadline => {
                    tracing::info!(error = %e, "workspace role not usable by AMG yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(backoff.max);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn wait_active(env: &Env<'_>, ws: amg::Workspace) -> Result<amg::Workspace> {
        if ws.status == "ACTIVE" {
            return Ok(ws);
        }
        let pb = env.spinner(format!(
            "waiting for Grafana workspace {} to be ACTIVE (usually a few minutes)",
            ws.id
        ));
        let r = env
            .clients
            .grafana
            .wait_active(&ws.id, env.opts.wait_timeout, env.opts.poll, |p| {
                pb.set_message(format!(
                    "waiting for Grafana workspace {} to be ACTIVE: {} ({}s of {}s)",
                    ws.id,
                    p.status,
                    p.elapsed.as_secs(),
                    p.deadline.as_secs()
                ));
            })
            .await;
        pb.finish_and_clear();
        Ok(r?)
    }

    /// The workspace, ACTIVE (waited for when an earlier run left it CREATING/UPDATING).
    async fn active_workspace(env: &Env<'_>) -> Result<amg::Workspace> {
        let ws = env
            .resolved
            .lock()
            .await
            .grafana_workspace
            .clone()
            .ok_or_else(|| ReconcileError::Failed("no Grafana workspace".into()))?;
        let ws = wait_active(env, ws).await?;
        env.resolved.lock().await.grafana_workspace = Some(ws.clone());
        Ok(ws)
    }

    pub(super) async fn permissions(env: &Env<'_>) -> Result<String> {
        let g = config(env)?;
        let ws = active_workspace(env).await?;
        let roles = RoleAssignments {
            admin_group_ids: g.admin_group_ids.clone(),
            editor_group_ids: g.editor_group_ids.clone(),
            viewer_group_ids: g.viewer_group_ids.clone(),
        };
        env.clients
            .grafana
            .update_permissions(&ws.id, &roles, true)
            .await?;
        Ok(format!(
            "{} admin, {} editor, {} viewer group(s)",
            roles.admin_group_ids.len(),
            roles.editor_group_ids.len(),
            roles.viewer_group_ids.len()
        ))
    }

    /// Puts the content into Grafana with a token living for this run only, then records
    /// its hash in the workspace tag [`crate::names::TAG_CONTENT_SHA`] — only after the
    /// content was applied, so a failure leaves the change pending for the next plan.
    pub(super) async fn content(env: &Env<'_>) -> Result<String> {
        let ws = active_workspace(env).await?;
        let (amp_id, _) = env.resolved.lock().await.workspace.clone().ok_or_else(|| {
            ReconcileError::Failed("no AMP workspace for the Grafana datasource".into())
        })?;
        let spec = crate::desired::grafana_content(
            &env.names.stack,
            &env.clients.region,
            &env.observed.account_id,
            &env.stack.logs.group,
            &amp_id,
            &ws.grafana_version,
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
        let tags = std::collections::BTreeMap::from([(TAG_CONTENT_SHA.to_string(), sha.clone())]);
        env.clients.grafana.tag_workspace(&arn, &tags).await?;
        Ok(format!(
            "folder {:?}, {} datasource(s) healthy, {} dashboard(s) saved; tagged {TAG_CONTENT_SHA}={}",
            report.folder,
            report.datasources.len(),
            report.dashboards.len(),
            &sha[..12]
        ))
    }
}

fn ignore_not_found(e: ReconcileError) -> Result<()> {
    if e.is_not_found() {
        Ok(())
    } else {
        Err(e)
    }
}

// ---------------------------------------------------------------- workspace

async fn create_workspace(env: &Env<'_>) -> Result<String> {
    let mut req = env
        .clients
        .amp
        .create_workspace()
        .alias(&env.names.workspace_alias);
    for (k, v) in env.names.owner_tags() {
        req = req.tags(k, v);
    }
    let out = req
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("aps:CreateWorkspace", e))?;
    let id = out.workspace_id().to_string();
    let arn = out.arn().to_string();
    let pb = env.spinner(format!("waiting for AMP workspace {id} to be ACTIVE"));
    let r = wait_workspace_active(env, &id).await;
    pb.finish_and_clear();
    r?;
    env.resolved.lock().await.workspace = Some((id.clone(), arn));
    Ok(format!("created {id}"))
}

async fn wait_workspace_active(env: &Env<'_>, id: &str) -> Result<()> {
    let started = Instant::now();
    loop {
        let out = env
            .clients
            .amp
            .describe_workspace()
            .workspace_id(id)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("aps:DescribeWorkspace", e))?;
        let status = out
            .workspace()
            .and_then(|w| w.status())
            .map(|s| s.status_code().as_str().to_string())
            .unwrap_or_default();
        match status.as_str() {
            "ACTIVE" => return Ok(()),
            "CREATION_FAILED" | "DELETING" => {
                return Err(ReconcileError::Failed(format!(
                    "AMP workspace {id} is {status}; re-run apply to replace it"
                )))
            }
            _ => {}
        }
        if started.elapsed() > env.opts.wait_timeout {
            return Err(ReconcileError::Timeout {
                what: format!("AMP workspace {id} to be ACTIVE (it is {status})"),
                seconds: env.opts.wait_timeout.as_secs(),
            });
        }
        tokio::time::sleep(env.opts.poll).await;
    }
}

async fn delete_workspace(env: &Env<'_>, id: &str) -> Result<String> {
    match env
        .clients
        .amp
        .delete_workspace()
        .workspace_id(id)
        .send()
        .await
    {
        Ok(_) => Ok(format!("deleted {id}")),
        Err(e) => ignore_not_found(ReconcileError::from_sdk("aps:DeleteWorkspace", e))
            .map(|()| format!("{id} already gone")),
    }
}

// ---------------------------------------------------------------- security group

fn https_egress() -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(
            IpRange::builder()
                .cidr_ip("0.0.0.0/0")
                .description("HTTPS to AWS APIs (SSM, AMP, CloudWatch Logs) and package repos")
                .build(),
        )
        .build()
}

async fn create_security_group(env: &Env<'_>) -> Result<String> {
    let vpc = env
        .observed
        .network
        .as_ref()
        .map(|n| n.vpc_id.clone())
        .ok_or_else(|| ReconcileError::Failed("network not resolved".into()))?;
    let tags = env.names.owner_tags();
    let mut all = tags.clone();
    all.insert("Name".into(), env.names.security_group.clone());
    let out = env
        .clients
        .ec2
        .create_security_group()
        .group_name(&env.names.security_group)
        .description(format!(
            "monitoring hosts of stack {}: no inbound (SSM access), HTTPS out",
            env.names.stack
        ))
        .vpc_id(&vpc)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .set_tags(Some(
                    all.iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .build(),
        )
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("ec2:CreateSecurityGroup", e))?;
    let id = out
        .group_id()
        .ok_or_else(|| ReconcileError::Failed("CreateSecurityGroup returned no id".into()))?
        .to_string();
    env.resolved.lock().await.security_group = Some(id.clone());
    fix_security_group_rules(env, &id).await?;
    Ok(format!("created {id} in {vpc}"))
}

/// Removes every inbound rule and every outbound rule but HTTPS, adds HTTPS if missing.
async fn fix_security_group_rules(env: &Env<'_>, id: &str) -> Result<()> {
    let out = env
        .clients
        .ec2
        .describe_security_groups()
        .group_ids(id)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("ec2:DescribeSecurityGroups", e))?;
    let Some(g) = out.security_groups().first() else {
        return Err(ReconcileError::Failed(format!(
            "security group {id} vanished"
        )));
    };
    if !g.ip_permissions().is_empty() {
        env.clients
            .ec2
            .revoke_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(g.ip_permissions().to_vec()))
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:RevokeSecurityGroupIngress", e))?;
    }
    let is_https = |p: &IpPermission| {
        p.ip_protocol() == Some("tcp")
            && p.from_port() == Some(443)
            && p.to_port() == Some(443)
            && p.ip_ranges().len() == 1
            && p.ip_ranges()[0].cidr_ip() == Some("0.0.0.0/0")
            && p.ipv6_ranges().is_empty()
            && p.user_id_group_pairs().is_empty()
            && p.prefix_list_ids().is_empty()
    };
    let egress = g.ip_permissions_egress();
    let unwanted: Vec<IpPermission> = egress.iter().filter(|p| !is_https(p)).cloned().collect();
    if !unwanted.is_empty() {
        env.clients
            .ec2
            .revoke_security_group_egress()
            .group_id(id)
            .set_ip_permissions(Some(unwanted))
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:RevokeSecurityGroupEgress", e))?;
    }
    if !egress.iter().any(is_https) {
        env.clients
            .ec2
            .authorize_security_group_egress()
            .group_id(id)
            .ip_permissions(https_egress())
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:AuthorizeSecurityGroupEgress", e))?;
    }
    Ok(())
}

async fn delete_security_group(env: &Env<'_>, id: &str) -> Result<String> {
    // Network interfaces of terminated instances are released asynchronously:
    // DependencyViolation is retried until the wait timeout.
    let started = Instant::now();
    let mut delay = env.opts.poll;
    loop {
        match env
            .clients
            .ec2
            .delete_security_group()
            .group_id(id)
            .send()
            .await
        {
            Ok(_) => return Ok(format!("deleted {id}")),
            Err(e) => {
                let e = ReconcileError::from_sdk("ec2:DeleteSecurityGroup", e);
                if e.is_not_found() {
                    return Ok(format!("{id} already gone"));
                }
                if e.code() != Some("DependencyViolation")
                    || started.elapsed() > env.opts.wait_timeout
                {
                    return Err(e);
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(15));
            }
        }
    }
}

// ---------------------------------------------------------------- IAM

fn iam_tags(names: &Names) -> Vec<aws_sdk_iam::types::Tag> {
    names
        .owner_tags()
        .into_iter()
        .filter_map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect()
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| ReconcileError::Failed(format!("policy JSON: {e}")))
}

async fn create_role(env: &Env<'_>) -> Result<String> {
    let trust = to_json(&policy::trust_policy())?;
    match env
        .clients
        .iam
        .create_role()
        .role_name(&env.names.role)
        .assume_role_policy_document(&trust)
        .description(format!(
            "EC2 hosts of monitoring stack {} (managed by monitor-provision)",
            env.names.stack
        ))
        .set_tags(Some(iam_tags(&env.names)))
        .send()
        .await
    {
        Ok(out) => Ok(format!(
            "created {}",
            out.role().map(|r| r.arn()).unwrap_or_default()
        )),
        Err(e) => {
            let e = ReconcileError::from_sdk("iam:CreateRole", e);
            if e.code() == Some("EntityAlreadyExists") {
                update_trust(env).await?;
                Ok("already existed; trust policy reconciled".into())
            } else {
                Err(e)
            }
        }
    }
}

async fn update_trust(env: &Env<'_>) -> Result<()> {
    env.clients
        .iam
        .update_assume_role_policy()
        .role_name(&env.names.role)
        .policy_document(to_json(&policy::trust_policy())?)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:UpdateAssumeRolePolicy", e))?;
    Ok(())
}

async fn put_policy(env: &Env<'_>) -> Result<String> {
    let (_, arn) =
        env.resolved.lock().await.workspace.clone().ok_or_else(|| {
            ReconcileError::Failed("no AMP workspace to scope the policy to".into())
        })?;
    let doc = policy::host_policy(
        &arn,
        &env.clients.region,
        &env.observed.account_id,
        &env.stack.logs.group,
    );
    env.clients
        .iam
        .put_role_policy()
        .role_name(&env.names.role)
        .policy_name(INLINE_POLICY_NAME)
        .policy_document(to_json(&doc)?)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:PutRolePolicy", e))?;
    Ok(format!("aps:RemoteWrite scoped to {arn}"))
}

async fn ensure_profile(env: &Env<'_>) -> Result<String> {
    let iam = &env.clients.iam;
    let name = &env.names.instance_profile;
    let mut created = false;
    match iam
        .create_instance_profile()
        .instance_profile_name(name)
        .set_tags(Some(iam_tags(&env.names)))
        .send()
        .await
    {
        Ok(_) => created = true,
        Err(e) => {
            let e = ReconcileError::from_sdk("iam:CreateInstanceProfile", e);
            if e.code() != Some("EntityAlreadyExists") {
                return Err(e);
            }
        }
    }
    let out = iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:GetInstanceProfile", e))?;
    let roles: Vec<String> = out
        .instance_profile()
        .map(|p| {
            p.roles()
                .iter()
                .map(|r| r.role_name().to_string())
                .collect()
        })
        .unwrap_or_default();
    for r in roles.iter().filter(|r| **r != env.names.role) {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(r)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:RemoveRoleFromInstanceProfile", e))?;
    }
    if !roles.contains(&env.names.role) {
        iam.add_role_to_instance_profile()
            .instance_profile_name(name)
            .role_name(&env.names.role)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:AddRoleToInstanceProfile", e))?;
    }
    Ok(format!(
        "{} {name} with role {}",
        if created { "created" } else { "reconciled" },
        env.names.role
    ))
}

async fn delete_profile(env: &Env<'_>) -> Result<String> {
    let iam = &env.clients.iam;
    let name = &env.names.instance_profile;
    let out = match iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) => {
            return ignore_not_found(ReconcileError::from_sdk("iam:GetInstanceProfile", e))
                .map(|()| "already gone".into())
        }
    };
    for r in out
        .instance_profile()
        .map(|p| p.roles())
        .unwrap_or_default()
    {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(r.role_name())
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:RemoveRoleFromInstanceProfile", e))?;
    }
    match iam
        .delete_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(_) => Ok("deleted".into()),
        Err(e) => ignore_not_found(ReconcileError::from_sdk("iam:DeleteInstanceProfile", e))
            .map(|()| "already gone".into()),
    }
}

async fn delete_role(env: &Env<'_>) -> Result<String> {
    delete_role_named(env, &env.names.role).await
}

/// Deletes role `role` with whatever inline and attached policies it still has.
async fn delete_role_named(env: &Env<'_>, role: &str) -> Result<String> {
    let iam = &env.clients.iam;
    // Whatever is still attached (a policy added by hand, an interrupted destroy).
    let policies = match iam.list_role_policies().role_name(role).send().await {
        Ok(o) => o.policy_names().to_vec(),
        Err(e) => {
            return ignore_not_found(ReconcileError::from_sdk("iam:ListRolePolicies", e))
                .map(|()| "already gone".into())
        }
    };
    for p in policies {
        iam.delete_role_policy()
            .role_name(role)
            .policy_name(&p)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:DeleteRolePolicy", e))?;
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:ListAttachedRolePolicies", e))?;
    for p in attached.attached_policies() {
        if let Some(arn) = p.policy_arn() {
            iam.detach_role_policy()
                .role_name(role)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("iam:DetachRolePolicy", e))?;
        }
    }
    match iam.delete_role().role_name(role).send().await {
        Ok(_) => Ok("deleted".into()),
        Err(e) => ignore_not_found(ReconcileError::from_sdk("iam:DeleteRole", e))
            .map(|()| "already gone".into()),
    }
}

// ---------------------------------------------------------------- instances

async fn launch(env: &Env<'_>, host: &DesiredHost) -> Result<String> {
    let rendered = host.rendered.as_ref().ok_or_else(|| {
        ReconcileError::Failed(format!(
            "user_data of {} not rendered: no AMP workspace",
            host.host.name
        ))
    })?;
    let sg = env
        .resolved
        .lock()
        .await
        .security_group
        .clone()
        .ok_or_else(|| ReconcileError::Failed("no security group for the hosts".into()))?;
    let image_id = env
        .observed
        .amis
        .get(&host.host.architecture)
        .cloned()
        .ok_or_else(|| {
            ReconcileError::Failed(format!("no AMI resolved for {}", host.host.architecture))
        })?;
    let spec = InstanceSpec {
        image_id,
        instance_type: host.host.instance_type.clone(),
        user_data: rendered.user_data.clone(),
        instance_profile: env.names.instance_profile.clone(),
        security_group_id: sg,
        subnet_id: env
            .observed
            .network
            .as_ref()
            .and_then(|n| n.subnet_id.clone()),
        tags: host.tags(&env.names),
    };
    let pb = env.spinner(format!("launching {}", host.host.name));
    let id = ec2::run_instance(&env.clients.ec2, &spec, &env.opts.iam_propagation).await;
    let id = match id {
        Ok(id) => id,
        Err(e) => {
            pb.finish_and_clear();
            return Err(e);
        }
    };
    pb.set_message(format!("waiting for {} ({id}) to run", host.host.name));
    let r = ec2::wait_instance(
        &env.clients.ec2,
        &id,
        &["running"],
        env.opts.poll,
        env.opts.wait_timeout,
    )
    .await;
    pb.finish_and_clear();
    r.map(|()| id)
}

/// The shell script an in-place label update sends through SSM Run Command: rewrite the
/// label-dependent files (instance id filled in) atomically, restart what reads them.
pub fn push_script(files: &[monitor_bootstrap::RenderedFile], instance_id: &str) -> Result<String> {
    const EOF: &str = "MONITOR_PROVISION_PUSH_EOF";
    let mut s = String::from("#!/bin/bash\nset -euo pipefail\n");
    let mut restarts = Vec::new();
    for f in files {
        let content = if f.fills_instance_id {
            f.content
                .replace(monitor_bootstrap::INSTANCE_ID_SENTINEL, instance_id)
        } else {
            f.content.clone()
        };
        if content.lines().any(|l| l == EOF) || f.path.contains('\'') {
            return Err(ReconcileError::Failed(format!(
                "cannot push {} through SSM: its content contains the heredoc delimiter",
                f.path
            )));
        }
        let tmp = format!("{}.monitor-provision.tmp", f.path);
        s.push_str(&format!("cat > '{tmp}' <<'{EOF}'\n{content}"));
        if !content.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(&format!(
            "{EOF}\nchmod {:o} '{tmp}'\nmv -f '{tmp}' '{}'\n",
            f.mode, f.path
        ));
        let restart = match f.path.as_str() {
            monitor_bootstrap::ADOT_CONFIG_PATH => Some("systemctl restart aws-otel-collector"),
            monitor_bootstrap::AGENT_CONFIG_PATH => Some("systemctl restart monitor-agent"),
            monitor_bootstrap::CWAGENT_CONFIG_PATH => Some(
                "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/opt/aws/amazon-cloudwatch-agent/etc/config.json",
            ),
            _ => None,
        };
        if let Some(r) = restart {
            if !restarts.contains(&r) {
                restarts.push(r);
            }
        }
    }
    for r in restarts {
        s.push_str(r);
        s.push('\n');
    }
    Ok(s)
}

async fn update_instance(env: &Env<'_>, id: &str, host: &DesiredHost) -> Result<String> {
    let cur = env
        .observed
        .instances
        .iter()
        .find(|i| i.id == id)
        .ok_or_else(|| ReconcileError::Failed(format!("instance {id} not observed")))?;
    let rendered = host.rendered.as_ref().ok_or_else(|| {
        ReconcileError::Failed(format!("user_data of {} not rendered", host.host.name))
    })?;
    let mut done = Vec::new();
    if cur.http_tokens.as_deref().is_some_and(|t| t != "required") {
        env.clients
            .ec2
            .modify_instance_metadata_options()
            .instance_id(id)
            .http_tokens(aws_sdk_ec2::types::HttpTokensState::Required)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:ModifyInstanceMetadataOptions", e))?;
        done.push("IMDSv2 required".to_string());
    }
    if cur.tags.get(crate::names::TAG_USER_DATA_SHA) != Some(&rendered.full_sha) {
        let script = push_script(&rendered.label_files, id)?;
        let pb = env.spinner(format!(
            "pushing the collector config to {} ({id}) with SSM Run Command",
            host.host.name
        ));
        let r = run_command(env, id, &script).await;
        pb.finish_and_clear();
        let command_id = r?;
        done.push(format!("config pushed (SSM command {command_id})"));
    }
    let want = host.tags(&env.names);
    let set: Vec<Tag> = want
        .iter()
        .filter(|(k, v)| cur.tags.get(*k) != Some(*v))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let unset: Vec<Tag> = cur
        .tags
        .keys()
        .filter(|k| k.starts_with(LABEL_TAG_PREFIX) && !want.contains_key(*k))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    if !unset.is_empty() {
        env.clients
            .ec2
            .delete_tags()
            .resources(id)
            .set_tags(Some(unset))
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:DeleteTags", e))?;
    }
    // The hash tags are written last: an interrupted push is retried by the next apply.
    if !set.is_empty() {
        env.clients
            .ec2
            .create_tags()
            .resources(id)
            .set_tags(Some(set))
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:CreateTags", e))?;
        done.push("tags updated".into());
    }
    Ok(done.join(", "))
}

async fn run_command(env: &Env<'_>, instance_id: &str, script: &str) -> Result<String> {
    let ssm = &env.clients.ssm;
    let out = ssm
        .send_command()
        .instance_ids(instance_id)
        .document_name("AWS-RunShellScript")
        .comment(format!(
            "monitor-provision: update labels of stack {}",
            env.names.stack
        ))
        .parameters("commands", vec![script.to_string()])
        .send()
        .await
        .map_err(|e| {
            let e = ReconcileError::from_sdk("ssm:SendCommand", e);
            if e.code() == Some("InvalidInstanceId") {
                ReconcileError::Failed(format!(
                    "instance {instance_id} is not online in SSM, so its collector config \
                     cannot be updated in place ({}); check the SSM agent, or terminate the \
                     instance and re-run apply to replace it",
                    e.service_message().unwrap_or_default()
                ))
            } else {
                e
            }
        })?;
    let command_id = out
        .command()
        .and_then(|c| c.command_id())
        .ok_or_else(|| ReconcileError::Failed("SendCommand returned no command id".into()))?
        .to_string();
    let started = Instant::now();
    loop {
        tokio::time::sleep(env.opts.poll).await;
        match ssm
            .get_command_invocation()
            .command_id(&command_id)
            .instance_id(instance_id)
            .send()
            .await
        {
            Ok(inv) => {
                let status = inv
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default();
                match status.as_str() {
                    "Success" => return Ok(command_id),
                    "Failed" | "Cancelled" | "TimedOut" | "Cancelling" => {
                        return Err(ReconcileError::Failed(format!(
                            "SSM command {command_id} on {instance_id} ended {status}: {}",
                            inv.standard_error_content().unwrap_or_default()
                        )))
                    }
                    _ => {}
                }
            }
            Err(e) => {
                let e = ReconcileError::from_sdk("ssm:GetCommandInvocation", e);
                // Right after SendCommand the invocation may not exist yet.
                if e.code() != Some("InvocationDoesNotExist") {
                    return Err(e);
                }
            }
        }
        if started.elapsed() > env.opts.wait_timeout {
            return Err(ReconcileError::Timeout {
                what: format!("SSM command {command_id} on {instance_id}"),
                seconds: env.opts.wait_timeout.as_secs(),
            });
        }
    }
}
