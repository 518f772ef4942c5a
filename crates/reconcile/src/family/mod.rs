//! One module per resource family, each holding its typed operation, its part of the
//! plan and its executor. A new resource kind is one new file here plus one registration
//! below: a variant of [`Op`], a line in [`plan_apply`] / [`plan_destroy`], an arm in
//! [`execute`] (and its [`crate::plan::ResourceKind`] with its phase).

pub mod alerting;
pub mod amp;
pub mod fleets;
pub mod grafana;
pub mod groups;
pub mod hosts;
pub mod iam;
pub mod log_alarms;
pub mod logs;
pub mod network;
pub mod notify;
pub mod ssm;

use std::collections::BTreeMap;

use monitor_stack::Stack;
use serde::Serialize;

use crate::apply::ApplyOptions;
use crate::error::{ReconcileError, Result};
use crate::names::{Names, GRAFANA_POLICY_NAME, INLINE_POLICY_NAME, SSM_CORE_POLICY_ARN};
use crate::observe::Observed;
use crate::plan::{Change, ResourceKind};
use crate::poll::Wait;
use crate::report::{ApplyReporter, WaitGuard};
use crate::{policy, Clients, Desired};

/// The typed operation of a [`Change`]: exactly what apply will do, with the values it
/// will apply (a value only known once an earlier step has run is `None` there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Op {
    /// AMP workspace.
    Amp(amp::AmpOp),
    /// CloudWatch Logs group.
    Logs(logs::LogsOp),
    /// Security group.
    Network(network::NetworkOp),
    /// IAM roles, policies, instance profile.
    Iam(iam::IamOp),
    /// EC2 instances.
    Hosts(hosts::HostOp),
    /// Amazon Managed Grafana.
    Grafana(grafana::GrafanaOp),
    /// AMP rule namespaces and Alertmanager definition.
    Alerting(alerting::AlertingOp),
    /// Alert topics, their KMS key and subscriptions.
    Notify(notify::NotifyOp),
    /// Log metric filters and their CloudWatch alarms.
    LogAlarms(log_alarms::LogAlarmOp),
    /// `[[fleets]]`: SSM documents and associations, profiles, the host policy.
    Fleets(fleets::FleetOp),
    /// `[[groups]]`: launch templates and Auto Scaling groups.
    Groups(groups::GroupOp),
}

macro_rules! op_from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for Op {
            fn from(o: $t) -> Op {
                Op::$v(o)
            }
        }
    )*};
}
op_from!(amp::AmpOp => Amp, logs::LogsOp => Logs, network::NetworkOp => Network,
    iam::IamOp => Iam, hosts::HostOp => Hosts, grafana::GrafanaOp => Grafana,
    alerting::AlertingOp => Alerting, notify::NotifyOp => Notify,
    log_alarms::LogAlarmOp => LogAlarms, fleets::FleetOp => Fleets,
    groups::GroupOp => Groups);

/// The EC2 hosts' role: EC2 may assume it; remote_write to the workspace and log
/// shipping to the group; the SSM agent's managed policy.
pub fn ec2_role(desired: &Desired, workspace_arn: Option<&str>) -> iam::RoleSpec {
    let names = &desired.names;
    iam::RoleSpec {
        name: names.role.clone(),
        label: "EC2 role",
        description: format!(
            "EC2 hosts of monitoring stack {} (managed by monitor-provision)",
            names.stack
        ),
        trust: policy::trust_policy(),
        trust_summary: "only ec2.amazonaws.com may assume the role",
        inline: vec![(
            INLINE_POLICY_NAME.to_string(),
            iam::PolicyTemplate::HostWrite {
                workspace_arn: workspace_arn.map(str::to_string),
                log_group_arn: desired.log_group_arn(),
            },
        )],
        managed: vec![SSM_CORE_POLICY_ARN.to_string()],
        kinds: iam::RoleKinds {
            role: ResourceKind::IamRole,
            policy: ResourceKind::IamRolePolicy,
            attachment: ResourceKind::IamRolePolicyAttachment,
        },
    }
}

