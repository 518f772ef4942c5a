//! Usage × prices: the monthly estimate, line by line, with what it assumes and the
//! quotas it would run into.

use std::fmt::Write as _;

use serde::Serialize;

use crate::prices::{Prices, SOURCES};
use crate::quotas::{self, QuotaWarning, Quotas};
use crate::usage::{Usage, DAYS_PER_MONTH, HOURS_PER_MONTH};

/// Bytes AMP stores per sample, for the storage line: "The storage charge is determined
/// by the Prometheus metrics samples (typically 1 or 2 bytes) and metadata" (the AMP
/// pricing page); the upper end is taken, metadata left out.
pub const AMP_BYTES_PER_SAMPLE: f64 = 2.0;

/// AMP's GB: "1GB is 2^30 bytes" (the AMP pricing page).
const GIB: f64 = 1_073_741_824.0;

/// One billed item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// The AWS service.
    pub service: &'static str,
    /// What is billed.
    pub item: String,
    /// How much of it per month.
    pub quantity: f64,
    /// The unit of `quantity`.
    pub unit: &'static str,
    /// USD per month; `None` when the table has no price for it (named in the notes).
    pub usd: Option<f64>,
}

/// The monthly estimate of a stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// The stack's region.
    pub region: String,
    /// The price table's row used (differs from `region` when the table lacks it).
    pub price_region: String,
    /// Always `USD`.
    pub currency: &'static str,
    /// One line per billed item.
    pub lines: Vec<Line>,
    /// Sum of the priced lines.
    pub total_usd: f64,
    /// Samples ingested per month.
    pub samples_per_month: u64,
    /// Samples per second into the workspace.
    pub samples_per_second: f64,
    /// Samples per second each host sends (what `monitor-verify` compares with).
    pub samples_per_second_per_host: f64,
    /// Active series in the workspace.
    pub active_series: u64,
    /// What the numbers rest on, one sentence each.
    pub assumptions: Vec<String>,
    /// Price table fall-backs, overridden prices, lines without a price.
    pub notes: Vec<String>,
    /// Costs the estimate leaves out, and why.
    pub not_estimated: Vec<&'static str>,
    /// AMP quotas the stack would exceed or come near.
    pub warnings: Vec<QuotaWarning>,
    /// Where the prices were read: `(service, offer code, page, date)`.
    pub sources: Vec<(&'static str, &'static str, &'static str, &'static str)>,
}

