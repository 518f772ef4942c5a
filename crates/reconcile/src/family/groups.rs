//! `[[groups]]`: one launch template and one Auto Scaling group per entry. The template
//! launches AL2023 with IMDSv2 required, an encrypted gp3 root volume, the stack's
//! instance profile and security group, and the group's rendered user_data. A change of
//! what it launches makes a new template version (the default one, which the group
//! launches) and starts an instance refresh, launching new instances before the old ones
//! go; a change of size or subnets updates the group in place.

use aws_sdk_autoscaling::types::{
    DesiredConfiguration, LaunchTemplateSpecification, RefreshPreferences, Tag as AsgTag,
};
use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataOptionsRequest, LaunchTemplateTagSpecificationRequest,
    RequestLaunchTemplateData, ResourceType, Tag, TagSpecification, VolumeType,
};
use base64::Engine;
use serde::Serialize;

use super::{Env, Known, StepOutput};
use crate::desired::{DesiredGroup, RenderedGroup};
use crate::error::{ReconcileError, Result};
use crate::names::{Names, TAG_GROUP};
use crate::observe::{refresh_state, AutoScalingGroupState, LaunchTemplateState, Observed};
use crate::plan::{Action, Change, Detail, Resource, ResourceKind, KNOWN_AFTER_APPLY};
use crate::poll::Poll;
use crate::Desired;

/// The version of its template an Auto Scaling group launches: the template's default,
/// which apply moves to each new version.
pub const TEMPLATE_VERSION: &str = "$Default";

/// Instance refresh: keep every instance in service and launch the new ones first
/// (100 % healthy minimum, up to 200 % during the refresh), skip instances already on the
/// default version, and give a new instance 5 minutes to bootstrap before it counts.
pub const REFRESH_MIN_HEALTHY: i32 = 100;
/// See [`REFRESH_MIN_HEALTHY`].
pub const REFRESH_MAX_HEALTHY: i32 = 200;
/// See [`REFRESH_MIN_HEALTHY`].
pub const REFRESH_WARMUP_SECS: i32 = 300;

/// What apply does to a group's launch template or Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GroupOp {
    /// CreateLaunchTemplate (`template_id` `None`), or CreateLaunchTemplateVersion and
    /// ModifyLaunchTemplate to make it the default.
    PutTemplate {
        /// `[[groups]] name`.
        group: String,
        /// `lt-…` of the existing template.
        template_id: Option<String>,
        /// AMI (AL2023, from the SSM public parameter).
        image_id: Option<String>,
        /// Security group; `None`: the one this apply creates.
        security_group_id: Option<String>,
        /// The user_data; `None`: rendered once the AMP workspace this apply creates is
        /// known.
        rendered: Option<RenderedGroup>,
    },
    /// CreateAutoScalingGroup; or, for an existing group, CancelInstanceRefresh (when
    /// `cancel_running`), UpdateAutoScalingGroup (when `update`), StartInstanceRefresh
    /// (when `refresh`), in that order: Auto Scaling refuses to change the launch
    /// template of a group whose refresh with a desired configuration is running.
    PutGroup {
        /// `[[groups]] name`.
        group: String,
        /// The group exists (update) or not (create).
        exists: bool,
        /// Its size, subnets or template specification differ.
        update: bool,
        /// The update sets the launch template specification too (it differs).
        set_template: bool,
        /// A refresh was running when planned; a new one is needed, so it is cancelled
        /// first.
        cancel_running: bool,
        /// `MinSize`.
        min: u32,
        /// `MaxSize`.
        max: u32,
        /// `DesiredCapacity`.
        desired: u32,
        /// `VPCZoneIdentifier` (empty: none resolved; apply refuses with the fix).
        subnets: Vec<String>,
        /// Start an instance refresh (cancelling a running one first).
        refresh: bool,
    },
    /// DeleteAutoScalingGroup with ForceDelete (its instances are terminated), and wait
    /// until it is gone.
    DeleteGroup {
        /// `AutoScalingGroupName`.
        name: String,
    },
    /// DeleteLaunchTemplate.
    DeleteTemplate {
        /// `lt-…`.
        id: String,
    },
}

