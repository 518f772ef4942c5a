//! `monitor-verify alerts`: prove that alerting works — rules load and evaluate, alerts
//! reach an Alertmanager that routes and delivers them, and (on AWS) the control-plane
//! pieces AMP needs to page a human exist and are ACTIVE.
//!
//! | where | checks |
//! |---|---|
//! | AMP (`--endpoint https://aps-workspaces…/workspaces/ws-…/`) | [`aws`]: rule-groups namespaces and Alertmanager definition ACTIVE (with AMP's `statusReason`), the SNS topic policy lets the workspace publish, subscriptions confirmed (pending = warning), log alarms exist |
//! | local Prometheus | `alerts.alertmanager_connected`: Prometheus' `/api/v1/alertmanagers` lists one |
//! | both | [`rules`]: `/api/v1/rules` — rules loaded, every rule `health == "ok"` (each bad rule named with its `lastError`), every group evaluated recently |
//! | `--fire-drill` | [`drill`]: a `MonitorFireDrill` alert posted to Alertmanager API v2, read back (active, routed), and locally seen delivered |
//!
//! ```no_run
//! use monitor_checks::alerts::{run_alert_checks, AlertsCheckConfig, http::AlertsHttp};
//! # async fn demo() -> Result<(), monitor_checks::ChecksError> {
//! let http = AlertsHttp::new(monitor_amp::auth::Auth::None)?;
//! let cfg = AlertsCheckConfig { endpoint: "http://127.0.0.1:9090".into(), ..Default::default() };
//! let report = run_alert_checks(&http, &cfg, None).await?;
//! std::process::exit(report.exit_code().into());
//! # }
//! ```

pub mod aws;
pub mod drill;
pub mod http;
pub mod rules;
pub mod time;

use std::time::SystemTime;

use serde::Deserialize;

use crate::catalog::{
    ALERTS_ALERTMANAGER_CONNECTED, ALERTS_DRILL_ACCEPTED, HINT_ALERTMANAGER_CONNECTED,
    HINT_DRILL_ACCEPTED,
};
use crate::{CheckResult, ChecksError, Report};
use drill::{AlertmanagerTarget, FireDrill};
use http::{decode, AlertsHttp};

/// What `monitor-verify alerts` checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertsCheckConfig {
    /// The query root: an AMP workspace root or a Prometheus root.
    pub endpoint: String,
    /// The Alertmanager API root (`http://127.0.0.1:9093`); default: AMP's
    /// `<workspace>/alertmanager`, or the Alertmanager the local Prometheus sends to.
    pub alertmanager: Option<String>,
    /// Run the fire drill.
    pub fire_drill: Option<FireDrill>,
}

/// An AMP workspace, read from its endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmpWorkspace {
    /// The region (`aps-workspaces.<region>.amazonaws.com`).
    pub region: String,
    /// The workspace id (`/workspaces/<id>/`).
    pub workspace_id: String,
}

/// The AMP workspace an endpoint names, or `None` for any other endpoint.
pub fn amp_workspace(endpoint: &str) -> Option<AmpWorkspace> {
    let url = url::Url::parse(endpoint.trim()).ok()?;
    let region = crate::connect::region_from_host(&url.host_str()?.to_ascii_lowercase())?;
    let mut seg = url.path_segments()?;
    match (seg.next(), seg.next()) {
        (Some("workspaces"), Some(id)) if !id.is_empty() => Some(AmpWorkspace {
            region,
            workspace_id: id.to_string(),
        }),
        _ => None,
    }
}

/// What the stack says should exist on AWS (default: whatever is there, no subscribers,
/// no log alarms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsExpectations {
    /// The stack's rule-groups namespaces (empty: every namespace found must be ACTIVE).
    pub namespaces: Vec<String>,
    /// The `[alerting]` subscribers, each with the severities routed to it.
    pub subscribers: Vec<monitor_stack::Subscriber>,
    /// The names of the stack's CloudWatch log alarms (`[alerting] log_alarms`).
    pub alarms: Vec<String>,
}

/// What `stack` expects on AWS: its rule namespaces (`monitor_alerts::stack_rules`),
/// `[alerting]` subscribers and log alarms (`monitor_alerts::log_alarms`).
///
/// # Errors
/// A rule override or user rule file that does not render (as `monitor-provision` would
/// refuse it).
pub fn expectations(
    stack: &monitor_stack::Stack,
) -> Result<AwsExpectations, monitor_alerts::AlertsError> {
    use monitor_alerts::log_alarms;
    let namespaces = monitor_alerts::stack_rules(stack)?
        .into_iter()
        .map(|n| n.name)
        .collect();
    let subscribers = stack
        .alerting_enabled()
        .map(|a| a.subscribers.clone())
        .unwrap_or_default();
    let alarms = log_alarms::log_alarms(stack)
        .iter()
        .map(|a| log_alarms::alarm_name(stack, a))
        .collect();
    Ok(AwsExpectations {
        namespaces,
        subscribers,
        alarms,
    })
}

