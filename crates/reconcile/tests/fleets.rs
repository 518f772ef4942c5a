//! `[[fleets]]` end to end against moto (EC2 instances, tags, instance-profile
//! associations, IAM, SSM documents and Run Command) with State Manager associations —
//! which moto does not implement — served by a wiremock stub in front of it. Everything
//! else the SSM client sends is forwarded to moto unchanged.
//!
//! Association contract (awsJson1_1, `X-Amz-Target: AmazonSSM.<Op>`), from the Systems
//! Manager API reference:
//! - `CreateAssociation` (<https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CreateAssociation.html>):
//!   `{Name, AssociationName, DocumentVersion, Targets:[{Key:"tag:K",Values}], Parameters,
//!   MaxConcurrency, MaxErrors, Tags}` → `{"AssociationDescription": {AssociationId,
//!   AssociationVersion, Name, AssociationName, DocumentVersion, Targets, Overview:{Status}}}`.
//! - `UpdateAssociation` (`API_UpdateAssociation.html`): `AssociationId` + the whole
//!   definition (omitted optional fields are reset) → `AssociationDescription` with the
//!   next `AssociationVersion`; an unknown id → 400 `{"__type":"AssociationDoesNotExist"}`.
//! - `ListAssociations` (`API_ListAssociations.html`): `{"AssociationFilterList":[{"key":
//!   "AssociationName","value":…}]}` (lower-case keys) → `{"Associations":[{Name,
//!   AssociationId, AssociationVersion, AssociationName, DocumentVersion, Targets,
//!   Overview}]}`.
//! - `DeleteAssociation` (`API_DeleteAssociation.html`): `{AssociationId}` → `{}`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ec2::types::{IamInstanceProfileSpecification, Tag, TagSpecification};
use monitor_reconcile::{plan_apply, plan_destroy, Action, Clients};
use monitor_stack::Stack;
use monitor_testkit::Moto;
use serde_json::{json, Value};
use support::{actions, apply_ok, assert_no_changes, converge, forward, on_big_stack};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

mod support;

/// The associations the stub holds, by id.
type Associations = Arc<Mutex<BTreeMap<String, Value>>>;

fn json_response(status: u16, v: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(v.to_string(), "application/x-amz-json-1.1")
}

fn association(id: &str, version: u64, body: &Value) -> Value {
    json!({
        "AssociationId": id,
        "AssociationVersion": version.to_string(),
        "Name": body["Name"],
        "AssociationName": body["AssociationName"],
        "DocumentVersion": body["DocumentVersion"],
        "Targets": body["Targets"],
        "Parameters": body["Parameters"],
        "MaxConcurrency": body["MaxConcurrency"],
        "MaxErrors": body["MaxErrors"],
        "Overview": {"Status": "Pending", "DetailedStatus": "Creating"},
        "Date": 1_765_080_000.0,
    })
}

