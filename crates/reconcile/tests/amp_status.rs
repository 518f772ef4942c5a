//! AMP's failure states, which moto never enters: a rule-groups namespace that AMP accepts
//! (202 CREATING) and then marks CREATION_FAILED must stop `apply` with AMP's
//! `statusReason` in the error, instead of waiting for ACTIVE until the timeout.
//!
//! Everything but AMP is moto; AMP is a wiremock stub shaped from the AMP API reference
//! (restJson1, <https://docs.aws.amazon.com/prometheus/latest/APIReference/>):
//! `ListWorkspaces` `GET /workspaces` → `{"workspaces":[WorkspaceSummary]}`;
//! `ListRuleGroupsNamespaces` `GET /workspaces/{id}/rulegroupsnamespaces` →
//! `{"ruleGroupsNamespaces":[]}`; `DescribeAlertManagerDefinition`
//! `GET /workspaces/{id}/alertmanager/definition` → 404 `ResourceNotFoundException`
//! (error type in `x-amzn-ErrorType`); `CreateRuleGroupsNamespace`
//! `POST /workspaces/{id}/rulegroupsnamespaces` → 202 `{arn,name,status,tags}`;
//! `DescribeRuleGroupsNamespace` `GET /workspaces/{id}/rulegroupsnamespaces/{name}` →
//! `{"ruleGroupsNamespace":{arn,createdAt,data,modifiedAt,name,status:{statusCode,statusReason},tags}}`
//! (`API_DescribeRuleGroupsNamespace.html`, `API_RuleGroupsNamespaceStatus.html`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::config::Credentials;
use monitor_reconcile::apply::{apply, ApplyOptions, NoReporter};
use monitor_reconcile::names::Names;
use monitor_reconcile::{plan_apply, Clients};
use monitor_testkit::Moto;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WS: &str = "ws-0a1b2c3d-4e5f-6789-abcd-ef0123456789";
const REASON: &str =
    "Rule group namespace mt: group host: rule HostMemoryHigh: parse error: unexpected identifier";

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await
}

async fn amp_stub(account: &str) -> MockServer {
    let server = MockServer::start().await;
    let ws_arn = format!("arn:aws:aps:eu-west-1:{account}:workspace/{WS}");
    let ns_arn = format!("arn:aws:aps:eu-west-1:{account}:rulegroupsnamespace/{WS}/mt");
    let tags = Names::new("mt").owner_tags();
    Mock::given(method("GET"))
        .and(path("/workspaces"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"workspaces": [{
                "alias": "mt", "arn": ws_arn, "createdAt": 1_700_000_000,
                "status": {"statusCode": "ACTIVE"}, "tags": tags, "workspaceId": WS
            }]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/workspaces/{WS}/rulegroupsnamespaces")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ruleGroupsNamespaces": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/workspaces/{WS}/alertmanager/definition")))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("x-amzn-ErrorType", "ResourceNotFoundException")
                .set_body_json(json!({"message": "Alert manager definition not found",
                    "resourceId": WS, "resourceType": "AlertManagerDefinition"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/workspaces/{WS}/rulegroupsnamespaces")))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "arn": ns_arn, "name": "mt", "status": {"statusCode": "CREATING"}, "tags": tags
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/workspaces/{WS}/rulegroupsnamespaces/mt")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ruleGroupsNamespace": {
                "arn": ns_arn, "createdAt": 1_700_000_100, "data": "Z3JvdXBzOiBbXQo=",
                "modifiedAt": 1_700_000_100, "name": "mt",
                "status": {"statusCode": "CREATION_FAILED", "statusReason": REASON}, "tags": tags
            }})),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_failed_rule_namespace_stops_apply_with_amps_reason() {
    let moto = tokio::task::spawn_blocking(Moto::start)
        .await
        .expect("moto starts");
    let mut clients = Clients::new(&sdk(&moto.endpoint()).await).unwrap();
    let account = clients.account_id().await.unwrap();
    let server = amp_stub(&account).await;
    clients.amp = aws_sdk_amp::Client::new(&sdk(&server.uri()).await);
    let stack = monitor_stack::from_toml_str(
        "name = \"mt\"\nregion = \"eu-west-1\"\n[[hosts]]\nname = \"web-1\"\nlabels = { env = \"prod\", role = \"web\", team = \"core\" }\n[alerting]\nlog_alarms = false\n",
        "stack.toml".as_ref(),
    )
    .unwrap();
    let (observed, plan) = plan_apply(&clients, &stack).await.unwrap();
    let opts = ApplyOptions {
        // Far longer than the test takes: only the failed status can end the wait early.
        wait_timeout: Duration::from_secs(120),
        ..ApplyOptions::for_emulators()
    };
    let started = std::time::Instant::now();
    let err = apply(&clients, &stack, &observed, &plan, &opts, &NoReporter)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CREATION_FAILED") && err.contains(REASON),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "waited for the timeout"
    );
}
