//! AMG control-plane contract tests: the `aws-sdk-grafana` client pointed at wiremock
//! (`endpoint_url`, static test credentials). Requests and responses are shaped from the
//! AMG API reference, <https://docs.aws.amazon.com/grafana/latest/APIReference/>
//! (REST-JSON, SigV4 signing name `grafana`); each stub cites its page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers, not only #[test] fns

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_grafana::config::{BehaviorVersion, Credentials, Region};
use monitor_grafana::amg::{Amg, RoleAssignments, WorkspaceSpec, TOKEN_TTL};
use monitor_grafana::api::{apply_content, ContentSpec, GrafanaClient, StackContent};
use monitor_grafana::Error;
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const WS: &str = "g-0123456789";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/monitoring-test-grafana-workspace";
const ADMINS: &str = "906744f8-0011-70e6-ca9c-1a2b3c4d5e6f";
const VIEWERS: &str = "906744f8-0011-70e6-ca9c-1a2b3c4d5e70";
const SECRET: &str = "glsa_VerySecretTokenValue_0123456789";

fn amg(server: &MockServer) -> Amg {
    let conf = aws_sdk_grafana::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new(
            "AKIDTEST",
            "test-secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(server.uri())
        .build();
    Amg::new(aws_sdk_grafana::Client::from_conf(conf))
}

fn tags() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("monitor:stack".to_string(), "monitoring-test".to_string()),
        (
            "monitor:managed-by".to_string(),
            "monitor-provision".to_string(),
        ),
    ])
}

/// `WorkspaceDescription` (API_WorkspaceDescription.html): the required members.
fn description(status: &str, tags: &BTreeMap<String, String>) -> Value {
    json!({
        "id": WS,
        "name": "monitoring-test-grafana",
        "status": status,
        "endpoint": format!("{WS}.grafana-workspace.eu-west-1.amazonaws.com"),
        "grafanaVersion": "10.4",
        "created": 1_764_000_000,
        "modified": 1_764_000_100,
        "dataSources": ["PROMETHEUS", "CLOUDWATCH"],
        "notificationDestinations": ["SNS"],
        "accountAccessType": "CURRENT_ACCOUNT",
        "permissionType": "CUSTOMER_MANAGED",
        "workspaceRoleArn": ROLE_ARN,
        "authentication": {"providers": ["AWS_SSO"]},
        "tags": tags,
    })
}

fn assert_sigv4(req: &Request) {
    let auth = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/"),
        "{auth}"
    );
    assert!(
        auth.contains("/eu-west-1/grafana/aws4_request"),
        "signing name must be grafana: {auth}"
    );
}

