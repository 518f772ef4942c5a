//! The executor: carries out a [`Plan`]'s typed operations in dependency order, phase by
//! phase, with the independent changes of a phase running concurrently:
//!
//! 1. AMP workspace ∥ log group ∥ security group (create / update)
//! 2. IAM roles (EC2, Grafana)
//! 3. inline policies ∥ managed policy attachment ∥ instance profile
//! 4. instances (each host concurrently: terminate, launch, wait; or update in place)
//! 5. Grafana workspace (`[grafana] enabled`: create, wait until ACTIVE)
//! 6. Grafana group permissions
//! 7. Grafana content (folder, datasources, dashboards) with a short-lived token
//! 8. deletes of the Grafana workspace
//! 9. deletes of AMP workspaces, log group, security groups, instance profile, policies
//! 10. deletes of the roles (EC2, Grafana)
//!
//! Each operation applies exactly the values the plan shows; what a step creates (the
//! AMP workspace, the security group, a role, the Grafana workspace) is passed to later
//! phases as a typed value. Every step is idempotent (re-creating what exists reconciles
//! it, deleting what is gone succeeds), so an interrupted apply is finished by the next
//! one: it observes again, the plan only holds what is left.

use std::time::Duration;

use monitor_stack::Stack;

use crate::ec2::Backoff;
use crate::error::{ReconcileError, Result};
use crate::family::{execute, Env, Known};
use crate::names::Names;
use crate::observe::Observed;
use crate::plan::{phase, Change, Plan, LAST_PHASE};
pub use crate::report::{ApplyReporter, NoReporter, StepResult};
use crate::Clients;

pub use crate::family::ssm::push_script;

/// How `apply` behaves.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Poll interval of every wait.
    pub poll: Duration,
    /// Longest wait for any one state change.
    pub wait_timeout: Duration,
    /// Backoff for RunInstances / CreateWorkspace while a new IAM role or instance
    /// profile propagates.
    pub iam_propagation: Backoff,
    /// Test hook: run only the first `n` steps (in execution order), then stop as if
    /// interrupted.
    pub step_limit: Option<usize>,
    /// Test/support hook: the Grafana HTTP API base URL to use instead of
    /// `https://<workspace endpoint>` (e.g. a local stub or a tunnel). `monitor-provision`
    /// reads it from `MONITOR_GRAFANA_URL` ([`monitor_grafana::api::endpoint_override`]).
    /// Not for normal use.
    pub grafana_api_base: Option<String>,
}

impl Default for ApplyOptions {
    fn default() -> ApplyOptions {
        ApplyOptions {
            poll: Duration::from_secs(2),
            wait_timeout: Duration::from_secs(600),
            iam_propagation: Backoff::default(),
            step_limit: None,
            grafana_api_base: None,
        }
    }
}

impl ApplyOptions {
    /// Short polls, waits and IAM-propagation retries for emulators (moto, wiremock),
    /// which reach every state at once: what the tests apply with.
    pub fn for_emulators() -> ApplyOptions {
        ApplyOptions {
            poll: Duration::from_millis(20),
            wait_timeout: Duration::from_secs(30),
            iam_propagation: Backoff {
                initial: Duration::from_millis(10),
                max: Duration::from_millis(100),
                deadline: Duration::from_secs(5),
            },
            step_limit: None,
            grafana_api_base: None,
        }
    }
}

/// What `apply` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// The steps performed, in completion order.
    pub steps: Vec<StepResult>,
    /// False when [`ApplyOptions::step_limit`] stopped the run early.
    pub complete: bool,
}

/// Performs `plan` (computed from `observed` for `stack`), reporting to `reporter`.
///
/// # Errors
/// The first failing step's error (all of them in [`ReconcileError::Many`] when several
/// steps of one phase fail). Later phases are not started after a failure.
pub async fn apply(
    clients: &Clients,
    stack: &Stack,
    observed: &Observed,
    plan: &Plan,
    opts: &ApplyOptions,
    reporter: &dyn ApplyReporter,
) -> Result<ApplyOutcome> {
    let env = Env {
        clients,
        stack,
        observed,
        names: Names::new(&stack.name),
        opts,
        reporter,
        waits: Default::default(),
    };
    let mut known = Known::from_observed(observed);
    let mut budget = opts.step_limit.unwrap_or(usize::MAX);
    let mut steps = Vec::new();
    for ph in 1..=LAST_PHASE {
        let in_phase: Vec<&Change> = plan.changes.iter().filter(|c| phase(c) == ph).collect();
        if in_phase.is_empty() {
            continue;
        }
        let take = in_phase.len().min(budget);
        budget -= take;
        let now = &known;
        let results = futures::future::join_all(
            in_phase[..take]
                .iter()
                .map(|c| async { execute(&env, now, &c.op).await }),
        )
        .await;
        let mut errors = Vec::new();
        let mut next = known.clone();
        for (c, r) in in_phase.iter().zip(results) {
            match r {
                Ok(out) => {
                    let step = StepResult {
                        address: c.resource.address(),
                        action: c.action,
                        message: out.message,
                    };
                    reporter.step_done(&step);
                    steps.push(step);
                    if let Some(p) = out.produced {
                        next.record(p);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        known = next;
        match errors.len() {
            0 => {}
            1 => return Err(errors.remove(0)),
            _ => return Err(ReconcileError::Many(errors)),
        }
        if take < in_phase.len() {
            return Ok(ApplyOutcome {
                steps,
                complete: false,
            });
        }
    }
    Ok(ApplyOutcome {
        steps,
        complete: true,
    })
}
