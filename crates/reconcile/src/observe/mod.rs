//! Reads what exists now, found by the stack's tags (and, for IAM, which has no tag
//! search, by the stack-derived name, then proven ours by its tags).

use std::collections::BTreeMap;

use aws_sdk_amp::types::WorkspaceStatusCode;
use aws_sdk_ec2::types::InstanceStateName;
use monitor_logs::admin::LogGroupInfo;
use monitor_stack::{Architecture, Stack};

use crate::error::{ReconcileError, Result};
use crate::names::Names;
use crate::Clients;

mod alerting;
mod ec2;
mod fleets;
mod groups;
mod iam;
mod notify;

pub use alerting::{AlertmanagerState, RuleNamespaceState};
#[cfg(test)]
pub(crate) use notify::subscription_state;
pub use notify::{AlertKeyState, LogAlarmState, NotifyState, SubscriptionState, TopicState};

pub use ec2::ami;
use ec2::{instances, network, security_groups};
pub use fleets::{
    profile_name, stack_profile_associations, AssociationState, DocumentState, FleetState,
    FleetsState, ManagedPolicyState, MemberRole, MemberState, ProfiledInstance,
};
pub use groups::{
    refresh_state, AutoScalingGroupState, GroupInstance, GroupsState, LaunchTemplateState,
    RefreshState, TemplateData,
};
use iam::{instance_profile, role};

/// An AMP workspace carrying the stack's tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceState {
    /// `ws-…`.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Status code, as the SDK's enum.
    pub status: WorkspaceStatusCode,
    /// Creation time, seconds since the epoch (oldest is kept when there are several).
    pub created: i64,
}

/// A security group carrying the stack's tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupState {
    /// `sg-…`.
    pub id: String,
    /// Group name.
    pub name: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Inbound rules, summarised (`tcp 22 0.0.0.0/0`).
    pub ingress: Vec<String>,
    /// Outbound rules, summarised.
    pub egress: Vec<String>,
}

/// The stack's Amazon Managed Grafana workspace (`[grafana] enabled` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrafanaWorkspaceState {
    /// The workspace as AMG describes it.
    pub workspace: monitor_grafana::amg::Workspace,
    /// Identity Center group permissions; read only when the workspace is ACTIVE.
    pub permissions: Option<Vec<monitor_grafana::amg::GroupPermission>>,
}

impl GrafanaWorkspaceState {
    /// The workspace tag [`crate::names::TAG_CONTENT_SHA`]: the hash of the content the
    /// last successful apply put into Grafana; `None` if content was never applied.
    pub fn content_sha256(&self) -> Option<&str> {
        self.workspace
            .tags
            .get(crate::names::TAG_CONTENT_SHA)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// An IAM role of the stack (the EC2 role, or the Grafana workspace role).
#[derive(Debug, Clone, PartialEq)]
pub struct RoleState {
    /// Role name.
    pub name: String,
    /// Role ARN.
    pub arn: String,
    /// Its trust policy.
    pub trust_policy: Option<serde_json::Value>,
    /// Every inline policy by name; the document is read for the stack's own policy
    /// ([`crate::names::INLINE_POLICY_NAME`] on the EC2 role,
    /// [`crate::names::GRAFANA_POLICY_NAME`] on the Grafana role) and `None` for others.
    pub inline_policies: BTreeMap<String, Option<serde_json::Value>>,
    /// ARNs of the attached managed policies.
    pub attached: Vec<String>,
}

/// The stack's instance profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileState {
    /// Profile name.
    pub name: String,
    /// Profile ARN.
    pub arn: String,
    /// Names of the roles in it.
    pub roles: Vec<String>,
}

/// An EC2 instance carrying the stack's tags, not terminated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceState {
    /// `i-…`.
    pub id: String,
    /// The `monitor:host` tag (empty when missing).
    pub host: String,
    /// Its state (never `terminated`: those are not observed).
    pub state: InstanceStateName,
    /// Instance type.
    pub instance_type: String,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// AMI id.
    pub image_id: String,
    /// ARN of the instance profile, if any.
    pub profile_arn: Option<String>,
    /// Security group ids.
    pub security_groups: Vec<String>,
    /// Subnet id.
    pub subnet_id: Option<String>,
    /// IMDS `HttpTokens` (`required` / `optional`).
    pub http_tokens: Option<String>,
    /// All tags.
    pub tags: BTreeMap<String, String>,
    /// Launch time, seconds since the epoch.
    pub launched: i64,
}

/// What to look at: `apply` also resolves the network and the AMIs, `destroy` only needs
/// what is tagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything `plan`/`apply` needs.
    Apply,
    /// Only the stack's tagged resources.
    Destroy,
    /// What `monitor-verify` reads: as [`Scope::Destroy`], but fleets (their documents,
    /// associations and members) only when the stack file has `[[fleets]]`, and Auto
    /// Scaling groups only when it has `[[groups]]`, so a stack without them needs no
    /// SSM document, IAM policy or Auto Scaling reads to be verified.
    Verify,
}

