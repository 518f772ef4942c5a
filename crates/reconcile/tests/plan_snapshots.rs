//! The rendered plan is the contract of `monitor-provision plan`: golden files (insta)
//! for each situation an operator meets, computed from typed observed states (no AWS).
//! A change to what the plan says shows up here as a snapshot diff to review.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use aws_sdk_amp::types::WorkspaceStatusCode;
use aws_sdk_ec2::types::InstanceStateName;
use monitor_logs::admin::LogGroupInfo;
use monitor_reconcile::desired::{desired, Desired};
use monitor_reconcile::names::{Names, SSM_CORE_POLICY_ARN};
use monitor_reconcile::observe::{
    AssociationState, AutoScalingGroupState, DocumentState, FleetState, FleetsState, GroupInstance,
    GroupsState, InstanceState, LaunchTemplateState, MemberRole, MemberState, NetworkState,
    Observed, ProfileState, RefreshState, RoleState, SecurityGroupState, TemplateData,
    WorkspaceState,
};
use monitor_reconcile::plan::plan;
use monitor_reconcile::policy;
use monitor_reconcile::Action;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const WS_ARN: &str = "arn:aws:aps:eu-west-1:123456789012:workspace/ws-1";

fn stack(labels: &str) -> monitor_stack::Stack {
    monitor_stack::from_toml_str(
        &format!("name = \"snap\"\n[[hosts]]\nname = \"web-1\"\nlabels = {{ {labels} }}\n"),
        "stack.toml".as_ref(),
    )
    .unwrap()
}

fn base_labels() -> &'static str {
    r#"env = "prod", role = "web", team = "core""#
}

fn empty() -> Observed {
    Observed {
        network: Some(NetworkState {
            vpc_id: "vpc-1".into(),
            subnet_id: None,
        }),
        amis: BTreeMap::from([(monitor_stack::Architecture::X86_64, "ami-1".to_string())]),
        ..Observed::empty(ACCOUNT, REGION)
    }
}

fn workspace(id: &str, status: WorkspaceStatusCode, created: i64) -> WorkspaceState {
    WorkspaceState {
        id: id.into(),
        arn: format!("arn:aws:aps:eu-west-1:123456789012:workspace/{id}"),
        status,
        created,
    }
}

/// The state a finished apply of `d` leaves behind.
fn converged(d: &Desired) -> Observed {
    let names = Names::new("snap");
    let mut o = empty();
    o.workspaces = vec![workspace("ws-1", WorkspaceStatusCode::Active, 1)];
    o.log_group = Some(LogGroupInfo {
        name: d.log_group.clone(),
        arn: d.log_group_arn(),
        retention_days: Some(d.retention_days as i32),
        tags: names.owner_tags(),
    });
    o.security_groups = vec![SecurityGroupState {
        id: "sg-1".into(),
        name: "snap-hosts".into(),
        vpc_id: "vpc-1".into(),
        ingress: vec![],
        egress: vec!["tcp 443 0.0.0.0/0".into()],
    }];
    o.role = Some(RoleState {
        name: "snap-ec2".into(),
        arn: "arn:aws:iam::123456789012:role/snap-ec2".into(),
        trust_policy: Some(policy::trust_policy().to_value()),
        inline_policies: BTreeMap::from([(
            "monitoring".to_string(),
            Some(policy::host_policy(WS_ARN, &d.log_group_arn()).to_value()),
        )]),
        attached: vec![SSM_CORE_POLICY_ARN.into()],
    });
    o.instance_profile = Some(ProfileState {
        name: "snap-ec2".into(),
        arn: "arn:aws:iam::123456789012:instance-profile/snap-ec2".into(),
        roles: vec!["snap-ec2".into()],
    });
    let h = &d.hosts[0];
    o.instances = vec![InstanceState {
        id: "i-1".into(),
        host: "web-1".into(),
        state: InstanceStateName::Running,
        instance_type: h.host.instance_type.clone(),
        architecture: "x86_64".into(),
        image_id: "ami-1".into(),
        profile_arn: Some("arn:aws:iam::123456789012:instance-profile/snap-ec2".into()),
        security_groups: vec!["sg-1".into()],
        subnet_id: Some("subnet-1".into()),
        http_tokens: Some("required".into()),
        tags: h.tags(&names),
        launched: 1,
    }];
    o
}

