//! The plan: pure data computed from the desired and the observed state, rendered like
//! `terraform plan` (text) or as JSON. Nothing here does I/O.

use std::fmt::Write as _;

use serde::Serialize;

use crate::desired::Desired;
pub use crate::family::Op;
use crate::names::Names;
use crate::observe::Observed;

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
    /// AMP rule-groups namespace (`[alerting]`).
    RuleNamespace,
    /// AMP Alertmanager definition (`[alerting]`).
    AlertmanagerDefinition,
    /// KMS key encrypting the alert topics.
    AlertKey,
    /// SNS topic of one notified severity.
    AlertTopic,
    /// Email / HTTPS subscription of an alert topic.
    AlertSubscription,
    /// CloudWatch Logs metric filter on the stack's log group.
    LogMetricFilter,
    /// CloudWatch alarm on a log metric filter.
    LogAlarm,
    /// Customer-managed host policy for fleet members' own roles (`<stack>-host`).
    IamPolicy,
    /// A fleet's SSM Command document (the rendered bootstrap).
    SsmDocument,
    /// A fleet's State Manager association (targets its tags).
    SsmAssociation,
    /// The stack's instance profile on a fleet member that had none.
    InstanceProfileAssociation,
    /// A group's launch template (`<stack>-group-<name>`).
    LaunchTemplate,
    /// A group's Auto Scaling group (`<stack>-group-<name>`).
    AutoScalingGroup,
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
            Self::RuleNamespace => "rule_namespace",
            Self::AlertmanagerDefinition => "alertmanager_definition",
            Self::AlertKey => "kms_key",
            Self::AlertTopic => "sns_topic",
            Self::AlertSubscription => "sns_subscription",
            Self::LogMetricFilter => "log_metric_filter",
            Self::LogAlarm => "cloudwatch_alarm",
            Self::IamPolicy => "iam_policy",
            Self::SsmDocument => "ssm_document",
            Self::SsmAssociation => "ssm_association",
            Self::InstanceProfileAssociation => "iam_instance_profile_association",
            Self::LaunchTemplate => "launch_template",
            Self::AutoScalingGroup => "autoscaling_group",
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
    /// A resource of `kind` called `name`, with its physical id when it exists.
    pub fn new(kind: ResourceKind, name: impl Into<String>, id: Option<String>) -> Resource {
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
    /// `attribute: before -> after`.
    pub fn new(attribute: &str, before: Option<&str>, after: Option<&str>) -> Detail {
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
    /// Attribute-level changes (what the text shows).
    pub details: Vec<Detail>,
    /// The typed operation apply carries out, with the values it applies.
    pub op: Op,
}

impl Change {
    /// A change of `resource` carried out by `op`.
    pub fn new(
        resource: Resource,
        action: Action,
        reason: impl Into<String>,
        op: impl Into<Op>,
    ) -> Change {
        Change {
            resource,
            action,
            reason: reason.into(),
            details: Vec::new(),
            op: op.into(),
        }
    }

    /// Adds an attribute-level change.
    pub fn detail(mut self, d: Detail) -> Change {
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
    /// What the stack will cost per month once applied, and the AMP quotas it would
    /// run into (`apply` plans from [`crate::plan_apply`]; none for `destroy`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<monitor_cost::Estimate>,
    /// What the plan does not change but the operator must know (fleet members whose
    /// role the stack does not own, roles SSM cannot use).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
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
            estimate: None,
            notes: Vec::new(),
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

    /// Terraform-like text, then the estimate when there is one.
    pub fn render_text(&self) -> String {
        let mut out = self.render_changes();
        if !self.notes.is_empty() {
            out.push_str("\nNotes:\n");
            for n in &self.notes {
                let _ = writeln!(out, "  - {n}");
            }
        }
        if let Some(e) = &self.estimate {
            out.push('\n');
            out.push_str(&e.render_text());
        }
        out
    }

    fn render_changes(&self) -> String {
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

/// Diffs `desired` against `observed` into the apply plan. Pure.
pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    let mut changes = crate::family::plan_apply(desired, observed);
    order(&mut changes);
    let mut plan = Plan::new(&desired.names.stack, &desired.region, "apply", changes);
    plan.notes = crate::family::fleets::notes(desired, observed);
    plan
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
        (RuleNamespace, Create | Update | Replace) => 2,
        (AlertmanagerDefinition, Create | Update | Replace) => 3,
        (RuleNamespace | AlertmanagerDefinition, Delete) => 8,
        (AlertKey, Create | Update | Replace) => 1,
        (AlertTopic | LogMetricFilter, Create | Update | Replace) => 2,
        (AlertSubscription | LogAlarm, Create | Update | Replace) => 3,
        (AlertSubscription | LogAlarm | LogMetricFilter, Delete) => 8,
        (AlertTopic, Delete) => 9,
        (AlertKey, Delete) => 10,
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
        // Fleets: the host policy before its attachments (3); the document once the
        // workspace is known (3); profiles once the profile exists (3), the association
        // once members can reach SSM. Destroy uninstalls (association, 4) while the
        // members still hold the profile, which comes off before the profile goes (9).
        (IamPolicy, Create | Update | Replace) => 2,
        (SsmDocument, Create | Update | Replace) => 3,
        (InstanceProfileAssociation, Create | Update | Replace) => 4,
        (SsmAssociation, Create | Update | Replace) => 5,
        (SsmAssociation, Delete) => 4,
        (InstanceProfileAssociation, Delete) => 8,
        (SsmDocument, Delete) => 9,
        (IamPolicy, Delete) => 10,
        // Groups: the template once the security group, profile and workspace exist (4),
        // then the group (5). Destroy deletes the group and waits for its instances to
        // end (4) before the template (8) and the security group and profile (9).
        (LaunchTemplate, Create | Update | Replace) => 4,
        (AutoScalingGroup, Create | Update | Replace) => 5,
        (AutoScalingGroup, Delete) => 4,
        (LaunchTemplate, Delete) => 8,
    }
}

fn order(changes: &mut [Change]) {
    changes.sort_by_key(|c| (phase(c), c.resource.kind));
}

/// The destroy plan: delete everything tagged with the stack. Pure.
pub fn plan_destroy(names: &Names, observed: &Observed) -> Plan {
    let mut changes = crate::family::plan_destroy(names, observed);
    order(&mut changes);
    Plan::new(&names.stack, &observed.region, "destroy", changes)
}

#[cfg(test)]
mod tests;