/// Where the hosts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkState {
    /// VPC of the security group.
    pub vpc_id: String,
    /// Subnet of the hosts (`None`: EC2 picks one in the default VPC).
    pub subnet_id: Option<String>,
}

/// Everything the stack owns right now.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The caller's account.
    pub account_id: String,
    /// The region.
    pub region: String,
    /// Tagged workspaces (not DELETING), oldest first.
    pub workspaces: Vec<WorkspaceState>,
    /// The log group, if it exists (ours: foreign groups are an error).
    pub log_group: Option<LogGroupInfo>,
    /// Resolved network ([`Scope::Apply`] only).
    pub network: Option<NetworkState>,
    /// Tagged security groups, in any VPC.
    pub security_groups: Vec<SecurityGroupState>,
    /// The EC2 role.
    pub role: Option<RoleState>,
    /// The instance profile.
    pub instance_profile: Option<ProfileState>,
    /// Tagged instances that are not terminated, but for those an Auto Scaling group
    /// launched (they are in [`Observed::groups`]).
    pub instances: Vec<InstanceState>,
    /// AL2023 AMI per architecture used by a host or group ([`Scope::Apply`] only).
    pub amis: BTreeMap<Architecture, String>,
    /// The Grafana workspace role (looked up only with `[grafana] enabled`).
    pub grafana_role: Option<RoleState>,
    /// The Grafana workspace found by the stack's tags (only with `[grafana] enabled`).
    pub grafana_workspace: Option<GrafanaWorkspaceState>,
    /// The stack's rule-groups namespaces in its workspace, by name.
    pub rule_namespaces: Vec<RuleNamespaceState>,
    /// The workspace's Alertmanager definition.
    pub alertmanager: Option<AlertmanagerState>,
    /// The alert topics, their key and subscriptions, the log metric filters and alarms.
    pub notify: NotifyState,
    /// `[[fleets]]`: members, documents, associations, the host policy.
    pub fleets: FleetsState,
    /// `[[groups]]`: Auto Scaling groups, their instances and refreshes, launch templates.
    pub groups: GroupsState,
}

impl Observed {
    /// Nothing observed in `account_id`/`region`, as an empty account reads: the start
    /// for callers (and tests) that build a state in code.
    pub fn empty(account_id: &str, region: &str) -> Observed {
        Observed {
            account_id: account_id.to_string(),
            region: region.to_string(),
            workspaces: vec![],
            log_group: None,
            network: None,
            security_groups: vec![],
            role: None,
            instance_profile: None,
            instances: vec![],
            amis: BTreeMap::new(),
            grafana_role: None,
            grafana_workspace: None,
            rule_namespaces: vec![],
            alertmanager: None,
            notify: NotifyState::default(),
            fleets: FleetsState::default(),
            groups: GroupsState::default(),
        }
    }

    /// The stack's AMP workspace: the oldest one whose creation did not fail. Plan,
    /// apply, outputs and verify all choose with this.
    pub fn amp_workspace(&self) -> Option<&WorkspaceState> {
        choose_workspace(&self.workspaces)
    }

    /// The hosts' security group: the one in the stack's VPC; without a resolved
    /// network ([`Scope::Destroy`]), the first tagged one.
    pub fn security_group(&self) -> Option<&SecurityGroupState> {
        match &self.network {
            Some(n) => self.security_groups.iter().find(|g| g.vpc_id == n.vpc_id),
            None => self.security_groups.first(),
        }
    }

    /// The stack's Grafana workspace unless it failed (a failed one is replaced).
    pub fn grafana_workspace(&self) -> Option<&GrafanaWorkspaceState> {
        self.grafana_workspace
            .as_ref()
            .filter(|w| !w.workspace.is_failed())
    }
}

/// The one rule choosing the stack's workspace among the tagged ones: the oldest whose
/// creation did not fail ([`Observed::amp_workspace`]).
pub(crate) fn choose_workspace(workspaces: &[WorkspaceState]) -> Option<&WorkspaceState> {
    workspaces
        .iter()
        .find(|w| w.status != WorkspaceStatusCode::CreationFailed)
}

/// The SSM public parameter holding the latest AL2023 AMI for `arch`.
pub fn ami_parameter(arch: Architecture) -> String {
    format!(
        "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{}",
        arch.as_str()
    )
}

