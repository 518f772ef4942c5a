//! The Grafana HTTP API types the stack sends and reads: folders, datasources (with their
//! `jsonData`), health, saved dashboards.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dashboards;

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
    /// Show and manage this datasource's rules (AMP's rule groups) in Grafana's Alerting
    /// UI; set when the stack has `[alerting]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_alerts: Option<bool>,
    /// uid of the Alertmanager datasource the rules send to (AMP's Alertmanager).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alertmanager_uid: Option<String>,
}

/// Datasource `jsonData` for an Alertmanager datasource (Grafana's `alertmanager` core
/// plugin) pointing at AMP's Alertmanager: Prometheus implementation (AMP serves the
/// Alertmanager v2 API under `<workspace>/alertmanager`), SigV4 with the workspace role
/// (Grafana signs `alertmanager` datasources for service `aps`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerJsonData {
    /// `prometheus`: silences are managed, contact points/policies read-only (AMP's
    /// configuration is the Alertmanager definition, written by `monitor-provision`).
    pub implementation: String,
    /// Grafana-managed alerts are not forwarded to AMP (it cannot receive them).
    pub handle_grafana_managed_alerts: bool,
    /// Sign requests with SigV4.
    pub sig_v4_auth: bool,
    /// `ec2_iam_role` = "Workspace IAM Role" on AMG.
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
    /// AMP's Alertmanager.
    Alertmanager(AlertmanagerJsonData),
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

/// Plugin id of Grafana's core Alertmanager datasource.
pub const ALERTMANAGER_TYPE: &str = "alertmanager";

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
                manage_alerts: None,
                alertmanager_uid: None,
            }),
        }
    }

    /// This AMP datasource with its rules shown in Grafana's Alerting UI and linked to
    /// the Alertmanager datasource `alertmanager_uid`. Other datasources are unchanged.
    pub fn with_alerting(mut self, alertmanager_uid: &str) -> Datasource {
        if let JsonData::Prometheus(j) = &mut self.json_data {
            j.manage_alerts = Some(true);
            j.alertmanager_uid = Some(alertmanager_uid.to_string());
        }
        self
    }

    /// The Alertmanager datasource for AMP's Alertmanager: URL = the workspace root with
    /// `alertmanager` appended (AMG user guide, "Visualize alerts from Amazon Managed
    /// Service for Prometheus"), SigV4 with the workspace IAM role.
    pub fn amp_alertmanager(
        uid: &str,
        name: &str,
        prometheus_endpoint: &str,
        region: &str,
    ) -> Datasource {
        let root = prometheus_endpoint.trim().trim_end_matches('/');
        Datasource {
            uid: uid.into(),
            name: name.into(),
            kind: ALERTMANAGER_TYPE.into(),
            access: "proxy".into(),
            url: format!("{root}/alertmanager"),
            is_default: false,
            json_data: JsonData::Alertmanager(AlertmanagerJsonData {
                implementation: "prometheus".into(),
                handle_grafana_managed_alerts: false,
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
            JsonData::Alertmanager(j) => format!(
                "Grafana could not read AMP's Alertmanager at {}: the AMG workspace IAM role probably lacks aps:GetAlertManagerStatus / aps:ListAlertManagerAlerts / aps:ListAlertManagerAlertGroups / aps:ListAlertManagerSilences on the AMP workspace ARN, or the workspace has no Alertmanager definition yet — `monitor-provision apply` writes both; also check sigV4Region {} matches the AMP workspace",
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let with = serde_json::to_value(ds.clone().with_alerting("s-am")).unwrap_or_default();
        assert_eq!(with["jsonData"]["manageAlerts"], true);
        assert_eq!(with["jsonData"]["alertmanagerUid"], "s-am");
        let am = serde_json::to_value(Datasource::amp_alertmanager(
            "s-am",
            "s AMP Alertmanager",
            "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/",
            "eu-west-1",
        ))
        .unwrap_or_default();
        assert_eq!(
            am,
            serde_json::json!({
                "uid": "s-am", "name": "s AMP Alertmanager", "type": "alertmanager", "access": "proxy",
                "url": "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/alertmanager",
                "isDefault": false,
                "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": false,
                    "sigV4Auth": true, "sigV4AuthType": "ec2_iam_role", "sigV4Region": "eu-west-1"}
            })
        );
        let back: Datasource = serde_json::from_value(am).unwrap();
        assert!(matches!(back.json_data, JsonData::Alertmanager(_)));
        let cw = serde_json::to_value(Datasource::cloudwatch("s-cw", "s CW", "eu-west-1"))
            .unwrap_or_default();
        assert_eq!(
            cw["jsonData"],
            serde_json::json!({"authType": "ec2_iam_role", "defaultRegion": "eu-west-1"})
        );
    }
}
