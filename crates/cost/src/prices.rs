//! The list prices the estimate uses: one table, each price with the page it was read
//! from and the date, per region where AWS prices differ.
//!
//! On-demand list prices in USD, without free tiers (they are per account, not per
//! stack, and the rest of the account may already use them) and without taxes.
//! The canonical machine-readable source for every row is the AWS Price List API's offer
//! file of the service,
//! `https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/<offer code>/current/index.json`
//! (offer codes in [`SOURCES`]). Prices change: a user with other prices (a newer list,
//! a private rate) sets them in `[estimate.prices]`, key by key ([`PRICE_KEYS`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// Where the table's prices were read: `(service, offer code, pricing page, how the
/// numbers were checked)`. No live AWS page or offer file was reachable where this table
/// was written (2026-12-07): each number was read in a copy of AWS's own data, named
/// here, and two sources agree for every row marked so in [`TABLE`]'s comments. Refresh
/// them from the offer files (see the module docs) when AWS changes a price.
pub const SOURCES: &[(&str, &str, &str, &str)] = &[
    (
        "Amazon Managed Service for Prometheus",
        "AmazonPrometheus",
        "https://aws.amazon.com/prometheus/pricing/",
        "tiers, storage: a 2026-09-21 design note checked against the Price List API, \
         agreeing with ministryofjustice/cloud-platform ADR 026 (eu-west-1)",
    ),
    (
        "Amazon Managed Grafana",
        "AmazonGrafana",
        "https://aws.amazon.com/grafana/pricing/",
        "the pricing page; infracost's grafana_workspace golden test (us-east-1, 2025-07)",
    ),
    (
        "Amazon CloudWatch (Logs, alarms, custom metrics)",
        "AmazonCloudWatch",
        "https://aws.amazon.com/cloudwatch/pricing/",
        "infracost golden tests (us-east-1); eu-west-1 offer file 20260922021715 (SKUs \
         KJBTQPDHW2H92B8Y, M93YPPU987S2T6U9, GDMKAEDCSYJAKBZQ, 58YXNUN4MF8JD9ZA)",
    ),
    (
        "Amazon SNS",
        "AmazonSNS",
        "https://aws.amazon.com/sns/pricing/",
        "infracost's sns_topic golden test (us-east-1 and eu-west-1); eu-west-1 offer \
         file of 2026-09-15",
    ),
    (
        "AWS KMS",
        "awskms",
        "https://aws.amazon.com/kms/pricing/",
        "the pricing page ($1/month per key, no regional price); infracost's kms_key test",
    ),
    (
        "Amazon EC2 and EBS",
        "AmazonEC2",
        "https://aws.amazon.com/ec2/pricing/on-demand/",
        "us-east-1: Karpenter's generated price table of 2026-07-20; eu-west-1: offer rows \
         EU-BoxUsage:t3.micro (effective 2026-09-01) and EU-EBS:VolumeUsage.gp3",
    ),
];

/// The date the table's prices were read.
pub const READ_ON: &str = "2026-12-07";

/// One overridable price: its key in `[estimate.prices]`, its unit, and what it sets.
#[derive(Clone, Copy)]
pub struct PriceKey {
    /// The key in `[estimate.prices]`.
    pub key: &'static str,
    /// What one unit is.
    pub unit: &'static str,
    set: fn(&mut ListPrices, f64),
}

impl std::fmt::Debug for PriceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PriceKey")
            .field("key", &self.key)
            .field("unit", &self.unit)
            .finish_non_exhaustive()
    }
}

/// Every key `[estimate.prices]` accepts, besides `ec2.<instance type>` (USD per hour).
pub const PRICE_KEYS: &[PriceKey] = &[
    PriceKey {
        key: "amp_samples_per_10m",
        unit: "USD per 10 million samples ingested, every tier",
        set: |p, v| p.amp_tiers.iter_mut().for_each(|t| t.1 = v),
    },
    PriceKey {
        key: "amp_storage_gb_month",
        unit: "USD per GB-month of AMP storage",
        set: |p, v| p.amp_storage_gb_month = v,
    },
    PriceKey {
        key: "amg_editor_month",
        unit: "USD per active Grafana editor or admin per month",
        set: |p, v| p.amg_editor_month = v,
    },
    PriceKey {
        key: "amg_viewer_month",
        unit: "USD per active Grafana viewer per month",
        set: |p, v| p.amg_viewer_month = v,
    },
    PriceKey {
        key: "logs_ingest_gb",
        unit: "USD per GB ingested into CloudWatch Logs",
        set: |p, v| p.logs_ingest_gb = v,
    },
    PriceKey {
        key: "logs_storage_gb_month",
        unit: "USD per GB-month stored in CloudWatch Logs",
        set: |p, v| p.logs_storage_gb_month = v,
    },
    PriceKey {
        key: "alarm_month",
        unit: "USD per standard-resolution CloudWatch alarm per month",
        set: |p, v| p.alarm_month = v,
    },
    PriceKey {
        key: "custom_metric_month",
        unit: "USD per CloudWatch custom metric per month",
        set: |p, v| p.custom_metric_month = v,
    },
    PriceKey {
        key: "sns_email_100k",
        unit: "USD per 100,000 email notifications",
        set: |p, v| p.sns_email_100k = v,
    },
    PriceKey {
        key: "sns_https_million",
        unit: "USD per million HTTP/S notifications",
        set: |p, v| p.sns_https_million = v,
    },
    PriceKey {
        key: "kms_key_month",
        unit: "USD per customer-managed KMS key per month",
        set: |p, v| p.kms_key_month = v,
    },
    PriceKey {
        key: "ebs_gp3_gb_month",
        unit: "USD per GB-month of gp3 volume",
        set: |p, v| p.ebs_gp3_gb_month = v,
    },
];

