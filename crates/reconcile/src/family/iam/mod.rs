//! IAM: one [`RoleSpec`] (name, trust, inline policies, managed attachments) planned and
//! applied by the same code for the EC2 hosts' role and the Grafana workspace role, plus
//! the hosts' instance profile. The documents themselves come from [`crate::policy`].

use serde::Serialize;

mod apply;

pub(crate) use apply::apply;

use crate::error::{ReconcileError, Result};
use crate::names::Names;
use crate::observe::{Observed, ProfileState, RoleState};
use crate::plan::{Action, Change, Detail, Resource, ResourceKind, KNOWN_AFTER_APPLY};
use crate::policy::{self, PolicyDocument};

/// An inline policy whose AMP statement is scoped to the stack's AMP workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum PolicyTemplate {
    /// [`policy::host_policy`]: remote_write and log shipping.
    HostWrite {
        /// AMP workspace ARN; `None`: the workspace this apply creates.
        workspace_arn: Option<String>,
        /// Log group ARN.
        log_group_arn: String,
    },
    /// [`policy::grafana_policy`]: AMP query and Logs read.
    GrafanaRead {
        /// AMP workspace ARN; `None`: the workspace this apply creates.
        workspace_arn: Option<String>,
        /// Log group ARN.
        log_group_arn: String,
        /// `[alerting]` on: AMP's rules and Alertmanager alerts are readable too.
        alerting: bool,
    },
}

impl PolicyTemplate {
    /// The AMP action the document scopes (what the plan shows).
    pub fn amp_action(&self) -> &'static str {
        match self {
            Self::HostWrite { .. } => "aps:RemoteWrite",
            Self::GrafanaRead { .. } => "aps:QueryMetrics",
        }
    }

    /// The planned workspace ARN, if known at plan time.
    pub fn workspace_arn(&self) -> Option<&str> {
        match self {
            Self::HostWrite { workspace_arn, .. } | Self::GrafanaRead { workspace_arn, .. } => {
                workspace_arn.as_deref()
            }
        }
    }

    /// The document, scoped to the planned ARN or else to `created` (the workspace an
    /// earlier phase of this apply created).
    ///
    /// # Errors
    /// [`ReconcileError::Failed`] when neither is known.
    pub fn document(&self, created: Option<&str>) -> Result<PolicyDocument> {
        let arn = self.workspace_arn().or(created).ok_or_else(|| {
            ReconcileError::Failed("no AMP workspace to scope the policy to".into())
        })?;
        Ok(match self {
            Self::HostWrite { log_group_arn, .. } => policy::host_policy(arn, log_group_arn),
            Self::GrafanaRead {
                log_group_arn,
                alerting,
                ..
            } => policy::grafana_policy(arn, log_group_arn, *alerting),
        })
    }
}

/// The resource kinds a role's parts are shown as (`iam_role` / `grafana_role`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleKinds {
    /// The role.
    pub role: ResourceKind,
    /// Its inline policies.
    pub policy: ResourceKind,
    /// Its managed-policy attachments.
    pub attachment: ResourceKind,
}

/// One IAM role the stack owns, as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    /// Role name.
    pub name: String,
    /// What the role is, in the plan's words (`EC2 role`).
    pub label: &'static str,
    /// Role description.
    pub description: String,
    /// Trust policy.
    pub trust: PolicyDocument,
    /// Who may assume it, for the plan's reason (`only ec2.amazonaws.com …`).
    pub trust_summary: &'static str,
    /// Inline policies by name.
    pub inline: Vec<(String, PolicyTemplate)>,
    /// ARNs of the managed policies to attach.
    pub managed: Vec<String>,
    /// Plan addresses of its parts.
    pub kinds: RoleKinds,
}

