//! Amazon Managed Grafana for the monitoring stack, hands-off. [`amg`] drives the AMG
//! control plane (find the workspace by tags or create it with `AWS_SSO`, the workspace
//! IAM role and a pinned Grafana version; wait for ACTIVE; give IAM Identity Center groups
//! their roles; a per-run service-account token that is deleted afterwards; the workspace
//! role and its policies are the provisioning reconciler's). [`api`] talks to the
//! workspace's Grafana HTTP API and upserts our folder, AMP and CloudWatch datasources
//! (health-checked) and dashboards idempotently. [`dashboards`] builds those dashboards
//! as typed Grafana JSON; every PromQL expression in them is executed against real
//! node_exporter data in this crate's tests. [`checks`] backs `monitor-verify grafana`.
//!
//! ```no_run
//! use monitor_grafana::{amg::{self, Amg}, api::{self, ContentSpec, GrafanaClient, StackContent}};
//! # async fn demo(sdk: &aws_sdk_grafana::Client) -> monitor_grafana::Result<()> {
//! let amg = Amg::new(sdk.clone());
//! let ws = amg.describe("g-0123456789").await?;
//! let spec = ContentSpec::for_stack(&StackContent {
//!     stack_name: "monitoring-test".into(),
//!     region: "eu-west-1".into(),
//!     grafana_version: ws.grafana_version.clone(),
//!     prometheus_endpoint: "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/".into(),
//!     log_group_name: "/monitoring-test/system".into(),
//!     log_group_arn: "arn:aws:logs:eu-west-1:123456789012:log-group:/monitoring-test/system".into(),
//!     alerting: true,
//! });
//! // The token lives 15 minutes and is deleted when the closure returns, even on error.
//! let report = amg
//!     .with_token(&ws.id, amg::TOKEN_TTL, |token| async move {
//!         let client = GrafanaClient::new(&ws.endpoint, token)?;
//!         api::apply_content(&client, &spec).await
//!     })
//!     .await?;
//! println!("{} dashboards saved", report.dashboards.len());
//! # Ok(()) }
//! ```

// Libraries never print: they report through return values, traits and `tracing`.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod amg;
pub mod api;
pub mod checks;
pub mod dashboards;
mod error;

pub use error::{Error, Result};
