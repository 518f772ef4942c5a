//! Reads what exists now, found by the stack's tags (and, for IAM, which has no tag
//! search, by the stack-derived name, then proven ours by its tags).

use std::collections::BTreeMap;

use aws_sdk_amp::types::WorkspaceStatusCode;
use aws_sdk_ec2::types::{Filter, InstanceStateName};
use monitor_logs::admin::LogGroupInfo;
use monitor_stack::{Architecture, Stack};

use crate::error::{ReconcileError, Result};
use crate::names::{Names, TAG_HOST, TAG_MANAGED_BY, TAG_STACK};
use crate::policy::parse_document;
use crate::Clients;

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
    /// Tagged instances that are not terminated.
    pub instances: Vec<InstanceState>,
    /// AL2023 AMI per architecture used by a host ([`Scope::Apply`] only).
    pub amis: BTreeMap<Architecture, String>,
    /// The Grafana workspace role (looked up only with `[grafana] enabled`).
    pub grafana_role: Option<RoleState>,
    /// The Grafana workspace found by the stack's tags (only with `[grafana] enabled`).
    pub grafana_workspace: Option<GrafanaWorkspaceState>,
}

impl Observed {
    /// The stack's AMP workspace: the oldest one whose creation did not fail. Plan,
    /// apply, outputs and verify all choose with this.
    pub fn amp_workspace(&self) -> Option<&WorkspaceState> {
        self.workspaces
            .iter()
            .find(|w| w.status != WorkspaceStatusCode::CreationFailed)
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
    let (workspaces, log_group, security_groups, ec2_role, instance_profile, instances) = tokio::try_join!(
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
        Scope::Destroy => (None, BTreeMap::new()),
        Scope::Apply => {
            let network = network(clients, stack).await?;
            let mut amis = BTreeMap::new();
            for h in &stack.hosts {
                if let std::collections::btree_map::Entry::Vacant(e) = amis.entry(h.architecture) {
                    e.insert(ami(clients, h.architecture).await?);
                }
            }
            (Some(network), amis)
        }
    };
    Ok(Observed {
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

fn owner_filters(names: &Names) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name(format!("tag:{TAG_STACK}"))
            .values(&names.stack)
            .build(),
        Filter::builder()
            .name(format!("tag:{TAG_MANAGED_BY}"))
            .values(crate::names::MANAGED_BY)
            .build(),
    ]
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

fn rule_summaries(perms: &[aws_sdk_ec2::types::IpPermission]) -> Vec<String> {
    let mut out = Vec::new();
    for p in perms {
        let proto = match p.ip_protocol().unwrap_or("-1") {
            "-1" => "all",
            other => other,
        };
        let ports = match (p.from_port(), p.to_port()) {
            (Some(f), Some(t)) if f == t && f >= 0 => format!(" {f}"),
            (Some(f), Some(t)) if f >= 0 => format!(" {f}-{t}"),
            _ => String::new(),
        };
        let mut sources: Vec<String> = p
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip().map(str::to_string))
            .collect();
        sources.extend(
            p.ipv6_ranges()
                .iter()
                .filter_map(|r| r.cidr_ipv6().map(str::to_string)),
        );
        sources.extend(
            p.user_id_group_pairs()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_string)),
        );
        sources.extend(
            p.prefix_list_ids()
                .iter()
                .filter_map(|g| g.prefix_list_id().map(str::to_string)),
        );
        if sources.is_empty() {
            sources.push("-".into());
        }
        for s in sources {
            out.push(format!("{proto}{ports} {s}"));
        }
    }
    out.sort();
    out
}

async fn security_groups(clients: &Clients, names: &Names) -> Result<Vec<SecurityGroupState>> {
    let out = clients
        .ec2
        .describe_security_groups()
        .set_filters(Some(owner_filters(names)))
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("ec2:DescribeSecurityGroups", e))?;
    let mut groups: Vec<SecurityGroupState> = out
        .security_groups()
        .iter()
        .filter(|g| {
            names.owns(
                g.tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
            )
        })
        .map(|g| SecurityGroupState {
            id: g.group_id().unwrap_or_default().to_string(),
            name: g.group_name().unwrap_or_default().to_string(),
            vpc_id: g.vpc_id().unwrap_or_default().to_string(),
            ingress: rule_summaries(g.ip_permissions()),
            egress: rule_summaries(g.ip_permissions_egress()),
        })
        .collect();
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(groups)
}

