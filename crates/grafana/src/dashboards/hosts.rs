//! The Hosts dashboard: a table of panel specs (title, description, unit, visualisation,
//! size, queries) turned into panels by [`panel`]. Every expression comes from
//! `monitor-promql`, so the panels and the `monitor-verify` metrics checks agree.

use super::layout::{
    defaults, percent_thresholds, prom_target, single, timeseries, Layout, QueryMode, Stack,
};
use super::model::*;
use super::{
    ds_variable, host_variables, stack_uid, DS_PROMETHEUS_VAR, NODE_JOB, PROMETHEUS_CORE_TYPE,
    SCHEMA_VERSION,
};
use monitor_promql as pq;

/// Grafana's rate range.
const RI: &str = "$__rate_interval";

/// The label selector every host panel uses (variables substituted by Grafana).
pub fn host_selector() -> String {
    format!(
        "job=\"{NODE_JOB}\",env=~\"$env\",role=~\"$role\",team=~\"$team\",instance_id=~\"$instance\""
    )
}

/// How a panel is drawn.
#[derive(Debug, Clone, Copy)]
enum Viz {
    /// Time series graph (range queries).
    Lines(Stack),
    /// Single value with a sparkline (instant query).
    Stat { decimals: u8 },
    /// 0–1 gauge, orange from 0.8, red from 0.9 (instant query).
    Gauge,
    /// One count per series, green at 0 and red from 1, coloured background (instant).
    Count,
}

/// One query of a panel.
struct Query {
    expr: String,
    legend: String,
}

/// One row of the table.
struct PanelSpec {
    title: &'static str,
    description: &'static str,
    unit: &'static str,
    viz: Viz,
    /// Width (of 24) and height in grid units.
    size: (u32, u32),
    queries: Vec<Query>,
}

fn q(expr: String, legend: &str) -> Query {
    Query {
        expr,
        legend: legend.to_string(),
    }
}

/// Turns a spec into a panel (ref ids `A`, `B`, … in query order).
fn panel(spec: PanelSpec) -> Panel {
    let mode = match spec.viz {
        Viz::Lines(_) => QueryMode::Range,
        Viz::Stat { .. } | Viz::Gauge | Viz::Count => QueryMode::Instant,
    };
    let mut targets: Vec<Target> = spec
        .queries
        .into_iter()
        .zip('A'..='Z')
        .map(|(query, r)| prom_target(&r.to_string(), query.expr, &query.legend, mode))
        .collect();
    match spec.viz {
        Viz::Lines(stack) => timeseries(spec.title, spec.description, spec.unit, stack, targets),
        Viz::Stat { decimals } => {
            let d = FieldDefaults {
                decimals: Some(decimals),
                ..defaults(spec.unit)
            };
            single(
                PanelKind::Stat,
                spec.title,
                spec.description,
                d,
                targets.remove(0),
            )
        }
        Viz::Count => {
            let d = FieldDefaults {
                decimals: Some(0),
                thresholds: Some(count_thresholds()),
                ..defaults(spec.unit)
            };
            let mut p = single(
                PanelKind::Stat,
                spec.title,
                spec.description,
                d,
                targets.remove(0),
            );
            if let Some(PanelOptions::Single(o)) = &mut p.options {
                o.color_mode = Some("background".into());
                o.graph_mode = Some("none".into());
            }
            p
        }
        Viz::Gauge => {
            let d = FieldDefaults {
                min: Some(0.0),
                max: Some(1.0),
                thresholds: Some(percent_thresholds(0.8, 0.9)),
                ..defaults(spec.unit)
            };
            single(
                PanelKind::Gauge,
                spec.title,
                spec.description,
                d,
                targets.remove(0),
            )
        }
    }
}

/// Green at 0, red from 1.
fn count_thresholds() -> Thresholds {
    Thresholds {
        mode: "absolute".into(),
        steps: vec![
            ThresholdStep {
                color: "green".into(),
                value: None,
            },
            ThresholdStep {
                color: "red".into(),
                value: Some(1.0),
            },
        ],
    }
}

/// Alerts firing now on the selected hosts, one value per alert name and severity, from
/// the `ALERTS` series that rule evaluation (AMP's ruler, or Prometheus locally) writes;
/// a single "none firing" 0 when there are none, so the panel never shows "No data".
pub fn firing_alerts_query() -> String {
    "sum by (alertname, severity) (ALERTS{alertstate=\"firing\",env=~\"$env\",role=~\"$role\",team=~\"$team\",instance_id=~\"$instance\"}) \
     or on() label_replace(vector(0), \"alertname\", \"none firing\", \"\", \"\")"
        .to_string()
}

