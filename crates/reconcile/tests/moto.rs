//! `plan` / `apply` / `destroy` against moto in server mode: real HTTP, the real SDK, the
//! production code paths, one moto per test on a free loopback port. moto accepts
//! everything we send (it checks no IAM permission, runs no user_data, and instances are
//! `running` at once); what it cannot do — throttling, 5xx, IAM propagation delays,
//! AccessDenied — is in `faults.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types::Filter;
use base64::Engine as _;
use monitor_reconcile::apply::{apply, ApplyOptions, NoReporter};
use monitor_reconcile::names::{Names, SSM_CORE_POLICY_ARN, TAG_USER_DATA_SHA};
use monitor_reconcile::plan::ResourceKind;
use monitor_reconcile::{plan_apply, plan_destroy, Action, Clients, Outputs, Plan};
use monitor_stack::Stack;
use monitor_testkit::Moto;

const STACK: &str = r#"name = "mt"
region = "eu-west-1"
[logs]
retention_days = 14
[[hosts]]
name = "web-1"
labels = { env = "prod", role = "web", team = "platform" }
[[hosts]]
name = "db-1"
architecture = "arm64"
labels = { env = "prod", role = "db", team = "platform" }
"#;

fn stack(text: &str) -> Stack {
    monitor_stack::from_toml_str(text, "stack.toml".as_ref()).expect("valid stack")
}

async fn start() -> (Moto, Clients) {
    let moto = tokio::task::spawn_blocking(Moto::start)
        .await
        .expect("moto starts");
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    let clients = Clients::new(&sdk).expect("clients");
    (moto, clients)
}

fn opts() -> ApplyOptions {
    ApplyOptions::for_emulators()
}

/// plan + apply; returns the plan that was applied.
async fn converge(clients: &Clients, stack: &Stack) -> Plan {
    let (observed, plan) = plan_apply(clients, stack).await.expect("plan");
    let out = apply(clients, stack, &observed, &plan, &opts(), &NoReporter)
        .await
        .expect("apply");
    assert!(out.complete);
    assert_eq!(out.steps.len(), plan.changes.len());
    plan
}

async fn assert_no_changes(clients: &Clients, stack: &Stack) {
    let (_, plan) = plan_apply(clients, stack).await.expect("plan");
    assert!(
        !plan.has_changes(),
        "expected no changes:\n{}",
        plan.render_text()
    );
}

fn actions(plan: &Plan) -> BTreeMap<String, Action> {
    plan.changes
        .iter()
        .map(|c| (c.resource.address(), c.action))
        .collect()
}

async fn instance_ids(clients: &Clients, stack_name: &str) -> BTreeMap<String, String> {
    let out = clients
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:stack")
                .values(stack_name)
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("running")
                .values("pending")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut ids = BTreeMap::new();
    for i in out.reservations().iter().flat_map(|r| r.instances()) {
        let host = i
            .tags()
            .iter()
            .find(|t| t.key() == Some("monitor:host"))
            .and_then(|t| t.value())
            .unwrap()
            .to_string();
        assert!(
            ids.insert(host.clone(), i.instance_id().unwrap().to_string())
                .is_none(),
            "two live instances for {host}"
        );
    }
    ids
}

async fn role_policy(clients: &Clients) -> serde_json::Value {
    let out = clients
        .iam
        .get_role_policy()
        .role_name("mt-ec2")
        .policy_name("monitoring")
        .send()
        .await
        .unwrap();
    monitor_reconcile::policy::parse_document(out.policy_document()).unwrap()
}

async fn workspace_ids(clients: &Clients) -> Vec<(String, String)> {
    let out = clients
        .amp
        .list_workspaces()
        .alias("mt")
        .send()
        .await
        .unwrap();
    out.workspaces()
        .iter()
        .filter(|w| w.status().map(|s| s.status_code().as_str()) != Some("DELETING"))
        .map(|w| (w.workspace_id().to_string(), w.arn().to_string()))
        .collect()
}

