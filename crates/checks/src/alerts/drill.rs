//! `--fire-drill`: post a short-lived test alert to the Alertmanager API v2 and prove it
//! was accepted, routed and — where Alertmanager's own metrics are readable (a local
//! Alertmanager) — delivered.
//!
//! 1. `POST <am>/api/v2/alerts` one alert `alertname=MonitorFireDrill`, the given
//!    `severity`, a unique `drill_id`, `endsAt` = now + lifetime (it resolves by itself).
//! 2. `GET <am>/api/v2/alerts?filter=drill_id="…"` until Alertmanager has processed it:
//!    `status.state` is `active` (not silenced or inhibited) and `receivers` names where it
//!    was routed.
//! 3. Local only: Alertmanager's `/metrics` counts a successful notification request
//!    (`alertmanager_notification_requests_total - …_failed_total`) after the drill, within
//!    the timeout (the route's `group_wait` comes first). AMP's Alertmanager has no metrics
//!    endpoint: delivery there is the inbox (or `AlertManagerNotificationsFailed` in
//!    CloudWatch, namespace `AWS/Prometheus`).

use std::time::{Duration, Instant, SystemTime};

use monitor_amp::query::QueryError;
use serde::Deserialize;

use super::http::{decode, AlertsHttp};
use super::time::format_rfc3339;
use crate::catalog::{
    ALERTS_DRILL_ACCEPTED, ALERTS_DRILL_DELIVERED, ALERTS_DRILL_ROUTED, HINT_DRILL_ACCEPTED,
    HINT_DRILL_DELIVERED, HINT_DRILL_ROUTED,
};
use crate::CheckResult;

/// The drill alert's name.
pub const DRILL_ALERTNAME: &str = "MonitorFireDrill";
/// The label carrying the drill's unique id.
pub const DRILL_ID_LABEL: &str = "drill_id";

/// What the drill sends and how long it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireDrill {
    /// Unique id (label `drill_id`), e.g. `drill-1764715200-3fa2`.
    pub drill_id: String,
    /// The `severity` label (routing by severity decides who is paged).
    pub severity: String,
    /// `endsAt` = now + this: the drill resolves by itself.
    pub lifetime: Duration,
    /// How long to wait for routing and delivery.
    pub timeout: Duration,
}

impl FireDrill {
    /// A drill with a fresh unique id, lifetime 5 minutes, timeout 2 minutes.
    pub fn new(severity: &str) -> FireDrill {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        FireDrill {
            drill_id: format!("drill-{secs}-{:04x}", fastrand::u16(..)),
            severity: severity.to_string(),
            lifetime: Duration::from_secs(300),
            timeout: Duration::from_secs(120),
        }
    }

    /// The `postableAlerts` body of API v2.
    pub fn body(&self, now: SystemTime) -> serde_json::Value {
        serde_json::json!([{
            "labels": {
                "alertname": DRILL_ALERTNAME,
                "severity": self.severity,
                DRILL_ID_LABEL: self.drill_id,
            },
            "annotations": {
                "summary": format!("Fire drill {} from monitor-verify: no action needed", self.drill_id),
                "description": "A test alert proving that alerts reach the people paged. It resolves by itself.",
                "runbook": "docs/alerts.md#monitorfiredrill",
            },
            "startsAt": format_rfc3339(now),
            "endsAt": format_rfc3339(now + self.lifetime),
        }])
    }
}

/// Where the Alertmanager API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertmanagerTarget {
    /// API root without `/api/v2`: `http://127.0.0.1:9093`, or AMP's
    /// `https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/alertmanager`.
    pub base: String,
    /// Whether `<base>/metrics` is Alertmanager's own metrics (a local Alertmanager).
    pub metrics: bool,
}

#[derive(Debug, Deserialize)]
struct GettableAlert {
    #[serde(default)]
    receivers: Vec<Receiver>,
    #[serde(default)]
    status: AlertStatus,
    #[serde(default)]
    fingerprint: String,
}

