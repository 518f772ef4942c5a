//! `monitor-verify all`: the whole checklist as one call. Its rules live here, not in the
//! binary:
//!
//! 1. the metrics checks run first (a setup error — unreachable endpoint, 403 — stops the
//!    run before any log call);
//! 2. the hosts whose logs to check are the `--instance NAME=ID` pairs, or else every
//!    instance id the metrics checks reported ([`Report::instance_ids`]);
//! 3. the log checks run on the stack's log group with its retention, each host's newest
//!    event may be up to `max(metrics max-age, 10m)` old (the agent ships logs in batches,
//!    metrics every scrape), and cloud-init's lines are looked for `cloud_init_since` back;
//! 4. everything ends up in one [`Report`], metrics results first.
//!
//! The log checks themselves are CloudWatch Logs calls in `monitor-logs`, which depends on
//! this crate (for [`CheckResult`]); so they come in through the [`LogChecker`] trait
//! (`monitor_logs::LogChecks` implements it) instead of a dependency the other way round,
//! which would be a cycle.
//!
//! ```no_run
//! use monitor_checks::checklist::{run_all, Checklist, LogChecker, LogPlan};
//! use monitor_checks::{connect, metrics::MetricsCheckConfig, CheckResult};
//! use std::time::Duration;
//!
//! struct NoLogs;
//! impl LogChecker for NoLogs {
//!     async fn run_log_checks(&self, _plan: &LogPlan) -> Vec<CheckResult> {
//!         Vec::new()
//!     }
//! }
//! # async fn demo(stack: &monitor_stack::Stack) -> Result<(), monitor_checks::ChecksError> {
//! let query = connect::connect("http://127.0.0.1:9090", &connect::AuthMode::Unsigned).await?;
//! let list = Checklist::for_stack(stack, MetricsCheckConfig::default(), Vec::new(), Duration::from_secs(86_400));
//! let report = run_all(&query, &NoLogs, &list).await?;
//! std::process::exit(report.exit_code().into());
//! # }
//! ```

use std::future::Future;
use std::time::{Duration, SystemTime};

use monitor_amp::query::QueryClient;

use crate::metrics::{run_metrics_checks, MetricsCheckConfig};
use crate::{CheckResult, ChecksError, Report};

/// The shortest freshness window of the log checks in `all`: agents ship log batches less
/// often than metrics are scraped, so a metrics `--max-age` of 30s would fail healthy hosts.
pub const MIN_LOG_MAX_AGE: Duration = Duration::from_secs(600);

/// What `run_all` checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Checklist {
    /// The metrics checks.
    pub metrics: MetricsCheckConfig,
    /// The stack's log group (e.g. `/monitoring-test/system`).
    pub log_group: String,
    /// The log group's expected retention in days (`None`: any).
    pub log_retention: Option<i32>,
    /// `(name, instance_id)` of the hosts whose logs to check; empty = discover them from
    /// the metrics checks.
    pub instances: Vec<(String, String)>,
    /// Look for cloud-init's lines this far back.
    pub cloud_init_since: Duration,
}

impl Checklist {
    /// The checklist of `stack`: its log group and retention.
    pub fn for_stack(
        stack: &monitor_stack::Stack,
        metrics: MetricsCheckConfig,
        instances: Vec<(String, String)>,
        cloud_init_since: Duration,
    ) -> Checklist {
        Checklist {
            metrics,
            log_group: stack.logs.group.clone(),
            log_retention: i32::try_from(stack.logs.retention_days).ok(),
            instances,
            cloud_init_since,
        }
    }

    /// The log checks to run after the metrics checks produced `metrics` (rules 2 and 3
    /// of the module docs). Pure.
    pub fn log_plan(&self, metrics: &Report, now: SystemTime) -> LogPlan {
        let hosts = if self.instances.is_empty() {
            metrics
                .instance_ids()
                .into_iter()
                .map(|id| (id.clone(), id))
                .collect()
        } else {
            self.instances.clone()
        };
        LogPlan {
            group: self.log_group.clone(),
            expected_retention: self.log_retention,
            hosts,
            max_age: self.metrics.max_age.max(MIN_LOG_MAX_AGE),
            cloud_init_since: now.checked_sub(self.cloud_init_since).unwrap_or(now),
        }
    }
}

/// One run of the per-host log checks: a log group, the hosts, the freshness window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPlan {
    /// The log group the agents ship to.
    pub group: String,
    /// Expected retention in days (`None`: any).
    pub expected_retention: Option<i32>,
    /// `(host_name, instance_id)` of every host to check.
    pub hosts: Vec<(String, String)>,
    /// Each host's newest event must be younger than this.
    pub max_age: Duration,
    /// Look for cloud-init lines from this instant on.
    pub cloud_init_since: SystemTime,
}

/// Runs the log checks of a [`LogPlan`] (CloudWatch Logs in production:
/// `monitor_logs::LogChecks`; a fake in tests). A failing check is a result, never an error.
pub trait LogChecker {
    /// The group check, then each host's stream and cloud-init checks.
    fn run_log_checks(&self, plan: &LogPlan) -> impl Future<Output = Vec<CheckResult>>;
}

/// The whole checklist (module docs): metrics, then the log checks of the discovered or
/// given hosts, in one report.
///
/// # Errors
/// [`ChecksError::Usage`] for an invalid metrics config (before any I/O);
/// [`ChecksError::Query`] when the metrics endpoint cannot be queried.
pub async fn run_all(
    query: &QueryClient,
    logs: &impl LogChecker,
    list: &Checklist,
) -> Result<Report, ChecksError> {
    list.metrics.validate()?;
    let mut report = run_metrics_checks(query, &list.metrics).await?;
    let plan = list.log_plan(&report, SystemTime::now());
    report.results.extend(logs.run_log_checks(&plan).await);
    Ok(report)
}

