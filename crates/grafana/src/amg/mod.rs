//! Amazon Managed Grafana control plane (`aws-sdk-grafana`): find the stack's workspace by
//! tags, create it, wait until it is ACTIVE, give Identity Center groups their roles, and
//! hand out a short-lived Grafana API token that is deleted after the run.
//!
//! API reference: <https://docs.aws.amazon.com/grafana/latest/APIReference/> (REST-JSON,
//! SigV4 service `grafana`). The client is passed in, built from the process' one
//! `SdkConfig`, so tests point it at wiremock with `endpoint_url`.
//!
//! `permissions.rs` holds the Identity Center role assignments, `token.rs` the per-run
//! service-account token; their types are re-exported here.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use aws_sdk_grafana::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_grafana::types::{
    AccountAccessType, AuthenticationProviderTypes, DataSourceType, NotificationDestinationType,
    WorkspaceStatus,
};
use serde::Serialize;

use crate::error::{Error, Result};

mod permissions;
mod token;

pub use permissions::{GroupPermission, PermissionType, RoleAssignments};
pub use token::TemporaryToken;

/// Grafana version pinned for new workspaces (a value of AMG `ListVersions`). 10.4 keeps
/// the core Prometheus datasource with SigV4; 12.x switches to the Amazon Prometheus
/// plugin, which [`crate::api::prometheus_type_for`] handles.
pub const DEFAULT_GRAFANA_VERSION: &str = "10.4";
/// Lifetime of the per-run API token: long enough for one apply or verify, short enough
/// that a leaked token is useless soon (AMG allows up to 30 days).
pub const TOKEN_TTL: Duration = Duration::from_secs(900);
/// Name prefix of the per-run service accounts (stale ones with it are removed).
pub const SERVICE_ACCOUNT_PREFIX: &str = "monitor-provision";

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

const IDENTITY_CENTER_HINT: &str = "AWS_SSO workspaces need IAM Identity Center: enable it (IAM Identity Center console → Enable, an organization instance in the workspace's region) and create the groups, then put their Group IDs in [grafana] of stack.toml and re-run apply";

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

/// The workspace of an `operation` response, which must carry one.
fn workspace_in(
    operation: &'static str,
    description: Option<&aws_sdk_grafana::types::WorkspaceDescription>,
) -> Result<Workspace> {
    description
        .map(Workspace::from_description)
        .ok_or_else(|| Error::Amg {
            operation,
            message: "response carried no workspace".into(),
            hint: None,
        })
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
        workspace_in("DescribeWorkspace", out.workspace())
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
        workspace_in("CreateWorkspace", out.workspace())
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
}