/// Reads the current state of everything `stack` owns.
///
/// # Errors
/// [`ReconcileError::NotOurs`] when a same-named resource lacks the stack's tags; the
/// mapped SDK error of any failing read.
pub async fn observe(clients: &Clients, stack: &Stack, scope: Scope) -> Result<Observed> {
    let names = Names::new(&stack.name);
    let account_id = clients.account_id().await?;
    let (workspaces, log_group, security_groups, ec2_role, instance_profile, instances, notify) = tokio::try_join!(
        workspaces(clients, &names),
        log_group(clients, &names, &stack.logs.group),
        security_groups(clients, &names),
        role(
            clients,
            &names,
            &names.role,
            crate::names::INLINE_POLICY_NAME
        ),
        instance_profile(clients, &names),
        instances(clients, &names),
        Box::pin(notify::observe(clients, &names, stack, &account_id)),
    )?;
    let (grafana_role, grafana_workspace) = match stack.grafana_enabled() {
        None => (None, None),
        Some(_) => tokio::try_join!(
            role(
                clients,
                &names,
                &names.grafana_role,
                crate::names::GRAFANA_POLICY_NAME
            ),
            grafana_workspace(clients, &names),
        )?,
    };
    let (network, amis) = match scope {
        Scope::Destroy | Scope::Verify => (None, BTreeMap::new()),
        Scope::Apply => {
            let network = network(clients, stack).await?;
            let mut amis = BTreeMap::new();
            let archs = stack
                .hosts
                .iter()
                .map(|h| h.architecture)
                .chain(stack.groups.iter().map(|g| g.architecture));
            for a in archs {
                if let std::collections::btree_map::Entry::Vacant(e) = amis.entry(a) {
                    e.insert(ami(clients, a).await?);
                }
            }
            (Some(network), amis)
        }
    };
    // Alerting lives inside the chosen workspace; read it once that is ACTIVE.
    let (rule_namespaces, alertmanager) =
        match choose_workspace(&workspaces).filter(|w| w.status == WorkspaceStatusCode::Active) {
            Some(w) => tokio::try_join!(
                alerting::rule_namespaces(clients, &names, &w.id),
                alerting::alertmanager(clients, &w.id),
            )?,
            None => (Vec::new(), None),
        };
    let fleets = if scope == Scope::Verify && stack.fleets.is_empty() {
        FleetsState::default()
    } else {
        Box::pin(fleets::observe(clients, &names, stack, &account_id)).await?
    };
    let groups = if scope == Scope::Verify && stack.groups.is_empty() {
        GroupsState::default()
    } else {
        let read = Box::pin(groups::observe(
            clients,
            &names,
            stack,
            scope,
            network.as_ref().map(|n| n.vpc_id.as_str()),
        ))
        .await;
        match read {
            // A caller without the Auto Scaling / launch template reads, on a stack that
            // has no groups, has none to clean up either: its stack keeps working.
            Err(ReconcileError::AccessDenied { action, .. }) if stack.groups.is_empty() => {
                tracing::warn!(
                    action,
                    "no permission to read Auto Scaling groups or launch templates; the stack has no [[groups]], so none are looked for"
                );
                GroupsState::default()
            }
            other => other?,
        }
    };
    Ok(Observed {
        fleets,
        groups,
        rule_namespaces,
        alertmanager,
        notify,
        account_id,
        region: clients.region.clone(),
        workspaces,
        log_group,
        network,
        security_groups,
        role: ec2_role,
        instance_profile,
        instances,
        amis,
        grafana_role,
        grafana_workspace,
    })
}

async fn grafana_workspace(
    clients: &Clients,
    names: &Names,
) -> Result<Option<GrafanaWorkspaceState>> {
    let Some(workspace) = clients.grafana.find_by_tags(&names.owner_tags()).await? else {
        return Ok(None);
    };
    let permissions = if workspace.is_active() {
        Some(
            clients
                .grafana
                .list_group_permissions(&workspace.id)
                .await?,
        )
    } else {
        None
    };
    Ok(Some(GrafanaWorkspaceState {
        workspace,
        permissions,
    }))
}

async fn workspaces(clients: &Clients, names: &Names) -> Result<Vec<WorkspaceState>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = clients
            .amp
            .list_workspaces()
            .alias(&names.workspace_alias)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("aps:ListWorkspaces", e))?;
        for w in page.workspaces() {
            if w.alias() != Some(names.workspace_alias.as_str()) {
                continue;
            }
            let tags = match w.tags() {
                Some(t) if !t.is_empty() => t.clone(),
                _ => clients
                    .amp
                    .describe_workspace()
                    .workspace_id(w.workspace_id())
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("aps:DescribeWorkspace", e))?
                    .workspace()
                    .and_then(|d| d.tags().cloned())
                    .unwrap_or_default(),
            };
            if !names.owns(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                continue;
            }
            let Some(status) = w.status().map(|s| s.status_code().clone()) else {
                continue;
            };
            if status == WorkspaceStatusCode::Deleting {
                continue;
            }
            out.push(WorkspaceState {
                id: w.workspace_id().to_string(),
                arn: w.arn().to_string(),
                status,
                created: w.created_at().secs(),
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    Ok(out)
}

async fn log_group(clients: &Clients, names: &Names, group: &str) -> Result<Option<LogGroupInfo>> {
    let Some(g) = monitor_logs::admin::describe_log_group(&clients.logs, group).await? else {
        return Ok(None);
    };
    if !names.owns(g.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        return Err(ReconcileError::NotOurs {
            kind: "log group",
            name: group.to_string(),
            stack: names.stack.clone(),
        });
    }
    Ok(Some(g))
}