#[tokio::test]
async fn apply_creates_every_resource_then_is_a_no_op() {
    let (_moto, c) = start().await;
    let s = stack(STACK);
    let plan = converge(&c, &s).await;
    assert_eq!(plan.summary.create, 9, "{}", plan.render_text());

    // AMP workspace: alias = stack name, ACTIVE, tagged.
    let ws = c.amp.list_workspaces().alias("mt").send().await.unwrap();
    assert_eq!(ws.workspaces().len(), 1);
    let w = &ws.workspaces()[0];
    assert_eq!(w.status().unwrap().status_code().as_str(), "ACTIVE");
    let ws_id = w.workspace_id().to_string();
    let ws_arn = w.arn().to_string();
    let d = c
        .amp
        .describe_workspace()
        .workspace_id(&ws_id)
        .send()
        .await
        .unwrap();
    let tags = d.workspace().unwrap().tags().unwrap();
    assert_eq!(tags["stack"], "mt");
    assert_eq!(tags["managed-by"], "monitor-provision");

    // IAM: trust policy for EC2 only, SSM core attached, inline policy scoped.
    let role = c.iam.get_role().role_name("mt-ec2").send().await.unwrap();
    let trust = monitor_reconcile::policy::parse_document(
        role.role().unwrap().assume_role_policy_document().unwrap(),
    )
    .unwrap();
    assert!(monitor_reconcile::policy::same_policy(
        &trust,
        &serde_json::to_value(monitor_reconcile::policy::trust_policy()).unwrap()
    ));
    let attached = c
        .iam
        .list_attached_role_policies()
        .role_name("mt-ec2")
        .send()
        .await
        .unwrap();
    assert!(attached
        .attached_policies()
        .iter()
        .any(|p| p.policy_arn() == Some(SSM_CORE_POLICY_ARN)));
    let policy = role_policy(&c).await;
    let statements = policy["Statement"].as_array().unwrap();
    for st in statements {
        let actions: Vec<&str> = st["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let resources: Vec<&str> = st["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(!resources.contains(&"*"), "{policy}");
        if actions.contains(&"aps:RemoteWrite") {
            assert_eq!(actions, ["aps:RemoteWrite"]);
            assert_eq!(resources, [ws_arn.as_str()]);
        } else {
            assert!(actions.iter().all(|a| a.starts_with("logs:")), "{policy}");
            assert_eq!(
                resources,
                [
                    "arn:aws:logs:eu-west-1:123456789012:log-group:/mt/system",
                    "arn:aws:logs:eu-west-1:123456789012:log-group:/mt/system:*"
                ]
            );
        }
    }
    let profile = c
        .iam
        .get_instance_profile()
        .instance_profile_name("mt-ec2")
        .send()
        .await
        .unwrap();
    let roles: Vec<&str> = profile
        .instance_profile()
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name())
        .collect();
    assert_eq!(roles, ["mt-ec2"]);

    // Log group with retention and tags (read through monitor-logs).
    let g = monitor_logs::admin::describe_log_group(&c.logs, "/mt/system")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.retention_days, Some(14));
    assert_eq!(g.tags["stack"], "mt");

    // Security group: no inbound, only HTTPS out, in the default VPC.
    let sgs = c
        .ec2
        .describe_security_groups()
        .filters(Filter::builder().name("tag:stack").values("mt").build())
        .send()
        .await
        .unwrap();
    assert_eq!(sgs.security_groups().len(), 1);
    let sg = &sgs.security_groups()[0];
    assert!(sg.ip_permissions().is_empty());
    let egress = sg.ip_permissions_egress();
    assert_eq!(egress.len(), 1, "{egress:?}");
    assert_eq!(egress[0].ip_protocol(), Some("tcp"));
    assert_eq!(
        (egress[0].from_port(), egress[0].to_port()),
        (Some(443), Some(443))
    );
    let vpcs = c
        .ec2
        .describe_vpcs()
        .filters(Filter::builder().name("is-default").values("true").build())
        .send()
        .await
        .unwrap();
    assert_eq!(sg.vpc_id(), vpcs.vpcs()[0].vpc_id());

    // Instances: one per host, AL2023 AMI of its architecture, IMDSv2, encrypted gp3,
    // profile, SG, tags with labels, user_data = the bootstrap crate's rendering.
    let ids = instance_ids(&c, "mt").await;
    assert_eq!(ids.len(), 2);
    for host in &s.hosts {
        let id = &ids[&host.name];
        let out = c
            .ec2
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .unwrap();
        let i = &out.reservations()[0].instances()[0];
        assert_eq!(i.instance_type().unwrap().as_str(), host.instance_type);
        let ami = c
            .ssm
            .get_parameter()
            .name(monitor_reconcile::observe::ami_parameter(host.architecture))
            .send()
            .await
            .unwrap();
        assert_eq!(i.image_id(), ami.parameter().unwrap().value());
        assert_eq!(
            i.metadata_options()
                .unwrap()
                .http_tokens()
                .unwrap()
                .as_str(),
            "required"
        );
        assert!(i
            .iam_instance_profile()
            .unwrap()
            .arn()
            .unwrap()
            .ends_with("instance-profile/mt-ec2"));
        assert_eq!(i.security_groups()[0].group_id(), sg.group_id());
        let tags: BTreeMap<&str, &str> = i
            .tags()
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
            .collect();
        assert_eq!(tags["Name"], host.name);
        assert_eq!(tags["stack"], "mt");
        assert_eq!(tags["managed-by"], "monitor-provision");
        assert_eq!(tags["label:role"], host.labels["role"]);
        let ud = c
            .ec2
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
            .send()
            .await
            .unwrap();
        let ud = base64::engine::general_purpose::STANDARD
            .decode(ud.user_data().unwrap().value().unwrap())
            .unwrap();
        let want = monitor_bootstrap::render_host(
            &s,
            host,
            &monitor_reconcile::allowlist::render_inputs(&s, Some(ws_id.clone())).unwrap(),
        )
        .unwrap();
        assert_eq!(String::from_utf8(ud).unwrap(), want.user_data);
        assert_eq!(
            tags[TAG_USER_DATA_SHA],
            monitor_reconcile::names::sha256_hex(&want.user_data)
        );
        let vols = c
            .ec2
            .describe_volumes()
            .filters(
                Filter::builder()
                    .name("attachment.instance-id")
                    .values(id)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let v = &vols.volumes()[0];
        assert_eq!(v.encrypted(), Some(true));
        assert_eq!(v.volume_type().unwrap().as_str(), "gp3");
    }

    // Outputs.
    let outputs = monitor_reconcile::outputs(&c, &s).await.unwrap();
    assert_eq!(outputs.workspace_id.as_deref(), Some(ws_id.as_str()));
    assert_eq!(
        outputs.remote_write_url.unwrap(),
        format!(
            "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/{ws_id}/api/v1/remote_write"
        )
    );
    assert!(outputs.query_url.unwrap().ends_with("/api/v1/query"));
    assert_eq!(outputs.instances.len(), 2);

    // Second apply: nothing to do.
    assert_no_changes(&c, &s).await;
    let (observed, plan) = plan_apply(&c, &s).await.unwrap();
    let out = apply(&c, &s, &observed, &plan, &opts(), &NoReporter)
        .await
        .unwrap();
    assert!(out.steps.is_empty());
    assert_eq!(instance_ids(&c, "mt").await, ids);
}

