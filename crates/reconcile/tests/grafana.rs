//! `[grafana] enabled`: plan / apply / destroy with moto for EC2, IAM, AMP, Logs and STS,
//! and two stateful wiremock stubs (`monitor_testkit::grafana_stubs`): the AMG control plane
//! (REST-JSON, shapes from the AMG API reference,
//! <https://docs.aws.amazon.com/grafana/latest/APIReference/>, as in monitor-grafana's
//! `amg_contract.rs`) and the workspace's Grafana HTTP API (grafana/grafana
//! `docs/sources/developers/http_api/`, as in monitor-grafana's `api_contract.rs`).
//!
//! The AMG client is the only one not pointed at moto (moto has no AMG): the test swaps
//! `Clients::grafana` for one built on the wiremock endpoint, the way a user would with
//! `AWS_ENDPOINT_URL_GRAFANA`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use monitor_grafana::amg::Amg;
use monitor_reconcile::apply::{apply, ApplyOptions, NoReporter};
use monitor_reconcile::policy::parse_document;
use monitor_reconcile::{plan_apply, plan_destroy, Action, Clients, Outputs};
use monitor_stack::Stack;
use monitor_testkit::grafana_stubs::{self as stubs, AmgStub, GrafanaStub, SECRET_PREFIX};
use monitor_testkit::Moto;
use serde_json::json;
use wiremock::MockServer;

const ADMINS: &str = "906744f8-0011-70e6-ca9c-1a2b3c4d5e6f";
const VIEWERS: &str = "906744f8-0011-70e6-ca9c-1a2b3c4d5e70";
/// The workspace tag holding the hash of the applied content.
const CONTENT_TAG: &str = "monitor:content-sha256";

fn stack_text() -> String {
    format!(
        r#"name = "gt"
region = "eu-west-1"
[grafana]
enabled = true
admin_group_ids = ["{ADMINS}"]
viewer_group_ids = ["{VIEWERS}"]
[[hosts]]
name = "web-1"
labels = {{ env = "prod", role = "web", team = "platform" }}
"#
    )
}

fn stack() -> Stack {
    monitor_stack::from_toml_str(&stack_text(), "stack.toml".as_ref()).expect("valid stack")
}

// ---------------------------------------------------------------- harness

struct Harness {
    _moto: Moto,
    clients: Clients,
    amg: AmgStub,
    grafana: GrafanaStub,
    grafana_server: MockServer,
    _amg_server: MockServer,
}

async fn start() -> Harness {
    let moto = tokio::task::spawn_blocking(Moto::start)
        .await
        .expect("moto starts");
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    let mut clients = Clients::new(&sdk).expect("clients");
    let (amg, amg_server, grafana, grafana_server) = stubs::start_stubs().await;
    let conf = aws_sdk_grafana::config::Builder::from(&sdk)
        .endpoint_url(amg_server.uri())
        .build();
    clients.grafana = Amg::new(aws_sdk_grafana::Client::from_conf(conf));
    Harness {
        _moto: moto,
        clients,
        amg,
        grafana,
        grafana_server,
        _amg_server: amg_server,
    }
}

fn opts(h: &Harness) -> ApplyOptions {
    ApplyOptions {
        grafana_api_base: Some(h.grafana_server.uri()),
        ..ApplyOptions::for_emulators()
    }
}

fn actions(plan: &monitor_reconcile::Plan) -> BTreeMap<String, Action> {
    plan.changes
        .iter()
        .map(|c| (c.resource.address(), c.action))
        .collect()
}

async fn apply_once(
    h: &Harness,
    stack: &Stack,
) -> monitor_reconcile::Result<monitor_reconcile::Plan> {
    let (observed, plan) = Box::pin(plan_apply(&h.clients, stack)).await?;
    Box::pin(apply(
        &h.clients,
        stack,
        &observed,
        &plan,
        &opts(h),
        &NoReporter,
    ))
    .await?;
    Ok(plan)
}

/// The apply plan only (boxed: the test's future stays small enough for the test thread's
/// stack).
async fn plan_only(h: &Harness, stack: &Stack) -> monitor_reconcile::Plan {
    Box::pin(plan_apply(&h.clients, stack)).await.unwrap().1
}

async fn amp_workspace_arn(clients: &Clients) -> String {
    let out = clients
        .amp
        .list_workspaces()
        .alias("gt")
        .send()
        .await
        .unwrap();
    out.workspaces()[0].arn().to_string()
}

