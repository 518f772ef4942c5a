//! The reads of `[[groups]]`: the stack's Auto Scaling groups (by the stack's tags),
//! their instances and latest instance refresh, the stack's launch templates (by tags)
//! with what their default version launches, and the default VPC's subnets when a group
//! names none.

use aws_sdk_ec2::types::Filter;
use base64::Engine;
use monitor_stack::Stack;

use super::Scope;
use crate::error::{ReconcileError, Result};
use crate::names::{sha256_hex, Names, TAG_GROUP, TAG_MANAGED_BY, TAG_STACK};
use crate::Clients;

/// Everything of the stack's `[[groups]]` that exists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupsState {
    /// Auto Scaling groups carrying the stack's tags (not being deleted).
    pub groups: Vec<AutoScalingGroupState>,
    /// Launch templates carrying the stack's tags.
    pub templates: Vec<LaunchTemplateState>,
    /// The default subnets of the stack's VPC (read by [`Scope::Apply`] only when a
    /// group has no `subnets` and `[network]` no `subnet_id`).
    pub default_subnets: Vec<String>,
}

impl GroupsState {
    /// The Auto Scaling group of `[[groups]] name` (by its `monitor:group` tag), unless
    /// it is being deleted.
    pub fn group(&self, name: &str) -> Option<&AutoScalingGroupState> {
        self.groups.iter().find(|g| g.group == name && !g.deleting)
    }

    /// The launch template of `[[groups]] name`.
    pub fn template(&self, name: &str) -> Option<&LaunchTemplateState> {
        self.templates.iter().find(|t| t.group == name)
    }
}

/// One Auto Scaling group of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoScalingGroupState {
    /// `AutoScalingGroupName`.
    pub name: String,
    /// Its `monitor:group` tag (empty when missing).
    pub group: String,
    /// `MinSize`.
    pub min: u32,
    /// `MaxSize`.
    pub max: u32,
    /// `DesiredCapacity`.
    pub desired: u32,
    /// `VPCZoneIdentifier`, split and sorted.
    pub subnets: Vec<String>,
    /// The launch template name and version it launches (`$Default`, `$Latest` or a
    /// number).
    pub template: Option<(String, String)>,
    /// Its instances.
    pub instances: Vec<GroupInstance>,
    /// Its latest instance refresh, if any.
    pub refresh: Option<RefreshState>,
    /// Its status says it is being deleted (`Delete in progress`).
    pub deleting: bool,
}

/// One instance of an Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInstance {
    /// `i-…`.
    pub id: String,
    /// `LifecycleState` (`InService`, `Pending`, `Terminating`, …).
    pub lifecycle: String,
    /// `HealthStatus` (`Healthy` / `Unhealthy`).
    pub health: String,
    /// Availability zone.
    pub zone: String,
    /// The launch template version it was launched from, if known.
    pub template_version: Option<String>,
}

/// An instance refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshState {
    /// `InstanceRefreshId`.
    pub id: String,
    /// `Pending`, `InProgress`, `Successful`, `Failed`, `Cancelling`, `Cancelled`, …
    pub status: String,
    /// Percentage complete.
    pub percentage: Option<i32>,
}

impl RefreshState {
    /// Whether it still runs (a new refresh cannot start meanwhile).
    pub fn running(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Pending" | "InProgress" | "Cancelling" | "RollbackInProgress" | "Baking"
        )
    }
}

/// One launch template of the stack, with what its default version launches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchTemplateState {
    /// `lt-…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its `monitor:group` tag.
    pub group: String,
    /// The default version's number.
    pub default_version: i64,
    /// The latest version's number.
    pub latest_version: i64,
    /// The default version's data (`None` if it could not be read).
    pub data: Option<TemplateData>,
}

/// The part of a launch template version the stack sets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateData {
    /// AMI.
    pub image_id: String,
    /// Instance type.
    pub instance_type: String,
    /// sha256 of the decoded user_data.
    pub user_data_sha: Option<String>,
    /// Security group ids.
    pub security_groups: Vec<String>,
    /// Instance profile name or ARN as set.
    pub profile: Option<String>,
    /// IMDS `HttpTokens`.
    pub http_tokens: Option<String>,
    /// The root volume is encrypted gp3.
    pub encrypted_gp3: bool,
}

