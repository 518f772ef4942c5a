//! The hosts' security group: no inbound rule at all (operators use SSM), outbound HTTPS
//! only. Kept: the group in the stack's VPC ([`Observed::security_group`]); others
//! tagged with the stack are deleted.

use std::time::Duration;

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, Tag, TagSpecification};
use serde::Serialize;

use super::{Env, Known, Produced, StepOutput};
use crate::error::{ReconcileError, Result};
use crate::observe::{Observed, SecurityGroupState};
use crate::plan::{Action, Change, Detail, Resource, ResourceKind};
use crate::Desired;

/// The only rule the group has, as the plan shows it.
pub const HTTPS_EGRESS: &str = "tcp 443 0.0.0.0/0";

/// What apply does to the security group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NetworkOp {
    /// CreateSecurityGroup in `vpc_id`, then set its rules.
    CreateSecurityGroup {
        /// Group name.
        name: String,
        /// VPC.
        vpc_id: String,
    },
    /// Revoke every inbound rule and every outbound rule but HTTPS; add HTTPS if missing.
    ReconcileRules {
        /// `sg-…`.
        id: String,
    },
    /// DeleteSecurityGroup, retried while terminated instances release their interfaces.
    DeleteSecurityGroup {
        /// `sg-…`.
        id: String,
    },
}

/// The apply plan's security-group changes.
pub(crate) fn plan(desired: &Desired, observed: &Observed) -> Vec<Change> {
    let names = &desired.names;
    let vpc = observed.network.as_ref().map(|n| n.vpc_id.as_str());
    let keeper = observed.security_group();
    let mut changes = Vec::new();
    for g in &observed.security_groups {
        if keeper.is_some_and(|k| k.id == g.id) {
            continue;
        }
        let reason = if Some(g.vpc_id.as_str()) != vpc {
            format!(
                "security group is in {}, the stack's VPC is {}",
                g.vpc_id,
                vpc.unwrap_or("-")
            )
        } else {
            "duplicate security group tagged with the stack".to_string()
        };
        changes.push(delete(g, reason));
    }
    match (keeper, vpc) {
        (None, vpc) => changes.push(
            Change::new(
                Resource::new(ResourceKind::SecurityGroup, &names.security_group, None),
                Action::Create,
                "no security group tagged with the stack in the VPC",
                NetworkOp::CreateSecurityGroup {
                    name: names.security_group.clone(),
                    vpc_id: vpc.unwrap_or_default().to_string(),
                },
            )
            .detail(Detail::new("vpc_id", None, vpc))
            .detail(Detail::new("ingress", None, Some("(none)")))
            .detail(Detail::new("egress", None, Some(HTTPS_EGRESS))),
        ),
        (Some(g), _) => changes.extend(rules_change(g)),
    }
    changes
}

fn rules_change(g: &SecurityGroupState) -> Option<Change> {
    let mut c = Change::new(
        Resource::new(ResourceKind::SecurityGroup, &g.name, Some(g.id.clone())),
        Action::Update,
        "rules differ from: no inbound, outbound HTTPS only",
        NetworkOp::ReconcileRules { id: g.id.clone() },
    );
    if !g.ingress.is_empty() {
        c = c.detail(Detail::new(
            "ingress",
            Some(&g.ingress.join(", ")),
            Some("(none)"),
        ));
    }
    if g.egress != [HTTPS_EGRESS] {
        c = c.detail(Detail::new(
            "egress",
            Some(&g.egress.join(", ")),
            Some(HTTPS_EGRESS),
        ));
    }
    (!c.details.is_empty()).then_some(c)
}

fn delete(g: &SecurityGroupState, reason: impl Into<String>) -> Change {
    Change::new(
        Resource::new(ResourceKind::SecurityGroup, &g.name, Some(g.id.clone())),
        Action::Delete,
        reason,
        NetworkOp::DeleteSecurityGroup { id: g.id.clone() },
    )
}

/// The destroy plan's security-group changes.
pub(crate) fn plan_destroy(observed: &Observed) -> Vec<Change> {
    observed
        .security_groups
        .iter()
        .map(|g| delete(g, "destroy: security group tagged with the stack"))
        .collect()
}