/// The prefix of per-instance-type keys (`ec2.t3.micro = 0.0104`, USD per hour).
pub const EC2_KEY_PREFIX: &str = "ec2.";

/// What `[estimate.prices]` may say: `key` is one of [`PRICE_KEYS`] or
/// `ec2.<family>.<size>`, and `value` a price ≥ 0.
///
/// # Errors
/// Which of the two is wrong, listing the known keys for a wrong key.
pub fn check(key: &str, value: f64) -> Result<(), PriceError> {
    let ec2 = key
        .strip_prefix(EC2_KEY_PREFIX)
        .and_then(|t| t.split_once('.'))
        .is_some_and(|(f, s)| !f.is_empty() && !s.is_empty());
    if !ec2 && !PRICE_KEYS.iter().any(|k| k.key == key) {
        let known: Vec<&str> = PRICE_KEYS.iter().map(|k| k.key).collect();
        return Err(PriceError::Key(format!(
            "unknown price `{key}`: expected one of {}, or ec2.<instance type>",
            known.join(", ")
        )));
    }
    if !value.is_finite() || value < 0.0 {
        return Err(PriceError::Value(format!(
            "{key}: a price must be a number ≥ 0, got {value}"
        )));
    }
    Ok(())
}

/// Why [`check`] refused a price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceError {
    /// The key is not a price.
    Key(String),
    /// The value is not a price.
    Value(String),
}

impl std::fmt::Display for PriceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PriceError::Key(m) | PriceError::Value(m) => f.write_str(m),
        }
    }
}

const BILLION: u64 = 1_000_000_000;

/// AMP's ingestion tiers per month: the first 2 B samples, the next 250 B, above 252 B.
const AMP_TIER_BOUNDS: [u64; 3] = [2 * BILLION, 252 * BILLION, u64::MAX];

const fn tiers(p: [f64; 3]) -> [(u64, f64); 3] {
    [
        (AMP_TIER_BOUNDS[0], p[0]),
        (AMP_TIER_BOUNDS[1], p[1]),
        (AMP_TIER_BOUNDS[2], p[2]),
    ]
}

/// One region's list prices, USD (EC2 instance types apart: [`Prices::ec2_hour`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ListPrices {
    /// AMP ingestion tiers, `(samples per month up to, USD per 10 M)`.
    pub amp_tiers: [(u64, f64); 3],
    /// Per GB-month of AMP storage.
    pub amp_storage_gb_month: f64,
    /// Per active Grafana editor/admin per month.
    pub amg_editor_month: f64,
    /// Per active Grafana viewer per month.
    pub amg_viewer_month: f64,
    /// Per GB ingested into CloudWatch Logs.
    pub logs_ingest_gb: f64,
    /// Per GB-month stored in CloudWatch Logs.
    pub logs_storage_gb_month: f64,
    /// Per standard-resolution alarm per month.
    pub alarm_month: f64,
    /// Per custom metric per month.
    pub custom_metric_month: f64,
    /// Per 100,000 email notifications.
    pub sns_email_100k: f64,
    /// Per million HTTP/S notifications.
    pub sns_https_million: f64,
    /// Per customer-managed KMS key per month.
    pub kms_key_month: f64,
    /// Per gp3 GB-month.
    pub ebs_gp3_gb_month: f64,
}

/// One region's row of the table.
struct Row {
    region: &'static str,
    list: ListPrices,
    /// Linux on-demand USD per hour.
    ec2: &'static [(&'static str, f64)],
}

/// The table. The first row is the fallback for regions not listed. Only prices read
/// in the [`SOURCES`] are here: a region or instance type whose price could not be
/// checked is left out (the estimate then says so and asks for `[estimate.prices]`)
/// rather than guessed — AMP's own prices differ by region (ca-central-1 is ≈ 9 %
/// higher), so no row is copied to another region.
const US_EAST_1: ListPrices = ListPrices {
    amp_tiers: tiers([0.90, 0.35, 0.16]),
    amp_storage_gb_month: 0.03,
    amg_editor_month: 9.0,
    amg_viewer_month: 5.0,
    logs_ingest_gb: 0.50,
    logs_storage_gb_month: 0.03,
    alarm_month: 0.10,
    custom_metric_month: 0.30,
    sns_email_100k: 2.00,
    sns_https_million: 0.60,
    kms_key_month: 1.00,
    ebs_gp3_gb_month: 0.08,
};