fn wanted(labels: &str) -> Desired {
    desired(&stack(labels), ACCOUNT, Some("ws-1")).unwrap()
}

#[test]
fn empty_account() {
    let d = desired(&stack(base_labels()), ACCOUNT, None).unwrap();
    insta::assert_snapshot!(plan(&d, &empty()).render_text());
}

#[test]
fn converged_stack_has_no_changes() {
    let d = wanted(base_labels());
    let p = plan(&d, &converged(&d));
    assert!(!p.has_changes(), "{}", p.render_text());
    insta::assert_snapshot!(p.render_text());
}

#[test]
fn drift_of_every_kind() {
    let d = wanted(base_labels());
    let mut o = converged(&d);
    o.log_group.as_mut().unwrap().retention_days = Some(7);
    o.security_groups[0].ingress = vec!["tcp 22 0.0.0.0/0".into()];
    o.security_groups[0].egress = vec!["all -1 0.0.0.0/0".into()];
    let role = o.role.as_mut().unwrap();
    role.trust_policy = Some(serde_json::json!({"Version": "2012-10-17", "Statement": []}));
    role.inline_policies.insert(
        "monitoring".into(),
        Some(
            policy::host_policy(
                "arn:aws:aps:eu-west-1:123456789012:workspace/ws-other",
                &d.log_group_arn(),
            )
            .to_value(),
        ),
    );
    role.attached.clear();
    o.instance_profile.as_mut().unwrap().roles = vec!["someone-else".into()];
    o.instances[0].http_tokens = Some("optional".into());
    insta::assert_snapshot!(plan(&d, &o).render_text());
}

