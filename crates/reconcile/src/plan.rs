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

/// Diffs `desired` against `observed` into the apply plan. Pure.
pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    let mut changes = crate::family::plan_apply(desired, observed);
    order(&mut changes);
    Plan::new(&desired.names.stack, &desired.region, "apply", changes)
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
    let mut changes = crate::family::plan_destroy(names, observed);
    order(&mut changes);
    Plan::new(&names.stack, &observed.region, "destroy", changes)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::desired::desired;
    use crate::names::{SSM_CORE_POLICY_ARN, TAG_CONTENT_SHA};
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
                    status: aws_sdk_grafana::types::WorkspaceStatus::Active,
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
                status: aws_sdk_grafana::types::WorkspaceStatus::Active,
                role_arn: None,
                tags: BTreeMap::new(),
            },
            permissions: Some(vec![]),
        });
        o.grafana_role = Some(crate::observe::RoleState {
            name: "t-grafana".into(),
            arn: "arn:aws:iam::1:role/t-grafana".into(),
            trust_policy: None,
            inline_policies: BTreeMap::from([("grafana-datasources".into(), None)]),
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
            state: aws_sdk_ec2::types::InstanceStateName::Running,
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
            inline_policies: BTreeMap::from([("monitoring".into(), None)]),
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
