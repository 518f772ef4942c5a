//! Amazon Managed Grafana control plane (`aws-sdk-grafana`): find the stack's workspace by
//! tags, create it, wait until it is ACTIVE, give Identity Center groups their roles, and
//! hand out a short-lived Grafana API token that is deleted after the run.
//!
//! API reference: <https://docs.aws.amazon.com/grafana/latest/APIReference/> (REST-JSON,
//! SigV4 service `grafana`). The client is passed in, built from the process' one
//! `SdkConfig`, so tests point it at wiremock with `endpoint_url`.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_grafana::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_grafana::types::{
    AccountAccessType, AuthenticationProviderTypes, DataSourceType, NotificationDestinationType,
    PermissionType as SdkPermissionType, Role, UpdateAction, UpdateInstruction, User, UserType,
    WorkspaceStatus,
};
use serde::Serialize;

use crate::api::GrafanaToken;
use crate::error::{Error, Result};

/// Grafana version pinned for new workspaces (a value of AMG `ListVersions`). 10.4 keeps
/// the core Prometheus datasource with SigV4; 12.x switches to the Amazon Prometheus
/// plugin, which [`crate::api::prometheus_type_for`] handles.
pub const DEFAULT_GRAFANA_VERSION: &str = "10.4";
/// Lifetime of the per-run API token: long enough for one apply or verify, short enough
/// that a leaked token is useless soon (AMG allows up to 30 days).
pub const TOKEN_TTL: Duration = Duration::from_secs(900);
/// Name prefix of the per-run service accounts (stale ones with it are removed).
pub const SERVICE_ACCOUNT_PREFIX: &str = "monitor-provision";

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
    fn sdk(self) -> SdkPermissionType {
        match self {
            PermissionType::CustomerManaged => SdkPermissionType::CustomerManaged,
            PermissionType::ServiceManaged => SdkPermissionType::ServiceManaged,
        }
    }
}

/// Everything needed to create the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceSpec {
    /// Workspace name (`<stack>-grafana`).
    pub name: String,
    /// Description.
    pub description: String,
    /// ARN of the workspace IAM role (created by the provisioning reconciler).
    pub role_arn: String,
    /// Permission type (default customer-managed).
    pub permission_type: PermissionType,
    /// Pinned Grafana version (default [`DEFAULT_GRAFANA_VERSION`]).
    pub grafana_version: String,
    /// Tags the workspace is created with and found again by.
    pub tags: BTreeMap<String, String>,
    /// Let admins install plugins from the Grafana UI.
    pub plugin_admin: bool,
}