#[test]
fn label_only_change_is_an_in_place_update() {
    let before = wanted(base_labels());
    let o = converged(&before);
    let after = wanted(r#"env = "prod", role = "api", team = "core""#);
    let p = plan(&after, &o);
    assert_eq!(p.changes.len(), 1);
    insta::assert_snapshot!(p.render_text());
    // The JSON carries the typed operation apply performs.
    insta::assert_snapshot!(p.render_json());
}

#[test]
fn user_data_change_replaces_the_instance() {
    let d = wanted(base_labels());
    let mut o = converged(&d);
    o.instances[0]
        .tags
        .insert("monitor:base-sha256".into(), "0".repeat(64));
    insta::assert_snapshot!(plan(&d, &o).render_text());
}

#[test]
fn new_workspace_arn_after_a_failed_creation() {
    let d = desired(&stack(base_labels()), ACCOUNT, None).unwrap();
    let mut o = converged(&wanted(base_labels()));
    o.workspaces = vec![workspace("ws-1", WorkspaceStatusCode::CreationFailed, 1)];
    insta::assert_snapshot!(plan(&d, &o).render_text());
}

#[test]
fn interrupted_apply_plans_only_what_is_left() {
    let d = wanted(base_labels());
    let mut o = converged(&d);
    o.role.as_mut().unwrap().inline_policies.clear();
    o.instance_profile = None;
    o.instances.clear();
    insta::assert_snapshot!(plan(&d, &o).render_text());
}

#[test]
fn look_alike_resources() {
    // A security group tagged with the stack in another VPC is deleted, not used; the
    // duplicate workspace (a second healthy one) too. Same-named resources without the
    // stack's tags never reach the plan: observe refuses them
    // (`ReconcileError::NotOurs`, tests/moto.rs).
    let d = wanted(base_labels());
    let mut o = converged(&d);
    o.security_groups.insert(
        0,
        SecurityGroupState {
            id: "sg-0".into(),
            name: "snap-hosts".into(),
            vpc_id: "vpc-elsewhere".into(),
            ingress: vec![],
            egress: vec!["tcp 443 0.0.0.0/0".into()],
        },
    );
    o.workspaces
        .push(workspace("ws-2", WorkspaceStatusCode::Active, 2));
    insta::assert_snapshot!(plan(&d, &o).render_text());
    let e = monitor_reconcile::ReconcileError::NotOurs {
        kind: "IAM role",
        name: "snap-ec2".into(),
        stack: "snap".into(),
    };
    insta::assert_snapshot!(e.to_string());
}

#[test]
fn alerting_added_to_a_converged_stack() {
    let o = converged(&wanted(base_labels()));
    let s = monitor_stack::from_toml_str(
        &format!(
            "name = \"snap\"\n[[hosts]]\nname = \"web-1\"\nlabels = {{ {} }}\n[alerting]\nemail = [\"oncall@example.com\"]\nhttps = [\"https://events.pagerduty.com/integration/SECRETKEY/enqueue\"]\n[alerting.routes]\n\"oncall@example.com\" = [\"critical\"]\n",
            base_labels()
        ),
        "stack.toml".as_ref(),
    )
    .unwrap();
    let d = desired(&s, ACCOUNT, Some("ws-1")).unwrap();
    let text = plan(&d, &o).render_text();
    assert!(!text.contains("SECRETKEY"), "{text}");
    insta::assert_snapshot!(text);
}

/// What `plan` ends with: the monthly estimate of a stack using every billed part —
/// three hosts (x86_64, arm64 whose eu-west-1 price is not in the table, a type set by
/// `[estimate.prices]`), Grafana, alerting with an email and an HTTPS subscriber.
#[test]
fn the_estimate_of_a_full_stack() {
    let s = monitor_stack::from_toml_str(
        r#"name = "snap"
region = "eu-west-1"
[[hosts]]
name = "web-1"
labels = { env = "prod", role = "web", team = "core" }
[[hosts]]
name = "web-2"
architecture = "arm64"
labels = { env = "prod", role = "web", team = "core" }
[[hosts]]
name = "db-1"
instance_type = "m7i.large"
labels = { env = "prod", role = "db", team = "core" }
[grafana]
enabled = true
[alerting]
email = ["oncall@example.com"]
https = ["https://events.pagerduty.com/integration/KEY/enqueue"]
[estimate]
grafana_viewers = 10
[estimate.prices]
"ec2.m7i.large" = 0.1008
"#,
        "stack.toml".as_ref(),
    )
    .unwrap();
    let d = desired(&s, ACCOUNT, None).unwrap();
    let u = monitor_reconcile::estimate::usage(&s, &d);
    assert_eq!(u.hosts, 3);
    assert_eq!(
        u.instances,
        BTreeMap::from([
            ("m7i.large".to_string(), 1),
            ("t3.micro".to_string(), 1),
            ("t4g.micro".to_string(), 1)
        ])
    );
    // Each subscriber is on both notified severities' topics (critical, warning).
    assert_eq!((u.email_subscriptions, u.https_subscriptions), (2, 2));
    assert_eq!(u.kms_keys, 1);
    assert_eq!(u.alarms, u.metric_filters);
    assert!(u.alarms > 0);
    assert_eq!(u.grafana_users, Some((1, 10)));
    let e = monitor_reconcile::estimate::estimate(&s, &d);
    insta::assert_snapshot!(e.render_text());
}

fn fleet_stack(extra: &str) -> monitor_stack::Stack {
    monitor_stack::from_toml_str(
        &format!(
            "name = \"snap\"\n[[hosts]]\nname = \"web-1\"\nlabels = {{ {} }}\n[[fleets]]\nname = \"platform\"\nselect = {{ Team = \"platform\", Environment = \"prod\" }}\nlabels_from_tags = {{ env = \"Environment\", role = \"Role\" }}\nlabels = {{ team = \"platform\" }}\n{extra}",
            base_labels()
        ),
        "stack.toml".as_ref(),
    )
    .unwrap()
}

fn member(id: &str, profile: Option<&str>, roles: &[(&str, bool, bool)]) -> MemberState {
    MemberState {
        id: id.into(),
        profile_arn: profile.map(|p| format!("arn:aws:iam::123456789012:instance-profile/{p}")),
        roles: roles
            .iter()
            .map(
                |(name, host_policy_attached, ssm_core_attached)| MemberRole {
                    name: (*name).into(),
                    host_policy_attached: *host_policy_attached,
                    ssm_core_attached: *ssm_core_attached,
                },
            )
            .collect(),
        metadata_tags: id != "i-0b",
    }
}

/// A converged host stack and three running members of a new fleet: one without a
/// profile, one already on the stack's, one on a team's own role (no SSM policy).
fn fleet_observed(d: &Desired) -> Observed {
    let mut o = converged(d);
    o.fleets = FleetsState {
        fleets: vec![FleetState {
            name: "platform".into(),
            in_stack: true,
            document: None,
            association: None,
            members: vec![
                member("i-0a", None, &[]),
                member("i-0b", Some("snap-ec2"), &[("snap-ec2", false, true)]),
                member("i-0c", Some("team-app"), &[("team-app", false, false)]),
            ],
        }],
        host_policy: None,
        profiled: vec![],
    };
    o
}

#[test]
fn a_fleet_added_to_a_converged_stack() {
    let d = desired(&fleet_stack(""), ACCOUNT, Some("ws-1")).unwrap();
    let text = plan(&d, &fleet_observed(&d)).render_text();
    insta::assert_snapshot!(text);
}

#[test]
fn a_fleet_that_attaches_to_existing_roles() {
    let d = desired(
        &fleet_stack("attach_to_existing_roles = true\n"),
        ACCOUNT,
        Some("ws-1"),
    )
    .unwrap();
    insta::assert_snapshot!(plan(&d, &fleet_observed(&d)).render_text());
}

#[test]
fn a_fleet_bootstrap_change_and_a_fleet_removed() {
    let d = desired(&fleet_stack(""), ACCOUNT, Some("ws-1")).unwrap();
    let mut o = fleet_observed(&d);
    let f = &mut o.fleets.fleets[0];
    f.members.truncate(2);
    f.members[0].profile_arn = Some("arn:aws:iam::123456789012:instance-profile/snap-ec2".into());
    f.document = Some(DocumentState {
        name: "snap-fleet-platform".into(),
        content: "{\"schemaVersion\":\"2.2\"}".into(),
        default_version: "3".into(),
    });
    f.association = Some(AssociationState {
        id: "assoc-1".into(),
        targets: BTreeMap::from([
            ("Environment".to_string(), vec!["prod".to_string()]),
            ("Team".to_string(), vec!["platform".to_string()]),
        ]),
        status: Some("Success".into()),
        version: Some("1".into()),
    });
    let mut gone = o.fleets.fleets[0].clone();
    // i-0a is in both fleets (keeps the stack's profile); i-0d only in the old one.
    gone.members = vec![
        member("i-0a", Some("snap-ec2"), &[("snap-ec2", false, true)]),
        member("i-0d", Some("snap-ec2"), &[("snap-ec2", false, true)]),
    ];
    gone.name = "legacy".into();
    gone.in_stack = false;
    gone.document.as_mut().unwrap().name = "snap-fleet-legacy".into();
    gone.association.as_mut().unwrap().id = "assoc-2".into();
    o.fleets.fleets.push(gone);
    let p = plan(&d, &o);
    insta::assert_snapshot!(p.render_text());
    // Destroy: uninstall (association), document, the stack's profile off its members.
    let destroy = monitor_reconcile::plan::plan_destroy(&Names::new("snap"), &o);
    insta::assert_snapshot!(destroy.render_text());
}

fn group_stack(size: &str) -> monitor_stack::Stack {
    monitor_stack::from_toml_str(
        &format!(
            "name = \"snap\"\n[[hosts]]\nname = \"web-1\"\nlabels = {{ {} }}\n[[groups]]\nname = \"api\"\n{size}\nlabels = {{ env = \"prod\", role = \"api\", team = \"core\" }}\n",
            base_labels()
        ),
        "stack.toml".as_ref(),
    )
    .unwrap()
}

/// A converged host stack whose group `api` converged too: its template at `version`
/// (the default, launching what `d` renders) and a group of two.
fn group_observed(d: &Desired, version: i64) -> Observed {
    let mut o = converged(d);
    o.groups = GroupsState {
        groups: vec![AutoScalingGroupState {
            name: "snap-group-api".into(),
            group: "api".into(),
            min: 1,
            max: 3,
            desired: 2,
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            template: Some(("snap-group-api".into(), "$Default".into())),
            instances: ["i-0g1", "i-0g2"]
                .iter()
                .map(|id| GroupInstance {
                    id: (*id).into(),
                    lifecycle: "InService".into(),
                    health: "Healthy".into(),
                    zone: "eu-west-1a".into(),
                    template_version: Some(version.to_string()),
                })
                .collect(),
            refresh: None,
            deleting: false,
        }],
        templates: vec![LaunchTemplateState {
            id: "lt-1".into(),
            name: "snap-group-api".into(),
            group: "api".into(),
            default_version: version,
            latest_version: version,
            data: Some(TemplateData {
                image_id: "ami-1".into(),
                instance_type: "t3.micro".into(),
                user_data_sha: d.groups[0].rendered.as_ref().map(|r| r.sha.clone()),
                security_groups: vec!["sg-1".into()],
                profile: Some("snap-ec2".into()),
                http_tokens: Some("required".into()),
                encrypted_gp3: true,
            }),
        }],
        default_subnets: vec!["subnet-a".into(), "subnet-b".into()],
    };
    o
}

#[test]
fn a_group_added_to_a_converged_stack() {
    let d = desired(
        &group_stack("min = 1\nmax = 3\ndesired = 2"),
        ACCOUNT,
        Some("ws-1"),
    )
    .unwrap();
    let mut o = group_observed(&d, 1);
    o.groups.groups.clear();
    o.groups.templates.clear();
    insta::assert_snapshot!(plan(&d, &o).render_text());
    // Converged: nothing to do.
    let p = plan(&d, &group_observed(&d, 1));
    assert!(!p.has_changes(), "{}", p.render_text());
    // The estimate prices the group at its desired capacity, beside the host.
    let s = group_stack("min = 1\nmax = 3\ndesired = 2");
    let u = monitor_reconcile::estimate::usage(&s, &d);
    assert_eq!(u.hosts, 3);
    assert_eq!(u.instances.get("t3.micro"), Some(&3));
}

#[test]
fn a_group_resized_and_its_bootstrap_changed() {
    let before = desired(
        &group_stack("min = 1\nmax = 3\ndesired = 2"),
        ACCOUNT,
        Some("ws-1"),
    )
    .unwrap();
    let o = group_observed(&before, 1);
    // Resize only: the group in place, no refresh.
    let resized = desired(
        &group_stack("min = 2\nmax = 5\ndesired = 3"),
        ACCOUNT,
        Some("ws-1"),
    )
    .unwrap();
    insta::assert_snapshot!("a_group_resized", plan(&resized, &o).render_text());
    // A new label: a new template version and a refresh.
    let mut s = group_stack("min = 1\nmax = 3\ndesired = 2");
    s.groups[0].labels.insert("tier".into(), "backend".into());
    let changed = desired(&s, ACCOUNT, Some("ws-1")).unwrap();
    insta::assert_snapshot!("a_group_bootstrap_change", plan(&changed, &o).render_text());
}

#[test]
fn an_apply_interrupted_before_the_refresh_starts_it_next_time() {
    // The template's version 2 is the default, but both instances run version 1 and no
    // refresh runs: the next plan starts one. With one under way, it waits for it.
    let d = desired(
        &group_stack("min = 1\nmax = 3\ndesired = 2"),
        ACCOUNT,
        Some("ws-1"),
    )
    .unwrap();
    let mut o = group_observed(&d, 2);
    for i in &mut o.groups.groups[0].instances {
        i.template_version = Some("1".into());
    }
    let p = plan(&d, &o);
    insta::assert_snapshot!(p.render_text());
    o.groups.groups[0].refresh = Some(RefreshState {
        id: "refresh-1".into(),
        status: "InProgress".into(),
        percentage: Some(50),
    });
    let p = plan(&d, &o);
    assert!(!p.has_changes(), "{}", p.render_text());
}

#[test]
fn a_group_removed_and_destroyed() {
    let d = desired(
        &group_stack("min = 1\nmax = 3\ndesired = 2"),
        ACCOUNT,
        Some("ws-1"),
    )
    .unwrap();
    let o = group_observed(&d, 1);
    let hosts_only = wanted(base_labels());
    insta::assert_snapshot!("a_group_removed", plan(&hosts_only, &o).render_text());
    // A group still being deleted (an earlier delete timed out) is waited for, then
    // created again.
    let mut deleting = o.clone();
    deleting.groups.groups[0].deleting = true;
    let p = plan(&d, &deleting);
    let kinds: Vec<(String, Action)> = p
        .changes
        .iter()
        .map(|c| (c.resource.address(), c.action))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                "autoscaling_group.snap-group-api".to_string(),
                Action::Delete
            ),
            (
                "autoscaling_group.snap-group-api".to_string(),
                Action::Create
            ),
        ],
        "{}",
        p.render_text()
    );
    let destroy = monitor_reconcile::plan::plan_destroy(&Names::new("snap"), &o);
    insta::assert_snapshot!("a_group_destroyed", destroy.render_text());
}