fn iam_tags_ours(names: &Names, tags: &[aws_sdk_iam::types::Tag]) -> bool {
    names.owns(tags.iter().map(|t| (t.key(), t.value())))
}

async fn role(
    clients: &Clients,
    names: &Names,
    role_name: &str,
    policy_name: &str,
) -> Result<Option<RoleState>> {
    let role = match clients.iam.get_role().role_name(role_name).send().await {
        Ok(out) => match out.role {
            Some(r) => r,
            None => return Ok(None),
        },
        Err(e) => {
            let e = ReconcileError::from_sdk("iam:GetRole", e);
            return if e.is_not_found() { Ok(None) } else { Err(e) };
        }
    };
    let mut tags = role.tags().to_vec();
    if tags.is_empty() {
        tags = clients
            .iam
            .list_role_tags()
            .role_name(role_name)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:ListRoleTags", e))?
            .tags()
            .to_vec();
    }
    if !iam_tags_ours(names, &tags) {
        return Err(ReconcileError::NotOurs {
            kind: "IAM role",
            name: role_name.to_string(),
            stack: names.stack.clone(),
        });
    }
    let inline_policy_names = clients
        .iam
        .list_role_policies()
        .role_name(role_name)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:ListRolePolicies", e))?
        .policy_names()
        .to_vec();
    let mut inline_policies = BTreeMap::new();
    for name in inline_policy_names {
        let doc = if name == policy_name {
            let out = clients
                .iam
                .get_role_policy()
                .role_name(role_name)
                .policy_name(policy_name)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("iam:GetRolePolicy", e))?;
            parse_document(out.policy_document())
        } else {
            None
        };
        inline_policies.insert(name, doc);
    }
    let attached = clients
        .iam
        .list_attached_role_policies()
        .role_name(role_name)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:ListAttachedRolePolicies", e))?
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    Ok(Some(RoleState {
        name: role.role_name().to_string(),
        arn: role.arn().to_string(),
        trust_policy: role.assume_role_policy_document().and_then(parse_document),
        inline_policies,
        attached,
    }))
}

async fn instance_profile(clients: &Clients, names: &Names) -> Result<Option<ProfileState>> {
    let profile = match clients
        .iam
        .get_instance_profile()
        .instance_profile_name(&names.instance_profile)
        .send()
        .await
    {
        Ok(out) => match out.instance_profile {
            Some(p) => p,
            None => return Ok(None),
        },
        Err(e) => {
            let e = ReconcileError::from_sdk("iam:GetInstanceProfile", e);
            return if e.is_not_found() { Ok(None) } else { Err(e) };
        }
    };
    let mut tags = profile.tags().to_vec();
    if tags.is_empty() {
        tags = clients
            .iam
            .list_instance_profile_tags()
            .instance_profile_name(&names.instance_profile)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:ListInstanceProfileTags", e))?
            .tags()
            .to_vec();
    }
    if !iam_tags_ours(names, &tags) {
        return Err(ReconcileError::NotOurs {
            kind: "IAM instance profile",
            name: names.instance_profile.clone(),
            stack: names.stack.clone(),
        });
    }
    Ok(Some(ProfileState {
        name: profile.instance_profile_name().to_string(),
        arn: profile.arn().to_string(),
        roles: profile
            .roles()
            .iter()
            .map(|r| r.role_name().to_string())
            .collect(),
    }))
}

