//! The metric names a stack uses: every Hosts-dashboard panel and variable, every
//! recording and alert rule the stack deploys (the user's rule files included) and every
//! `monitor-verify` metrics check, parsed with `promql-parser`
//! ([`monitor_promql::metric_names`]). Computed from the same typed definitions that
//! build the dashboards, rules and checks, never kept by hand: a new panel on a new
//! metric grows the list by itself. This is what a collector must keep so that no panel,
//! alert or check goes empty (AMP bills per sample ingested).
//!
//! Not in the list: series the scraper makes itself (`up`, `scrape_*`), those recording
//! rules make (`record:` names) and Prometheus' `ALERTS*`.

use std::collections::BTreeSet;

use monitor_bootstrap::RenderInputs;
use monitor_stack::Stack;

use crate::error::{ReconcileError, Result};

/// Series no exporter exposes: the scrape's own and the rule engine's.
const SYNTHETIC: &[&str] = &[
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
];

/// Every PromQL expression the stack reads metrics with, labelled by where it comes from
/// (`panel "CPU"`, `rule HostCpuHigh`, `check`, …).
///
/// # Errors
/// [`ReconcileError::Alerts`] when the stack's rules (overrides, user files) do not load.
pub fn expressions(stack: &Stack) -> Result<Expressions> {
    Ok(gather(stack)?.0)
}

/// `(origin, PromQL)` pairs.
type Expressions = Vec<(String, String)>;

/// [`expressions`], and the names the stack's recording rules record (read by other
/// rules, never shipped): the rules are built once for both.
fn gather(stack: &Stack) -> Result<(Expressions, BTreeSet<String>)> {
    gather_with(
        stack,
        &monitor_grafana::dashboards::hosts_dashboard(&stack.name),
    )
}

/// [`gather`] for a given Hosts dashboard.
fn gather_with(
    stack: &Stack,
    dashboard: &monitor_grafana::dashboards::Dashboard,
) -> Result<(Expressions, BTreeSet<String>)> {
    let mut out: Vec<(String, String)> = monitor_grafana::dashboards::panel_queries(dashboard)
        .into_iter()
        .map(|(panel, e)| {
            (
                format!("panel {panel:?}"),
                monitor_promql::without_grafana_variables(&e),
            )
        })
        .collect();
    for (name, q) in monitor_grafana::dashboards::variable_queries(dashboard) {
        // `label_values(<selector>, <label>)`: the selector is PromQL.
        if let Some(sel) = q
            .strip_prefix("label_values(")
            .and_then(|r| r.rsplit_once(','))
            .map(|(sel, _)| sel)
        {
            out.push((
                format!("variable {name:?}"),
                monitor_promql::without_grafana_variables(sel),
            ));
        }
    }
    let mut recorded = BTreeSet::new();
    if stack.alerting_enabled().is_some() {
        let namespaces = monitor_alerts::stack_rules(stack)?;
        for r in namespaces
            .iter()
            .flat_map(|ns| &ns.file.groups)
            .flat_map(|g| &g.rules)
        {
            out.push((format!("rule {}", r.name()), r.expr().to_string()));
            if matches!(r, monitor_alerts::model::Rule::Recording(_)) {
                recorded.insert(r.name().to_string());
            }
        }
    }
    out.extend(
        monitor_checks::metrics::node_queries()
            .into_iter()
            .map(|q| ("check".to_string(), q)),
    );
    Ok((out, recorded))
}

/// The metrics of [`expressions`] that a collector must ship: exact names, and the name
/// regexes of selectors written with `__name__=~` (e.g. a rule on ADOT's own metrics).
///
/// # Errors
/// As [`expressions`]; [`ReconcileError::Config`] naming the expression whose metrics
/// cannot be listed (a selector without a name, e.g. in a user rule).
pub fn used_metrics(stack: &Stack) -> Result<monitor_promql::UsedMetrics> {
    used_of(gather(stack)?)
}

fn used_of(
    (exprs, recorded): (Expressions, BTreeSet<String>),
) -> Result<monitor_promql::UsedMetrics> {
    let mut out = monitor_promql::UsedMetrics::default();
    for (origin, e) in &exprs {
        let used = monitor_promql::metric_names(e)
            .map_err(|m| ReconcileError::Config(format!("metric allowlist: {origin}: {m}")))?;
        out.extend(used);
    }
    out.names
        .retain(|n| !SYNTHETIC.contains(&n.as_str()) && !recorded.contains(n));
    Ok(out)
}

