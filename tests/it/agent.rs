//! monitor-agent end to end: real node_exporter → monitor-agent → real Prometheus
//! (remote-write receiver, the AMP stand-in), asserted through the PromQL HTTP API.

use monitor_testkit::{
    free_port, spawn_bin, LocalPipeline, NodeExporter, Prometheus, PrometheusOptions,
};
use std::collections::BTreeMap;
use std::time::Duration;

fn agent_config(target: &str, receiver: &str, listen: &str) -> String {
    monitor_testkit::agent_config(target, receiver, listen, monitor_testkit::TEST_INSTANCE_ID)
}

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let p = dir.join("agent.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn node_metrics_arrive_with_job_instance_and_external_labels() {
    let mut p = LocalPipeline::start(monitor_testkit::TEST_INSTANCE_ID);
    let (ne, prom, listen) = (&p.node_exporter, &p.prometheus, p.agent_listen.clone());
    let ne_addr = ne.addr.clone();
    let sel = |m: &str| {
        format!("{m}{{job=\"node\",instance=\"{ne_addr}\",env=\"test\",role=\"web\",team=\"platform\",instance_id=\"i-0123456789abcdef0\"}}")
    };
    for metric in [
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_filesystem_avail_bytes",
        "node_disk_read_bytes_total",
        "node_network_receive_bytes_total",
    ] {
        let r = prom.wait_for(&sel(metric), Duration::from_secs(20)).await;
        assert!(
            !r.is_empty(),
            "{metric} did not arrive; agent log:\n{}",
            p.agent.log()
        );
    }
    let up = prom
        .wait_for(&format!("{} == 1", sel("up")), Duration::from_secs(10))
        .await;
    assert_eq!(up.len(), 1, "up == 1 expected");
    // Rates work, i.e. successive samples arrived in order.
    let rate = prom
        .wait_for(
            &format!("rate({}[5s])", sel("node_cpu_seconds_total")),
            Duration::from_secs(15),
        )
        .await;
    assert!(!rate.is_empty(), "rate() over agent data is empty");

    // The agent's own metrics: served locally and shipped as job="monitor-agent".
    let (status, body) = monitor_testkit::http_get(&listen, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("monitor_agent_samples_sent_total"), "{body}");
    assert!(
        body.contains("monitor_agent_samples_dropped_total{reason=\"queue_full\"} 0"),
        "{body}"
    );
    let own = prom
        .wait_for(
            "monitor_agent_samples_sent_total{job=\"monitor-agent\",env=\"test\"} > 0",
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(own.len(), 1, "agent self-metrics not shipped");

    // Stop node_exporter: up goes to 0 and the node series go stale (absent at once,
    // not after Prometheus' 5-minute lookback).
    p.node_exporter.proc.kill();
    let down = prom
        .wait_for(&format!("{} == 0", sel("up")), Duration::from_secs(15))
        .await;
    assert_eq!(down.len(), 1, "up did not drop to 0");
    let mut gone = false;
    for _ in 0..50 {
        if prom.query(&sel("node_cpu_seconds_total")).await.is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(gone, "staleness markers did not end the node series");

    // SIGTERM: clean exit.
    let agent = &mut p.agent;
    agent.signal("TERM");
    let st = agent
        .wait_exit(Duration::from_secs(15))
        .expect("agent did not exit on SIGTERM");
    assert!(st.success(), "exit status {st}; log:\n{}", agent.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_and_direct_scrape_land_identical_series() {
    // A tricky exposition served by a real HTTP server; Prometheus scrapes it directly
    // (job "direct") and the agent scrapes the same bytes (job "agent").
    let exposition = include_str!("../../crates/collector/tests/corpus/tricky.prom");
    let target = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_raw(exposition, "text/plain; version=0.0.4"),
        )
        .mount(&target)
        .await;
    let addr = target.address().to_string();
    let prom = Prometheus::start(&PrometheusOptions {
        scrape_configs: vec![format!("  - job_name: direct\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['{addr}']\n")],
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[agent]\nlisten = \"\"\nself_metrics = false\n[[scrape]]\njob = \"agent\"\nurl = \"http://{addr}/metrics\"\ninterval = \"1s\"\n[remote_write]\nurl = \"{}\"\nbatch_send_deadline = \"100ms\"\n",
        prom.remote_write_url()
    );
    let cfg = write_config(dir.path(), &cfg);
    let (_agent, _d) = spawn_bin("monitor-agent", &["--config", &cfg], &[]);

    let synthetic = [
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ];
    let collect = |rows: Vec<serde_json::Value>| -> BTreeMap<String, String> {
        rows.into_iter()
            .filter_map(|r| {
                let mut m = r["metric"].as_object().unwrap().clone();
                let name = m["__name__"].as_str().unwrap().to_string();
                if synthetic.contains(&name.as_str()) {
                    return None;
                }
                m.remove("job");
                Some((
                    serde_json::Value::Object(m).to_string(),
                    r["value"][1].as_str().unwrap().to_string(),
                ))
            })
            .collect()
    };
    let mut direct = BTreeMap::new();
    let mut via = BTreeMap::new();
    for _ in 0..100 {
        direct = collect(prom.query("{job=\"direct\"}").await);
        via = collect(prom.query("{job=\"agent\"}").await);
        if !direct.is_empty() && direct.len() == via.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        direct.len() >= 10,
        "direct scrape produced {} series",
        direct.len()
    );
    assert_eq!(
        direct, via,
        "agent path differs from Prometheus' own scrape"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn once_mode_and_check_config_exit_codes() {
    let ne = NodeExporter::start();
    let prom = Prometheus::start(&PrometheusOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(
        dir.path(),
        &agent_config(&ne.metrics_url(), &prom.remote_write_url(), ""),
    );
    let out = std::process::Command::new(monitor_testkit::workspace_bin("monitor-agent"))
        .args(["--config", &good, "--once"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sent "));
    assert!(!prom
        .wait_for("node_load1{job=\"node\"}", Duration::from_secs(10))
        .await
        .is_empty());

    // Unreachable target → --once exits 1.
    let bad_target = agent_config(
        &format!("http://127.0.0.1:{}/metrics", free_port()),
        &prom.remote_write_url(),
        "",
    );
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, bad_target).unwrap();
    let out = std::process::Command::new(monitor_testkit::workspace_bin("monitor-agent"))
        .args(["--once", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // check-config: 0 for valid, 2 with file:line: key for invalid.
    let out = std::process::Command::new(monitor_testkit::workspace_bin("monitor-agent"))
        .args(["check-config", &good])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        agent_config("http://x:1/m", "http://y:2/w", "")
            .replace("timeout = \"900ms\"", "timeout = \"5s\""),
    )
    .unwrap();
    let out = std::process::Command::new(monitor_testkit::workspace_bin("monitor-agent"))
        .arg("check-config")
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:16: scrape[0].timeout", broken.display())),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metric_relabel_configs_keep_only_what_is_asked_for() {
    let ne = NodeExporter::start();
    let prom = Prometheus::start(&PrometheusOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let rules = r#"
[[scrape.metric_relabel_configs]]
source_labels = ["__name__"]
regex = "node_cpu_seconds_total|node_load1"
action = "keep"

[[scrape.metric_relabel_configs]]
source_labels = ["mode"]
regex = "idle"
target_label = "idle"
replacement = "yes"
"#;
    let text = agent_config(&ne.metrics_url(), &prom.remote_write_url(), &listen)
        .replace("\n[remote_write]", &format!("{rules}\n[remote_write]"));
    let cfg = write_config(dir.path(), &text);
    let (agent, _d) = spawn_bin("monitor-agent", &["--config", &cfg], &[]);
    let idle = prom
        .wait_for(
            "node_cpu_seconds_total{job=\"node\",mode=\"idle\",idle=\"yes\",env=\"test\"}",
            Duration::from_secs(20),
        )
        .await;
    assert!(
        !idle.is_empty(),
        "rewritten series missing; agent log:\n{}",
        agent.log()
    );
    prom.wait_for("node_load1{job=\"node\"}", Duration::from_secs(10))
        .await;
    // Let a few more scrapes land, then nothing else of node_exporter's may be there.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let names = prom
        .query("count by (__name__) ({job=\"node\"})")
        .await
        .into_iter()
        .map(|s| s["metric"]["__name__"].as_str().unwrap().to_string())
        .collect::<std::collections::BTreeSet<_>>();
    let want: std::collections::BTreeSet<String> = [
        "node_cpu_seconds_total",
        "node_load1",
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
    ]
    .map(String::from)
    .into();
    assert_eq!(names, want);
    assert!(prom
        .query("node_cpu_seconds_total{mode=\"user\",idle=\"yes\"}")
        .await
        .is_empty());
    // What the rules dropped is counted as filtered, not as lost.
    let (_, body) = monitor_testkit::http_get(&listen, "/metrics").unwrap();
    let filtered = body
        .lines()
        .find(|l| l.starts_with("monitor_agent_samples_filtered_total{job=\"node\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no filtered counter in:\n{body}"));
    assert!(filtered > 100.0, "{filtered}");
    assert!(
        !body.contains("monitor_agent_samples_dropped_total{reason=\"relabel\"}"),
        "{body}"
    );
}