/// The subnets `g` launches into: its own, else `[network] subnet_id`, else the default
/// VPC's default subnets.
fn subnets(g: &DesiredGroup, observed: &Observed) -> Vec<String> {
    if !g.group.subnets.is_empty() {
        let mut s = g.group.subnets.clone();
        s.sort();
        return s;
    }
    match observed.network.as_ref().and_then(|n| n.subnet_id.clone()) {
        Some(s) => vec![s],
        None => observed.groups.default_subnets.clone(),
    }
}

/// The apply plan's changes of every group, and the removal of groups no longer in the
/// stack.
pub(crate) fn plan(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let names = &desired.names;
    let sg = observed.security_group().map(|g| g.id.as_str());
    let mut changes = Vec::new();
    for g in &desired.groups {
        let template = observed.groups.template(&g.group.name);
        let template_change = template_change(names, observed, g, template, sg);
        let new_version = template_change.is_some();
        changes.extend(template_change);
        let asg = observed.groups.group(&g.group.name);
        changes.extend(group_change(names, observed, g, asg, template, new_version));
    }
    for a in &observed.groups.groups {
        if a.deleting {
            changes.push(delete_group(
                a,
                "being deleted (an earlier delete did not finish)",
            ));
        } else if !desired.groups.iter().any(|g| g.group.name == a.group) {
            changes.push(delete_group(a, "group is no longer in stack.toml"));
        }
    }
    for t in &observed.groups.templates {
        if !desired.groups.iter().any(|g| g.group.name == t.group) {
            changes.push(delete_template(t, "group is no longer in stack.toml"));
        }
    }
    changes
}

/// The destroy plan's group changes.
pub(crate) fn plan_destroy(observed: &Observed) -> Vec<Change> {
    let reason = "destroy: tagged with the stack";
    observed
        .groups
        .groups
        .iter()
        .map(|a| delete_group(a, reason))
        .chain(
            observed
                .groups
                .templates
                .iter()
                .map(|t| delete_template(t, reason)),
        )
        .collect()
}

fn delete_group(a: &AutoScalingGroupState, reason: &str) -> Change {
    Change::new(
        Resource::new(
            ResourceKind::AutoScalingGroup,
            &a.name,
            Some(a.name.clone()),
        ),
        Action::Delete,
        format!(
            "{reason} (its {} instance(s) are terminated)",
            a.instances.len()
        ),
        GroupOp::DeleteGroup {
            name: a.name.clone(),
        },
    )
}

fn delete_template(t: &LaunchTemplateState, reason: &str) -> Change {
    Change::new(
        Resource::new(ResourceKind::LaunchTemplate, &t.name, Some(t.id.clone())),
        Action::Delete,
        reason,
        GroupOp::DeleteTemplate { id: t.id.clone() },
    )
}

/// The template's change: created when missing; a new default version when what it
/// launches differs (the AMI alone does not count: a newer AL2023 AMI is taken at the
/// next change, not by a refresh of its own).
fn template_change(
    names: &Names,
    observed: &Observed,
    g: &DesiredGroup,
    cur: Option<&LaunchTemplateState>,
    sg: Option<&str>,
) -> Option<Change> {
    let name = names.group(&g.group.name);
    let arch = g.group.architecture;
    let op = GroupOp::PutTemplate {
        group: g.group.name.clone(),
        template_id: cur.map(|t| t.id.clone()),
        image_id: observed.amis.get(&arch).cloned(),
        security_group_id: sg.map(str::to_string),
        rendered: g.rendered.clone(),
    };
    let Some(cur) = cur else {
        return Some(
            Change::new(
                Resource::new(ResourceKind::LaunchTemplate, &name, None),
                Action::Create,
                format!("no launch template for group `{}`", g.group.name),
                op,
            )
            .detail(Detail::new(
                "instance_type",
                None,
                Some(&g.group.instance_type),
            ))
            .detail(Detail::new("architecture", None, Some(arch.as_str()))),
        );
    };
    let data = cur.data.clone().unwrap_or_default();
    let mut details = Vec::new();
    if data.instance_type != g.group.instance_type {
        details.push(Detail::new(
            "instance_type",
            Some(&data.instance_type),
            Some(&g.group.instance_type),
        ));
    }
    let want_sha = g
        .rendered
        .as_ref()
        .map_or(KNOWN_AFTER_APPLY, |r| r.sha.as_str());
    if data.user_data_sha.as_deref() != Some(want_sha) {
        details.push(Detail::new(
            "user_data_sha256",
            data.user_data_sha.as_deref(),
            Some(want_sha),
        ));
    }
    let want_sg = sg.unwrap_or(KNOWN_AFTER_APPLY);
    if data.security_groups != [want_sg] {
        details.push(Detail::new(
            "security_groups",
            Some(&data.security_groups.join(",")),
            Some(want_sg),
        ));
    }
    let profile_ok = data.profile.as_deref().is_some_and(|p| {
        p == names.instance_profile || p.ends_with(&format!("/{}", names.instance_profile))
    });
    if !profile_ok {
        details.push(Detail::new(
            "iam_instance_profile",
            data.profile.as_deref(),
            Some(&names.instance_profile),
        ));
    }
    if data.http_tokens.as_deref() != Some("required") {
        details.push(Detail::new(
            "metadata_options.http_tokens",
            data.http_tokens.as_deref(),
            Some("required"),
        ));
    }
    if !data.encrypted_gp3 {
        details.push(Detail::new(
            "root_volume",
            Some("not encrypted gp3"),
            Some("encrypted gp3"),
        ));
    }
    if details.is_empty() {
        return None;
    }
    let mut c = Change::new(
        Resource::new(ResourceKind::LaunchTemplate, &name, Some(cur.id.clone())),
        Action::Update,
        format!(
            "what the group launches changed: new version {} becomes the default",
            cur.latest_version + 1
        ),
        op,
    );
    c.details = details;
    Some(c)
}