fn owns(names: &Names, tags: impl IntoIterator<Item = (String, String)>) -> (bool, String) {
    let tags: Vec<(String, String)> = tags.into_iter().collect();
    let group = tags
        .iter()
        .find(|(k, _)| k == TAG_GROUP)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    (
        names.owns(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        group,
    )
}

pub(super) async fn observe(
    clients: &Clients,
    names: &Names,
    stack: &Stack,
    scope: Scope,
    vpc_id: Option<&str>,
) -> Result<GroupsState> {
    let (groups, templates) = tokio::try_join!(
        auto_scaling_groups(clients, names),
        launch_templates(clients, names)
    )?;
    let need_defaults =
        stack.network.subnet_id.is_none() && stack.groups.iter().any(|g| g.subnets.is_empty());
    let default_subnets = match (scope, vpc_id) {
        (Scope::Apply, Some(vpc)) if need_defaults => default_subnets(clients, vpc).await?,
        _ => Vec::new(),
    };
    if let (Scope::Apply, Some(vpc)) = (scope, vpc_id) {
        check_subnets(clients, stack, vpc).await?;
    }
    Ok(GroupsState {
        groups,
        templates,
        default_subnets,
    })
}

async fn auto_scaling_groups(
    clients: &Clients,
    names: &Names,
) -> Result<Vec<AutoScalingGroupState>> {
    use aws_sdk_autoscaling::types::Filter as AsgFilter;
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = clients
            .autoscaling
            .describe_auto_scaling_groups()
            .filters(
                AsgFilter::builder()
                    .name(format!("tag:{TAG_STACK}"))
                    .values(&names.stack)
                    .build(),
            )
            .filters(
                AsgFilter::builder()
                    .name(format!("tag:{TAG_MANAGED_BY}"))
                    .values(crate::names::MANAGED_BY)
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("autoscaling:DescribeAutoScalingGroups", e))?;
        for g in page.auto_scaling_groups() {
            let (ours, group) = owns(
                names,
                g.tags().iter().map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                }),
            );
            if !ours {
                continue;
            }
            let deleting = g.status().is_some_and(|s| s.contains("Delete"));
            let mut subnets: Vec<String> = g
                .vpc_zone_identifier()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            subnets.sort();
            let template = g
                .launch_template()
                .or_else(|| {
                    g.mixed_instances_policy()
                        .and_then(|m| m.launch_template())
                        .and_then(|l| l.launch_template_specification())
                })
                .map(|t| {
                    (
                        t.launch_template_name().unwrap_or_default().to_string(),
                        t.version().unwrap_or("$Default").to_string(),
                    )
                });
            let instances = g
                .instances()
                .iter()
                .map(|i| GroupInstance {
                    id: i.instance_id().unwrap_or_default().to_string(),
                    lifecycle: i
                        .lifecycle_state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    health: i.health_status().unwrap_or_default().to_string(),
                    zone: i.availability_zone().unwrap_or_default().to_string(),
                    template_version: i
                        .launch_template()
                        .and_then(|t| t.version())
                        .map(str::to_string),
                })
                .collect();
            let name = g.auto_scaling_group_name().unwrap_or_default().to_string();
            let refresh = latest_refresh(clients, &name).await?;
            let size = |v: Option<i32>| u32::try_from(v.unwrap_or(0)).unwrap_or(0);
            out.push(AutoScalingGroupState {
                name,
                group,
                min: size(g.min_size()),
                max: size(g.max_size()),
                desired: size(g.desired_capacity()),
                subnets,
                template,
                instances,
                refresh,
                deleting,
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The group's most recent instance refresh (`DescribeInstanceRefreshes` lists newest
/// first).
async fn latest_refresh(clients: &Clients, group: &str) -> Result<Option<RefreshState>> {
    let out = clients
        .autoscaling
        .describe_instance_refreshes()
        .auto_scaling_group_name(group)
        .max_records(1)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("autoscaling:DescribeInstanceRefreshes", e))?;
    Ok(out.instance_refreshes().first().map(refresh_state))
}

/// An instance refresh as the SDK describes it.
pub fn refresh_state(r: &aws_sdk_autoscaling::types::InstanceRefresh) -> RefreshState {
    RefreshState {
        id: r.instance_refresh_id().unwrap_or_default().to_string(),
        status: r
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        percentage: r.percentage_complete(),
    }
}

async fn launch_templates(clients: &Clients, names: &Names) -> Result<Vec<LaunchTemplateState>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = clients
            .ec2
            .describe_launch_templates()
            .filters(
                Filter::builder()
                    .name(format!("tag:{TAG_STACK}"))
                    .values(&names.stack)
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:DescribeLaunchTemplates", e))?;
        for t in page.launch_templates() {
            let (ours, group) = owns(
                names,
                t.tags().iter().map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                }),
            );
            if !ours {
                continue;
            }
            let id = t.launch_template_id().unwrap_or_default().to_string();
            let data = default_version_data(clients, &id).await?;
            out.push(LaunchTemplateState {
                name: t.launch_template_name().unwrap_or_default().to_string(),
                group,
                default_version: t.default_version_number().unwrap_or(1),
                latest_version: t.latest_version_number().unwrap_or(1),
                data,
                id,
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

async fn default_version_data(clients: &Clients, id: &str) -> Result<Option<TemplateData>> {
    let out = clients
        .ec2
        .describe_launch_template_versions()
        .launch_template_id(id)
        .versions("$Default")
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("ec2:DescribeLaunchTemplateVersions", e))?;
    let Some(d) = out
        .launch_template_versions()
        .first()
        .and_then(|v| v.launch_template_data())
    else {
        return Ok(None);
    };
    let user_data_sha = d.user_data().map(|u| {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(u.trim())
            .unwrap_or_default();
        sha256_hex(&String::from_utf8_lossy(&decoded))
    });
    let encrypted_gp3 = d.block_device_mappings().iter().any(|b| {
        b.device_name() == Some(crate::ec2::ROOT_DEVICE)
            && b.ebs().is_some_and(|e| {
                e.encrypted() == Some(true)
                    && e.volume_type() == Some(&aws_sdk_ec2::types::VolumeType::Gp3)
            })
    });
    Ok(Some(TemplateData {
        image_id: d.image_id().unwrap_or_default().to_string(),
        instance_type: d
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        user_data_sha,
        security_groups: d.security_group_ids().to_vec(),
        profile: d
            .iam_instance_profile()
            .and_then(|p| p.name().or(p.arn()))
            .map(str::to_string),
        http_tokens: d
            .metadata_options()
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str().to_string()),
        encrypted_gp3,
    }))
}

/// The default-for-AZ subnets of `vpc` (where a group with no `subnets` launches).
async fn default_subnets(clients: &Clients, vpc: &str) -> Result<Vec<String>> {
    let out = clients
        .ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .filters(
            Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("ec2:DescribeSubnets", e))?;
    let mut ids: Vec<String> = out
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .collect();
    ids.sort();
    Ok(ids)
}

/// Every `[[groups]] subnets` entry exists and is in `vpc`, the VPC of the stack's
/// security group (a group launching elsewhere could not use it: every launch would fail).
async fn check_subnets(clients: &Clients, stack: &Stack, vpc: &str) -> Result<()> {
    let ids: Vec<String> = stack
        .groups
        .iter()
        .flat_map(|g| g.subnets.iter().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let out = clients
        .ec2
        .describe_subnets()
        .set_subnet_ids(Some(ids.clone()))
        .send()
        .await
        .map_err(|e| {
            let e = ReconcileError::from_sdk("ec2:DescribeSubnets", e);
            if e.is_not_found() {
                ReconcileError::Config(format!(
                    "a [[groups]] subnet does not exist in {}: {}",
                    clients.region,
                    e.service_message().unwrap_or_default()
                ))
            } else {
                e
            }
        })?;
    let found: std::collections::BTreeMap<&str, &str> = out
        .subnets()
        .iter()
        .filter_map(|s| Some((s.subnet_id()?, s.vpc_id()?)))
        .collect();
    for g in &stack.groups {
        for s in &g.subnets {
            match found.get(s.as_str()) {
                None => {
                    return Err(ReconcileError::Config(format!(
                        "group `{}`: subnet `{s}` does not exist in {}",
                        g.name, clients.region
                    )))
                }
                Some(v) if *v != vpc => {
                    return Err(ReconcileError::Config(format!(
                        "group `{}`: subnet `{s}` is in {v}, but the stack's security group \
                         is in {vpc} ([network]): list subnets of {vpc}, or set [network] \
                         vpc_id",
                        g.name
                    )))
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}
