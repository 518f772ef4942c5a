//! Alerting end to end on real processes: node_exporter → monitor-agent → Prometheus (the
//! AMP stand-in) evaluating the rules `monitor-alerts` renders → a real Alertmanager with
//! the routing it renders → a webhook ([`AlertSink`]). Stopping node_exporter pages
//! `NodeExporterDown`; killing the agent pages `HostAbsent`; a healthy stack pages nobody,
//! and `monitor-verify alerts --fire-drill` proves the path. The `for`/windows that decide
//! how fast an alert fires are shortened through `[alerting.rules.*]` overrides, the same
//! keys a user sets.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use monitor_alerts::alertmanager::{self, Delivery, Timing};
use monitor_stack::Severity;
use monitor_testkit::{
    agent_config, free_port, spawn_bin, workspace_bin, AlertSink, Alertmanager, NodeExporter, Proc,
    Prometheus, PrometheusOptions, TEST_INSTANCE_ID,
};

const HOST: &str = "web-1";

/// The stack the rules are rendered from: one host labelled as the test agent labels its
/// series, and the stack-health alerts made fast.
fn stack() -> monitor_stack::Stack {
    let text = format!(
        r#"
[collector]
scrape_interval = "1s"
scrape_timeout = "900ms"

[alerting]
[alerting.rules.NodeExporterDown]
for = "5s"
[alerting.rules.HostAbsent]
threshold = 10
for = "5s"
[alerting.rules.CollectorRemoteWriteFailing]
for = "10s"

[[hosts]]
name = "{HOST}"
labels = {{ env = "test", role = "web", team = "platform" }}
"#
    );
    monitor_stack::from_toml_str(&text, Path::new("alerting-test.toml")).expect("test stack")
}