#[tokio::test]
async fn create_workspace_sends_the_documented_body() {
    let server = MockServer::start().await;
    // https://docs.aws.amazon.com/grafana/latest/APIReference/API_CreateWorkspace.html
    // POST /workspaces → 202 {"workspace": WorkspaceDescription}
    Mock::given(method("POST"))
        .and(path("/workspaces"))
        .and(body_partial_json(json!({
            "accountAccessType": "CURRENT_ACCOUNT",
            "authenticationProviders": ["AWS_SSO"],
            "permissionType": "CUSTOMER_MANAGED",
            "workspaceRoleArn": ROLE_ARN,
            "workspaceName": "monitoring-test-grafana",
            "workspaceDataSources": ["PROMETHEUS", "CLOUDWATCH"],
            "workspaceNotificationDestinations": ["SNS"],
            "grafanaVersion": "10.4",
            "tags": tags(),
        })))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(json!({"workspace": description("CREATING", &tags())})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let spec = WorkspaceSpec::new("monitoring-test", ROLE_ARN, tags());
    let w = amg(&server).create(&spec).await.unwrap();
    assert_eq!(w.id, WS);
    assert_eq!(w.status, aws_sdk_grafana::types::WorkspaceStatus::Creating);

    let reqs = server.received_requests().await.unwrap();
    assert_sigv4(&reqs[0]);
    let body: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    // `configuration` is a JSON *string* (gotcha 14), with unified alerting on.
    let cfg: Value = serde_json::from_str(
        body["configuration"]
            .as_str()
            .expect("configuration is a string"),
    )
    .unwrap();
    assert_eq!(cfg["unifiedAlerting"]["enabled"], true);
    // The SDK adds an idempotency token.
    assert!(body["clientToken"].as_str().is_some_and(|t| !t.is_empty()));
}

#[tokio::test]
async fn service_managed_is_configurable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/workspaces"))
        .and(body_partial_json(
            json!({"permissionType": "SERVICE_MANAGED", "grafanaVersion": "12.4"}),
        ))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(json!({"workspace": description("CREATING", &tags())})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut spec = WorkspaceSpec::new("monitoring-test", ROLE_ARN, tags());
    spec.permission_type = monitor_grafana::amg::PermissionType::ServiceManaged;
    spec.grafana_version = "12.4".into();
    amg(&server).create(&spec).await.unwrap();
}

#[tokio::test]
async fn ensure_finds_the_workspace_by_tags_and_creates_nothing() {
    let server = MockServer::start().await;
    let mut other = tags();
    other.insert("monitor:stack".into(), "another-stack".into());
    let mut other_ws = description("ACTIVE", &other);
    other_ws["id"] = json!("g-9999999999");
    // https://docs.aws.amazon.com/grafana/latest/APIReference/API_ListWorkspaces.html
    // GET /workspaces → {"workspaces": [WorkspaceSummary], "nextToken"}
    Mock::given(method("GET"))
        .and(path("/workspaces"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"workspaces": [other_ws, description("ACTIVE", &tags())]})),
        )
        .mount(&server)
        .await;
    // https://docs.aws.amazon.com/grafana/latest/APIReference/API_DescribeWorkspace.html
    Mock::given(method("GET"))
        .and(path(format!("/workspaces/{WS}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"workspace": description("ACTIVE", &tags())})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/workspaces"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;

    let spec = WorkspaceSpec::new("monitoring-test", ROLE_ARN, tags());
    let (w, created) = amg(&server).ensure(&spec).await.unwrap();
    assert!(!created);
    assert_eq!(w.id, WS);
    assert_eq!(
        w.endpoint,
        format!("{WS}.grafana-workspace.eu-west-1.amazonaws.com")
    );
}

#[tokio::test]
async fn wait_active_polls_with_progress_then_fails_fast_on_creation_failed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/workspaces/{WS}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"workspace": description("CREATING", &tags())})),
        )
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/workspaces/{WS}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"workspace": description("ACTIVE", &tags())})),
        )
        .mount(&server)
        .await;
    let mut seen = Vec::new();
    let w = amg(&server)
        .wait_active(
            WS,
            Duration::from_secs(10),
            Duration::from_millis(10),
            |p| seen.push(p.status.clone()),
        )
        .await
        .unwrap();
    assert_eq!(w.status, aws_sdk_grafana::types::WorkspaceStatus::Active);
    assert_eq!(seen, ["CREATING", "CREATING", "ACTIVE"]);

    let failed = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/workspaces/{WS}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"workspace": description("CREATION_FAILED", &tags())})),
        )
        .mount(&failed)
        .await;
    let e = amg(&failed)
        .wait_active(
            WS,
            Duration::from_secs(10),
            Duration::from_millis(10),
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::WorkspaceFailed { .. }), "{e}");

    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/workspaces/{WS}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"workspace": description("CREATING", &tags())})),
        )
        .mount(&slow)
        .await;
    let e = amg(&slow)
        .wait_active(
            WS,
            Duration::from_millis(100),
            Duration::from_millis(20),
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::WorkspaceTimeout { .. }), "{e}");
}

fn roles() -> RoleAssignments {
    RoleAssignments {
        admin_group_ids: vec![ADMINS.into()],
        editor_group_ids: vec![],
        viewer_group_ids: vec![VIEWERS.into()],
    }
}

