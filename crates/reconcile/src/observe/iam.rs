//! The IAM reads of [`super::observe`]: IAM has no tag search, so roles and the instance
//! profile are looked up by their stack-derived names, then proven ours by their tags.

use std::collections::BTreeMap;

use super::{ProfileState, RoleState};
use crate::error::{ReconcileError, Result};
use crate::names::Names;
use crate::policy::parse_document;
use crate::Clients;

fn iam_tags_ours(names: &Names, tags: &[aws_sdk_iam::types::Tag]) -> bool {
    names.owns(tags.iter().map(|t| (t.key(), t.value())))
}

pub(super) async fn role(
    clients: &Clients,
    names: &Names,
    role_name: &str,
    policy_name: &str,
) -> Result<Option<RoleState>> {
    let role = match clients.iam.get_role().role_name(role_name).send().await {
        Ok(out) => match out.role {
            Some(r) => r,
            None => return Ok(None),
        },
        Err(e) => {
            let e = ReconcileError::from_sdk("iam:GetRole", e);
            return if e.is_not_found() { Ok(None) } else { Err(e) };
        }
    };
    let mut tags = role.tags().to_vec();
    if tags.is_empty() {
        tags = clients
            .iam
            .list_role_tags()
            .role_name(role_name)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:ListRoleTags", e))?
            .tags()
            .to_vec();
    }
    if !iam_tags_ours(names, &tags) {
        return Err(ReconcileError::NotOurs {
            kind: "IAM role",
            name: role_name.to_string(),
            stack: names.stack.clone(),
        });
    }
    let inline_policy_names = clients
        .iam
        .list_role_policies()
        .role_name(role_name)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:ListRolePolicies", e))?
        .policy_names()
        .to_vec();
    let mut inline_policies = BTreeMap::new();
    for name in inline_policy_names {
        let doc = if name == policy_name {
            let out = clients
                .iam
                .get_role_policy()
                .role_name(role_name)
                .policy_name(policy_name)
                .send()
                .await
                .map_err(|e| ReconcileError::from_sdk("iam:GetRolePolicy", e))?;
            parse_document(out.policy_document())
        } else {
            None
        };
        inline_policies.insert(name, doc);
    }
    let attached = clients
        .iam
        .list_attached_role_policies()
        .role_name(role_name)
        .send()
        .await
        .map_err(|e| ReconcileError::from_sdk("iam:ListAttachedRolePolicies", e))?
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    Ok(Some(RoleState {
        name: role.role_name().to_string(),
        arn: role.arn().to_string(),
        trust_policy: role.assume_role_policy_document().and_then(parse_document),
        inline_policies,
        attached,
    }))
}

pub(super) async fn instance_profile(
    clients: &Clients,
    names: &Names,
) -> Result<Option<ProfileState>> {
    let profile = match clients
        .iam
        .get_instance_profile()
        .instance_profile_name(&names.instance_profile)
        .send()
        .await
    {
        Ok(out) => match out.instance_profile {
            Some(p) => p,
            None => return Ok(None),
        },
        Err(e) => {
            let e = ReconcileError::from_sdk("iam:GetInstanceProfile", e);
            return if e.is_not_found() { Ok(None) } else { Err(e) };
        }
    };
    let mut tags = profile.tags().to_vec();
    if tags.is_empty() {
        tags = clients
            .iam
            .list_instance_profile_tags()
            .instance_profile_name(&names.instance_profile)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("iam:ListInstanceProfileTags", e))?
            .tags()
            .to_vec();
    }
    if !iam_tags_ours(names, &tags) {
        return Err(ReconcileError::NotOurs {
            kind: "IAM instance profile",
            name: names.instance_profile.clone(),
            stack: names.stack.clone(),
        });
    }
    Ok(Some(ProfileState {
        name: profile.instance_profile_name().to_string(),
        arn: profile.arn().to_string(),
        roles: profile
            .roles()
            .iter()
            .map(|r| r.role_name().to_string())
            .collect(),
    }))
}