#[tokio::test]
async fn label_change_is_an_in_place_update() {
    let (_moto, c) = start().await;
    converge(&c, &stack(STACK)).await;
    let before = instance_ids(&c, "mt").await;

    let changed = stack(&STACK.replace(
        r#"role = "web", team = "platform""#,
        r#"role = "frontend", team = "platform", az = "a""#,
    ));
    let (observed, plan) = plan_apply(&c, &changed).await.unwrap();
    assert_eq!(
        actions(&plan),
        BTreeMap::from([("instance.web-1".to_string(), Action::Update)]),
        "{}",
        plan.render_text()
    );
    let change = plan.change("instance.web-1").unwrap();
    assert!(
        change.reason.contains("SSM Run Command"),
        "{}",
        change.reason
    );
    assert!(change
        .details
        .iter()
        .any(|d| d.attribute == "label:role" && d.after.as_deref() == Some("frontend")));
    assert!(plan.render_text().contains("  ~ instance.web-1"));
    apply(&c, &changed, &observed, &plan, &opts(), &NoReporter)
        .await
        .unwrap();

    // Same instances, new tags, the config push went through SSM Run Command.
    assert_eq!(instance_ids(&c, "mt").await, before);
    let id = &before["web-1"];
    let out = c
        .ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    let tags: BTreeMap<&str, &str> = out.reservations()[0].instances()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags["label:role"], "frontend");
    assert_eq!(tags["label:az"], "a");
    let cmds = c.ssm.list_commands().instance_id(id).send().await.unwrap();
    let cmd = cmds.commands().first().expect("an SSM command was sent");
    assert_eq!(cmd.document_name(), Some("AWS-RunShellScript"));
    let script = &cmd.parameters().unwrap()["commands"][0];
    assert!(
        script.contains(monitor_bootstrap::ADOT_CONFIG_PATH),
        "{script}"
    );
    assert!(script.contains("role: frontend"), "{script}");
    assert!(script.contains(&format!("instance_id: {id}")), "{script}");
    assert!(script.contains("systemctl restart aws-otel-collector"));
    // node_exporter's unit (its collectors follow the allowlist) travels with it.
    assert!(
        script.contains(monitor_bootstrap::NODE_EXPORTER_UNIT_PATH),
        "{script}"
    );
    assert!(script.contains("systemctl daemon-reload && systemctl restart node_exporter"));
    assert_no_changes(&c, &changed).await;
}