#[tokio::test]
async fn update_permissions_sends_one_add_per_role() {
    let server = MockServer::start().await;
    // https://docs.aws.amazon.com/grafana/latest/APIReference/API_UpdatePermissions.html
    // PATCH /workspaces/{workspaceId}/permissions {"updateInstructionBatch": [...]} → 200 {"errors": []}
    Mock::given(method("PATCH"))
        .and(path(format!("/workspaces/{WS}/permissions")))
        .and(body_partial_json(json!({"updateInstructionBatch": [
            {"action": "ADD", "role": "ADMIN", "users": [{"id": ADMINS, "type": "SSO_GROUP"}]},
            {"action": "ADD", "role": "VIEWER", "users": [{"id": VIEWERS, "type": "SSO_GROUP"}]},
        ]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errors": []})))
        .expect(1)
        .mount(&server)
        .await;
    amg(&server)
        .update_permissions(WS, &roles(), false)
        .await
        .unwrap();
    let reqs = server.received_requests().await.unwrap();
    assert_sigv4(&reqs[0]);
}

#[tokio::test]
async fn update_permissions_200_with_errors_is_an_error_with_a_hint() {
    let server = MockServer::start().await;
    // UpdatePermissions reports failed instructions in `errors` of a 200 (gotcha 17):
    // UpdateError {code, message, causedBy: UpdateInstruction}.
    Mock::given(method("PATCH"))
        .and(path(format!("/workspaces/{WS}/permissions")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errors": [{
            "code": 404,
            "message": "Group not found in the identity store",
            "causedBy": {"action": "ADD", "role": "VIEWER", "users": [{"id": VIEWERS, "type": "SSO_GROUP"}]}
        }]})))
        .mount(&server)
        .await;
    let e = amg(&server)
        .update_permissions(WS, &roles(), false)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Permissions { .. }), "{text}");
    assert!(
        text.contains(VIEWERS) && text.contains("ADD VIEWER"),
        "{text}"
    );
    assert!(
        text.contains("Group ID") && text.contains("IAM Identity Center"),
        "{text}"
    );
}

#[tokio::test]
async fn bad_group_ids_fail_before_any_call() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let bad = RoleAssignments {
        admin_group_ids: vec!["Platform Admins".into()],
        ..Default::default()
    };
    let e = amg(&server)
        .update_permissions(WS, &bad, false)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("not an IAM Identity Center group id"),
        "{e}"
    );
}

