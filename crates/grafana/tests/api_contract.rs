//! Grafana HTTP API contract tests (wiremock). Paths, methods, bodies and the auth header
//! follow grafana/grafana `docs/sources/developers/http_api/` — `folder.md`,
//! `data_source.md`, `dashboard.md`, `dashboard_import` (pkg/services/dashboardimport) —
//! and the AMP datasource shape of `docs/sources/datasources/prometheus/configure/aws-authentication.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers, not only #[test] fns

use monitor_checks::Status;
use monitor_grafana::api::{
    apply_content, datasource_uids, ContentSpec, GrafanaClient, GrafanaToken, StackContent,
};
use monitor_grafana::checks;
use monitor_grafana::Error;
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "glsa_test_token_0123456789";
const STACK: &str = "monitoring-test";
const FOLDER: &str = "monitoring-test-folder";
const AMP_URL: &str = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/";

fn spec(version: &str) -> ContentSpec {
    spec_with(version, false)
}

fn spec_with(version: &str, alerting: bool) -> ContentSpec {
    ContentSpec::for_stack(&StackContent {
        stack_name: STACK.into(),
        region: "eu-west-1".into(),
        grafana_version: version.into(),
        prometheus_endpoint: AMP_URL.into(),
        log_group_name: "/monitoring-test/system".into(),
        log_group_arn: "arn:aws:logs:eu-west-1:123456789012:log-group:/monitoring-test/system:*"
            .into(),
        alerting,
    })
}

fn client(server: &MockServer) -> GrafanaClient {
    GrafanaClient::new(&server.uri(), GrafanaToken::new(TOKEN)).unwrap()
}

fn bearer() -> wiremock::matchers::HeaderExactMatcher {
    header("authorization", format!("Bearer {TOKEN}").as_str())
}

/// Stubs of a Grafana that has nothing yet on the first GET of each object and has it
/// afterwards (404 once, then 200), i.e. the state a real Grafana goes through.
async fn mount_grafana(server: &MockServer, health: ResponseTemplate) {
    let (amp, cw) = datasource_uids(STACK);
    // folder.md: GET /api/folders/:uid → 404 "folder not found", then 200 {uid,title,...}
    Mock::given(method("GET"))
        .and(path(format!("/api/folders/{FOLDER}")))
        .and(bearer())
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"message": "folder not found", "status": "not-found"})),
        )
        .up_to_n_times(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/folders/{FOLDER}")))
        .and(bearer())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 5, "uid": FOLDER, "title": STACK, "version": 1})),
        )
        .mount(server)
        .await;
    // folder.md: POST /api/folders {uid, title} → 200 folder
    Mock::given(method("POST"))
        .and(path("/api/folders"))
        .and(bearer())
        .and(body_partial_json(json!({"uid": FOLDER, "title": STACK})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 5, "uid": FOLDER, "title": STACK, "version": 1})),
        )
        .expect(1)
        .named("create folder once")
        .mount(server)
        .await;
    for uid in [&amp, &cw] {
        // data_source.md: GET /api/datasources/uid/:uid → 404 {"message":"Data source not found"}
        Mock::given(method("GET"))
            .and(path(format!("/api/datasources/uid/{uid}")))
            .and(bearer())
            .respond_with(
                ResponseTemplate::new(404)
                    .set_body_json(json!({"message": "Data source not found"})),
            )
            .up_to_n_times(1)
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/api/datasources/uid/{uid}")))
            .and(bearer())
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": 1, "uid": uid, "name": "x", "type": "prometheus"})),
            )
            .mount(server)
            .await;
        // data_source.md: POST /api/datasources → 200 {"datasource": {...}, "id", "message": "Datasource added"}
        Mock::given(method("POST"))
            .and(path("/api/datasources"))
            .and(bearer())
            .and(body_partial_json(json!({"uid": uid})))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": 1, "message": "Datasource added", "name": "x"})),
            )
            .expect(1)
            .named("create each datasource once")
            .mount(server)
            .await;
        // data_source.md: PUT /api/datasources/uid/:uid → 200 {"message": "Datasource updated"}
        Mock::given(method("PUT"))
            .and(path(format!("/api/datasources/uid/{uid}")))
            .and(bearer())
            .and(body_partial_json(json!({"uid": uid})))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"id": 1, "message": "Datasource updated", "name": "x"})),
            )
            .mount(server)
            .await;
        // data_source.md: GET /api/datasources/uid/:uid/health
        Mock::given(method("GET"))
            .and(path(format!("/api/datasources/uid/{uid}/health")))
            .and(bearer())
            .respond_with(health.clone())
            .mount(server)
            .await;
    }
    // dashboard.md: POST /api/dashboards/db {dashboard, folderUid, overwrite} → {id, uid, url, status, version, slug}
    Mock::given(method("POST"))
        .and(path("/api/dashboards/db"))
        .and(bearer())
        .and(body_partial_json(json!({"folderUid": FOLDER, "overwrite": true, "dashboard": {"id": null}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 10, "uid": "monitoring-test-hosts", "url": "/d/monitoring-test-hosts/hosts", "status": "success", "version": 1, "slug": "hosts"
        })))
        .mount(server)
        .await;
}