/// Starts the SSM stub: associations here, the rest forwarded to moto. Returns the stub
/// and the log of association calls (operation, request body).
async fn ssm_stub(moto: String) -> (MockServer, Associations, Arc<Mutex<Vec<(String, Value)>>>) {
    let server = MockServer::start().await;
    let store: Associations = Arc::default();
    let calls: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let (st, log) = (store.clone(), calls.clone());
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(move |req: &Request| {
            let target = req
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let op = target.trim_start_matches("AmazonSSM.");
            if op == "DescribeInstanceInformation" {
                // Every asked-for instance's agent is online (contract: ssm_contract.rs).
                let body: Value = serde_json::from_slice(&req.body).unwrap();
                let list: Vec<Value> = body["Filters"][0]["Values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|id| json!({"InstanceId": id, "PingStatus": "Online", "ResourceType": "EC2Instance"}))
                    .collect();
                return json_response(200, &json!({"InstanceInformationList": list}));
            }
            if !op.ends_with("Association") && op != "ListAssociations" {
                return forward(&moto, req);
            }
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            log.lock().unwrap().push((op.to_string(), body.clone()));
            let mut store = st.lock().unwrap();
            match op {
                "CreateAssociation" => {
                    let id = format!("assoc-{}", store.len() + 1);
                    let a = association(&id, 1, &body);
                    store.insert(id, a.clone());
                    json_response(200, &json!({"AssociationDescription": a}))
                }
                "UpdateAssociation" => {
                    let id = body["AssociationId"].as_str().unwrap().to_string();
                    let Some(cur) = store.get(&id) else {
                        return json_response(400, &json!({"__type": "AssociationDoesNotExist", "Message": "no such association"}));
                    };
                    let v: u64 = cur["AssociationVersion"].as_str().unwrap().parse().unwrap();
                    let a = association(&id, v + 1, &body);
                    store.insert(id, a.clone());
                    json_response(200, &json!({"AssociationDescription": a}))
                }
                "ListAssociations" => {
                    let want = body["AssociationFilterList"][0]["value"].as_str().unwrap_or_default();
                    let list: Vec<Value> = store
                        .values()
                        .filter(|a| a["AssociationName"] == want)
                        .cloned()
                        .collect();
                    json_response(200, &json!({"Associations": list}))
                }
                "DeleteAssociation" => {
                    let id = body["AssociationId"].as_str().unwrap();
                    match store.remove(id) {
                        Some(_) => json_response(200, &json!({})),
                        None => json_response(400, &json!({"__type": "AssociationDoesNotExist", "Message": "no such association"})),
                    }
                }
                other => json_response(400, &json!({"__type": "InvalidAction", "Message": format!("{other} is not stubbed")})),
            }
        })
        .mount(&server)
        .await;
    (server, store, calls)
}

struct World {
    _moto: Moto,
    _stub: MockServer,
    clients: Clients,
    associations: Associations,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn start() -> World {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let mut clients = support::clients(&moto.endpoint()).await;
    let (stub, associations, calls) = ssm_stub(moto.endpoint()).await;
    clients.ssm = aws_sdk_ssm::Client::new(&support::sdk_for(&stub.uri()).await);
    World {
        _moto: moto,
        _stub: stub,
        clients,
        associations,
        calls,
    }
}

fn stack(extra: &str) -> Stack {
    monitor_stack::from_toml_str(
        &format!(
            r#"name = "ft"
region = "eu-west-1"
[[fleets]]
name = "platform"
select = {{ Team = "platform" }}
labels_from_tags = {{ env = "Environment", role = "Role" }}
labels = {{ team = "platform" }}
{extra}"#
        ),
        "stack.toml".as_ref(),
    )
    .unwrap()
}

/// A running instance with `tags`, and `profile` if given.
async fn launch(c: &Clients, tags: &[(&str, &str)], profile: Option<&str>) -> String {
    let mut spec =
        TagSpecification::builder().resource_type(aws_sdk_ec2::types::ResourceType::Instance);
    for (k, v) in tags {
        spec = spec.tags(Tag::builder().key(*k).value(*v).build());
    }
    let out = c
        .ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .tag_specifications(spec.build())
        .set_iam_instance_profile(
            profile.map(|p| IamInstanceProfileSpecification::builder().name(p).build()),
        )
        .send()
        .await
        .unwrap();
    out.instances()[0].instance_id().unwrap().to_string()
}

/// The team's own role and profile, as a team would have them.
async fn team_role(c: &Clients) {
    c.iam
        .create_role()
        .role_name("team-app")
        .assume_role_policy_document(monitor_reconcile::policy::trust_policy().to_json())
        .send()
        .await
        .unwrap();
    c.iam
        .create_instance_profile()
        .instance_profile_name("team-app")
        .send()
        .await
        .unwrap();
    c.iam
        .add_role_to_instance_profile()
        .instance_profile_name("team-app")
        .role_name("team-app")
        .send()
        .await
        .unwrap();
}

async fn profile_of(c: &Clients, id: &str) -> Option<String> {
    let out = c
        .ec2
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    let i = &out.reservations()[0].instances()[0];
    assert_eq!(
        i.state().and_then(|s| s.name()).map(|s| s.as_str()),
        Some("running")
    );
    i.iam_instance_profile()
        .and_then(|p| p.arn())
        .map(|a| a.rsplit('/').next().unwrap().to_string())
}

async fn attached(c: &Clients, role: &str) -> Vec<String> {
    c.iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .map(|p| p.policy_name().unwrap().to_string())
        .collect()
}

async fn document(c: &Clients) -> (String, Value) {
    let d = c
        .ssm
        .get_document()
        .name("ft-fleet-platform")
        .send()
        .await
        .unwrap();
    (
        d.document_version().unwrap().to_string(),
        serde_json::from_str(d.content().unwrap()).unwrap(),
    )
}

#[test]
fn fleets_enrol_by_tag_respect_foreign_roles_update_in_place_and_destroy_cleanly() {
    on_big_stack(scenario);
}

async fn scenario() {
    let w = start().await;
    let c = &w.clients;
    team_role(c).await;
    let platform = [
        ("Team", "platform"),
        ("Environment", "prod"),
        ("Role", "web"),
    ];
    let a = launch(c, &platform, None).await;
    let b = launch(c, &platform, None).await;
    let foreign = launch(c, &platform, Some("team-app")).await;
    let other = launch(c, &[("Team", "data")], None).await;

    // Plan: the document, the association, the stack's profile for the two members
    // without one; the member on a team's role is listed and skipped.
    let s = stack("");
    let (_, plan) = plan_apply(c, &s).await.unwrap();
    let acts = actions(&plan);
    assert_eq!(acts["ssm_document.ft-fleet-platform"], Action::Create);
    assert_eq!(acts["ssm_association.ft-fleet-platform"], Action::Create);
    assert_eq!(
        acts[&format!("iam_instance_profile_association.{a}")],
        Action::Create
    );
    assert_eq!(
        acts[&format!("iam_instance_profile_association.{b}")],
        Action::Create
    );
    assert!(!acts.contains_key(&format!("iam_instance_profile_association.{foreign}")));
    assert!(!acts.contains_key(&format!("iam_instance_profile_association.{other}")));
    assert!(!acts
        .keys()
        .any(|k| k.starts_with("iam_policy.") || k.contains("team-app")));
    let text = plan.render_text();
    assert!(
        text.contains(&format!(
            "{foreign} has role `team-app`, which the stack does not own: skipped"
        )),
        "{text}"
    );
    assert!(text.contains("attach_to_existing_roles = true"), "{text}");
    assert!(
        text.contains("instance metadata tags are off on")
            && text.contains("modify-instance-metadata-options --instance-metadata-tags enabled"),
        "{text}"
    );
    assert!(
        text.contains("team-app` of") && text.contains("AmazonSSMManagedInstanceCore"),
        "{text}"
    );

    converge(c, &s).await;
    let (version, doc) = document(c).await;
    assert_eq!(version, "1");
    assert_eq!(doc["schemaVersion"], "2.2");
    assert_eq!(
        doc["parameters"]["action"]["allowedValues"],
        json!(["install", "uninstall"])
    );
    {
        let store = w.associations.lock().unwrap();
        assert_eq!(store.len(), 1);
        let assoc = store.values().next().unwrap();
        assert_eq!(assoc["Name"], "ft-fleet-platform");
        assert_eq!(assoc["DocumentVersion"], "$DEFAULT");
        assert_eq!(
            assoc["Targets"],
            json!([{"Key": "tag:Team", "Values": ["platform"]}])
        );
        assert_eq!(assoc["Parameters"], json!({"action": ["install"]}));
    }
    assert_eq!(profile_of(c, &a).await.as_deref(), Some("ft-ec2"));
    assert_eq!(profile_of(c, &b).await.as_deref(), Some("ft-ec2"));
    assert_eq!(profile_of(c, &foreign).await.as_deref(), Some("team-app"));
    assert_eq!(profile_of(c, &other).await, None);
    assert!(attached(c, "team-app").await.is_empty());
    assert_no_changes(c, &s).await;

    // Opt in: the stack's customer-managed host policy goes onto the team's role, and
    // nothing else does.
    let opted = stack("attach_to_existing_roles = true\n");
    let plan = converge(c, &opted).await;
    let acts = actions(&plan);
    assert_eq!(acts["iam_policy.ft-host"], Action::Create);
    assert_eq!(
        acts["iam_role_policy_attachment.team-app/ft-host"],
        Action::Create
    );
    assert!(!acts.keys().any(|k| k.starts_with("ssm_")), "{acts:?}");
    assert_eq!(attached(c, "team-app").await, ["ft-host"]);
    let inline = c
        .iam
        .list_role_policies()
        .role_name("team-app")
        .send()
        .await
        .unwrap();
    assert!(inline.policy_names().is_empty());
    assert_no_changes(c, &opted).await;

    // A new instance gets the tags: the association already targets it (SSM enrols it);
    // apply only gives it the profile.
    let late = launch(c, &platform, None).await;
    let plan = converge(c, &opted).await;
    assert_eq!(
        actions(&plan),
        BTreeMap::from([(
            format!("iam_instance_profile_association.{late}"),
            Action::Create
        )])
    );
    assert_eq!(profile_of(c, &late).await.as_deref(), Some("ft-ec2"));

    // A bootstrap change: a new document version and a re-run, no instance replaced.
    let changed = monitor_stack::from_toml_str(
        &format!(
            "{}\n[collector]\nscrape_interval = \"30s\"\n",
            toml_of(&opted)
        ),
        "stack.toml".as_ref(),
    )
    .unwrap();
    let plan = converge(c, &changed).await;
    let acts = actions(&plan);
    assert_eq!(acts["ssm_document.ft-fleet-platform"], Action::Update);
    assert_eq!(acts["ssm_association.ft-fleet-platform"], Action::Update);
    assert_eq!(acts.len(), 2, "{acts:?}");
    let (version, doc) = document(c).await;
    assert_eq!(version, "2");
    assert!(
        doc.to_string().contains("30s"),
        "the new document carries the new interval"
    );
    {
        let calls = w.calls.lock().unwrap();
        let update = calls
            .iter()
            .find(|(op, _)| op == "UpdateAssociation")
            .unwrap();
        // The whole definition, as UpdateAssociation requires.
        assert_eq!(update.1["Name"], "ft-fleet-platform");
        assert_eq!(
            update.1["Targets"],
            json!([{"Key": "tag:Team", "Values": ["platform"]}])
        );
        assert_eq!(update.1["Parameters"], json!({"action": ["install"]}));
        assert_eq!(update.1["DocumentVersion"], "$DEFAULT");
    }
    for id in [&a, &b, &foreign, &late] {
        assert!(
            profile_of(c, id).await.is_some(),
            "{id} still running, not replaced"
        );
    }
    assert_no_changes(c, &changed).await;

    // An instance loses the fleet's tag: it is in no fleet, so the stack's profile comes
    // off (found through the profile associations, not the tags).
    c.ec2
        .delete_tags()
        .resources(&late)
        .tags(Tag::builder().key("Team").build())
        .send()
        .await
        .unwrap();
    let plan = converge(c, &changed).await;
    assert_eq!(
        actions(&plan),
        BTreeMap::from([(
            format!("iam_instance_profile_association.{late}"),
            Action::Delete
        )])
    );
    assert_eq!(profile_of(c, &late).await, None);
    assert_no_changes(c, &changed).await;

    // Destroy: uninstall through the document, then everything the stack added goes;
    // the instances keep running, the team's role and profile stay.
    let (observed, plan) = plan_destroy(c, &changed).await.unwrap();
    let acts = actions(&plan);
    assert_eq!(acts["ssm_association.ft-fleet-platform"], Action::Delete);
    assert_eq!(acts["ssm_document.ft-fleet-platform"], Action::Delete);
    assert_eq!(acts["iam_policy.ft-host"], Action::Delete);
    for id in [&a, &b] {
        assert_eq!(
            acts[&format!("iam_instance_profile_association.{id}")],
            Action::Delete
        );
    }
    assert!(!acts.contains_key(&format!("iam_instance_profile_association.{foreign}")));
    apply_ok(c, &changed, &observed, &plan).await;
    let commands = c.ssm.list_commands().send().await.unwrap();
    let uninstall = commands
        .commands()
        .iter()
        .find(|cmd| cmd.document_name() == Some("ft-fleet-platform"))
        .expect("the uninstall ran through the fleet's document");
    assert_eq!(
        uninstall.parameters().unwrap()["action"],
        vec!["uninstall".to_string()]
    );
    assert!(w.associations.lock().unwrap().is_empty());
    let gone = c.ssm.get_document().name("ft-fleet-platform").send().await;
    assert!(gone.is_err(), "the document is deleted");
    for id in [&a, &b, &late] {
        assert_eq!(
            profile_of(c, id).await,
            None,
            "{id} keeps running without the stack's profile"
        );
    }
    assert_eq!(profile_of(c, &foreign).await.as_deref(), Some("team-app"));
    assert_eq!(profile_of(c, &other).await, None);
    assert!(attached(c, "team-app").await.is_empty());
    let policy = c
        .iam
        .get_policy()
        .policy_arn("arn:aws:iam::123456789012:policy/ft-host")
        .send()
        .await;
    assert!(policy.is_err(), "the host policy is deleted");
    c.iam.get_role().role_name("team-app").send().await.unwrap();
    let (_, again) = plan_destroy(c, &changed).await.unwrap();
    assert!(!again.has_changes(), "{}", again.render_text());
}

/// The stack text of `s` (fleet and opt-in), for appending sections.
fn toml_of(s: &Stack) -> String {
    format!(
        r#"name = "{}"
region = "{}"
[[fleets]]
name = "platform"
select = {{ Team = "platform" }}
labels_from_tags = {{ env = "Environment", role = "Role" }}
labels = {{ team = "platform" }}
attach_to_existing_roles = {}
"#,
        s.name, s.region, s.fleets[0].attach_to_existing_roles
    )
}
