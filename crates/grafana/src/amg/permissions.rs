//! Who may use the workspace: IAM Identity Center groups and their Grafana roles
//! (`ListPermissions`, `UpdatePermissions`), and how the workspace's IAM permissions are
//! managed ([`PermissionType`]).

use std::collections::BTreeMap;

use aws_sdk_grafana::types::{
    PermissionType as SdkPermissionType, Role, UpdateAction, UpdateError, UpdateInstruction, User,
    UserType,
};
use serde::Serialize;

use super::{amg_err, Amg, IDENTITY_CENTER_HINT};
use crate::error::{Error, Result};

/// How the workspace's IAM permissions are managed (`permissionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum PermissionType {
    /// We create and pass the workspace role. The AMG API model says to use only this
    /// when creating a workspace through the API, CLI or CloudFormation: AWS creates and
    /// maintains the role only for console-created `SERVICE_MANAGED` workspaces.
    #[default]
    CustomerManaged,
    /// AWS manages the role's policies (the stack seed's value). Through the API AWS does
    /// not create the role, so the role we pass is still needed; offered for parity with
    /// workspaces created elsewhere.
    ServiceManaged,
}

impl PermissionType {
    pub(super) fn sdk(self) -> SdkPermissionType {
        match self {
            PermissionType::CustomerManaged => SdkPermissionType::CustomerManaged,
            PermissionType::ServiceManaged => SdkPermissionType::ServiceManaged,
        }
    }
}

impl From<&monitor_stack::GrafanaConfig> for RoleAssignments {
    fn from(g: &monitor_stack::GrafanaConfig) -> RoleAssignments {
        RoleAssignments {
            admin_group_ids: g.admin_group_ids.clone(),
            editor_group_ids: g.editor_group_ids.clone(),
            viewer_group_ids: g.viewer_group_ids.clone(),
        }
    }
}

impl From<monitor_stack::GrafanaPermissionType> for PermissionType {
    fn from(p: monitor_stack::GrafanaPermissionType) -> PermissionType {
        match p {
            monitor_stack::GrafanaPermissionType::CustomerManaged => {
                PermissionType::CustomerManaged
            }
            monitor_stack::GrafanaPermissionType::ServiceManaged => PermissionType::ServiceManaged,
        }
    }
}

/// Identity Center group ids per Grafana role (`[grafana]` of stack.toml).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleAssignments {
    /// Groups that get ADMIN.
    pub admin_group_ids: Vec<String>,
    /// Groups that get EDITOR.
    pub editor_group_ids: Vec<String>,
    /// Groups that get VIEWER.
    pub viewer_group_ids: Vec<String>,
}

impl RoleAssignments {
    fn by_role(&self) -> [(Role, &Vec<String>); 3] {
        [
            (Role::Admin, &self.admin_group_ids),
            (Role::Editor, &self.editor_group_ids),
            (Role::Viewer, &self.viewer_group_ids),
        ]
    }

