//! `plan`, `apply`, `destroy`: load the stack, build one `SdkConfig` from aws-config's
//! standard chain (so `AWS_ENDPOINT_URL*`, profiles and SSO work), call
//! `monitor-reconcile`, print.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use aws_config::{BehaviorVersion, Region};
use monitor_reconcile::apply::ApplyOptions;
use monitor_reconcile::{Clients, Outputs, ReconcileError};
use monitor_stack::Stack;

use crate::{Failure, Outcome};

/// Output format of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Terraform-like text.
    Text,
    /// The plan as JSON.
    Json,
}

/// Flags of `plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The stack file.
    #[arg(long, short, value_name = "FILE", default_value = "stack.toml")]
    pub config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// Flags of `apply` and `destroy`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The stack file.
    #[arg(long, short, value_name = "FILE", default_value = "stack.toml")]
    pub config: PathBuf,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Refused(format!("cannot start the async runtime: {e}")))
}

async fn clients(stack: &Stack) -> Result<Clients, Failure> {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(stack.region.clone()))
        .load()
        .await;
    Ok(Clients::new(&sdk)?)
}

pub fn plan(args: &PlanArgs) -> Result<Outcome, Failure> {
    let stack = monitor_stack::load(&args.config)?;
    runtime()?.block_on(async {
        let clients = clients(&stack).await?;
        let (_, plan) = monitor_reconcile::plan_apply(&clients, &stack).await?;
        match args.output {
            Format::Text => print!("{}", plan.render_text()),
            Format::Json => println!("{}", plan.render_json()),
        }
        Ok(if plan.has_changes() {
            Outcome::ChangesPending
        } else {
            Outcome::Done
        })
    })
}

/// Asks on the terminal; refuses without one.
fn confirm(what: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Refused(format!(
            "refusing to {what} without confirmation: stdin is not a terminal; pass --yes"
        )));
    }
    print!("\nDo you want to {what}? Only 'yes' will be accepted: ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Refused(format!("cannot read the answer: {e}")))?;
    if line.trim() == "yes" {
        Ok(())
    } else {
        Err(Failure::Refused(format!("{what} cancelled")))
    }
}

/// Runs `fut`, or stops at Ctrl-C with a message on how to converge.
async fn interruptible<T>(
    fut: impl std::future::Future<Output = Result<T, ReconcileError>>,
) -> Result<T, Failure> {
    tokio::select! {
        r = fut => Ok(r?),
        _ = tokio::signal::ctrl_c() => Err(Failure::Refused(
            "interrupted: resources created so far are tagged with the stack; \
             re-run the same command to converge".into(),
        )),
    }
}

/// Apply options; `MONITOR_GRAFANA_URL` (test/support only) replaces the Grafana HTTP
/// API base URL `https://<workspace endpoint>` ([`monitor_grafana::api::endpoint_override`]).
fn apply_options() -> ApplyOptions {
    ApplyOptions {
        grafana_api_base: monitor_grafana::api::endpoint_override(),
        ..ApplyOptions::default()
    }
}

pub fn apply(args: &ApplyArgs) -> Result<Outcome, Failure> {
    let stack = monitor_stack::load(&args.config)?;
    runtime()?.block_on(async {
        let clients = clients(&stack).await?;
        let (observed, plan) = monitor_reconcile::plan_apply(&clients, &stack).await?;
        print!("{}", plan.render_text());
        if plan.has_changes() {
            if !args.yes {
                confirm("apply these changes")?;
            }
            println!();
            let opts = apply_options();
            let reporter = crate::progress::Bars::new();
            let outcome = interruptible(monitor_reconcile::apply::apply(
                &clients, &stack, &observed, &plan, &opts, &reporter,
            ))
            .await?;
            let s = plan.summary;
            println!(
                "\nApply complete! {} steps: {} added, {} changed, {} replaced, {} destroyed.",
                outcome.steps.len(),
                s.create,
                s.update,
                s.replace,
                s.delete
            );
        }
        let outputs: Outputs = monitor_reconcile::outputs(&clients, &stack).await?;
        println!("\nOutputs:\n{}", outputs.render_text());
        if let Some(url) = &outputs.grafana_url {
            println!(
                "Grafana: {url} (log in with IAM Identity Center as a member of a group in [grafana] *_group_ids)"
            );
        }
        Ok(Outcome::Done)
    })
}

pub fn destroy(args: &ApplyArgs) -> Result<Outcome, Failure> {
    let stack = monitor_stack::load(&args.config)?;
    runtime()?.block_on(async {
        let clients = clients(&stack).await?;
        let (observed, plan) = monitor_reconcile::plan_destroy(&clients, &stack).await?;
        if !plan.has_changes() {
            println!(
                "Nothing tagged stack={} in {}: nothing to destroy.",
                stack.name, stack.region
            );
            return Ok(Outcome::Done);
        }
        print!("{}", plan.render_text());
        if !args.yes {
            confirm("destroy all of these resources")?;
        }
        println!();
        let opts = ApplyOptions::default();
        let reporter = crate::progress::Bars::new();
        interruptible(monitor_reconcile::apply::apply(
            &clients, &stack, &observed, &plan, &opts, &reporter,
        ))
        .await?;
        println!(
            "\nDestroy complete! {} resources destroyed.",
            plan.changes.len()
        );
        Ok(Outcome::Done)
    })
}
