//! Rule health from the Prometheus-compatible rules API (`GET <root>/api/v1/rules`, IAM
//! action `aps:ListRules` on AMP): every rule evaluates (`health == "ok"`) and every group
//! was evaluated recently relative to its interval.
//!
//! The answer is parsed into [`RuleGroup`]s, then [`judge`] (pure) turns them into
//! results: one `alerts.rules_loaded`, one `alerts.rules_health` per broken rule (or one
//! pass), one `alerts.rules_fresh` per stale group (or one pass).

use std::time::{Duration, SystemTime};

use monitor_amp::query::QueryError;
use serde::Deserialize;

use super::http::{decode, AlertsHttp};
use super::time::parse_rfc3339;
use crate::catalog::{
    ALERTS_RULES_FRESH, ALERTS_RULES_HEALTH, ALERTS_RULES_LOADED, HINT_RULES_ERROR,
    HINT_RULES_MISSING, HINT_RULES_STALE,
};
use crate::CheckResult;

/// A group is stale when its last evaluation is older than this many intervals…
const STALE_INTERVALS: u32 = 3;
/// …and older than this (AMP and Prometheus evaluate a little late under load).
const STALE_MIN: Duration = Duration::from_secs(30);

/// One rule group of the rules API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleGroup {
    /// Group name.
    pub name: String,
    /// The rule file (a path on Prometheus, the namespace name on AMP).
    #[serde(default)]
    pub file: String,
    /// Evaluation interval in seconds.
    #[serde(default)]
    pub interval: f64,
    /// Last evaluation (RFC 3339; Go's zero time when never evaluated).
    #[serde(default)]
    pub last_evaluation: String,
    /// The group's rules.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One alerting or recording rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Alert name or recorded series name.
    pub name: String,
    /// `ok`, `err` or `unknown` (not evaluated yet).
    #[serde(default)]
    pub health: String,
    /// The evaluation error when `health == "err"`.
    #[serde(default)]
    pub last_error: Option<String>,
    /// `alerting` or `recording`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// For alerting rules: `inactive`, `pending` or `firing`.
    #[serde(default)]
    pub state: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Groups>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Groups {
    #[serde(default)]
    groups: Vec<RuleGroup>,
}

/// Reads every rule group from `<root>/api/v1/rules`.
///
/// # Errors
/// The endpoint cannot be reached, denies the call, or does not answer the rules API.
pub async fn fetch_rule_groups(
    http: &AlertsHttp,
    root: &str,
) -> Result<Vec<RuleGroup>, QueryError> {
    let url = monitor_amp::join_endpoint(root, "api/v1/rules");
    let body = http.get(&url, &[]).await?;
    let env: Envelope = decode(&url, &body)?;
    match (env.status.as_str(), env.data) {
        ("success", Some(d)) => Ok(d.groups),
        _ => Err(QueryError::Decode {
            url: monitor_amp::redacted_str(&url),
            message: env.error.unwrap_or_else(|| "not a rules API answer".into()),
        }),
    }
}

/// `file/group/rule` as shown in the report (the file's base name only).
fn rule_path(g: &RuleGroup, rule: &str) -> String {
    let file = g.file.rsplit('/').next().unwrap_or(&g.file);
    if file.is_empty() {
        format!("{}/{rule}", g.name)
    } else {
        format!("{file}/{}/{rule}", g.name)
    }
}

/// Turns the groups into results as of `now` (module docs).
pub fn judge(groups: &[RuleGroup], now: SystemTime) -> Vec<CheckResult> {
    let rules: usize = groups.iter().map(|g| g.rules.len()).sum();
    if rules == 0 {
        return vec![CheckResult::fail(
            ALERTS_RULES_LOADED,
            None,
            "the rules API lists no rules",
            HINT_RULES_MISSING,
        )];
    }
    let alerting = groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| r.kind == "alerting")
        .count();
    let mut out = vec![CheckResult::pass(
        ALERTS_RULES_LOADED,
        None,
        format!(
            "{rules} rules ({alerting} alerting) in {} groups",
            groups.len()
        ),
    )];
    out.extend(health(groups, rules));
    out.extend(freshness(groups, now));
    out
}

fn health(groups: &[RuleGroup], total: usize) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for g in groups {
        for r in &g.rules {
            let path = rule_path(g, &r.name);
            match r.health.as_str() {
                "ok" => {}
                "err" => out.push(CheckResult::fail(
                    ALERTS_RULES_HEALTH,
                    None,
                    format!(
                        "{path}: {}",
                        r.last_error.as_deref().unwrap_or("error (no message)")
                    ),
                    HINT_RULES_ERROR,
                )),
                other => out.push(CheckResult::warn(
                    ALERTS_RULES_HEALTH,
                    None,
                    format!("{path}: health {other:?}, not evaluated yet"),
                    "re-run after one evaluation interval",
                )),
            }
        }
    }
    if out.is_empty() {
        out.push(CheckResult::pass(
            ALERTS_RULES_HEALTH,
            None,
            format!("all {total} rules evaluate (health ok)"),
        ));
    }
    out
}