#[tokio::test]
async fn user_data_change_replaces_the_instance() {
    let (_moto, c) = start().await;
    converge(&c, &stack(STACK)).await;
    let before = instance_ids(&c, "mt").await;

    let changed = stack(
        &format!("{STACK}\n[collector]\nscrape_interval = \"30s\"\n")
            .replace("[[hosts]]\nname = \"web-1\"", "[[hosts]]\nname = \"web-1\""),
    );
    let (_, plan) = plan_apply(&c, &changed).await.unwrap();
    let a = actions(&plan);
    assert_eq!(
        a["instance.web-1"],
        Action::Replace,
        "{}",
        plan.render_text()
    );
    assert_eq!(a["instance.db-1"], Action::Replace);
    assert_eq!(a.len(), 2);
    assert!(plan
        .change("instance.web-1")
        .unwrap()
        .reason
        .contains("user_data changed"));
    assert!(plan.render_text().contains("-/+ instance.web-1"));
    converge(&c, &changed).await;

    let after = instance_ids(&c, "mt").await;
    assert_eq!(after.len(), 2);
    for (host, old) in &before {
        assert_ne!(&after[host], old, "{host} was not replaced");
        let st = c
            .ec2
            .describe_instances()
            .instance_ids(old)
            .send()
            .await
            .unwrap();
        let state = st.reservations()[0].instances()[0]
            .state()
            .unwrap()
            .name()
            .unwrap()
            .as_str()
            .to_string();
        assert_eq!(state, "terminated");
    }
    assert_no_changes(&c, &changed).await;

    // Instance type change: replacement too.
    let bigger = stack(&STACK.replace(
        "name = \"web-1\"\n",
        "name = \"web-1\"\ninstance_type = \"t3.small\"\n",
    ));
    let (_, plan) = plan_apply(&c, &bigger).await.unwrap();
    assert_eq!(
        plan.change("instance.web-1").unwrap().action,
        Action::Replace
    );
}

#[tokio::test]
async fn workspace_replaced_rescopes_the_policy_in_place() {
    let (_moto, c) = start().await;
    let s = stack(STACK);
    converge(&c, &s).await;
    let (old_id, old_arn) = workspace_ids(&c).await.remove(0);

    // Policy drift alone (someone edited it): updated in place with PutRolePolicy.
    let drifted = monitor_reconcile::policy::host_policy(
        "arn:aws:aps:eu-west-1:123456789012:workspace/ws-other",
        &monitor_reconcile::policy::log_group_arn("eu-west-1", "123456789012", "/mt/system"),
    );
    c.iam
        .put_role_policy()
        .role_name("mt-ec2")
        .policy_name("monitoring")
        .policy_document(serde_json::to_string(&drifted).unwrap())
        .send()
        .await
        .unwrap();
    let (_, plan) = plan_apply(&c, &s).await.unwrap();
    assert_eq!(
        actions(&plan),
        BTreeMap::from([(
            "iam_role_policy.mt-ec2/monitoring".to_string(),
            Action::Update
        )])
    );
    let d = &plan.changes[0].details[0];
    assert_eq!(
        d.before.as_deref(),
        Some("arn:aws:aps:eu-west-1:123456789012:workspace/ws-other")
    );
    assert_eq!(d.after.as_deref(), Some(old_arn.as_str()));
    converge(&c, &s).await;
    assert_eq!(
        role_policy(&c).await["Statement"][0]["Resource"][0],
        old_arn.as_str()
    );

    // The workspace is gone (deleted outside, or recreated): new workspace, the policy
    // follows its ARN in place, and the hosts are replaced (their user_data embeds the id).
    c.amp
        .delete_workspace()
        .workspace_id(&old_id)
        .send()
        .await
        .unwrap();
    let (_, plan) = plan_apply(&c, &s).await.unwrap();
    let a = actions(&plan);
    assert_eq!(
        a["amp_workspace.mt"],
        Action::Create,
        "{}",
        plan.render_text()
    );
    assert_eq!(a["iam_role_policy.mt-ec2/monitoring"], Action::Update);
    assert_eq!(a["instance.web-1"], Action::Replace);
    assert!(!a.contains_key("iam_role.mt-ec2"));
    converge(&c, &s).await;
    let (new_id, new_arn) = workspace_ids(&c).await.remove(0);
    assert_ne!(new_id, old_id);
    assert_eq!(
        role_policy(&c).await["Statement"][0]["Resource"][0],
        new_arn.as_str()
    );
    assert_no_changes(&c, &s).await;
}