const TABLE: &[Row] = &[
    Row {
        region: "us-east-1",
        list: US_EAST_1,
        ec2: &[("t3.micro", 0.0104), ("t4g.micro", 0.0084)],
    },
    Row {
        region: "eu-west-1",
        // Differs from us-east-1 in Logs ingestion and gp3 only.
        list: ListPrices {
            logs_ingest_gb: 0.57,
            ebs_gp3_gb_month: 0.088,
            ..US_EAST_1
        },
        // t4g.micro: only hand-typed tables were found (0.0092); not in the table.
        ec2: &[("t3.micro", 0.0114)],
    },
];

/// The prices an estimate uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prices {
    /// The region the prices are for.
    pub region: String,
    /// The table row they came from (`us-east-1` for a region the table lacks).
    pub table_region: String,
    /// The list prices, with `[estimate.prices]` applied.
    pub list: ListPrices,
    /// Linux on-demand USD per hour by instance type.
    pub ec2_hour: BTreeMap<String, f64>,
    /// The keys `[estimate.prices]` set.
    pub overridden: BTreeSet<String>,
}

impl Prices {
    /// The table's prices for `region`; for a region the table has no row for, the first
    /// row's (us-east-1), with `table_region` saying so (the estimate notes it).
    pub fn for_region(region: &str) -> Prices {
        let row = TABLE
            .iter()
            .find(|r| r.region == region)
            .unwrap_or(&TABLE[0]);
        Prices {
            region: region.to_string(),
            table_region: row.region.to_string(),
            list: row.list,
            ec2_hour: row
                .ec2
                .iter()
                .map(|(t, p)| ((*t).to_string(), *p))
                .collect(),
            overridden: BTreeSet::new(),
        }
    }

    /// Sets the price of `key` ([`PRICE_KEYS`] or `ec2.<instance type>`).
    ///
    /// # Errors
    /// As [`check`].
    pub fn set(&mut self, key: &str, value: f64) -> Result<(), PriceError> {
        check(key, value)?;
        match PRICE_KEYS.iter().find(|k| k.key == key) {
            Some(k) => (k.set)(&mut self.list, value),
            None => {
                let ty = &key[EC2_KEY_PREFIX.len()..];
                self.ec2_hour.insert(ty.to_string(), value);
            }
        }
        self.overridden.insert(key.to_string());
        Ok(())
    }

    /// USD for `samples` ingested in a month, tier by tier.
    pub fn amp_samples_usd(&self, samples: u64) -> f64 {
        let mut usd = 0.0;
        let mut below = 0u64;
        for (upto, per_10m) in &self.list.amp_tiers {
            if samples <= below {
                break;
            }
            let in_tier = samples.min(*upto) - below;
            usd += in_tier as f64 / 1e7 * per_10m;
            below = *upto;
        }
        usd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_sets_its_price_and_nothing_else_is_accepted() {
        let base = Prices::for_region("eu-west-1");
        assert_eq!(base.table_region, "eu-west-1");
        for k in PRICE_KEYS {
            let mut p = base.clone();
            p.set(k.key, 123.0).unwrap();
            assert_ne!(p, base, "{} changed nothing", k.key);
            assert!(p.overridden.contains(k.key));
        }
        let mut p = base.clone();
        p.set("ec2.m7g.large", 0.0816).unwrap();
        assert_eq!(p.ec2_hour["m7g.large"], 0.0816);
        assert!(p
            .set("amp_sample", 1.0)
            .unwrap_err()
            .to_string()
            .contains("amp_samples_per_10m"));
        assert!(p.set("ec2.", 1.0).is_err());
        assert!(p.set("kms_key_month", -1.0).is_err());
        assert!(p.set("kms_key_month", f64::NAN).is_err());
    }

    #[test]
    fn a_region_without_a_row_falls_back_and_says_so() {
        let p = Prices::for_region("ap-south-2");
        assert_eq!(p.table_region, TABLE[0].region);
        assert_eq!(p.region, "ap-south-2");
        let e = crate::estimate(&crate::Usage::default(), &p, &crate::Quotas::default());
        assert!(
            e.notes.iter().any(|n| n.contains("no row for ap-south-2")),
            "{:?}",
            e.notes
        );
    }

    #[test]
    fn ingestion_is_billed_tier_by_tier() {
        let p = Prices::for_region("us-east-1");
        let t = &p.list.amp_tiers;
        assert_eq!(p.amp_samples_usd(0), 0.0);
        let two_b = 2 * BILLION;
        assert!((p.amp_samples_usd(two_b) - 200.0 * t[0].1).abs() < 1e-6);
        let three_b = 3 * BILLION;
        let want = 200.0 * t[0].1 + 100.0 * t[1].1;
        assert!((p.amp_samples_usd(three_b) - want).abs() < 1e-6);
        let mut flat = p.clone();
        flat.set("amp_samples_per_10m", 0.5).unwrap();
        assert!((flat.amp_samples_usd(three_b) - 150.0).abs() < 1e-6);
    }
}
