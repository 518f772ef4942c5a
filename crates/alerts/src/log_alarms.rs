//! CloudWatch Logs metric filters on the stack's log group and the CloudWatch alarms on
//! them: what the metrics cannot see (a crash loop between two scrapes, an error storm).
//! Pure specs; `monitor-reconcile` puts them (`PutMetricFilter`, `PutMetricAlarm`).
//!
//! Filter terms are case-sensitive and `?term` is OR
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html>).
//! The systemd lines matched are the ones systemd 252 (Amazon Linux 2023) writes to the
//! journal, forwarded to `/var/log/messages` by rsyslog.

use monitor_stack::{Severity, Stack};

/// One filter and its alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct LogAlarm {
    /// Short name: the filter is `<stack>-<name>`, the alarm `<stack>-log-<name>`.
    pub name: &'static str,
    /// CloudWatch Logs filter pattern.
    pub pattern: &'static str,
    /// Metric the filter counts into (value 1 per matching event).
    pub metric_name: &'static str,
    /// The alarm fires when the sum over `period_secs` is at least this.
    pub threshold: u32,
    /// Alarm period in seconds (a multiple of 60).
    pub period_secs: i32,
    /// Which topic the alarm notifies.
    pub severity: Severity,
    /// The alarm's description (shown in the notification).
    pub description: &'static str,
}

/// The filters and alarms every stack gets with `[alerting] log_alarms` on.
pub const LOG_ALARMS: &[LogAlarm] = &[
    LogAlarm {
        name: "errors",
        pattern: "?ERROR ?Error ?error ?panic ?PANIC ?Panic",
        metric_name: "ErrorLines",
        threshold: 20,
        period_secs: 300,
        severity: Severity::Warning,
        description: "20 or more log lines with error or panic in 5 minutes on the stack's hosts (see docs/alerts.md#log-errors)",
    },
    LogAlarm {
        name: "service-crashed",
        pattern: "?\"Main process exited, code=killed\" ?\"Main process exited, code=dumped\"",
        metric_name: "ServiceCrashes",
        threshold: 1,
        period_secs: 300,
        severity: Severity::Warning,
        description: "A service was killed by a signal or dumped core (node_exporter, the collector, the CloudWatch Agent ...) (see docs/alerts.md#log-service-crashed)",
    },
    LogAlarm {
        name: "service-restarting",
        pattern: "\"Scheduled restart job\"",
        metric_name: "ServiceRestarts",
        threshold: 3,
        period_secs: 900,
        severity: Severity::Warning,
        description: "systemd restarted services 3 or more times in 15 minutes: a crash loop (see docs/alerts.md#log-service-restarting)",
    },
    LogAlarm {
        name: "unit-failed",
        pattern: "\"Failed with result\"",
        metric_name: "FailedUnits",
        threshold: 1,
        period_secs: 300,
        severity: Severity::Critical,
        description: "A systemd unit entered the failed state (see docs/alerts.md#log-unit-failed)",
    },
];

/// The CloudWatch metric namespace of `stack`'s log metrics.
pub fn metric_namespace(stack: &Stack) -> String {
    format!("MonitorStack/{}", stack.name)
}

/// The metric filter's name.
pub fn filter_name(stack: &Stack, a: &LogAlarm) -> String {
    format!("{}-{}", stack.name, a.name)
}

/// The prefix of every log alarm name of the stack called `stack` (what the SNS topic
/// policy lets CloudWatch publish for).
pub fn alarm_prefix(stack: &str) -> String {
    format!("{stack}-log-")
}

/// The alarm's name.
pub fn alarm_name(stack: &Stack, a: &LogAlarm) -> String {
    format!("{}{}", alarm_prefix(&stack.name), a.name)
}

/// The log alarms of `stack` (none when `[alerting] log_alarms = false`).
pub fn log_alarms(stack: &Stack) -> &'static [LogAlarm] {
    match stack.alerting_enabled() {
        Some(a) if a.log_alarms => LOG_ALARMS,
        _ => &[],
    }
}
