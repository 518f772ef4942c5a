//! Collector core of `monitor-agent`: scrape Prometheus targets (node_exporter) and ship
//! the samples to a remote-write endpoint (AMP) through [`monitor_amp`].
//!
//! The pipeline is parse → label → queue → batch → send, each part testable alone:
//! - [`exposition`]: the text-format parser;
//! - [`target`]: scraping one target, Prometheus-style labels (`job`, `instance`,
//!   external labels), `up`/`scrape_*` series and staleness markers;
//! - [`relabel`]: `metric_relabel_configs` (keep, drop, replace, labeldrop, labelkeep);
//! - [`queue`]: the bounded buffer (drop-oldest, counted);
//! - [`agent`]: the runtime wiring scrape loops, the buffer and a single sender;
//! - [`config`]: the TOML config, validated before any I/O;
//! - [`metrics`]: the agent's own metrics.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use monitor_collector::{agent::Agent, config::AgentConfig};
//! let cfg = AgentConfig::load(std::path::Path::new("/etc/monitor-agent/agent.toml"))?;
//! let agent = Agent::build(cfg).await?;
//! agent.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

// Libraries never print: they report through return values, traits and `tracing`.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod agent;
pub mod config;
pub mod disk_queue;
pub mod exposition;
pub mod metrics;
pub mod queue;
pub mod relabel;
pub mod target;
