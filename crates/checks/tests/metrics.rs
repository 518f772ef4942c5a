//! The metrics checks against a fake Prometheus API (wiremock) for the situations a
//! healthy local stack does not produce: remote-write 403s, ADOT without the agent's own
//! metrics, insane values, stale data, a misnamed job, a forbidden query.
//!
//! The fake answers `POST /api/v1/query` by the start of the form's `query`, with the
//! response envelope of the Prometheus HTTP API docs
//! (https://prometheus.io/docs/prometheus/latest/querying/api/); unknown queries get an
//! empty vector, as Prometheus does for selectors that match nothing.

use monitor_amp::auth::Auth;
use monitor_amp::query::QueryClient;
use monitor_checks::catalog::*;
use monitor_checks::metrics::{run_metrics_checks, MetricsCheckConfig};
use monitor_checks::{ChecksError, Report, Status};
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Canned answers: (query prefix, response).
#[derive(Clone, Default)]
struct Fake {
    rules: Vec<(String, ResponseTemplate)>,
}

fn vector(rows: &[(Value, &str)]) -> ResponseTemplate {
    let result: Vec<Value> = rows
        .iter()
        .map(|(m, v)| json!({"metric": m, "value": [1700000000.0, v]}))
        .collect();
    ResponseTemplate::new(200).set_body_json(
        json!({"status": "success", "data": {"resultType": "vector", "result": result}}),
    )
}

impl Fake {
    fn on(mut self, prefix: &str, rows: &[(Value, &str)]) -> Fake {
        self.rules.push((prefix.to_string(), vector(rows)));
        self
    }

    fn answer(mut self, prefix: &str, resp: ResponseTemplate) -> Fake {
        self.rules.push((prefix.to_string(), resp));
        self
    }

    /// A healthy host `i-abc` scraped at 127.0.0.1:9100 by monitor-agent.
    fn healthy() -> Fake {
        let host = json!({"__name__": "up", "job": "node", "instance": "127.0.0.1:9100",
                          "instance_id": "i-abc", "env": "prod", "role": "web"});
        Fake::default()
            .on("vector(1)", &[(json!({}), "1")])
            .on("up{job=\"node\"}", &[(host, "1")])
            .on("time() - max(timestamp(", &[(json!({}), "2.5")])
            .on("100 * (1 - avg(rate(", &[(json!({}), "12.5")])
            .on("node_memory_MemAvailable_bytes{", &[(json!({}), "4e9")])
            .on("node_memory_MemTotal_bytes{", &[(json!({}), "8e9")])
            .on(
                "sum by (reason) (increase(monitor_agent_samples_dropped_total{job=\"monitor-agent\",instance_id=\"i-abc\"}",
                &[(json!({"reason": "queue_full"}), "0"), (json!({"reason": "rejected"}), "0")],
            )
            .on(
                "sum by (code) (increase(monitor_agent_remote_write_requests_total{job=\"monitor-agent\",instance_id=\"i-abc\"}",
                &[(json!({"code": "204"}), "120")],
            )
            .on(
                "sum(rate(monitor_agent_samples_sent_total{job=\"monitor-agent\",instance_id=\"i-abc\"}[600s])) or sum(rate({__name__=~\"otelcol_exporter_sent_metric_points(_total)?\",instance_id=\"i-abc\"}[600s]))",
                &[(json!({}), "8.25")],
            )
    }

    async fn serve(self) -> MockServer {
        let server = MockServer::start().await;
        let rules = self.rules;
        Mock::given(method("POST"))
            .respond_with(move |req: &Request| {
                let q = url::form_urlencoded::parse(&req.body)
                    .find(|(k, _)| k == "query")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                // Last rule wins, so scenarios override the healthy defaults.
                rules
                    .iter()
                    .rev()
                    .find(|(p, _)| q.starts_with(p.as_str()))
                    .map(|(_, r)| r.clone())
                    .unwrap_or_else(|| vector(&[]))
            })
            .mount(&server)
            .await;
        server
    }
}

async fn run(fake: Fake, cfg: MetricsCheckConfig) -> Result<Report, ChecksError> {
    let server = fake.serve().await;
    let client = QueryClient::new(&server.uri(), Auth::None).expect("client");
    run_metrics_checks(&client, &cfg).await
}

fn one<'a>(r: &'a Report, check: &str) -> &'a monitor_checks::CheckResult {
    let found: Vec<_> = r.of(check).collect();
    assert_eq!(found.len(), 1, "{check}: {:#?}", r.results);
    found[0]
}

