//! A small Grafana HTTP API client (the parts the stack needs) and [`apply_content`], which
//! puts our folder, datasources and dashboards into a Grafana idempotently.
//!
//! Routes follow grafana/grafana `docs/sources/developers/http_api/` (`folder.md`,
//! `data_source.md`, `dashboard.md`): uid routes only (the id routes are deprecated since
//! Grafana 9), datasources upserted by uid (`GET` → `PUT`, or `POST` on 404, since `POST`
//! on an existing name is a 409), dashboards saved with `overwrite: true` and always with
//! `folderUid` (an update without it moves the dashboard to the root folder).

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dashboards::{self, Dashboard};
use crate::error::{Error, Result};

/// A Grafana API token (service-account token). The secret is never printed: `Debug` and
/// `Display` show `***`.
#[derive(Clone)]
pub struct GrafanaToken(String);

impl GrafanaToken {
    /// Wraps a token.
    pub fn new(secret: impl Into<String>) -> GrafanaToken {
        GrafanaToken(secret.into())
    }

    /// The secret itself, for the `Authorization` header only.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GrafanaToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for GrafanaToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Client for one Grafana (an AMG workspace endpoint, or any Grafana in tests).
#[derive(Debug, Clone)]
pub struct GrafanaClient {
    base: url::Url,
    token: GrafanaToken,
    http: reqwest::Client,
}

/// Turns an AMG workspace `endpoint` (a bare host name, gotcha 15) or a full URL into the
/// API base URL.
pub fn endpoint_url(endpoint: &str) -> Result<url::Url> {
    let e = endpoint.trim();
    let with_scheme = if e.contains("://") {
        e.to_string()
    } else {
        format!("https://{e}")
    };
    let mut u = url::Url::parse(&with_scheme).map_err(|err| Error::InvalidEndpoint {
        endpoint: endpoint.to_string(),
        reason: err.to_string(),
    })?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(Error::InvalidEndpoint {
            endpoint: endpoint.to_string(),
            reason: "expected a host name or an http(s) URL".into(),
        });
    }
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(u)
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Did not exist, created.
    Created,
    /// Existed, written again.
    Updated,
    /// Existed and matched; nothing written.
    Unchanged,
}

/// A folder (`GET /api/folders/:uid`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    /// Folder uid.
    pub uid: String,
    /// Folder title.
    pub title: String,
}

/// Datasource `jsonData` for a Prometheus-compatible datasource signing with SigV4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusJsonData {
    /// `POST` (AMP accepts form-encoded POST queries; long queries do not hit URL limits).
    pub http_method: String,
    /// Sign requests with SigV4.
    pub sig_v4_auth: bool,
    /// `ec2_iam_role` = "Workspace IAM Role" on AMG (gotcha 19).
    pub sig_v4_auth_type: String,
    /// Region of the AMP workspace.
    pub sig_v4_region: String,
}

/// Datasource `jsonData` for CloudWatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchJsonData {
    /// `ec2_iam_role` = the workspace IAM role on AMG.
    pub auth_type: String,
    /// Default region for queries.
    pub default_region: String,
}

/// A datasource's `jsonData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JsonData {
    /// Prometheus / Amazon Managed Prometheus.
    Prometheus(PrometheusJsonData),
    /// CloudWatch.
    CloudWatch(CloudWatchJsonData),
}

/// A datasource as sent to `POST /api/datasources` / `PUT /api/datasources/uid/:uid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Datasource {
    /// Fixed uid (how we find it again).
    pub uid: String,
    /// Display name (unique in Grafana).
    pub name: String,
    /// Plugin id.
    #[serde(rename = "type")]
    pub kind: String,
    /// `proxy`: Grafana's backend makes the requests (and signs them).
    pub access: String,
    /// URL (AMP workspace root for Prometheus; empty for CloudWatch).
    pub url: String,
    /// Default datasource of the organisation.
    pub is_default: bool,
    /// Plugin settings.
    pub json_data: JsonData,
}

