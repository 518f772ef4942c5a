//! The AWS side of the monitoring stack, reconciled from `stack.toml` like Terraform but
//! without a state file: every resource carries the tags `stack=<name>` and
//! `managed-by=monitor-provision` and is found again by them.
//!
//! The work is split the way `terraform plan`/`apply` split it:
//! [`observe`] reads what exists (by tags), [`desired`] computes what should exist (pure,
//! from the [`monitor_stack::Stack`] and the user_data rendered by `monitor-bootstrap`),
//! [`plan`] diffs the two into a [`plan::Plan`] (pure data, printed Terraform-style or as
//! JSON), and [`apply`] executes a plan in dependency order — AMP workspace ∥ log group ∥
//! security group, then IAM, then the instances — and also executes destroy plans in
//! reverse order. Resources: the AMP workspace, the EC2 role with its scoped inline policy,
//! `AmazonSSMManagedInstanceCore` and instance profile, the CloudWatch Logs group, a
//! security group without inbound rules, and one EC2 instance per host (see
//! `docs/provision.md`). With `[grafana] enabled`, also the Amazon Managed Grafana
//! workspace role (IAM, here), the workspace, its Identity Center group roles and its
//! content (all AMG and Grafana calls through `monitor-grafana`).
//!
//! ```no_run
//! # async fn demo(stack: monitor_stack::Stack) -> Result<(), monitor_reconcile::ReconcileError> {
//! let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
//!     .region(aws_config::Region::new(stack.region.clone()))
//!     .load()
//!     .await;
//! let clients = monitor_reconcile::Clients::new(&sdk)?;
//! let (observed, plan) = monitor_reconcile::plan_apply(&clients, &stack).await?;
//! print!("{}", plan.render_text());
//! if plan.has_changes() {
//!     let opts = monitor_reconcile::apply::ApplyOptions::default();
//!     let reporter = monitor_reconcile::report::NoReporter;
//!     monitor_reconcile::apply::apply(&clients, &stack, &observed, &plan, &opts, &reporter).await?;
//! }
//! # Ok(())
//! # }
//! ```

// Libraries never print: they report through return values, traits and `tracing`.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod allowlist;
pub mod apply;
mod clients;
pub mod desired;
pub mod ec2;
mod error;
pub mod estimate;
pub mod family;
pub mod names;
pub mod observe;
pub mod plan;
pub mod policy;
pub mod poll;
pub mod report;
pub mod verify;

use monitor_stack::Stack;
use serde::Serialize;

pub use clients::Clients;
pub use desired::Desired;
pub use error::{ReconcileError, Result};
pub use plan::{Action, Change, Plan};

/// Observes the stack and computes the apply plan.
///
/// # Errors
/// Any [`ReconcileError`] from reading the current state or rendering the hosts.
pub async fn plan_apply(clients: &Clients, stack: &Stack) -> Result<(observe::Observed, Plan)> {
    let observed = observe::observe(clients, stack, observe::Scope::Apply).await?;
    let ws = observed.amp_workspace().map(|w| w.id.as_str());
    let want =
        desired::desired(stack, &observed.account_id, ws)?.with_fleet_members(stack, &observed)?;
    let mut plan = plan::plan(&want, &observed);
    plan.estimate = Some(estimate::estimate(stack, &want));
    Ok((observed, plan))
}

/// Observes the stack and computes the destroy plan (everything tagged with it).
///
/// # Errors
/// Any [`ReconcileError`] from reading the current state.
pub async fn plan_destroy(clients: &Clients, stack: &Stack) -> Result<(observe::Observed, Plan)> {
    let observed = observe::observe(clients, stack, observe::Scope::Destroy).await?;
    let plan = plan::plan_destroy(&names::Names::new(&stack.name), &observed);
    Ok((observed, plan))
}

/// One host in the [`Outputs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostOutput {
    /// Host name.
    pub host: String,
    /// Instance id.
    pub instance_id: String,
    /// Instance state.
    pub state: String,
}

/// One `[[groups]]` Auto Scaling group in the [`Outputs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupOutput {
    /// `[[groups]] name`.
    pub group: String,
    /// The Auto Scaling group's name.
    pub auto_scaling_group: String,
    /// Its desired capacity.
    pub desired: u32,
    /// Its instances in service.
    pub in_service: Vec<String>,
}

