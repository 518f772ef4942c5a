//! The plan: pure data computed from the desired and the observed state, rendered like
//! `terraform plan` (text) or as JSON. Nothing here does I/O.

use std::fmt::Write as _;

use serde::Serialize;

use crate::desired::Desired;
use crate::names::{
    Names, GRAFANA_POLICY_NAME, INLINE_POLICY_NAME, LABEL_TAG_PREFIX, SSM_CORE_POLICY_ARN,
    TAG_BASE_SHA, TAG_CONTENT_SHA, TAG_USER_DATA_SHA,
};
use crate::observe::{InstanceState, Observed};
use crate::policy;

/// What happens to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `+` create.
    Create,
    /// `~` update in place.
    Update,
    /// `-/+` destroy, then create a replacement.
    Replace,
    /// `-` delete.
    Delete,
}

impl Action {
    /// Terraform's symbol for the action.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Create => "+",
            Self::Update => "~",
            Self::Replace => "-/+",
            Self::Delete => "-",
        }
    }
}

/// Kind of resource, named like a Terraform resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// AMP workspace.
    AmpWorkspace,
    /// CloudWatch Logs group.
    LogGroup,
    /// Security group of the hosts.
    SecurityGroup,
    /// EC2 role.
    IamRole,
    /// Inline policy of the role.
    IamRolePolicy,
    /// Managed policy attached to the role.
    IamRolePolicyAttachment,
    /// Instance profile.
    IamInstanceProfile,
    /// EC2 instance (one per host).
    Instance,
    /// Amazon Managed Grafana workspace IAM role (`[grafana] enabled`).
    GrafanaRole,
    /// Inline policy of the Grafana workspace role.
    GrafanaRolePolicy,
    /// Amazon Managed Grafana workspace.
    GrafanaWorkspace,
    /// Grafana roles of the IAM Identity Center groups.
    GrafanaPermissions,
    /// Grafana folder, datasources and dashboards (through a short-lived token).
    GrafanaContent,
}

impl ResourceKind {
    /// `amp_workspace`, `instance`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AmpWorkspace => "amp_workspace",
            Self::LogGroup => "log_group",
            Self::SecurityGroup => "security_group",
            Self::IamRole => "iam_role",
            Self::IamRolePolicy => "iam_role_policy",
            Self::IamRolePolicyAttachment => "iam_role_policy_attachment",
            Self::IamInstanceProfile => "iam_instance_profile",
            Self::Instance => "instance",
            Self::GrafanaRole => "grafana_role",
            Self::GrafanaRolePolicy => "grafana_role_policy",
            Self::GrafanaWorkspace => "grafana_workspace",
            Self::GrafanaPermissions => "grafana_permissions",
            Self::GrafanaContent => "grafana_content",
        }
    }
}

/// One resource: kind, stable name, physical id when it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// Kind.
    pub kind: ResourceKind,
    /// Stable name (alias, host name, role name, …).
    pub name: String,
    /// Physical id (`ws-…`, `sg-…`, `i-…`) of the existing resource, if any.
    pub id: Option<String>,
}

impl Resource {
    fn new(kind: ResourceKind, name: impl Into<String>, id: Option<String>) -> Resource {
        Resource {
            kind,
            name: name.into(),
            id,
        }
    }

    /// `kind.name`, e.g. `instance.web-1`.
    pub fn address(&self) -> String {
        format!("{}.{}", self.kind.as_str(), self.name)
    }
}

/// One attribute that changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    /// Attribute name.
    pub attribute: String,
    /// Value now (`None`: absent).
    pub before: Option<String>,
    /// Value after apply (`None`: removed; `(known after apply)` when not known yet).
    pub after: Option<String>,
}

impl Detail {
    fn new(attribute: &str, before: Option<&str>, after: Option<&str>) -> Detail {
        Detail {
            attribute: attribute.to_string(),
            before: before.map(str::to_string),
            after: after.map(str::to_string),
        }
    }
}

/// Placeholder for values only known once an earlier step has run.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// One change of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The resource.
    pub resource: Resource,
    /// What happens to it.
    pub action: Action,
    /// Why, in one sentence.
    pub reason: String,
    /// Attribute-level changes.
    pub details: Vec<Detail>,
}

impl Change {
    fn new(resource: Resource, action: Action, reason: impl Into<String>) -> Change {
        Change {
            resource,
            action,
            reason: reason.into(),
            details: Vec::new(),
        }
    }

    fn detail(mut self, d: Detail) -> Change {
        self.details.push(d);
        self
    }
}

/// Counts per action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// `+`.
    pub create: usize,
    /// `~`.
    pub update: usize,
    /// `-/+`.
    pub replace: usize,
    /// `-`.
    pub delete: usize,
}

/// The plan for one stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Stack name.
    pub stack: String,
    /// Region.
    pub region: String,
    /// `apply` or `destroy`.
    pub mode: &'static str,
    /// The changes, in execution order.
    pub changes: Vec<Change>,
    /// Counts per action.
    pub summary: Summary,
}

impl Plan {
    fn new(stack: &str, region: &str, mode: &'static str, changes: Vec<Change>) -> Plan {
        let mut summary = Summary::default();
        for c in &changes {
            match c.action {
                Action::Create => summary.create += 1,
                Action::Update => summary.update += 1,
                Action::Replace => summary.replace += 1,
                Action::Delete => summary.delete += 1,
            }
        }
        Plan {
            stack: stack.to_string(),
            region: region.to_string(),
            mode,
            changes,
            summary,
        }
    }

