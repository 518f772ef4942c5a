//! The AWS-side Grafana checks behind `monitor-verify grafana`: the stack's AMG workspace
//! is ACTIVE, the Identity Center groups hold their roles, and the datasources (healthy)
//! and dashboards `apply` writes are there. Built on [`crate::observe`] and the check
//! functions of `monitor_grafana::checks`, so verify and apply agree on what "right" is.

use crate::clients::Clients;
use crate::desired::grafana_content;
use crate::error::Result;
use crate::observe::{observe, Scope};
use monitor_checks::CheckResult;
use monitor_grafana::amg::{RoleAssignments, TOKEN_TTL};
use monitor_grafana::api::GrafanaClient;
use monitor_grafana::checks;
use monitor_stack::Stack;

/// Runs the Grafana checks of `stack`. `grafana_api_base` replaces
/// `https://<workspace endpoint>` (test/support only, like `ApplyOptions`). Reading the
/// content needs a Grafana token: a service-account token living for this run only is
/// created and deleted, as `apply` does.
pub async fn verify_grafana(
    clients: &Clients,
    stack: &Stack,
    grafana_api_base: Option<String>,
) -> Result<Vec<CheckResult>> {
    let Some(g) = stack.grafana_enabled() else {
        return Ok(vec![CheckResult::skip(
            checks::GRAFANA_WORKSPACE,
            None,
            "[grafana] is not enabled in the stack file",
        )]);
    };
    let observed = observe(clients, stack, Scope::Verify).await?;
    let state = observed.grafana_workspace.as_ref();
    let mut out = vec![checks::check_workspace(state.map(|s| &s.workspace))];
    let Some(state) = state.filter(|s| s.workspace.is_active()) else {
        return Ok(out);
    };
    let wanted = RoleAssignments::from(g);
    out.extend(checks::check_permissions(
        state.permissions.as_deref().unwrap_or(&[]),
        &wanted,
    ));
    let Some(spec) = expected_content(stack, &observed) else {
        out.push(CheckResult::fail(
            checks::GRAFANA_DATASOURCE,
            None,
            "the stack has no AMP workspace for the Prometheus datasource",
            checks::HINT_RUN_APPLY,
        ));
        return Ok(out);
    };
    let ws = &state.workspace;
    let base = grafana_api_base.unwrap_or_else(|| ws.endpoint.clone());
    let content = clients
        .grafana
        .with_token(&ws.id, TOKEN_TTL, |token| async move {
            let client = GrafanaClient::new(&base, token)?;
            Ok(checks::check_content(&client, &spec).await)
        })
        .await?;
    out.extend(content);
    Ok(out)
}

/// The content `apply` put into the stack's Grafana workspace: built for the AMP
/// workspace [`crate::observe::Observed::amp_workspace`] chooses (never a failed one left by an
/// interrupted re-create) and the Grafana workspace's own version. `None` without an AMP
/// or a Grafana workspace.
pub fn expected_content(
    stack: &Stack,
    observed: &crate::observe::Observed,
) -> Option<monitor_grafana::api::ContentSpec> {
    let amp = observed.amp_workspace()?;
    let ws = observed.grafana_workspace.as_ref()?;
    Some(grafana_content(
        &stack.name,
        &observed.region,
        &observed.account_id,
        &stack.logs.group,
        &amp.id,
        &ws.workspace.grafana_version,
        stack.alerting_enabled().is_some(),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aws_sdk_amp::types::WorkspaceStatusCode;

    use super::*;
    use crate::observe::{GrafanaWorkspaceState, Observed, WorkspaceState};

    /// After an interrupted re-create the failed AMP workspace (older) is listed first:
    /// verify must check the datasource against the healthy one, as the plan does.
    #[test]
    fn expected_content_uses_the_healthy_amp_workspace_not_the_first() {
        let stack = monitor_stack::from_toml_str(
            "name = \"v\"\n[grafana]\nenabled = true\n[[hosts]]\nname = \"web-1\"\nlabels = { env = \"p\", role = \"w\", team = \"x\" }\n",
            "stack.toml".as_ref(),
        )
        .unwrap();
        let ws = |id: &str, status, created| WorkspaceState {
            id: id.into(),
            arn: format!("arn:aws:aps:eu-west-1:1:workspace/{id}"),
            status,
            created,
        };
        let observed = Observed {
            workspaces: vec![
                ws("ws-failed", WorkspaceStatusCode::CreationFailed, 1),
                ws("ws-good", WorkspaceStatusCode::Active, 2),
            ],
            grafana_workspace: Some(GrafanaWorkspaceState {
                workspace: monitor_grafana::amg::Workspace {
                    id: "g-1".into(),
                    endpoint: "g-1.grafana-workspace.eu-west-1.amazonaws.com".into(),
                    grafana_version: "10.4".into(),
                    status: aws_sdk_grafana::types::WorkspaceStatus::Active,
                    role_arn: None,
                    tags: BTreeMap::new(),
                },
                permissions: Some(vec![]),
            }),
            ..Observed::empty("1", "eu-west-1")
        };
        let spec = expected_content(&stack, &observed).unwrap();
        let json = serde_json::to_string(&spec).unwrap();
        assert!(json.contains("/workspaces/ws-good/"), "{json}");
        assert!(!json.contains("ws-failed"), "{json}");
        assert_eq!(
            observed.amp_workspace().map(|w| w.id.as_str()),
            Some("ws-good")
        );
    }
}