fn ok_health() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"status": "OK", "message": "Successfully queried the Prometheus API."}),
    )
}

async fn requests(server: &MockServer, m: &str, p: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == m && r.url.path() == p)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

#[tokio::test]
async fn first_apply_creates_and_second_apply_updates_without_duplicates() {
    let server = MockServer::start().await;
    mount_grafana(&server, ok_health()).await;
    let c = client(&server);
    let s = spec("10.4");

    let first = apply_content(&c, &s).await.unwrap();
    assert_eq!(format!("{:?}", first.folder), "Created");
    assert!(first
        .datasources
        .iter()
        .all(|(_, ch, h)| format!("{ch:?}") == "Created" && h.is_ok()));
    assert_eq!(first.dashboards.len(), 2);

    let second = apply_content(&c, &s).await.unwrap();
    assert_eq!(format!("{:?}", second.folder), "Unchanged");
    assert!(second
        .datasources
        .iter()
        .all(|(_, ch, _)| format!("{ch:?}") == "Updated"));

    // One POST per object over both runs (expect(1) above), the second run PUT instead.
    let (amp, cw) = datasource_uids(STACK);
    assert_eq!(requests(&server, "POST", "/api/datasources").await.len(), 2);
    assert_eq!(
        requests(&server, "PUT", &format!("/api/datasources/uid/{amp}"))
            .await
            .len(),
        1
    );
    assert_eq!(
        requests(&server, "PUT", &format!("/api/datasources/uid/{cw}"))
            .await
            .len(),
        1
    );
    assert_eq!(
        requests(
            &server,
            "GET",
            &format!("/api/datasources/uid/{amp}/health")
        )
        .await
        .len(),
        2
    );

    // Dashboards: saved by uid with overwrite into the folder every time (4 saves, 2 uids).
    let saves = requests(&server, "POST", "/api/dashboards/db").await;
    assert_eq!(saves.len(), 4);
    let mut uids: Vec<&str> = saves
        .iter()
        .map(|b| b["dashboard"]["uid"].as_str().unwrap())
        .collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids, ["monitoring-test-hosts", "monitoring-test-logs"]);
    for b in &saves {
        assert_eq!(b["folderUid"], FOLDER, "gotcha 21: always send folderUid");
        assert_eq!(b["overwrite"], true);
    }

    // Every request carried the bearer token.
    for r in server.received_requests().await.unwrap() {
        assert_eq!(
            r.headers.get("authorization").unwrap().to_str().unwrap(),
            format!("Bearer {TOKEN}")
        );
    }
    server.verify().await;
}

#[tokio::test]
async fn datasource_bodies_match_the_docs() {
    let server = MockServer::start().await;
    mount_grafana(&server, ok_health()).await;
    apply_content(&client(&server), &spec("10.4"))
        .await
        .unwrap();
    let (amp, cw) = datasource_uids(STACK);
    let posts = requests(&server, "POST", "/api/datasources").await;
    let amp_body = posts.iter().find(|b| b["uid"] == amp.as_str()).unwrap();
    assert_eq!(
        amp_body,
        &json!({
            "uid": amp, "name": "monitoring-test AMP", "type": "prometheus", "access": "proxy",
            "url": AMP_URL, "isDefault": true,
            "jsonData": {"httpMethod": "POST", "sigV4Auth": true, "sigV4AuthType": "ec2_iam_role", "sigV4Region": "eu-west-1"}
        })
    );
    let cw_body = posts.iter().find(|b| b["uid"] == cw.as_str()).unwrap();
    assert_eq!(cw_body["type"], "cloudwatch");
    assert_eq!(
        cw_body["jsonData"],
        json!({"authType": "ec2_iam_role", "defaultRegion": "eu-west-1"})
    );
}

