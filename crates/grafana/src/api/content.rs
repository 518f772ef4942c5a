//! What the stack puts into Grafana ([`ContentSpec`]) and [`apply_content`], which puts
//! it there idempotently.

use serde::Serialize;

use super::{
    prometheus_type_for, Change, Datasource, Folder, GrafanaClient, Health, JsonData,
    SavedDashboard,
};
use crate::dashboards::{self, Dashboard};
use crate::error::{Error, Result};

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
    /// The stack has `[alerting]`: AMP's rules show in Grafana's Alerting UI (the AMP
    /// datasource manages alerts) and an Alertmanager datasource reads AMP's Alertmanager.
    pub alerting: bool,
}

/// Fixed uid of the stack's Alertmanager datasource (AMP's Alertmanager).
pub fn alertmanager_uid(stack_name: &str) -> String {
    dashboards::stack_uid(stack_name, "alertmanager")
}

/// Fixed datasource uids derived from the stack name.
pub fn datasource_uids(stack_name: &str) -> (String, String) {
    (
        dashboards::stack_uid(stack_name, "amp"),
        dashboards::stack_uid(stack_name, "cloudwatch"),
    )
}

impl ContentSpec {
    /// The standard content: folder `<stack>`, AMP + CloudWatch datasources (with
    /// `alerting`, AMP's rules in the Alerting UI and an Alertmanager datasource for AMP's
    /// Alertmanager), the hosts and system-logs dashboards (Prometheus references
    /// retargeted to the version's plugin).
    pub fn for_stack(s: &StackContent) -> ContentSpec {
        let (amp_uid, cw_uid) = datasource_uids(&s.stack_name);
        let ty = prometheus_type_for(&s.grafana_version);
        let amp = Datasource::amp(
            &amp_uid,
            &format!("{} AMP", s.stack_name),
            &s.grafana_version,
            &s.prometheus_endpoint,
            &s.region,
        );
        let cloudwatch =
            Datasource::cloudwatch(&cw_uid, &format!("{} CloudWatch", s.stack_name), &s.region);
        let datasources = if s.alerting {
            let am_uid = alertmanager_uid(&s.stack_name);
            vec![
                Datasource::amp_alertmanager(
                    &am_uid,
                    &format!("{} AMP Alertmanager", s.stack_name),
                    &s.prometheus_endpoint,
                    &s.region,
                ),
                amp.with_alerting(&am_uid),
                cloudwatch,
            ]
        } else {
            vec![amp, cloudwatch]
        };
        ContentSpec {
            folder: Folder {
                uid: dashboards::stack_uid(&s.stack_name, "folder"),
                title: s.stack_name.clone(),
            },
            datasources,
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
        let health = client.check_datasource(ds).await?;
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
