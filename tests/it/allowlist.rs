//! The metric allowlist, proven on real processes: real node_exporter → monitor-agent with
//! the keep rule `monitor-provision` renders for a default stack
//! (`monitor_reconcile::allowlist::keep_regex`; `crates/bootstrap/tests/render.rs` proves
//! the rendered configs carry exactly it) → real Prometheus. Every Hosts-dashboard panel
//! still returns data, every used metric node_exporter exposes arrives, `monitor-verify
//! metrics` passes, and the samples per scrape fall by ≥ 80 % against shipping
//! everything (`[collector] metrics = "all"`); both numbers are printed. node_exporter
//! runs only the collectors the allowlist needs, as the rendered unit starts it, and loses
//! nothing its default collectors would have exposed.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use monitor_testkit::{workspace_bin, LocalPipeline};

const STACK: &str = "name = \"al\"\n[alerting]\n[[hosts]]\nname = \"web-1\"\nlabels = { env = \"test\", role = \"web\", team = \"platform\" }\n";

/// Samples on a node_exporter page (what `metrics = "all"` ships per scrape), by name.
fn exposed(page: &str) -> (usize, BTreeSet<String>) {
    let lines: Vec<&str> = page
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let names = lines
        .iter()
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_string())
        .collect();
    (lines.len(), names)
}

#[tokio::test(flavor = "multi_thread")]
async fn only_used_metrics_are_shipped_and_nothing_goes_empty() {
    let stack = monitor_stack::from_toml_str(STACK, "stack.toml".as_ref()).unwrap();
    let keep = monitor_reconcile::allowlist::keep_regex(&stack)
        .unwrap()
        .expect("metrics = \"used\" is the default");
    let rule = format!(
        "\n[[scrape.metric_relabel_configs]]\nsource_labels = [\"__name__\"]\nregex = {}\naction = \"keep\"\n",
        toml_string(&keep)
    );
    // node_exporter runs only the collectors the allowlist needs, as the rendered unit
    // starts it (`--collector.disable-defaults --collector.…`).
    let collectors = monitor_reconcile::allowlist::node_collectors(&stack)
        .unwrap()
        .expect("every used metric maps to a collector");
    let mut args = vec!["--collector.disable-defaults".to_string()];
    args.extend(
        collectors
            .iter()
            .filter(|c| *c != "systemd")
            .map(|c| format!("--collector.{c}")),
    );
    let p = tokio::task::spawn_blocking(move || {
        LocalPipeline::start_with(
            monitor_testkit::TEST_INSTANCE_ID,
            &[("host", "web-1")],
            &rule,
            &args,
        )
    })
    .await
    .unwrap();
    p.wait_for_data().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let prom = &p.prometheus;

    // Every panel of the Hosts dashboard, as Grafana would send it for "All".
    let dashboard = monitor_grafana::dashboards::hosts_dashboard("al");
    let mut empty = Vec::new();
    for (panel, expr) in monitor_grafana::dashboards::panel_queries(&dashboard) {
        let q = expr
            .replace("$__rate_interval", "30s")
            .replace("$__interval", "5s")
            .replace("$instance", ".*")
            .replace("${instance}", ".*")
            .replace("$env", ".*")
            .replace("$role", ".*")
            .replace("$team", ".*");
        // Alert-state panels read ALERTS, which only rules make; no rules run here.
        if q.contains("ALERTS") {
            continue;
        }
        if prom.query(&q).await.is_empty() {
            empty.push(format!("{panel}: {q}"));
        }
    }
    assert!(
        empty.is_empty(),
        "panels without data:\n{}",
        empty.join("\n")
    );

    // Every used metric this node_exporter exposes at all arrives; "all" is what a
    // node_exporter with its default collectors exposes.
    let (_, page) = monitor_testkit::http_get(&p.node_exporter.addr, "/metrics").unwrap();
    let (narrowed_samples, exposed_names) = exposed(&page);
    let default_ne = tokio::task::spawn_blocking(monitor_testkit::NodeExporter::start)
        .await
        .unwrap();
    let (_, full_page) = monitor_testkit::http_get(&default_ne.addr, "/metrics").unwrap();
    let (all_samples, all_names) = exposed(&full_page);
    println!(
        "node_exporter samples per scrape: default collectors {all_samples}, narrowed {narrowed_samples}"
    );
    assert!(narrowed_samples < all_samples);
    let used = monitor_reconcile::allowlist::used_metrics(&stack).unwrap();
    let mut missing = Vec::new();
    for name in used.names.iter().filter(|n| exposed_names.contains(*n)) {
        if prom
            .query(&format!("{name}{{job=\"node\"}}"))
            .await
            .is_empty()
        {
            missing.push(name.clone());
        }
    }
    assert!(missing.is_empty(), "used but not shipped: {missing:?}");
    let absent: Vec<&String> = used
        .names
        .iter()
        .filter(|n| !exposed_names.contains(*n))
        .collect();
    // Narrowing loses nothing the default collectors would have had.
    let lost: Vec<&&String> = absent.iter().filter(|n| all_names.contains(**n)).collect();
    assert!(lost.is_empty(), "narrowed collectors lost {lost:?}");
    println!("used metrics this node_exporter does not expose (nothing to ship): {absent:?}");

    // What one scrape ships now against everything.
    let shipped: usize = prom
        .query("count({job=\"node\",__name__!~\"up|scrape_.*\"})")
        .await
        .first()
        .and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok())
        .unwrap_or_default() as usize;
    let cut = 1.0 - shipped as f64 / all_samples as f64;
    println!(
        "samples per scrape: metrics = \"all\" {all_samples}, metrics = \"used\" {shipped} (−{:.0} %)",
        cut * 100.0
    );
    assert!(shipped > 0 && cut >= 0.8, "{shipped} of {all_samples}");

    // The metrics checks still pass on what is shipped.
    let out = Command::new(workspace_bin("monitor-verify"))
        .args([
            "metrics",
            "--endpoint",
            &prom.url(),
            "--label",
            "env",
            "--label",
            "host",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