impl WorkspaceSpec {
    /// A spec with the defaults for `stack_name`.
    pub fn new(stack_name: &str, role_arn: &str, tags: BTreeMap<String, String>) -> WorkspaceSpec {
        WorkspaceSpec {
            name: format!("{stack_name}-grafana"),
            description: format!(
                "Dashboards of the {stack_name} monitoring stack (managed by monitor-provision)"
            ),
            role_arn: role_arn.into(),
            permission_type: PermissionType::default(),
            grafana_version: DEFAULT_GRAFANA_VERSION.into(),
            tags,
            plugin_admin: false,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkspaceConfiguration {
    plugins: PluginsConfiguration,
    unified_alerting: UnifiedAlerting,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PluginsConfiguration {
    plugin_admin_enabled: bool,
}

#[derive(Serialize)]
struct UnifiedAlerting {
    enabled: bool,
}

/// The workspace `configuration` JSON string (gotcha 14): unified alerting on, plugin
/// admin as configured.
pub fn workspace_configuration(spec: &WorkspaceSpec) -> String {
    serde_json::to_string(&WorkspaceConfiguration {
        plugins: PluginsConfiguration {
            plugin_admin_enabled: spec.plugin_admin,
        },
        unified_alerting: UnifiedAlerting { enabled: true },
    })
    .unwrap_or_default()
}

/// The ARN of workspace `workspace_id` (`DescribeWorkspace` does not return it):
/// `arn:{partition}:grafana:{region}:{account}:/workspaces/{id}`, as in the Service
/// Authorization Reference for Amazon Managed Grafana.
pub fn workspace_arn(region: &str, account_id: &str, workspace_id: &str) -> String {
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    format!("arn:{partition}:grafana:{region}:{account_id}:/workspaces/{workspace_id}")
}

fn status_str<S: serde::Serializer>(
    s: &WorkspaceStatus,
    ser: S,
) -> std::result::Result<S::Ok, S::Error> {
    ser.serialize_str(s.as_str())
}

/// What we need to know about a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    /// `g-…`.
    pub id: String,
    /// Host name of the Grafana endpoint (no scheme).
    pub endpoint: String,
    /// Grafana version.
    pub grafana_version: String,
    /// Status, as the SDK's enum (serialised as its AWS string).
    #[serde(serialize_with = "status_str")]
    pub status: WorkspaceStatus,
    /// Workspace IAM role.
    pub role_arn: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

impl Workspace {
    /// Whether the workspace is ACTIVE (ready for permissions, tokens and content).
    pub fn is_active(&self) -> bool {
        self.status == WorkspaceStatus::Active
    }

    /// Whether the workspace is in a failed state (`FAILED`, `CREATION_FAILED`, …): it
    /// must be deleted and created again.
    pub fn is_failed(&self) -> bool {
        matches!(
            self.status,
            WorkspaceStatus::Failed
                | WorkspaceStatus::CreationFailed
                | WorkspaceStatus::DeletionFailed
                | WorkspaceStatus::UpdateFailed
                | WorkspaceStatus::UpgradeFailed
                | WorkspaceStatus::LicenseRemovalFailed
                | WorkspaceStatus::VersionUpdateFailed
        )
    }

    fn from_description(d: &aws_sdk_grafana::types::WorkspaceDescription) -> Workspace {
        Workspace {
            id: d.id().to_string(),
            endpoint: d.endpoint().to_string(),
            grafana_version: d.grafana_version().to_string(),
            status: d.status().clone(),
            role_arn: d.workspace_role_arn().map(str::to_string),
            tags: d
                .tags()
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        }
    }
}

/// One tick of [`Amg::wait_active`], for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitProgress {
    /// Status just read.
    pub status: String,
    /// Time waited so far.
    pub elapsed: Duration,
    /// The deadline.
    pub deadline: Duration,
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
                if !looks_like_group_id(id) {
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

fn looks_like_group_id(id: &str) -> bool {
    let uuid = match id.len() {
        36 => id,
        47 if id.as_bytes()[10] == b'-' && id[..10].bytes().all(|b| b.is_ascii_hexdigit()) => {
            &id[11..]
        }
        _ => return false,
    };
    uuid.char_indices().all(|(i, c)| {
        if [8, 13, 18, 23].contains(&i) {
            c == '-'
        } else {
            c.is_ascii_hexdigit()
        }
    })
}

/// A permission entry of `ListPermissions` for a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupPermission {
    /// `ADMIN`, `EDITOR` or `VIEWER`.
    pub role: String,
    /// Identity Center group id.
    pub group_id: String,
}

const IDENTITY_CENTER_HINT: &str = "AWS_SSO workspaces need IAM Identity Center: enable it (IAM Identity Center console → Enable, an organization instance in the workspace's region) and create the groups, then put their Group IDs in [grafana] of stack.toml and re-run apply";
const GROUP_NOT_FOUND_HINT: &str = "check the group ids in [grafana] of stack.toml: each must be the \"Group ID\" of an existing group in this account's IAM Identity Center instance (IAM Identity Center console → Groups → the group); `aws identitystore list-groups --identity-store-id d-…` lists them";

fn amg_err<E, R>(operation: &'static str, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    let code = e.code().unwrap_or_default().to_string();
    let text = e.message().unwrap_or_default().to_lowercase();
    let hint = match code.as_str() {
        "AccessDeniedException" => Some(format!(
            "the caller may not call {operation}: it needs grafana:{operation} (and iam:PassRole on the workspace role for CreateWorkspace; AWSGrafanaWorkspacePermissionManagementV2 plus Identity Center read access for permissions)"
        )),
        "ResourceNotFoundException" => Some("the workspace or service account no longer exists; re-run apply".to_string()),
        "ServiceQuotaExceededException" => Some("AMG workspace quota reached in this region: delete an unused workspace or ask for a quota increase".to_string()),
        "ThrottlingException" => Some("AMG throttled the call; re-run in a minute".to_string()),
        _ if text.contains("sso") || text.contains("identity center") || text.contains("organization") => {
            Some(IDENTITY_CENTER_HINT.to_string())
        }
        _ => None,
    };
    Error::Amg {
        operation,
        message: DisplayErrorContext(&e).to_string(),
        hint,
    }
}

/// The AMG control plane for the stack.
#[derive(Debug, Clone)]
pub struct Amg {
    client: aws_sdk_grafana::Client,
}

impl Amg {
    /// Wraps a client built from the process' `SdkConfig`.
    pub fn new(client: aws_sdk_grafana::Client) -> Amg {
        Amg { client }
    }

    /// The workspace carrying all of `tags` (deleted ones ignored); `None` if there is none.
    /// Several matches are an error: the stack would not know which one is its own.
    pub async fn find_by_tags(&self, tags: &BTreeMap<String, String>) -> Result<Option<Workspace>> {
        let mut found = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .list_workspaces()
                .set_next_token(next.clone())
                .send()
                .await
                .map_err(|e| amg_err("ListWorkspaces", e))?;
            for w in page.workspaces() {
                let wt = w.tags();
                let matches = tags
                    .iter()
                    .all(|(k, v)| wt.and_then(|t| t.get(k)).is_some_and(|x| x == v));
                let gone = matches!(w.status(), WorkspaceStatus::Deleting);
                if matches && !gone {
                    found.push(w.id().to_string());
                }
            }
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
        match found.as_slice() {
            [] => Ok(None),
            [id] => self.describe(id).await.map(Some),
            ids => Err(Error::Config(format!(
                "several AMG workspaces carry the stack tags {tags:?}: {} — delete the extra ones",
                ids.join(", ")
            ))),
        }
    }

    /// `DescribeWorkspace`.
    pub async fn describe(&self, workspace_id: &str) -> Result<Workspace> {
        let out = self
            .client
            .describe_workspace()
            .workspace_id(workspace_id)
            .send()
            .await
            .map_err(|e| amg_err("DescribeWorkspace", e))?;
        out.workspace()
            .map(Workspace::from_description)
            .ok_or_else(|| Error::Amg {
                operation: "DescribeWorkspace",
                message: "response carried no workspace".into(),
                hint: None,
            })
    }

    /// `CreateWorkspace`: AWS_SSO, current account, PROMETHEUS + CLOUDWATCH, SNS
    /// notifications, pinned version, unified alerting, our role and tags. Returns at once
    /// (status CREATING); follow with [`Amg::wait_active`].
    pub async fn create(&self, spec: &WorkspaceSpec) -> Result<Workspace> {
        if spec.role_arn.is_empty() {
            return Err(Error::Config(
                "the workspace needs its IAM role ARN (create the role first)".into(),
            ));
        }
        let mut req = self
            .client
            .create_workspace()
            .account_access_type(AccountAccessType::CurrentAccount)
            .authentication_providers(AuthenticationProviderTypes::AwsSso)
            .permission_type(spec.permission_type.sdk())
            .workspace_role_arn(&spec.role_arn)
            .workspace_name(&spec.name)
            .workspace_description(&spec.description)
            .workspace_data_sources(DataSourceType::Prometheus)
            .workspace_data_sources(DataSourceType::Cloudwatch)
            .workspace_notification_destinations(NotificationDestinationType::Sns)
            .grafana_version(&spec.grafana_version)
            .configuration(workspace_configuration(spec));
        for (k, v) in &spec.tags {
            req = req.tags(k, v);
        }
        let out = req
            .send()
            .await
            .map_err(|e| amg_err("CreateWorkspace", e))?;
        out.workspace()
            .map(Workspace::from_description)
            .ok_or_else(|| Error::Amg {
                operation: "CreateWorkspace",
                message: "response carried no workspace".into(),
                hint: None,
            })
    }

    /// `DeleteWorkspace`: starts deleting the workspace (it goes `DELETING`, then away;
    /// [`Amg::find_by_tags`] ignores it from the first moment). `false` when it was already
    /// gone (`ResourceNotFoundException`), so a repeated destroy succeeds.
    pub async fn delete_workspace(&self, workspace_id: &str) -> Result<bool> {
        match self
            .client
            .delete_workspace()
            .workspace_id(workspace_id)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(false),
            Err(e) => Err(amg_err("DeleteWorkspace", e)),
        }
    }

    /// `TagResource` on a workspace (`POST /tags/{resourceArn}` with `{"tags": {…}}`,
    /// <https://docs.aws.amazon.com/grafana/latest/APIReference/API_TagResource.html>):
    /// adds `tags`, overwriting the values of keys it already carries. `arn` is the
    /// workspace ARN ([`workspace_arn`]).
    pub async fn tag_workspace(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<()> {
        let mut req = self.client.tag_resource().resource_arn(arn);
        for (k, v) in tags {
            req = req.tags(k, v);
        }
        req.send().await.map_err(|e| amg_err("TagResource", e))?;
        Ok(())
    }

    /// Finds the workspace by the spec's tags or creates it; `true` if created.
    pub async fn ensure(&self, spec: &WorkspaceSpec) -> Result<(Workspace, bool)> {
        match self.find_by_tags(&spec.tags).await? {
            Some(w) => Ok((w, false)),
            None => Ok((self.create(spec).await?, true)),
        }
    }

    /// Polls `DescribeWorkspace` every `poll` until ACTIVE, calling `progress` after each
    /// read. Fails at once on a *_FAILED status and after `deadline` otherwise.
    pub async fn wait_active(
        &self,
        workspace_id: &str,
        deadline: Duration,
        poll: Duration,
        mut progress: impl FnMut(&WaitProgress),
    ) -> Result<Workspace> {
        let start = Instant::now();
        loop {
            let w = self.describe(workspace_id).await?;
            progress(&WaitProgress {
                status: w.status.as_str().to_string(),
                elapsed: start.elapsed(),
                deadline,
            });
            if w.is_active() {
                return Ok(w);
            }
            if w.is_failed() {
                return Err(Error::WorkspaceFailed {
                    workspace_id: workspace_id.into(),
                    status: w.status.as_str().to_string(),
                });
            }
            if start.elapsed() + poll > deadline {
                return Err(Error::WorkspaceTimeout {
                    workspace_id: workspace_id.into(),
                    status: w.status.as_str().to_string(),
                    waited_secs: start.elapsed().as_secs(),
                });
            }
            tokio::time::sleep(poll).await;
        }
    }

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
        let mut not_found = false;
        let mut sso = false;
        let errors: Vec<String> = out
            .errors()
            .iter()
            .map(|e| {
                let m = e.message().to_lowercase();
                not_found |=
                    e.code() == 404 || m.contains("not found") || m.contains("does not exist");
                sso |= m.contains("sso")
                    || m.contains("identity center")
                    || m.contains("identity store");
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
        Err(Error::Permissions {
            workspace_id: workspace_id.into(),
            errors,
            hint: hint.into(),
        })
    }

    /// Creates an ADMIN service account and a token living `ttl` for this run. Service
    /// accounts left by an earlier run that died (same name prefix) are removed first.
    pub async fn temporary_token(
        &self,
        workspace_id: &str,
        ttl: Duration,
    ) -> Result<TemporaryToken> {
        self.remove_stale_service_accounts(workspace_id).await?;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let name = format!("{SERVICE_ACCOUNT_PREFIX}-{stamp}");
        let sa = self
            .client
            .create_workspace_service_account()
            .workspace_id(workspace_id)
            .name(&name)
            .grafana_role(Role::Admin)
            .send()
            .await
            .map_err(|e| amg_err("CreateWorkspaceServiceAccount", e))?;
        let sa_id = sa.id().to_string();
        let secs = i32::try_from(ttl.as_secs().clamp(60, 2_592_000)).unwrap_or(900);
        let tok = self
            .client
            .create_workspace_service_account_token()
            .workspace_id(workspace_id)
            .service_account_id(&sa_id)
            .name(&name)
            .seconds_to_live(secs)
            .send()
            .await;
        let tok = match tok {
            Ok(t) => t,
            Err(e) => {
                // No token, but the account exists: remove it before reporting.
                let _ = self
                    .client
                    .delete_workspace_service_account()
                    .workspace_id(workspace_id)
                    .service_account_id(&sa_id)
                    .send()
                    .await;
                return Err(amg_err("CreateWorkspaceServiceAccountToken", e));
            }
        };
        let Some(t) = tok.service_account_token() else {
            return Err(Error::Amg {
                operation: "CreateWorkspaceServiceAccountToken",
                message: "response carried no token".into(),
                hint: None,
            });
        };
        Ok(TemporaryToken {
            client: self.client.clone(),
            workspace_id: workspace_id.into(),
            service_account_id: sa_id,
            token_id: t.id().to_string(),
            token: GrafanaToken::new(t.key()),
            finished: false,
        })
    }

    async fn remove_stale_service_accounts(&self, workspace_id: &str) -> Result<()> {
        let page = self
            .client
            .list_workspace_service_accounts()
            .workspace_id(workspace_id)
            .send()
            .await
            .map_err(|e| amg_err("ListWorkspaceServiceAccounts", e))?;
        for sa in page.service_accounts() {
            if sa.name().starts_with(SERVICE_ACCOUNT_PREFIX) {
                tracing::info!(
                    service_account = sa.id(),
                    "removing a service account left by an earlier run"
                );
                self.client
                    .delete_workspace_service_account()
                    .workspace_id(workspace_id)
                    .service_account_id(sa.id())
                    .send()
                    .await
                    .map_err(|e| amg_err("DeleteWorkspaceServiceAccount", e))?;
            }
        }
        Ok(())
    }

    /// Runs `f` with a fresh temporary token and deletes the token and its service account
    /// afterwards — whether `f` succeeded or not. `f`'s error wins over a cleanup error
    /// (which is logged).
    pub async fn with_token<T, F, Fut>(&self, workspace_id: &str, ttl: Duration, f: F) -> Result<T>
    where
        F: FnOnce(GrafanaToken) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let tt = self.temporary_token(workspace_id, ttl).await?;
        let result = f(tt.token().clone()).await;
        let cleanup = tt.finish().await;
        match (result, cleanup) {
            (Ok(v), Ok(())) => Ok(v),
            (Ok(_), Err(c)) => Err(c),
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(c)) => {
                tracing::warn!(error = %c, "could not delete the temporary Grafana token");
                Err(e)
            }
        }
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

/// A short-lived Grafana API token with its service account. Call [`TemporaryToken::finish`]
/// to delete both; if it is dropped without that (a panic, an early return), deletion is
/// attempted in the background on the current tokio runtime.
pub struct TemporaryToken {
    client: aws_sdk_grafana::Client,
    workspace_id: String,
    service_account_id: String,
    token_id: String,
    token: GrafanaToken,
    finished: bool,
}

impl Debug for TemporaryToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryToken")
            .field("workspace_id", &self.workspace_id)
            .field("service_account_id", &self.service_account_id)
            .field("token_id", &self.token_id)
            .field("token", &self.token)
            .finish()
    }
}

async fn delete_token(
    client: aws_sdk_grafana::Client,
    ws: String,
    sa: String,
    token: String,
) -> Result<()> {
    let r1 = client
        .delete_workspace_service_account_token()
        .workspace_id(&ws)
        .service_account_id(&sa)
        .token_id(&token)
        .send()
        .await
        .map_err(|e| amg_err("DeleteWorkspaceServiceAccountToken", e));
    let r2 = client
        .delete_workspace_service_account()
        .workspace_id(&ws)
        .service_account_id(&sa)
        .send()
        .await
        .map_err(|e| amg_err("DeleteWorkspaceServiceAccount", e));
    r1.map(|_| ()).and(r2.map(|_| ()))
}

impl TemporaryToken {
    /// The token for [`crate::api::GrafanaClient`].
    pub fn token(&self) -> &GrafanaToken {
        &self.token
    }

    /// Deletes the token, then the service account.
    pub async fn finish(mut self) -> Result<()> {
        self.finished = true;
        delete_token(
            self.client.clone(),
            self.workspace_id.clone(),
            self.service_account_id.clone(),
            self.token_id.clone(),
        )
        .await
    }
}

impl Drop for TemporaryToken {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let fut = delete_token(
            self.client.clone(),
            self.workspace_id.clone(),
            self.service_account_id.clone(),
            self.token_id.clone(),
        );
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(async move {
                    if let Err(e) = fut.await {
                        tracing::warn!(error = %e, "could not delete the temporary Grafana token");
                    }
                });
            }
            Err(_) => tracing::warn!(
                service_account = %self.service_account_id,
                "temporary Grafana token not deleted (no runtime); it expires by itself"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_a_json_string_with_unified_alerting() {
        let s = WorkspaceSpec::new("st", "arn:aws:iam::1:role/r", BTreeMap::new());
        assert_eq!(
            workspace_configuration(&s),
            r#"{"plugins":{"pluginAdminEnabled":false},"unifiedAlerting":{"enabled":true}}"#
        );
        assert_eq!(s.permission_type, PermissionType::CustomerManaged);
        assert_eq!(s.grafana_version, DEFAULT_GRAFANA_VERSION);
    }

    #[test]
    fn workspace_arn_has_the_documented_shape() {
        assert_eq!(
            workspace_arn("eu-west-1", "123456789012", "g-1"),
            "arn:aws:grafana:eu-west-1:123456789012:/workspaces/g-1"
        );
        assert!(workspace_arn("cn-north-1", "1", "g-1").starts_with("arn:aws-cn:grafana:"));
    }

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
