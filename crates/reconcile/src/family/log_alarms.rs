//! What the metrics cannot see: CloudWatch Logs metric filters on the stack's log group
//! (`monitor_alerts::log_alarms`, put through `monitor_logs::admin`) and a CloudWatch
//! alarm on each filter's metric, notifying the alert topic of its severity
//! (`PutMetricAlarm`: Sum over the period ≥ threshold, one period, missing data is not
//! breaching — no events, no alarm; aws-facts §6).

use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic, Tag};
use monitor_logs::admin::MetricFilter;
use serde::Serialize;

use super::{Env, Known, StepOutput};
use crate::desired::DesiredLogAlarm;
use crate::error::{ReconcileError, Result};
use crate::observe::{LogAlarmState, Observed};
use crate::plan::{Action, Change, Detail, Resource, ResourceKind};
use crate::Desired;

/// What apply does to the log metric filters and alarms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LogAlarmOp {
    /// PutMetricFilter (an upsert by name).
    PutFilter {
        /// Log group.
        log_group: String,
        /// Filter name.
        name: String,
        /// Filter pattern.
        pattern: String,
        /// Metric namespace.
        namespace: String,
        /// Metric name.
        metric_name: String,
    },
    /// DeleteMetricFilter.
    DeleteFilter {
        /// Log group.
        log_group: String,
        /// Filter name.
        name: String,
    },
    /// PutMetricAlarm (an upsert by name; tagged).
    PutAlarm {
        /// Alarm name.
        name: String,
        /// Description.
        description: String,
        /// Metric namespace.
        namespace: String,
        /// Metric name.
        metric_name: String,
        /// Sum over the period at which it fires.
        threshold: u32,
        /// Period in seconds.
        period_secs: i32,
        /// Topic notified (none when its severity is not notified).
        topic_arn: Option<String>,
    },
    /// DeleteAlarms.
    DeleteAlarm {
        /// Alarm name.
        name: String,
    },
}

/// The apply plan's filter and alarm changes.
pub(crate) fn plan(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let want: &[DesiredLogAlarm] = desired
        .alerting
        .as_ref()
        .map(|a| a.log_alarms.as_slice())
        .unwrap_or_default();
    let have = &observed.notify;
    let group = &desired.log_group;
    let mut changes = Vec::new();
    for a in want {
        let f = &a.filter;
        let current = have.metric_filters.iter().find(|h| h.name == f.name);
        if current != Some(f) {
            changes.push(
                Change::new(
                    Resource::new(ResourceKind::LogMetricFilter, &f.name, None),
                    if current.is_some() {
                        Action::Update
                    } else {
                        Action::Create
                    },
                    if current.is_some() {
                        "pattern or metric differs"
                    } else {
                        "log alarm filter does not exist"
                    },
                    put_filter(group, f),
                )
                .detail(Detail::new(
                    "pattern",
                    current.map(|c| c.pattern.as_str()),
                    Some(&f.pattern),
                )),
            );
        }
        let alarm = have.log_alarms.iter().find(|h| h.name == a.alarm_name);
        if let Some(reason) = alarm_differs(a, alarm) {
            changes.push(Change::new(
                Resource::new(
                    ResourceKind::LogAlarm,
                    &a.alarm_name,
                    alarm.map(|h| h.arn.clone()),
                ),
                if alarm.is_some() {
                    Action::Update
                } else {
                    Action::Create
                },
                reason,
                LogAlarmOp::PutAlarm {
                    name: a.alarm_name.clone(),
                    description: a.description.clone(),
                    namespace: f.namespace.clone(),
                    metric_name: f.metric_name.clone(),
                    threshold: a.threshold,
                    period_secs: a.period_secs,
                    topic_arn: a.topic_arn.clone(),
                },
            ));
        }
    }
    for f in &have.metric_filters {
        if !want.iter().any(|a| a.filter.name == f.name) {
            changes.push(delete_filter(group, f, "no longer rendered from the stack"));
        }
    }
    for h in &have.log_alarms {
        if !want.iter().any(|a| a.alarm_name == h.name) {
            changes.push(delete_alarm(h, "no longer rendered from the stack"));
        }
    }
    changes
}

