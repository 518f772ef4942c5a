//! What a monitoring stack costs per month before it is applied, and whether it fits
//! AMP's default workspace quotas.
//!
//! Three parts, each in its own module:
//! - [`prices`]: the list prices, in one table with the page each was read from and the
//!   date, per region where AWS prices differ, overridable key by key
//!   ([`Prices::set`]);
//! - [`usage`]: what a stack uses in a month ([`Usage`]) and the stated assumptions for
//!   what a stack file cannot say (series per host, log volume, active Grafana users);
//! - [`estimate()`]: usage × prices → [`Estimate`] (one line per billed item, the total,
//!   the assumptions and the quota warnings), rendered as text or serialised as JSON.
//!
//! Pure: no I/O, no AWS calls. `monitor-reconcile` builds the [`Usage`] from a stack and
//! its desired state; `monitor-provision plan` prints the estimate.
//!
//! ```
//! use monitor_cost::{estimate, Prices, Quotas, Usage};
//! let usage = Usage { hosts: 10, series_per_host: 120, ..Usage::default() };
//! let prices = Prices::for_region("us-east-1");
//! let e = estimate(&usage, &prices, &Quotas::default());
//! // 10 hosts × 120 series every 15 s for 30 days = 207.36 M samples.
//! assert_eq!(e.samples_per_month, 207_360_000);
//! assert!(e.total_usd > 0.0);
//! ```

mod estimate;
pub mod prices;
pub mod quotas;
pub mod usage;

pub use estimate::{estimate, Estimate, Line};
pub use prices::{ListPrices, PriceError, PriceKey, Prices, PRICE_KEYS};
pub use quotas::{QuotaWarning, Quotas};
pub use usage::Usage;