/// What apply does in IAM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum IamOp {
    /// CreateRole (an existing one gets its trust policy reconciled).
    CreateRole {
        /// Role name.
        role: String,
        /// Description.
        description: String,
        /// Trust policy.
        trust: PolicyDocument,
    },
    /// UpdateAssumeRolePolicy.
    UpdateTrust {
        /// Role name.
        role: String,
        /// Trust policy.
        trust: PolicyDocument,
    },
    /// Delete the role with whatever inline and attached policies it still has.
    DeleteRole {
        /// Role name.
        role: String,
    },
    /// PutRolePolicy with exactly this document.
    PutRolePolicy {
        /// Role name.
        role: String,
        /// Policy name.
        name: String,
        /// The document (AMP ARN filled in when known after apply).
        document: PolicyTemplate,
    },
    /// DeleteRolePolicy.
    DeleteRolePolicy {
        /// Role name.
        role: String,
        /// Policy name.
        name: String,
    },
    /// AttachRolePolicy.
    AttachRolePolicy {
        /// Role name.
        role: String,
        /// Managed policy ARN.
        policy_arn: String,
    },
    /// DetachRolePolicy.
    DetachRolePolicy {
        /// Role name.
        role: String,
        /// Managed policy ARN.
        policy_arn: String,
    },
    /// Create the instance profile if missing and make `role` its only role.
    EnsureInstanceProfile {
        /// Profile name.
        name: String,
        /// Role name.
        role: String,
    },
    /// Remove the profile's roles, then delete it.
    DeleteInstanceProfile {
        /// Profile name.
        name: String,
    },
}

/// The plan of one role: the role itself, each inline policy, each attachment.
pub(crate) fn plan_role(spec: &RoleSpec, observed: Option<&RoleState>) -> Vec<Change> {
    let mut changes = Vec::new();
    match observed {
        None => changes.push(Change::new(
            Resource::new(spec.kinds.role, &spec.name, None),
            Action::Create,
            format!("{} does not exist", spec.label),
            IamOp::CreateRole {
                role: spec.name.clone(),
                description: spec.description.clone(),
                trust: spec.trust.clone(),
            },
        )),
        Some(r)
            if !r
                .trust_policy
                .as_ref()
                .is_some_and(|t| policy::same_policy(t, &spec.trust.to_value())) =>
        {
            changes.push(Change::new(
                Resource::new(spec.kinds.role, &spec.name, Some(r.arn.clone())),
                Action::Update,
                format!("trust policy differs ({})", spec.trust_summary),
                IamOp::UpdateTrust {
                    role: spec.name.clone(),
                    trust: spec.trust.clone(),
                },
            ));
        }
        Some(_) => {}
    }
    for (name, template) in &spec.inline {
        let current = observed
            .and_then(|r| r.inline_policies.get(name))
            .and_then(Option::as_ref);
        changes.extend(policy_change(spec, name, template, current));
    }
    for arn in &spec.managed {
        if !observed.is_some_and(|r| r.attached.contains(arn)) {
            changes.push(Change::new(
                Resource::new(spec.kinds.attachment, short_name(arn), None),
                Action::Create,
                format!("{} not attached to the role", short_name(arn)),
                IamOp::AttachRolePolicy {
                    role: spec.name.clone(),
                    policy_arn: arn.clone(),
                },
            ));
        }
    }
    changes
}

/// `AmazonSSMManagedInstanceCore` of `arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore`.
fn short_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn policy_change(
    spec: &RoleSpec,
    name: &str,
    template: &PolicyTemplate,
    current: Option<&serde_json::Value>,
) -> Option<Change> {
    let res = Resource::new(spec.kinds.policy, format!("{}/{name}", spec.name), None);
    let op = IamOp::PutRolePolicy {
        role: spec.name.clone(),
        name: name.to_string(),
        document: template.clone(),
    };
    let action = template.amp_action();
    let attribute = format!("{action} resource");
    let before = current.and_then(|c| amp_resource(c, action));
    let (verb, reason, after) = match (template.workspace_arn(), current) {
        (None, None) => (
            Action::Create,
            "inline policy does not exist".to_string(),
            KNOWN_AFTER_APPLY,
        ),
        (None, Some(_)) => (
            Action::Update,
            format!("the AMP workspace is (re)created: {action} is re-scoped to its ARN"),
            KNOWN_AFTER_APPLY,
        ),
        (Some(arn), None) => (
            Action::Create,
            "inline policy does not exist".to_string(),
            arn,
        ),
        (Some(arn), Some(cur)) => {
            let want = template.document(None).ok()?.to_value();
            if policy::same_policy(cur, &want) {
                return None;
            }
            if before.as_deref() == Some(arn) {
                return Some(Change::new(
                    res,
                    Action::Update,
                    "policy document differs",
                    op,
                ));
            }
            (
                Action::Update,
                "policy is scoped to another AMP workspace ARN".to_string(),
                arn,
            )
        }
    };
    Some(Change::new(res, verb, reason, op).detail(Detail::new(
        &attribute,
        before.as_deref(),
        Some(after),
    )))
}