#[tokio::test]
async fn destroy_removes_only_the_stack_and_is_safe_to_rerun() {
    let (_moto, c) = start().await;
    let s = stack(STACK);
    converge(&c, &s).await;
    // Another stack in the same account, and an untagged look-alike security group.
    let other = stack(&STACK.replace("name = \"mt\"", "name = \"other\""));
    converge(&c, &other).await;
    let vpc = c
        .ec2
        .describe_vpcs()
        .filters(Filter::builder().name("is-default").values("true").build())
        .send()
        .await
        .unwrap()
        .vpcs()[0]
        .vpc_id()
        .unwrap()
        .to_string();
    let foreign = c
        .ec2
        .create_security_group()
        .group_name("mt-lookalike")
        .description("not ours")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();

    let (observed, plan) = plan_destroy(&c, &s).await.unwrap();
    assert!(plan.changes.iter().all(|ch| ch.action == Action::Delete));
    assert_eq!(plan.mode, "destroy");
    let out = apply(&c, &s, &observed, &plan, &opts(), &NoReporter)
        .await
        .unwrap();
    assert!(out.complete);

    // Nothing tagged stack=mt is left…
    assert!(instance_ids(&c, "mt").await.is_empty());
    assert!(workspace_ids(&c).await.is_empty());
    let sgs = c
        .ec2
        .describe_security_groups()
        .filters(Filter::builder().name("tag:stack").values("mt").build())
        .send()
        .await
        .unwrap();
    assert!(sgs.security_groups().is_empty());
    assert!(c.iam.get_role().role_name("mt-ec2").send().await.is_err());
    assert!(c
        .iam
        .get_instance_profile()
        .instance_profile_name("mt-ec2")
        .send()
        .await
        .is_err());
    assert!(
        monitor_logs::admin::describe_log_group(&c.logs, "/mt/system")
            .await
            .unwrap()
            .is_none()
    );
    let outputs: Outputs = monitor_reconcile::outputs(&c, &s).await.unwrap();
    assert!(outputs.workspace_id.is_none() && outputs.instances.is_empty());

    // …and nothing else was touched.
    assert_eq!(instance_ids(&c, "other").await.len(), 2);
    assert!(c.iam.get_role().role_name("other-ec2").send().await.is_ok());
    assert!(c
        .ec2
        .describe_security_groups()
        .group_ids(&foreign)
        .send()
        .await
        .is_ok());
    assert_no_changes(&c, &other).await;

    // Re-running destroy finds nothing.
    let (_, again) = plan_destroy(&c, &s).await.unwrap();
    assert!(!again.has_changes(), "{}", again.render_text());
}

#[tokio::test]
async fn same_named_resources_without_our_tags_are_refused() {
    let (_moto, c) = start().await;
    c.iam
        .create_role()
        .role_name("mt-ec2")
        .assume_role_policy_document(
            serde_json::to_string(&monitor_reconcile::policy::trust_policy()).unwrap(),
        )
        .send()
        .await
        .unwrap();
    let err = plan_apply(&c, &stack(STACK)).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("IAM role `mt-ec2`"), "{msg}");
    assert!(msg.contains("not tagged stack=mt"), "{msg}");
    let err = plan_destroy(&c, &stack(STACK)).await.unwrap_err();
    assert!(matches!(
        err,
        monitor_reconcile::ReconcileError::NotOurs { .. }
    ));
    // Still there, untouched.
    assert!(c.iam.get_role().role_name("mt-ec2").send().await.is_ok());
}