/// Plugin id of the Prometheus datasource to use for AMP on a Grafana version: the core
/// `prometheus` before 12, `grafana-amazonprometheus-datasource` from 12 on (Grafana 12
/// deprecates SigV4 in the core datasource and migrates such datasources; gotcha 20).
pub fn prometheus_type_for(grafana_version: &str) -> &'static str {
    let major: u32 = grafana_version
        .trim()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major >= 12 {
        "grafana-amazonprometheus-datasource"
    } else {
        dashboards::PROMETHEUS_CORE_TYPE
    }
}

impl Datasource {
    /// The AMP datasource: workspace root URL (`prometheusEndpoint`, not `…/api/v1/query`),
    /// SigV4 with the workspace IAM role, POST queries; the organisation default.
    pub fn amp(
        uid: &str,
        name: &str,
        grafana_version: &str,
        prometheus_endpoint: &str,
        region: &str,
    ) -> Datasource {
        let mut url = prometheus_endpoint.trim().to_string();
        if !url.ends_with('/') {
            url.push('/');
        }
        Datasource {
            uid: uid.into(),
            name: name.into(),
            kind: prometheus_type_for(grafana_version).into(),
            access: "proxy".into(),
            url,
            is_default: true,
            json_data: JsonData::Prometheus(PrometheusJsonData {
                http_method: "POST".into(),
                sig_v4_auth: true,
                sig_v4_auth_type: "ec2_iam_role".into(),
                sig_v4_region: region.into(),
            }),
        }
    }

    /// The CloudWatch datasource: workspace IAM role, the stack region.
    pub fn cloudwatch(uid: &str, name: &str, region: &str) -> Datasource {
        Datasource {
            uid: uid.into(),
            name: name.into(),
            kind: "cloudwatch".into(),
            access: "proxy".into(),
            url: String::new(),
            is_default: false,
            json_data: JsonData::CloudWatch(CloudWatchJsonData {
                auth_type: "ec2_iam_role".into(),
                default_region: region.into(),
            }),
        }
    }

    /// The hint printed when this datasource's health check fails.
    pub fn health_hint(&self) -> String {
        match &self.json_data {
            JsonData::Prometheus(j) => format!(
                "the AMG workspace IAM role probably lacks AMP query permissions (aps:QueryMetrics, aps:GetSeries, aps:GetLabels, aps:GetMetricMetadata on the AMP workspace ARN) or the policy names another workspace — `monitor-provision apply` rewrites it; also check the URL is the workspace root ({}) and sigV4Region {} matches the AMP workspace",
                self.url, j.sig_v4_region
            ),
            JsonData::CloudWatch(j) => format!(
                "the AMG workspace IAM role probably lacks CloudWatch read permissions (cloudwatch:GetMetricData/ListMetrics, logs:DescribeLogGroups, logs:StartQuery/GetQueryResults on the stack log group) in {} — `monitor-provision apply` rewrites the policy",
                j.default_region
            ),
        }
    }
}

/// Result of `GET /api/datasources/uid/:uid/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `OK` or `ERROR`.
    pub status: String,
    /// Grafana's message.
    #[serde(default)]
    pub message: String,
}

impl Health {
    /// Whether the datasource answered.
    pub fn is_ok(&self) -> bool {
        self.status.eq_ignore_ascii_case("ok")
    }
}

/// Result of `POST /api/dashboards/db`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedDashboard {
    /// Dashboard uid.
    pub uid: String,
    /// Path of the dashboard in Grafana (`/d/uid/slug`).
    #[serde(default)]
    pub url: String,
    /// New version number.
    #[serde(default)]
    pub version: u64,
    /// `success`.
    #[serde(default)]
    pub status: String,
}

/// What `GET /api/dashboards/uid/:uid` tells about a dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardInfo {
    /// Title.
    pub title: String,
    /// uid of the folder holding it (empty = root).
    pub folder_uid: String,
    /// Version number.
    pub version: u64,
    /// The dashboard JSON as stored.
    pub dashboard: Value,
}

