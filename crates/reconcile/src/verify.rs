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
    let observed = observe(clients, stack, Scope::Destroy).await?;
    let state = observed.grafana_workspace.as_ref();
    let mut out = vec![checks::check_workspace(state.map(|s| &s.workspace))];
    let Some(state) = state.filter(|s| s.workspace.status == "ACTIVE") else {
        return Ok(out);
    };
    let wanted = RoleAssignments {
        admin_group_ids: g.admin_group_ids.clone(),
        editor_group_ids: g.editor_group_ids.clone(),
        viewer_group_ids: g.viewer_group_ids.clone(),
    };
    out.extend(checks::check_permissions(
        state.permissions.as_deref().unwrap_or(&[]),
        &wanted,
    ));
    let Some(amp) = observed.workspaces.first() else {
        out.push(CheckResult::fail(
            checks::GRAFANA_DATASOURCE,
            None,
            "the stack has no AMP workspace for the Prometheus datasource",
            checks::HINT_RUN_APPLY,
        ));
        return Ok(out);
    };
    let ws = &state.workspace;
    let spec = grafana_content(
        &stack.name,
        &clients.region,
        &observed.account_id,
        &stack.logs.group,
        &amp.id,
        &ws.grafana_version,
    );
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