/// The Grafana workspace role: AMG (this account's workspaces) may assume it; AMP query
/// on the workspace and Logs read on the group.
pub fn grafana_role(desired: &Desired, workspace_arn: Option<&str>) -> iam::RoleSpec {
    let names = &desired.names;
    iam::RoleSpec {
        name: names.grafana_role.clone(),
        label: "Grafana workspace role",
        description: format!(
            "Amazon Managed Grafana workspace of monitoring stack {} (managed by monitor-provision)",
            names.stack
        ),
        trust: policy::grafana_trust_policy(&desired.account_id, &desired.region),
        trust_summary: "only grafana.amazonaws.com, for this account's workspaces, may assume the role",
        inline: vec![(
            GRAFANA_POLICY_NAME.to_string(),
            iam::PolicyTemplate::GrafanaRead {
                workspace_arn: workspace_arn.map(str::to_string),
                log_group_arn: desired.log_group_arn(),
                alerting: desired.alerting.is_some(),
            },
        )],
        managed: Vec::new(),
        kinds: iam::RoleKinds {
            role: ResourceKind::GrafanaRole,
            policy: ResourceKind::GrafanaRolePolicy,
            attachment: ResourceKind::IamRolePolicyAttachment,
        },
    }
}

/// Every family's part of the apply plan (unordered; [`crate::plan`] orders it).
pub(crate) fn plan_apply(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let amp_arn = observed.amp_workspace().map(|w| w.arn.as_str());
    let mut changes = amp::plan(desired, observed);
    changes.extend(alerting::plan(desired, observed));
    changes.extend(notify::plan(desired, observed));
    changes.extend(log_alarms::plan(desired, observed));
    changes.extend(logs::plan(desired, observed));
    changes.extend(network::plan(desired, observed));
    changes.extend(iam::plan_role(
        &ec2_role(desired, amp_arn),
        observed.role.as_ref(),
    ));
    changes.extend(iam::plan_profile(
        &desired.names,
        observed.instance_profile.as_ref(),
    ));
    changes.extend(hosts::plan(desired, observed));
    changes.extend(fleets::plan(desired, observed));
    changes.extend(groups::plan(desired, observed));
    if desired.grafana.is_some() {
        changes.extend(iam::plan_role(
            &grafana_role(desired, amp_arn),
            observed.grafana_role.as_ref(),
        ));
        changes.extend(grafana::plan(desired, observed));
    }
    changes
}

/// Every family's part of the destroy plan.
pub(crate) fn plan_destroy(names: &Names, observed: &Observed) -> Vec<Change> {
    let mut changes = hosts::plan_destroy(observed);
    changes.extend(fleets::plan_destroy(names, observed));
    changes.extend(groups::plan_destroy(observed));
    changes.extend(alerting::plan_destroy(names, observed));
    changes.extend(log_alarms::plan_destroy(observed));
    changes.extend(notify::plan_destroy(names, observed));
    changes.extend(network::plan_destroy(observed));
    changes.extend(iam::plan_destroy(observed));
    changes.extend(logs::plan_destroy(observed));
    changes.extend(grafana::plan_destroy(&names.grafana_workspace, observed));
    changes.extend(amp::plan_destroy(&names.workspace_alias, observed));
    changes
}

/// Runs one change's operation. Each family's future is boxed: inline, the match's
/// future is as large as the largest family's SDK calls together, which overflowed a
/// 2 MiB test-thread stack in debug builds.
pub(crate) async fn execute(env: &Env<'_>, known: &Known, op: &Op) -> Result<StepOutput> {
    match op {
        Op::Amp(o) => Box::pin(amp::apply(env, known, o)).await,
        Op::Logs(o) => Box::pin(logs::apply(env, known, o)).await,
        Op::Network(o) => Box::pin(network::apply(env, known, o)).await,
        Op::Iam(o) => Box::pin(iam::apply(env, known, o)).await,
        Op::Hosts(o) => Box::pin(hosts::apply(env, known, o)).await,
        Op::Grafana(o) => Box::pin(grafana::apply(env, known, o)).await,
        Op::Alerting(o) => Box::pin(alerting::apply(env, known, o)).await,
        Op::Notify(o) => Box::pin(notify::apply(env, known, o)).await,
        Op::LogAlarms(o) => Box::pin(log_alarms::apply(env, known, o)).await,
        Op::Fleets(o) => Box::pin(fleets::apply(env, known, o)).await,
        Op::Groups(o) => Box::pin(groups::apply(env, known, o)).await,
    }
}

