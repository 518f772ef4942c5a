//! The stack's monthly cost estimate and AMP quota warnings, as `plan` prints them: the
//! usage is read off the desired state (hosts and their instance types, fleet members,
//! groups at their desired capacity, log alarms, alert subscriptions, the KMS key, Grafana) and the stack's `[estimate]` assumptions,
//! then priced by `monitor-cost` at the stack region's prices with the stack's overrides.

use monitor_cost::{Estimate, Prices, Usage};
use monitor_stack::Stack;

use crate::desired::Desired;

/// What the stack as `desired` uses in a month.
pub fn usage(stack: &Stack, desired: &Desired) -> Usage {
    let e = &stack.estimate;
    let mut instances = std::collections::BTreeMap::new();
    for h in &desired.hosts {
        *instances.entry(h.host.instance_type.clone()).or_insert(0) += 1;
    }
    // A group is priced at its desired capacity (what runs when nothing scales).
    for g in &desired.groups {
        *instances.entry(g.group.instance_type.clone()).or_insert(0) += u64::from(g.group.desired);
    }
    let group_instances: usize = desired
        .groups
        .iter()
        .map(|g| g.group.desired as usize)
        .sum();
    let alerting = desired.alerting.as_ref();
    let subscriptions = |protocol: &str| {
        alerting.map_or(0, |a| {
            a.topics
                .iter()
                .flat_map(|t| &t.subscriptions)
                .filter(|s| s.protocol == protocol)
                .count() as u64
        })
    };
    let log_alarms = alerting.map_or(0, |a| a.log_alarms.len() as u64);
    Usage {
        // Fleet members ship series and logs like hosts; their EC2 bill is their team's.
        hosts: (desired.hosts.len() + fleet_members(desired) + group_instances) as u64,
        series_per_host: e.series_per_host,
        scrape_interval: stack.collector.scrape_interval,
        amp_retention_days: monitor_cost::usage::AMP_DEFAULT_RETENTION_DAYS,
        instances,
        root_volume_gib: crate::ec2::ROOT_VOLUME_GIB.unsigned_abs().into(),
        log_gb_per_host_month: e.log_gb_per_host_month,
        log_retention_days: desired.retention_days,
        grafana_users: desired
            .grafana
            .as_ref()
            .map(|_| (e.grafana_editors, e.grafana_viewers)),
        alarms: log_alarms,
        metric_filters: log_alarms,
        email_subscriptions: subscriptions("email"),
        https_subscriptions: subscriptions("https"),
        notifications_per_subscription: e.notifications_per_subscription,
        kms_keys: u64::from(alerting.is_some_and(|a| !a.topics.is_empty())),
    }
}

/// Running fleet members, each once (an instance may be in two fleets).
fn fleet_members(desired: &Desired) -> usize {
    desired
        .fleets
        .iter()
        .flat_map(|f| &f.members)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// The estimate of the stack as `desired`: [`usage`] priced at the stack region's list
/// prices with `[estimate.prices]` applied, checked against `[estimate.quotas]`.
pub fn estimate(stack: &Stack, desired: &Desired) -> Estimate {
    let mut prices = Prices::for_region(&stack.region);
    for (k, v) in &stack.estimate.prices {
        // Validated when the stack was loaded.
        let _ = prices.set(k, *v);
    }
    monitor_cost::estimate(&usage(stack, desired), &prices, &stack.estimate.quotas)
}