fn freshness(groups: &[RuleGroup], now: SystemTime) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for g in groups {
        let interval = Duration::from_secs_f64(g.interval.max(0.0));
        let limit = (interval * STALE_INTERVALS).max(STALE_MIN);
        let age =
            parse_rfc3339(&g.last_evaluation).map(|t| now.duration_since(t).unwrap_or_default());
        let path = rule_path(g, "").trim_end_matches('/').to_string();
        match age {
            None => out.push(CheckResult::fail(
                ALERTS_RULES_FRESH,
                None,
                format!(
                    "group {path} was never evaluated (interval {})",
                    humantime::format_duration(interval)
                ),
                HINT_RULES_STALE,
            )),
            Some(a) if a > limit => out.push(CheckResult::fail(
                ALERTS_RULES_FRESH,
                None,
                format!(
                    "group {path} last evaluated {} ago (interval {}, limit {})",
                    humantime::format_duration(Duration::from_secs(a.as_secs())),
                    humantime::format_duration(interval),
                    humantime::format_duration(limit)
                ),
                HINT_RULES_STALE,
            )),
            Some(_) => {}
        }
    }
    if out.is_empty() {
        out.push(CheckResult::pass(
            ALERTS_RULES_FRESH,
            None,
            format!("every group evaluated within {STALE_INTERVALS} intervals"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn groups(json: serde_json::Value) -> Vec<RuleGroup> {
        serde_json::from_value(json).unwrap()
    }

    fn at(s: &str) -> SystemTime {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn healthy_recent_groups_pass() {
        // Shape as Prometheus 2.42 answers (recorded from a real server).
        let g = groups(
            serde_json::json!([{"name": "host", "file": "/tmp/x/host.yml", "interval": 15,
            "lastEvaluation": "2026-12-02T22:40:13.02648894Z", "rules": [
            {"name": "NodeExporterDown", "health": "ok", "type": "alerting", "state": "inactive"},
            {"name": "instance:node_cpu_utilisation:rate5m", "health": "ok", "type": "recording"}]}]),
        );
        let r = judge(&g, at("2026-12-02T22:40:30Z"));
        assert!(r.iter().all(|r| r.status == Status::Pass), "{r:#?}");
        assert_eq!(r[0].detail, "2 rules (1 alerting) in 1 groups");
    }

    #[test]
    fn each_broken_rule_is_named_with_its_error_and_stale_groups_fail() {
        let g = groups(serde_json::json!([
            {"name": "host", "file": "/etc/rules/host.yml", "interval": 15,
             "lastEvaluation": "2026-12-02T22:30:00Z", "rules": [
                {"name": "A", "health": "err", "lastError": "found duplicate series", "type": "alerting"},
                {"name": "B", "health": "unknown", "type": "alerting"},
                {"name": "C", "health": "ok", "type": "recording"}]},
            {"name": "custom", "file": "user", "interval": 60, "lastEvaluation": "0001-01-01T00:00:00Z",
             "rules": [{"name": "D", "health": "ok", "type": "alerting"}]}]));
        let r = judge(&g, at("2026-12-02T22:40:00Z"));
        let of = |id: &str| r.iter().filter(|x| x.check == id).collect::<Vec<_>>();
        let bad = of(ALERTS_RULES_HEALTH);
        assert_eq!(bad.len(), 2, "{r:#?}");
        assert_eq!(bad[0].status, Status::Fail);
        assert_eq!(bad[0].detail, "host.yml/host/A: found duplicate series");
        assert_eq!(bad[0].hint.as_deref(), Some(HINT_RULES_ERROR));
        assert_eq!(bad[1].status, Status::Warn);
        let stale = of(ALERTS_RULES_FRESH);
        assert_eq!(stale.len(), 2, "{r:#?}");
        assert!(
            stale[0]
                .detail
                .contains("host.yml/host last evaluated 10m ago (interval 15s, limit 45s)"),
            "{}",
            stale[0].detail
        );
        assert!(
            stale[1].detail.contains("user/custom was never evaluated"),
            "{}",
            stale[1].detail
        );
    }

    #[test]
    fn no_rules_at_all_is_one_failure() {
        let r = judge(&[], SystemTime::now());
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].check.as_str(), r[0].status),
            (ALERTS_RULES_LOADED, Status::Fail)
        );
    }
}