/// The estimate of `usage` at `prices`, its quota warnings against `quotas`.
pub fn estimate(usage: &Usage, prices: &Prices, quotas: &Quotas) -> Estimate {
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    let mut line = |service, item: String, quantity: f64, unit, usd: Option<f64>| {
        if quantity > 0.0 {
            lines.push(Line {
                service,
                item,
                quantity,
                unit,
                usd,
            });
        }
    };
    let samples = usage.samples_per_month();
    line(
        "AMP",
        "metric samples ingested".into(),
        samples as f64,
        "samples",
        Some(prices.amp_samples_usd(samples)),
    );
    let stored_gb = samples as f64 * f64::from(usage.amp_retention_days) / DAYS_PER_MONTH as f64
        * AMP_BYTES_PER_SAMPLE
        / GIB;
    line(
        "AMP",
        format!("storage, {} days retained", usage.amp_retention_days),
        stored_gb,
        "GB-month",
        Some(stored_gb * prices.list.amp_storage_gb_month),
    );
    if let Some((editors, viewers)) = usage.grafana_users {
        // "One editor licence minimum per workspace" (the AMG pricing page).
        let editors = editors.max(1);
        line(
            "AMG",
            "active editors and admins".into(),
            f64::from(editors),
            "users",
            Some(f64::from(editors) * prices.list.amg_editor_month),
        );
        line(
            "AMG",
            "active viewers".into(),
            f64::from(viewers),
            "users",
            Some(f64::from(viewers) * prices.list.amg_viewer_month),
        );
    }
    let log_gb = usage.log_gb_per_host_month * usage.hosts as f64;
    line(
        "CloudWatch Logs",
        "ingestion".into(),
        log_gb,
        "GB",
        Some(log_gb * prices.list.logs_ingest_gb),
    );
    let log_stored = log_gb * f64::from(usage.log_retention_days) / DAYS_PER_MONTH as f64;
    line(
        "CloudWatch Logs",
        format!("storage, {} days retained", usage.log_retention_days),
        log_stored,
        "GB-month",
        Some(log_stored * prices.list.logs_storage_gb_month),
    );
    line(
        "CloudWatch",
        "alarms".into(),
        usage.alarms as f64,
        "alarms",
        Some(usage.alarms as f64 * prices.list.alarm_month),
    );
    line(
        "CloudWatch",
        "custom metrics of the log metric filters".into(),
        usage.metric_filters as f64,
        "metrics",
        Some(usage.metric_filters as f64 * prices.list.custom_metric_month),
    );
    let emails = (usage.email_subscriptions * usage.notifications_per_subscription) as f64;
    line(
        "SNS",
        "email notifications".into(),
        emails,
        "notifications",
        Some(emails / 1e5 * prices.list.sns_email_100k),
    );
    let https = (usage.https_subscriptions * usage.notifications_per_subscription) as f64;
    line(
        "SNS",
        "HTTPS notifications".into(),
        https,
        "notifications",
        Some(https / 1e6 * prices.list.sns_https_million),
    );
    line(
        "KMS",
        "customer-managed keys".into(),
        usage.kms_keys as f64,
        "keys",
        Some(usage.kms_keys as f64 * prices.list.kms_key_month),
    );
    for (ty, n) in &usage.instances {
        let hours = *n as f64 * HOURS_PER_MONTH;
        let usd = prices.ec2_hour.get(ty).map(|p| p * hours);
        if usd.is_none() {
            notes.push(format!(
                "no price for EC2 {ty} in the table: set [estimate.prices] \"ec2.{ty}\" \
                 (USD per hour) to include it"
            ));
        }
        line(
            "EC2",
            format!("{ty} instances"),
            hours,
            "instance-hours",
            usd,
        );
    }
    let ebs = usage.root_volume_gib as f64 * usage.instances.values().sum::<u64>() as f64;
    line(
        "EBS",
        "gp3 root volumes".into(),
        ebs,
        "GB-month",
        Some(ebs * prices.list.ebs_gp3_gb_month),
    );
    if prices.table_region != prices.region {
        notes.push(format!(
            "the price table has no row for {}: {}'s prices are used; set \
             [estimate.prices] to {}'s",
            prices.region, prices.table_region, prices.region
        ));
    }
    if !prices.overridden.is_empty() {
        let keys: Vec<&str> = prices.overridden.iter().map(String::as_str).collect();
        notes.push(format!(
            "prices set in [estimate.prices]: {}",
            keys.join(", ")
        ));
    }
    let total_usd = lines.iter().filter_map(|l| l.usd).sum();
    Estimate {
        region: prices.region.clone(),
        price_region: prices.table_region.clone(),
        currency: "USD",
        lines,
        total_usd,
        samples_per_month: samples,
        samples_per_second: usage.samples_per_second(),
        samples_per_second_per_host: usage.samples_per_second_per_host(),
        active_series: usage.active_series(),
        assumptions: assumptions(usage),
        notes,
        not_estimated: vec![
            "AMP query samples processed (rule evaluation, dashboards, monitor-verify): \
             billed per billion samples read, depends on how often and how widely they query",
            "free tiers (per account, not per stack: AMP 40 M samples, 10 GB stored; \
             CloudWatch 5 GB of logs, 10 alarms, 10 metrics)",
            "KMS: each yearly rotation of the alert key adds up to $1/month",
            "data transfer, taxes",
        ],
        warnings: quotas::check(usage, quotas),
        sources: SOURCES.to_vec(),
    }
}

fn assumptions(u: &Usage) -> Vec<String> {
    let mut out = vec![
        format!(
            "{} series per host every {} s ([estimate] series_per_host)",
            u.series_per_host,
            u.scrape_interval.as_secs_f64()
        ),
        format!(
            "a {DAYS_PER_MONTH}-day month, {HOURS_PER_MONTH} instance-hours; AMP stores \
             {AMP_BYTES_PER_SAMPLE} bytes per sample for {} days",
            u.amp_retention_days
        ),
        format!(
            "{} GB of logs per host per month ([estimate] log_gb_per_host_month), stored \
             uncompressed (an upper bound: CloudWatch bills stored logs compressed)",
            u.log_gb_per_host_month
        ),
    ];
    if let Some((e, v)) = u.grafana_users {
        out.push(format!(
            "{e} active Grafana editors/admins and {v} viewers a month ([estimate] \
             grafana_editors, grafana_viewers)"
        ));
    }
    if u.email_subscriptions + u.https_subscriptions > 0 {
        out.push(format!(
            "{} notifications per subscription per month ([estimate] \
             notifications_per_subscription)",
            u.notifications_per_subscription
        ));
    }
    out
}

impl Estimate {
    /// The estimate as text: one line per item, the total, then assumptions, notes,
    /// what is left out, quota warnings and the sources.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Estimated cost per month in {} (list prices, USD):\n",
            self.region
        );
        for l in &self.lines {
            let usd = l
                .usd
                .map_or_else(|| "    no price".to_string(), |u| format!("{u:>12.2}"));
            let _ = writeln!(
                out,
                "  {:<16} {:<44} {:>16} {:<14} {usd}",
                l.service,
                l.item,
                quantity(l.quantity),
                l.unit
            );
        }
        let _ = writeln!(
            out,
            "  {:<16} {:<44} {:>16} {:<14} {:>12.2}",
            "Total", "", "", "", self.total_usd
        );
        let _ = writeln!(
            out,
            "\n  {} active series, {:.1} samples/s ({:.2} per host).",
            self.active_series, self.samples_per_second, self.samples_per_second_per_host
        );
        let mut list = |title: &str, items: &mut dyn Iterator<Item = String>| {
            let items: Vec<String> = items.collect();
            if !items.is_empty() {
                let _ = writeln!(out, "\n  {title}:");
                for i in items {
                    let _ = writeln!(out, "    - {i}");
                }
            }
        };
        list("Assumes", &mut self.assumptions.iter().cloned());
        list("Notes", &mut self.notes.iter().cloned());
        list(
            "Not included",
            &mut self.not_estimated.iter().map(|s| s.to_string()),
        );
        list(
            "Warning: AMP quotas",
            &mut self.warnings.iter().map(|w| w.message.clone()),
        );
        list(
            &format!(
                "List prices of {} read {} (how each was checked: --output json)",
                self.price_region,
                crate::prices::READ_ON
            ),
            &mut self
                .sources
                .iter()
                .map(|(s, code, page, _)| format!("{s}: {page} (offer {code})")),
        );
        out
    }
}