/// The fleet overview row.
fn fleet_panels(s: &str) -> Vec<PanelSpec> {
    vec![
        PanelSpec {
            title: "Firing alerts",
            description: "Alerts firing now on the selected hosts, per alert and severity (the ALERTS series of AMP's rule evaluation; always \"none firing\" when the stack has no [alerting]). Runbooks: docs/alerts.md.",
            unit: "short",
            viz: Viz::Count,
            size: (24, 4),
            queries: vec![q(firing_alerts_query(), "{{alertname}} {{severity}}")],
        },
        PanelSpec {
            title: "Hosts up",
            description: "Hosts whose node_exporter scrape succeeded at the last sample (up == 1).",
            unit: "short",
            viz: Viz::Stat { decimals: 0 },
            size: (6, 5),
            queries: vec![q(format!("sum(up{{{s}}})"), "up")],
        },
        PanelSpec {
            title: "Average CPU utilisation",
            description: "Mean non-idle CPU time over the selected hosts.",
            unit: "percentunit",
            viz: Viz::Gauge,
            size: (6, 5),
            queries: vec![q(format!("avg({})", pq::cpu_utilisation(s, RI)), "")],
        },
        PanelSpec {
            title: "Highest memory utilisation",
            description: "The selected host using the largest share of its memory (1 - MemAvailable / MemTotal).",
            unit: "percentunit",
            viz: Viz::Gauge,
            size: (6, 5),
            queries: vec![q(format!("max({})", pq::memory_utilisation(s)), "")],
        },
        PanelSpec {
            title: "Fullest filesystem",
            description: "The fullest real filesystem (tmpfs and other virtual file systems excluded) over the selected hosts.",
            unit: "percentunit",
            viz: Viz::Gauge,
            size: (6, 5),
            queries: vec![q(format!("max({})", pq::filesystem_used_ratio(s)), "")],
        },
    ]
}

/// The per-host row: uptime, CPU, load, memory and swap.
fn host_compute_panels(s: &str) -> Vec<PanelSpec> {
    vec![
        PanelSpec {
            title: "Uptime",
            description: "Time since boot.",
            unit: "s",
            viz: Viz::Stat { decimals: 1 },
            size: (4, 8),
            queries: vec![q(format!("time() - node_boot_time_seconds{{{s}}}"), "{{instance_id}}")],
        },
        PanelSpec {
            title: "CPU utilisation",
            description: "Share of CPU time not idle, averaged over all CPUs.",
            unit: "percentunit",
            viz: Viz::Lines(Stack::None),
            size: (10, 8),
            queries: vec![q(pq::cpu_utilisation(s, RI), "{{instance_id}}")],
        },
        PanelSpec {
            title: "CPU by mode",
            description: "Share of CPU time per mode (idle left out), averaged over all CPUs. High steal = noisy neighbour or exhausted burst credits; high iowait = EBS-bound.",
            unit: "percentunit",
            viz: Viz::Lines(Stack::Normal),
            size: (10, 8),
            queries: vec![q(pq::cpu_by_mode(s, RI), "{{instance_id}} {{mode}}")],
        },
        PanelSpec {
            title: "Load per CPU",
            description: "Load averages divided by the number of CPUs; above 1 means runnable tasks wait.",
            unit: "short",
            viz: Viz::Lines(Stack::None),
            size: (8, 8),
            queries: [1, 5, 15]
                .map(|m| q(pq::load_per_cpu(s, m), &format!("{{{{instance_id}}}} load{m}")))
                .into(),
        },
        PanelSpec {
            title: "Memory",
            description: "Used = MemTotal - MemAvailable (what applications hold); available = what can be allocated without swapping.",
            unit: "bytes",
            viz: Viz::Lines(Stack::None),
            size: (8, 8),
            queries: vec![
                q(pq::memory_used_bytes(s), "{{instance_id}} used"),
                q(pq::memory_available_bytes(s), "{{instance_id}} available"),
            ],
        },
        PanelSpec {
            title: "Swap",
            description: "Swap in use and configured (both 0 on hosts without swap, which is the EC2 default).",
            unit: "bytes",
            viz: Viz::Lines(Stack::None),
            size: (8, 8),
            queries: vec![
                q(
                    format!("node_memory_SwapTotal_bytes{{{s}}} - node_memory_SwapFree_bytes{{{s}}}"),
                    "{{instance_id}} used",
                ),
                q(format!("node_memory_SwapTotal_bytes{{{s}}}"), "{{instance_id}} total"),
            ],
        },
    ]
}