/// The Auto Scaling group's change: created when missing; updated when its size,
/// subnets or template differ, or refreshed when the template gets a new version or
/// some instance still runs an older one with no refresh under way.
fn group_change(
    names: &Names,
    observed: &Observed,
    g: &DesiredGroup,
    cur: Option<&AutoScalingGroupState>,
    template: Option<&LaunchTemplateState>,
    new_version: bool,
) -> Option<Change> {
    let name = names.group(&g.group.name);
    let want_subnets = subnets(g, observed);
    let op = |exists: bool, update: bool, set_template: bool, refresh: bool, cancel: bool| {
        GroupOp::PutGroup {
            group: g.group.name.clone(),
            exists,
            update,
            set_template,
            cancel_running: cancel,
            min: g.group.min,
            max: g.group.max,
            desired: g.group.desired,
            subnets: want_subnets.clone(),
            refresh,
        }
    };
    let Some(cur) = cur else {
        return Some(
            Change::new(
                Resource::new(ResourceKind::AutoScalingGroup, &name, None),
                Action::Create,
                format!("no Auto Scaling group for group `{}`", g.group.name),
                op(false, false, false, false, false),
            )
            .detail(Detail::new(
                "size",
                None,
                Some(&size(g.group.min, g.group.desired, g.group.max)),
            ))
            .detail(Detail::new("subnets", None, Some(&want_subnets.join(",")))),
        );
    };
    let mut details = Vec::new();
    let (have, want) = (
        size(cur.min, cur.desired, cur.max),
        size(g.group.min, g.group.desired, g.group.max),
    );
    if have != want {
        details.push(Detail::new(
            "size (min/desired/max)",
            Some(&have),
            Some(&want),
        ));
    }
    if cur.subnets != want_subnets {
        details.push(Detail::new(
            "subnets",
            Some(&cur.subnets.join(",")),
            Some(&want_subnets.join(",")),
        ));
    }
    let want_template = format!("{name}:{TEMPLATE_VERSION}");
    let have_template = cur
        .template
        .as_ref()
        .map(|(n, v)| format!("{n}:{v}"))
        .unwrap_or_default();
    if have_template != want_template {
        details.push(Detail::new(
            "launch_template",
            Some(&have_template),
            Some(&want_template),
        ));
    }
    let set_template = have_template != want_template;
    let update = !details.is_empty();
    let refreshing = cur.refresh.as_ref().is_some_and(|r| r.running());
    // Only numbered versions are compared: a version reported as `$Default`/`$Latest`
    // says nothing about what the instance runs.
    let stale: Vec<&str> = template
        .map(|t| {
            cur.instances
                .iter()
                .filter(|i| {
                    i.lifecycle == "InService"
                        && i.template_version
                            .as_deref()
                            .and_then(|v| v.parse::<i64>().ok())
                            .is_some_and(|v| v != t.default_version)
                })
                .map(|i| i.id.as_str())
                .collect()
        })
        .unwrap_or_default();
    let mut reasons = Vec::new();
    if update {
        reasons.push("the group differs from stack.toml".to_string());
    }
    let refresh = if new_version {
        reasons.push(
            "the launch template gets a new version: an instance refresh replaces the \
             instances, new ones first"
                .into(),
        );
        true
    } else if !stale.is_empty() && !refreshing {
        reasons.push(format!(
            "{} run an older template version and no instance refresh is under way: one \
             is started",
            stale.join(", ")
        ));
        true
    } else {
        false
    };
    if refresh {
        details.push(Detail::new(
            "instance_refresh",
            cur.refresh.as_ref().map(|r| r.status.as_str()),
            Some("started"),
        ));
    }
    if reasons.is_empty() {
        return None;
    }
    let mut c = Change::new(
        Resource::new(
            ResourceKind::AutoScalingGroup,
            &name,
            Some(cur.name.clone()),
        ),
        Action::Update,
        reasons.join("; "),
        op(true, update, set_template, refresh, refresh && refreshing),
    );
    c.details = details;
    Some(c)
}