#[tokio::test]
async fn prune_revokes_groups_no_longer_listed() {
    let server = MockServer::start().await;
    let stale = "906744f8-0011-70e6-ca9c-1a2b3c4d5e71";
    // https://docs.aws.amazon.com/grafana/latest/APIReference/API_ListPermissions.html
    // GET /workspaces/{workspaceId}/permissions?userType=SSO_GROUP → {"permissions": [PermissionEntry]}
    Mock::given(method("GET"))
        .and(path(format!("/workspaces/{WS}/permissions")))
        .and(wiremock::matchers::query_param("userType", "SSO_GROUP"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"permissions": [
                {"role": "ADMIN", "user": {"id": ADMINS, "type": "SSO_GROUP"}},
                {"role": "EDITOR", "user": {"id": stale, "type": "SSO_GROUP"}},
            ]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/workspaces/{WS}/permissions")))
        .and(body_partial_json(json!({"updateInstructionBatch": [
            {"action": "ADD", "role": "ADMIN"},
            {"action": "ADD", "role": "VIEWER"},
            {"action": "REVOKE", "role": "EDITOR", "users": [{"id": stale, "type": "SSO_GROUP"}]},
        ]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errors": []})))
        .expect(1)
        .mount(&server)
        .await;
    amg(&server)
        .update_permissions(WS, &roles(), true)
        .await
        .unwrap();
}

#[tokio::test]
async fn delete_workspace_is_idempotent() {
    let server = MockServer::start().await;
    // https://docs.aws.amazon.com/grafana/latest/APIReference/API_DeleteWorkspace.html
    // DELETE /workspaces/{workspaceId} → 202 {"workspace": WorkspaceDescription}
    Mock::given(method("DELETE"))
        .and(path(format!("/workspaces/{WS}")))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(json!({"workspace": description("DELETING", &tags())})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    // Already gone: ResourceNotFoundException (404, x-amzn-ErrorType) is not an error.
    Mock::given(method("DELETE"))
        .and(path(format!("/workspaces/{WS}")))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("x-amzn-ErrorType", "ResourceNotFoundException")
                .set_body_json(json!({"message": "Workspace not found", "resourceId": WS, "resourceType": "WORKSPACE"})),
        )
        .mount(&server)
        .await;
    let client = amg(&server);
    assert!(client.delete_workspace(WS).await.unwrap());
    assert!(!client.delete_workspace(WS).await.unwrap());
    let reqs = server.received_requests().await.unwrap();
    assert_sigv4(&reqs[0]);
    // Any other error is reported with the operation.
    let other = MockServer::start().await;
    Mock::given(method("DELETE"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-amzn-ErrorType", "AccessDeniedException")
                .set_body_json(json!({"message": "no"})),
        )
        .mount(&other)
        .await;
    let e = amg(&other).delete_workspace(WS).await.unwrap_err();
    assert!(e.to_string().contains("DeleteWorkspace"), "{e}");
}

#[tokio::test]
async fn identity_center_not_enabled_says_what_to_do() {
    let server = MockServer::start().await;
    // Errors: x-amzn-ErrorType header + {"message"} (REST-JSON), ValidationException 400.
    Mock::given(method("POST"))
        .and(path("/workspaces"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("x-amzn-ErrorType", "ValidationException")
                .set_body_json(json!({"message": "AWS SSO is not enabled in this account. Enable IAM Identity Center to use AWS_SSO authentication."})),
        )
        .mount(&server)
        .await;
    let e = amg(&server)
        .create(&WorkspaceSpec::new("monitoring-test", ROLE_ARN, tags()))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("CreateWorkspace") && text.contains("enable it (IAM Identity Center console"),
        "{text}"
    );
}

/// Mounts the service-account + token stubs; returns nothing, expectations verify on drop.
async fn mount_token_stubs(server: &MockServer) {
    // https://docs.aws.amazon.com/grafana/latest/APIReference/API_ListWorkspaceServiceAccounts.html
    // A service account left by an earlier run that died: removed first.
    Mock::given(method("GET"))
        .and(path(format!("/workspaces/{WS}/serviceaccounts")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "workspaceId": WS,
            "serviceAccounts": [
                {"id": "9", "name": "monitor-provision-1700000000", "grafanaRole": "ADMIN", "isDisabled": "false"},
                {"id": "3", "name": "someone-elses", "grafanaRole": "VIEWER", "isDisabled": "false"}
            ]
        })))
        .mount(server)
        .await;
    // https://docs.aws.amazon.com/grafana/latest/APIReference/API_DeleteWorkspaceServiceAccount.html
    Mock::given(method("DELETE"))
        .and(path(format!("/workspaces/{WS}/serviceaccounts/9")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"serviceAccountId": "9", "workspaceId": WS})),
        )
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/workspaces/{WS}/serviceaccounts/3")))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(server)
        .await;
    // https://docs.aws.amazon.com/grafana/latest/APIReference/API_CreateWorkspaceServiceAccount.html
    // POST /workspaces/{workspaceId}/serviceaccounts {"grafanaRole","name"} → {id,name,grafanaRole,workspaceId}
    Mock::given(method("POST"))
        .and(path(format!("/workspaces/{WS}/serviceaccounts")))
        .and(body_partial_json(json!({"grafanaRole": "ADMIN"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "42", "name": "monitor-provision-1", "grafanaRole": "ADMIN", "workspaceId": WS})))
        .expect(1)
        .mount(server)
        .await;
    // https://docs.aws.amazon.com/grafana/latest/APIReference/API_CreateWorkspaceServiceAccountToken.html
    // POST /workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}/tokens {"name","secondsToLive"}
    // → {serviceAccountId, serviceAccountToken {id, key, name}, workspaceId}
    Mock::given(method("POST"))
        .and(path(format!("/workspaces/{WS}/serviceaccounts/42/tokens")))
        .and(body_partial_json(json!({"secondsToLive": 900})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "serviceAccountId": "42",
            "serviceAccountToken": {"id": "7", "key": SECRET, "name": "monitor-provision-1"},
            "workspaceId": WS
        })))
        .expect(1)
        .mount(server)
        .await;
    // https://docs.aws.amazon.com/grafana/latest/APIReference/API_DeleteWorkspaceServiceAccountToken.html
    // DELETE /workspaces/{workspaceId}/serviceaccounts/{serviceAccountId}/tokens/{tokenId}
    Mock::given(method("DELETE"))
        .and(path(format!(
            "/workspaces/{WS}/serviceaccounts/42/tokens/7"
        )))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"serviceAccountId": "42", "tokenId": "7", "workspaceId": WS}),
            ),
        )
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/workspaces/{WS}/serviceaccounts/42")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"serviceAccountId": "42", "workspaceId": WS})),
        )
        .expect(1)
        .mount(server)
        .await;
}

