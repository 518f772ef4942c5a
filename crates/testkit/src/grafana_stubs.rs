//! Stateful wiremock stubs of the Amazon Managed Grafana control plane and of a
//! workspace's Grafana HTTP API (feature `grafana-stubs`), used by
//! `crates/reconcile/tests/grafana.rs` and `bins/monitor-provision/tests/grafana.rs`.
//! [`start_stubs`] starts both; the tests point the AMG client at the first server
//! (`endpoint_url` or `AWS_ENDPOINT_URL_GRAFANA`) and the Grafana HTTP API base at the
//! second, then read what was called from the shared state.
//!
//! AMG: REST-JSON as in the AMG API reference,
//! <https://docs.aws.amazon.com/grafana/latest/APIReference/> (each route cites its page),
//! the same shapes as monitor-grafana's `amg_contract.rs`. Grafana: grafana/grafana
//! `docs/sources/developers/http_api/` (`folder.md`, `data_source.md`, `dashboard.md`), as
//! in monitor-grafana's `api_contract.rs`.
//!
//! ```no_run
//! # async fn demo() {
//! let (amg, amg_server, grafana, grafana_server) =
//!     monitor_testkit::grafana_stubs::start_stubs().await;
//! println!("AMG at {}, Grafana at {}", amg_server.uri(), grafana_server.uri());
//! // … run apply against them …
//! assert!(amg.0.lock().unwrap().tokens.is_empty());
//! assert_eq!(grafana.count("POST", "/api/dashboards/db"), 0);
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Id of the one workspace the AMG stub creates and describes.
pub const WS: &str = "g-0123456789";
/// Prefix of every service-account token key the AMG stub hands out (followed by the
/// token id), so a test can look for leaked secrets.
pub const SECRET_PREFIX: &str = "glsa_test_secret_";

// ---------------------------------------------------------------- AMG stub

/// What the AMG stub holds and has seen.
#[derive(Default)]
pub struct AmgState {
    /// The workspace description (API_WorkspaceDescription.html), once created.
    pub workspace: Option<Value>,
    /// Bodies of the CreateWorkspace calls, in order.
    pub create_bodies: Vec<Value>,
    /// DescribeWorkspace calls.
    pub describes: usize,
    /// DeleteWorkspace calls.
    pub deletes: usize,
    /// (role, group id).
    pub permissions: Vec<(String, String)>,
    /// Live service accounts: id → name.
    pub service_accounts: BTreeMap<String, String>,
    /// Live tokens: (service account id, token id).
    pub tokens: Vec<(String, String)>,
    /// Tokens created so far.
    pub tokens_created: usize,
    /// Tokens deleted so far.
    pub tokens_deleted: usize,
    /// Last id given to a service account or token.
    pub next_id: u32,
    /// CreateWorkspace calls still to refuse as if the new role had not propagated.
    pub create_failures: usize,
    /// Resource ARNs of the TagResource calls, in order.
    pub tagged: Vec<String>,
}

/// The AMG control-plane stub: a wiremock [`Respond`] over a shared [`AmgState`].
#[derive(Clone, Default)]
pub struct AmgStub(pub Arc<Mutex<AmgState>>);

fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn not_found(what: &str) -> ResponseTemplate {
    ResponseTemplate::new(404)
        .insert_header("x-amzn-ErrorType", "ResourceNotFoundException")
        .set_body_json(json!({"message": format!("{what} not found"), "resourceId": WS, "resourceType": "WORKSPACE"}))
}

