//! Reads the alerting resources inside the stack's AMP workspace: its rule-groups
//! namespaces carrying the stack's tags, and the workspace's Alertmanager definition.

use aws_sdk_amp::types::{AlertManagerDefinitionStatusCode, RuleGroupsNamespaceStatusCode};

use crate::error::{ReconcileError, Result};
use crate::names::{sha256_hex, Names, TAG_RULES_SHA};
use crate::Clients;

/// A rule-groups namespace carrying the stack's tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleNamespaceState {
    /// Namespace name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Status.
    pub status: RuleGroupsNamespaceStatusCode,
    /// AMP's reason for a failed status.
    pub status_reason: Option<String>,
    /// The [`TAG_RULES_SHA`] tag: sha256 of the rules last put.
    pub sha: Option<String>,
}

impl RuleNamespaceState {
    /// Creation or the last update failed (it is put again).
    pub fn failed(&self) -> bool {
        matches!(
            self.status,
            RuleGroupsNamespaceStatusCode::CreationFailed
                | RuleGroupsNamespaceStatusCode::UpdateFailed
        )
    }
}

/// The workspace's Alertmanager definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertmanagerState {
    /// Status.
    pub status: AlertManagerDefinitionStatusCode,
    /// AMP's reason for a failed status.
    pub status_reason: Option<String>,
    /// sha256 of the definition file as AMP holds it.
    pub sha: String,
}

impl AlertmanagerState {
    /// Creation or the last update failed (it is put again).
    pub fn failed(&self) -> bool {
        matches!(
            self.status,
            AlertManagerDefinitionStatusCode::CreationFailed
                | AlertManagerDefinitionStatusCode::UpdateFailed
        )
    }
}

/// The stack's rule namespaces in workspace `ws` (not DELETING), by name.
pub(crate) async fn rule_namespaces(
    clients: &Clients,
    names: &Names,
    ws: &str,
) -> Result<Vec<RuleNamespaceState>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = clients
            .amp
            .list_rule_groups_namespaces()
            .workspace_id(ws)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ReconcileError::from_sdk("aps:ListRuleGroupsNamespaces", e))?;
        for n in page.rule_groups_namespaces() {
            let tags = n.tags();
            let owned =
                tags.is_some_and(|t| names.owns(t.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
            let status = n.status().map(|s| s.status_code().clone());
            if !owned || status == Some(RuleGroupsNamespaceStatusCode::Deleting) {
                continue;
            }
            out.push(RuleNamespaceState {
                name: n.name().to_string(),
                arn: n.arn().to_string(),
                status: status.unwrap_or(RuleGroupsNamespaceStatusCode::Active),
                status_reason: n
                    .status()
                    .and_then(|s| s.status_reason())
                    .map(str::to_string),
                sha: tags.and_then(|t| t.get(TAG_RULES_SHA)).cloned(),
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

/// The Alertmanager definition of workspace `ws`, if any.
pub(crate) async fn alertmanager(clients: &Clients, ws: &str) -> Result<Option<AlertmanagerState>> {
    let r = clients
        .amp
        .describe_alert_manager_definition()
        .workspace_id(ws)
        .send()
        .await;
    let out = match r {
        Ok(out) => out,
        Err(e) => {
            let e = ReconcileError::from_sdk("aps:DescribeAlertManagerDefinition", e);
            return if e.is_not_found() { Ok(None) } else { Err(e) };
        }
    };
    let Some(d) = out.alert_manager_definition() else {
        return Ok(None);
    };
    let status = d.status().map(|s| s.status_code().clone());
    if status == Some(AlertManagerDefinitionStatusCode::Deleting) {
        return Ok(None);
    }
    Ok(Some(AlertmanagerState {
        status: status.unwrap_or(AlertManagerDefinitionStatusCode::Active),
        status_reason: d
            .status()
            .and_then(|s| s.status_reason())
            .map(str::to_string),
        sha: sha256_hex(&String::from_utf8_lossy(d.data().as_ref())),
    }))
}