fn content() -> ContentSpec {
    ContentSpec::for_stack(&StackContent {
        stack_name: "monitoring-test".into(),
        region: "eu-west-1".into(),
        grafana_version: "10.4".into(),
        prometheus_endpoint: "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/"
            .into(),
        log_group_name: "/monitoring-test/system".into(),
        log_group_arn: "arn:aws:logs:eu-west-1:123456789012:log-group:/monitoring-test/system"
            .into(),
        alerting: false,
    })
}

#[tokio::test]
async fn token_is_deleted_after_a_failed_content_apply() {
    let aws = MockServer::start().await;
    mount_token_stubs(&aws).await;
    // Grafana fails on the first call of the apply.
    let grafana = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("authorization", format!("Bearer {SECRET}").as_str()))
        .respond_with(
            ResponseTemplate::new(500).set_body_json(json!({"message": "internal error"})),
        )
        .expect(1..)
        .mount(&grafana)
        .await;

    let spec = content();
    let uri = grafana.uri();
    let e = amg(&aws)
        .with_token(WS, TOKEN_TTL, |token| async move {
            let client = GrafanaClient::new(&uri, token)?;
            apply_content(&client, &spec).await
        })
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Api { status: 500, .. }), "{e}");
    assert!(!e.to_string().contains(SECRET) && !format!("{e:?}").contains(SECRET));
    // wiremock verifies on drop: token 7 and service account 42 deleted exactly once,
    // the stale account 9 removed, the foreign account 3 left alone.
    aws.verify().await;
}

#[tokio::test]
async fn token_is_deleted_after_a_successful_run_too() {
    let aws = MockServer::start().await;
    mount_token_stubs(&aws).await;
    let got = amg(&aws)
        .with_token(
            WS,
            TOKEN_TTL,
            |token| async move { Ok(format!("{token:?}")) },
        )
        .await
        .unwrap();
    assert_eq!(got, "***", "the token's Debug must not show the secret");
    aws.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_guard_still_deletes_the_token() {
    let aws = MockServer::start().await;
    mount_token_stubs(&aws).await;
    let tt = amg(&aws).temporary_token(WS, TOKEN_TTL).await.unwrap();
    assert!(!format!("{tt:?}").contains(SECRET));
    drop(tt); // e.g. a panic or an early return between create and finish
    for _ in 0..100 {
        let reqs = aws.received_requests().await.unwrap();
        if reqs
            .iter()
            .filter(|r| r.method.as_str() == "DELETE")
            .count()
            >= 3
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    aws.verify().await;
}

#[tokio::test]
async fn tag_workspace_sends_the_documented_request() {
    let server = MockServer::start().await;
    // https://docs.aws.amazon.com/grafana/latest/APIReference/API_TagResource.html
    // POST /tags/{resourceArn} {"tags": {…}} → 200 {} (the ARN is one URI label,
    // percent-encoded).
    Mock::given(method("POST"))
        .and(path_regex(r"^/tags/arn.+workspaces.+g-0123456789$"))
        .and(body_partial_json(json!({
            "tags": {"monitor:content-sha256": "ab12"}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let arn = monitor_grafana::amg::workspace_arn("eu-west-1", "123456789012", WS);
    assert_eq!(
        arn,
        "arn:aws:grafana:eu-west-1:123456789012:/workspaces/g-0123456789"
    );
    let tags = BTreeMap::from([("monitor:content-sha256".to_string(), "ab12".to_string())]);
    amg(&server).tag_workspace(&arn, &tags).await.unwrap();
    let reqs = server.received_requests().await.unwrap();
    assert_sigv4(&reqs[0]);
    let sent: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(sent, json!({"tags": {"monitor:content-sha256": "ab12"}}));
    let p = reqs[0].url.path().to_lowercase();
    assert!(
        p.contains("arn%3aaws%3agrafana%3aeu-west-1%3a123456789012%3a%2fworkspaces%2fg-0123456789"),
        "the ARN is sent as one encoded label: {p}"
    );

    // Errors name the operation.
    let other = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("x-amzn-ErrorType", "ResourceNotFoundException")
                .set_body_json(json!({"message": "Workspace not found", "resourceId": WS, "resourceType": "WORKSPACE"})),
        )
        .mount(&other)
        .await;
    let e = amg(&other).tag_workspace(&arn, &tags).await.unwrap_err();
    assert!(e.to_string().contains("TagResource"), "{e}");
}