impl Respond for AmgStub {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let path = req.url.path().to_string();
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (req.method.as_str(), parts.as_slice()) {
            // API_ListWorkspaces.html: GET /workspaces → {"workspaces": [WorkspaceSummary]}
            ("GET", ["workspaces"]) => {
                let list: Vec<Value> = s.workspace.iter().cloned().collect();
                json_response(200, json!({ "workspaces": list }))
            }
            // API_CreateWorkspace.html: POST /workspaces → 202 {"workspace": WorkspaceDescription}
            ("POST", ["workspaces"]) => {
                if s.create_failures > 0 {
                    s.create_failures -= 1;
                    // Errors: x-amzn-ErrorType + {"message"} (REST-JSON), as AMG answers a
                    // role it cannot use yet.
                    return ResponseTemplate::new(400)
                        .insert_header("x-amzn-ErrorType", "ValidationException")
                        .set_body_json(json!({"message": format!("Unable to assume the role {}", body["workspaceRoleArn"].as_str().unwrap_or_default())}));
                }
                s.create_bodies.push(body.clone());
                let ws = json!({
                    "id": WS,
                    "name": body["workspaceName"],
                    "status": "CREATING",
                    "endpoint": format!("{WS}.grafana-workspace.eu-west-1.amazonaws.com"),
                    "grafanaVersion": body["grafanaVersion"],
                    "created": 1_764_000_000,
                    "modified": 1_764_000_000,
                    "dataSources": body["workspaceDataSources"],
                    "notificationDestinations": body["workspaceNotificationDestinations"],
                    "accountAccessType": body["accountAccessType"],
                    "permissionType": body["permissionType"],
                    "workspaceRoleArn": body["workspaceRoleArn"],
                    "authentication": {"providers": body["authenticationProviders"]},
                    "tags": body["tags"],
                });
                s.workspace = Some(ws.clone());
                json_response(202, json!({ "workspace": ws }))
            }
            // API_DescribeWorkspace.html: GET /workspaces/{id}; CREATING once, then ACTIVE.
            ("GET", ["workspaces", _]) => {
                s.describes += 1;
                let Some(ws) = s.workspace.clone() else {
                    return not_found("workspace");
                };
                if ws["status"] == "CREATING" {
                    if let Some(w) = s.workspace.as_mut() {
                        w["status"] = json!("ACTIVE");
                    }
                }
                json_response(200, json!({ "workspace": ws }))
            }
            // API_DeleteWorkspace.html: DELETE /workspaces/{id} → 202 {"workspace": …}
            ("DELETE", ["workspaces", _]) => {
                s.deletes += 1;
                match s.workspace.take() {
                    Some(mut ws) => {
                        ws["status"] = json!("DELETING");
                        json_response(202, json!({ "workspace": ws }))
                    }
                    None => not_found("workspace"),
                }
            }
            // API_ListPermissions.html: GET /workspaces/{id}/permissions?userType=SSO_GROUP
            ("GET", ["workspaces", _, "permissions"]) => {
                let list: Vec<Value> = s
                    .permissions
                    .iter()
                    .map(|(r, g)| json!({"role": r, "user": {"id": g, "type": "SSO_GROUP"}}))
                    .collect();
                json_response(200, json!({ "permissions": list }))
            }
            // API_UpdatePermissions.html: PATCH … {"updateInstructionBatch"} → 200 {"errors": []}
            ("PATCH", ["workspaces", _, "permissions"]) => {
                for ins in body["updateInstructionBatch"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let role = ins["role"].as_str().unwrap_or_default().to_string();
                    for u in ins["users"].as_array().into_iter().flatten() {
                        let id = u["id"].as_str().unwrap_or_default().to_string();
                        s.permissions.retain(|(_, g)| *g != id);
                        if ins["action"] == "ADD" {
                            s.permissions.push((role.clone(), id));
                        }
                    }
                }
                json_response(200, json!({"errors": []}))
            }
            // API_ListWorkspaceServiceAccounts.html
            ("GET", ["workspaces", _, "serviceaccounts"]) => {
                let list: Vec<Value> = s
                    .service_accounts
                    .iter()
                    .map(|(id, n)| json!({"id": id, "name": n, "grafanaRole": "ADMIN", "isDisabled": "false"}))
                    .collect();
                json_response(200, json!({"workspaceId": WS, "serviceAccounts": list}))
            }
            // API_CreateWorkspaceServiceAccount.html
            ("POST", ["workspaces", _, "serviceaccounts"]) => {
                s.next_id += 1;
                let id = s.next_id.to_string();
                let name = body["name"].as_str().unwrap_or_default().to_string();
                s.service_accounts.insert(id.clone(), name.clone());
                json_response(
                    200,
                    json!({"id": id, "name": name, "grafanaRole": body["grafanaRole"], "workspaceId": WS}),
                )
            }
            // API_CreateWorkspaceServiceAccountToken.html
            ("POST", ["workspaces", _, "serviceaccounts", sa, "tokens"]) => {
                s.next_id += 1;
                let id = s.next_id.to_string();
                s.tokens.push((sa.to_string(), id.clone()));
                s.tokens_created += 1;
                json_response(
                    200,
                    json!({
                        "serviceAccountId": sa,
                        "serviceAccountToken": {"id": id, "key": format!("{SECRET_PREFIX}{id}"), "name": body["name"]},
                        "workspaceId": WS
                    }),
                )
            }
            // API_DeleteWorkspaceServiceAccountToken.html
            ("DELETE", ["workspaces", _, "serviceaccounts", sa, "tokens", t]) => {
                let before = s.tokens.len();
                s.tokens.retain(|(a, b)| !(a == sa && b == t));
                if s.tokens.len() == before {
                    return not_found("token");
                }
                s.tokens_deleted += 1;
                json_response(
                    200,
                    json!({"serviceAccountId": sa, "tokenId": t, "workspaceId": WS}),
                )
            }
            // API_DeleteWorkspaceServiceAccount.html
            ("DELETE", ["workspaces", _, "serviceaccounts", sa]) => {
                if s.service_accounts.remove(*sa).is_none() {
                    return not_found("service account");
                }
                json_response(200, json!({"serviceAccountId": sa, "workspaceId": WS}))
            }
            // API_TagResource.html: POST /tags/{resourceArn} {"tags": {…}} → 200 {}; the
            // tags come back from ListWorkspaces and DescribeWorkspace.
            ("POST", ["tags", arn]) => {
                let arn = arn
                    .replace("%3A", ":")
                    .replace("%3a", ":")
                    .replace("%2F", "/")
                    .replace("%2f", "/");
                if !arn.ends_with(&format!(":/workspaces/{WS}")) {
                    return not_found("resource");
                }
                let Some(ws) = s.workspace.as_mut() else {
                    return not_found("workspace");
                };
                if !ws["tags"].is_object() {
                    ws["tags"] = json!({});
                }
                for (k, v) in body["tags"].as_object().into_iter().flatten() {
                    ws["tags"][k] = v.clone();
                }
                s.tagged.push(arn);
                json_response(200, json!({}))
            }
            _ => ResponseTemplate::new(400)
                .insert_header("x-amzn-ErrorType", "ValidationException")
                .set_body_json(json!({"message": format!("unexpected {} {path}", req.method)})),
        }
    }
}

