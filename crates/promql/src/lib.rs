//! The node_exporter PromQL expressions shared by dashboards, checks and alert
//! rules. One definition per quantity, so a Grafana panel, a `monitor-verify` check and an
//! alert cannot disagree on what "CPU utilisation" or "filesystem used" means.
//!
//! Every function takes a label selector — the matchers inside `{...}`, without the
//! braces, e.g. `instance_id="i-1"` or Grafana's `job="node",instance_id=~"$instance"` —
//! and, where a rate is taken, a range (`1m`, or Grafana's `$__rate_interval`), and
//! returns the expression. An empty selector is allowed. Ratios are 0–1 (multiply by 100
//! for percent); per-host aggregations group by `instance_id`.
//!
//! ```
//! let e = monitor_promql::cpu_utilisation("instance_id=\"i-1\"", "1m");
//! assert_eq!(
//!     e,
//!     "1 - avg by (instance_id) (rate(node_cpu_seconds_total{instance_id=\"i-1\",mode=\"idle\"}[1m]))"
//! );
//! ```

// Libraries never print: they report through return values, traits and `tracing`.
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod used;
pub use used::{metric_names, without_grafana_variables, UsedMetrics};

/// Matchers that keep real filesystems (tmpfs and other virtual file systems excluded).
pub const REAL_FILESYSTEMS: &str = "fstype!~\"tmpfs|ramfs|squashfs|overlay|nsfs\",mountpoint!=\"\"";

/// Matchers that leave out the loopback interface.
pub const NOT_LOOPBACK: &str = "device!=\"lo\"";

/// `selector` followed by `extra` matchers, comma-joined (either may be empty).
pub fn with_matchers(selector: &str, extra: &str) -> String {
    match (selector.is_empty(), extra.is_empty()) {
        (true, _) => extra.to_string(),
        (false, true) => selector.to_string(),
        (false, false) => format!("{selector},{extra}"),
    }
}

/// The labels that vary inside one host's series and are aggregated away when a
/// quantity is taken per host while keeping the host's own labels (`host`, `env`, `role`,
/// `team`, `instance_id`, `job`, `instance`): what recording and alert rules group with.
pub const PER_HOST: &str = "without (cpu, mode)";

/// CPU utilisation per host (0–1): the share of CPU time not idle, averaged over all CPUs
/// of each `instance_id`.
pub fn cpu_utilisation(selector: &str, range: &str) -> String {
    cpu_utilisation_grouped(selector, range, "by (instance_id)")
}

/// CPU utilisation (0–1) aggregated with `grouping` (`by (instance_id)`, or [`PER_HOST`]
/// to keep every host label).
pub fn cpu_utilisation_grouped(selector: &str, range: &str, grouping: &str) -> String {
    format!("1 - avg {grouping} ({})", cpu_idle_rate(selector, range))
}

/// Share of CPU time (0–1) each host spends in `mode` (e.g. `steal`: time the
/// hypervisor gave to another guest), every host label kept.
pub fn cpu_mode_share(mode: &str, selector: &str, range: &str) -> String {
    let s = with_matchers(selector, &format!("mode=\"{mode}\""));
    format!("avg {PER_HOST} (rate(node_cpu_seconds_total{{{s}}}[{range}]))")
}

/// CPU utilisation (0–1) over every CPU the selector matches, as one series — what a
/// check on one host's selector wants, whichever label identifies the host.
pub fn cpu_utilisation_total(selector: &str, range: &str) -> String {
    format!("1 - avg({})", cpu_idle_rate(selector, range))
}

/// Per-CPU idle seconds per second (0–1), the base of both CPU utilisations.
pub fn cpu_idle_rate(selector: &str, range: &str) -> String {
    let s = with_matchers(selector, "mode=\"idle\"");
    format!("rate(node_cpu_seconds_total{{{s}}}[{range}])")
}

/// Share of CPU time per host and mode (idle left out), averaged over all CPUs.
pub fn cpu_by_mode(selector: &str, range: &str) -> String {
    let s = with_matchers(selector, "mode!=\"idle\"");
    format!("avg by (instance_id, mode) (rate(node_cpu_seconds_total{{{s}}}[{range}]))")
}

/// Number of CPUs per host.
pub fn cpu_count(selector: &str) -> String {
    let s = with_matchers(selector, "mode=\"idle\"");
    format!("count by (instance_id) (node_cpu_seconds_total{{{s}}})")
}

/// Load average over `minutes` (1, 5 or 15) divided by the host's number of CPUs.
pub fn load_per_cpu(selector: &str, minutes: u8) -> String {
    format!(
        "node_load{minutes}{{{selector}}} / on (instance_id) {}",
        cpu_count(selector)
    )
}

/// [`load_per_cpu`] with every host label kept (both sides carry the same labels).
pub fn load_per_cpu_per_host(selector: &str, minutes: u8) -> String {
    let s = with_matchers(selector, "mode=\"idle\"");
    format!("node_load{minutes}{{{selector}}} / count {PER_HOST} (node_cpu_seconds_total{{{s}}})")
}

/// Available memory in bytes (`MemAvailable`: allocatable without swapping).
pub fn memory_available_bytes(selector: &str) -> String {
    format!("node_memory_MemAvailable_bytes{{{selector}}}")
}

/// Total memory in bytes.
pub fn memory_total_bytes(selector: &str) -> String {
    format!("node_memory_MemTotal_bytes{{{selector}}}")
}

