//! SSM Run Command: how an in-place label or metric-allowlist update reaches a running
//! host. The files that depend on them are rewritten atomically and what reads them
//! restarted.

use aws_sdk_ssm::types::CommandInvocationStatus;

use super::Env;
use crate::error::{ReconcileError, Result};
use crate::poll::{poll_until, Poll};

/// The shell script an in-place label update sends through SSM Run Command: rewrite the
/// label-dependent files (instance id filled in) atomically, restart what reads them.
///
/// # Errors
/// [`ReconcileError::Failed`] when a file cannot be carried in a heredoc.
pub fn push_script(files: &[monitor_bootstrap::RenderedFile], instance_id: &str) -> Result<String> {
    const EOF: &str = "MONITOR_PROVISION_PUSH_EOF";
    let mut s = String::from("#!/bin/bash\nset -euo pipefail\n");
    let mut restarts = Vec::new();
    for f in files {
        let content = if f.fills_instance_id {
            f.content
                .replace(monitor_bootstrap::INSTANCE_ID_SENTINEL, instance_id)
        } else {
            f.content.clone()
        };
        if content.lines().any(|l| l == EOF) || f.path.contains('\'') {
            return Err(ReconcileError::Failed(format!(
                "cannot push {} through SSM: its content contains the heredoc delimiter",
                f.path
            )));
        }
        let tmp = format!("{}.monitor-provision.tmp", f.path);
        s.push_str(&format!("cat > '{tmp}' <<'{EOF}'\n{content}"));
        if !content.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(&format!(
            "{EOF}\nchmod {:o} '{tmp}'\nmv -f '{tmp}' '{}'\n",
            f.mode, f.path
        ));
        let restart = match f.path.as_str() {
            monitor_bootstrap::ADOT_CONFIG_PATH => Some("systemctl restart aws-otel-collector"),
            monitor_bootstrap::AGENT_CONFIG_PATH => Some("systemctl restart monitor-agent"),
            // Its collectors follow the metric allowlist.
            monitor_bootstrap::NODE_EXPORTER_UNIT_PATH => {
                Some("systemctl daemon-reload && systemctl restart node_exporter")
            }
            monitor_bootstrap::CWAGENT_CONFIG_PATH => Some(
                "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/opt/aws/amazon-cloudwatch-agent/etc/config.json",
            ),
            _ => None,
        };
        if let Some(r) = restart {
            if !restarts.contains(&r) {
                restarts.push(r);
            }
        }
    }
    for r in restarts {
        s.push_str(r);
        s.push('\n');
    }
    Ok(s)
}

/// Sends `script` to `instance_id` and waits until the command succeeded.
pub(crate) async fn run_command(env: &Env<'_>, instance_id: &str, script: &str) -> Result<String> {
    let ssm = &env.clients.ssm;
    let out = ssm
        .send_command()
        .instance_ids(instance_id)
        .document_name("AWS-RunShellScript")
        .comment(format!(
            "monitor-provision: update labels of stack {}",
            env.names.stack
        ))
        .parameters("commands", vec![script.to_string()])
        .send()
        .await
        .map_err(|e| {
            let e = ReconcileError::from_sdk("ssm:SendCommand", e);
            if e.code() == Some("InvalidInstanceId") {
                ReconcileError::Failed(format!(
                    "instance {instance_id} is not online in SSM, so its collector config \
                     cannot be updated in place ({}); check the SSM agent, or terminate the \
                     instance and re-run apply to replace it",
                    e.service_message().unwrap_or_default()
                ))
            } else {
                e
            }
        })?;
    let command_id = out
        .command()
        .and_then(|c| c.command_id())
        .ok_or_else(|| ReconcileError::Failed("SendCommand returned no command id".into()))?
        .to_string();
    wait_invocation(env, &command_id, instance_id).await?;
    Ok(command_id)
}

/// Waits until command `command_id` succeeded on `instance_id`.
///
/// # Errors
/// [`ReconcileError::Failed`] when it ended otherwise (with its stderr) or the wait timed
/// out; a mapped SDK error.
pub(crate) async fn wait_invocation(
    env: &Env<'_>,
    command_id: &str,
    instance_id: &str,
) -> Result<()> {
    let ssm = &env.clients.ssm;
    // Give the command a moment before the first look: right after SendCommand the
    // invocation does not exist yet.
    tokio::time::sleep(env.opts.poll).await;
    let what = format!("SSM command {command_id} on {instance_id}");
    poll_until(
        &what,
        env.wait(),
        |_, _| {},
        || async {
            let inv = match ssm
                .get_command_invocation()
                .command_id(command_id)
                .instance_id(instance_id)
                .send()
                .await
            {
                Ok(inv) => inv,
                Err(e) => {
                    let e = ReconcileError::from_sdk("ssm:GetCommandInvocation", e);
                    return if e.code() == Some("InvocationDoesNotExist") {
                        Ok(Poll::Pending("not yet registered".into()))
                    } else {
                        Err(e)
                    };
                }
            };
            match inv.status() {
                Some(CommandInvocationStatus::Success) => Ok(Poll::Ready(())),
                Some(
                    s @ (CommandInvocationStatus::Failed
                    | CommandInvocationStatus::Cancelled
                    | CommandInvocationStatus::TimedOut
                    | CommandInvocationStatus::Cancelling),
                ) => Err(ReconcileError::Failed(format!(
                    "SSM command {command_id} on {instance_id} ended {}: {}",
                    s.as_str(),
                    inv.standard_error_content().unwrap_or_default()
                ))),
                other => Ok(Poll::Pending(
                    other.map_or("unknown", |s| s.as_str()).to_string(),
                )),
            }
        },
    )
    .await
}