// ---------------------------------------------------------------- Grafana HTTP API stub

/// What the Grafana HTTP API stub holds and has seen.
#[derive(Default)]
pub struct GrafanaState {
    /// Folders: uid → title.
    pub folders: BTreeMap<String, String>,
    /// Datasources: uid → the body last sent.
    pub datasources: BTreeMap<String, Value>,
    /// Dashboards: uid → version.
    pub dashboards: BTreeMap<String, u64>,
    /// Folder uid of each saved dashboard (`folderUid` of the save request).
    pub dashboard_folders: BTreeMap<String, String>,
    /// (method, path) of every request.
    pub calls: Vec<(String, String)>,
    /// Authorization headers seen.
    pub auth: Vec<String>,
    /// Answer every request with a 500.
    pub fail: bool,
}

/// The Grafana HTTP API stub: a wiremock [`Respond`] over a shared [`GrafanaState`].
#[derive(Clone, Default)]
pub struct GrafanaStub(pub Arc<Mutex<GrafanaState>>);

impl GrafanaStub {
    /// Requests seen with method `m` and path `p` (a trailing `*` in `p` matches any
    /// rest of the path).
    pub fn count(&self, m: &str, p: &str) -> usize {
        let s = self.0.lock().unwrap();
        s.calls
            .iter()
            .filter(|(a, b)| {
                a == m && (b == p || (p.ends_with('*') && b.starts_with(&p[..p.len() - 1])))
            })
            .count()
    }
}