#[tokio::test]
async fn interrupted_apply_converges_without_duplicates() {
    let (_moto, c) = start().await;
    let s = stack(STACK);
    let names = Names::new("mt");

    // Interrupt after 2 steps (workspace and log group), then after 4 more (the
    // security group, the role and part of phase 3).
    for limit in [2usize, 4] {
        let (observed, plan) = plan_apply(&c, &s).await.unwrap();
        let mut o = opts();
        o.step_limit = Some(limit);
        let out = apply(&c, &s, &observed, &plan, &o, &NoReporter)
            .await
            .unwrap();
        assert!(!out.complete);
        assert_eq!(out.steps.len(), limit);
    }
    let (_, plan) = plan_apply(&c, &s).await.unwrap();
    assert!(
        plan.change("amp_workspace.mt").is_none(),
        "{}",
        plan.render_text()
    );
    assert!(plan.change("instance.web-1").is_some());

    // A crashed run that left a duplicate workspace and a duplicate instance behind
    // (created with the stack's tags, as the tool would have).
    let mut req = c.amp.create_workspace().alias("mt");
    for (k, v) in names.owner_tags() {
        req = req.tags(k, v);
    }
    req.send().await.unwrap();
    assert_eq!(workspace_ids(&c).await.len(), 2);

    let plan = converge(&c, &s).await;
    let dup = plan
        .changes
        .iter()
        .filter(|ch| ch.resource.kind == ResourceKind::AmpWorkspace && ch.action == Action::Delete)
        .count();
    assert_eq!(dup, 1, "{}", plan.render_text());
    assert_eq!(workspace_ids(&c).await.len(), 1);
    assert_eq!(instance_ids(&c, "mt").await.len(), 2);
    assert_no_changes(&c, &s).await;

    // A second live instance for web-1 (e.g. a launch whose response was lost): removed.
    let (observed, _) = plan_apply(&c, &s).await.unwrap();
    let web = observed
        .instances
        .iter()
        .find(|i| i.host == "web-1")
        .unwrap();
    let dup_id = c
        .ec2
        .run_instances()
        .image_id(&web.image_id)
        .instance_type(aws_sdk_ec2::types::InstanceType::from(
            web.instance_type.as_str(),
        ))
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
                .set_tags(Some(
                    web.tags
                        .iter()
                        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    let (_, plan) = plan_apply(&c, &s).await.unwrap();
    assert_eq!(plan.changes.len(), 1, "{}", plan.render_text());
    assert_eq!(plan.changes[0].action, Action::Delete);
    converge(&c, &s).await;
    let ids = instance_ids(&c, "mt").await;
    assert_eq!(ids.len(), 2);
    // The look-alike without the instance profile is the one that went.
    assert_ne!(ids["web-1"], dup_id);
    assert_no_changes(&c, &s).await;
}

#[tokio::test]
async fn plan_json_lists_changes_with_reasons() {
    let (_moto, c) = start().await;
    let (_, plan) = plan_apply(&c, &stack(STACK)).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&plan.render_json()).unwrap();
    assert_eq!(v["stack"], "mt");
    assert_eq!(v["summary"]["create"], 9);
    let first = &v["changes"][0];
    assert_eq!(first["action"], "create");
    assert!(first["reason"].as_str().unwrap().len() > 5);
    assert!(first["resource"]["kind"].is_string());
}

#[tokio::test]
async fn network_subnet_is_used_and_checked() {
    let (_moto, c) = start().await;
    let subnets = c.ec2.describe_subnets().send().await.unwrap();
    let subnet = subnets.subnets()[0].clone();
    let (subnet_id, vpc_id) = (subnet.subnet_id().unwrap(), subnet.vpc_id().unwrap());
    let s = stack(&format!(
        "{STACK}[network]\nsubnet_id = \"{subnet_id}\"\nvpc_id = \"{vpc_id}\"\n"
    ));
    converge(&c, &s).await;
    let (observed, _) = plan_apply(&c, &s).await.unwrap();
    assert!(observed
        .instances
        .iter()
        .all(|i| i.subnet_id.as_deref() == Some(subnet_id)));
    assert_eq!(observed.security_groups[0].vpc_id, vpc_id);
    assert_no_changes(&c, &s).await;

    // A subnet outside the given VPC, or one that does not exist: a clear error.
    let other_vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let wrong = stack(&format!(
        "{STACK}[network]\nsubnet_id = \"{subnet_id}\"\nvpc_id = \"{other_vpc}\"\n"
    ));
    let err = plan_apply(&c, &wrong).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("not in vpc_id `{other_vpc}`")),
        "{err}"
    );
    let missing = stack(&format!(
        "{STACK}[network]\nsubnet_id = \"subnet-0000000000000000a\"\n"
    ));
    let err = plan_apply(&c, &missing).await.unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
}

/// `[alerting]`: the rendered rule namespace and Alertmanager definition land in the
/// workspace (moto keeps what it is sent), a re-plan is empty (content hash tag), a
/// changed override updates only the namespace, and disabling alerting removes them.
#[tokio::test]
async fn alerting_rules_and_alertmanager_definition_converge() {
    let (_moto, clients) = start().await;
    let with = |extra: &str| stack(&format!("{STACK}[alerting]\n{extra}"));
    let s = with("[alerting.rules.HostMemoryHigh]\nthreshold = 0.8\n");
    let plan = converge(&clients, &s).await;
    let kinds = actions(&plan);
    assert_eq!(
        kinds.get("rule_namespace.mt"),
        Some(&Action::Create),
        "{kinds:?}"
    );
    assert_eq!(
        kinds.get("alertmanager_definition.mt"),
        Some(&Action::Create),
        "{kinds:?}"
    );
    assert_no_changes(&clients, &s).await;

    let ws = workspace_ids(&clients).await[0].0.clone();
    let ns = clients
        .amp
        .describe_rule_groups_namespace()
        .workspace_id(&ws)
        .name("mt")
        .send()
        .await
        .unwrap();
    let ns = ns.rule_groups_namespace().unwrap();
    let data = String::from_utf8(ns.data().as_ref().to_vec()).unwrap();
    assert_eq!(
        data,
        monitor_alerts::stack_rules(&s).unwrap()[0].file.to_yaml()
    );
    assert!(data.contains("instance:node_memory_utilisation:ratio{job=\"node\"} > 0.8"));
    let tags = ns.tags().unwrap();
    assert_eq!(tags.get("stack").map(String::as_str), Some("mt"));
    assert!(tags.contains_key(monitor_reconcile::names::TAG_RULES_SHA));
    let am = clients
        .amp
        .describe_alert_manager_definition()
        .workspace_id(&ws)
        .send()
        .await
        .unwrap();
    let am = String::from_utf8(
        am.alert_manager_definition()
            .unwrap()
            .data()
            .as_ref()
            .to_vec(),
    )
    .unwrap();
    let account = clients.account_id().await.unwrap();
    assert!(
        am.contains(&format!(
            "arn:aws:sns:eu-west-1:{account}:mt-alerts-critical"
        )),
        "{am}"
    );
    assert!(
        am.contains("region: eu-west-1") && am.contains("alertmanager_config: |"),
        "{am}"
    );

    let s2 = with("[alerting.rules.HostMemoryHigh]\nthreshold = 0.85\n");
    let (_, plan) = plan_apply(&clients, &s2).await.unwrap();
    let kinds = actions(&plan);
    assert_eq!(kinds.len(), 1, "only the namespace changes: {kinds:?}");
    assert_eq!(kinds.get("rule_namespace.mt"), Some(&Action::Update));
    converge(&clients, &s2).await;
    assert_no_changes(&clients, &s2).await;

    let off = with("enabled = false\n");
    let plan = converge(&clients, &off).await;
    assert_eq!(
        actions(&plan).get("rule_namespace.mt"),
        Some(&Action::Delete)
    );
    assert_eq!(
        actions(&plan).get("alertmanager_definition.mt"),
        Some(&Action::Delete)
    );
    assert_no_changes(&clients, &off).await;
    let left = clients
        .amp
        .list_rule_groups_namespaces()
        .workspace_id(&ws)
        .send()
        .await
        .unwrap();
    assert!(left.rule_groups_namespaces().is_empty());
}

