//! The EC2 instances, one per `[[hosts]]`: launched with IMDSv2 and an encrypted root
//! volume, replaced when their user_data (which only runs at first boot) changes, updated
//! in place — SSM push and tags — when only the labels change.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{InstanceStateName, Tag};
use serde::Serialize;

use super::{ssm, Env, Known, StepOutput};
use crate::desired::{DesiredHost, RenderedUserData};
use crate::ec2::{self, InstanceSpec};
use crate::error::{ReconcileError, Result};
use crate::names::{Names, LABEL_TAG_PREFIX, TAG_BASE_SHA, TAG_USER_DATA_SHA};
use crate::observe::{InstanceState, Observed};
use crate::plan::{Action, Change, Detail, Resource, ResourceKind, KNOWN_AFTER_APPLY};
use crate::Desired;

/// What apply does to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum HostOp {
    /// Terminate `replaces` (if any, and wait), then RunInstances and wait for running.
    Launch {
        /// `[[hosts]] name`.
        host: String,
        /// The instance this one replaces.
        replaces: Option<String>,
        /// AMI.
        image_id: Option<String>,
        /// Security group; `None`: the one this apply creates.
        security_group_id: Option<String>,
        /// Subnet (`None`: EC2 picks one in the default VPC).
        subnet_id: Option<String>,
        /// The user_data; `None`: rendered once the AMP workspace this apply creates is
        /// known.
        rendered: Option<RenderedUserData>,
    },
    /// Require IMDSv2, push the collector config, and set tags, as planned.
    Update {
        /// `i-…`.
        id: String,
        /// `[[hosts]] name`.
        host: String,
        /// ModifyInstanceMetadataOptions `HttpTokens=required`.
        require_imdsv2: bool,
        /// Files pushed with SSM Run Command (empty: no push).
        #[serde(skip)]
        push: Vec<monitor_bootstrap::RenderedFile>,
        /// Tags written (last, so an interrupted push is retried).
        set_tags: BTreeMap<String, String>,
        /// Label tags removed.
        unset_tags: Vec<String>,
    },
    /// TerminateInstances and wait.
    Terminate {
        /// `i-…`.
        id: String,
    },
}

fn display_name(i: &InstanceState) -> String {
    if i.host.is_empty() {
        i.id.clone()
    } else {
        i.host.clone()
    }
}

fn terminate(i: &InstanceState, reason: impl Into<String>) -> Change {
    Change::new(
        Resource::new(ResourceKind::Instance, display_name(i), Some(i.id.clone())),
        Action::Delete,
        reason,
        HostOp::Terminate { id: i.id.clone() },
    )
}

/// The apply plan's instance changes.
pub(crate) fn plan(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let names = &desired.names;
    let sg = observed.security_group().map(|g| g.id.as_str());
    let mut changes = Vec::new();
    for h in &desired.hosts {
        let mine: Vec<&InstanceState> = observed
            .instances
            .iter()
            .filter(|i| i.host == h.host.name)
            .collect();
        let want_base = h.rendered.as_ref().map(|r| r.base_sha.as_str());
        // Keep the instance that matches best: alive, needing no replacement, same base
        // hash, newest.
        let keeper = mine.iter().copied().max_by_key(|i| {
            let replace = instance_change(observed, h, i, sg, names)
                .is_some_and(|c| c.action == Action::Replace);
            (
                matches!(
                    i.state,
                    InstanceStateName::Running | InstanceStateName::Pending
                ),
                !replace,
                i.tags.get(TAG_BASE_SHA).map(String::as_str) == want_base,
                i.launched,
            )
        });
        for i in mine.iter().filter(|i| keeper.is_none_or(|k| k.id != i.id)) {
            changes.push(terminate(
                i,
                format!(
                    "duplicate instance for host `{}` (keeping {})",
                    h.host.name,
                    keeper.map_or("-", |k| k.id.as_str())
                ),
            ));
        }
        match keeper {
            Some(cur) => changes.extend(instance_change(observed, h, cur, sg, names)),
            None => changes.push(
                Change::new(
                    Resource::new(ResourceKind::Instance, &h.host.name, None),
                    Action::Create,
                    format!("no instance for host `{}`", h.host.name),
                    launch_op(observed, h, sg, None),
                )
                .detail(Detail::new(
                    "instance_type",
                    None,
                    Some(&h.host.instance_type),
                ))
                .detail(Detail::new(
                    "architecture",
                    None,
                    Some(h.host.architecture.as_str()),
                )),
            ),
        }
    }
    for i in &observed.instances {
        if !desired.hosts.iter().any(|h| h.host.name == i.host) {
            changes.push(terminate(i, "host is no longer in stack.toml"));
        }
    }
    changes
}