    /// Whether the plan changes anything.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The change of the resource at `address` (`instance.web-1`), if any.
    pub fn change(&self, address: &str) -> Option<&Change> {
        self.changes
            .iter()
            .find(|c| c.resource.address() == address)
    }

    /// Terraform-like text.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        if self.changes.is_empty() {
            let _ = writeln!(
                out,
                "No changes. Stack `{}` in {} matches its configuration.",
                self.stack, self.region
            );
            return out;
        }
        let _ = writeln!(
            out,
            "Stack `{}` in {}: the following actions will be performed.\n",
            self.stack, self.region
        );
        let _ = writeln!(
            out,
            "  + create   ~ update in place   -/+ replace   - delete\n"
        );
        for c in &self.changes {
            let id = c
                .resource
                .id
                .as_deref()
                .map(|i| format!(" ({i})"))
                .unwrap_or_default();
            let _ = writeln!(out, "{:>5} {}{id}", c.action.symbol(), c.resource.address());
            let _ = writeln!(out, "        # {}", c.reason);
            for d in &c.details {
                let show = |v: &Option<String>| match v {
                    Some(s) if s == KNOWN_AFTER_APPLY => s.clone(),
                    Some(s) => format!("{s:?}"),
                    None => "(none)".to_string(),
                };
                let _ = writeln!(
                    out,
                    "        {}: {} -> {}",
                    d.attribute,
                    show(&d.before),
                    show(&d.after)
                );
            }
        }
        let s = self.summary;
        let _ = writeln!(
            out,
            "\nPlan: {} to add, {} to change, {} to replace, {} to destroy.",
            s.create, s.update, s.replace, s.delete
        );
        out
    }

    /// Pretty JSON of the whole plan.
    pub fn render_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

const HTTPS_EGRESS: &str = "tcp 443 0.0.0.0/0";