#[tokio::test]
async fn grafana_12_uses_the_amazon_prometheus_plugin_everywhere() {
    let server = MockServer::start().await;
    mount_grafana(&server, ok_health()).await;
    apply_content(&client(&server), &spec("12.4"))
        .await
        .unwrap();
    let (amp, _) = datasource_uids(STACK);
    let posts = requests(&server, "POST", "/api/datasources").await;
    let amp_body = posts.iter().find(|b| b["uid"] == amp.as_str()).unwrap();
    assert_eq!(amp_body["type"], "grafana-amazonprometheus-datasource");
    assert_eq!(amp_body["jsonData"]["sigV4AuthType"], "ec2_iam_role");
    let saves = requests(&server, "POST", "/api/dashboards/db").await;
    let hosts = saves
        .iter()
        .find(|b| b["dashboard"]["uid"] == "monitoring-test-hosts")
        .unwrap();
    let text = hosts.to_string();
    assert!(
        !text.contains("\"type\":\"prometheus\""),
        "core prometheus type left in the dashboard"
    );
    assert_eq!(
        hosts["dashboard"]["templating"]["list"][0]["query"],
        "grafana-amazonprometheus-datasource"
    );
}

#[tokio::test]
async fn failed_health_check_stops_the_apply_with_the_iam_hint() {
    let server = MockServer::start().await;
    // data_source.md: a failing check answers 400 {"status":"ERROR","message":...}
    let bad = ResponseTemplate::new(400).set_body_json(json!({
        "status": "ERROR",
        "message": "Prometheus: 403 Forbidden: User is not authorized to perform: aps:QueryMetrics"
    }));
    mount_grafana(&server, bad).await;
    let e = apply_content(&client(&server), &spec("10.4"))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::DatasourceUnhealthy { .. }), "{text}");
    assert!(text.contains("403 Forbidden"), "{text}");
    assert!(
        text.contains("workspace IAM role probably lacks AMP query permissions"),
        "{text}"
    );
    // No dashboard is written over a datasource that cannot answer.
    assert!(requests(&server, "POST", "/api/dashboards/db")
        .await
        .is_empty());
    // The apply stopped at the first datasource: drop the "create each once" expectations.
    server.reset().await;
}

#[tokio::test]
async fn rejected_token_gets_a_hint_and_is_not_echoed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "invalid API key"})),
        )
        .mount(&server)
        .await;
    let e = apply_content(&client(&server), &spec("10.4"))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("HTTP 401") && text.contains("expired or was deleted"),
        "{text}"
    );
    assert!(!text.contains(TOKEN) && !format!("{e:?}").contains(TOKEN));
}

#[tokio::test]
async fn folder_title_drift_is_fixed_with_put() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/folders/{FOLDER}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"uid": FOLDER, "title": "renamed by hand"})),
        )
        .mount(&server)
        .await;
    // folder.md: PUT /api/folders/:uid {title, overwrite}
    Mock::given(method("PUT"))
        .and(path(format!("/api/folders/{FOLDER}")))
        .and(body_partial_json(
            json!({"title": STACK, "overwrite": true}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"uid": FOLDER, "title": STACK})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let ch = client(&server).ensure_folder(FOLDER, STACK).await.unwrap();
    assert_eq!(format!("{ch:?}"), "Updated");
}

#[tokio::test]
async fn gnet_import_maps_the_datasource_input() {
    let server = MockServer::start().await;
    // Grafana's grafana.com proxy: GET /api/gnet/dashboards/:id → {"json": dashboard, ...}
    Mock::given(method("GET"))
        .and(path("/api/gnet/dashboards/1860"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"json": {
            "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "pluginId": "prometheus"}],
            "title": "Node Exporter Full", "uid": "rYdddlPWk", "panels": []
        }})))
        .mount(&server)
        .await;
    // dashboard import: POST /api/dashboards/import {dashboard, overwrite, folderUid, inputs}
    Mock::given(method("POST"))
        .and(path("/api/dashboards/import"))
        .and(body_partial_json(json!({
            "overwrite": true, "folderUid": FOLDER,
            "inputs": [{"name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus", "value": "monitoring-test-amp"}]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"uid": "rYdddlPWk", "importedUrl": "/d/rYdddlPWk/node-exporter-full", "version": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let saved = client(&server)
        .import_gnet_dashboard(1860, FOLDER, "monitoring-test-amp", "prometheus")
        .await
        .unwrap();
    assert_eq!(saved.uid, "rYdddlPWk");
}

#[tokio::test]
async fn verify_checks_pass_on_a_good_grafana_and_explain_failures() {
    let s = spec("10.4");
    let (amp, cw) = datasource_uids(STACK);
    let good = MockServer::start().await;
    for ds in &s.datasources {
        Mock::given(method("GET"))
            .and(path(format!("/api/datasources/uid/{}", ds.uid)))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"uid": ds.uid, "type": ds.kind, "url": ds.url})),
            )
            .mount(&good)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(format!("/api/datasources/uid/{amp}/health")))
        .respond_with(ok_health())
        .mount(&good)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/datasources/uid/{cw}/health")))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"status": "ERROR", "message": "AccessDenied: logs:DescribeLogGroups"}),
        ))
        .mount(&good)
        .await;
    // dashboard.md: GET /api/dashboards/uid/:uid → {dashboard, meta {folderUid, ...}}
    Mock::given(method("GET"))
        .and(path("/api/dashboards/uid/monitoring-test-hosts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"dashboard": {"uid": "monitoring-test-hosts", "title": "t", "version": 3}, "meta": {"folderUid": FOLDER}})))
        .mount(&good)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/dashboards/uid/monitoring-test-logs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"dashboard": {"uid": "monitoring-test-logs", "title": "t", "version": 1}, "meta": {"folderUid": ""}})))
        .mount(&good)
        .await;
    let r = checks::check_content(&client(&good), &s).await;
    let status: Vec<(&str, Status)> = r.iter().map(|c| (c.check.as_str(), c.status)).collect();
    assert_eq!(
        status,
        [
            (checks::GRAFANA_DATASOURCE, Status::Pass),
            (checks::GRAFANA_DATASOURCE, Status::Fail),
            (checks::GRAFANA_DASHBOARD, Status::Pass),
            (checks::GRAFANA_DASHBOARD, Status::Fail),
        ]
    );
    assert!(r[1]
        .hint
        .as_deref()
        .unwrap()
        .contains("CloudWatch read permissions"));
    assert!(r[3].hint.as_deref().unwrap().contains("folderUid"));

    // Nothing there at all: every check fails with "run apply".
    let empty = MockServer::start().await;
    let r = checks::check_content(&client(&empty), &s).await;
    assert!(
        r.iter()
            .all(|c| c.status == Status::Fail && c.hint.as_deref() == Some(checks::HINT_RUN_APPLY)),
        "{r:#?}"
    );
}