fn size(min: u32, desired: u32, max: u32) -> String {
    format!("{min}/{desired}/{max}")
}

pub(crate) async fn apply(env: &Env<'_>, known: &Known, op: &GroupOp) -> Result<StepOutput> {
    match op {
        GroupOp::PutTemplate { .. } => put_template(env, known, op).await,
        GroupOp::PutGroup {
            group,
            exists,
            update,
            set_template,
            cancel_running,
            min,
            max,
            desired,
            subnets,
            refresh,
        } => {
            let name = env.names.group(group);
            if subnets.is_empty() {
                return Err(ReconcileError::Config(format!(
                    "group `{group}` has no subnets: the VPC has no default subnets; set \
                     `subnets` in its [[groups]] table or [network] subnet_id"
                )));
            }
            let spec = LaunchTemplateSpecification::builder()
                .launch_template_name(&name)
                .version(TEMPLATE_VERSION)
                .build();
            let asg = &env.clients.autoscaling;
            let (min, max, desired) = (to_i32(*min), to_i32(*max), to_i32(*desired));
            let mut done = Vec::new();
            if *exists {
                if *refresh && *cancel_running {
                    cancel_refresh_and_wait(env, &name).await?;
                    done.push("running instance refresh cancelled".to_string());
                }
                if *update {
                    asg.update_auto_scaling_group()
                        .auto_scaling_group_name(&name)
                        .set_launch_template(set_template.then_some(spec))
                        .min_size(min)
                        .max_size(max)
                        .desired_capacity(desired)
                        .vpc_zone_identifier(subnets.join(","))
                        .send()
                        .await
                        .map_err(|e| {
                            ReconcileError::from_sdk("autoscaling:UpdateAutoScalingGroup", e)
                        })?;
                    done.push(format!("updated {name} ({min}/{desired}/{max})"));
                }
            } else {
                let mut req = asg
                    .create_auto_scaling_group()
                    .auto_scaling_group_name(&name)
                    .launch_template(spec)
                    .min_size(min)
                    .max_size(max)
                    .desired_capacity(desired)
                    .vpc_zone_identifier(subnets.join(","));
                for (k, v) in group_tags(&env.names, group) {
                    req = req.tags(
                        AsgTag::builder()
                            .key(k)
                            .value(v)
                            .propagate_at_launch(true)
                            .build(),
                    );
                }
                req.send().await.map_err(|e| {
                    ReconcileError::from_sdk("autoscaling:CreateAutoScalingGroup", e)
                })?;
                done.push(format!("created {name} ({min}/{desired}/{max})"));
            }
            if *refresh {
                let id = start_refresh(env, &name).await?;
                done.push(format!(
                    "instance refresh {id} started (new instances first; `monitor-verify` \
                     shows its progress)"
                ));
            }
            Ok(StepOutput::message(done.join(", ")))
        }
        GroupOp::DeleteGroup { name } => {
            delete_group_and_wait(env, name).await?;
            Ok(StepOutput::message(format!(
                "deleted {name} and terminated its instances"
            )))
        }
        GroupOp::DeleteTemplate { id } => {
            if let Err(e) = env
                .clients
                .ec2
                .delete_launch_template()
                .launch_template_id(id)
                .send()
                .await
            {
                super::ignore_not_found(ReconcileError::from_sdk("ec2:DeleteLaunchTemplate", e))?;
            }
            Ok(StepOutput::message(format!("deleted {id}")))
        }
    }
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The tags of a group's template and Auto Scaling group (propagated to its instances):
/// ownership, `monitor:group`, and `Name`.
fn group_tags(names: &Names, group: &str) -> Vec<(String, String)> {
    let mut t: Vec<(String, String)> = names.owner_tags().into_iter().collect();
    t.push((TAG_GROUP.to_string(), group.to_string()));
    t.push(("Name".to_string(), names.group(group)));
    t
}

async fn put_template(env: &Env<'_>, known: &Known, op: &GroupOp) -> Result<StepOutput> {
    let GroupOp::PutTemplate {
        group,
        template_id,
        image_id,
        security_group_id,
        rendered,
    } = op
    else {
        return Err(ReconcileError::Failed("not a template".into()));
    };
    let g = env
        .stack
        .groups
        .iter()
        .find(|g| &g.name == group)
        .ok_or_else(|| ReconcileError::Failed(format!("no group {group} in the stack")))?;
    let rendered = match (rendered, &known.amp) {
        (Some(r), _) => r.clone(),
        (None, Some(ws)) => crate::desired::render_group(env.stack, g, &ws.id)?,
        (None, None) => {
            return Err(ReconcileError::Failed(format!(
                "user_data of group {group} not rendered: no AMP workspace"
            )))
        }
    };
    let sg = security_group_id
        .clone()
        .or_else(|| known.security_group.clone())
        .ok_or_else(|| ReconcileError::Failed("no security group for the group".into()))?;
    let image_id = image_id
        .clone()
        .ok_or_else(|| ReconcileError::Failed(format!("no AMI resolved for {}", g.architecture)))?;
    let data = template_data(env, g, &rendered, &sg, &image_id);
    let ec2 = &env.clients.ec2;
    let name = env.names.group(group);
    match template_id {
        None => {
            let tags = group_tags(&env.names, group)
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect();
            let out = ec2
                .create_launch_template()
                .launch_template_name(&name)
                .version_description(format!(
                    "monitor-provision, user_data {}",
                    &rendered.sha[..12]
                ))
                .launch_template_data(data)
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::LaunchTemplate)
                        .set_tags(Some(tags))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("ec2:CreateLaunchTemplate", e))?;
            let id = out
                .launch_template()
                .and_then(|t| t.launch_template_id())
                .unwrap_or_default();
            Ok(StepOutput::message(format!("created {name} ({id})")))
        }
        Some(id) => {
            let out = ec2
                .create_launch_template_version()
                .launch_template_id(id)
                .version_description(format!(
                    "monitor-provision, user_data {}",
                    &rendered.sha[..12]
                ))
                .launch_template_data(data)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("ec2:CreateLaunchTemplateVersion", e))?;
            let version = out
                .launch_template_version()
                .and_then(|v| v.version_number())
                .ok_or_else(|| {
                    ReconcileError::Failed(format!(
                        "CreateLaunchTemplateVersion of {id} returned no version number"
                    ))
                })?;
            ec2.modify_launch_template()
                .launch_template_id(id)
                .default_version(version.to_string())
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("ec2:ModifyLaunchTemplate", e))?;
            Ok(StepOutput::message(format!(
                "{name}: version {version} is the default"
            )))
        }
    }
}

