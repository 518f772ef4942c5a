//! The EC2 reads of [`super::observe`]: security groups, instances, the network, the AMIs.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, InstanceStateName};
use monitor_stack::{Architecture, Stack};

use super::{ami_parameter, InstanceState, NetworkState, SecurityGroupState};
use crate::error::{ReconcileError, Result};
use crate::names::{Names, TAG_HOST, TAG_MANAGED_BY, TAG_STACK};
use crate::Clients;

fn owner_filters(names: &Names) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name(format!("tag:{TAG_STACK}"))
            .values(&names.stack)
            .build(),
        Filter::builder()
            .name(format!("tag:{TAG_MANAGED_BY}"))
            .values(crate::names::MANAGED_BY)
            .build(),
    ]
}

fn rule_summaries(perms: &[aws_sdk_ec2::types::IpPermission]) -> Vec<String> {
    let mut out = Vec::new();
    for p in perms {
        let proto = match p.ip_protocol().unwrap_or("-1") {
            "-1" => "all",
            other => other,
        };
        let ports = match (p.from_port(), p.to_port()) {
            (Some(f), Some(t)) if f == t && f >= 0 => format!(" {f}"),
            (Some(f), Some(t)) if f >= 0 => format!(" {f}-{t}"),
            _ => String::new(),
        };
        let mut sources: Vec<String> = p
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip().map(str::to_string))
            .collect();
        sources.extend(
            p.ipv6_ranges()
                .iter()
                .filter_map(|r| r.cidr_ipv6().map(str::to_string)),
        );
        sources.extend(
            p.user_id_group_pairs()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_string)),
        );
        sources.extend(
            p.prefix_list_ids()
                .iter()
                .filter_map(|g| g.prefix_list_id().map(str::to_string)),
        );
        if sources.is_empty() {
            sources.push("-".into());
        }
        for s in sources {
            out.push(format!("{proto}{ports} {s}"));
        }
    }
    out.sort();
    out
}

pub(super) async fn security_groups(
    clients: &Clients,
    names: &Names,
) -> Result<Vec<SecurityGroupState>> {
    let out = clients
        .ec2
        .describe_security_groups()
        .set_filters(Some(owner_filters(names)))
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("ec2:DescribeSecurityGroups", e))?;
    let mut groups: Vec<SecurityGroupState> = out
        .security_groups()
        .iter()
        .filter(|g| {
            names.owns(
                g.tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or(""))),
            )
        })
        .map(|g| SecurityGroupState {
            id: g.group_id().unwrap_or_default().to_string(),
            name: g.group_name().unwrap_or_default().to_string(),
            vpc_id: g.vpc_id().unwrap_or_default().to_string(),
            ingress: rule_summaries(g.ip_permissions()),
            egress: rule_summaries(g.ip_permissions_egress()),
        })
        .collect();
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(groups)
}