/// Parses `--instance NAME=i-…` values.
///
/// # Errors
/// [`ChecksError::Usage`] naming the first value that is not `NAME=i-…`.
pub fn parse_instances(items: &[String]) -> Result<Vec<(String, String)>, ChecksError> {
    items
        .iter()
        .map(|h| match h.split_once('=') {
            Some((n, id)) if !n.is_empty() && id.starts_with("i-") => {
                Ok((n.to_string(), id.to_string()))
            }
            _ => Err(ChecksError::Usage(format!(
                "--instance {h:?}: expected NAME=i-…"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn checklist(instances: Vec<(String, String)>, max_age: Duration) -> Checklist {
        Checklist {
            metrics: MetricsCheckConfig {
                max_age,
                ..MetricsCheckConfig::default()
            },
            log_group: "/monitoring-test/system".into(),
            log_retention: Some(30),
            instances,
            cloud_init_since: Duration::from_secs(3600),
        }
    }

    fn metrics_about(hosts: &[&str]) -> Report {
        Report {
            results: hosts
                .iter()
                .map(|h| CheckResult::pass("metrics.up", Some(h), "up"))
                .collect(),
        }
    }

    #[test]
    fn hosts_are_discovered_from_the_metrics_instance_ids_unless_given() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let metrics = metrics_about(&["i-0b", "web-1", "i-0a", "i-0b"]);
        let plan = checklist(Vec::new(), Duration::from_secs(30)).log_plan(&metrics, now);
        assert_eq!(
            plan,
            LogPlan {
                group: "/monitoring-test/system".into(),
                expected_retention: Some(30),
                hosts: vec![
                    ("i-0a".into(), "i-0a".into()),
                    ("i-0b".into(), "i-0b".into())
                ],
                max_age: MIN_LOG_MAX_AGE,
                cloud_init_since: now - Duration::from_secs(3600),
            }
        );

        let given = vec![("web-1".to_string(), "i-0c".to_string())];
        let plan = checklist(given.clone(), Duration::from_secs(1200)).log_plan(&metrics, now);
        assert_eq!(plan.hosts, given);
        assert_eq!(
            plan.max_age,
            Duration::from_secs(1200),
            "a longer max-age wins"
        );
    }

    #[test]
    fn instances_are_name_equals_instance_id() {
        let ok = parse_instances(&["web-1=i-0abc".into()]).unwrap();
        assert_eq!(ok, vec![("web-1".to_string(), "i-0abc".to_string())]);
        for bad in ["web-1", "=i-0abc", "web-1=0abc"] {
            let e = parse_instances(&[bad.into()]).unwrap_err();
            assert!(matches!(e, ChecksError::Usage(_)), "{bad}: {e}");
            assert!(e.to_string().contains("expected NAME=i-"), "{e}");
        }
    }

    #[derive(Default)]
    struct FakeLogs(Mutex<Vec<LogPlan>>);

    impl LogChecker for FakeLogs {
        async fn run_log_checks(&self, plan: &LogPlan) -> Vec<CheckResult> {
            self.0.lock().unwrap().push(plan.clone());
            plan.hosts
                .iter()
                .map(|(_, id)| CheckResult::fail("logs.stream", Some(id), "no stream", "hint"))
                .collect()
        }
    }

    async fn prometheus_without_data() -> MockServer {
        let server = MockServer::start().await;
        let empty = serde_json::json!({
            "status": "success",
            "data": { "resultType": "vector", "result": [] }
        });
        Mock::given(path("/api/v1/query"))
            .respond_with(ResponseTemplate::new(200).set_body_json(empty))
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn one_report_holds_the_metrics_then_the_log_results() {
        let server = prometheus_without_data().await;
        let query = crate::connect::connect(&server.uri(), &crate::connect::AuthMode::Unsigned)
            .await
            .unwrap();
        let logs = FakeLogs::default();
        let list = checklist(
            vec![("web-1".into(), "i-0c".into())],
            Duration::from_secs(120),
        );
        let report = run_all(&query, &logs, &list).await.unwrap();

        let plans = logs.0.lock().unwrap().clone();
        assert_eq!(plans.len(), 1, "the log checks run once");
        assert_eq!(plans[0].hosts, list.instances);
        let last = report.results.last().unwrap();
        assert_eq!(
            (last.check.as_str(), last.host.as_deref()),
            ("logs.stream", Some("i-0c"))
        );
        assert!(
            report
                .results
                .iter()
                .any(|r| r.check.starts_with("metrics.")),
            "{report:?}"
        );
        assert_eq!(report.exit_code(), 1);
    }

    #[tokio::test]
    async fn a_setup_error_stops_before_the_log_checks() {
        let logs = FakeLogs::default();
        let mut list = checklist(Vec::new(), Duration::from_secs(120));
        list.metrics.job = " ".into();
        let query =
            crate::connect::connect("http://127.0.0.1:9", &crate::connect::AuthMode::Unsigned)
                .await
                .unwrap();
        let e = run_all(&query, &logs, &list).await.unwrap_err();
        assert!(matches!(e, ChecksError::Usage(_)), "{e}");

        list.metrics.job = "node".into();
        let e = run_all(&query, &logs, &list).await.unwrap_err();
        assert!(
            matches!(e, ChecksError::Query(_)),
            "an unreachable endpoint: {e}"
        );
        assert!(logs.0.lock().unwrap().is_empty());
    }
}