/// The resources of the statement allowing `action` in `doc`, comma-joined.
fn amp_resource(doc: &serde_json::Value, action: &str) -> Option<String> {
    use serde_json::Value;
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let s = statements.into_iter().find(|s| match &s["Action"] {
        Value::String(a) => a == action,
        Value::Array(a) => a.iter().any(|x| x == action),
        _ => false,
    })?;
    match &s["Resource"] {
        Value::String(r) => Some(r.clone()),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    }
}

/// The instance profile holding exactly the EC2 role.
pub(crate) fn plan_profile(names: &Names, observed: Option<&ProfileState>) -> Option<Change> {
    let op = IamOp::EnsureInstanceProfile {
        name: names.instance_profile.clone(),
        role: names.role.clone(),
    };
    match observed {
        None => Some(Change::new(
            Resource::new(
                ResourceKind::IamInstanceProfile,
                &names.instance_profile,
                None,
            ),
            Action::Create,
            "instance profile does not exist",
            op,
        )),
        Some(p) if p.roles != [names.role.clone()] => Some(
            Change::new(
                Resource::new(
                    ResourceKind::IamInstanceProfile,
                    &names.instance_profile,
                    Some(p.arn.clone()),
                ),
                Action::Update,
                "instance profile does not hold exactly the stack's role",
                op,
            )
            .detail(Detail::new(
                "roles",
                Some(&p.roles.join(",")),
                Some(&names.role),
            )),
        ),
        Some(_) => None,
    }
}

/// Destroy: the EC2 role's policies and attachments one by one (so the plan lists
/// them), then the role; the instance profile.
pub(crate) fn plan_destroy(observed: &Observed) -> Vec<Change> {
    let mut changes = Vec::new();
    if let Some(p) = &observed.instance_profile {
        changes.push(Change::new(
            Resource::new(
                ResourceKind::IamInstanceProfile,
                &p.name,
                Some(p.arn.clone()),
            ),
            Action::Delete,
            "destroy: instance profile tagged with the stack",
            IamOp::DeleteInstanceProfile {
                name: p.name.clone(),
            },
        ));
    }
    if let Some(r) = &observed.role {
        for p in r.inline_policies.keys() {
            changes.push(Change::new(
                Resource::new(ResourceKind::IamRolePolicy, format!("{}/{p}", r.name), None),
                Action::Delete,
                "destroy: inline policy of the stack's role",
                IamOp::DeleteRolePolicy {
                    role: r.name.clone(),
                    name: p.clone(),
                },
            ));
        }
        for a in &r.attached {
            changes.push(Change::new(
                Resource::new(
                    ResourceKind::IamRolePolicyAttachment,
                    short_name(a),
                    Some(a.clone()),
                ),
                Action::Delete,
                "destroy: detach from the stack's role",
                IamOp::DetachRolePolicy {
                    role: r.name.clone(),
                    policy_arn: a.clone(),
                },
            ));
        }
        changes.push(delete_role(
            r,
            ResourceKind::IamRole,
            "destroy: role tagged with the stack",
        ));
    }
    if let Some(r) = &observed.grafana_role {
        changes.push(delete_role(
            r,
            ResourceKind::GrafanaRole,
            "destroy: Grafana workspace role tagged with the stack (with its inline policy)",
        ));
    }
    changes
}

fn delete_role(r: &RoleState, kind: ResourceKind, reason: &str) -> Change {
    Change::new(
        Resource::new(kind, &r.name, Some(r.arn.clone())),
        Action::Delete,
        reason,
        IamOp::DeleteRole {
            role: r.name.clone(),
        },
    )
}