/// The per-host row: filesystems, disks and network.
fn host_io_panels(s: &str) -> Vec<PanelSpec> {
    let rate = |metric: &str, legend: &str| q(pq::counter_rate(metric, s, RI), legend);
    let net = |counter: &str, what: &str| {
        q(
            pq::network_rate(counter, s, RI),
            &format!("{{{{instance_id}}}} {{{{device}}}} {what}"),
        )
    };
    vec![
        PanelSpec {
            title: "Filesystem usage",
            description: "Used share of each real filesystem (1 - avail / size; tmpfs and other virtual file systems excluded).",
            unit: "percentunit",
            viz: Viz::Lines(Stack::None),
            size: (12, 8),
            queries: vec![q(pq::filesystem_used_ratio(s), "{{instance_id}} {{mountpoint}}")],
        },
        PanelSpec {
            title: "Disk utilisation",
            description: "Share of time the device was busy with I/O (io_time); near 100% means the device is saturated.",
            unit: "percentunit",
            viz: Viz::Lines(Stack::None),
            size: (12, 8),
            queries: vec![q(pq::disk_io_utilisation(s, RI), "{{instance_id}} {{device}}")],
        },
        PanelSpec {
            title: "Disk read / write",
            description: "Bytes read and written per second per block device.",
            unit: "Bps",
            viz: Viz::Lines(Stack::None),
            size: (12, 8),
            queries: vec![
                rate("node_disk_read_bytes_total", "{{instance_id}} {{device}} read"),
                rate("node_disk_written_bytes_total", "{{instance_id}} {{device}} write"),
            ],
        },
        PanelSpec {
            title: "Disk IOPS",
            description: "Completed reads and writes per second per block device (EBS volumes have an IOPS budget).",
            unit: "iops",
            viz: Viz::Lines(Stack::None),
            size: (12, 8),
            queries: vec![
                rate("node_disk_reads_completed_total", "{{instance_id}} {{device}} reads"),
                rate("node_disk_writes_completed_total", "{{instance_id}} {{device}} writes"),
            ],
        },
        PanelSpec {
            title: "Network traffic",
            description: "Bytes received and transmitted per second per interface (loopback excluded).",
            unit: "Bps",
            viz: Viz::Lines(Stack::None),
            size: (12, 8),
            queries: vec![
                q(pq::network_receive_bytes(s, RI), "{{instance_id}} {{device}} rx"),
                q(pq::network_transmit_bytes(s, RI), "{{instance_id}} {{device}} tx"),
            ],
        },
        PanelSpec {
            title: "Network errors and drops",
            description: "Receive/transmit errors and dropped packets per second per interface (normally 0).",
            unit: "pps",
            viz: Viz::Lines(Stack::None),
            size: (12, 8),
            queries: vec![
                net("receive_errs", "rx errors"),
                net("transmit_errs", "tx errors"),
                net("receive_drop", "rx drops"),
                net("transmit_drop", "tx drops"),
            ],
        },
    ]
}

/// The hosts dashboard: a fleet overview row, then one row per host (repeated by the
/// `instance` variable) with CPU, load, memory, swap, filesystems, disks, network and uptime.
pub fn hosts_dashboard(stack_name: &str) -> Dashboard {
    let s = host_selector();
    let mut l = Layout::new();
    l.row("Fleet", None);
    for spec in fleet_panels(&s) {
        let (w, h) = spec.size;
        l.add(w, h, panel(spec));
    }
    l.row("Host $instance", Some("instance"));
    for spec in host_compute_panels(&s)
        .into_iter()
        .chain(host_io_panels(&s))
    {
        let (w, h) = spec.size;
        l.add(w, h, panel(spec));
    }

    let mut list = vec![ds_variable(
        DS_PROMETHEUS_VAR,
        "Prometheus",
        PROMETHEUS_CORE_TYPE,
    )];
    list.extend(host_variables());
    Dashboard {
        id: None,
        uid: stack_uid(stack_name, "hosts"),
        title: format!("{stack_name} / Hosts"),
        description: "EC2 hosts of the stack: node_exporter metrics shipped to Amazon Managed Service for Prometheus."
            .into(),
        tags: vec![stack_name.to_string(), "hosts".into(), "node-exporter".into()],
        timezone: "browser".into(),
        schema_version: SCHEMA_VERSION,
        editable: true,
        graph_tooltip: 1,
        refresh: "1m".into(),
        time: TimeRange {
            from: "now-3h".into(),
            to: "now".into(),
        },
        templating: Templating { list },
        panels: l.panels,
    }
}