/// `monitor-verify alerts` as one call: builds the signed client from `auth` and, for an
/// AMP endpoint, the AMP control-plane client (region from the endpoint), then runs
/// [`run_alert_checks`].
///
/// # Errors
/// As [`run_alert_checks`].
pub async fn run(
    cfg: &AlertsCheckConfig,
    auth: monitor_amp::auth::Auth,
    expect: AwsExpectations,
) -> Result<Report, ChecksError> {
    let http = AlertsHttp::new(auth)?;
    let Some(ws) = amp_workspace(&cfg.endpoint) else {
        return run_alert_checks(&http, cfg, None).await;
    };
    let sdk = crate::connect::sdk_config(Some(&ws.region)).await;
    let amp = aws_sdk_amp::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let cp = aws::ControlPlane {
        amp: &amp,
        sns: &sns,
        cloudwatch: &cloudwatch,
        workspace_id: ws.workspace_id,
        expect,
    };
    run_alert_checks(&http, cfg, Some(&cp)).await
}

/// Runs the checks of the module docs; `control_plane` adds the AMP/SNS/CloudWatch ones
/// (the binary passes it for AMP endpoints).
///
/// # Errors
/// [`ChecksError::Query`] when the endpoint cannot be reached or denies the rules API (or
/// the Alertmanager API denies the drill); [`ChecksError::Aws`] for an AWS API error.
pub async fn run_alert_checks(
    http: &AlertsHttp,
    cfg: &AlertsCheckConfig,
    control_plane: Option<&aws::ControlPlane<'_>>,
) -> Result<Report, ChecksError> {
    let mut report = Report::new();
    let amp = amp_workspace(&cfg.endpoint);
    if let Some(cp) = control_plane {
        report.results.extend(cp.run().await?);
    }
    let mut discovered = None;
    if amp.is_none() {
        let (result, first) = connected(http, &cfg.endpoint).await?;
        report.push(result);
        discovered = first;
    }
    let groups = rules::fetch_rule_groups(http, &cfg.endpoint).await?;
    report
        .results
        .extend(rules::judge(&groups, SystemTime::now()));
    if let Some(d) = &cfg.fire_drill {
        let target = match (&cfg.alertmanager, &amp) {
            (Some(base), _) => Some(AlertmanagerTarget {
                base: base.clone(),
                metrics: amp_workspace(base).is_none(),
            }),
            (None, Some(_)) => Some(AlertmanagerTarget {
                base: monitor_amp::join_endpoint(&cfg.endpoint, "alertmanager"),
                metrics: false,
            }),
            (None, None) => discovered.map(|base| AlertmanagerTarget {
                base,
                metrics: true,
            }),
        };
        match target {
            Some(t) => report.results.extend(drill::run_fire_drill(http, &t, d).await?),
            None => report.push(CheckResult::fail(
                ALERTS_DRILL_ACCEPTED,
                None,
                "no Alertmanager to send the drill to (Prometheus lists none; pass --alertmanager URL)",
                HINT_DRILL_ACCEPTED,
            )),
        }
    }
    Ok(report)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alertmanagers {
    #[serde(default)]
    active_alertmanagers: Vec<AmUrl>,
}

#[derive(Deserialize)]
struct AmUrl {
    url: String,
}

#[derive(Deserialize)]
struct AmEnvelope {
    #[serde(default)]
    data: Option<Alertmanagers>,
}

/// Local Prometheus: the Alertmanagers it sends to (`/api/v1/alertmanagers`), as a result
/// and the first one's API root.
async fn connected(
    http: &AlertsHttp,
    root: &str,
) -> Result<(CheckResult, Option<String>), ChecksError> {
    let url = monitor_amp::join_endpoint(root, "api/v1/alertmanagers");
    let body = http.get(&url, &[]).await?;
    let env: AmEnvelope = decode(&url, &body)?;
    let urls: Vec<String> = env
        .data
        .map(|d| d.active_alertmanagers)
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.url)
        .collect();
    let Some(first) = urls.first() else {
        let r = CheckResult::fail(
            ALERTS_ALERTMANAGER_CONNECTED,
            None,
            "Prometheus sends alerts to no Alertmanager",
            HINT_ALERTMANAGER_CONNECTED,
        );
        return Ok((r, None));
    };
    let base = first.split("/api/v").next().unwrap_or(first).to_string();
    let shown: Vec<String> = urls.iter().map(|u| monitor_amp::redacted_str(u)).collect();
    let r = CheckResult::pass(
        ALERTS_ALERTMANAGER_CONNECTED,
        None,
        format!("Prometheus sends alerts to {}", shown.join(", ")),
    );
    Ok((r, Some(base)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amp_workspaces_are_read_from_the_endpoint() {
        assert_eq!(
            amp_workspace("https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1234/"),
            Some(AmpWorkspace {
                region: "eu-west-1".into(),
                workspace_id: "ws-1234".into()
            })
        );
        assert_eq!(amp_workspace("http://127.0.0.1:9090"), None);
        assert_eq!(
            amp_workspace("https://aps-workspaces.eu-west-1.amazonaws.com/"),
            None
        );
    }
}