/// Everything a version of the template sets (sent in full each time: a version does
/// not inherit from another unless asked).
fn template_data(
    env: &Env<'_>,
    g: &monitor_stack::Group,
    rendered: &RenderedGroup,
    sg: &str,
    image_id: &str,
) -> RequestLaunchTemplateData {
    let volume_tags = group_tags(&env.names, &g.name)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    RequestLaunchTemplateData::builder()
        .image_id(image_id)
        .instance_type(aws_sdk_ec2::types::InstanceType::from(
            g.instance_type.as_str(),
        ))
        .user_data(base64::engine::general_purpose::STANDARD.encode(rendered.user_data.as_bytes()))
        .iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(&env.names.instance_profile)
                .build(),
        )
        .security_group_ids(sg)
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(aws_sdk_ec2::types::LaunchTemplateHttpTokensState::Required)
                .http_endpoint(
                    aws_sdk_ec2::types::LaunchTemplateInstanceMetadataEndpointState::Enabled,
                )
                .http_put_response_hop_limit(1)
                .instance_metadata_tags(
                    aws_sdk_ec2::types::LaunchTemplateInstanceMetadataTagsState::Disabled,
                )
                .build(),
        )
        .block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(crate::ec2::ROOT_DEVICE)
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .volume_type(VolumeType::Gp3)
                        .volume_size(crate::ec2::ROOT_VOLUME_GIB)
                        .encrypted(true)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .tag_specifications(
            LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(ResourceType::Volume)
                .set_tags(Some(volume_tags))
                .build(),
        )
        .build()
}