/// `[alerting]` subscribers: the KMS key (rotating, policy letting AMP and CloudWatch use
/// it), one encrypted topic per notified severity whose policy lets the workspace publish,
/// the subscriptions, the log metric filters and the alarms on them all land; a re-plan is
/// empty; a removed subscriber is unsubscribed; destroy removes the topics, filters and
/// alarms and schedules the key's deletion.
#[tokio::test]
async fn alert_topics_subscriptions_and_log_alarms_converge() {
    let (_moto, c) = start().await;
    let hook = "https://hooks.example.com/sns/SECRETKEY";
    let with_hook = stack(&format!(
        "{STACK}[alerting]\nemail = [\"oncall@example.com\"]\nhttps = [\"{hook}\"]\n"
    ));
    let plan = converge(&c, &with_hook).await;
    let kinds = actions(&plan);
    assert_eq!(kinds.get("kms_key.alias/mt-alerts"), Some(&Action::Create));
    assert_eq!(
        kinds.get("sns_topic.mt-alerts-critical"),
        Some(&Action::Create)
    );
    assert_eq!(
        kinds.get("sns_topic.mt-alerts-warning"),
        Some(&Action::Create)
    );
    assert!(!plan.render_text().contains("SECRETKEY"));
    assert_no_changes(&c, &with_hook).await;

    // The key: ours, rotating, usable by the publishers.
    let account = c.account_id().await.unwrap();
    let aliases = c.kms.list_aliases().send().await.unwrap();
    let key_id = aliases
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some("alias/mt-alerts"))
        .and_then(|a| a.target_key_id())
        .expect("alias/mt-alerts")
        .to_string();
    let rotation = c
        .kms
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert!(rotation.key_rotation_enabled());
    let key_policy = c
        .kms
        .get_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .send()
        .await
        .unwrap();
    let key_policy: serde_json::Value = serde_json::from_str(key_policy.policy().unwrap()).unwrap();
    assert_eq!(
        key_policy,
        monitor_reconcile::policy::alert_key_policy(&account, "eu-west-1", "mt").to_value()
    );

    // The topics: encrypted with the key, policy scoped to the workspace.
    let ws_arn = workspace_ids(&c).await[0].1.clone();
    for (severity, log_alarms) in [("critical", true), ("warning", true)] {
        let arn = format!("arn:aws:sns:eu-west-1:{account}:mt-alerts-{severity}");
        let attrs = c
            .sns
            .get_topic_attributes()
            .topic_arn(&arn)
            .send()
            .await
            .unwrap();
        let attrs = attrs.attributes().unwrap();
        assert_eq!(attrs["KmsMasterKeyId"], "alias/mt-alerts");
        let policy: serde_json::Value = serde_json::from_str(&attrs["Policy"]).unwrap();
        let prefix = monitor_alerts::log_alarms::alarm_prefix("mt");
        assert_eq!(
            policy,
            monitor_reconcile::policy::topic_policy(
                &arn,
                &ws_arn,
                &account,
                "eu-west-1",
                log_alarms.then_some(prefix.as_str())
            )
            .to_value()
        );
        let subs = c
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(&arn)
            .send()
            .await
            .unwrap();
        let mut endpoints: Vec<(&str, &str)> = subs
            .subscriptions()
            .iter()
            .map(|s| (s.protocol().unwrap(), s.endpoint().unwrap()))
            .collect();
        endpoints.sort();
        assert_eq!(
            endpoints,
            [("email", "oncall@example.com"), ("https", hook)]
        );
    }
    assert!(c
        .sns
        .get_topic_attributes()
        .topic_arn(format!("arn:aws:sns:eu-west-1:{account}:mt-alerts-info"))
        .send()
        .await
        .is_err());

    // Filters on the stack group, alarms on their metrics notifying the right topic.
    let filters = c
        .logs
        .describe_metric_filters()
        .log_group_name("/mt/system")
        .send()
        .await
        .unwrap();
    let all = monitor_alerts::log_alarms::LOG_ALARMS;
    assert_eq!(filters.metric_filters().len(), all.len());
    let alarms = c
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix("mt-log-")
        .send()
        .await
        .unwrap();
    assert_eq!(alarms.metric_alarms().len(), all.len());
    for a in all {
        let alarm = alarms
            .metric_alarms()
            .iter()
            .find(|m| m.alarm_name() == Some(&format!("mt-log-{}", a.name)))
            .unwrap();
        assert_eq!(
            alarm.alarm_actions(),
            [format!(
                "arn:aws:sns:eu-west-1:{account}:mt-alerts-{}",
                a.severity.as_str()
            )]
        );
        assert_eq!(alarm.metric_name(), Some(a.metric_name));
        assert_eq!(alarm.threshold(), Some(f64::from(a.threshold)));
    }

    // The hook is removed: its (confirmed, in moto) subscriptions go, the email stays.
    let email_only = stack(&format!(
        "{STACK}[alerting]\nemail = [\"oncall@example.com\"]\n"
    ));
    let plan = converge(&c, &email_only).await;
    let kinds = actions(&plan);
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.values().all(|a| *a == Action::Delete), "{kinds:?}");
    assert!(!plan.render_text().contains("SECRETKEY"));
    assert_no_changes(&c, &email_only).await;

    // monitor-verify alerts' control-plane checks pass on what apply made…
    let ws_id = workspace_ids(&c).await[0].0.clone();
    let verify = |stack: &Stack| monitor_checks::alerts::aws::ControlPlane {
        amp: &c.amp,
        sns: &c.sns,
        cloudwatch: &c.cloudwatch,
        workspace_id: ws_id.clone(),
        expect: monitor_checks::alerts::expectations(stack).unwrap(),
    };
    let results = verify(&email_only).run().await.unwrap();
    for r in &results {
        assert!(r.passed(), "{r:?}");
    }
    let count = |id: &str| results.iter().filter(|r| r.check == id).count();
    assert_eq!(count("alerts.sns_policy"), 2, "{results:#?}");
    assert_eq!(count("alerts.sns_subscriptions"), 2, "{results:#?}");
    assert_eq!(count("alerts.alarms"), 1, "{results:#?}");
    // …and name the hook a stack still configures but nobody subscribed, without its key.
    let results = verify(&with_hook).run().await.unwrap();
    let missing: Vec<&str> = results
        .iter()
        .filter(|r| !r.passed())
        .map(|r| r.detail.as_str())
        .collect();
    assert_eq!(
        missing,
        [
            "mt-alerts-critical: https https://hooks.example.com/… is not subscribed",
            "mt-alerts-warning: https https://hooks.example.com/… is not subscribed"
        ]
    );

    // Destroy: nothing of the alerting path is left but the key waiting for deletion.
    let (observed, plan) = plan_destroy(&c, &email_only).await.unwrap();
    let out = apply(&c, &email_only, &observed, &plan, &opts(), &NoReporter)
        .await
        .unwrap();
    assert!(out.complete);
    let topics = c.sns.list_topics().send().await.unwrap();
    assert!(topics.topics().is_empty(), "{:?}", topics.topics());
    let alarms = c
        .cloudwatch
        .describe_alarms()
        .alarm_name_prefix("mt-log-")
        .send()
        .await
        .unwrap();
    assert!(alarms.metric_alarms().is_empty());
    let key = c.kms.describe_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(
        key.key_metadata().unwrap().key_state(),
        Some(&aws_sdk_kms::types::KeyState::PendingDeletion)
    );
    let aliases = c.kms.list_aliases().send().await.unwrap();
    assert!(!aliases
        .aliases()
        .iter()
        .any(|a| a.alias_name() == Some("alias/mt-alerts")));
    let (_, again) = plan_destroy(&c, &email_only).await.unwrap();
    assert!(!again.has_changes(), "{}", again.render_text());
}
