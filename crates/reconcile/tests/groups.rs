//! `[[groups]]` end to end against moto (EC2 launch templates and instances, IAM, Auto
//! Scaling groups, which launch real moto instances) with the instance-refresh calls —
//! which moto does not implement — served by a wiremock stub in front of it. Everything
//! else the Auto Scaling client sends is forwarded to moto unchanged.
//!
//! Instance-refresh contract (awsQuery: a form-encoded POST, `Action=<Op>&Version=2011-01-01`,
//! answered in XML in the `http://autoscaling.amazonaws.com/doc/2011-01-01/` namespace),
//! from the Amazon EC2 Auto Scaling API reference:
//! - `StartInstanceRefresh` (<https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html>):
//!   `AutoScalingGroupName`, `DesiredConfiguration.LaunchTemplate.{LaunchTemplateName,Version}`,
//!   `Preferences.{MinHealthyPercentage,MaxHealthyPercentage,InstanceWarmup,SkipMatching}`
//!   → `StartInstanceRefreshResult/InstanceRefreshId`; while one runs → 400 with error code
//!   `InstanceRefreshInProgress`.
//! - `DescribeInstanceRefreshes` (`API_DescribeInstanceRefreshes.html`):
//!   `AutoScalingGroupName`, `MaxRecords` → `DescribeInstanceRefreshesResult/InstanceRefreshes/member`
//!   with `InstanceRefreshId`, `AutoScalingGroupName`, `Status`, `PercentageComplete`,
//!   newest first.
//! - `CancelInstanceRefresh` (`API_CancelInstanceRefresh.html`): `AutoScalingGroupName` →
//!   `CancelInstanceRefreshResult/InstanceRefreshId`; the refresh becomes `Cancelled`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use monitor_reconcile::{plan_apply, plan_destroy, Action, Clients};
use monitor_stack::Stack;
use monitor_testkit::Moto;
use support::{actions, apply_ok, assert_no_changes, converge, forward, on_big_stack};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod support;

const NS: &str = "http://autoscaling.amazonaws.com/doc/2011-01-01/";

/// The refreshes the stub holds: (group, id, status), oldest first; and every refresh
/// call with its form parameters.
#[derive(Default)]
struct Refreshes {
    list: Vec<(String, String, String)>,
    calls: Vec<(String, BTreeMap<String, String>)>,
    /// Answer every Auto Scaling call with AccessDenied.
    deny: bool,
}

fn xml(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body, "text/xml")
}

fn result(op: &str, inner: &str) -> ResponseTemplate {
    xml(
        200,
        format!(
            "<{op}Response xmlns=\"{NS}\"><{op}Result>{inner}</{op}Result>\
             <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></{op}Response>"
        ),
    )
}

