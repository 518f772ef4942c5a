//! The metric allowlist, proven on real processes: real node_exporter with the collector
//! flags of its rendered unit → monitor-agent with the keep rule of its rendered config
//! (`monitor_reconcile::allowlist::render_inputs` → `monitor_bootstrap::render_host`) →
//! real Prometheus, beside the same pipeline shipping everything (`[collector] metrics =
//! "all"`: node_exporter's default collectors, no keep rule). Every Hosts-dashboard panel
//! still returns data; every alert and recording rule and `monitor-verify` metrics check
//! — whole, and each of its selectors — that reads data from the "all" pipeline reads
//! data from the "used" one; every used metric node_exporter exposes arrives; `monitor-verify
//! metrics` passes; and the samples per scrape fall by ≥ 80 % against "all" — both
//! numbers printed. node_exporter runs only the collectors the allowlist needs, as the
//! rendered unit starts it, and loses nothing its default collectors would have exposed.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use monitor_testkit::{workspace_bin, LocalPipeline};

const STACK: &str = r#"name = "al"
[collector]
kind = "monitor-agent"
agent_url = "https://downloads.example.com/monitor-agent"
agent_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[alerting]
[[hosts]]
name = "web-1"
labels = { env = "test", role = "web", team = "platform" }
"#;

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
    // What `monitor-provision` renders for this host: the agent's keep rule and
    // node_exporter's command line, both taken from the rendered files.
    let inputs = monitor_reconcile::allowlist::render_inputs(&stack, None).unwrap();
    let host = monitor_bootstrap::render_host(&stack, &stack.hosts[0], &inputs).unwrap();
    let file = |path: &str| {
        host.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.content.clone())
            .unwrap_or_else(|| panic!("{path} not rendered"))
    };
    let agent: toml::Value = toml::from_str(&file(monitor_bootstrap::AGENT_CONFIG_PATH)).unwrap();
    let keep = &agent["scrape"][0]["metric_relabel_configs"][0];
    assert_eq!(keep["action"].as_str(), Some("keep"));
    let rule = format!(
        "\n[[scrape.metric_relabel_configs]]\nsource_labels = [\"__name__\"]\nregex = {}\naction = \"keep\"\n",
        keep["regex"]
    );
    let unit = file(monitor_bootstrap::NODE_EXPORTER_UNIT_PATH);
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    // Its collector flags, but the systemd collector's, which needs the host's D-Bus.
    let args: Vec<String> = exec
        .split_whitespace()
        .filter(|a| a.starts_with("--collector.") && !a.starts_with("--collector.systemd"))
        .map(str::to_string)
        .collect();
    assert!(
        args.contains(&"--collector.disable-defaults".to_string()),
        "{exec}"
    );
    let start = |rule: String, args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            LocalPipeline::start_with(
                monitor_testkit::TEST_INSTANCE_ID,
                &[("host", "web-1")],
                &rule,
                &args,
            )
        })
    };
    let p = start(rule, args).await.unwrap();
    // `metrics = "all"`: default collectors, no keep rule.
    let all = start(String::new(), Vec::new()).await.unwrap();
    p.wait_for_data().await;
    all.wait_for_data().await;
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

    // Every selector of every rule and check: what reads data when everything is shipped
    // reads data from what is shipped now. Recorded series (`level:metric:op`) come from
    // the rules themselves and the scrape's own series are always there; neither is
    // node_exporter's.
    // Whole expressions too: a recording rule's result, an alert's condition where it
    // holds on this machine, a check's query — what "all" answers, "used" answers.
    let mut proven = 0;
    let mut whole = 0;
    let mut lost = Vec::new();
    let mut nowhere = BTreeSet::new();
    for (origin, expr) in monitor_reconcile::allowlist::expressions(&stack).unwrap() {
        if origin.starts_with("panel") || origin.starts_with("variable") {
            continue; // proven above, with the dashboard's variables set
        }
        if !all.prometheus.query(&expr).await.is_empty() {
            if prom.query(&expr).await.is_empty() {
                lost.push(format!("{origin}: {expr}"));
            } else {
                whole += 1;
            }
        }
        for sel in monitor_promql::metric_names(&expr).unwrap().selectors {
            let name = sel.split(['{', ' ']).next().unwrap_or_default();
            if name.contains(':') || name == "up" || name.starts_with("scrape_") {
                continue;
            }
            if all.prometheus.query(&sel).await.is_empty() {
                nowhere.insert(sel);
            } else if prom.query(&sel).await.is_empty() {
                lost.push(format!("{origin}: {sel}"));
            } else {
                proven += 1;
            }
        }
    }
    println!(
        "rule and check expressions / selectors with data when shipping everything, and with the allowlist: {whole} / {proven}; \
         selectors without data on this machine either way: {nowhere:?}"
    );
    assert!(lost.is_empty(), "the allowlist empties: {lost:#?}");
    assert!(
        proven >= 20 && whole >= 10,
        "too few proven: {whole} expressions, {proven} selectors"
    );

    // Every used metric this node_exporter exposes at all arrives; "all" is what a
    // node_exporter with its default collectors exposes.
    let (_, page) = monitor_testkit::http_get(&p.node_exporter.addr, "/metrics").unwrap();
    let (narrowed_samples, exposed_names) = exposed(&page);
    let (_, full_page) = monitor_testkit::http_get(&all.node_exporter.addr, "/metrics").unwrap();
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
    // A `count(...)` query's value.
    let count = |q: &'static str| async move {
        prom.query(q)
            .await
            .first()
            .and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok())
            .unwrap_or_default() as usize
    };
    let shipped = count("count({job=\"node\",__name__!~\"up|scrape_.*\"})").await;
    let cut = 1.0 - shipped as f64 / all_samples as f64;
    println!(
        "samples per scrape: metrics = \"all\" {all_samples}, metrics = \"used\" {shipped} (−{:.0} %)",
        cut * 100.0
    );
    assert!(shipped > 0 && cut >= 0.8, "{shipped} of {all_samples}");

    // The estimate's default series per host (monitor-agent, "used") covers what this
    // host really ships: node_exporter's, the scrapes' own and the agent's own series.
    let per_host = count("count({host=\"web-1\"})").await;
    let own = count("count({job=\"monitor-agent\",__name__=~\"monitor_agent_.*\"})").await;
    let assumed = monitor_cost::usage::assumptions::series_per_host(true, true) as usize;
    println!("series per host: {per_host} shipped ({own} the agent's own); the estimate assumes {assumed}");
    assert!(own > 0 && per_host <= assumed, "{per_host} > {assumed}");

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
