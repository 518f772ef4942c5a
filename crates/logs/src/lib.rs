//! CloudWatch Logs for the monitoring stack: query, follow and check the system logs that
//! the CloudWatch Agent ships from every host (the seed sends `/var/log/messages` and
//! `/var/log/cloud-init-output.log` to `/monitoring-test/system`).
//!
//! - [`insights`] runs Logs Insights queries: StartQuery, GetQueryResults polled with
//!   exponential backoff until `Complete`, an overall deadline, StopQuery on timeout or
//!   cancel, typed [`insights::Row`]s, and the service's limits checked up front.
//! - [`query`] holds the seed's [`query::DEFAULT_QUERY`] and a builder for the common
//!   filters (by instance stream, by message pattern, row limit).
//! - [`tail`] follows a group over FilterLogEvents (paging, de-duplication by event id).
//! - [`checks`] answers `monitor-verify`'s questions — group present with retention, every
//!   host shipping fresh events, cloud-init finished cleanly — as [`checks::CheckResult`]s
//!   whose hints name the likely cause.
//! - [`admin`] creates, reads and deletes the stack's log group for the provisioner.
//! - [`report`] is `monitor-verify logs` as one call that renders a table or JSON lines.
//!
//! The [`Client`] is passed in, built from one `aws_config::SdkConfig`, so tests point it
//! at moto or wiremock with `endpoint_url` and run exactly the production code.
//!
//! ```no_run
//! use std::time::Duration;
//! use monitor_logs::insights::{run_query, PollOptions, TimeRange};
//! use monitor_logs::query::QueryBuilder;
//!
//! # async fn demo() -> Result<(), monitor_logs::LogsError> {
//! let sdk = aws_config::load_from_env().await;
//! let client = monitor_logs::client(&sdk);
//! let req = QueryBuilder::new()
//!     .stream("i-0123456789abcdef0")
//!     .request(["/monitoring-test/system"], TimeRange::last(Duration::from_secs(900)));
//! let results = run_query(&client, &req, &PollOptions::default()).await?;
//! for row in &results.rows {
//!     println!("{:?} {:?}", row.timestamp, row.message);
//! }
//! # Ok(())
//! # }
//! ```

// Libraries never print: they report through return values, traits and `tracing`.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod admin;
pub mod checks;
mod error;
pub mod insights;
pub mod query;
pub mod report;
pub mod tail;
mod time;

pub use aws_sdk_cloudwatchlogs::Client;
pub use error::{LogsError, CONCURRENT_QUERY_HINT};

/// A CloudWatch Logs client from the process's shared SDK configuration.
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    Client::new(sdk)
}

/// The [`checks`] over CloudWatch Logs, as `monitor_checks::checklist::run_all`
/// (`monitor-verify all`) and `monitor-verify logs --check` run them.
#[derive(Debug, Clone, Copy)]
pub struct LogChecks<'a>(pub &'a Client);

impl monitor_checks::checklist::LogChecker for LogChecks<'_> {
    async fn run_log_checks(
        &self,
        plan: &monitor_checks::checklist::LogPlan,
    ) -> Vec<monitor_checks::CheckResult> {
        checks::run_log_checks(self.0, plan).await
    }
}