async fn instances(clients: &Clients, names: &Names) -> Result<Vec<InstanceState>> {
    let mut filters = owner_filters(names);
    filters.push(
        Filter::builder()
            .name("instance-state-name")
            .set_values(Some(
                ["pending", "running", "stopping", "stopped", "shutting-down"]
                    .map(String::from)
                    .to_vec(),
            ))
            .build(),
    );
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = clients
            .ec2
            .describe_instances()
            .set_filters(Some(filters.clone()))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:DescribeInstances", e))?;
        for r in page.reservations() {
            for i in r.instances() {
                let tags: BTreeMap<String, String> = i
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap_or_default().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                if !names.owns(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                    continue;
                }
                let Some(state) = i.state().and_then(|s| s.name()).cloned() else {
                    continue;
                };
                if state == InstanceStateName::Terminated {
                    continue;
                }
                out.push(InstanceState {
                    id: i.instance_id().unwrap_or_default().to_string(),
                    host: tags.get(TAG_HOST).cloned().unwrap_or_default(),
                    state,
                    instance_type: i
                        .instance_type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    architecture: i
                        .architecture()
                        .map(|a| a.as_str().to_string())
                        .unwrap_or_default(),
                    image_id: i.image_id().unwrap_or_default().to_string(),
                    profile_arn: i
                        .iam_instance_profile()
                        .and_then(|p| p.arn())
                        .map(str::to_string),
                    security_groups: i
                        .security_groups()
                        .iter()
                        .filter_map(|g| g.group_id().map(str::to_string))
                        .collect(),
                    subnet_id: i.subnet_id().map(str::to_string),
                    http_tokens: i
                        .metadata_options()
                        .and_then(|m| m.http_tokens())
                        .map(|t| t.as_str().to_string()),
                    tags,
                    launched: i.launch_time().map(|t| t.secs()).unwrap_or_default(),
                });
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| (&a.host, a.launched, &a.id).cmp(&(&b.host, b.launched, &b.id)));
    Ok(out)
}

async fn network(clients: &Clients, stack: &Stack) -> Result<NetworkState> {
    let net = &stack.network;
    if let Some(subnet) = &net.subnet_id {
        let out = clients
            .ec2
            .describe_subnets()
            .subnet_ids(subnet)
            .send()
            .await
            .map_err(|e| {
                let e = ReconcileError::from_sdk("ec2:DescribeSubnets", e);
                if e.is_not_found() {
                    ReconcileError::Config(format!(
                        "[network] subnet_id `{subnet}` does not exist in {}",
                        clients.region
                    ))
                } else {
                    e
                }
            })?;
        let vpc = out
            .subnets()
            .first()
            .and_then(|s| s.vpc_id())
            .ok_or_else(|| {
                ReconcileError::Config(format!(
                    "[network] subnet_id `{subnet}` does not exist in {}",
                    clients.region
                ))
            })?
            .to_string();
        if let Some(want) = &net.vpc_id {
            if *want != vpc {
                return Err(ReconcileError::Config(format!(
                    "[network] subnet_id `{subnet}` is in {vpc}, not in vpc_id `{want}`"
                )));
            }
        }
        return Ok(NetworkState {
            vpc_id: vpc,
            subnet_id: Some(subnet.clone()),
        });
    }
    let mut req = clients.ec2.describe_vpcs();
    req = match &net.vpc_id {
        Some(v) => req.vpc_ids(v),
        None => req.filters(Filter::builder().name("is-default").values("true").build()),
    };
    let out = req.send().await.map_err(|e| {
        let e = ReconcileError::from_sdk("ec2:DescribeVpcs", e);
        match (&net.vpc_id, e.is_not_found()) {
            (Some(v), true) => {
                ReconcileError::Config(format!("[network] vpc_id `{v}` does not exist"))
            }
            _ => e,
        }
    })?;
    let vpc = out
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .map(str::to_string)
        .ok_or_else(|| match &net.vpc_id {
            Some(v) => ReconcileError::Config(format!("[network] vpc_id `{v}` does not exist")),
            None => ReconcileError::Config(format!(
                "{} has no default VPC: set [network] subnet_id (and vpc_id) in stack.toml",
                clients.region
            )),
        })?;
    Ok(NetworkState {
        vpc_id: vpc,
        subnet_id: None,
    })
}

/// The latest AL2023 AMI for `arch`, from the SSM public parameter.
///
/// # Errors
/// [`ReconcileError::Config`] when the parameter does not exist in the region.
pub async fn ami(clients: &Clients, arch: Architecture) -> Result<String> {
    let name = ami_parameter(arch);
    let out = clients
        .ssm
        .get_parameter()
        .name(&name)
        .send()
        .await
        .map_err(|e| {
            let e = ReconcileError::from_sdk("ssm:GetParameter", e);
            if e.code() == Some("ParameterNotFound") {
                ReconcileError::Config(format!(
                    "SSM public parameter {name} does not exist in {}: no AL2023 {arch} AMI there",
                    clients.region
                ))
            } else {
                e
            }
        })?;
    out.parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .ok_or_else(|| ReconcileError::Config(format!("SSM parameter {name} has no value")))
}