#[tokio::test]
async fn healthy_host_passes_every_check() {
    let cfg = MetricsCheckConfig {
        expected_labels: vec!["env".into(), "role".into()],
        ..Default::default()
    };
    let r = run(Fake::healthy(), cfg).await.unwrap();
    for res in &r.results {
        let expected = if res.check.starts_with("metrics.") {
            Status::Pass
        } else {
            Status::Skip
        };
        assert_eq!(res.status, expected, "{res:#?}");
    }
    assert_eq!(one(&r, METRICS_UP).host.as_deref(), Some("i-abc"));
    assert_eq!(one(&r, METRICS_LABELS).detail, "env=prod role=web");
    assert!(one(&r, METRICS_MEMORY_SANE).detail.contains("(50 %)"));
    assert_eq!(r.exit_code(), 0);
}

#[tokio::test]
async fn remote_write_403_and_a_missing_label_fail_with_their_hints() {
    let fake = Fake::healthy().on(
        "sum by (code) (increase(monitor_agent_remote_write_requests_total",
        &[
            (json!({"code": "204"}), "10"),
            (json!({"code": "403"}), "5"),
        ],
    );
    let cfg = MetricsCheckConfig {
        expected_labels: vec!["env".into(), "team".into()],
        ..Default::default()
    };
    let r = run(fake, cfg).await.unwrap();
    let rw = one(&r, METRICS_AGENT_REMOTE_WRITE);
    assert_eq!(rw.status, Status::Fail);
    assert_eq!(rw.hint.as_deref(), Some(HINT_REMOTE_WRITE_403));
    assert!(rw.detail.contains("403 ≈ 5"), "{}", rw.detail);
    let labels = one(&r, METRICS_LABELS);
    assert_eq!(labels.status, Status::Fail);
    assert_eq!(labels.detail, "missing team; present env=prod");
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test]
async fn adot_host_without_agent_metrics_skips_them_and_insane_values_fail() {
    let fake = Fake::healthy()
        // ADOT: no monitor_agent_* series at all.
        .on("sum by (reason) (increase(monitor_agent", &[])
        .on("sum by (code) (increase(monitor_agent", &[])
        // … and ADOT's own telemetry not shipped either.
        .on("sum(rate(monitor_agent_samples_sent_total", &[])
        .on("100 * (1 - avg(rate(", &[(json!({}), "140")])
        .on("node_memory_MemAvailable_bytes{", &[(json!({}), "9e9")])
        .on(
            "time() - max(timestamp(node_disk_written_bytes_total",
            &[(json!({}), "400")],
        );
    let r = run(fake, MetricsCheckConfig::default()).await.unwrap();
    for id in [METRICS_AGENT_DROPPED, METRICS_AGENT_REMOTE_WRITE] {
        let res = one(&r, id);
        assert_eq!(res.status, Status::Skip, "{res:#?}");
        assert!(res.detail.contains("ADOT"), "{}", res.detail);
    }
    let rate = one(&r, METRICS_SAMPLES_RATE);
    assert_eq!(rate.status, Status::Skip, "{rate:#?}");
    assert!(
        rate.detail.contains("otelcol_exporter_sent_metric_points"),
        "{}",
        rate.detail
    );
    let cpu = one(&r, METRICS_CPU_UTILISATION);
    assert_eq!(
        (cpu.status, cpu.hint.as_deref()),
        (Status::Fail, Some(HINT_CPU_INSANE))
    );
    let mem = one(&r, METRICS_MEMORY_SANE);
    assert_eq!(
        (mem.status, mem.hint.as_deref()),
        (Status::Fail, Some(HINT_MEMORY_INSANE))
    );
    let disk = one(&r, METRICS_FRESH_DISK);
    assert_eq!(
        (disk.status, disk.hint.as_deref()),
        (Status::Fail, Some(HINT_STALE))
    );
    assert!(
        disk.detail
            .contains("newest node_disk_written_bytes_total sample is 6m 40s old (max 2m)"),
        "{}",
        disk.detail
    );
    assert_eq!(one(&r, METRICS_FRESH_CPU).status, Status::Pass);
    assert_eq!(one(&r, METRICS_LABELS).status, Status::Skip);
}

