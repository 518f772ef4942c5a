//! AMP's workspace quotas a stack can run into, and the warnings when it would.
//!
//! The defaults are the page's (`AMP-UG/AMP_quotas.html`) generation of 10,000,000
//! active series and 170,000 samples/s: the page has changed over the years (2 M and
//! 140,000/s before; its newest version lists 50 M series, auto-adjusting, and a rate of
//! 1/30 of that), and what an account has is what Service Quotas shows for it. The
//! lower values make the warning come early rather than late; an account with more
//! puts its values in `[estimate.quotas]`.

use serde::Serialize;

use crate::Usage;

/// The quotas the estimate checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quotas {
    /// Active series per workspace (Service Quotas `aps` `L-5A151448`).
    pub active_series: u64,
    /// Ingestion rate, samples per second per workspace (`aps` `L-F4BCE0BA`).
    pub ingestion_rate: u64,
}

impl Default for Quotas {
    fn default() -> Quotas {
        Quotas {
            active_series: 10_000_000,
            ingestion_rate: 170_000,
        }
    }
}

/// Share of a quota above which the estimate warns that it is near.
pub const NEAR: f64 = 0.8;

/// A quota the stack would exceed or come near.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaWarning {
    /// Quota name as Service Quotas shows it.
    pub quota: &'static str,
    /// Service Quotas code (service `aps`).
    pub code: &'static str,
    /// What the stack would use.
    pub needed: f64,
    /// The quota the estimate assumed.
    pub limit: u64,
    /// One line: what happens and which quota to raise.
    pub message: String,
}

/// The warnings for `usage` against `quotas`: above [`NEAR`] of a quota, or above it.
pub fn check(usage: &Usage, quotas: &Quotas) -> Vec<QuotaWarning> {
    let mut out = Vec::new();
    let mut one =
        |quota: &'static str, code: &'static str, needed: f64, limit: u64, effect: &str| {
            let share = needed / limit.max(1) as f64;
            if share < NEAR {
                return;
            }
            let verb = if share > 1.0 { "exceeds" } else { "is near" };
            out.push(QuotaWarning {
                quota,
                code,
                needed,
                limit,
                message: format!(
                    "{needed:.0} {verb} AMP's {quota} quota of {limit} ({:.0} %): {effect}; \
                 request an increase of `{quota}` (Service Quotas, service aps, {code}) \
                 before apply, then set [estimate.quotas] to the new value",
                    share * 100.0
                ),
            });
        };
    one(
        "Active series per workspace",
        "L-5A151448",
        usage.active_series() as f64,
        quotas.active_series,
        "new series are refused with HTTP 400 (per_user_series_limit), which the \
         collectors drop, not retry",
    );
    one(
        "Ingestion rate per workspace",
        "L-F4BCE0BA",
        usage.samples_per_second(),
        quotas.ingestion_rate,
        "writes are throttled with HTTP 429 and the collectors' queues grow",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_stack_is_quiet_a_near_one_warns_and_a_big_one_names_the_quota() {
        let q = Quotas::default();
        let small = Usage {
            hosts: 10,
            ..Usage::default()
        };
        assert!(check(&small, &q).is_empty());
        // 20,000 hosts × 120 series / 15 s = 160,000 samples/s: near the rate quota.
        let near = Usage {
            hosts: 20_000,
            ..Usage::default()
        };
        let w = check(&near, &q);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].message.contains("is near"), "{}", w[0].message);
        // 100,000 hosts: 12 M series and 800 k samples/s, both over.
        let big = Usage {
            hosts: 100_000,
            ..Usage::default()
        };
        let w = check(&big, &q);
        assert_eq!(
            w.iter().map(|w| w.code).collect::<Vec<_>>(),
            ["L-5A151448", "L-F4BCE0BA"]
        );
        assert!(w[0].message.contains("exceeds"), "{}", w[0].message);
        assert!(w[0].message.contains("HTTP 400"), "{}", w[0].message);
        // A raised quota silences it.
        let raised = Quotas {
            active_series: 50_000_000,
            ingestion_rate: 2_000_000,
        };
        assert!(check(&big, &raised).is_empty());
    }
}
