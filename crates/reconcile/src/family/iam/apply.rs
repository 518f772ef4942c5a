//! The IAM executor: carries out an [`IamOp`] exactly as planned.

use super::IamOp;
use crate::error::{ReconcileError, Result};
use crate::family::{ignore_not_found, Env, Known, Produced, StepOutput};
use crate::names::Names;
use crate::policy::PolicyDocument;

pub(crate) async fn apply(env: &Env<'_>, known: &Known, op: &IamOp) -> Result<StepOutput> {
    let iam = &env.clients.iam;
    let msg = |s: &str| Ok(StepOutput::message(s.to_string()));
    match op {
        IamOp::CreateRole {
            role,
            description,
            trust,
        } => create_role(env, role, description, trust).await,
        IamOp::UpdateTrust { role, trust } => {
            update_trust(env, role, trust).await?;
            msg("trust policy updated")
        }
        IamOp::DeleteRole { role } => delete_role_named(env, role).await,
        IamOp::PutRolePolicy {
            role,
            name,
            document,
        } => {
            let created = known.amp.as_ref().map(|w| w.arn.as_str());
            let doc = document.document(created)?;
            iam.put_role_policy()
                .role_name(role)
                .policy_name(name)
                .policy_document(doc.to_json())
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("iam:PutRolePolicy", e))?;
            let arn = document.workspace_arn().or(created).unwrap_or_default();
            msg(&format!("{} scoped to {arn}", document.amp_action()))
        }
        IamOp::DeleteRolePolicy { role, name } => {
            match iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
            {
                Ok(_) => msg("deleted"),
                Err(e) => ignore_not_found(ReconcileError::from_sdk("iam:DeleteRolePolicy", e))
                    .and_then(|()| msg("already gone")),
            }
        }
        IamOp::AttachRolePolicy { role, policy_arn } => {
            iam.attach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("iam:AttachRolePolicy", e))?;
            msg(&format!("attached {policy_arn}"))
        }
        IamOp::DetachRolePolicy { role, policy_arn } => {
            match iam
                .detach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send()
                .await
            {
                Ok(_) => msg("detached"),
                Err(e) => ignore_not_found(ReconcileError::from_sdk("iam:DetachRolePolicy", e))
                    .and_then(|()| msg("already detached")),
            }
        }
        IamOp::EnsureInstanceProfile { name, role } => ensure_profile(env, name, role).await,
        IamOp::DeleteInstanceProfile { name } => delete_profile(env, name).await,
    }
}

fn iam_tags(names: &Names) -> Vec<aws_sdk_iam::types::Tag> {
    names
        .owner_tags()
        .into_iter()
        .filter_map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect()
}

async fn create_role(
    env: &Env<'_>,
    role: &str,
    description: &str,
    trust: &PolicyDocument,
) -> Result<StepOutput> {
    let r = env
        .clients
        .iam
        .create_role()
        .role_name(role)
        .assume_role_policy_document(trust.to_json())
        .description(description)
        .set_tags(Some(iam_tags(&env.names)))
        .send()
        .await;
    match r {
        Ok(out) => {
            let arn = out.role().map(|r| r.arn().to_string()).unwrap_or_default();
            Ok(StepOutput {
                message: format!("created {arn}"),
                produced: Some(Produced::Role {
                    name: role.to_string(),
                    arn,
                }),
            })
        }
        Err(e) => {
            let e = ReconcileError::from_sdk("iam:CreateRole", e);
            if e.code() != Some("EntityAlreadyExists") {
                return Err(e);
            }
            update_trust(env, role, trust).await?;
            Ok(StepOutput::message(
                "already existed; trust policy reconciled".into(),
            ))
        }
    }
}

async fn update_trust(env: &Env<'_>, role: &str, trust: &PolicyDocument) -> Result<()> {
    env.clients
        .iam
        .update_assume_role_policy()
        .role_name(role)
        .policy_document(trust.to_json())
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:UpdateAssumeRolePolicy", e))?;
    Ok(())
}

async fn ensure_profile(env: &Env<'_>, name: &str, role: &str) -> Result<StepOutput> {
    let iam = &env.clients.iam;
    let created = match iam
        .create_instance_profile()
        .instance_profile_name(name)
        .set_tags(Some(iam_tags(&env.names)))
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) => {
            let e = ReconcileError::from_sdk("iam:CreateInstanceProfile", e);
            if e.code() != Some("EntityAlreadyExists") {
                return Err(e);
            }
            false
        }
    };
    let roles = profile_roles(env, name).await?.unwrap_or_default();
    for r in roles.iter().filter(|r| *r != role) {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(r)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:RemoveRoleFromInstanceProfile", e))?;
    }
    if !roles.iter().any(|r| r == role) {
        iam.add_role_to_instance_profile()
            .instance_profile_name(name)
            .role_name(role)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:AddRoleToInstanceProfile", e))?;
    }
    Ok(StepOutput::message(format!(
        "{} {name} with role {role}",
        if created { "created" } else { "reconciled" },
    )))
}

/// The role names in profile `name`; `None` when the profile does not exist.
async fn profile_roles(env: &Env<'_>, name: &str) -> Result<Option<Vec<String>>> {
    match env
        .clients
        .iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.instance_profile()
                .map(|p| {
                    p.roles()
                        .iter()
                        .map(|r| r.role_name().to_string())
                        .collect()
                })
                .unwrap_or_default(),
        )),
        Err(e) => {
            let e = ReconcileError::from_sdk("iam:GetInstanceProfile", e);
            if e.is_not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

async fn delete_profile(env: &Env<'_>, name: &str) -> Result<StepOutput> {
    let iam = &env.clients.iam;
    let Some(roles) = profile_roles(env, name).await? else {
        return Ok(StepOutput::message("already gone".into()));
    };
    for r in roles {
        iam.remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(r)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:RemoveRoleFromInstanceProfile", e))?;
    }
    match iam
        .delete_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(StepOutput::message("deleted".into())),
        Err(e) => ignore_not_found(ReconcileError::from_sdk("iam:DeleteInstanceProfile", e))
            .map(|()| StepOutput::message("already gone".into())),
    }
}

/// Deletes `role` with whatever inline and attached policies it still has (a policy
/// added by hand, an interrupted destroy).
async fn delete_role_named(env: &Env<'_>, role: &str) -> Result<StepOutput> {
    let iam = &env.clients.iam;
    let policies = match iam.list_role_policies().role_name(role).send().await {
        Ok(o) => o.policy_names().to_vec(),
        Err(e) => {
            return ignore_not_found(ReconcileError::from_sdk("iam:ListRolePolicies", e))
                .map(|()| StepOutput::message("already gone".into()))
        }
    };
    for p in policies {
        iam.delete_role_policy()
            .role_name(role)
            .policy_name(&p)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:DeleteRolePolicy", e))?;
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:ListAttachedRolePolicies", e))?;
    for arn in attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
    {
        iam.detach_role_policy()
            .role_name(role)
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:DetachRolePolicy", e))?;
    }
    match iam.delete_role().role_name(role).send().await {
        Ok(_) => Ok(StepOutput::message("deleted".into())),
        Err(e) => ignore_not_found(ReconcileError::from_sdk("iam:DeleteRole", e))
            .map(|()| StepOutput::message("already gone".into())),
    }
}