#[derive(Deserialize)]
struct ApiMessage {
    #[serde(default)]
    message: String,
}

impl GrafanaClient {
    /// A client for `endpoint` (AMG host name or URL) authenticating with `token`.
    pub fn new(endpoint: &str, token: GrafanaToken) -> Result<GrafanaClient> {
        let base = endpoint_url(endpoint)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("monitor-grafana/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Http {
                method: "-".into(),
                path: "-".into(),
                source: e,
            })?;
        Ok(GrafanaClient { base, token, http })
    }

    /// The base URL.
    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let url =
            self.base
                .join(path.trim_start_matches('/'))
                .map_err(|e| Error::InvalidEndpoint {
                    endpoint: self.base.to_string(),
                    reason: e.to_string(),
                })?;
        let mut req = self
            .http
            .request(method.clone(), url)
            .bearer_auth(self.token.expose())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        tracing::debug!(%method, path, "grafana api");
        let http_err = |e| Error::Http {
            method: method.to_string(),
            path: path.to_string(),
            source: e,
        };
        let resp = req.send().await.map_err(http_err)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(http_err)?;
        Ok((status, bytes.to_vec()))
    }

    fn api_error(method: &Method, path: &str, status: StatusCode, body: &[u8]) -> Error {
        let message = serde_json::from_slice::<ApiMessage>(body)
            .map(|m| m.message)
            .ok()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
        let hint = match status.as_u16() {
            401 => Some("the API token was rejected: it expired or was deleted (tokens live minutes; re-run the command to get a new one)".to_string()),
            403 => Some("the service account lacks the role for this call: it must be an ADMIN service account".to_string()),
            _ => None,
        };
        Error::Api {
            method: method.to_string(),
            path: path.to_string(),
            status: status.as_u16(),
            message,
            hint,
        }
    }

    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Option<T>> {
        let (status, bytes) = self.send(method.clone(), path, body).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(Self::api_error(&method, path, status, &bytes));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Api {
                method: method.to_string(),
                path: path.to_string(),
                status: status.as_u16(),
                message: format!("unexpected response body: {e}"),
                hint: None,
            })
    }

    fn not_found(method: Method, path: &str) -> Error {
        Error::Api {
            method: method.to_string(),
            path: path.to_string(),
            status: 404,
            message: "not found".into(),
            hint: None,
        }
    }

    /// `GET /api/folders/:uid`; `None` if absent.
    pub async fn get_folder(&self, uid: &str) -> Result<Option<Folder>> {
        self.call(Method::GET, &format!("api/folders/{uid}"), None::<&()>)
            .await
    }

    /// Creates the folder (`POST /api/folders`) or fixes its title (`PUT /api/folders/:uid`).
    pub async fn ensure_folder(&self, uid: &str, title: &str) -> Result<Change> {
        match self.get_folder(uid).await? {
            Some(f) if f.title == title => Ok(Change::Unchanged),
            Some(_) => {
                let path = format!("api/folders/{uid}");
                let body = serde_json::json!({ "title": title, "overwrite": true });
                self.call::<Value>(Method::PUT, &path, Some(&body))
                    .await?
                    .ok_or_else(|| Self::not_found(Method::PUT, &path))?;
                Ok(Change::Updated)
            }
            None => {
                let body = Folder {
                    uid: uid.into(),
                    title: title.into(),
                };
                self.call::<Value>(Method::POST, "api/folders", Some(&body))
                    .await?
                    .ok_or_else(|| Self::not_found(Method::POST, "api/folders"))?;
                Ok(Change::Created)
            }
        }
    }

    /// `GET /api/datasources/uid/:uid`; `None` if absent.
    pub async fn get_datasource(&self, uid: &str) -> Result<Option<Value>> {
        self.call(
            Method::GET,
            &format!("api/datasources/uid/{uid}"),
            None::<&()>,
        )
        .await
    }

    /// Creates or updates the datasource by uid: `PUT /api/datasources/uid/:uid` if it
    /// exists, else `POST /api/datasources`. Never creates a duplicate.
    pub async fn upsert_datasource(&self, ds: &Datasource) -> Result<Change> {
        let path = format!("api/datasources/uid/{}", ds.uid);
        if self.get_datasource(&ds.uid).await?.is_some() {
            self.call::<Value>(Method::PUT, &path, Some(ds))
                .await?
                .ok_or_else(|| Self::not_found(Method::PUT, &path))?;
            Ok(Change::Updated)
        } else {
            self.call::<Value>(Method::POST, "api/datasources", Some(ds))
                .await?
                .ok_or_else(|| Self::not_found(Method::POST, "api/datasources"))?;
            Ok(Change::Created)
        }
    }

    /// `GET /api/datasources/uid/:uid/health`. A failed check (HTTP 400 with
    /// `{"status":"ERROR"}`) is a [`Health`] with status `ERROR`, not an `Err`.
    pub async fn datasource_health(&self, uid: &str) -> Result<Health> {
        let path = format!("api/datasources/uid/{uid}/health");
        let (status, bytes) = self.send(Method::GET, &path, None::<&()>).await?;
        if let Ok(h) = serde_json::from_slice::<Health>(&bytes) {
            return Ok(h);
        }
        if status.is_success() {
            return Ok(Health {
                status: "OK".into(),
                message: String::new(),
            });
        }
        Err(Self::api_error(&Method::GET, &path, status, &bytes))
    }

    /// Saves a dashboard JSON into a folder (`POST /api/dashboards/db`, `overwrite: true`,
    /// `folderUid` always set).
    pub async fn save_dashboard(
        &self,
        dashboard: &impl Serialize,
        folder_uid: &str,
        message: &str,
    ) -> Result<SavedDashboard> {
        let body = serde_json::json!({
            "dashboard": dashboard,
            "folderUid": folder_uid,
            "overwrite": true,
            "message": message,
        });
        let path = "api/dashboards/db";
        self.call(Method::POST, path, Some(&body))
            .await?
            .ok_or_else(|| Self::not_found(Method::POST, path))
    }

    /// `GET /api/dashboards/uid/:uid`; `None` if absent.
    pub async fn get_dashboard(&self, uid: &str) -> Result<Option<DashboardInfo>> {
        let v: Option<Value> = self
            .call(
                Method::GET,
                &format!("api/dashboards/uid/{uid}"),
                None::<&()>,
            )
            .await?;
        Ok(v.map(|v| DashboardInfo {
            title: v["dashboard"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            folder_uid: v["meta"]["folderUid"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            version: v["dashboard"]["version"].as_u64().unwrap_or(0),
            dashboard: v["dashboard"].clone(),
        }))
    }

    /// Imports a grafana.com dashboard by id (e.g. 1860, "Node Exporter Full"): fetches it
    /// through Grafana's own grafana.com proxy (`GET /api/gnet/dashboards/:id`, so the
    /// workspace needs outbound internet) and imports it with `POST /api/dashboards/import`,
    /// mapping each datasource input of its `__inputs` to `datasource_uid` when the plugin
    /// matches (gotcha 21: the input names must match).
    pub async fn import_gnet_dashboard(
        &self,
        gnet_id: u64,
        folder_uid: &str,
        datasource_uid: &str,
        datasource_type: &str,
    ) -> Result<SavedDashboard> {
        let path = format!("api/gnet/dashboards/{gnet_id}");
        let v: Value = self
            .call(Method::GET, &path, None::<&()>)
            .await?
            .ok_or_else(|| Self::not_found(Method::GET, &path))?;
        let dashboard = v.get("json").cloned().unwrap_or(Value::Null);
        let inputs: Vec<Value> = dashboard["__inputs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|i| i["type"] == "datasource")
                    .map(|i| {
                        serde_json::json!({
                            "name": i["name"],
                            "type": "datasource",
                            "pluginId": i["pluginId"].as_str().unwrap_or(datasource_type),
                            "value": datasource_uid,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let body = serde_json::json!({
            "dashboard": dashboard,
            "overwrite": true,
            "folderUid": folder_uid,
            "inputs": inputs,
        });
        let path = "api/dashboards/import";
        let r: Value = self
            .call(Method::POST, path, Some(&body))
            .await?
            .ok_or_else(|| Self::not_found(Method::POST, path))?;
        Ok(SavedDashboard {
            uid: r["uid"].as_str().unwrap_or_default().to_string(),
            url: r["importedUrl"].as_str().unwrap_or_default().to_string(),
            version: r["version"].as_u64().unwrap_or(0),
            status: "success".into(),
        })
    }
}

/// Everything the stack puts into Grafana. Serialises to the JSON of what is sent (the
/// reconciler hashes it to tell whether the content changed since the last apply).
#[derive(Debug, Clone, Serialize)]
pub struct ContentSpec {
    /// Folder holding our dashboards.
    pub folder: Folder,
    /// Datasources, upserted by uid and health-checked.
    pub datasources: Vec<Datasource>,
    /// Our dashboards.
    pub dashboards: Vec<Dashboard>,
    /// grafana.com dashboards to import into the folder (e.g. 1860), mapped to the first
    /// Prometheus datasource.
    pub gnet_imports: Vec<u64>,
}

/// The stack facts the standard content is built from.
#[derive(Debug, Clone)]
pub struct StackContent {
    /// Stack name.
    pub stack_name: String,
    /// Region of AMP, the log group and CloudWatch.
    pub region: String,
    /// The workspace's Grafana version (chooses the Prometheus plugin).
    pub grafana_version: String,
    /// AMP `prometheusEndpoint` (workspace root URL).
    pub prometheus_endpoint: String,
    /// The stack's log group name.
    pub log_group_name: String,
    /// The stack's log group ARN.
    pub log_group_arn: String,
}

/// Fixed datasource uids derived from the stack name.
pub fn datasource_uids(stack_name: &str) -> (String, String) {
    (
        dashboards::stack_uid(stack_name, "amp"),
        dashboards::stack_uid(stack_name, "cloudwatch"),
    )
}

impl ContentSpec {
    /// The standard content: folder `<stack>`, AMP + CloudWatch datasources, the hosts and
    /// system-logs dashboards (Prometheus references retargeted to the version's plugin).
    pub fn for_stack(s: &StackContent) -> ContentSpec {
        let (amp_uid, cw_uid) = datasource_uids(&s.stack_name);
        let ty = prometheus_type_for(&s.grafana_version);
        ContentSpec {
            folder: Folder {
                uid: dashboards::stack_uid(&s.stack_name, "folder"),
                title: s.stack_name.clone(),
            },
            datasources: vec![
                Datasource::amp(
                    &amp_uid,
                    &format!("{} AMP", s.stack_name),
                    &s.grafana_version,
                    &s.prometheus_endpoint,
                    &s.region,
                ),
                Datasource::cloudwatch(&cw_uid, &format!("{} CloudWatch", s.stack_name), &s.region),
            ],
            dashboards: vec![
                dashboards::hosts_dashboard(&s.stack_name).with_prometheus_type(ty),
                dashboards::logs_dashboard(
                    &s.stack_name,
                    &s.region,
                    &s.log_group_name,
                    &s.log_group_arn,
                )
                .with_prometheus_type(ty),
            ],
            gnet_imports: Vec::new(),
        }
    }
}

/// What [`apply_content`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ContentReport {
    /// Folder change.
    pub folder: Change,
    /// `(uid, change, health)` per datasource.
    pub datasources: Vec<(String, Change, Health)>,
    /// Saved dashboards.
    pub dashboards: Vec<SavedDashboard>,
}

/// Puts `spec` into Grafana: folder, datasources (each health-checked right after its
/// upsert; an unhealthy datasource stops the apply with a hint), then dashboards.
/// Idempotent: a second run updates in place and creates nothing new.
pub async fn apply_content(client: &GrafanaClient, spec: &ContentSpec) -> Result<ContentReport> {
    let folder = client
        .ensure_folder(&spec.folder.uid, &spec.folder.title)
        .await?;
    let mut datasources = Vec::new();
    for ds in &spec.datasources {
        let change = client.upsert_datasource(ds).await?;
        let health = client.datasource_health(&ds.uid).await?;
        if !health.is_ok() {
            return Err(Error::DatasourceUnhealthy {
                uid: ds.uid.clone(),
                name: ds.name.clone(),
                message: health.message,
                hint: ds.health_hint(),
            });
        }
        tracing::info!(uid = %ds.uid, ?change, "datasource healthy");
        datasources.push((ds.uid.clone(), change, health));
    }
    let mut saved = Vec::new();
    for d in &spec.dashboards {
        let s = client
            .save_dashboard(d, &spec.folder.uid, "monitor-provision apply")
            .await?;
        tracing::info!(uid = %s.uid, version = s.version, "dashboard saved");
        saved.push(s);
    }
    if !spec.gnet_imports.is_empty() {
        let prom = spec
            .datasources
            .iter()
            .find(|d| matches!(d.json_data, JsonData::Prometheus(_)))
            .ok_or_else(|| {
                Error::Config("grafana.com imports need a Prometheus datasource".into())
            })?;
        for id in &spec.gnet_imports {
            saved.push(
                client
                    .import_gnet_dashboard(*id, &spec.folder.uid, &prom.uid, &prom.kind)
                    .await?,
            );
        }
    }
    Ok(ContentReport {
        folder,
        datasources,
        dashboards: saved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_never_printed() {
        let t = GrafanaToken::new("glsa_secret");
        assert_eq!(format!("{t:?} {t}"), "*** ***");
        let c = GrafanaClient::new("g-1.grafana-workspace.eu-west-1.amazonaws.com", t);
        assert!(!format!("{c:?}").contains("glsa_secret"));
    }

    #[test]
    fn endpoint_gets_https_and_trailing_slash() {
        let u =
            endpoint_url("g-abc.grafana-workspace.eu-west-1.amazonaws.com").map(|u| u.to_string());
        assert_eq!(
            u.ok().as_deref(),
            Some("https://g-abc.grafana-workspace.eu-west-1.amazonaws.com/")
        );
        let u = endpoint_url("http://127.0.0.1:3000").map(|u| u.to_string());
        assert_eq!(u.ok().as_deref(), Some("http://127.0.0.1:3000/"));
        assert!(endpoint_url("ftp://x").is_err());
    }

    #[test]
    fn prometheus_plugin_by_version() {
        assert_eq!(prometheus_type_for("9.4"), "prometheus");
        assert_eq!(prometheus_type_for("10.4"), "prometheus");
        assert_eq!(
            prometheus_type_for("12.4"),
            "grafana-amazonprometheus-datasource"
        );
        assert_eq!(
            prometheus_type_for("13"),
            "grafana-amazonprometheus-datasource"
        );
    }

    #[test]
    fn amp_datasource_body_matches_the_docs() {
        let ds = Datasource::amp(
            "s-amp",
            "s AMP",
            "10.4",
            "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1",
            "eu-west-1",
        );
        let v = serde_json::to_value(&ds).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({
                "uid": "s-amp", "name": "s AMP", "type": "prometheus", "access": "proxy",
                "url": "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/",
                "isDefault": true,
                "jsonData": {"httpMethod": "POST", "sigV4Auth": true, "sigV4AuthType": "ec2_iam_role", "sigV4Region": "eu-west-1"}
            })
        );
        let cw = serde_json::to_value(Datasource::cloudwatch("s-cw", "s CW", "eu-west-1"))
            .unwrap_or_default();
        assert_eq!(
            cw["jsonData"],
            serde_json::json!({"authType": "ec2_iam_role", "defaultRegion": "eu-west-1"})
        );
    }
}