async fn autoscaling_stub(moto: String) -> (MockServer, Arc<Mutex<Refreshes>>) {
    let server = MockServer::start().await;
    let state: Arc<Mutex<Refreshes>> = Arc::default();
    let st = state.clone();
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(move |req: &Request| {
            let form: BTreeMap<String, String> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            let op = form.get("Action").cloned().unwrap_or_default();
            let mut s = st.lock().unwrap();
            if s.deny {
                return xml(
                    403,
                    format!(
                        "<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type>\
                         <Code>AccessDenied</Code><Message>User is not authorized to perform: \
                         autoscaling:{op}</Message></Error></ErrorResponse>"
                    ),
                );
            }
            let group = form.get("AutoScalingGroupName").cloned().unwrap_or_default();
            let running = |s: &Refreshes| {
                s.list
                    .iter()
                    .rposition(|(g, _, st)| *g == group && st == "InProgress")
            };
            // Auto Scaling refuses to change the template of a group whose refresh
            // (with a desired configuration) runs: "An active instance refresh with a
            // desired configuration exists. All configuration options derived from the
            // desired configuration are not available for update while the instance
            // refresh is active."
            if op == "UpdateAutoScalingGroup"
                && form.keys().any(|k| k.starts_with("LaunchTemplate."))
                && running(&s).is_some()
            {
                s.calls.push((op.clone(), form.clone()));
                return xml(
                    400,
                    format!(
                        "<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type>\
                         <Code>ValidationError</Code><Message>An active instance refresh with \
                         a desired configuration exists. All configuration options derived \
                         from the desired configuration are not available for update while \
                         the instance refresh is active.</Message></Error></ErrorResponse>"
                    ),
                );
            }
            if !op.contains("InstanceRefresh") {
                drop(s);
                return forward(&moto, req);
            }
            assert_eq!(form.get("Version").map(String::as_str), Some("2011-01-01"));
            s.calls.push((op.clone(), form.clone()));
            match op.as_str() {
                "StartInstanceRefresh" => {
                    if running(&s).is_some() {
                        return xml(
                            400,
                            format!(
                                "<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type>\
                                 <Code>InstanceRefreshInProgress</Code><Message>An Instance \
                                 Refresh is already in progress and blocks the execution of \
                                 this Instance Refresh.</Message></Error><RequestId>r-2</RequestId></ErrorResponse>"
                            ),
                        );
                    }
                    let id = format!("refresh-{}", s.list.len() + 1);
                    s.list.push((group, id.clone(), "InProgress".into()));
                    result(op.as_str(), &format!("<InstanceRefreshId>{id}</InstanceRefreshId>"))
                }
                "CancelInstanceRefresh" => match running(&s) {
                    Some(i) => {
                        s.list[i].2 = "Cancelled".into();
                        let id = s.list[i].1.clone();
                        result(op.as_str(), &format!("<InstanceRefreshId>{id}</InstanceRefreshId>"))
                    }
                    None => xml(
                        400,
                        format!(
                            "<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type>\
                             <Code>ActiveInstanceRefreshNotFound</Code><Message>No in progress \
                             or pending Instance Refresh found</Message></Error></ErrorResponse>"
                        ),
                    ),
                },
                "DescribeInstanceRefreshes" => {
                    let members: String = s
                        .list
                        .iter()
                        .rev()
                        .filter(|(g, _, _)| *g == group)
                        .map(|(g, id, status)| {
                            format!(
                                "<member><InstanceRefreshId>{id}</InstanceRefreshId>\
                                 <AutoScalingGroupName>{g}</AutoScalingGroupName>\
                                 <Status>{status}</Status><PercentageComplete>0</PercentageComplete></member>"
                            )
                        })
                        .collect();
                    result(
                        op.as_str(),
                        &format!("<InstanceRefreshes>{members}</InstanceRefreshes>"),
                    )
                }
                other => panic!("unexpected {other}"),
            }
        })
        .mount(&server)
        .await;
    (server, state)
}

struct World {
    _moto: Moto,
    _stub: MockServer,
    clients: Clients,
    refreshes: Arc<Mutex<Refreshes>>,
}

async fn start() -> World {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let mut clients = support::clients(&moto.endpoint()).await;
    let (stub, refreshes) = autoscaling_stub(moto.endpoint()).await;
    clients.autoscaling = aws_sdk_autoscaling::Client::new(&support::sdk_for(&stub.uri()).await);
    World {
        _moto: moto,
        _stub: stub,
        clients,
        refreshes,
    }
}

fn stack(size: &str, labels: &str) -> Stack {
    monitor_stack::from_toml_str(
        &format!(
            "name = \"gt\"\nregion = \"eu-west-1\"\n\
             [[hosts]]\nname = \"web-1\"\nlabels = {{ env = \"prod\", role = \"web\", team = \"platform\" }}\n\
             [[groups]]\nname = \"api\"\n{size}\nlabels = {{ {labels} }}\n"
        ),
        "stack.toml".as_ref(),
    )
    .unwrap()
}

/// The group's (min, desired, max), its instance ids, and its launch template spec.
async fn group(c: &Clients) -> Option<((i32, i32, i32), Vec<String>, String)> {
    let out = c
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("gt-group-api")
        .send()
        .await
        .unwrap();
    let g = out.auto_scaling_groups().first()?;
    let lt = g.launch_template().unwrap();
    Some((
        (
            g.min_size().unwrap(),
            g.desired_capacity().unwrap(),
            g.max_size().unwrap(),
        ),
        g.instances()
            .iter()
            .map(|i| i.instance_id().unwrap().to_string())
            .collect(),
        format!(
            "{}:{}",
            lt.launch_template_name().unwrap(),
            lt.version().unwrap()
        ),
    ))
}

