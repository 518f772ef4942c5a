//! The proof that every panel shows data: real node_exporter → monitor-agent (external
//! labels env/role/team/instance_id, 1 s interval) → real Prometheus (remote-write
//! receiver, the AMP stand-in). Every PromQL expression of every hosts-dashboard panel,
//! with the dashboard variables substituted as Grafana would, is parsed with
//! `promql-parser` and executed through `/api/v1/query`; an empty result fails the test,
//! naming the panel and the expression. The variable queries (`label_values(...)`) are run
//! too. Needs `cargo build -p monitor-agent` first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers, not only #[test] fns

use std::time::Duration;

use monitor_grafana::dashboards::{hosts_dashboard, PanelKind, Target};
use monitor_testkit::LocalPipeline;

const INSTANCE_ID: &str = monitor_testkit::TEST_INSTANCE_ID;

/// Grafana's substitution: `$__rate_interval`, `$__interval`, then the user variables.
fn substitute(expr: &str, vars: &[(&str, &str)]) -> String {
    let mut e = expr
        .replace("$__rate_interval", "30s")
        .replace("$__interval", "5s");
    // Longest names first so `$instance` is not cut by a shorter prefix.
    let mut vars = vars.to_vec();
    vars.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    for (name, value) in vars {
        e = e
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    e
}

struct Failure {
    panel: String,
    expr: String,
    why: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn every_hosts_panel_query_returns_data() {
    let p = LocalPipeline::start(INSTANCE_ID);
    let (prom, agent) = (&p.prometheus, &p.agent);

    // Wait for data and for rates over the panels' 30 s window (needs ≥ 2 samples).
    let up = prom
        .wait_for("up{job=\"node\"} == 1", Duration::from_secs(30))
        .await;
    assert!(
        !up.is_empty(),
        "no up{{job=\"node\"}} == 1; agent log:\n{}",
        agent.log()
    );
    let rate = prom
        .wait_for(
            "rate(node_cpu_seconds_total{job=\"node\"}[30s]) > 0",
            Duration::from_secs(30),
        )
        .await;
    assert!(
        !rate.is_empty(),
        "no rate() data; agent log:\n{}",
        agent.log()
    );
    // A few more samples so every counter (disk, network) has moved at least twice.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let d = hosts_dashboard("monitoring-test");
    // "All" (allValue .*), one concrete selection, and a multi-value selection as Grafana
    // formats it for Prometheus (`(a|b)`): the concrete ones prove the label names are
    // right (`.*` also matches a missing label).
    let selections: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "All",
            vec![
                ("env", ".*"),
                ("role", ".*"),
                ("team", ".*"),
                ("instance", ".*"),
            ],
        ),
        (
            "single",
            vec![
                ("env", "test"),
                ("role", "web"),
                ("team", "platform"),
                ("instance", INSTANCE_ID),
            ],
        ),
        (
            "multi",
            vec![
                ("env", "(test|prod)"),
                ("role", "(web|db)"),
                ("team", "(platform)"),
                ("instance", "(i-0123456789abcdef0|i-0fedcba9876543210)"),
            ],
        ),
    ];

    let mut failures = Vec::new();
    let mut executed = 0;
    for (label, vars) in &selections {
        for p in d.panels.iter().filter(|p| p.kind != PanelKind::Row) {
            let unit = p
                .field_config
                .as_ref()
                .map(|f| f.defaults.unit.clone())
                .unwrap_or_default();
            for t in &p.targets {
                let Target::Prometheus(t) = t else { continue };
                let expr = substitute(&t.expr, vars);
                let fail = |why: String| Failure {
                    panel: format!("{} [{label}, ref {}]", p.title, t.ref_id),
                    expr: expr.clone(),
                    why,
                };
                if let Err(e) = promql_parser::parser::parse(&expr) {
                    failures.push(fail(format!("does not parse: {e}")));
                    continue;
                }
                let rows = prom.query(&expr).await;
                executed += 1;
                if rows.is_empty() {
                    failures.push(fail("returned no data (the panel would be empty)".into()));
                    continue;
                }
                for r in &rows {
                    let v: f64 = r["value"][1]
                        .as_str()
                        .unwrap_or("NaN")
                        .parse()
                        .unwrap_or(f64::NAN);
                    let bad = v.is_nan()
                        || v < 0.0
                        || (unit == "percentunit" && p.title.starts_with("CPU") && v > 1.0001);
                    if bad {
                        failures.push(fail(format!("implausible value {v} for unit {unit}: {r}")));
                    }
                    if *label == "single" && r["metric"].get("instance_id").is_some() {
                        assert_eq!(r["metric"]["instance_id"], INSTANCE_ID);
                    }
                }
            }
        }
    }

    // Variable queries: label_values(<selector>, <label>) lists values of <label> on the
    // series of <selector>; run the selector and require the label on the result.
    for v in d.templating.list.iter().filter(|v| v.definition.is_some()) {
        let inner = v
            .query
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .expect("label_values(...)");
        let (selector, label) = inner.rsplit_once(',').expect("selector, label");
        let expr = substitute(selector.trim(), &selections[0].1);
        promql_parser::parser::parse(&expr)
            .unwrap_or_else(|e| panic!("variable {}: {expr}: {e}", v.name));
        let rows = prom.query(&expr).await;
        let values: Vec<&str> = rows
            .iter()
            .filter_map(|r| r["metric"][label.trim()].as_str())
            .collect();
        if values.is_empty() {
            failures.push(Failure {
                panel: format!("variable {}", v.name),
                expr: v.query.clone(),
                why: "lists no values".into(),
            });
        }
    }

    if !failures.is_empty() {
        let report: Vec<String> = failures
            .iter()
            .map(|f| format!("- panel {}: {}\n    {}", f.panel, f.why, f.expr))
            .collect();
        panic!(
            "{} of {executed} panel queries failed:\n{}\nagent log:\n{}",
            failures.len(),
            report.join("\n"),
            agent.log()
        );
    }
    assert!(executed >= 3 * 20, "only {executed} queries executed");
}

#[test]
fn substitution_matches_grafana() {
    assert_eq!(
        substitute(
            "rate(x{a=~\"$instance\",b=~\"${env}\"}[$__rate_interval])",
            &[("env", ".*"), ("instance", "i-1")]
        ),
        "rate(x{a=~\"i-1\",b=~\".*\"}[30s])"
    );
}