struct Stack {
    sink: AlertSink,
    alertmanager: Alertmanager,
    prometheus: Prometheus,
    node_exporter: NodeExporter,
    agent: Proc,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Stack {
    async fn start() -> Stack {
        let sink = AlertSink::start().await;
        let am_cfg = alertmanager::config(
            &[Severity::Critical, Severity::Warning],
            &Delivery::Webhook { url: sink.url() },
            Timing {
                group_wait: Duration::from_secs(1),
                group_interval: Duration::from_secs(2),
            },
            &[],
        );
        let alertmanager = Alertmanager::start(&am_cfg);
        let rules = monitor_alerts::stack_rules(&stack()).expect("rules render");
        let prometheus = Prometheus::start(&PrometheusOptions {
            rule_files: rules.iter().map(|n| n.file.to_yaml()).collect(),
            alertmanager: Some(alertmanager.addr.clone()),
            ..Default::default()
        });
        let node_exporter = NodeExporter::start();
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = agent_config(
            &node_exporter.metrics_url(),
            &prometheus.remote_write_url(),
            &format!("127.0.0.1:{}", free_port()),
            TEST_INSTANCE_ID,
        )
        .replace("[labels]\n", &format!("[labels]\nhost = \"{HOST}\"\n"));
        let cfg_path = dir.path().join("agent.toml");
        std::fs::write(&cfg_path, cfg).expect("write agent.toml");
        let (agent, agent_dir) = spawn_bin(
            "monitor-agent",
            &["--config", cfg_path.to_str().expect("utf-8 path")],
            &[("RUST_LOG", "info")],
        );
        let up = format!("up{{job=\"node\",host=\"{HOST}\"}} == 1");
        let got = prometheus.wait_for(&up, Duration::from_secs(30)).await;
        assert!(!got.is_empty(), "no data; agent log:\n{}", agent.log());
        Stack {
            sink,
            alertmanager,
            prometheus,
            node_exporter,
            agent,
            _dirs: (dir, agent_dir),
        }
    }

    fn firing(&self, alertname: &str) -> Vec<monitor_testkit::WebhookAlert> {
        self.sink
            .alerts()
            .into_iter()
            .filter(|a| a.is_firing() && a.label("alertname") == Some(alertname))
            .collect()
    }

    fn diagnostics(&self) -> String {
        format!(
            "webhook got: {:#?}\nprometheus log tail:\n{}\nalertmanager log tail:\n{}",
            self.sink.messages(),
            tail(&self.prometheus.proc.log()),
            tail(&self.alertmanager.proc.log())
        )
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn stopped_node_exporter_pages_node_exporter_down_not_host_absent() {
    let mut s = Stack::start().await;
    s.node_exporter.proc.kill();
    // for 5s + 1s evaluation + 1s group_wait, with margin for a loaded machine.
    let alert = s
        .sink
        .wait_for(Duration::from_secs(60), |a| {
            a.is_firing() && a.label("alertname") == Some("NodeExporterDown")
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "NodeExporterDown never reached the webhook\n{}",
                s.diagnostics()
            )
        });
    assert_eq!(alert.label("host"), Some(HOST));
    assert_eq!(alert.label("severity"), Some("critical"));
    assert_eq!(alert.label("instance_id"), Some(TEST_INSTANCE_ID));
    let description = alert
        .annotations
        .get("description")
        .cloned()
        .unwrap_or_default();
    assert!(
        description.contains(&format!(
            "Host: {HOST} ({TEST_INSTANCE_ID}; env=test, role=web, team=platform)"
        )),
        "{description}"
    );
    // The agent still sends (up == 0), so the host is not absent.
    assert!(s.firing("HostAbsent").is_empty(), "{}", s.diagnostics());
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_agent_pages_host_absent() {
    let s = Stack::start().await;
    s.agent.signal("KILL");
    // 10 s window + for 5s + evaluation and grouping, with margin.
    let alert = s
        .sink
        .wait_for(Duration::from_secs(90), |a| {
            a.is_firing() && a.label("alertname") == Some("HostAbsent")
        })
        .await
        .unwrap_or_else(|| panic!("HostAbsent never reached the webhook\n{}", s.diagnostics()));
    for (k, v) in [
        ("host", HOST),
        ("env", "test"),
        ("role", "web"),
        ("team", "platform"),
        ("severity", "critical"),
    ] {
        assert_eq!(alert.label(k), Some(v), "label {k} of {alert:#?}");
    }
    // node_exporter is fine; with no agent nothing says otherwise.
    assert!(
        s.firing("NodeExporterDown").is_empty(),
        "{}",
        s.diagnostics()
    );
}

/// A healthy stack pages nobody for two minutes of 1 s evaluations, with the stack-health
/// alerts at `for` of seconds; then the fire drill goes through the same route. (The host
/// resource alerts keep their default `for` of 15 minutes or more, so this machine's own
/// load cannot fire them here.)
#[tokio::test(flavor = "multi_thread")]
async fn healthy_stack_pages_nobody_and_the_fire_drill_reaches_the_receiver() {
    let s = Stack::start().await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(
        s.sink.messages().is_empty(),
        "a healthy stack paged someone\n{}",
        s.diagnostics()
    );
    // The stack's own alerts are not even pending. Host resource alerts may be pending on
    // this machine's real state (a sandbox clock that is not NTP-synchronised, say): shown,
    // not asserted, since their `for` keeps them from paging within the test.
    let stack_health = s
        .prometheus
        .query("ALERTS{alertname=~\"NodeExporterDown|HostAbsent|Collector.*\"}")
        .await;
    assert!(
        stack_health.is_empty(),
        "stack-health alerts pending or firing: {stack_health:#?}"
    );
    for a in s.prometheus.query("ALERTS").await {
        eprintln!(
            "pending on this machine (not paged): {}",
            a["metric"]["alertname"]
        );
    }

    let out = Command::new(workspace_bin("monitor-verify"))
        .args([
            "alerts",
            "--endpoint",
            &s.prometheus.url(),
            "--alertmanager",
            &s.alertmanager.url(),
            "--fire-drill",
            "--drill-timeout",
            "60s",
        ])
        .output()
        .expect("run monitor-verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "monitor-verify alerts --fire-drill failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drill = s
        .sink
        .wait_for(Duration::from_secs(30), |a| {
            a.label("alertname") == Some("MonitorFireDrill")
        })
        .await;
    assert!(
        drill.is_some(),
        "the drill did not reach the webhook\n{stdout}\n{}",
        s.diagnostics()
    );
}