/// The launch template's default version: its number and data.
async fn template(c: &Clients) -> (i64, aws_sdk_ec2::types::ResponseLaunchTemplateData) {
    let out = c
        .ec2
        .describe_launch_template_versions()
        .launch_template_name("gt-group-api")
        .versions("$Default")
        .send()
        .await
        .unwrap();
    let v = &out.launch_template_versions()[0];
    (
        v.version_number().unwrap(),
        v.launch_template_data().unwrap().clone(),
    )
}

fn user_data(d: &aws_sdk_ec2::types::ResponseLaunchTemplateData) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(d.user_data().unwrap())
            .unwrap(),
    )
    .unwrap()
}

async fn running(c: &Clients, ids: &[String]) -> Vec<String> {
    let out = c
        .ec2
        .describe_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .unwrap();
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) == Some("running"))
        .map(|i| i.instance_id().unwrap().to_string())
        .collect()
}

#[test]
fn groups_launch_from_a_template_resize_in_place_refresh_on_change_and_destroy() {
    on_big_stack(scenario);
}

const LABELS: &str = "env = \"prod\", role = \"api\", team = \"platform\"";

async fn scenario() {
    let w = start().await;
    let c = &w.clients;
    // The refresh calls that change something (observe describes them at every plan).
    let refreshes = || {
        let calls = w.refreshes.lock().unwrap().calls.clone();
        calls
            .into_iter()
            .filter(|(op, _)| op != "DescribeInstanceRefreshes")
            .collect::<Vec<_>>()
    };

    // 0. A caller without Auto Scaling reads: a stack without groups still plans; one
    // with groups is refused naming the action.
    w.refreshes.lock().unwrap().deny = true;
    let hosts_only = monitor_stack::from_toml_str(
        "name = \"gt\"\n[[hosts]]\nname = \"web-1\"\nlabels = { env = \"prod\", role = \"web\", team = \"platform\" }\n",
        "stack.toml".as_ref(),
    )
    .unwrap();
    let (observed, _) = plan_apply(c, &hosts_only).await.unwrap();
    assert!(observed.groups.groups.is_empty());
    let err = plan_apply(c, &stack("min = 1\nmax = 3\ndesired = 2", LABELS))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, monitor_reconcile::ReconcileError::AccessDenied { action, .. } if *action == "autoscaling:DescribeAutoScalingGroups"),
        "{err}"
    );
    w.refreshes.lock().unwrap().deny = false;

    // 1. Create: a template and a group of two, beside a host.
    let s = stack("min = 1\nmax = 3\ndesired = 2", LABELS);
    let plan = converge(c, &s).await;
    let a = actions(&plan);
    assert_eq!(a["launch_template.gt-group-api"], Action::Create);
    assert_eq!(a["autoscaling_group.gt-group-api"], Action::Create);
    assert_eq!(a["instance.web-1"], Action::Create);
    let (size, first, spec) = group(c).await.expect("the group exists");
    assert_eq!(size, (1, 2, 3));
    assert_eq!(first.len(), 2, "Auto Scaling launched the desired capacity");
    assert_eq!(spec, "gt-group-api:$Default");
    let (version, data) = template(c).await;
    assert_eq!(version, 1);
    let md = data.metadata_options().unwrap();
    assert_eq!(md.http_tokens().unwrap().as_str(), "required");
    assert_eq!(md.http_put_response_hop_limit(), Some(1));
    let root = &data.block_device_mappings()[0];
    let ebs = root.ebs().unwrap();
    assert_eq!(ebs.encrypted(), Some(true));
    assert_eq!(ebs.volume_type().unwrap().as_str(), "gp3");
    assert_eq!(
        data.iam_instance_profile().and_then(|p| p.name()),
        Some("gt-ec2")
    );
    let (observed, _) = plan_apply(c, &s).await.unwrap();
    let sg = observed.security_group().unwrap().id.clone();
    assert_eq!(data.security_group_ids(), [sg.as_str()]);
    assert_eq!(
        data.image_id(),
        observed
            .amis
            .get(&monitor_stack::Architecture::X86_64)
            .map(String::as_str),
        "the AL2023 AMI of the SSM public parameter"
    );
    let script = user_data(&data);
    assert!(script.contains("user_data for the instances of Auto Scaling group api"));
    assert!(script.contains(&format!(
        "/workspaces/{}/api/v1/remote_write",
        observed.amp_workspace().unwrap().id
    )));
    // The group's instances carry the stack's tags but are the group's, not hosts: no
    // plan terminates them, and a second plan is empty.
    let tags = c
        .ec2
        .describe_instances()
        .instance_ids(&first[0])
        .send()
        .await
        .unwrap();
    let tags: BTreeMap<String, String> = tags.reservations()[0].instances()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().into(), t.value().unwrap().into()))
        .collect();
    assert_eq!(tags.get("monitor:group").map(String::as_str), Some("api"));
    assert_eq!(tags.get("stack").map(String::as_str), Some("gt"));
    assert_eq!(observed.instances.len(), 1, "only web-1 is a host");
    let outputs = monitor_reconcile::Outputs::from_observed(&observed);
    assert_eq!(outputs.groups.len(), 1);
    assert_eq!(outputs.groups[0].in_service, first);
    assert!(outputs.render_text().contains(&format!(
        "= gt-group-api (2/2 in service: {})",
        first.join(", ")
    )));
    assert_no_changes(c, &s).await;
    assert!(refreshes().is_empty(), "no refresh on creation");

    // A subnet outside the stack's VPC is refused before anything changes.
    let vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.9.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = c
        .ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.9.1.0/24")
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    let err = plan_apply(
        c,
        &stack(
            &format!("min = 1\nmax = 3\ndesired = 2\nsubnets = [\"{subnet}\"]"),
            LABELS,
        ),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!("subnet `{subnet}` is in {vpc}")),
        "{err}"
    );

    // 2. Resize: the group is updated in place, nothing is refreshed.
    let s = stack("min = 1\nmax = 4\ndesired = 3", LABELS);
    let plan = converge(c, &s).await;
    assert_eq!(
        actions(&plan),
        BTreeMap::from([("autoscaling_group.gt-group-api".into(), Action::Update)]),
        "{}",
        plan.render_text()
    );
    let (size, resized, _) = group(c).await.unwrap();
    assert_eq!(size, (1, 3, 4));
    assert_eq!(resized.len(), 3);
    assert!(
        first.iter().all(|i| resized.contains(i)),
        "no instance replaced by a resize"
    );
    assert!(refreshes().is_empty());
    assert_no_changes(c, &s).await;

    // 3. A bootstrap change (a new label): a new default template version and an instance
    // refresh towards it, new instances first; apply replaces nothing itself.
    let s = stack(
        "min = 1\nmax = 4\ndesired = 3",
        &format!("{LABELS}, tier = \"backend\""),
    );
    let plan = converge(c, &s).await;
    assert_eq!(
        actions(&plan),
        BTreeMap::from([
            ("launch_template.gt-group-api".into(), Action::Update),
            ("autoscaling_group.gt-group-api".into(), Action::Update),
        ]),
        "{}",
        plan.render_text()
    );
    let (version, data) = template(c).await;
    assert_eq!(version, 2, "the new version is the default");
    assert!(
        user_data(&data).contains("tier: backend")
            || user_data(&data).contains("tier = \"backend\"")
    );
    let calls = refreshes();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let (op, form) = &calls[0];
    assert_eq!(op, "StartInstanceRefresh");
    assert_eq!(form["AutoScalingGroupName"], "gt-group-api");
    assert_eq!(form["Preferences.MinHealthyPercentage"], "100");
    assert_eq!(form["Preferences.MaxHealthyPercentage"], "200");
    assert_eq!(form["Preferences.SkipMatching"], "true");
    assert_eq!(
        form["DesiredConfiguration.LaunchTemplate.LaunchTemplateName"],
        "gt-group-api"
    );
    assert_eq!(
        form["DesiredConfiguration.LaunchTemplate.Version"],
        "$Default"
    );
    let (_, after, _) = group(c).await.unwrap();
    assert_eq!(after, resized, "the refresh, not apply, replaces instances");
    assert_eq!(running(c, &after).await.len(), 3);
    assert_no_changes(c, &s).await;

    // 4. Another change while that refresh runs (the plan sees it): it is cancelled
    // first, then the new one starts.
    let s = stack(
        "min = 1\nmax = 4\ndesired = 3",
        &format!("{LABELS}, tier = \"edge\""),
    );
    converge(c, &s).await;
    let ops: Vec<String> = refreshes().into_iter().skip(1).map(|(op, _)| op).collect();
    assert_eq!(ops, ["CancelInstanceRefresh", "StartInstanceRefresh"]);
    let statuses = || -> Vec<String> {
        w.refreshes
            .lock()
            .unwrap()
            .list
            .iter()
            .map(|(_, _, st)| st.clone())
            .collect()
    };
    assert_eq!(statuses(), ["Cancelled", "InProgress"]);
    assert_eq!(template(c).await.0, 3);

    // A refresh that starts between plan and apply (none ran when planned): the start
    // is refused with InstanceRefreshInProgress, and that one is cancelled and replaced.
    w.refreshes.lock().unwrap().list[1].2 = "Successful".into();
    let s = stack(
        "min = 1\nmax = 4\ndesired = 3",
        &format!("{LABELS}, tier = \"edge-2\""),
    );
    let (observed, plan) = plan_apply(c, &s).await.unwrap();
    let started_elsewhere = (
        "gt-group-api".to_string(),
        "refresh-x".to_string(),
        "InProgress".to_string(),
    );
    w.refreshes.lock().unwrap().list.push(started_elsewhere);
    apply_ok(c, &s, &observed, &plan).await;
    let ops: Vec<String> = refreshes().into_iter().skip(3).map(|(op, _)| op).collect();
    assert_eq!(
        ops,
        [
            "StartInstanceRefresh",
            "CancelInstanceRefresh",
            "StartInstanceRefresh"
        ]
    );
    assert_eq!(
        statuses(),
        ["Cancelled", "Successful", "Cancelled", "InProgress"]
    );
    assert_eq!(template(c).await.0, 4);

    // A resize while that refresh runs changes the size only (the stub, like Auto
    // Scaling, refuses a template change of a group being refreshed). Only `max`
    // changes: moto 5.2 cannot launch from a template version made by
    // CreateLaunchTemplateVersion (it keeps the user_data unwrapped and fails an
    // assertion), so the scenario launches nothing after the first version.
    let s_resized = stack(
        "min = 1\nmax = 5\ndesired = 3",
        &format!("{LABELS}, tier = \"edge-2\""),
    );
    let plan = converge(c, &s_resized).await;
    assert_eq!(
        actions(&plan),
        BTreeMap::from([("autoscaling_group.gt-group-api".into(), Action::Update)])
    );
    assert_eq!(group(c).await.unwrap().0, (1, 3, 5));
    converge(c, &s).await;
    let (size, after, _) = group(c).await.unwrap();
    assert_eq!(size, (1, 3, 4));

    // 5. verify: the group is found with its desired capacity in service (SSM's
    // answer is left out: moto cannot filter DescribeInstanceInformation).
    let observed =
        monitor_reconcile::observe::observe(c, &s, monitor_reconcile::observe::Scope::Verify)
            .await
            .unwrap();
    let found =
        monitor_reconcile::verify::from_observed(&s, &observed, &BTreeMap::new(), &BTreeMap::new());
    assert_eq!(found.groups.len(), 1);
    assert_eq!(found.groups[0].in_service().count(), 3);
    let checks = monitor_reconcile::verify::aws_checks(&s, &found);
    let g = checks.iter().find(|r| r.check == "aws.group").unwrap();
    assert_eq!(g.status, monitor_checks::Status::Pass, "{g:?}");
    assert!(
        g.detail.contains("3/3 in service") && g.detail.contains("InProgress"),
        "{g:?}"
    );
    for id in &after {
        assert!(
            found
                .instances()
                .iter()
                .any(|(host, i)| host == id && i == id),
            "{id} is checked like a host, by its instance id"
        );
    }

    // 6. destroy: the group (and its instances), the template, the host; nothing left.
    let (observed, plan) = plan_destroy(c, &s).await.unwrap();
    let a = actions(&plan);
    assert_eq!(a["autoscaling_group.gt-group-api"], Action::Delete);
    assert_eq!(a["launch_template.gt-group-api"], Action::Delete);
    apply_ok(c, &s, &observed, &plan).await;
    assert!(group(c).await.is_none());
    assert!(
        running(c, &after).await.is_empty(),
        "the group's instances are terminated"
    );
    let templates = c.ec2.describe_launch_templates().send().await.unwrap();
    assert!(templates.launch_templates().is_empty());
}