#[derive(Debug, Deserialize)]
struct Receiver {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlertStatus {
    #[serde(default)]
    state: String,
    #[serde(default)]
    silenced_by: Vec<String>,
    #[serde(default)]
    inhibited_by: Vec<String>,
}

/// Runs the drill (module docs): three results, `accepted`, `routed`, `delivered`.
///
/// # Errors
/// Only a denied call (401/403: missing `aps:CreateAlerts`/`aps:GetAlerts`, unsigned
/// request); an unreachable or failing Alertmanager is a failed check.
pub async fn run_fire_drill(
    http: &AlertsHttp,
    am: &AlertmanagerTarget,
    drill: &FireDrill,
) -> Result<Vec<CheckResult>, QueryError> {
    let before = if am.metrics {
        delivery_counters(http, am).await.ok()
    } else {
        None
    };
    let url = monitor_amp::join_endpoint(&am.base, "api/v2/alerts");
    if let Err(e) = http.post_json(&url, &drill.body(SystemTime::now())).await {
        let detail = format!("POST {}: {e}", monitor_amp::redacted_str(&url));
        return denied_or(e, move || {
            vec![CheckResult::fail(
                ALERTS_DRILL_ACCEPTED,
                None,
                detail,
                HINT_DRILL_ACCEPTED,
            )]
        });
    }
    let mut out = vec![CheckResult::pass(
        ALERTS_DRILL_ACCEPTED,
        None,
        format!(
            "Alertmanager accepted {DRILL_ALERTNAME} {DRILL_ID_LABEL}={}",
            drill.drill_id
        ),
    )];
    let routed = match read_back(http, &url, drill).await {
        Ok(r) => r,
        Err(e) => {
            let detail = format!("GET {}: {e}", monitor_amp::redacted_str(&url));
            return denied_or(e, move || {
                out.push(CheckResult::fail(
                    ALERTS_DRILL_ROUTED,
                    None,
                    detail,
                    HINT_DRILL_ROUTED,
                ));
                out
            });
        }
    };
    let ok = routed.passed();
    out.push(routed);
    out.push(match (ok, before) {
        (false, _) => CheckResult::skip(ALERTS_DRILL_DELIVERED, None, "not routed, so not delivered"),
        (true, Some(b)) => wait_delivered(http, am, b, drill.timeout).await,
        (true, None) if am.metrics => CheckResult::skip(ALERTS_DRILL_DELIVERED, None, "Alertmanager's /metrics is not readable"),
        (true, None) => CheckResult::skip(
            ALERTS_DRILL_DELIVERED,
            None,
            "AMP's Alertmanager shows no deliveries: confirm the drill arrived by email/HTTPS (or see AlertManagerNotificationsFailed in CloudWatch, namespace AWS/Prometheus)",
        ),
    });
    Ok(out)
}

/// A 401/403 stays an error (exit 2); anything else becomes the results of `f`.
fn denied_or(
    e: QueryError,
    f: impl FnOnce() -> Vec<CheckResult>,
) -> Result<Vec<CheckResult>, QueryError> {
    match e {
        QueryError::Forbidden { .. } | QueryError::Credentials(_) => Err(e),
        _ => Ok(f()),
    }
}

async fn read_back(
    http: &AlertsHttp,
    url: &str,
    drill: &FireDrill,
) -> Result<CheckResult, QueryError> {
    let filter = format!("{DRILL_ID_LABEL}=\"{}\"", drill.drill_id);
    let deadline = Instant::now() + drill.timeout.min(Duration::from_secs(30));
    loop {
        let body = http.get(url, &[("filter", &filter)]).await?;
        let alerts: Vec<GettableAlert> = decode(url, &body)?;
        let processed = alerts.iter().find(|a| a.status.state != "unprocessed");
        if let Some(a) = processed {
            return Ok(routing_result(a));
        }
        if Instant::now() >= deadline {
            let detail = if alerts.is_empty() {
                format!("{filter} is not in Alertmanager's alerts after it was accepted")
            } else {
                format!(
                    "{filter} is still unprocessed after {}",
                    humantime::format_duration(drill.timeout.min(Duration::from_secs(30)))
                )
            };
            return Ok(CheckResult::fail(
                ALERTS_DRILL_ROUTED,
                None,
                detail,
                HINT_DRILL_ROUTED,
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn routing_result(a: &GettableAlert) -> CheckResult {
    let receivers: Vec<&str> = a.receivers.iter().map(|r| r.name.as_str()).collect();
    if a.status.state != "active" {
        let why = if !a.status.silenced_by.is_empty() {
            format!("silenced by {}", a.status.silenced_by.join(", "))
        } else {
            format!("inhibited by {}", a.status.inhibited_by.join(", "))
        };
        return CheckResult::fail(
            ALERTS_DRILL_ROUTED,
            None,
            format!("the drill is {} ({why}): it will not be sent", a.status.state),
            "a silence or inhibition rule matches severity/alertname: remove it (`amtool silence query`, or the AMP console's alert manager silences) and re-run",
        );
    }
    if receivers.is_empty() {
        return CheckResult::fail(
            ALERTS_DRILL_ROUTED,
            None,
            "active but routed to no receiver",
            HINT_DRILL_ROUTED,
        );
    }
    CheckResult::pass(
        ALERTS_DRILL_ROUTED,
        None,
        format!(
            "active, routed to receiver {} (fingerprint {})",
            receivers.join(", "),
            a.fingerprint
        ),
    )
}

/// Successful and failed notification requests so far, summed over integrations.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Delivery {
    ok: f64,
    failed: f64,
}

async fn delivery_counters(
    http: &AlertsHttp,
    am: &AlertmanagerTarget,
) -> Result<Delivery, QueryError> {
    let url = monitor_amp::join_endpoint(&am.base, "metrics");
    let body = http.get(&url, &[]).await?;
    Ok(parse_delivery(&String::from_utf8_lossy(&body)))
}

fn parse_delivery(text: &str) -> Delivery {
    let sum = |name: &str| -> f64 {
        text.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let total = sum("alertmanager_notification_requests_total");
    let failed = sum("alertmanager_notification_requests_failed_total");
    Delivery {
        ok: total - failed,
        failed,
    }
}

async fn wait_delivered(
    http: &AlertsHttp,
    am: &AlertmanagerTarget,
    before: Delivery,
    timeout: Duration,
) -> CheckResult {
    let deadline = Instant::now() + timeout;
    let mut now = before;
    loop {
        if let Ok(d) = delivery_counters(http, am).await {
            now = d;
        }
        if now.ok > before.ok {
            return CheckResult::pass(
                ALERTS_DRILL_DELIVERED,
                None,
                format!(
                    "Alertmanager sent {} notification(s) successfully since the drill",
                    now.ok - before.ok
                ),
            );
        }
        if Instant::now() >= deadline {
            let failed = now.failed - before.failed;
            let detail = if failed > 0.0 {
                format!(
                    "{failed} notification request(s) failed and none succeeded within {}",
                    humantime::format_duration(timeout)
                )
            } else {
                format!(
                    "no notification was sent within {} (the route's group_wait is longer?)",
                    humantime::format_duration(timeout)
                )
            };
            return CheckResult::fail(ALERTS_DRILL_DELIVERED, None, detail, HINT_DRILL_DELIVERED);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_counts_successful_requests_over_integrations() {
        let text = "# HELP x\nalertmanager_notification_requests_failed_total{integration=\"webhook\"} 6\n\
            alertmanager_notification_requests_total{integration=\"email\"} 1\n\
            alertmanager_notification_requests_total{integration=\"webhook\"} 8\n\
            alertmanager_notification_requests_total_other 100\n";
        assert_eq!(
            parse_delivery(text),
            Delivery {
                ok: 3.0,
                failed: 6.0
            }
        );
    }

    #[test]
    fn the_drill_is_labelled_unique_and_ends_by_itself() {
        let a = FireDrill::new("critical");
        let b = FireDrill::new("critical");
        assert_ne!(a.drill_id, b.drill_id);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let body = a.body(now);
        assert_eq!(body[0]["labels"]["alertname"], DRILL_ALERTNAME);
        assert_eq!(body[0]["labels"]["severity"], "critical");
        assert_eq!(body[0]["labels"][DRILL_ID_LABEL], a.drill_id.as_str());
        assert_eq!(body[0]["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(body[0]["endsAt"], "2023-11-14T22:18:20.000Z");
    }

    #[test]
    fn a_silenced_drill_fails_routing_and_names_the_silence() {
        let a: GettableAlert = serde_json::from_value(serde_json::json!({
            "receivers": [{"name": "w"}], "fingerprint": "f",
            "status": {"state": "suppressed", "silencedBy": ["s-1"], "inhibitedBy": []}}))
        .unwrap();
        let r = routing_result(&a);
        assert!(!r.passed());
        assert!(r.detail.contains("silenced by s-1"), "{}", r.detail);
        let a: GettableAlert = serde_json::from_value(serde_json::json!({
            "receivers": [{"name": "w"}], "fingerprint": "f",
            "status": {"state": "active", "silencedBy": [], "inhibitedBy": []}}))
        .unwrap();
        assert!(routing_result(&a).passed());
    }
}
