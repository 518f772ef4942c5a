//! A small Grafana HTTP API client (the parts the stack needs) and [`apply_content`], which
//! puts our folder, datasources and dashboards into a Grafana idempotently.
//!
//! Routes follow grafana/grafana `docs/sources/developers/http_api/` (`folder.md`,
//! `data_source.md`, `dashboard.md`): uid routes only (the id routes are deprecated since
//! Grafana 9), datasources upserted by uid (`GET` → `PUT`, or `POST` on 404, since `POST`
//! on an existing name is a 409), dashboards saved with `overwrite: true` and always with
//! `folderUid` (an update without it moves the dashboard to the root folder).
//!
//! The request and response types are in `model.rs`, the stack's content and
//! [`apply_content`] in `content.rs`; both are re-exported here.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

mod content;
mod model;

pub use content::{
    alertmanager_uid, apply_content, datasource_uids, ContentReport, ContentSpec, StackContent,
};
pub use model::{
    prometheus_type_for, AlertmanagerJsonData, Change, CloudWatchJsonData, DashboardInfo,
    Datasource, Folder, Health, JsonData, PrometheusJsonData, SavedDashboard, ALERTMANAGER_TYPE,
};

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

/// Name of the test/support-only environment variable that replaces the Grafana HTTP API
/// base URL `https://<workspace endpoint>` (e.g. with a local stub or a tunnel). Read in
/// one place, [`endpoint_override`].
pub const GRAFANA_URL_ENV: &str = "MONITOR_GRAFANA_URL";

/// The Grafana HTTP API base URL from [`GRAFANA_URL_ENV`] (test/support only); `None`
/// when it is unset, not UTF-8 or blank. `monitor-provision` passes it on as
/// `ApplyOptions::grafana_api_base`, `monitor-verify grafana` to `verify_grafana`.
pub fn endpoint_override() -> Option<String> {
    std::env::var(GRAFANA_URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
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

    /// Whether Grafana can reach the datasource `ds`: its health endpoint, or for an
    /// Alertmanager datasource (a frontend-only plugin without one) the Alertmanager's
    /// `GET api/v2/status` through the datasource proxy
    /// (`/api/datasources/proxy/uid/:uid/*`, data_source.md), which is what Grafana's own
    /// "Save & test" does. A failed check is a [`Health`] with status `ERROR`.
    pub async fn check_datasource(&self, ds: &Datasource) -> Result<Health> {
        if ds.kind != model::ALERTMANAGER_TYPE {
            return self.datasource_health(&ds.uid).await;
        }
        let path = format!("api/datasources/proxy/uid/{}/api/v2/status", ds.uid);
        let (status, bytes) = self.send(Method::GET, &path, None::<&()>).await?;
        Ok(if status.is_success() {
            Health {
                status: "OK".into(),
                message: "Alertmanager answered api/v2/status".into(),
            }
        } else {
            Health {
                status: "ERROR".into(),
                message: format!(
                    "HTTP {} from {path}: {}",
                    status.as_u16(),
                    String::from_utf8_lossy(&bytes)
                        .chars()
                        .take(300)
                        .collect::<String>()
                ),
            }
        })
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
}