/// The destroy plan's instance changes.
pub(crate) fn plan_destroy(observed: &Observed) -> Vec<Change> {
    observed
        .instances
        .iter()
        .map(|i| terminate(i, "destroy: instance tagged with the stack"))
        .collect()
}

fn launch_op(
    observed: &Observed,
    h: &DesiredHost,
    sg: Option<&str>,
    replaces: Option<&str>,
) -> HostOp {
    HostOp::Launch {
        host: h.host.name.clone(),
        replaces: replaces.map(str::to_string),
        image_id: observed.amis.get(&h.host.architecture).cloned(),
        security_group_id: sg.map(str::to_string),
        subnet_id: observed.network.as_ref().and_then(|n| n.subnet_id.clone()),
        rendered: h.rendered.clone(),
    }
}

/// Why `cur` must be replaced, if it must: the first of its hardware, instance profile,
/// network placement and user_data that differs from what `h` wants.
fn replacement(
    observed: &Observed,
    h: &DesiredHost,
    cur: &InstanceState,
    sg: Option<&str>,
    names: &Names,
) -> Option<(String, Detail)> {
    hardware_replacement(h, cur)
        .or_else(|| profile_replacement(cur, names))
        .or_else(|| network_replacement(observed, cur, sg))
        .or_else(|| user_data_replacement(h, cur))
}

/// The instance type or the architecture changed.
fn hardware_replacement(h: &DesiredHost, cur: &InstanceState) -> Option<(String, Detail)> {
    if cur.instance_type != h.host.instance_type {
        return Some((
            "instance type changed".into(),
            Detail::new(
                "instance_type",
                Some(&cur.instance_type),
                Some(&h.host.instance_type),
            ),
        ));
    }
    if !cur.architecture.is_empty() && cur.architecture != h.host.architecture.as_str() {
        return Some((
            "architecture changed".into(),
            Detail::new(
                "architecture",
                Some(&cur.architecture),
                Some(h.host.architecture.as_str()),
            ),
        ));
    }
    None
}

/// The instance does not use the stack's instance profile.
fn profile_replacement(cur: &InstanceState, names: &Names) -> Option<(String, Detail)> {
    let suffix = format!("instance-profile/{}", names.instance_profile);
    if cur
        .profile_arn
        .as_deref()
        .is_some_and(|a| a.ends_with(&suffix))
    {
        return None;
    }
    Some((
        "instance does not use the stack's instance profile".into(),
        Detail::new(
            "iam_instance_profile",
            cur.profile_arn.as_deref(),
            Some(&names.instance_profile),
        ),
    ))
}

/// The instance is not in the stack's security group `sg` (`None`: it is (re)created) or
/// not in `[network] subnet_id`.
fn network_replacement(
    observed: &Observed,
    cur: &InstanceState,
    sg: Option<&str>,
) -> Option<(String, Detail)> {
    let groups = cur.security_groups.join(",");
    match sg {
        None => {
            return Some((
                "the security group is (re)created".into(),
                Detail::new("security_groups", Some(&groups), Some(KNOWN_AFTER_APPLY)),
            ))
        }
        Some(sg) if !cur.security_groups.iter().any(|g| g == sg) => {
            return Some((
                "instance is not in the stack's security group".into(),
                Detail::new("security_groups", Some(&groups), Some(sg)),
            ))
        }
        _ => {}
    }
    let want_subnet = observed
        .network
        .as_ref()
        .and_then(|n| n.subnet_id.as_deref());
    let want = want_subnet.filter(|w| cur.subnet_id.as_deref() != Some(*w))?;
    Some((
        "instance is not in [network] subnet_id".into(),
        Detail::new("subnet_id", cur.subnet_id.as_deref(), Some(want)),
    ))
}