impl Respond for GrafanaStub {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let path = req.url.path().to_string();
        s.calls.push((req.method.to_string(), path.clone()));
        s.auth.push(
            req.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
        );
        if s.fail {
            return json_response(500, json!({"message": "internal error"}));
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (req.method.as_str(), parts.as_slice()) {
            // folder.md
            ("GET", ["api", "folders", uid]) => match s.folders.get(*uid) {
                Some(t) => {
                    json_response(200, json!({"id": 5, "uid": uid, "title": t, "version": 1}))
                }
                None => json_response(404, json!({"message": "folder not found"})),
            },
            ("POST", ["api", "folders"]) => {
                let uid = body["uid"].as_str().unwrap_or_default().to_string();
                let title = body["title"].as_str().unwrap_or_default().to_string();
                s.folders.insert(uid.clone(), title.clone());
                json_response(
                    200,
                    json!({"id": 5, "uid": uid, "title": title, "version": 1}),
                )
            }
            // data_source.md
            ("GET", ["api", "datasources", "uid", uid, "health"]) => {
                if s.datasources.contains_key(*uid) {
                    json_response(
                        200,
                        json!({"status": "OK", "message": "Data source is working"}),
                    )
                } else {
                    json_response(404, json!({"message": "Data source not found"}))
                }
            }
            // data_source.md "Data source proxy calls": GET /api/datasources/proxy/uid/:uid/*;
            // for the Alertmanager datasource, the Alertmanager v2 API's GET /api/v2/status.
            ("GET", ["api", "datasources", "proxy", "uid", uid, "api", "v2", "status"]) => {
                if s.datasources.contains_key(*uid) {
                    json_response(
                        200,
                        json!({"cluster": {"status": "ready"}, "config": {"original": ""}, "versionInfo": {}}),
                    )
                } else {
                    json_response(404, json!({"message": "Data source not found"}))
                }
            }
            ("GET", ["api", "datasources", "uid", uid]) => match s.datasources.get(*uid) {
                Some(d) => json_response(200, d.clone()),
                None => json_response(404, json!({"message": "Data source not found"})),
            },
            ("POST", ["api", "datasources"]) => {
                let uid = body["uid"].as_str().unwrap_or_default().to_string();
                if s.datasources.values().any(|d| d["name"] == body["name"]) {
                    return json_response(
                        409,
                        json!({"message": "data source with the same name already exists"}),
                    );
                }
                s.datasources.insert(uid, body.clone());
                json_response(
                    200,
                    json!({"id": 1, "message": "Datasource added", "datasource": body}),
                )
            }
            ("PUT", ["api", "datasources", "uid", uid]) => {
                s.datasources.insert(uid.to_string(), body.clone());
                json_response(
                    200,
                    json!({"id": 1, "message": "Datasource updated", "datasource": body}),
                )
            }
            // dashboard.md
            ("POST", ["api", "dashboards", "db"]) => {
                let uid = body["dashboard"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let folder = body["folderUid"].as_str().unwrap_or_default().to_string();
                s.dashboard_folders.insert(uid.clone(), folder);
                let v = s.dashboards.entry(uid.clone()).or_insert(0);
                *v += 1;
                let version = *v;
                json_response(
                    200,
                    json!({"id": 10, "uid": uid, "url": format!("/d/{uid}/x"), "status": "success", "version": version, "slug": "x"}),
                )
            }
            // dashboard.md: GET /api/dashboards/uid/:uid → {dashboard, meta{folderUid}}
            ("GET", ["api", "dashboards", "uid", uid]) => match s.dashboards.get(*uid) {
                Some(v) => json_response(
                    200,
                    json!({"dashboard": {"uid": uid, "title": "x", "version": v},
                           "meta": {"folderUid": s.dashboard_folders.get(*uid).cloned().unwrap_or_default()}}),
                ),
                None => json_response(404, json!({"message": "Dashboard not found"})),
            },
            _ => json_response(404, json!({"message": "Not found"})),
        }
    }
}

/// Starts both stubs: `(amg state, amg server, grafana state, grafana server)`.
pub async fn start_stubs() -> (AmgStub, MockServer, GrafanaStub, MockServer) {
    let amg = AmgStub::default();
    let amg_server = serve(amg.clone()).await;
    let grafana = GrafanaStub::default();
    let grafana_server = serve(grafana.clone()).await;
    (amg, amg_server, grafana, grafana_server)
}

/// A mock server answering every request with `stub`.
async fn serve(stub: impl Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(stub).mount(&server).await;
    server
}