/// Diffs `desired` against `observed` into the apply plan. Pure.
pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    let names = &desired.names;
    let mut changes = Vec::new();

    // ---- AMP workspace: keep the oldest healthy one, delete failed ones and duplicates.
    let healthy: Vec<_> = observed
        .workspaces
        .iter()
        .filter(|w| w.status != "CREATION_FAILED")
        .collect();
    let keeper = healthy.first().copied();
    for w in &observed.workspaces {
        if keeper.is_some_and(|k| k.id == w.id) {
            continue;
        }
        let reason = if w.status == "CREATION_FAILED" {
            "workspace creation failed; it is deleted and recreated".to_string()
        } else {
            format!(
                "duplicate workspace tagged stack={} (keeping {})",
                names.stack,
                keeper.map_or("-", |k| k.id.as_str())
            )
        };
        changes.push(Change::new(
            Resource::new(
                ResourceKind::AmpWorkspace,
                &names.workspace_alias,
                Some(w.id.clone()),
            ),
            Action::Delete,
            reason,
        ));
    }
    let workspace_arn: Option<String> = keeper.map(|k| k.arn.clone());
    if keeper.is_none() {
        changes.push(
            Change::new(
                Resource::new(ResourceKind::AmpWorkspace, &names.workspace_alias, None),
                Action::Create,
                format!("no AMP workspace tagged stack={}", names.stack),
            )
            .detail(Detail::new("alias", None, Some(&names.workspace_alias))),
        );
    }

    // ---- log group
    match &observed.log_group {
        None => changes.push(
            Change::new(
                Resource::new(ResourceKind::LogGroup, &desired.log_group, None),
                Action::Create,
                "log group does not exist",
            )
            .detail(Detail::new(
                "retention_days",
                None,
                Some(&desired.retention_days.to_string()),
            )),
        ),
        Some(g) if g.retention_days != Some(desired.retention_days as i32) => changes.push(
            Change::new(
                Resource::new(
                    ResourceKind::LogGroup,
                    &desired.log_group,
                    Some(g.arn.clone()),
                ),
                Action::Update,
                "retention differs from [logs] retention_days",
            )
            .detail(Detail::new(
                "retention_days",
                g.retention_days.map(|d| d.to_string()).as_deref(),
                Some(&desired.retention_days.to_string()),
            )),
        ),
        Some(_) => {}
    }

    // ---- security group
    let vpc = observed.network.as_ref().map(|n| n.vpc_id.as_str());
    let sg_keeper = observed
        .security_groups
        .iter()
        .find(|g| Some(g.vpc_id.as_str()) == vpc);
    for g in &observed.security_groups {
        if sg_keeper.is_some_and(|k| k.id == g.id) {
            continue;
        }
        let reason = if Some(g.vpc_id.as_str()) != vpc {
            format!(
                "security group is in {}, the stack's VPC is {}",
                g.vpc_id,
                vpc.unwrap_or("-")
            )
        } else {
            "duplicate security group tagged with the stack".to_string()
        };
        changes.push(Change::new(
            Resource::new(ResourceKind::SecurityGroup, &g.name, Some(g.id.clone())),
            Action::Delete,
            reason,
        ));
    }
    match sg_keeper {
        None => changes.push(
            Change::new(
                Resource::new(ResourceKind::SecurityGroup, &names.security_group, None),
                Action::Create,
                "no security group tagged with the stack in the VPC",
            )
            .detail(Detail::new("vpc_id", None, vpc))
            .detail(Detail::new("ingress", None, Some("(none)")))
            .detail(Detail::new("egress", None, Some(HTTPS_EGRESS))),
        ),
        Some(g) => {
            let mut c = Change::new(
                Resource::new(ResourceKind::SecurityGroup, &g.name, Some(g.id.clone())),
                Action::Update,
                "rules differ from: no inbound, outbound HTTPS only",
            );
            if !g.ingress.is_empty() {
                c = c.detail(Detail::new(
                    "ingress",
                    Some(&g.ingress.join(", ")),
                    Some("(none)"),
                ));
            }
            if g.egress != [HTTPS_EGRESS] {
                c = c.detail(Detail::new(
                    "egress",
                    Some(&g.egress.join(", ")),
                    Some(HTTPS_EGRESS),
                ));
            }
            if !c.details.is_empty() {
                changes.push(c);
            }
        }
    }

    // ---- IAM role, inline policy, managed policy, instance profile
    let trust = serde_json::to_value(policy::trust_policy()).unwrap_or_default();
    role_changes(
        &mut changes,
        ResourceKind::IamRole,
        &names.role,
        observed.role.as_ref(),
        &trust,
        "EC2 role does not exist",
        "trust policy differs (only ec2.amazonaws.com may assume the role)",
    );
    let policy_name = format!("{}/{INLINE_POLICY_NAME}", names.role);
    let current_policy = observed
        .role
        .as_ref()
        .and_then(|r| r.inline_policy.as_ref());
    match (&workspace_arn, current_policy) {
        (None, None) => changes.push(
            Change::new(
                Resource::new(ResourceKind::IamRolePolicy, &policy_name, None),
                Action::Create,
                "inline policy does not exist",
            )
            .detail(Detail::new(
                "aps:RemoteWrite resource",
                None,
                Some(KNOWN_AFTER_APPLY),
            )),
        ),
        (None, Some(cur)) => changes.push(
            Change::new(
                Resource::new(ResourceKind::IamRolePolicy, &policy_name, None),
                Action::Update,
                "the AMP workspace is (re)created: aps:RemoteWrite is re-scoped to its ARN",
            )
            .detail(Detail::new(
                "aps:RemoteWrite resource",
                remote_write_resource(cur).as_deref(),
                Some(KNOWN_AFTER_APPLY),
            )),
        ),
        (Some(arn), cur) => {
            let want = serde_json::to_value(policy::host_policy(
                arn,
                &desired.region,
                &desired.account_id,
                &desired.log_group,
            ))
            .unwrap_or_default();
            match cur {
                None => changes.push(
                    Change::new(
                        Resource::new(ResourceKind::IamRolePolicy, &policy_name, None),
                        Action::Create,
                        "inline policy does not exist",
                    )
                    .detail(Detail::new(
                        "aps:RemoteWrite resource",
                        None,
                        Some(arn),
                    )),
                ),
                Some(cur) if !policy::same_policy(cur, &want) => {
                    let before = remote_write_resource(cur);
                    let mut c = Change::new(
                        Resource::new(ResourceKind::IamRolePolicy, &policy_name, None),
                        Action::Update,
                        if before.as_deref() != Some(arn.as_str()) {
                            "policy is scoped to another AMP workspace ARN"
                        } else {
                            "policy document differs"
                        },
                    );
                    if before.as_deref() != Some(arn.as_str()) {
                        c = c.detail(Detail::new(
                            "aps:RemoteWrite resource",
                            before.as_deref(),
                            Some(arn),
                        ));
                    }
                    changes.push(c);
                }
                Some(_) => {}
            }
        }
    }
    let attached = observed
        .role
        .as_ref()
        .is_some_and(|r| r.attached.iter().any(|a| a == SSM_CORE_POLICY_ARN));
    if !attached {
        changes.push(Change::new(
            Resource::new(
                ResourceKind::IamRolePolicyAttachment,
                "AmazonSSMManagedInstanceCore",
                None,
            ),
            Action::Create,
            "SSM managed-instance policy not attached to the role",
        ));
    }
    match &observed.instance_profile {
        None => changes.push(Change::new(
            Resource::new(
                ResourceKind::IamInstanceProfile,
                &names.instance_profile,
                None,
            ),
            Action::Create,
            "instance profile does not exist",
        )),
        Some(p) if p.roles != [names.role.clone()] => changes.push(
            Change::new(
                Resource::new(
                    ResourceKind::IamInstanceProfile,
                    &names.instance_profile,
                    Some(p.arn.clone()),
                ),
                Action::Update,
                "instance profile does not hold exactly the stack's role",
            )
            .detail(Detail::new(
                "roles",
                Some(&p.roles.join(",")),
                Some(&names.role),
            )),
        ),
        Some(_) => {}
    }

    // ---- instances
    let sg_id = sg_keeper.map(|g| g.id.as_str());
    for h in &desired.hosts {
        let mine: Vec<&InstanceState> = observed
            .instances
            .iter()
            .filter(|i| i.host == h.host.name)
            .collect();
        let want_base = h.rendered.as_ref().map(|r| r.base_sha.as_str());
        // Keep the instance that matches best: alive, needing no replacement, same base
        // hash, newest.
        let sg = sg_keeper.map(|g| g.id.as_str());
        let keeper = mine.iter().copied().max_by_key(|i| {
            let replace = instance_change(observed, h, i, sg, names)
                .is_some_and(|c| c.action == Action::Replace);
            (
                i.state == "running" || i.state == "pending",
                !replace,
                i.tags.get(TAG_BASE_SHA).map(String::as_str) == want_base,
                i.launched,
            )
        });
        for i in &mine {
            if keeper.is_some_and(|k| k.id == i.id) {
                continue;
            }
            changes.push(Change::new(
                Resource::new(ResourceKind::Instance, &h.host.name, Some(i.id.clone())),
                Action::Delete,
                format!(
                    "duplicate instance for host `{}` (keeping {})",
                    h.host.name,
                    keeper.map_or("-", |k| k.id.as_str())
                ),
            ));
        }
        let Some(cur) = keeper else {
            changes.push(
                Change::new(
                    Resource::new(ResourceKind::Instance, &h.host.name, None),
                    Action::Create,
                    format!("no instance for host `{}`", h.host.name),
                )
                .detail(Detail::new(
                    "instance_type",
                    None,
                    Some(&h.host.instance_type),
                ))
                .detail(Detail::new(
                    "architecture",
                    None,
                    Some(h.host.architecture.as_str()),
                )),
            );
            continue;
        };
        changes.extend(instance_change(observed, h, cur, sg_id, names));
    }
    for i in &observed.instances {
        if !desired.hosts.iter().any(|h| h.host.name == i.host) {
            let name = if i.host.is_empty() {
                i.id.clone()
            } else {
                i.host.clone()
            };
            changes.push(Change::new(
                Resource::new(ResourceKind::Instance, name, Some(i.id.clone())),
                Action::Delete,
                "host is no longer in stack.toml",
            ));
        }
    }

    if let Some(g) = &desired.grafana {
        grafana_changes(desired, observed, g, workspace_arn.as_deref(), &mut changes);
    }

    order(&mut changes);
    Plan::new(&names.stack, &desired.region, "apply", changes)
}

