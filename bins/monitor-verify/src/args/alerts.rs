//! `monitor-verify alerts` flags and their translation into `monitor_checks::alerts` inputs.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use monitor_checks::alerts::drill::FireDrill;
use monitor_checks::alerts::AlertsCheckConfig;

use super::Endpoint;

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub endpoint: Endpoint,
    /// The stack file: the rule namespaces and SNS subscribers to expect on AMP.
    #[arg(long, value_name = "stack.toml")]
    pub config: Option<PathBuf>,
    /// Alertmanager API root (default: AMP's <workspace>/alertmanager, or the Alertmanager
    /// the local Prometheus sends to).
    #[arg(long, value_name = "URL")]
    pub alertmanager: Option<String>,
    /// Post a short-lived MonitorFireDrill alert and prove it is accepted, routed and
    /// (locally) delivered.
    #[arg(long)]
    pub fire_drill: bool,
    /// The drill's severity label (decides who is paged).
    #[arg(long, default_value = "critical", requires = "fire_drill")]
    pub severity: String,
    /// How long the drill waits for routing and delivery.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration, requires = "fire_drill")]
    pub drill_timeout: Duration,
}

impl AlertsArgs {
    /// The checks these flags ask for.
    pub fn check_config(&self) -> AlertsCheckConfig {
        AlertsCheckConfig {
            endpoint: self.endpoint.endpoint.clone(),
            alertmanager: self.alertmanager.clone(),
            fire_drill: self.fire_drill.then(|| FireDrill {
                timeout: self.drill_timeout,
                ..FireDrill::new(&self.severity)
            }),
        }
    }

    /// `--config`'s stack, if given.
    pub fn stack(&self) -> Result<Option<monitor_stack::Stack>, monitor_stack::StackError> {
        self.config.as_deref().map(monitor_stack::load).transpose()
    }
}