/// What `apply` prints at the end: where things are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outputs {
    /// AMP workspace id.
    pub workspace_id: Option<String>,
    /// AMP workspace ARN.
    pub workspace_arn: Option<String>,
    /// remote_write URL of the workspace.
    pub remote_write_url: Option<String>,
    /// PromQL query URL of the workspace (`…/api/v1/query`).
    pub query_url: Option<String>,
    /// Log group name.
    pub log_group: Option<String>,
    /// Security group id.
    pub security_group_id: Option<String>,
    /// Instance profile name.
    pub instance_profile: Option<String>,
    /// One entry per instance.
    pub instances: Vec<HostOutput>,
    /// One entry per Auto Scaling group.
    pub groups: Vec<GroupOutput>,
    /// Amazon Managed Grafana workspace id (`[grafana] enabled`).
    pub grafana_workspace_id: Option<String>,
    /// URL of the Grafana workspace (log in with IAM Identity Center).
    pub grafana_url: Option<String>,
}

impl Outputs {
    /// Reads the outputs from an observed state.
    pub fn from_observed(observed: &observe::Observed) -> Outputs {
        let ws = observed.amp_workspace();
        let grafana = observed.grafana_workspace.as_ref();
        Outputs {
            workspace_id: ws.map(|w| w.id.clone()),
            workspace_arn: ws.map(|w| w.arn.clone()),
            remote_write_url: ws
                .map(|w| monitor_amp::amp_remote_write_url(&observed.region, &w.id)),
            query_url: ws.map(|w| monitor_amp::amp_query_url(&observed.region, &w.id)),
            log_group: observed.log_group.as_ref().map(|g| g.name.clone()),
            security_group_id: observed.security_group().map(|g| g.id.clone()),
            instance_profile: observed.instance_profile.as_ref().map(|p| p.name.clone()),
            instances: observed
                .instances
                .iter()
                .map(|i| HostOutput {
                    host: i.host.clone(),
                    instance_id: i.id.clone(),
                    state: i.state.as_str().to_string(),
                })
                .collect(),
            groups: observed
                .groups
                .groups
                .iter()
                .filter(|g| !g.deleting)
                .map(|g| GroupOutput {
                    group: g.group.clone(),
                    auto_scaling_group: g.name.clone(),
                    desired: g.desired,
                    in_service: g
                        .instances
                        .iter()
                        .filter(|i| i.lifecycle == "InService")
                        .map(|i| i.id.clone())
                        .collect(),
                })
                .collect(),
            grafana_workspace_id: grafana.map(|g| g.workspace.id.clone()),
            grafana_url: grafana
                .filter(|g| !g.workspace.endpoint.is_empty())
                .map(|g| format!("https://{}", g.workspace.endpoint)),
        }
    }

    /// Human-readable summary.
    pub fn render_text(&self) -> String {
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let mut s = format!(
            "workspace_id       = {}\nremote_write_url   = {}\nquery_url          = {}\nlog_group          = {}\nsecurity_group_id  = {}\ninstance_profile   = {}\n",
            dash(&self.workspace_id),
            dash(&self.remote_write_url),
            dash(&self.query_url),
            dash(&self.log_group),
            dash(&self.security_group_id),
            dash(&self.instance_profile),
        );
        if self.grafana_url.is_some() || self.grafana_workspace_id.is_some() {
            s.push_str(&format!(
                "grafana_workspace  = {}\ngrafana_url        = {}\n",
                dash(&self.grafana_workspace_id),
                dash(&self.grafana_url)
            ));
        }
        for i in &self.instances {
            s.push_str(&format!(
                "instance.{:<12} = {} ({})\n",
                i.host, i.instance_id, i.state
            ));
        }
        for g in &self.groups {
            s.push_str(&format!(
                "group.{:<15} = {} ({}/{} in service{})\n",
                g.group,
                g.auto_scaling_group,
                g.in_service.len(),
                g.desired,
                if g.in_service.is_empty() {
                    String::new()
                } else {
                    format!(": {}", g.in_service.join(", "))
                }
            ));
        }
        s
    }
}

/// Reads the stack's [`Outputs`] as they are now.
///
/// # Errors
/// Any [`ReconcileError`] from reading the current state.
pub async fn outputs(clients: &Clients, stack: &Stack) -> Result<Outputs> {
    // Scope::Apply resolves the network, so the security group is chosen as the plan
    // chooses it (the one in the stack's VPC).
    let observed = observe::observe(clients, stack, observe::Scope::Apply).await?;
    Ok(Outputs::from_observed(&observed))
}
