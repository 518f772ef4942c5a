//! `[estimate]`: what `monitor-provision plan`'s cost estimate assumes where the stack
//! cannot say (series per host, log volume, active Grafana users, notifications), the
//! prices it uses instead of the built-in table, and AMP quotas already raised — its
//! on-disk shape ([`EstimateFile`]), its validated model ([`EstimateConfig`]) and the
//! validation between them. Every key is optional; the defaults are
//! `monitor_cost::usage::assumptions`.
//!
//! ```toml
//! [estimate]
//! series_per_host = 400            # bigger hosts: more CPUs, disks, interfaces
//! log_gb_per_host_month = 2.0
//! grafana_editors = 3
//! grafana_viewers = 20
//! notifications_per_subscription = 50
//!
//! [estimate.prices]                # USD; keys: monitor_cost::PRICE_KEYS, ec2.<type>
//! amp_samples_per_10m = 0.80
//! "ec2.m7i.large" = 0.1008
//!
//! [estimate.quotas]                # AMP quotas your account already has
//! active_series = 50000000
//! ingestion_rate = 1666666
//! ```

use std::collections::BTreeMap;

use monitor_cost::usage::assumptions;
use monitor_cost::Quotas;
use serde::Deserialize;
use toml::Spanned;

use crate::error::StackError;
use crate::model::{CollectorKind, MetricSelection};
use crate::validate::Ctx;
use crate::Collector;

/// `[estimate]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimateFile {
    /// Active series each host ships.
    pub series_per_host: Option<Spanned<i64>>,
    /// GB of logs each host ships per month.
    pub log_gb_per_host_month: Option<Spanned<f64>>,
    /// Active Grafana editors and admins per month.
    pub grafana_editors: Option<Spanned<i64>>,
    /// Active Grafana viewers per month.
    pub grafana_viewers: Option<Spanned<i64>>,
    /// Alert notifications each SNS subscription gets per month.
    pub notifications_per_subscription: Option<Spanned<i64>>,
    /// Prices replacing the built-in table's, USD.
    pub prices: Option<BTreeMap<Spanned<String>, Spanned<f64>>>,
    /// AMP quotas of the account.
    pub quotas: Option<Spanned<QuotasFile>>,
}

/// `[estimate.quotas]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasFile {
    /// Active series per workspace (`L-5A151448`).
    pub active_series: Option<Spanned<i64>>,
    /// Ingestion rate, samples per second (`L-F4BCE0BA`).
    pub ingestion_rate: Option<Spanned<i64>>,
}

/// `[estimate]`, validated, defaults filled.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimateConfig {
    /// Active series each host ships (default by `[collector]`:
    /// [`assumptions::series_per_host`]).
    pub series_per_host: u64,
    /// GB of logs per host per month (default [`assumptions::LOG_GB_PER_HOST_MONTH`]).
    pub log_gb_per_host_month: f64,
    /// Active Grafana editors/admins (default [`assumptions::GRAFANA_EDITORS`]).
    pub grafana_editors: u32,
    /// Active Grafana viewers (default [`assumptions::GRAFANA_VIEWERS`]).
    pub grafana_viewers: u32,
    /// Notifications per SNS subscription per month (default
    /// [`assumptions::NOTIFICATIONS_PER_SUBSCRIPTION_MONTH`]).
    pub notifications_per_subscription: u64,
    /// Price overrides by key, each accepted by `monitor_cost::prices::check`.
    pub prices: BTreeMap<String, f64>,
    /// AMP quotas (default: `monitor_cost::Quotas::default`).
    pub quotas: Quotas,
}

impl EstimateConfig {
    /// The defaults for a stack shipping with `collector`.
    pub fn defaults(collector: &Collector) -> EstimateConfig {
        EstimateConfig {
            series_per_host: assumptions::series_per_host(
                collector.metrics == MetricSelection::Used,
                matches!(collector.kind, CollectorKind::MonitorAgent(_)),
            ),
            log_gb_per_host_month: assumptions::LOG_GB_PER_HOST_MONTH,
            grafana_editors: assumptions::GRAFANA_EDITORS,
            grafana_viewers: assumptions::GRAFANA_VIEWERS,
            notifications_per_subscription: assumptions::NOTIFICATIONS_PER_SUBSCRIPTION_MONTH,
            prices: BTreeMap::new(),
            quotas: Quotas::default(),
        }
    }
}

type Result<T> = std::result::Result<T, StackError>;

/// A whole number in `0..=max` (`1..` when `positive`).
fn count(ctx: &Ctx<'_>, v: &Spanned<i64>, key: &str, positive: bool, max: i64) -> Result<u64> {
    let n = *v.get_ref();
    let min = i64::from(positive);
    if n < min || n > max {
        return Err(ctx.bad(
            v,
            key,
            format!("expected a whole number {min}–{max}, got {n}"),
        ));
    }
    Ok(n.unsigned_abs())
}

pub(crate) fn validate_estimate(
    ctx: &Ctx<'_>,
    e: Option<&Spanned<EstimateFile>>,
    collector: &Collector,
) -> Result<EstimateConfig> {
    let mut out = EstimateConfig::defaults(collector);
    let Some(e) = e.map(Spanned::get_ref) else {
        return Ok(out);
    };
    const MANY: i64 = 1_000_000_000_000;
    if let Some(v) = &e.series_per_host {
        out.series_per_host = count(ctx, v, "estimate.series_per_host", true, MANY)?;
    }
    if let Some(v) = &e.log_gb_per_host_month {
        let g = *v.get_ref();
        if !g.is_finite() || g < 0.0 {
            return Err(ctx.bad(
                v,
                "estimate.log_gb_per_host_month",
                format!("expected a number of GB ≥ 0, got {g}"),
            ));
        }
        out.log_gb_per_host_month = g;
    }
    let users = |v: &Option<Spanned<i64>>, key: &str, into: &mut u32| -> Result<()> {
        if let Some(v) = v {
            *into = count(ctx, v, key, false, i64::from(u32::MAX))? as u32;
        }
        Ok(())
    };
    users(
        &e.grafana_editors,
        "estimate.grafana_editors",
        &mut out.grafana_editors,
    )?;
    users(
        &e.grafana_viewers,
        "estimate.grafana_viewers",
        &mut out.grafana_viewers,
    )?;
    if let Some(v) = &e.notifications_per_subscription {
        out.notifications_per_subscription = count(
            ctx,
            v,
            "estimate.notifications_per_subscription",
            false,
            MANY,
        )?;
    }
    // Each override is checked here, so a bad key or value is refused with its line and
    // never later in `plan`.
    for (k, v) in e.prices.iter().flatten() {
        let key = format!("estimate.prices.{}", k.get_ref());
        if let Err(e) = monitor_cost::prices::check(k.get_ref(), *v.get_ref()) {
            let at = match e {
                monitor_cost::PriceError::Key(_) => k.span(),
                monitor_cost::PriceError::Value(_) => v.span(),
            };
            return Err(ctx.invalid(Some(at), &key, e.to_string()));
        }
        out.prices.insert(k.get_ref().clone(), *v.get_ref());
    }
    if let Some(q) = &e.quotas {
        let q = q.get_ref();
        if let Some(v) = &q.active_series {
            out.quotas.active_series = count(ctx, v, "estimate.quotas.active_series", true, MANY)?;
        }
        if let Some(v) = &q.ingestion_rate {
            out.quotas.ingestion_rate =
                count(ctx, v, "estimate.quotas.ingestion_rate", true, MANY)?;
        }
    }
    Ok(out)
}
