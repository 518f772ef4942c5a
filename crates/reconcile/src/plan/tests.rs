//! Unit tests of the plan: order, Grafana content hashing, destroy order.
use std::collections::BTreeMap;

use super::*;
use crate::desired::desired;
use crate::names::{SSM_CORE_POLICY_ARN, TAG_CONTENT_SHA};

fn stack() -> monitor_stack::Stack {
    monitor_stack::from_toml_str(
        "name = \"t\"\n[[hosts]]\nname = \"web-1\"\nlabels = { env = \"p\", role = \"w\", team = \"x\" }\n",
        "stack.toml".as_ref(),
    )
    .unwrap()
}

fn empty() -> Observed {
    Observed {
        network: Some(crate::observe::NetworkState {
            vpc_id: "vpc-1".into(),
            subnet_id: None,
        }),
        ..Observed::empty("123456789012", "eu-west-1")
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

fn alerting_stack(extra: &str) -> monitor_stack::Stack {
    monitor_stack::from_toml_str(
        &format!(
            "name = \"t\"\n[[hosts]]\nname = \"web-1\"\nlabels = {{ env = \"p\", role = \"w\", team = \"x\" }}\n[alerting]\nemail = [\"oncall@example.com\"]\nhttps = [\"https://events.pagerduty.com/integration/SECRETKEY/enqueue\"]\n{extra}"
        ),
        "stack.toml".as_ref(),
    )
    .unwrap()
}

#[test]
fn alerting_creates_key_before_topics_before_subscriptions_and_alarms() {
    let d = desired(&alerting_stack(""), "123456789012", None).unwrap();
    let p = plan(&d, &empty());
    let order: Vec<(ResourceKind, String)> = p
        .changes
        .iter()
        .map(|c| (c.resource.kind, c.resource.address()))
        .collect();
    let first = |k: ResourceKind| order.iter().position(|(kind, _)| *kind == k).unwrap();
    let last = |k: ResourceKind| order.iter().rposition(|(kind, _)| *kind == k).unwrap();
    assert!(last(ResourceKind::AlertKey) < first(ResourceKind::AlertTopic));
    assert!(last(ResourceKind::AmpWorkspace) < first(ResourceKind::AlertTopic));
    assert!(last(ResourceKind::AlertTopic) < first(ResourceKind::AlertSubscription));
    assert!(last(ResourceKind::AlertTopic) < first(ResourceKind::AlertmanagerDefinition));
    assert!(last(ResourceKind::LogMetricFilter) < first(ResourceKind::LogAlarm));
    assert!(last(ResourceKind::LogGroup) < first(ResourceKind::LogMetricFilter));
    let addr: Vec<&str> = order.iter().map(|(_, a)| a.as_str()).collect();
    assert!(addr.contains(&"kms_key.alias/t-alerts"), "{addr:?}");
    assert!(addr.contains(&"sns_topic.t-alerts-critical"), "{addr:?}");
    assert!(addr.contains(&"sns_topic.t-alerts-warning"), "{addr:?}");
    // Two subscribers × two notified severities.
    let subs = order
        .iter()
        .filter(|(k, _)| *k == ResourceKind::AlertSubscription)
        .count();
    assert_eq!(subs, 4, "{addr:?}");
    // The HTTPS key never reaches the plan, in text or JSON.
    let text = p.render_text();
    assert!(!text.contains("SECRETKEY"), "{text}");
    assert!(!p.render_json().contains("SECRETKEY"));
    assert!(
        text.contains("sns_subscription.critical/email:oncall@example.com"),
        "{text}"
    );

    // log_alarms = false: no filter, no alarm, and CloudWatch is not in the policy.
    let d = desired(
        &alerting_stack("log_alarms = false\n"),
        "123456789012",
        None,
    )
    .unwrap();
    let p = plan(&d, &empty());
    assert!(!p.changes.iter().any(|c| matches!(
        c.resource.kind,
        ResourceKind::LogMetricFilter | ResourceKind::LogAlarm
    )));
}

#[test]
fn pending_subscriptions_are_kept_and_confirmed_strays_unsubscribed() {
    use crate::observe::{subscription_state, TopicState};
    let d = desired(&alerting_stack(""), "123456789012", None).unwrap();
    let mut o = empty();
    for t in &d.alerting.as_ref().unwrap().topics {
        o.notify.topics.push(TopicState {
            severity: t.severity,
            name: t.name.clone(),
            arn: t.arn.clone(),
            policy: None,
            kms_key: Some(d.names.alert_key_alias.clone()),
            subscriptions: t
                .subscriptions
                .iter()
                .map(|s| subscription_state(s.protocol, &s.endpoint, "PendingConfirmation"))
                .chain([
                    subscription_state("email", "gone@example.com", "PendingConfirmation"),
                    subscription_state("email", "left@example.com", &format!("{}:abc", t.arn)),
                ])
                .collect(),
        });
    }
    let p = plan(&d, &o);
    let subs: Vec<(Action, String)> = p
        .changes
        .iter()
        .filter(|c| c.resource.kind == ResourceKind::AlertSubscription)
        .map(|c| (c.action, c.resource.address()))
        .collect();
    assert_eq!(
        subs,
        [
            (
                Action::Delete,
                "sns_subscription.critical/email:left@example.com".to_string()
            ),
            (
                Action::Delete,
                "sns_subscription.warning/email:left@example.com".to_string()
            ),
        ]
    );
}

#[test]
fn destroy_deletes_topics_after_the_alarms_and_the_key_last() {
    use crate::observe::{AlertKeyState, LogAlarmState, TopicState};
    let mut o = empty();
    o.log_group = Some(monitor_logs::admin::LogGroupInfo {
        name: "/t/system".into(),
        arn: "arn:aws:logs:eu-west-1:123456789012:log-group:/t/system".into(),
        retention_days: Some(30),
        tags: BTreeMap::new(),
    });
    o.notify.key = Some(AlertKeyState {
        key_id: "k-1".into(),
        arn: "arn:aws:kms:eu-west-1:123456789012:key/k-1".into(),
        state: aws_sdk_kms::types::KeyState::Enabled,
        policy: None,
        rotation: true,
    });
    o.notify.topics.push(TopicState {
        severity: monitor_stack::Severity::Critical,
        name: "t-alerts-critical".into(),
        arn: "arn:aws:sns:eu-west-1:123456789012:t-alerts-critical".into(),
        policy: None,
        kms_key: None,
        subscriptions: vec![],
    });
    o.notify.log_alarms.push(LogAlarmState {
        name: "t-log-panic".into(),
        arn: "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:t-log-panic".into(),
        metric: ("t/logs".into(), "panic".into()),
        threshold: 1.0,
        period_secs: 300,
        actions: vec![],
        description: String::new(),
    });
    let p = plan_destroy(&Names::new("t"), &o);
    let order: Vec<String> = p.changes.iter().map(|c| c.resource.address()).collect();
    let at = |a: &str| order.iter().position(|o| o == a).unwrap();
    assert!(at("cloudwatch_alarm.t-log-panic") < at("sns_topic.t-alerts-critical"));
    assert!(at("sns_topic.t-alerts-critical") < at("kms_key.alias/t-alerts"));
    assert!(p
        .render_text()
        .contains("KMS deletes it 7 days after scheduling"));
}

/// A key whose rotation is off (e.g. EnableKeyRotation failed after CreateKey and its
/// alias) is found by its alias and gets rotation turned on, nothing else.
#[test]
fn a_key_with_rotation_off_is_updated_in_place() {
    use crate::family::notify::NotifyOp;
    use crate::observe::AlertKeyState;
    let d = desired(&alerting_stack(""), "123456789012", None).unwrap();
    let mut o = empty();
    let key = |rotation| AlertKeyState {
        key_id: "k-1".into(),
        arn: "arn:aws:kms:eu-west-1:123456789012:key/k-1".into(),
        state: aws_sdk_kms::types::KeyState::Enabled,
        policy: Some(crate::policy::alert_key_policy("123456789012", "eu-west-1", "t").to_value()),
        rotation,
    };
    o.notify.key = Some(key(false));
    let p = plan(&d, &o);
    let c = p.change("kms_key.alias/t-alerts").expect("a key change");
    assert_eq!(c.action, Action::Update);
    assert_eq!(
        c.op,
        Op::from(NotifyOp::EnableKeyRotation {
            key_id: "k-1".into()
        })
    );
    o.notify.key = Some(key(true));
    assert!(plan(&d, &o).change("kms_key.alias/t-alerts").is_none());
}
