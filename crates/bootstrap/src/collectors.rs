//! Which node_exporter collectors produce which metric families: the metric allowlist
//! narrowed at its source (`--collector.disable-defaults` plus these), so node_exporter
//! does not compute what nobody ships. Families of node_exporter 1.x
//! (<https://github.com/prometheus/node_exporter#collectors>).

use std::collections::BTreeSet;

/// Metric-name prefix → collector, most specific first.
const FAMILIES: &[(&str, &str)] = &[
    ("node_cpu_", "cpu"),
    ("node_memory_", "meminfo"),
    ("node_filesystem_", "filesystem"),
    ("node_disk_", "diskstats"),
    ("node_network_receive_", "netdev"),
    ("node_network_transmit_", "netdev"),
    ("node_network_", "netclass"),
    ("node_load", "loadavg"),
    ("node_boot_time_seconds", "stat"),
    ("node_context_switches_total", "stat"),
    ("node_forks_total", "stat"),
    ("node_intr_total", "stat"),
    ("node_procs_", "stat"),
    ("node_systemd_", "systemd"),
    ("node_pressure_", "pressure"),
    ("node_timex_", "timex"),
    ("node_time_", "time"),
    ("node_uname_", "uname"),
    ("node_vmstat_", "vmstat"),
    ("node_netstat_", "netstat"),
    ("node_sockstat_", "sockstat"),
    ("node_filefd_", "filefd"),
    ("node_entropy_", "entropy"),
    ("node_os_", "os"),
    ("node_nf_conntrack_", "conntrack"),
    ("node_hwmon_", "hwmon"),
    ("node_textfile_", "textfile"),
];

/// The collectors that produce every `node_*` name of `names` (other names, e.g. the
/// agent's own, are not node_exporter's and are ignored). `None` when a `node_*` name
/// belongs to no known collector: then node_exporter keeps its defaults and only the
/// collector's keep rule filters, so nothing used goes missing.
pub fn node_exporter_collectors<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Option<BTreeSet<&'static str>> {
    let mut out = BTreeSet::new();
    for n in names.into_iter().filter(|n| n.starts_with("node_")) {
        let (_, c) = FAMILIES.iter().find(|(p, _)| n.starts_with(p))?;
        out.insert(*c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_map_to_their_collectors_and_an_unknown_one_keeps_the_defaults() {
        let c = node_exporter_collectors([
            "node_cpu_seconds_total",
            "node_network_receive_bytes_total",
            "node_network_up",
            "node_load15",
            "node_boot_time_seconds",
            "monitor_agent_samples_sent_total",
        ])
        .unwrap();
        assert_eq!(
            c.into_iter().collect::<Vec<_>>(),
            ["cpu", "loadavg", "netclass", "netdev", "stat"]
        );
        assert_eq!(
            node_exporter_collectors(["node_cpu_seconds_total", "node_mystery_total"]),
            None
        );
        assert_eq!(node_exporter_collectors(["up"]).map(|c| c.len()), Some(0));
    }
}
