//! What a stack uses in a month, and the assumptions for what its file cannot say.
//!
//! Every default here is stated in the estimate's output so the reader knows what the
//! numbers rest on, and every one can be overridden in `stack.toml`'s `[estimate]`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Days in the estimate's month (AWS bills per calendar month; 30 is the issue's and
/// most calculators' convention).
pub const DAYS_PER_MONTH: u64 = 30;

/// Hours in a month as the EC2 pricing page's monthly figures use them (730).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// AMP's default retention when the workspace does not set `retentionPeriodInDays`
/// (150 days, `AMP-UG/AMP_quotas.html`); the stack does not change it.
pub const AMP_DEFAULT_RETENTION_DAYS: u32 = 150;

/// The default assumptions, each with where its number comes from.
pub mod assumptions {
    /// node_exporter series per host shipped with `[collector] metrics = "used"`:
    /// measured 67 samples per scrape on a 2-vCPU Debian 12 machine
    /// (`tests/it/allowlist.rs` prints it), rounded up; `node_cpu_seconds_total` adds
    /// 8 series per further vCPU and every disk, interface and filesystem adds its own.
    pub const NODE_SERIES_USED: u64 = 70;
    /// node_exporter series per host with `metrics = "all"`: the seed design's "≈ 1,000 –
    /// 1,500 per host" at its low end (the same 2-vCPU test machine exposes 507).
    pub const NODE_SERIES_ALL: u64 = 1_000;
    /// The series the scraper makes per scrape job (`up`, `scrape_duration_seconds`,
    /// `scrape_samples_scraped`, `scrape_samples_post_metric_relabeling`,
    /// `scrape_series_added`) × 2 jobs (node_exporter, the collector's own metrics).
    pub const SCRAPE_SERIES: u64 = 10;
    /// monitor-agent's own metrics (`monitor_agent_*`, shipped as `job="monitor-agent"`):
    /// 34 counted in AMP's stand-in with one scrape job (`tests/it/allowlist.rs` prints
    /// it and checks the whole default against what a host ships), rounded up.
    pub const MONITOR_AGENT_SELF_SERIES: u64 = 40;
    /// ADOT's own telemetry (`otelcol_*`, scraped from `127.0.0.1:8888`): not measured
    /// here (no ADOT binary on the test machines); an assumption.
    pub const ADOT_SELF_SERIES: u64 = 100;
    /// CloudWatch Logs ingested per host per month, GB: an assumption for a quiet host
    /// shipping `/var/log/messages` and `cloud-init-output.log`.
    pub const LOG_GB_PER_HOST_MONTH: f64 = 0.5;
    /// Active Grafana editors/admins per month when Grafana is enabled.
    pub const GRAFANA_EDITORS: u32 = 1;
    /// Active Grafana viewers per month.
    pub const GRAFANA_VIEWERS: u32 = 0;
    /// Alert notifications each SNS subscription receives per month.
    pub const NOTIFICATIONS_PER_SUBSCRIPTION_MONTH: u64 = 100;

    /// Series shipped per host: node_exporter's (by `metrics = "used"` or `"all"`), the
    /// scraper's own and the collector's own metrics.
    pub fn series_per_host(used_only: bool, monitor_agent: bool) -> u64 {
        let node = if used_only {
            NODE_SERIES_USED
        } else {
            NODE_SERIES_ALL
        };
        let own = if monitor_agent {
            MONITOR_AGENT_SELF_SERIES
        } else {
            ADOT_SELF_SERIES
        };
        node + SCRAPE_SERIES + own
    }
}

/// What a stack uses in a month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    /// Hosts shipping metrics and logs.
    pub hosts: u64,
    /// Active series each host ships.
    pub series_per_host: u64,
    /// The collectors' scrape interval.
    #[serde(serialize_with = "secs")]
    pub scrape_interval: Duration,
    /// AMP retention in days.
    pub amp_retention_days: u32,
    /// EC2 instances the stack launches, by instance type.
    pub instances: BTreeMap<String, u64>,
    /// Root volume of each launched instance, GiB (gp3).
    pub root_volume_gib: u64,
    /// CloudWatch Logs ingested per host per month, GB.
    pub log_gb_per_host_month: f64,
    /// Retention of the log group, days.
    pub log_retention_days: u32,
    /// Active Grafana (editors/admins, viewers) when the stack has Amazon Managed Grafana.
    pub grafana_users: Option<(u32, u32)>,
    /// CloudWatch alarms.
    pub alarms: u64,
    /// CloudWatch Logs metric filters (each publishes one custom metric).
    pub metric_filters: u64,
    /// Email subscriptions of the alert topics.
    pub email_subscriptions: u64,
    /// HTTPS subscriptions of the alert topics.
    pub https_subscriptions: u64,
    /// Notifications each subscription receives per month.
    pub notifications_per_subscription: u64,
    /// Customer-managed KMS keys.
    pub kms_keys: u64,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Default for Usage {
    /// One host, monitor-agent with `metrics = "used"`, every 15 s; nothing else.
    fn default() -> Usage {
        Usage {
            hosts: 1,
            series_per_host: assumptions::series_per_host(true, true),
            scrape_interval: Duration::from_secs(15),
            amp_retention_days: AMP_DEFAULT_RETENTION_DAYS,
            instances: BTreeMap::new(),
            root_volume_gib: 0,
            log_gb_per_host_month: 0.0,
            log_retention_days: 30,
            grafana_users: None,
            alarms: 0,
            metric_filters: 0,
            email_subscriptions: 0,
            https_subscriptions: 0,
            notifications_per_subscription: 0,
            kms_keys: 0,
        }
    }
}

impl Usage {
    /// Samples ingested per month: hosts × series × 86,400 / interval × 30.
    pub fn samples_per_month(&self) -> u64 {
        let per_day = 86_400_000 / self.scrape_interval.as_millis().max(1) as u64;
        self.hosts * self.series_per_host * per_day * DAYS_PER_MONTH
    }

    /// Samples per second the workspace ingests.
    pub fn samples_per_second(&self) -> f64 {
        self.samples_per_second_per_host() * self.hosts as f64
    }

    /// Samples per second one host sends.
    pub fn samples_per_second_per_host(&self) -> f64 {
        self.series_per_host as f64 / self.scrape_interval.as_secs_f64().max(0.001)
    }

    /// Active series in the workspace.
    pub fn active_series(&self) -> u64 {
        self.hosts * self.series_per_host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_formula_hosts_series_day_over_interval_month() {
        let u = Usage {
            hosts: 3,
            series_per_host: 100,
            scrape_interval: Duration::from_secs(30),
            ..Usage::default()
        };
        assert_eq!(u.samples_per_month(), 3 * 100 * 86_400 / 30 * 30);
        assert_eq!(u.active_series(), 300);
        assert!((u.samples_per_second() - 10.0).abs() < 1e-9);
        let fast = Usage {
            scrape_interval: Duration::from_millis(500),
            ..u
        };
        assert_eq!(fast.samples_per_month(), 3 * 100 * 2 * 86_400 * 30);
    }

    #[test]
    fn the_default_series_add_up_from_their_parts() {
        assert_eq!(assumptions::series_per_host(true, true), 70 + 10 + 40);
        assert_eq!(assumptions::series_per_host(false, false), 1_000 + 10 + 100);
    }
}