/// What `monitor-bootstrap` renders the stack's hosts with: the AMP workspace, and with
/// `[collector] metrics = "used"` the allowlist twice — the collectors' keep regex
/// (`keep_metrics`: the used names, `extra_metrics` and the name patterns, one
/// alternation the collectors anchor) and node_exporter's collectors (`node_collectors`;
/// `None`, its defaults, when a used name belongs to no known collector). With `"all"`
/// neither. `desired` and `monitor-provision render` both call this.
///
/// # Errors
/// As [`used_metrics`].
pub fn render_inputs(stack: &Stack, workspace_id: Option<String>) -> Result<RenderInputs> {
    let mut inputs = RenderInputs {
        workspace_id,
        ..RenderInputs::default()
    };
    if stack.collector.metrics == monitor_stack::MetricSelection::All {
        return Ok(inputs);
    }
    let used = used_metrics(stack)?;
    let names: BTreeSet<&str> = used
        .names
        .iter()
        .chain(&stack.collector.extra_metrics)
        .map(String::as_str)
        .collect();
    inputs.node_collectors =
        monitor_bootstrap::collectors::node_exporter_collectors(names.iter().copied())
            .map(|cs| cs.into_iter().map(str::to_string).collect());
    let parts: Vec<String> = names
        .into_iter()
        .map(str::to_string)
        .chain(used.patterns.iter().map(|p| format!("({p})")))
        .collect();
    inputs.keep_metrics = Some(parts.join("|"));
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(extra: &str) -> Stack {
        monitor_stack::from_toml_str(
            &format!("name = \"t\"\n{extra}[[hosts]]\nname = \"web-1\"\nlabels = {{ env = \"p\", role = \"w\", team = \"x\" }}\n"),
            "stack.toml".as_ref(),
        )
        .unwrap()
    }

    #[test]
    fn the_dashboards_rules_and_checks_metrics_and_nothing_synthetic() {
        let plain = used_metrics(&stack("")).unwrap().names;
        for m in [
            "node_cpu_seconds_total",
            "node_memory_MemAvailable_bytes",
            "node_memory_MemTotal_bytes",
            "node_filesystem_avail_bytes",
            "node_disk_read_bytes_total",
            "node_disk_written_bytes_total",
            "node_network_receive_bytes_total",
            "node_network_transmit_bytes_total",
        ] {
            assert!(plain.contains(m), "{m} missing from {plain:?}");
        }
        for m in SYNTHETIC {
            assert!(!plain.contains(*m), "{m} is made by the scraper: {plain:?}");
        }
        assert!(
            plain.iter().all(|m| !m.contains(':')),
            "no recorded series: {plain:?}"
        );
        // A few dozen families, not node_exporter's ~300.
        assert!(
            (8..80).contains(&plain.len()),
            "{} names: {plain:?}",
            plain.len()
        );

        // Alerting adds what its rules read (and nothing they record).
        let all = used_metrics(&stack("[alerting]\n")).unwrap();
        let alerting = &all.names;
        assert!(alerting.is_superset(&plain));
        assert!(alerting.len() > plain.len(), "{alerting:?}");
        assert!(alerting.iter().all(|m| !m.contains(':')), "{alerting:?}");
        // The collector-health rule reads ADOT's own counter by name regex.
        assert!(
            all.patterns
                .iter()
                .any(|p| p.starts_with("otelcol_exporter_send_failed")),
            "{:?}",
            all.patterns
        );
    }

    #[test]
    fn the_keep_regex_holds_the_used_and_extra_names_unless_all_is_asked_for() {
        let re = render_inputs(&stack("[collector]\nextra_metrics = [\"node_pressure_cpu_waiting_seconds_total\"]\n[alerting]\n"), None)
            .unwrap()
            .keep_metrics
            .unwrap();
        let anchored = regex::Regex::new(&format!("^(?:{re})$")).unwrap();
        for m in [
            "node_cpu_seconds_total",
            "node_pressure_cpu_waiting_seconds_total",
            "otelcol_exporter_send_failed_metric_points_total",
        ] {
            assert!(anchored.is_match(m), "{m} not kept by {re}");
        }
        for m in [
            "node_scrape_collector_success",
            "node_cpu_seconds_total_x",
            "go_goroutines",
        ] {
            assert!(!anchored.is_match(m), "{m} kept by {re}");
        }
        let all = render_inputs(&stack("[collector]\nmetrics = \"all\"\n"), None).unwrap();
        assert_eq!(all.keep_metrics, None);
    }

    #[test]
    fn node_exporter_runs_only_the_collectors_the_used_metrics_need() {
        let collectors = |s: &Stack| render_inputs(s, None).unwrap().node_collectors;
        let cs = collectors(&stack("[alerting]\n")).unwrap();
        for c in [
            "cpu",
            "meminfo",
            "filesystem",
            "diskstats",
            "netdev",
            "loadavg",
            "stat",
        ] {
            assert!(cs.contains(&c.to_string()), "{c} missing: {cs:?}");
        }
        assert!(!cs.contains(&"hwmon".to_string()), "{cs:?}");
        // A name of no known collector: node_exporter keeps its defaults.
        let unknown = stack("[collector]\nextra_metrics = [\"node_mystery_total\"]\n");
        assert_eq!(collectors(&unknown), None);
        assert_eq!(collectors(&stack("[collector]\nmetrics = \"all\"\n")), None);
    }

    #[test]
    fn a_new_panel_on_a_new_metric_grows_the_list() {
        use monitor_grafana::dashboards::{hosts_dashboard, Target};
        let s = stack("");
        let before = used_metrics(&s).unwrap().names;
        assert!(!before.contains("node_pressure_cpu_waiting_seconds_total"));
        // A new panel on the Hosts dashboard, shaped like the existing ones.
        let mut dashboard = hosts_dashboard(&s.name);
        let mut panel = dashboard
            .panels
            .iter()
            .find(|p| p.targets.iter().any(|t| matches!(t, Target::Prometheus(_))))
            .unwrap()
            .clone();
        panel.title = "CPU pressure".into();
        for t in &mut panel.targets {
            if let Target::Prometheus(p) = t {
                p.expr = "rate(node_pressure_cpu_waiting_seconds_total{instance_id=~\"$instance\"}[$__rate_interval])".into();
            }
        }
        dashboard.panels.push(panel);
        let after = used_of(gather_with(&s, &dashboard).unwrap()).unwrap().names;
        assert_eq!(
            after.difference(&before).collect::<Vec<_>>(),
            ["node_pressure_cpu_waiting_seconds_total"]
        );
    }
}