/// Memory in use in bytes (`MemTotal - MemAvailable`: what applications hold).
pub fn memory_used_bytes(selector: &str) -> String {
    format!(
        "{} - {}",
        memory_total_bytes(selector),
        memory_available_bytes(selector)
    )
}

/// Memory utilisation (0–1): `1 - MemAvailable / MemTotal`.
pub fn memory_utilisation(selector: &str) -> String {
    format!(
        "1 - {} / {}",
        memory_available_bytes(selector),
        memory_total_bytes(selector)
    )
}

/// Used share (0–1) of each real filesystem: `1 - avail / size` ([`REAL_FILESYSTEMS`]).
pub fn filesystem_used_ratio(selector: &str) -> String {
    let s = with_matchers(selector, REAL_FILESYSTEMS);
    format!("1 - node_filesystem_avail_bytes{{{s}}} / node_filesystem_size_bytes{{{s}}}")
}

/// Disk utilisation (0–1): share of time each block device was busy with I/O.
pub fn disk_io_utilisation(selector: &str, range: &str) -> String {
    format!("rate(node_disk_io_time_seconds_total{{{selector}}}[{range}])")
}

/// Per-second rate of a node_exporter counter, e.g. `node_disk_read_bytes_total`.
pub fn counter_rate(metric: &str, selector: &str, range: &str) -> String {
    format!("rate({metric}{{{selector}}}[{range}])")
}

/// Per-second rate of a `node_network_*_total` counter (`receive_bytes`,
/// `transmit_errs`, …) per interface, loopback excluded.
pub fn network_rate(counter: &str, selector: &str, range: &str) -> String {
    let s = with_matchers(selector, NOT_LOOPBACK);
    counter_rate(&format!("node_network_{counter}_total"), &s, range)
}

/// Bytes received per second per interface, loopback excluded.
pub fn network_receive_bytes(selector: &str, range: &str) -> String {
    network_rate("receive_bytes", selector, range)
}

/// Bytes transmitted per second per interface, loopback excluded.
pub fn network_transmit_bytes(selector: &str, range: &str) -> String {
    network_rate("transmit_bytes", selector, range)
}

/// [`network_rate`] summed over every interface but loopback, per host (host labels kept).
pub fn network_rate_per_host(counter: &str, selector: &str, range: &str) -> String {
    format!(
        "sum without (device) ({})",
        network_rate(counter, selector, range)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEL: &str = "job=\"node\",instance_id=~\"i-1|i-2\"";

    fn parses(e: &str) {
        if let Err(err) = promql_parser::parser::parse(e) {
            panic!("{e} does not parse: {err}");
        }
    }

    #[test]
    fn every_expression_parses_with_and_without_a_selector() {
        for sel in [SEL, "instance_id=\"i-1\"", ""] {
            for e in [
                cpu_utilisation(sel, "1m"),
                cpu_utilisation_total(sel, "1m"),
                cpu_idle_rate(sel, "1m"),
                cpu_by_mode(sel, "5m"),
                cpu_count(sel),
                load_per_cpu(sel, 15),
                memory_available_bytes(sel),
                memory_total_bytes(sel),
                memory_used_bytes(sel),
                memory_utilisation(sel),
                filesystem_used_ratio(sel),
                disk_io_utilisation(sel, "30s"),
                counter_rate("node_disk_read_bytes_total", sel, "30s"),
                network_rate("receive_errs", sel, "30s"),
                network_receive_bytes(sel, "30s"),
                network_transmit_bytes(sel, "30s"),
                cpu_utilisation_grouped(sel, "5m", PER_HOST),
                cpu_mode_share("steal", sel, "5m"),
                load_per_cpu_per_host(sel, 1),
                network_rate_per_host("receive_bytes", sel, "5m"),
            ] {
                parses(&e);
            }
        }
    }

    #[test]
    fn selectors_are_joined_without_stray_commas() {
        assert_eq!(with_matchers("", ""), "");
        assert_eq!(with_matchers("a=\"1\"", ""), "a=\"1\"");
        assert_eq!(with_matchers("", "b=\"2\""), "b=\"2\"");
        assert_eq!(
            cpu_count(""),
            "count by (instance_id) (node_cpu_seconds_total{mode=\"idle\"})"
        );
    }

    #[test]
    fn network_leaves_out_loopback_and_filesystems_the_virtual_ones() {
        assert!(network_receive_bytes(SEL, "1m").contains("device!=\"lo\""));
        assert!(network_transmit_bytes(SEL, "1m").contains("device!=\"lo\""));
        assert!(filesystem_used_ratio(SEL).contains("fstype!~\"tmpfs|"));
    }

    #[test]
    fn cpu_utilisations_share_the_idle_rate() {
        let idle = cpu_idle_rate("instance_id=\"i-1\"", "1m");
        assert_eq!(
            idle,
            "rate(node_cpu_seconds_total{instance_id=\"i-1\",mode=\"idle\"}[1m])"
        );
        assert_eq!(
            cpu_utilisation_total("instance_id=\"i-1\"", "1m"),
            format!("1 - avg({idle})")
        );
        assert!(cpu_utilisation("instance_id=\"i-1\"", "1m").ends_with(&format!("({idle})")));
    }

    #[test]
    fn grafana_templates_pass_through() {
        let e = disk_io_utilisation("instance_id=~\"$instance\"", "$__rate_interval");
        assert_eq!(
            e,
            "rate(node_disk_io_time_seconds_total{instance_id=~\"$instance\"}[$__rate_interval])"
        );
    }
}
