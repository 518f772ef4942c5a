//! The shipped alerts: host health (as complete as the node-exporter mixin's, plus EC2's
//! CPU steal), the exporter and the collectors. One [`AlertDef`] each: name, severity,
//! default threshold and `for`, text, and the expression built from the threshold, so an
//! `[alerting.rules.<Name>]` override changes exactly one number. The per-host absence
//! alert is in [`crate::absent`]; each alert's runbook is a section of `docs/alerts.md`.

use std::time::Duration;

use monitor_promql as q;
use monitor_stack::Severity;

use crate::recording;

/// What the expressions select on.
#[derive(Debug, Clone)]
pub struct Selectors {
    /// node_exporter series, e.g. `job="node"`.
    pub node: String,
}

impl Selectors {
    /// node_exporter series of real filesystems (tmpfs and other virtual ones excluded).
    fn fs(&self) -> String {
        q::with_matchers(&self.node, q::REAL_FILESYSTEMS)
    }
}

/// One shipped alert.
#[derive(Debug, Clone, Copy)]
pub struct AlertDef {
    /// `alertname`, and the heading of its runbook section in `docs/alerts.md`.
    pub name: &'static str,
    /// Its `severity` label.
    pub severity: Severity,
    /// Default `for`.
    pub for_: Duration,
    /// Default threshold and what it measures (`None`: the alert has no number to tune).
    pub threshold: Option<(f64, &'static str)>,
    /// `summary` annotation (Prometheus template; `$labels` are the series' labels).
    pub summary: &'static str,
    /// First sentence of the `description` annotation; [`crate::HOST_REF`] follows.
    pub description: &'static str,
    /// The expression for a threshold (the default one when there is none to tune).
    pub expr: fn(&Selectors, f64) -> String,
    /// Needs node_exporter's systemd collector.
    pub needs_systemd: bool,
}

const fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// Every shipped alert, in the order they are rendered.
pub const ALERTS: &[AlertDef] = &[
    AlertDef {
        name: "NodeExporterDown",
        severity: Severity::Critical,
        for_: mins(2),
        threshold: None,
        summary: "node_exporter on {{ $labels.host }} does not answer",
        description: "The collector is alive but its scrape of node_exporter fails (up == 0): no host metrics.",
        expr: |s, _| format!("up{{{}}} == 0", s.node),
        needs_systemd: false,
    },
    AlertDef {
        name: "HostFilesystemAlmostFull",
        severity: Severity::Critical,
        for_: mins(15),
        threshold: Some((0.95, "used share of the filesystem (0-1)")),
        summary: "{{ $labels.mountpoint }} on {{ $labels.host }} is {{ $value | humanizePercentage }} full",
        description: "Filesystem {{ $labels.mountpoint }} ({{ $labels.device }}) is almost out of space.",
        expr: |s, t| {
            format!(
                "({}) > {t} and node_filesystem_readonly{{{}}} == 0",
                q::filesystem_used_ratio(&s.node),
                s.fs()
            )
        },
        needs_systemd: false,
    },
    AlertDef {
        name: "HostFilesystemFillingUp",
        severity: Severity::Warning,
        for_: mins(60),
        threshold: Some((24.0, "hours until full, from the last 6 hours' trend")),
        summary: "{{ $labels.mountpoint }} on {{ $labels.host }} will be full within a day at this rate",
        description: "Filesystem {{ $labels.mountpoint }} ({{ $labels.device }}) is over 60 % full and its free space trends to zero.",
        expr: |s, t| {
            let fs = s.fs();
            format!(
                "predict_linear(node_filesystem_avail_bytes{{{fs}}}[6h], {} * 3600) < 0 and ({}) > 0.6 and node_filesystem_readonly{{{fs}}} == 0",
                t,
                q::filesystem_used_ratio(&s.node)
            )
        },
        needs_systemd: false,
    },
    AlertDef {
        name: "HostInodesAlmostExhausted",
        severity: Severity::Warning,
        for_: mins(30),
        threshold: Some((0.95, "used share of the inodes (0-1)")),
        summary: "{{ $labels.mountpoint }} on {{ $labels.host }} has used {{ $value | humanizePercentage }} of its inodes",
        description: "Filesystem {{ $labels.mountpoint }} is running out of inodes: no new file can be created when they are gone.",
        expr: |s, t| {
            let fs = s.fs();
            format!(
                "(1 - node_filesystem_files_free{{{fs}}} / node_filesystem_files{{{fs}}}) > {t} and node_filesystem_readonly{{{fs}}} == 0"
            )
        },
        needs_systemd: false,
    },
    AlertDef {
        name: "HostMemoryHigh",
        severity: Severity::Warning,
        for_: mins(15),
        threshold: Some((0.90, "used share of memory (0-1, 1 - MemAvailable/MemTotal)")),
        summary: "{{ $labels.host }} uses {{ $value | humanizePercentage }} of its memory",
        description: "Memory is nearly exhausted; the OOM killer is next.",
        expr: |s, t| format!("{}{{{}}} > {t}", recording::MEMORY_UTILISATION, s.node),
        needs_systemd: false,
    },
    AlertDef {
        name: "HostOomKill",
        severity: Severity::Warning,
        for_: Duration::ZERO,
        threshold: None,
        summary: "The kernel killed a process on {{ $labels.host }} (out of memory)",
        description: "The OOM killer ran in the last 5 minutes.",
        expr: |s, _| format!("increase(node_vmstat_oom_kill{{{}}}[5m]) > 0", s.node),
        needs_systemd: false,
    },
    AlertDef {
        name: "HostHighCpu",
        severity: Severity::Info,
        for_: mins(30),
        threshold: Some((0.90, "CPU utilisation (0-1)")),
        summary: "{{ $labels.host }} CPU is {{ $value | humanizePercentage }} busy",
        description: "CPU utilisation has been high for a while; check it is expected.",
        expr: |s, t| format!("{}{{{}}} > {t}", recording::CPU_UTILISATION, s.node),
        needs_systemd: false,
    },
    AlertDef {
        name: "HostCpuSteal",
        severity: Severity::Warning,
        for_: mins(15),
        threshold: Some((0.10, "share of CPU time stolen by the hypervisor (0-1)")),
        summary: "{{ $labels.host }} loses {{ $value | humanizePercentage }} of its CPU to steal",
        description: "The hypervisor gives this instance's CPU time to others (a noisy neighbour, or a burstable instance out of CPU credits).",
        expr: |s, t| format!("{} > {t}", q::cpu_mode_share("steal", &s.node, "5m")),
        needs_systemd: false,
    },
    AlertDef {
        name: "HostLoadSaturated",
        severity: Severity::Warning,
        for_: mins(15),
        threshold: Some((2.0, "1-minute load average per CPU")),
        summary: "{{ $labels.host }} load is {{ $value | printf \"%.1f\" }} per CPU",
        description: "More runnable or blocked tasks than CPUs can serve.",
        expr: |s, t| format!("{}{{{}}} > {t}", recording::LOAD1_PER_CPU, s.node),
        needs_systemd: false,
    },
    AlertDef {
        name: "HostDiskIoSaturated",
        severity: Severity::Warning,
        for_: mins(30),
        threshold: Some((0.90, "share of time the device is busy (0-1)")),
        summary: "Disk {{ $labels.device }} on {{ $labels.host }} is busy {{ $value | humanizePercentage }} of the time",
        description: "The block device is saturated with I/O (an EBS volume at its IOPS or throughput limit).",
        expr: |s, t| format!("{}{{{}}} > {t}", recording::DISK_IO_TIME, s.node),
        needs_systemd: false,
    },
    AlertDef {
        name: "HostNetworkErrors",
        severity: Severity::Warning,
        for_: mins(15),
        threshold: Some((0.01, "share of packets with errors (0-1)")),
        summary: "{{ $labels.device }} on {{ $labels.host }}: {{ $value | humanizePercentage }} of packets have errors",
        description: "The interface reports receive or transmit errors.",
        expr: |s, t| {
            let r = |c: &str| q::network_rate(c, &s.node, "5m");
            format!(
                "({} + {}) / ({} + {}) > {t}",
                r("receive_errs"),
                r("transmit_errs"),
                r("receive_packets"),
                r("transmit_packets")
            )
        },
        needs_systemd: false,
    },
    AlertDef {
        name: "HostClockSkew",
        severity: Severity::Warning,
        for_: mins(10),
        threshold: Some((0.05, "clock offset in seconds")),
        summary: "{{ $labels.host }} clock is off by {{ $value | humanizeDuration }}",
        description: "The clock drifts away from NTP (chronyd on Amazon Linux syncs with the Amazon Time Sync Service).",
        expr: |s, t| {
            let o = format!("node_timex_offset_seconds{{{}}}", s.node);
            let d = format!("deriv(node_timex_offset_seconds{{{}}}[5m])", s.node);
            format!("({o} > {t} and {d} >= 0) or ({o} < -{t} and {d} <= 0)")
        },
        needs_systemd: false,
    },
    AlertDef {
        name: "HostClockNotSynchronising",
        severity: Severity::Warning,
        for_: mins(10),
        threshold: None,
        summary: "{{ $labels.host }} clock is not synchronising",
        description: "The kernel reports the clock unsynchronised and its maximum error at 16 s or more.",
        expr: |s, _| {
            format!(
                "min_over_time(node_timex_sync_status{{{n}}}[5m]) == 0 and node_timex_maxerror_seconds{{{n}}} >= 16",
                n = s.node
            )
        },
        needs_systemd: false,
    },
    AlertDef {
        name: "HostSystemdUnitFailed",
        severity: Severity::Critical,
        for_: mins(5),
        threshold: None,
        summary: "{{ $labels.name }} failed on {{ $labels.host }}",
        description: "A unit the bootstrap installed (node_exporter, the collector, the CloudWatch Agent, rsyslog) is in state failed.",
        expr: |s, _| {
            format!(
                "node_systemd_unit_state{{{}}} == 1",
                q::with_matchers(&s.node, "state=\"failed\"")
            )
        },
        needs_systemd: true,
    },
    AlertDef {
        name: "CollectorRemoteWriteFailing",
        severity: Severity::Warning,
        for_: mins(15),
        threshold: Some((0.10, "share of monitor-agent remote-write requests that fail (0-1)")),
        summary: "The collector on {{ $labels.host }} fails to remote-write",
        description: "Remote-write requests to AMP fail (monitor-agent: non-2xx share; ADOT: points that failed to send). Data is delayed and may be dropped.",
        expr: |_, t| {
            let req = "monitor_agent_remote_write_requests_total";
            format!(
                "(sum without (code) (rate({req}{{code!~\"2..\"}}[5m])) / sum without (code) (rate({req}[5m]))) > {t} \
                 or rate({{__name__=~\"otelcol_exporter_send_failed_metric_points(_total)?\"}}[5m]) > 0"
            )
        },
        needs_systemd: false,
    },
    AlertDef {
        name: "CollectorDroppingSamples",
        severity: Severity::Warning,
        for_: Duration::ZERO,
        threshold: None,
        summary: "The collector on {{ $labels.host }} dropped samples",
        description: "Samples were dropped in the last 10 minutes (reason: {{ $labels.reason }}): the data has gaps.",
        expr: |_, _| {
            "increase(monitor_agent_samples_dropped_total[10m]) > 0 \
             or increase({__name__=~\"otelcol_exporter_enqueue_failed_metric_points(_total)?\"}[10m]) > 0"
                .to_string()
        },
        needs_systemd: false,
    },
];

/// The alert named `name`, or the per-host absence alert's definition.
pub fn find(name: &str) -> Option<&'static AlertDef> {
    ALERTS
        .iter()
        .chain([
            &crate::absent::HOST_ABSENT,
            &crate::groups::GROUP_UNDERSIZED,
        ])
        .find(|a| a.name == name)
}