fn assert_tokens_cleaned(h: &Harness) {
    let s = h.amg.0.lock().unwrap();
    assert!(s.tokens_created > 0, "a token was created");
    assert_eq!(s.tokens_created, s.tokens_deleted, "every token deleted");
    assert!(s.tokens.is_empty() && s.service_accounts.is_empty());
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_apply_is_idempotent_cleans_its_token_and_is_destroyed() {
    let h = start().await;
    let stack = stack();

    // ---- first apply: role, policy, workspace (CREATING → ACTIVE), permissions, content.
    let plan = apply_once(&h, &stack).await.expect("first apply");
    let a = actions(&plan);
    assert_eq!(a["grafana_role.gt-grafana"], Action::Create);
    assert_eq!(
        a["grafana_role_policy.gt-grafana/grafana-datasources"],
        Action::Create
    );
    assert_eq!(a["grafana_workspace.gt-grafana"], Action::Create);
    assert_eq!(a["grafana_permissions.gt-grafana"], Action::Update);
    assert_eq!(a["grafana_content.gt-grafana"], Action::Update);
    let text = plan.render_text();
    assert!(
        text.contains("    + grafana_workspace.gt-grafana\n"),
        "{text}"
    );
    // Grafana after AMP, the log group and the hosts.
    let pos = |addr: &str| {
        plan.changes
            .iter()
            .position(|c| c.resource.address() == addr)
            .unwrap()
    };
    assert!(pos("amp_workspace.gt") < pos("grafana_role_policy.gt-grafana/grafana-datasources"));
    assert!(pos("log_group./gt/system") < pos("grafana_workspace.gt-grafana"));
    assert!(pos("grafana_workspace.gt-grafana") < pos("grafana_permissions.gt-grafana"));
    assert!(pos("grafana_permissions.gt-grafana") < pos("grafana_content.gt-grafana"));

    let role = h
        .clients
        .iam
        .get_role()
        .role_name("gt-grafana")
        .send()
        .await
        .unwrap();
    let role_arn = role.role().unwrap().arn().to_string();
    let trust =
        parse_document(role.role().unwrap().assume_role_policy_document().unwrap()).unwrap();
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "grafana.amazonaws.com"
    );
    // The permissions policy: AMP query only on the stack's AMP workspace.
    let pol = h
        .clients
        .iam
        .get_role_policy()
        .role_name("gt-grafana")
        .policy_name("grafana-datasources")
        .send()
        .await
        .unwrap();
    let doc = parse_document(pol.policy_document()).unwrap();
    let amp_arn = amp_workspace_arn(&h.clients).await;
    let amp_stmt = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "AmpQuery")
        .unwrap();
    assert_eq!(amp_stmt["Resource"], json!([amp_arn]));
    assert!(doc["Statement"][1]["Resource"][0]
        .as_str()
        .unwrap()
        .ends_with(":log-group:/gt/system"));

    {
        let s = h.amg.0.lock().unwrap();
        assert_eq!(s.create_bodies.len(), 1);
        let b = &s.create_bodies[0];
        assert_eq!(b["workspaceRoleArn"], json!(role_arn));
        assert_eq!(b["workspaceName"], "gt-grafana");
        assert_eq!(b["authenticationProviders"], json!(["AWS_SSO"]));
        assert_eq!(b["permissionType"], "CUSTOMER_MANAGED");
        assert_eq!(b["grafanaVersion"], "10.4");
        assert_eq!(
            b["tags"],
            json!({"stack": "gt", "managed-by": "monitor-provision"})
        );
        assert!(s.describes >= 2, "waited CREATING → ACTIVE");
        let mut perms = s.permissions.clone();
        perms.sort();
        assert_eq!(
            perms,
            [
                ("ADMIN".to_string(), ADMINS.to_string()),
                ("VIEWER".to_string(), VIEWERS.to_string())
            ]
        );
    }
    assert_tokens_cleaned(&h);
    {
        let g = h.grafana.0.lock().unwrap();
        assert_eq!(g.datasources.len(), 2);
        assert_eq!(g.dashboards.len(), 2);
        assert_eq!(g.folders.len(), 1);
        assert!(g
            .auth
            .iter()
            .all(|a| a.starts_with(&format!("Bearer {SECRET_PREFIX}"))));
        // The AMP datasource points at the stack's AMP workspace.
        let amp_id = amp_arn.rsplit('/').next().unwrap();
        assert!(g.datasources.values().any(|d| d["url"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&format!("/workspaces/{amp_id}/"))));
    }
    assert_eq!(h.grafana.count("POST", "/api/datasources"), 2);
    assert_eq!(h.grafana.count("PUT", "/api/datasources/uid/*"), 0);

    let out = Outputs::from_observed(
        &Box::pin(monitor_reconcile::observe::observe(
            &h.clients,
            &stack,
            monitor_reconcile::observe::Scope::Destroy,
        ))
        .await
        .unwrap(),
    );
    assert_eq!(
        out.grafana_url.as_deref(),
        Some("https://g-0123456789.grafana-workspace.eu-west-1.amazonaws.com")
    );
    assert!(out
        .render_text()
        .contains("grafana_url        = https://g-0123456789"));

    // ---- the content's hash was tagged on the workspace once the content was applied
    // (TagResource), next to the ownership tags it is found by.
    let first_sha = {
        let s = h.amg.0.lock().unwrap();
        assert_eq!(s.tagged.len(), 1, "one TagResource");
        assert!(
            s.tagged[0].starts_with("arn:aws:grafana:eu-west-1:")
                && s.tagged[0].ends_with(":/workspaces/g-0123456789"),
            "{}",
            s.tagged[0]
        );
        let tags = &s.workspace.as_ref().unwrap()["tags"];
        assert_eq!(tags["stack"], "gt");
        assert_eq!(tags["managed-by"], "monitor-provision");
        let sha = tags[CONTENT_TAG].as_str().unwrap().to_string();
        assert_eq!(sha.len(), 64, "{sha}");
        sha
    };

    // ---- plan right after a successful apply: no changes (exit 0); applying it creates
    // no workspace, no token and makes no Grafana API call.
    let plan = plan_only(&h, &stack).await;
    assert!(!plan.has_changes(), "{}", plan.render_text());
    let grafana_calls = h.grafana.0.lock().unwrap().calls.len();
    let tokens = h.amg.0.lock().unwrap().tokens_created;
    let plan = apply_once(&h, &stack).await.expect("second apply");
    assert!(!plan.has_changes(), "{}", plan.render_text());
    {
        let s = h.amg.0.lock().unwrap();
        assert_eq!(s.create_bodies.len(), 1, "no second CreateWorkspace");
        assert_eq!(s.tokens_created, tokens, "no token created");
        assert_eq!(s.tagged.len(), 1, "no second TagResource");
    }
    assert_eq!(
        h.grafana.0.lock().unwrap().calls.len(),
        grafana_calls,
        "no Grafana API call"
    );
    assert_eq!(h.grafana.0.lock().unwrap().datasources.len(), 2);

    // ---- a group removed from stack.toml is revoked; the content is left alone.
    let fewer = monitor_stack::from_toml_str(
        &stack_text().replace(&format!("viewer_group_ids = [\"{VIEWERS}\"]\n"), ""),
        "stack.toml".as_ref(),
    )
    .unwrap();
    let plan = apply_once(&h, &fewer)
        .await
        .expect("apply with fewer groups");
    let a = actions(&plan);
    assert_eq!(a["grafana_permissions.gt-grafana"], Action::Update);
    assert!(!a.contains_key("grafana_content.gt-grafana"), "{a:?}");
    assert_eq!(
        h.amg.0.lock().unwrap().permissions,
        [("ADMIN".to_string(), ADMINS.to_string())]
    );
    assert_eq!(h.grafana.0.lock().unwrap().calls.len(), grafana_calls);

    // ---- the workspace now runs Grafana 12 (upgraded in the console): the AMP
    // datasource changes plugin, so the content differs from what was applied.
    {
        let mut s = h.amg.0.lock().unwrap();
        s.workspace.as_mut().unwrap()["grafanaVersion"] = json!("12.4");
    }
    let plan = plan_only(&h, &fewer).await;
    let content = |plan: &monitor_reconcile::Plan| {
        plan.changes
            .iter()
            .find(|c| c.resource.address() == "grafana_content.gt-grafana")
            .cloned()
    };
    let c = content(&plan).unwrap_or_else(|| panic!("{}", plan.render_text()));
    assert_eq!(c.action, Action::Update);
    assert!(
        c.reason
            .contains("dashboards or datasources changed since the last apply"),
        "{}",
        c.reason
    );
    assert_eq!(plan.changes.len(), 1, "{}", plan.render_text());
    assert!(plan
        .render_text()
        .contains("    ~ grafana_content.gt-grafana (g-0123456789)\n"));

    // ---- a failing content apply still deletes its token, and writes no tag: the
    // change stays pending.
    h.grafana.0.lock().unwrap().fail = true;
    let e = apply_once(&h, &fewer)
        .await
        .expect_err("Grafana answers 500");
    let msg = e.to_string();
    assert!(msg.contains("HTTP 500"), "{msg}");
    assert!(!msg.contains(SECRET_PREFIX), "{msg}");
    assert_tokens_cleaned(&h);
    assert_eq!(
        h.amg.0.lock().unwrap().tagged.len(),
        1,
        "no tag after a failure"
    );
    let plan = plan_only(&h, &fewer).await;
    assert!(content(&plan).is_some(), "{}", plan.render_text());
    h.grafana.0.lock().unwrap().fail = false;

    // ---- applied again: Grafana 12's datasource, a new tag, and no changes after.
    apply_once(&h, &fewer).await.expect("content applied");
    assert_tokens_cleaned(&h);
    assert!(h
        .grafana
        .0
        .lock()
        .unwrap()
        .datasources
        .values()
        .any(|d| d["type"] == "grafana-amazonprometheus-datasource"));
    let second_sha = {
        let s = h.amg.0.lock().unwrap();
        assert_eq!(s.tagged.len(), 2);
        s.workspace.as_ref().unwrap()["tags"][CONTENT_TAG]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_ne!(second_sha, first_sha);
    let plan = plan_only(&h, &fewer).await;
    assert!(!plan.has_changes(), "{}", plan.render_text());

    // ---- a workspace without the tag (content never applied by this tool) is applied.
    {
        let mut s = h.amg.0.lock().unwrap();
        let tags = s.workspace.as_mut().unwrap()["tags"]
            .as_object_mut()
            .unwrap();
        tags.remove(CONTENT_TAG);
    }
    let plan = plan_only(&h, &fewer).await;
    let c = content(&plan).unwrap_or_else(|| panic!("{}", plan.render_text()));
    assert!(c.reason.contains("never applied"), "{}", c.reason);

    // ---- destroy: workspace and role go, before/with the rest.
    let (observed, plan) = Box::pin(plan_destroy(&h.clients, &stack)).await.unwrap();
    let a = actions(&plan);
    assert_eq!(a["grafana_workspace.gt-grafana"], Action::Delete);
    assert_eq!(a["grafana_role.gt-grafana"], Action::Delete);
    let pos = |addr: &str| {
        plan.changes
            .iter()
            .position(|c| c.resource.address() == addr)
            .unwrap()
    };
    assert!(pos("grafana_workspace.gt-grafana") < pos("grafana_role.gt-grafana"));
    Box::pin(apply(
        &h.clients,
        &stack,
        &observed,
        &plan,
        &opts(&h),
        &NoReporter,
    ))
    .await
    .expect("destroy");
    assert!(h.amg.0.lock().unwrap().workspace.is_none());
    assert_eq!(h.amg.0.lock().unwrap().deletes, 1);
    let gone = h
        .clients
        .iam
        .get_role()
        .role_name("gt-grafana")
        .send()
        .await;
    assert!(gone.is_err(), "Grafana role deleted");
    let (_, plan) = Box::pin(plan_destroy(&h.clients, &stack)).await.unwrap();
    assert!(!plan.has_changes(), "{}", plan.render_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_workspace_is_retried_while_the_new_role_propagates() {
    let h = start().await;
    h.amg.0.lock().unwrap().create_failures = 2;
    apply_once(&h, &stack())
        .await
        .expect("apply after 2 refusals");
    let s = h.amg.0.lock().unwrap();
    assert_eq!(s.create_failures, 0);
    assert_eq!(s.create_bodies.len(), 1);
    assert!(s.workspace.is_some());
}

#[tokio::test]
async fn disabled_grafana_plans_nothing_for_grafana() {
    let text = stack_text().replace("enabled = true", "enabled = false");
    let s = monitor_stack::from_toml_str(&text, "stack.toml".as_ref()).unwrap();
    assert!(s.grafana_enabled().is_none());
    let d = monitor_reconcile::desired::desired(&s, "123456789012", None).unwrap();
    assert!(d.grafana.is_none());
    assert_eq!(
        monitor_stack::defaults::GRAFANA_VERSION,
        monitor_grafana::amg::DEFAULT_GRAFANA_VERSION,
        "the stack default and the pinned AMG version must agree"
    );
}

/// `monitor-verify grafana`'s checks (monitor_reconcile::verify) on the state apply left:
/// all pass; a dashboard deleted in Grafana fails with the apply hint; the token used to
/// read the content is deleted like apply's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_grafana_passes_after_apply_and_names_a_missing_dashboard() {
    let h = start().await;
    let stack = stack();
    apply_once(&h, &stack).await.expect("apply");
    let results = Box::pin(monitor_reconcile::verify::verify_grafana(
        &h.clients,
        &stack,
        Some(h.grafana_server.uri()),
    ))
    .await
    .expect("verify");
    let ids: Vec<&str> = results.iter().map(|r| r.check.as_str()).collect();
    for id in [
        "grafana.workspace",
        "grafana.permissions",
        "grafana.datasource",
        "grafana.dashboard",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    assert!(results.iter().all(|r| r.passed()), "{results:#?}");

    h.grafana.0.lock().unwrap().dashboards.clear();
    let results = Box::pin(monitor_reconcile::verify::verify_grafana(
        &h.clients,
        &stack,
        Some(h.grafana_server.uri()),
    ))
    .await
    .expect("verify");
    let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
    assert_eq!(failed.len(), 2, "both dashboards missing: {results:#?}");
    assert!(failed.iter().all(|r| r.check == "grafana.dashboard"
        && r.hint.as_deref() == Some(monitor_grafana::checks::HINT_RUN_APPLY)));
    assert_tokens_cleaned(&h);
}