/// The Grafana part of the apply plan (`[grafana] enabled`): workspace role and its
/// policy, workspace, group permissions, content.
fn grafana_changes(
    desired: &Desired,
    observed: &Observed,
    g: &monitor_stack::GrafanaConfig,
    amp_arn: Option<&str>,
    changes: &mut Vec<Change>,
) {
    use monitor_grafana::iam;
    let names = &desired.names;
    let trust = serde_json::to_value(iam::trust_policy(&desired.account_id, &desired.region))
        .unwrap_or_default();
    role_changes(
        changes,
        ResourceKind::GrafanaRole,
        &names.grafana_role,
        observed.grafana_role.as_ref(),
        &trust,
        "Grafana workspace role does not exist",
        "trust policy differs (only grafana.amazonaws.com, for this account's workspaces, may assume the role)",
    );
    let policy_name = format!("{}/{GRAFANA_POLICY_NAME}", names.grafana_role);
    let current = observed
        .grafana_role
        .as_ref()
        .and_then(|r| r.inline_policy.as_ref());
    let log_arn = policy::log_group_arn(&desired.region, &desired.account_id, &desired.log_group);
    let res = Resource::new(ResourceKind::GrafanaRolePolicy, &policy_name, None);
    match (amp_arn, current) {
        (None, cur) => changes.push(
            Change::new(
                res,
                if cur.is_none() {
                    Action::Create
                } else {
                    Action::Update
                },
                "AMP query access is scoped to the AMP workspace, which is (re)created",
            )
            .detail(Detail::new(
                "aps:QueryMetrics resource",
                None,
                Some(KNOWN_AFTER_APPLY),
            )),
        ),
        (Some(arn), cur) => {
            let want =
                serde_json::to_value(iam::permissions_policy(arn, &log_arn)).unwrap_or_default();
            match cur {
                None => changes.push(
                    Change::new(res, Action::Create, "inline policy does not exist")
                        .detail(Detail::new("aps:QueryMetrics resource", None, Some(arn))),
                ),
                Some(cur) if !policy::same_policy(cur, &want) => changes.push(
                    Change::new(
                        res,
                        Action::Update,
                        "policy differs (AMP query scoped to the stack's AMP workspace, Logs read to its log group)",
                    )
                    .detail(Detail::new("aps:QueryMetrics resource", None, Some(arn))),
                ),
                Some(_) => {}
            }
        }
    }
    let ws = observed.grafana_workspace.as_ref();
    let ws_res = |id: Option<String>| {
        Resource::new(ResourceKind::GrafanaWorkspace, &names.grafana_workspace, id)
    };
    let failed = ws.is_some_and(|w| w.workspace.status.ends_with("FAILED"));
    match ws {
        None => changes.push(
            Change::new(
                ws_res(None),
                Action::Create,
                format!(
                    "no Amazon Managed Grafana workspace tagged stack={}",
                    names.stack
                ),
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
        Some(w) if failed => changes.push(Change::new(
            ws_res(Some(w.workspace.id.clone())),
            Action::Replace,
            format!(
                "workspace is {}; it is deleted and recreated",
                w.workspace.status
            ),
        )),
        Some(_) => {}
    }
    let want: std::collections::BTreeSet<(String, String)> =
        monitor_grafana::amg::RoleAssignments {
            admin_group_ids: g.admin_group_ids.clone(),
            editor_group_ids: g.editor_group_ids.clone(),
            viewer_group_ids: g.viewer_group_ids.clone(),
        }
        .pairs()
        .into_iter()
        .collect();
    let have: Option<std::collections::BTreeSet<(String, String)>> = ws
        .filter(|_| !failed)
        .and_then(|w| w.permissions.as_ref())
        .map(|p| {
            p.iter()
                .map(|p| (p.role.clone(), p.group_id.clone()))
                .collect()
        });
    let perm_res = Resource::new(
        ResourceKind::GrafanaPermissions,
        &names.grafana_workspace,
        ws.map(|w| w.workspace.id.clone()),
    );
    let show = |s: &std::collections::BTreeSet<(String, String)>| {
        s.iter()
            .map(|(r, id)| format!("{r}:{id}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match have {
        Some(h) if h == want => {}
        Some(h) => changes.push(
            Change::new(
                perm_res,
                Action::Update,
                "Identity Center group roles differ from [grafana] *_group_ids",
            )
            .detail(Detail::new("groups", Some(&show(&h)), Some(&show(&want)))),
        ),
        None if want.is_empty() && ws.is_none() => {}
        None => changes.push(
            Change::new(
                perm_res,
                Action::Update,
                if ws.is_none() {
                    "group roles are given once the new workspace is ACTIVE"
                } else {
                    "the workspace is not ACTIVE yet: group roles are set once it is"
                },
            )
            .detail(Detail::new("groups", None, Some(&show(&want)))),
        ),
    }
    if let Some(c) = content_change(desired, ws, failed, &g.grafana_version) {
        changes.push(c);
    }
}

/// `~ grafana_content` unless the workspace's [`crate::names::TAG_CONTENT_SHA`] tag says
/// the last successful apply put exactly the desired content into it. (The content itself
/// cannot be read without a Grafana token, which plan never creates.)
fn content_change(
    desired: &Desired,
    ws: Option<&crate::observe::GrafanaWorkspaceState>,
    failed: bool,
    configured_version: &str,
) -> Option<Change> {
    let names = &desired.names;
    let version = ws.map_or(configured_version, |w| {
        if w.workspace.grafana_version.is_empty() {
            configured_version
        } else {
            w.workspace.grafana_version.as_str()
        }
    });
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
    Some(
        Change::new(
            Resource::new(
                ResourceKind::GrafanaContent,
                &names.grafana_workspace,
                ws.map(|w| w.workspace.id.clone()),
            ),
            Action::Update,
            format!("{reason} (folder, datasources and dashboards are upserted by uid with a token that lives for this run only)"),
        )
        .detail(Detail::new(
            TAG_CONTENT_SHA,
            have.map(short).as_deref(),
            Some(want.as_deref().map_or(KNOWN_AFTER_APPLY.to_string(), short).as_str()),
        )),
    )
}

fn remote_write_resource(doc: &serde_json::Value) -> Option<String> {
    let statements = match &doc["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    for s in statements {
        let has = match &s["Action"] {
            serde_json::Value::String(a) => a == "aps:RemoteWrite",
            serde_json::Value::Array(a) => a.iter().any(|x| x == "aps:RemoteWrite"),
            _ => false,
        };
        if has {
            return match &s["Resource"] {
                serde_json::Value::String(r) => Some(r.clone()),
                serde_json::Value::Array(a) => Some(
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                _ => None,
            };
        }
    }
    None
}

fn instance_change(
    observed: &Observed,
    h: &crate::desired::DesiredHost,
    cur: &InstanceState,
    sg_id: Option<&str>,
    names: &Names,
) -> Option<Change> {
    let res = Resource::new(ResourceKind::Instance, &h.host.name, Some(cur.id.clone()));
    let replace = |reason: String, d: Vec<Detail>| {
        let mut c = Change::new(res.clone(), Action::Replace, reason);
        c.details = d;
        Some(c)
    };
    if cur.instance_type != h.host.instance_type {
        return replace(
            "instance type changed".into(),
            vec![Detail::new(
                "instance_type",
                Some(&cur.instance_type),
                Some(&h.host.instance_type),
            )],
        );
    }
    if !cur.architecture.is_empty() && cur.architecture != h.host.architecture.as_str() {
        return replace(
            "architecture changed".into(),
            vec![Detail::new(
                "architecture",
                Some(&cur.architecture),
                Some(h.host.architecture.as_str()),
            )],
        );
    }
    let profile_ok = cur
        .profile_arn
        .as_deref()
        .is_some_and(|a| a.ends_with(&format!("instance-profile/{}", names.instance_profile)));
    if !profile_ok {
        return replace(
            "instance does not use the stack's instance profile".into(),
            vec![Detail::new(
                "iam_instance_profile",
                cur.profile_arn.as_deref(),
                Some(&names.instance_profile),
            )],
        );
    }
    match sg_id {
        None => {
            return replace(
                "the security group is (re)created".into(),
                vec![Detail::new(
                    "security_groups",
                    Some(&cur.security_groups.join(",")),
                    Some(KNOWN_AFTER_APPLY),
                )],
            )
        }
        Some(sg) if !cur.security_groups.iter().any(|g| g == sg) => {
            return replace(
                "instance is not in the stack's security group".into(),
                vec![Detail::new(
                    "security_groups",
                    Some(&cur.security_groups.join(",")),
                    Some(sg),
                )],
            )
        }
        _ => {}
    }
    if let Some(want_subnet) = observed
        .network
        .as_ref()
        .and_then(|n| n.subnet_id.as_deref())
    {
        if cur.subnet_id.as_deref() != Some(want_subnet) {
            return replace(
                "instance is not in [network] subnet_id".into(),
                vec![Detail::new(
                    "subnet_id",
                    cur.subnet_id.as_deref(),
                    Some(want_subnet),
                )],
            );
        }
    }
    let Some(r) = &h.rendered else {
        return replace(
            "the AMP workspace is (re)created and the user_data embeds its id".into(),
            vec![Detail::new(
                TAG_USER_DATA_SHA,
                cur.tags.get(TAG_USER_DATA_SHA).map(String::as_str),
                Some(KNOWN_AFTER_APPLY),
            )],
        );
    };
    let cur_base = cur.tags.get(TAG_BASE_SHA).map(String::as_str);
    if cur_base != Some(r.base_sha.as_str()) {
        return replace(
            "user_data changed (user_data only runs at first boot, so the instance is replaced)"
                .into(),
            vec![Detail::new(
                TAG_USER_DATA_SHA,
                cur.tags.get(TAG_USER_DATA_SHA).map(String::as_str),
                Some(&r.full_sha),
            )],
        );
    }
    let mut c = Change::new(res, Action::Update, String::new());
    let mut reasons = Vec::new();
    let want_tags = h.tags(names);
    let mut tag_diff = Vec::new();
    for (k, v) in &want_tags {
        if cur.tags.get(k) != Some(v) {
            tag_diff.push(Detail::new(k, cur.tags.get(k).map(String::as_str), Some(v)));
        }
    }
    for (k, v) in &cur.tags {
        if k.starts_with(LABEL_TAG_PREFIX) && !want_tags.contains_key(k) {
            tag_diff.push(Detail::new(k, Some(v), None));
        }
    }
    if cur.tags.get(TAG_USER_DATA_SHA) != Some(&r.full_sha) {
        reasons.push(
            "labels changed: the collector config is pushed with SSM Run Command and the \
             collector restarted"
                .to_string(),
        );
    } else if !tag_diff.is_empty() {
        reasons.push("tags differ".to_string());
    }
    c.details = tag_diff;
    if cur.http_tokens.as_deref().is_some_and(|t| t != "required") {
        reasons.push("IMDSv2 not required".to_string());
        c.details.push(Detail::new(
            "metadata_options.http_tokens",
            cur.http_tokens.as_deref(),
            Some("required"),
        ));
    }
    if reasons.is_empty() {
        return None;
    }
    c.reason = reasons.join("; ");
    Some(c)
}

/// Number of the last phase of [`phase`].
pub(crate) const LAST_PHASE: u8 = 10;

/// Execution order of a plan's changes (also its print order).
pub(crate) fn phase(c: &Change) -> u8 {
    use Action::*;
    use ResourceKind::*;
    match (c.resource.kind, c.action) {
        (AmpWorkspace | LogGroup | SecurityGroup, Create | Update | Replace) => 1,
        (IamRole, Create | Update | Replace) => 2,
        (
            IamRolePolicy | IamRolePolicyAttachment | IamInstanceProfile,
            Create | Update | Replace,
        ) => 3,
        (GrafanaRole, Create | Update | Replace) => 2,
        (GrafanaRolePolicy, Create | Update | Replace) => 3,
        (Instance, _) => 4,
        (GrafanaWorkspace, Create | Update | Replace) => 5,
        (GrafanaPermissions, _) => 6,
        (GrafanaContent, _) => 7,
        (GrafanaWorkspace, Delete) => 8,
        (IamRolePolicy | IamRolePolicyAttachment | GrafanaRolePolicy, Delete) => 9,
        (AmpWorkspace | LogGroup | SecurityGroup | IamInstanceProfile, Delete) => 9,
        (IamRole | GrafanaRole, Delete) => 10,
    }
}

fn order(changes: &mut [Change]) {
    changes.sort_by_key(|c| (phase(c), c.resource.kind));
}

/// The destroy plan: delete everything tagged with the stack. Pure.
pub fn plan_destroy(names: &Names, observed: &Observed) -> Plan {
    let mut changes = Vec::new();
    for i in &observed.instances {
        let name = if i.host.is_empty() {
            i.id.clone()
        } else {
            i.host.clone()
        };
        changes.push(Change::new(
            Resource::new(ResourceKind::Instance, name, Some(i.id.clone())),
            Action::Delete,
            "destroy: instance tagged with the stack",
        ));
    }
    for g in &observed.security_groups {
        changes.push(Change::new(
            Resource::new(ResourceKind::SecurityGroup, &g.name, Some(g.id.clone())),
            Action::Delete,
            "destroy: security group tagged with the stack",
        ));
    }
    if let Some(p) = &observed.instance_profile {
        changes.push(Change::new(
            Resource::new(
                ResourceKind::IamInstanceProfile,
                &p.name,
                Some(p.arn.clone()),
            ),
            Action::Delete,
            "destroy: instance profile tagged with the stack",
        ));
    }
    if let Some(r) = &observed.role {
        for p in &r.inline_policy_names {
            changes.push(Change::new(
                Resource::new(ResourceKind::IamRolePolicy, format!("{}/{p}", r.name), None),
                Action::Delete,
                "destroy: inline policy of the stack's role",
            ));
        }
        for a in &r.attached {
            let short = a.rsplit('/').next().unwrap_or(a);
            changes.push(Change::new(
                Resource::new(
                    ResourceKind::IamRolePolicyAttachment,
                    short,
                    Some(a.clone()),
                ),
                Action::Delete,
                "destroy: detach from the stack's role",
            ));
        }
        changes.push(Change::new(
            Resource::new(ResourceKind::IamRole, &r.name, Some(r.arn.clone())),
            Action::Delete,
            "destroy: role tagged with the stack",
        ));
    }
    if let Some(g) = &observed.log_group {
        changes.push(Change::new(
            Resource::new(ResourceKind::LogGroup, &g.name, Some(g.arn.clone())),
            Action::Delete,
            "destroy: log group tagged with the stack (its events are deleted)",
        ));
    }
    if let Some(w) = &observed.grafana_workspace {
        changes.push(Change::new(
            Resource::new(
                ResourceKind::GrafanaWorkspace,
                &names.grafana_workspace,
                Some(w.workspace.id.clone()),
            ),
            Action::Delete,
            "destroy: Amazon Managed Grafana workspace tagged with the stack (its dashboards and users are deleted)",
        ));
    }
    if let Some(r) = &observed.grafana_role {
        changes.push(Change::new(
            Resource::new(ResourceKind::GrafanaRole, &r.name, Some(r.arn.clone())),
            Action::Delete,
            "destroy: Grafana workspace role tagged with the stack (with its inline policy)",
        ));
    }
    for w in &observed.workspaces {
        changes.push(Change::new(
            Resource::new(
                ResourceKind::AmpWorkspace,
                &names.workspace_alias,
                Some(w.id.clone()),
            ),
            Action::Delete,
            "destroy: workspace tagged with the stack (its metrics are deleted)",
        ));
    }
    order(&mut changes);
    Plan::new(&names.stack, &observed.region, "destroy", changes)
}

/// The role itself: create it when absent, update its trust policy when it differs from
/// `trust` (shared by the EC2 role and the Grafana workspace role).
fn role_changes(
    changes: &mut Vec<Change>,
    kind: ResourceKind,
    name: &str,
    observed: Option<&crate::observe::RoleState>,
    trust: &serde_json::Value,
    missing: &str,
    differs: &str,
) {
    match observed {
        None => changes.push(Change::new(
            Resource::new(kind, name, None),
            Action::Create,
            missing,
        )),
        Some(r) => {
            if !r
                .trust_policy
                .as_ref()
                .is_some_and(|t| policy::same_policy(t, trust))
            {
                changes.push(Change::new(
                    Resource::new(kind, name, Some(r.arn.clone())),
                    Action::Update,
                    differs,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::desired::desired;
    use crate::observe::NetworkState;

    fn stack() -> monitor_stack::Stack {
        monitor_stack::from_toml_str(
            "name = \"t\"\n[[hosts]]\nname = \"web-1\"\nlabels = { env = \"p\", role = \"w\", team = \"x\" }\n",
            "stack.toml".as_ref(),
        )
        .unwrap()
    }

    fn empty() -> Observed {
        Observed {
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            workspaces: vec![],
            log_group: None,
            network: Some(NetworkState {
                vpc_id: "vpc-1".into(),
                subnet_id: None,
            }),
            security_groups: vec![],
            role: None,
            instance_profile: None,
            instances: vec![],
            amis: BTreeMap::new(),
            grafana_role: None,
            grafana_workspace: None,
        }
    }

    #[test]
    fn empty_account_creates_everything_in_dependency_order() {
        let d = desired(&stack(), "123456789012", None).unwrap();
        let p = plan(&d, &empty());
        let order: Vec<String> = p.changes.iter().map(|c| c.resource.address()).collect();
        assert_eq!(
            order,
            [
                "amp_workspace.t",
                "log_group./t/system",
                "security_group.t-hosts",
                "iam_role.t-ec2",
                "iam_role_policy.t-ec2/monitoring",
                "iam_role_policy_attachment.AmazonSSMManagedInstanceCore",
                "iam_instance_profile.t-ec2",
                "instance.web-1",
            ]
        );
        assert!(p.changes.iter().all(|c| c.action == Action::Create));
        let text = p.render_text();
        assert!(text.contains("    + amp_workspace.t\n        # no AMP workspace tagged stack=t\n"));
        assert!(text.contains("aps:RemoteWrite resource: (none) -> (known after apply)"));
        assert!(text.ends_with("Plan: 8 to add, 0 to change, 0 to replace, 0 to destroy.\n"));
        let json: serde_json::Value = serde_json::from_str(&p.render_json()).unwrap();
        assert_eq!(json["changes"][7]["resource"]["kind"], "instance");
        assert_eq!(json["changes"][7]["action"], "create");
    }

    fn grafana_stack() -> monitor_stack::Stack {
        monitor_stack::from_toml_str(
            "name = \"t\"\n[grafana]\nenabled = true\nadmin_group_ids = [\"906744f8-0011-70e6-ca9c-1a2b3c4d5e6f\"]\n[[hosts]]\nname = \"web-1\"\nlabels = { env = \"p\", role = \"w\", team = \"x\" }\n",
            "stack.toml".as_ref(),
        )
        .unwrap()
    }

    #[test]
    fn grafana_comes_after_amp_logs_and_hosts() {
        let d = desired(&grafana_stack(), "123456789012", None).unwrap();
        let p = plan(&d, &empty());
        let order: Vec<String> = p.changes.iter().map(|c| c.resource.address()).collect();
        assert_eq!(
            order,
            [
                "amp_workspace.t",
                "log_group./t/system",
                "security_group.t-hosts",
                "iam_role.t-ec2",
                "grafana_role.t-grafana",
                "iam_role_policy.t-ec2/monitoring",
                "iam_role_policy_attachment.AmazonSSMManagedInstanceCore",
                "iam_instance_profile.t-ec2",
                "grafana_role_policy.t-grafana/grafana-datasources",
                "instance.web-1",
                "grafana_workspace.t-grafana",
                "grafana_permissions.t-grafana",
                "grafana_content.t-grafana",
            ]
        );
        let text = p.render_text();
        assert!(
            text.contains("    + grafana_workspace.t-grafana\n"),
            "{text}"
        );
        assert!(
            text.contains("    ~ grafana_permissions.t-grafana\n"),
            "{text}"
        );
        assert!(text.contains("    ~ grafana_content.t-grafana\n"), "{text}");
        assert!(text.contains("aps:QueryMetrics resource: (none) -> (known after apply)"));
        // Disabled: no Grafana change at all.
        let d = desired(&stack(), "123456789012", None).unwrap();
        assert!(!plan(&d, &empty()).changes.iter().any(|c| c
            .resource
            .kind
            .as_str()
            .starts_with("grafana")));
    }

    #[test]
    fn grafana_content_is_planned_only_when_its_tag_is_missing_or_stale() {
        let d = desired(&grafana_stack(), "123456789012", Some("ws-1")).unwrap();
        let sha = d.grafana_content_sha256("10.4").unwrap();
        let observed = |tag: Option<&str>, version: &str| {
            let mut o = empty();
            let mut tags = d.names.owner_tags();
            if let Some(t) = tag {
                tags.insert(TAG_CONTENT_SHA.into(), t.into());
            }
            o.grafana_workspace = Some(crate::observe::GrafanaWorkspaceState {
                workspace: monitor_grafana::amg::Workspace {
                    id: "g-1".into(),
                    endpoint: "g-1.grafana-workspace.eu-west-1.amazonaws.com".into(),
                    grafana_version: version.into(),
                    status: "ACTIVE".into(),
                    role_arn: None,
                    tags,
                },
                permissions: Some(vec![]),
            });
            o
        };
        let content = |o: &Observed| {
            plan(&d, o)
                .changes
                .into_iter()
                .find(|c| c.resource.kind == ResourceKind::GrafanaContent)
        };
        assert!(content(&observed(Some(&sha), "10.4")).is_none());
        let c = content(&observed(None, "10.4")).unwrap();
        assert!(c.reason.starts_with("never applied"), "{}", c.reason);
        let c = content(&observed(Some("0123"), "10.4")).unwrap();
        assert!(
            c.reason
                .starts_with("dashboards or datasources changed since the last apply"),
            "{}",
            c.reason
        );
        // The workspace's own version picks the Prometheus plugin: an upgraded workspace
        // gets other content.
        let c = content(&observed(Some(&sha), "12.4")).unwrap();
        assert!(c.reason.starts_with("dashboards or datasources changed"));
        assert_eq!(c.details[0].attribute, TAG_CONTENT_SHA);
        assert_eq!(c.details[0].before.as_deref(), Some(&sha[..12]));
        // No workspace yet.
        let c = content(&empty()).unwrap();
        assert!(c.reason.starts_with("never applied"), "{}", c.reason);
    }

    #[test]
    fn destroy_deletes_the_grafana_workspace_before_its_role() {
        let mut o = empty();
        o.grafana_workspace = Some(crate::observe::GrafanaWorkspaceState {
            workspace: monitor_grafana::amg::Workspace {
                id: "g-1".into(),
                endpoint: "g-1.grafana-workspace.eu-west-1.amazonaws.com".into(),
                grafana_version: "10.4".into(),
                status: "ACTIVE".into(),
                role_arn: None,
                tags: BTreeMap::new(),
            },
            permissions: Some(vec![]),
        });
        o.grafana_role = Some(crate::observe::RoleState {
            name: "t-grafana".into(),
            arn: "arn:aws:iam::1:role/t-grafana".into(),
            trust_policy: None,
            inline_policy: None,
            inline_policy_names: vec!["grafana-datasources".into()],
            attached: vec![],
        });
        let p = plan_destroy(&Names::new("t"), &o);
        let order: Vec<String> = p.changes.iter().map(|c| c.resource.address()).collect();
        assert_eq!(
            order,
            ["grafana_workspace.t-grafana", "grafana_role.t-grafana"]
        );
    }

    #[test]
    fn destroy_plan_deletes_instances_first_and_the_role_last() {
        let mut o = empty();
        o.instances.push(crate::observe::InstanceState {
            id: "i-1".into(),
            host: "web-1".into(),
            state: "running".into(),
            instance_type: "t3.micro".into(),
            architecture: "x86_64".into(),
            image_id: "ami-1".into(),
            profile_arn: None,
            security_groups: vec![],
            subnet_id: None,
            http_tokens: Some("required".into()),
            tags: BTreeMap::new(),
            launched: 0,
        });
        o.role = Some(crate::observe::RoleState {
            name: "t-ec2".into(),
            arn: "arn:aws:iam::1:role/t-ec2".into(),
            trust_policy: None,
            inline_policy: None,
            inline_policy_names: vec!["monitoring".into()],
            attached: vec![SSM_CORE_POLICY_ARN.into()],
        });
        let p = plan_destroy(&Names::new("t"), &o);
        let order: Vec<String> = p.changes.iter().map(|c| c.resource.address()).collect();
        assert_eq!(order.first().map(String::as_str), Some("instance.web-1"));
        assert_eq!(order.last().map(String::as_str), Some("iam_role.t-ec2"));
        assert!(p.changes.iter().all(|c| c.action == Action::Delete));
        assert!(p.render_text().contains("\n    - instance.web-1 (i-1)\n"));
    }
}