/// What the executors share: clients, the stack, the state the plan was made from.
pub(crate) struct Env<'a> {
    pub(crate) clients: &'a Clients,
    pub(crate) stack: &'a Stack,
    pub(crate) observed: &'a Observed,
    pub(crate) names: Names,
    pub(crate) opts: &'a ApplyOptions,
    pub(crate) reporter: &'a dyn ApplyReporter,
    pub(crate) waits: std::sync::atomic::AtomicUsize,
}

impl Env<'_> {
    /// The wait of every poll.
    pub(crate) fn wait(&self) -> Wait {
        Wait {
            poll: self.opts.poll,
            timeout: self.opts.wait_timeout,
        }
    }

    /// Polls `probe` until it is ready ([`crate::poll::poll_until`] with [`Env::wait`]),
    /// shown by the reporter meanwhile as `waiting for <what>: <status> (<n>s)`.
    pub(crate) async fn poll_shown<T, F, Fut>(&self, what: &str, probe: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<crate::poll::Poll<T>>>,
    {
        let wait = self.wait_guard(&format!("waiting for {what}"));
        crate::poll::poll_until(
            what,
            self.wait(),
            |s, t| wait.set(&format!("waiting for {what}: {s} ({}s)", t.as_secs())),
            probe,
        )
        .await
    }

    /// A wait shown by the reporter until the guard is dropped.
    pub(crate) fn wait_guard(&self, message: &str) -> WaitGuard<'_> {
        let id = self
            .waits
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        WaitGuard::new(self.reporter, id, message)
    }
}

/// A reference to the stack's AMP workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AmpRef {
    pub(crate) id: String,
    pub(crate) arn: String,
}

/// What one step made that later phases need.
#[derive(Debug, Clone)]
pub(crate) enum Produced {
    AmpWorkspace { id: String, arn: String },
    SecurityGroup(String),
    Role { name: String, arn: String },
    GrafanaWorkspace(monitor_grafana::amg::Workspace),
}

/// What is known when a phase starts: the observed state, updated by what earlier phases
/// produced. Passed by reference into a phase, rebuilt between phases.
#[derive(Debug, Clone, Default)]
pub(crate) struct Known {
    pub(crate) amp: Option<AmpRef>,
    pub(crate) security_group: Option<String>,
    pub(crate) role_arns: BTreeMap<String, String>,
    pub(crate) grafana_workspace: Option<monitor_grafana::amg::Workspace>,
}

impl Known {
    pub(crate) fn from_observed(o: &Observed) -> Known {
        Known {
            amp: o.amp_workspace().map(|w| AmpRef {
                id: w.id.clone(),
                arn: w.arn.clone(),
            }),
            security_group: o.security_group().map(|g| g.id.clone()),
            role_arns: o
                .role
                .iter()
                .chain(&o.grafana_role)
                .map(|r| (r.name.clone(), r.arn.clone()))
                .collect(),
            grafana_workspace: o.grafana_workspace().map(|w| w.workspace.clone()),
        }
    }

    pub(crate) fn record(&mut self, p: Produced) {
        match p {
            Produced::AmpWorkspace { id, arn } => self.amp = Some(AmpRef { id, arn }),
            Produced::SecurityGroup(id) => self.security_group = Some(id),
            Produced::Role { name, arn } => {
                self.role_arns.insert(name, arn);
            }
            Produced::GrafanaWorkspace(w) => self.grafana_workspace = Some(w),
        }
    }
}

/// What a step reports: its message, and what it made for later phases.
pub(crate) struct StepOutput {
    pub(crate) message: String,
    pub(crate) produced: Option<Produced>,
}

impl StepOutput {
    pub(crate) fn message(message: String) -> StepOutput {
        StepOutput {
            message,
            produced: None,
        }
    }
}

/// `Ok` for a not-found error (deleting what is gone succeeds).
pub(crate) fn ignore_not_found(e: ReconcileError) -> Result<()> {
    if e.is_not_found() {
        Ok(())
    } else {
        Err(e)
    }
}