/// The user_data changed (it only runs at first boot) or embeds an AMP workspace id not
/// known before apply.
fn user_data_replacement(h: &DesiredHost, cur: &InstanceState) -> Option<(String, Detail)> {
    let cur_sha = cur.tags.get(TAG_USER_DATA_SHA).map(String::as_str);
    match &h.rendered {
        None => Some((
            "the AMP workspace is (re)created and the user_data embeds its id".into(),
            Detail::new(TAG_USER_DATA_SHA, cur_sha, Some(KNOWN_AFTER_APPLY)),
        )),
        Some(r) if cur.tags.get(TAG_BASE_SHA).map(String::as_str) != Some(r.base_sha.as_str()) => {
            Some((
                "user_data changed (user_data only runs at first boot, so the instance is replaced)"
                    .into(),
                Detail::new(TAG_USER_DATA_SHA, cur_sha, Some(&r.full_sha)),
            ))
        }
        Some(_) => None,
    }
}

fn instance_change(
    observed: &Observed,
    h: &DesiredHost,
    cur: &InstanceState,
    sg: Option<&str>,
    names: &Names,
) -> Option<Change> {
    let res = Resource::new(ResourceKind::Instance, &h.host.name, Some(cur.id.clone()));
    if let Some((reason, detail)) = replacement(observed, h, cur, sg, names) {
        let op = launch_op(observed, h, sg, Some(&cur.id));
        return Some(Change::new(res, Action::Replace, reason, op).detail(detail));
    }
    let r = h.rendered.as_ref()?;
    let want_tags = h.tags(names);
    let mut details = Vec::new();
    let mut set_tags = BTreeMap::new();
    for (k, v) in &want_tags {
        if cur.tags.get(k) != Some(v) {
            details.push(Detail::new(k, cur.tags.get(k).map(String::as_str), Some(v)));
            set_tags.insert(k.clone(), v.clone());
        }
    }
    let mut unset_tags = Vec::new();
    for (k, v) in &cur.tags {
        if k.starts_with(LABEL_TAG_PREFIX) && !want_tags.contains_key(k) {
            details.push(Detail::new(k, Some(v), None));
            unset_tags.push(k.clone());
        }
    }
    let mut reasons = Vec::new();
    let push = cur.tags.get(TAG_USER_DATA_SHA) != Some(&r.full_sha);
    if push {
        reasons.push(
            "labels or the metric allowlist changed: the collector config is pushed with SSM \
             Run Command and the collector restarted",
        );
    } else if !details.is_empty() {
        reasons.push("tags differ");
    }
    let require_imdsv2 = cur.http_tokens.as_deref().is_some_and(|t| t != "required");
    if require_imdsv2 {
        reasons.push("IMDSv2 not required");
        details.push(Detail::new(
            "metadata_options.http_tokens",
            cur.http_tokens.as_deref(),
            Some("required"),
        ));
    }
    if reasons.is_empty() {
        return None;
    }
    let op = HostOp::Update {
        id: cur.id.clone(),
        host: h.host.name.clone(),
        require_imdsv2,
        push: if push {
            r.label_files.clone()
        } else {
            Vec::new()
        },
        set_tags,
        unset_tags,
    };
    let mut c = Change::new(res, Action::Update, reasons.join("; "), op);
    c.details = details;
    Some(c)
}