    /// Checks the ids before any call: Identity Store group ids look like
    /// `906744f8-0011-70e6-ca9c-1a2b3c4d5e6f` (optionally prefixed `0123456789-`); a display
    /// name is the usual mistake. Also refuses a group listed under two roles.
    pub fn validate(&self) -> Result<()> {
        let mut seen: BTreeMap<&str, String> = BTreeMap::new();
        for (role, ids) in self.by_role() {
            for id in ids {
                if !monitor_stack::is_identity_store_group_id(id) {
                    return Err(Error::Config(format!(
                        "[grafana] {} group id {id:?} is not an IAM Identity Center group id: use the \"Group ID\" shown on the group's page in the IAM Identity Center console (a UUID like 906744f8-0011-70e6-ca9c-1a2b3c4d5e6f), not its display name",
                        role.as_str().to_lowercase()
                    )));
                }
                if let Some(other) = seen.insert(id, role.as_str().to_string()) {
                    return Err(Error::Config(format!(
                        "[grafana] group {id} is listed as both {other} and {}: a group has one role",
                        role.as_str()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether no group is listed (nobody could log in).
    pub fn is_empty(&self) -> bool {
        self.by_role().iter().all(|(_, ids)| ids.is_empty())
    }

    /// `(role, group id)` pairs.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.by_role()
            .iter()
            .flat_map(|(r, ids)| {
                ids.iter()
                    .map(move |id| (r.as_str().to_string(), id.clone()))
            })
            .collect()
    }
}

/// A permission entry of `ListPermissions` for a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupPermission {
    /// `ADMIN`, `EDITOR` or `VIEWER`.
    pub role: String,
    /// Identity Center group id.
    pub group_id: String,
}

const GROUP_NOT_FOUND_HINT: &str = "check the group ids in [grafana] of stack.toml: each must be the \"Group ID\" of an existing group in this account's IAM Identity Center instance (IAM Identity Center console → Groups → the group); `aws identitystore list-groups --identity-store-id d-…` lists them";

impl Amg {
    /// `ListPermissions` for Identity Center groups.
    pub async fn list_group_permissions(&self, workspace_id: &str) -> Result<Vec<GroupPermission>> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .list_permissions()
                .workspace_id(workspace_id)
                .user_type(UserType::SsoGroup)
                .set_next_token(next.clone())
                .send()
                .await
                .map_err(|e| amg_err("ListPermissions", e))?;
            for p in page.permissions() {
                if let Some(u) = p.user() {
                    if u.r#type() == &UserType::SsoGroup {
                        out.push(GroupPermission {
                            role: p.role().as_str().to_string(),
                            group_id: u.id().to_string(),
                        });
                    }
                }
            }
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Gives each listed group its role (`UpdatePermissions`, one ADD per role). With
    /// `prune`, groups holding a role that is no longer listed are revoked. AMG answers 200
    /// even when instructions fail (gotcha 17): the `errors` array is turned into
    /// [`Error::Permissions`] with what to do.
    pub async fn update_permissions(
        &self,
        workspace_id: &str,
        roles: &RoleAssignments,
        prune: bool,
    ) -> Result<()> {
        roles.validate()?;
        let instructions = self
            .permission_instructions(workspace_id, roles, prune)
            .await?;
        if instructions.is_empty() {
            return Ok(());
        }
        let out = self
            .client
            .update_permissions()
            .workspace_id(workspace_id)
            .set_update_instruction_batch(Some(instructions))
            .send()
            .await
            .map_err(|e| amg_err("UpdatePermissions", e))?;
        if out.errors().is_empty() {
            return Ok(());
        }
        Err(permissions_error(workspace_id, out.errors()))
    }

    /// One ADD instruction per role with groups and, with `prune`, one REVOKE per role for
    /// the groups `ListPermissions` shows holding it without being listed.
    async fn permission_instructions(
        &self,
        workspace_id: &str,
        roles: &RoleAssignments,
        prune: bool,
    ) -> Result<Vec<UpdateInstruction>> {
        let mut instructions = Vec::new();
        for (role, ids) in roles.by_role() {
            if ids.is_empty() {
                continue;
            }
            instructions.push(instruction(UpdateAction::Add, role, ids)?);
        }
        if prune {
            let wanted = roles.pairs();
            let mut revoke: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for p in self.list_group_permissions(workspace_id).await? {
                if !wanted.contains(&(p.role.clone(), p.group_id.clone())) {
                    revoke.entry(p.role).or_default().push(p.group_id);
                }
            }
            for (role, ids) in revoke {
                instructions.push(instruction(
                    UpdateAction::Revoke,
                    Role::from(role.as_str()),
                    &ids,
                )?);
            }
        }
        Ok(instructions)
    }
}

/// The `errors` of a 200 `UpdatePermissions` answer as [`Error::Permissions`], one line
/// per failed instruction, with the hint that fits them (unknown group, Identity Center,
/// anything else).
fn permissions_error(workspace_id: &str, update_errors: &[UpdateError]) -> Error {
    let mut not_found = false;
    let mut sso = false;
    let errors: Vec<String> = update_errors
        .iter()
        .map(|e| {
            let m = e.message().to_lowercase();
            not_found |= e.code() == 404 || m.contains("not found") || m.contains("does not exist");
            sso |=
                m.contains("sso") || m.contains("identity center") || m.contains("identity store");
            let what = e
                .caused_by()
                .map(|c| {
                    let ids: Vec<&str> = c.users().iter().map(|u| u.id()).collect();
                    format!(
                        "{} {} {}",
                        c.action().as_str(),
                        c.role().as_str(),
                        ids.join(",")
                    )
                })
                .unwrap_or_default();
            format!("{what}: {} {}", e.code(), e.message())
        })
        .collect();
    let hint = if not_found {
        GROUP_NOT_FOUND_HINT
    } else if sso {
        IDENTITY_CENTER_HINT
    } else {
        "fix the listed group ids or roles in [grafana] of stack.toml and re-run apply"
    };
    Error::Permissions {
        workspace_id: workspace_id.into(),
        errors,
        hint: hint.into(),
    }
}

fn instruction(action: UpdateAction, role: Role, ids: &[String]) -> Result<UpdateInstruction> {
    let build_err = |e: aws_sdk_grafana::error::BuildError| Error::Config(e.to_string());
    let mut b = UpdateInstruction::builder().action(action).role(role);
    for id in ids {
        b = b.users(
            User::builder()
                .id(id)
                .r#type(UserType::SsoGroup)
                .build()
                .map_err(build_err)?,
        );
    }
    b.build().map_err(build_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_are_validated() {
        let ok = RoleAssignments {
            admin_group_ids: vec!["906744f8-0011-70e6-ca9c-1a2b3c4d5e6f".into()],
            viewer_group_ids: vec!["1234567890-906744f8-0011-70e6-ca9c-1a2b3c4d5e6f".into()],
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        let name = RoleAssignments {
            editor_group_ids: vec!["Platform Team".into()],
            ..Default::default()
        };
        let e = name
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("not an IAM Identity Center group id"), "{e}");
        let twice = RoleAssignments {
            admin_group_ids: ok.admin_group_ids.clone(),
            viewer_group_ids: ok.admin_group_ids.clone(),
            ..Default::default()
        };
        assert!(twice.validate().is_err());
    }
}
