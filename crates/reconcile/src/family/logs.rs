//! The CloudWatch Logs group the hosts ship to, with the stack's retention (all calls
//! through `monitor_logs::admin`).

use serde::Serialize;

use super::{Env, Known, StepOutput};
use crate::error::Result;
use crate::observe::Observed;
use crate::plan::{Action, Change, Detail, Resource, ResourceKind};
use crate::Desired;

/// What apply does to the log group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LogsOp {
    /// Create the group (tagged) if missing and set its retention.
    EnsureGroup {
        /// Group name.
        name: String,
        /// Retention in days.
        retention_days: u32,
    },
    /// Delete the group and its events.
    DeleteGroup {
        /// Group name.
        name: String,
    },
}

/// The apply plan's log-group change.
pub(crate) fn plan(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let want = desired.retention_days;
    let op = LogsOp::EnsureGroup {
        name: desired.log_group.clone(),
        retention_days: want,
    };
    let retention = want.to_string();
    match &observed.log_group {
        None => vec![Change::new(
            Resource::new(ResourceKind::LogGroup, &desired.log_group, None),
            Action::Create,
            "log group does not exist",
            op,
        )
        .detail(Detail::new("retention_days", None, Some(&retention)))],
        Some(g) if g.retention_days != i32::try_from(want).ok() => vec![Change::new(
            Resource::new(
                ResourceKind::LogGroup,
                &desired.log_group,
                Some(g.arn.clone()),
            ),
            Action::Update,
            "retention differs from [logs] retention_days",
            op,
        )
        .detail(Detail::new(
            "retention_days",
            g.retention_days.map(|d| d.to_string()).as_deref(),
            Some(&retention),
        ))],
        Some(_) => Vec::new(),
    }
}

/// The destroy plan's log-group change.
pub(crate) fn plan_destroy(observed: &Observed) -> Vec<Change> {
    observed
        .log_group
        .iter()
        .map(|g| {
            Change::new(
                Resource::new(ResourceKind::LogGroup, &g.name, Some(g.arn.clone())),
                Action::Delete,
                "destroy: log group tagged with the stack (its events are deleted)",
                LogsOp::DeleteGroup {
                    name: g.name.clone(),
                },
            )
        })
        .collect()
}

pub(crate) async fn apply(env: &Env<'_>, _known: &Known, op: &LogsOp) -> Result<StepOutput> {
    let logs = &env.clients.logs;
    match op {
        LogsOp::EnsureGroup {
            name,
            retention_days,
        } => {
            let days = i32::try_from(*retention_days).unwrap_or(i32::MAX);
            let (g, created) =
                monitor_logs::admin::ensure_log_group(logs, name, days, &env.names.owner_tags())
                    .await?;
            Ok(StepOutput::message(format!(
                "{} {} (retention {retention_days} days)",
                if created { "created" } else { "updated" },
                g.name,
            )))
        }
        LogsOp::DeleteGroup { name } => {
            let gone = monitor_logs::admin::delete_log_group(logs, name).await?;
            Ok(StepOutput::message(
                if gone { "deleted" } else { "already gone" }.to_string(),
            ))
        }
    }
}