pub(crate) async fn apply(env: &Env<'_>, known: &Known, op: &HostOp) -> Result<StepOutput> {
    match op {
        HostOp::Terminate { id } => {
            terminate_and_wait(env, id).await?;
            Ok(StepOutput::message(format!("terminated {id}")))
        }
        HostOp::Launch { replaces, .. } => {
            if let Some(old) = replaces {
                terminate_and_wait(env, old).await?;
            }
            let new_id = launch(env, known, op).await?;
            Ok(StepOutput::message(match replaces {
                Some(old) => format!("replaced {old} by {new_id}"),
                None => format!("launched {new_id}"),
            }))
        }
        HostOp::Update {
            id,
            host,
            require_imdsv2,
            push,
            set_tags,
            unset_tags,
        } => {
            let mut done = Vec::new();
            let ec2 = &env.clients.ec2;
            if *require_imdsv2 {
                ec2.modify_instance_metadata_options()
                    .instance_id(id)
                    .http_tokens(aws_sdk_ec2::types::HttpTokensState::Required)
                    .send()
                    .await
                    .map_err(|e| {
                        ReconcileError::from_sdk("ec2:ModifyInstanceMetadataOptions", e)
                    })?;
                done.push("IMDSv2 required".to_string());
            }
            if !push.is_empty() {
                let script = ssm::push_script(push, id)?;
                let _wait = env.wait_guard(&format!(
                    "pushing the collector config to {host} ({id}) with SSM Run Command"
                ));
                let command_id = ssm::run_command(env, id, &script).await?;
                done.push(format!("config pushed (SSM command {command_id})"));
            }
            if !unset_tags.is_empty() {
                ec2.delete_tags()
                    .resources(id)
                    .set_tags(Some(
                        unset_tags
                            .iter()
                            .map(|k| Tag::builder().key(k).build())
                            .collect(),
                    ))
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("ec2:DeleteTags", e))?;
            }
            // The hash tags are written last: an interrupted push is retried by the next
            // apply.
            if !set_tags.is_empty() {
                ec2.create_tags()
                    .resources(id)
                    .set_tags(Some(
                        set_tags
                            .iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .send()
                    .await
                    .map_err(|e| ReconcileError::from_sdk("ec2:CreateTags", e))?;
                done.push("tags updated".into());
            }
            Ok(StepOutput::message(done.join(", ")))
        }
    }
}

async fn terminate_and_wait(env: &Env<'_>, id: &str) -> Result<()> {
    let _wait = env.wait_guard(&format!("terminating {id}"));
    ec2::terminate_and_wait(&env.clients.ec2, id, env.wait()).await
}

async fn launch(env: &Env<'_>, known: &Known, op: &HostOp) -> Result<String> {
    let HostOp::Launch {
        host,
        image_id,
        security_group_id,
        subnet_id,
        rendered,
        ..
    } = op
    else {
        return Err(ReconcileError::Failed("not a launch".into()));
    };
    let stack_host = env
        .stack
        .hosts
        .iter()
        .find(|h| &h.name == host)
        .ok_or_else(|| ReconcileError::Failed(format!("no host {host} in the stack")))?;
    let rendered = match (rendered, &known.amp) {
        (Some(r), _) => r.clone(),
        (None, Some(ws)) => crate::desired::render(env.stack, stack_host, &ws.id)?,
        (None, None) => {
            return Err(ReconcileError::Failed(format!(
                "user_data of {host} not rendered: no AMP workspace"
            )))
        }
    };
    let sg = security_group_id
        .clone()
        .or_else(|| known.security_group.clone())
        .ok_or_else(|| ReconcileError::Failed("no security group for the hosts".into()))?;
    let image_id = image_id.clone().ok_or_else(|| {
        ReconcileError::Failed(format!("no AMI resolved for {}", stack_host.architecture))
    })?;
    let desired = DesiredHost {
        host: stack_host.clone(),
        rendered: Some(rendered),
    };
    let spec = InstanceSpec {
        image_id,
        instance_type: stack_host.instance_type.clone(),
        user_data: desired
            .rendered
            .as_ref()
            .map(|r| r.user_data.clone())
            .unwrap_or_default(),
        instance_profile: env.names.instance_profile.clone(),
        security_group_id: sg,
        subnet_id: subnet_id.clone(),
        tags: desired.tags(&env.names),
    };
    let wait = env.wait_guard(&format!("launching {host}"));
    let id = ec2::run_instance(&env.clients.ec2, &spec, &env.opts.iam_propagation).await?;
    wait.set(&format!("waiting for {host} ({id}) to run"));
    ec2::wait_running(&env.clients.ec2, &id, env.wait()).await?;
    Ok(id)
}