/// With `[alerting]`: an Alertmanager datasource for AMP's Alertmanager is created first
/// and checked through the datasource proxy (`GET /api/datasources/proxy/uid/:uid/*`,
/// data_source.md; the Alertmanager plugin has no backend health endpoint), and the AMP
/// datasource manages alerts and links to it.
#[tokio::test]
async fn alerting_adds_an_alertmanager_datasource_checked_through_the_proxy() {
    let server = MockServer::start().await;
    mount_grafana(&server, ok_health()).await;
    let am = monitor_grafana::api::alertmanager_uid(STACK);
    Mock::given(method("GET"))
        .and(path(format!("/api/datasources/uid/{am}")))
        .and(bearer())
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"message": "Data source not found"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/datasources"))
        .and(bearer())
        .and(body_partial_json(json!({"uid": am})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 3, "message": "Datasource added", "name": "x"})),
        )
        .mount(&server)
        .await;
    // The proxied Alertmanager v2 API: GET /api/v2/status → 200 {cluster, config, uptime, versionInfo}
    let status_path = format!("/api/datasources/proxy/uid/{am}/api/v2/status");
    Mock::given(method("GET"))
        .and(path(status_path.as_str()))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"cluster": {"status": "ready"}, "config": {"original": ""}, "uptime": "2026-12-02T00:00:00Z", "versionInfo": {}}),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let s = spec_with("10.4", true);
    assert_eq!(s.datasources.len(), 3);
    let report = apply_content(&client(&server), &s).await.unwrap();
    assert_eq!(report.datasources[0].0, am);
    let posts = requests(&server, "POST", "/api/datasources").await;
    let body = |uid: &str| posts.iter().find(|b| b["uid"] == uid).cloned().unwrap();
    let am_body = body(&am);
    assert_eq!(am_body["type"], "alertmanager");
    assert_eq!(
        am_body["url"],
        "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/alertmanager"
    );
    assert_eq!(am_body["jsonData"]["implementation"], "prometheus");
    assert_eq!(am_body["jsonData"]["sigV4Auth"], true);
    let (amp, _) = datasource_uids(STACK);
    let amp_body = body(&amp);
    assert_eq!(amp_body["jsonData"]["manageAlerts"], true);
    assert_eq!(amp_body["jsonData"]["alertmanagerUid"], am.as_str());
    assert_eq!(requests(&server, "GET", &status_path).await.len(), 1);

    // AMP refusing the workspace role (403 through the proxy) stops the apply with the
    // IAM hint naming the Alertmanager read actions.
    Mock::given(method("GET"))
        .and(path(status_path.as_str()))
        .respond_with(
            ResponseTemplate::new(403).set_body_string("{\"message\":\"User is not authorized\"}"),
        )
        .mount(&server)
        .await;
    let e = apply_content(&client(&server), &s).await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::DatasourceUnhealthy { .. }), "{text}");
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(text.contains("aps:GetAlertManagerStatus"), "{text}");
}