/// `207360000` → `207.36 M`, `0.5` → `0.5`.
fn quantity(q: f64) -> String {
    if q >= 1e9 {
        format!("{:.2} B", q / 1e9)
    } else if q >= 1e6 {
        format!("{:.2} M", q / 1e6)
    } else if q.fract() == 0.0 {
        format!("{q:.0}")
    } else {
        format!("{q:.2}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn full() -> Usage {
        Usage {
            hosts: 2,
            series_per_host: 125,
            instances: BTreeMap::from([("t3.micro".into(), 1), ("m7i.large".into(), 1)]),
            root_volume_gib: 10,
            log_gb_per_host_month: 0.5,
            grafana_users: Some((1, 2)),
            alarms: 3,
            metric_filters: 3,
            email_subscriptions: 1,
            https_subscriptions: 1,
            notifications_per_subscription: 100,
            kms_keys: 1,
            ..Usage::default()
        }
    }

    #[test]
    fn every_line_is_quantity_times_its_price() {
        let p = Prices::for_region("us-east-1");
        let e = estimate(&full(), &p, &Quotas::default());
        let find = |item: &str| {
            e.lines
                .iter()
                .find(|l| l.item.starts_with(item))
                .unwrap_or_else(|| panic!("{item}: {:?}", e.lines))
        };
        // 2 × 125 × 5,760 × 30 = 43.2 M samples, all in the first tier.
        assert_eq!(e.samples_per_month, 43_200_000);
        let ingest = find("metric samples").usd.unwrap();
        assert!((ingest - 4.32 * p.list.amp_tiers[0].1).abs() < 1e-9);
        let storage = find("storage, 150").quantity;
        assert!((storage - 43.2e6 * 5.0 * 2.0 / GIB).abs() < 1e-9);
        assert!((find("active viewers").usd.unwrap() - 2.0 * p.list.amg_viewer_month).abs() < 1e-9);
        assert!((find("t3.micro").usd.unwrap() - 730.0 * p.ec2_hour["t3.micro"]).abs() < 1e-9);
        assert_eq!(find("gp3").quantity, 20.0);
        assert!((find("email").usd.unwrap() - 100.0 / 1e5 * p.list.sns_email_100k).abs() < 1e-12);
        // An instance type without a price is shown, left out of the total and named.
        assert_eq!(find("m7i.large").usd, None);
        assert!(
            e.notes.iter().any(|n| n.contains("\"ec2.m7i.large\"")),
            "{:?}",
            e.notes
        );
        let sum: f64 = e.lines.iter().filter_map(|l| l.usd).sum();
        assert!((e.total_usd - sum).abs() < 1e-9);
        assert!(e.warnings.is_empty());
        assert!((e.samples_per_second_per_host - 125.0 / 15.0).abs() < 1e-9);
    }

    #[test]
    fn a_grafana_workspace_bills_at_least_one_editor() {
        let p = Prices::for_region("us-east-1");
        let u = Usage {
            grafana_users: Some((0, 0)),
            ..Usage::default()
        };
        let e = estimate(&u, &p, &Quotas::default());
        let editors: Vec<&Line> = e.lines.iter().filter(|l| l.service == "AMG").collect();
        assert_eq!(editors.len(), 1, "{editors:?}");
        assert_eq!(editors[0].usd, Some(p.list.amg_editor_month));
    }

    #[test]
    fn an_override_changes_its_line_and_is_named() {
        let mut p = Prices::for_region("eu-west-1");
        let before = estimate(&full(), &p, &Quotas::default());
        p.set("ec2.m7i.large", 0.1).unwrap();
        let after = estimate(&full(), &p, &Quotas::default());
        assert!((after.total_usd - before.total_usd - 73.0).abs() < 1e-9);
        assert!(after.notes.iter().any(|n| n.contains("ec2.m7i.large")));
    }

    #[test]
    fn the_text_shows_lines_total_assumptions_and_sources() {
        let p = Prices::for_region("eu-west-1");
        let t = estimate(&full(), &p, &Quotas::default()).render_text();
        for want in [
            "metric samples ingested",
            "43.20 M",
            "Total",
            "125 series per host",
            "List prices of eu-west-1 read",
            "AmazonPrometheus",
        ] {
            assert!(t.contains(want), "{want} missing:\n{t}");
        }
    }
}