/// StartInstanceRefresh towards the template's default version (named as the desired
/// configuration, so skip-matching replaces exactly the instances on another version);
/// if one started meanwhile, it is cancelled and waited out first (the new version
/// supersedes what it was rolling out).
async fn start_refresh(env: &Env<'_>, name: &str) -> Result<String> {
    let asg = &env.clients.autoscaling;
    let start = || async {
        asg.start_instance_refresh()
            .auto_scaling_group_name(name)
            .desired_configuration(
                DesiredConfiguration::builder()
                    .launch_template(
                        LaunchTemplateSpecification::builder()
                            .launch_template_name(name)
                            .version(TEMPLATE_VERSION)
                            .build(),
                    )
                    .build(),
            )
            .preferences(
                RefreshPreferences::builder()
                    .min_healthy_percentage(REFRESH_MIN_HEALTHY)
                    .max_healthy_percentage(REFRESH_MAX_HEALTHY)
                    .instance_warmup(REFRESH_WARMUP_SECS)
                    .skip_matching(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("autoscaling:StartInstanceRefresh", e))
    };
    let out = match start().await {
        Err(e) if e.code() == Some("InstanceRefreshInProgress") => {
            cancel_refresh_and_wait(env, name).await?;
            start().await?
        }
        other => other?,
    };
    Ok(out.instance_refresh_id().unwrap_or_default().to_string())
}

/// CancelInstanceRefresh (none running — it ended meanwhile — is fine), then wait until
/// the latest refresh is no longer running ([`crate::observe::RefreshState::running`]).
async fn cancel_refresh_and_wait(env: &Env<'_>, name: &str) -> Result<()> {
    let asg = &env.clients.autoscaling;
    if let Err(e) = asg
        .cancel_instance_refresh()
        .auto_scaling_group_name(name)
        .send()
        .await
    {
        let e = ReconcileError::from_sdk("autoscaling:CancelInstanceRefresh", e);
        if e.code() != Some("ActiveInstanceRefreshNotFound") {
            return Err(e);
        }
    }
    let what = format!("the running instance refresh of {name} to be cancelled");
    env.poll_shown(&what, || async {
        let out = asg
            .describe_instance_refreshes()
            .auto_scaling_group_name(name)
            .max_records(1)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("autoscaling:DescribeInstanceRefreshes", e))?;
        let latest = out.instance_refreshes().first().map(refresh_state);
        Ok(match latest {
            Some(r) if r.running() => Poll::Pending(r.status),
            _ => Poll::Ready(()),
        })
    })
    .await
}

async fn delete_group_and_wait(env: &Env<'_>, name: &str) -> Result<()> {
    let asg = &env.clients.autoscaling;
    let deleted = asg
        .delete_auto_scaling_group()
        .auto_scaling_group_name(name)
        .force_delete(true)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("autoscaling:DeleteAutoScalingGroup", e));
    match deleted {
        Ok(_) => {}
        // Already gone: Auto Scaling answers `ValidationError` "AutoScalingGroup name
        // not found".
        Err(e)
            if e.code() == Some("ValidationError")
                && e.service_message().is_some_and(|m| m.contains("not found")) =>
        {
            return Ok(())
        }
        // Already being deleted (an earlier destroy timed out waiting): wait for it.
        Err(e)
            if e.service_message()
                .is_some_and(|m| m.to_ascii_lowercase().contains("pending delete")) => {}
        Err(e) => return Err(e),
    }
    let what = format!("Auto Scaling group {name} and its instances to be deleted");
    env.poll_shown(&what, || async {
        let out = asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("autoscaling:DescribeAutoScalingGroups", e))?;
        Ok(match out.auto_scaling_groups().first() {
            None => Poll::Ready(()),
            Some(g) => Poll::Pending(format!(
                "{}, {} instance(s)",
                g.status().unwrap_or("deleting"),
                g.instances().len()
            )),
        })
    })
    .await
}