#[tokio::test]
async fn agent_drops_fail_and_name_the_reason() {
    let fake = Fake::healthy().on(
        "sum by (reason) (increase(monitor_agent_samples_dropped_total",
        &[
            (json!({"reason": "queue_full"}), "118.6"),
            (json!({"reason": "rejected"}), "0"),
        ],
    );
    let r = run(fake, MetricsCheckConfig::default()).await.unwrap();
    let d = one(&r, METRICS_AGENT_DROPPED);
    assert_eq!(d.status, Status::Fail);
    assert!(d.detail.contains("queue_full ≈ 119"), "{}", d.detail);
    assert!(!d.detail.contains("rejected"), "{}", d.detail);
}

#[tokio::test]
async fn no_node_job_points_at_the_job_name_and_the_collector() {
    let fake = Fake::healthy().on("up{job=\"node\"}", &[]).on(
        "count by (job) (up)",
        &[(json!({"job": "node_exporter"}), "1")],
    );
    let r = run(fake, MetricsCheckConfig::default()).await.unwrap();
    let up = one(&r, METRICS_UP);
    assert_eq!(up.host, None);
    assert_eq!(up.status, Status::Fail);
    assert_eq!(up.hint.as_deref(), Some(HINT_UP_MISSING));
    assert!(up.detail.contains("--job node_exporter"), "{}", up.detail);
    assert!(HINT_UP_MISSING.contains("/opt/aws/aws-otel-collector/etc/config.yaml"));
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test]
async fn named_hosts_are_matched_on_any_host_label() {
    let cfg = MetricsCheckConfig {
        hosts: vec!["127.0.0.1:9100".into(), "i-missing".into()],
        ..Default::default()
    };
    let r = run(Fake::healthy(), cfg).await.unwrap();
    let ups: Vec<_> = r.of(METRICS_UP).collect();
    assert_eq!(ups.len(), 2);
    assert_eq!(ups[0].host.as_deref(), Some("127.0.0.1:9100"));
    assert_eq!(ups[0].status, Status::Pass);
    assert_eq!(ups[1].host.as_deref(), Some("i-missing"));
    assert_eq!(ups[1].status, Status::Fail);
    // The agent series are joined through the instance_id external label.
    assert_eq!(one(&r, METRICS_AGENT_DROPPED).status, Status::Pass);
}

#[tokio::test]
async fn a_broken_check_query_fails_that_check_only() {
    let fake = Fake::healthy().answer(
        "100 * (1 - avg(rate(",
        ResponseTemplate::new(422).set_body_json(
            json!({"status": "error", "errorType": "execution", "error": "expanding series: boom"}),
        ),
    );
    let r = run(fake, MetricsCheckConfig::default()).await.unwrap();
    let cpu = one(&r, METRICS_CPU_UTILISATION);
    assert_eq!(cpu.status, Status::Fail);
    assert!(cpu.detail.contains("boom"), "{}", cpu.detail);
    assert_eq!(cpu.hint.as_deref(), Some(HINT_QUERY_FAILED));
    assert_eq!(one(&r, METRICS_UP).status, Status::Pass);
}

#[tokio::test]
async fn forbidden_is_an_auth_error_not_a_failed_check() {
    let fake = Fake::default().answer(
        "",
        ResponseTemplate::new(403).set_body_json(json!({"message": "not authorized"})),
    );
    let e = run(fake, MetricsCheckConfig::default()).await.unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string()
            .contains("the caller lacks aps:QueryMetrics on the workspace"),
        "{e}"
    );
}

#[tokio::test]
async fn samples_rate_is_shown_beside_the_estimate_and_warns_well_above_it() {
    let near = MetricsCheckConfig {
        expected_samples_per_second: Some(8.0),
        ..Default::default()
    };
    let r = run(Fake::healthy(), near).await.unwrap();
    let rate = one(&r, METRICS_SAMPLES_RATE);
    assert_eq!(rate.status, Status::Pass, "{rate:#?}");
    assert_eq!(
        rate.detail,
        "8.2 samples/s sent over the last 10m; the plan estimated 8.0"
    );
    let low = MetricsCheckConfig {
        expected_samples_per_second: Some(5.0),
        ..Default::default()
    };
    let r = run(Fake::healthy(), low).await.unwrap();
    let rate = one(&r, METRICS_SAMPLES_RATE);
    assert_eq!(
        (rate.status, rate.hint.as_deref()),
        (Status::Warn, Some(HINT_SAMPLES_RATE))
    );
    // A warning is not a failure.
    assert_eq!(r.exit_code(), 0);
}
