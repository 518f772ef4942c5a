//! Recording rules shared by the dashboards and the alerts, named `level:metric:operations`
//! (<https://prometheus.io/docs/practices/rules/>). Each keeps every host label (`host`,
//! `env`, `role`, `team`, `instance_id`), so an alert on it can name the host.

use monitor_promql as q;

use crate::model::{RecordingRule, Rule};

/// CPU utilisation per host (0–1) over 5 minutes.
pub const CPU_UTILISATION: &str = "instance:node_cpu_utilisation:rate5m";
/// Memory utilisation per host (0–1).
pub const MEMORY_UTILISATION: &str = "instance:node_memory_utilisation:ratio";
/// 1-minute load average divided by the number of CPUs.
pub const LOAD1_PER_CPU: &str = "instance:node_load1_per_cpu:ratio";
/// Bytes received per second, every interface but `lo`.
pub const NETWORK_RECEIVE_BYTES: &str = "instance:node_network_receive_bytes_excluding_lo:rate5m";
/// Bytes transmitted per second, every interface but `lo`.
pub const NETWORK_TRANSMIT_BYTES: &str = "instance:node_network_transmit_bytes_excluding_lo:rate5m";
/// Share of time each block device was busy (0–1) over 5 minutes.
pub const DISK_IO_TIME: &str = "instance_device:node_disk_io_time_seconds:rate5m";

/// The recording rules over node_exporter series selected by `selector` (e.g.
/// `job="node"`).
pub fn rules(selector: &str) -> Vec<Rule> {
    [
        (
            CPU_UTILISATION,
            q::cpu_utilisation_grouped(selector, "5m", q::PER_HOST),
        ),
        (MEMORY_UTILISATION, q::memory_utilisation(selector)),
        (LOAD1_PER_CPU, q::load_per_cpu_per_host(selector, 1)),
        (
            NETWORK_RECEIVE_BYTES,
            q::network_rate_per_host("receive_bytes", selector, "5m"),
        ),
        (
            NETWORK_TRANSMIT_BYTES,
            q::network_rate_per_host("transmit_bytes", selector, "5m"),
        ),
        (DISK_IO_TIME, q::disk_io_utilisation(selector, "5m")),
    ]
    .into_iter()
    .map(|(record, expr)| {
        Rule::Recording(RecordingRule {
            record: record.to_string(),
            expr,
            labels: Default::default(),
        })
    })
    .collect()
}