pub(crate) async fn apply(env: &Env<'_>, _known: &Known, op: &NetworkOp) -> Result<StepOutput> {
    match op {
        NetworkOp::CreateSecurityGroup { name, vpc_id } => create(env, name, vpc_id).await,
        NetworkOp::ReconcileRules { id } => {
            fix_rules(env, id).await?;
            Ok(StepOutput::message(format!("rules of {id} reconciled")))
        }
        NetworkOp::DeleteSecurityGroup { id } => delete_group(env, id).await,
    }
}

fn https_egress() -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(
            IpRange::builder()
                .cidr_ip("0.0.0.0/0")
                .description("HTTPS to AWS APIs (SSM, AMP, CloudWatch Logs) and package repos")
                .build(),
        )
        .build()
}

async fn create(env: &Env<'_>, name: &str, vpc: &str) -> Result<StepOutput> {
    if vpc.is_empty() {
        return Err(ReconcileError::Failed("network not resolved".into()));
    }
    let mut tags = env.names.owner_tags();
    tags.insert("Name".into(), name.to_string());
    let out = env
        .clients
        .ec2
        .create_security_group()
        .group_name(name)
        .description(format!(
            "monitoring hosts of stack {}: no inbound (SSM access), HTTPS out",
            env.names.stack
        ))
        .vpc_id(vpc)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .set_tags(Some(
                    tags.iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .build(),
        )
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("ec2:CreateSecurityGroup", e))?;
    let id = out
        .group_id()
        .ok_or_else(|| ReconcileError::Failed("CreateSecurityGroup returned no id".into()))?
        .to_string();
    fix_rules(env, &id).await?;
    Ok(StepOutput {
        message: format!("created {id} in {vpc}"),
        produced: Some(Produced::SecurityGroup(id)),
    })
}

fn is_https(p: &IpPermission) -> bool {
    p.ip_protocol() == Some("tcp")
        && p.from_port() == Some(443)
        && p.to_port() == Some(443)
        && p.ip_ranges().len() == 1
        && p.ip_ranges()[0].cidr_ip() == Some("0.0.0.0/0")
        && p.ipv6_ranges().is_empty()
        && p.user_id_group_pairs().is_empty()
        && p.prefix_list_ids().is_empty()
}

async fn fix_rules(env: &Env<'_>, id: &str) -> Result<()> {
    let ec2 = &env.clients.ec2;
    let out = ec2
        .describe_security_groups()
        .group_ids(id)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("ec2:DescribeSecurityGroups", e))?;
    let Some(g) = out.security_groups().first() else {
        return Err(ReconcileError::Failed(format!(
            "security group {id} vanished"
        )));
    };
    if !g.ip_permissions().is_empty() {
        ec2.revoke_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(g.ip_permissions().to_vec()))
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:RevokeSecurityGroupIngress", e))?;
    }
    let egress = g.ip_permissions_egress();
    let unwanted: Vec<IpPermission> = egress.iter().filter(|p| !is_https(p)).cloned().collect();
    if !unwanted.is_empty() {
        ec2.revoke_security_group_egress()
            .group_id(id)
            .set_ip_permissions(Some(unwanted))
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:RevokeSecurityGroupEgress", e))?;
    }
    if !egress.iter().any(is_https) {
        ec2.authorize_security_group_egress()
            .group_id(id)
            .ip_permissions(https_egress())
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("ec2:AuthorizeSecurityGroupEgress", e))?;
    }
    Ok(())
}

async fn delete_group(env: &Env<'_>, id: &str) -> Result<StepOutput> {
    // Network interfaces of terminated instances are released asynchronously:
    // DependencyViolation is retried (doubling the delay) until the wait timeout.
    let backoff = crate::poll::Backoff {
        initial: env.opts.poll,
        max: Duration::from_secs(15),
        deadline: env.opts.wait_timeout,
    };
    let deleted = crate::poll::retry_transient(
        &backoff,
        |e: &ReconcileError| e.code() == Some("DependencyViolation"),
        |_, delay| tracing::info!(group = id, ?delay, "security group still in use; retrying"),
        || async {
            match env
                .clients
                .ec2
                .delete_security_group()
                .group_id(id)
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e) => match ReconcileError::from_sdk("ec2:DeleteSecurityGroup", e) {
                    e if e.is_not_found() => Ok(false),
                    e => Err(e),
                },
            }
        },
    )
    .await
    .map_err(|g| match g {
        crate::poll::GaveUp::Permanent(e) | crate::poll::GaveUp::Deadline(e) => e,
    })?;
    Ok(StepOutput::message(if deleted {
        format!("deleted {id}")
    } else {
        format!("{id} already gone")
    }))
}