/// Why the alarm must be put, if it must.
fn alarm_differs(want: &DesiredLogAlarm, have: Option<&LogAlarmState>) -> Option<&'static str> {
    let Some(h) = have else {
        return Some("log alarm does not exist");
    };
    let actions: Vec<String> = want.topic_arn.iter().cloned().collect();
    if h.metric
        != (
            want.filter.namespace.clone(),
            want.filter.metric_name.clone(),
        )
    {
        Some("metric differs")
    } else if h.threshold != f64::from(want.threshold) || h.period_secs != want.period_secs {
        Some("threshold or period differs")
    } else if h.actions != actions {
        Some("alarm actions differ (the topic of its severity)")
    } else if h.description != want.description {
        Some("description differs")
    } else {
        None
    }
}

fn put_filter(group: &str, f: &MetricFilter) -> LogAlarmOp {
    LogAlarmOp::PutFilter {
        log_group: group.to_string(),
        name: f.name.clone(),
        pattern: f.pattern.clone(),
        namespace: f.namespace.clone(),
        metric_name: f.metric_name.clone(),
    }
}

fn delete_filter(group: &str, f: &MetricFilter, reason: &str) -> Change {
    Change::new(
        Resource::new(ResourceKind::LogMetricFilter, &f.name, None),
        Action::Delete,
        reason,
        LogAlarmOp::DeleteFilter {
            log_group: group.to_string(),
            name: f.name.clone(),
        },
    )
}

fn delete_alarm(h: &LogAlarmState, reason: &str) -> Change {
    Change::new(
        Resource::new(ResourceKind::LogAlarm, &h.name, Some(h.arn.clone())),
        Action::Delete,
        reason,
        LogAlarmOp::DeleteAlarm {
            name: h.name.clone(),
        },
    )
}

/// The destroy plan's alarms and filters (the group's deletion takes the filters too;
/// deleting them first keeps a destroy that stops half-way consistent).
pub(crate) fn plan_destroy(observed: &Observed) -> Vec<Change> {
    let have = &observed.notify;
    let log_group = observed
        .log_group
        .as_ref()
        .map(|g| g.name.as_str())
        .unwrap_or_default();
    let mut changes: Vec<Change> = have
        .log_alarms
        .iter()
        .map(|h| delete_alarm(h, "destroy: log alarm of the stack"))
        .collect();
    changes.extend(
        have.metric_filters
            .iter()
            .map(|f| delete_filter(log_group, f, "destroy: log alarm filter of the stack")),
    );
    changes
}

pub(crate) async fn apply(env: &Env<'_>, _known: &Known, op: &LogAlarmOp) -> Result<StepOutput> {
    let message = match op {
        LogAlarmOp::PutFilter {
            log_group,
            name,
            pattern,
            namespace,
            metric_name,
        } => {
            let f = MetricFilter {
                name: name.clone(),
                pattern: pattern.clone(),
                namespace: namespace.clone(),
                metric_name: metric_name.clone(),
            };
            monitor_logs::admin::put_metric_filter(&env.clients.logs, log_group, &f).await?;
            format!("{name} on {log_group} counts into {namespace}/{metric_name}")
        }
        LogAlarmOp::DeleteFilter { log_group, name } => {
            if monitor_logs::admin::delete_metric_filter(&env.clients.logs, log_group, name).await?
            {
                format!("deleted {name}")
            } else {
                format!("{name} already gone")
            }
        }
        LogAlarmOp::PutAlarm {
            name,
            description,
            namespace,
            metric_name,
            threshold,
            period_secs,
            topic_arn,
        } => {
            let tags = env
                .names
                .owner_tags()
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Vec<_>>();
            env.clients
                .cloudwatch
                .put_metric_alarm()
                .alarm_name(name)
                .alarm_description(description)
                .namespace(namespace)
                .metric_name(metric_name)
                .statistic(Statistic::Sum)
                .period(*period_secs)
                .evaluation_periods(1)
                .threshold(f64::from(*threshold))
                .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
                .treat_missing_data("notBreaching")
                .set_alarm_actions(topic_arn.clone().map(|t| vec![t]))
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("cloudwatch:PutMetricAlarm", e))?;
            match topic_arn {
                Some(t) => format!("{name}: sum ≥ {threshold} in {period_secs}s notifies {t}"),
                None => {
                    format!("{name}: sum ≥ {threshold} in {period_secs}s (severity not notified)")
                }
            }
        }
        LogAlarmOp::DeleteAlarm { name } => {
            env.clients
                .cloudwatch
                .delete_alarms()
                .alarm_names(name)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("cloudwatch:DeleteAlarms", e))?;
            format!("deleted {name}")
        }
    };
    Ok(StepOutput::message(message))
}
