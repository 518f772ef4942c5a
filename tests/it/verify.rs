//! monitor-verify end to end on the real local stack: node_exporter → monitor-agent →
//! Prometheus (the AMP stand-in), checked through the built `monitor-verify` binary.
//! Build it first: `cargo build -p monitor-verify -p monitor-agent`.

use monitor_checks::catalog::{
    AWS_SSM_ONLINE, HINT_NO_DATA, HINT_UP_ZERO, LOGS_GRAFANA_PANEL, METRICS_UP,
};
use monitor_checks::metrics::FRESHNESS;
use monitor_testkit::{free_port, workspace_bin, LocalPipeline};
use serde_json::Value;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const INSTANCE_ID: &str = monitor_testkit::TEST_INSTANCE_ID;

fn verify(args: &[&str]) -> Output {
    Command::new(workspace_bin("monitor-verify"))
        .args(args)
        .output()
        .expect("run monitor-verify")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `metrics --output json` and returns (exit code, results).
fn metrics_json(endpoint: &str) -> (Option<i32>, Vec<Value>, String) {
    let out = verify(&[
        "metrics",
        "--endpoint",
        endpoint,
        "--max-age",
        "30s",
        "--label",
        "env",
        "--label",
        "role",
        "--output",
        "json",
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    let results = doc["results"].as_array().cloned().unwrap_or_default();
    (out.status.code(), results, text(&out.stdout))
}

fn find<'a>(results: &'a [Value], check: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["check"] == check)
        .unwrap_or_else(|| panic!("no {check} in {results:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn checks_pass_on_a_healthy_stack_then_fail_with_hints_when_node_exporter_stops() {
    let mut p = LocalPipeline::start(INSTANCE_ID);
    let (prom, agent) = (&p.prometheus, &p.agent);
    let endpoint = prom.url();

    // Wait until every family and a CPU rate (two samples) are queryable.
    let mut wanted: Vec<String> = FRESHNESS
        .iter()
        .flat_map(|(_, ms)| ms.iter().map(|m| format!("{m}{{job=\"node\"}}")))
        .collect();
    wanted.push("rate(node_cpu_seconds_total{job=\"node\",mode=\"idle\"}[1m])".into());
    wanted.push("monitor_agent_samples_dropped_total{job=\"monitor-agent\"}".into());
    for q in &wanted {
        let r = prom.wait_for(q, Duration::from_secs(30)).await;
        assert!(
            !r.is_empty(),
            "{q} did not arrive; agent log:\n{}",
            agent.log()
        );
    }

    // Healthy: exit 0, every metrics check passes; the placeholders of later issues skip.
    let t = Instant::now();
    let (code, results, raw) = metrics_json(&endpoint);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "a healthy run took {:?}",
        t.elapsed()
    );
    assert_eq!(code, Some(0), "{raw}");
    assert!(results.len() >= 13, "{raw}");
    for r in &results {
        let check = r["check"].as_str().unwrap();
        let want = if [AWS_SSM_ONLINE, LOGS_GRAFANA_PANEL].contains(&check) {
            "skip"
        } else {
            "pass"
        };
        assert_eq!(r["status"], want, "{check}: {r:#}");
        if r["host"].is_string() {
            assert_eq!(r["host"], INSTANCE_ID, "{r:#}");
        }
    }
    // The table names the host and says PASS.
    let out = verify(&[
        "metrics",
        "--endpoint",
        &endpoint,
        "--host",
        INSTANCE_ID,
        "--max-age",
        "30s",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let table = text(&out.stdout);
    assert!(table.starts_with("STATUS  CHECK"), "{table}");
    assert!(
        table.contains(&format!(
            "PASS    metrics.up                  {INSTANCE_ID}"
        )),
        "{table}"
    );

    // Ad-hoc query: a table with one column per label.
    let out = verify(&["query", "up", "--endpoint", &endpoint]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let header = table.lines().next().unwrap_or_default();
    assert!(
        header.contains("job") && header.contains("instance_id") && header.ends_with("VALUE"),
        "{table}"
    );
    assert!(
        table.contains("node") && table.contains("monitor-agent"),
        "{table}"
    );
    let out = verify(&[
        "query",
        "sum(up)",
        "--endpoint",
        &endpoint,
        "--range",
        "30s",
        "--step",
        "5s",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["resultType"], "matrix", "{doc}");

    // Stop node_exporter: the agent reports up == 0 and ends the node series.
    p.node_exporter.proc.kill();
    let down = prom
        .wait_for("up{job=\"node\"} == 0", Duration::from_secs(15))
        .await;
    assert_eq!(down.len(), 1, "up did not drop to 0");
    let deadline = Instant::now() + Duration::from_secs(15);
    let (code, results, raw) = loop {
        let (code, results, raw) = metrics_json(&endpoint);
        let all_fresh_failed = FRESHNESS
            .iter()
            .all(|(id, _)| find(&results, id)["status"] == "fail");
        if (code == Some(1) && all_fresh_failed) || Instant::now() > deadline {
            break (code, results, raw);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(code, Some(1), "{raw}");
    let up = find(&results, METRICS_UP);
    assert_eq!(up["status"], "fail", "{up:#}");
    assert_eq!(up["hint"], HINT_UP_ZERO, "{up:#}");
    assert!(up["detail"].as_str().unwrap().contains("up == 0"), "{up:#}");
    for (id, metrics) in FRESHNESS {
        let r = find(&results, id);
        assert_eq!(r["status"], "fail", "{r:#}");
        assert_eq!(r["hint"], HINT_NO_DATA, "{r:#}");
        assert!(r["detail"].as_str().unwrap().contains(metrics[0]), "{r:#}");
    }
    // The table shows each failure's hint.
    let out = verify(&["metrics", "--endpoint", &endpoint, "--max-age", "30s"]);
    assert_eq!(out.status.code(), Some(1));
    let table = text(&out.stdout);
    assert!(table.contains("FAIL    metrics.up"), "{table}");
    assert!(
        table.contains(&format!("→ hint: {HINT_UP_ZERO}")),
        "{table}"
    );
    assert!(
        table.contains(&format!("→ hint: {HINT_NO_DATA}")),
        "{table}"
    );
}

#[test]
fn unreachable_or_misconfigured_endpoints_exit_2_with_a_clear_message() {
    // A free port with nothing listening.
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let out = verify(&["metrics", "--endpoint", &endpoint]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("monitor-verify: error: cannot reach"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{endpoint}/api/v1/query")) && err.contains("Connection refused"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        out.stdout.is_empty(),
        "no checklist for a setup error: {}",
        text(&out.stdout)
    );

    // JSON mode also says so on stdout, for CI.
    let out = verify(&["metrics", "--endpoint", &endpoint, "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert!(
        doc["error"].as_str().unwrap().contains("cannot reach"),
        "{doc}"
    );

    let out = verify(&["query", "up", "--endpoint", &endpoint]);
    assert_eq!(out.status.code(), Some(2));

    // An AMP endpoint without --region is refused before any request.
    let out = verify(&[
        "metrics",
        "--endpoint",
        "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pass --region eu-west-1"),
        "{}",
        text(&out.stderr)
    );
    // An API path instead of the root.
    let out = verify(&["metrics", "--endpoint", &format!("{endpoint}/api/v1/query")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pass the API root"),
        "{}",
        text(&out.stderr)
    );
    // Usage errors.
    assert_eq!(verify(&["metrics"]).status.code(), Some(2));
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("give --config stack.toml"),
        "{}",
        text(&out.stderr)
    );
    let out = verify(&["--config", "/nonexistent/stack.toml", "--output", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/stack.toml"),
        "{doc}"
    );
    assert_eq!(
        verify(&["metrics", "--endpoint", &endpoint, "--label", "not-a-label"])
            .status
            .code(),
        Some(2)
    );
}