pub(super) async fn instances(clients: &Clients, names: &Names) -> Result<Vec<InstanceState>> {
    let mut filters = owner_filters(names);
    filters.push(
        Filter::builder()
            .name("instance-state-name")
            .set_values(Some(
                ["pending", "running", "stopping", "stopped", "shutting-down"]
                    .map(String::from)
                    .to_vec(),
            ))
            .build(),
    );
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = clients
            .ec2
            .describe_instances()
            .set_filters(Some(filters.clone()))
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:DescribeInstances", e))?;
        for r in page.reservations() {
            out.extend(
                r.instances()
                    .iter()
                    .filter_map(|i| owned_instance(i, names)),
            );
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort_by(|a, b| (&a.host, a.launched, &a.id).cmp(&(&b.host, b.launched, &b.id)));
    Ok(out)
}

/// `i`'s tags as a map.
pub(super) fn instance_tags(i: &aws_sdk_ec2::types::Instance) -> BTreeMap<String, String> {
    i.tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `i` as an [`InstanceState`], if it carries the stack's ownership tags, was not
/// launched by an Auto Scaling group, and has a state other than terminated.
fn owned_instance(i: &aws_sdk_ec2::types::Instance, names: &Names) -> Option<InstanceState> {
    let tags = instance_tags(i);
    if !names.owns(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        || tags.contains_key(crate::names::TAG_AUTOSCALING_GROUP)
    {
        return None;
    }
    let state = i.state().and_then(|s| s.name()).cloned()?;
    if state == InstanceStateName::Terminated {
        return None;
    }
    Some(InstanceState {
        id: i.instance_id().unwrap_or_default().to_string(),
        host: tags.get(TAG_HOST).cloned().unwrap_or_default(),
        state,
        instance_type: i
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        architecture: i
            .architecture()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default(),
        image_id: i.image_id().unwrap_or_default().to_string(),
        profile_arn: i
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .map(str::to_string),
        security_groups: i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
        subnet_id: i.subnet_id().map(str::to_string),
        http_tokens: i
            .metadata_options()
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str().to_string()),
        tags,
        launched: i.launch_time().map(|t| t.secs()).unwrap_or_default(),
    })
}

pub(super) async fn network(clients: &Clients, stack: &Stack) -> Result<NetworkState> {
    let net = &stack.network;
    if let Some(subnet) = &net.subnet_id {
        let out = clients
            .ec2
            .describe_subnets()
            .subnet_ids(subnet)
            .send()
            .await
            .map_err(|e| {
                let e = ReconcileError::from_sdk("ec2:DescribeSubnets", e);
                if e.is_not_found() {
                    ReconcileError::Config(format!(
                        "[network] subnet_id `{subnet}` does not exist in {}",
                        clients.region
                    ))
                } else {
                    e
                }
            })?;
        let vpc = out
            .subnets()
            .first()
            .and_then(|s| s.vpc_id())
            .ok_or_else(|| {
                ReconcileError::Config(format!(
                    "[network] subnet_id `{subnet}` does not exist in {}",
                    clients.region
                ))
            })?
            .to_string();
        if let Some(want) = &net.vpc_id {
            if *want != vpc {
                return Err(ReconcileError::Config(format!(
                    "[network] subnet_id `{subnet}` is in {vpc}, not in vpc_id `{want}`"
                )));
            }
        }
        return Ok(NetworkState {
            vpc_id: vpc,
            subnet_id: Some(subnet.clone()),
        });
    }
    let mut req = clients.ec2.describe_vpcs();
    req = match &net.vpc_id {
        Some(v) => req.vpc_ids(v),
        None => req.filters(Filter::builder().name("is-default").values("true").build()),
    };
    let out = req.send().await.map_err(|e| {
        let e = ReconcileError::from_sdk("ec2:DescribeVpcs", e);
        match (&net.vpc_id, e.is_not_found()) {
            (Some(v), true) => {
                ReconcileError::Config(format!("[network] vpc_id `{v}` does not exist"))
            }
            _ => e,
        }
    })?;
    let vpc = out
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .map(str::to_string)
        .ok_or_else(|| match &net.vpc_id {
            Some(v) => ReconcileError::Config(format!("[network] vpc_id `{v}` does not exist")),
            None => ReconcileError::Config(format!(
                "{} has no default VPC: set [network] subnet_id (and vpc_id) in stack.toml",
                clients.region
            )),
        })?;
    Ok(NetworkState {
        vpc_id: vpc,
        subnet_id: None,
    })
}

/// The latest AL2023 AMI for `arch`, from the SSM public parameter.
///
/// # Errors
/// [`ReconcileError::Config`] when the parameter does not exist in the region.
pub async fn ami(clients: &Clients, arch: Architecture) -> Result<String> {
    let name = ami_parameter(arch);
    let out = clients
        .ssm
        .get_parameter()
        .name(&name)
        .send()
        .await
        .map_err(|e| {
            let e = ReconcileError::from_sdk("ssm:GetParameter", e);
            if e.code() == Some("ParameterNotFound") {
                ReconcileError::Config(format!(
                    "SSM public parameter {name} does not exist in {}: no AL2023 {arch} AMI there",
                    clients.region
                ))
            } else {
                e
            }
        })?;
    out.parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .ok_or_else(|| ReconcileError::Config(format!("SSM parameter {name} has no value")))
}
