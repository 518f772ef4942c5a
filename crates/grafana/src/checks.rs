//! `monitor-verify grafana`: the workspace is ACTIVE, our datasources exist and answer,
//! our dashboards exist in the stack folder, and Identity Center groups hold their roles.
//! Each check returns [`monitor_checks::CheckResult`]s (the shared report type), with a
//! hint on failure.

use monitor_checks::CheckResult;

use crate::amg::{GroupPermission, RoleAssignments, Workspace};
use crate::api::{ContentSpec, Datasource, GrafanaClient};
use crate::dashboards::Dashboard;

/// Check id: the AMG workspace exists and is ACTIVE.
pub const GRAFANA_WORKSPACE: &str = "grafana.workspace";
/// Check id: a datasource exists with the expected type and URL, and its health check passes.
pub const GRAFANA_DATASOURCE: &str = "grafana.datasource";
/// Check id: a dashboard exists in the stack folder.
pub const GRAFANA_DASHBOARD: &str = "grafana.dashboard";
/// Check id: every configured Identity Center group holds its role.
pub const GRAFANA_PERMISSIONS: &str = "grafana.permissions";

/// Hint: a check found something missing that apply creates.
pub const HINT_RUN_APPLY: &str = "run `monitor-provision apply` to (re)create it";

/// The workspace check, from the result of [`crate::amg::Amg::find_by_tags`].
pub fn check_workspace(found: Option<&Workspace>) -> CheckResult {
    match found {
        None => CheckResult::fail(
            GRAFANA_WORKSPACE,
            None,
            "no AMG workspace carries the stack tags",
            HINT_RUN_APPLY,
        ),
        Some(w) if w.is_active() => CheckResult::pass(
            GRAFANA_WORKSPACE,
            None,
            format!("{} ACTIVE, Grafana {}, https://{}", w.id, w.grafana_version, w.endpoint),
        ),
        Some(w) => CheckResult::fail(
            GRAFANA_WORKSPACE,
            None,
            format!("{} is {}", w.id, w.status.as_str()),
            "CREATING/UPDATING take a few minutes — re-run later; a *_FAILED status needs the workspace deleted and apply re-run",
        ),
    }
}

/// Datasource checks: present, same type and URL as we configure, healthy.
pub async fn check_datasources(
    client: &GrafanaClient,
    expected: &[Datasource],
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for ds in expected {
        let id = Some(ds.name.as_str());
        let found = match client.get_datasource(&ds.uid).await {
            Ok(f) => f,
            Err(e) => {
                out.push(CheckResult::fail(
                    GRAFANA_DATASOURCE,
                    id,
                    format!("cannot read datasource {}: {e}", ds.uid),
                    "check the Grafana endpoint and token",
                ));
                continue;
            }
        };
        let Some(found) = found else {
            out.push(CheckResult::fail(
                GRAFANA_DATASOURCE,
                id,
                format!("datasource uid {} does not exist", ds.uid),
                HINT_RUN_APPLY,
            ));
            continue;
        };
        let kind = found["type"].as_str().unwrap_or_default();
        let url = found["url"].as_str().unwrap_or_default();
        if kind != ds.kind || url != ds.url {
            out.push(CheckResult::fail(
                GRAFANA_DATASOURCE,
                id,
                format!("datasource {} is type {kind:?} url {url:?}, expected {:?} {:?}", ds.uid, ds.kind, ds.url),
                "it was changed by hand or the AMP workspace was recreated — `monitor-provision apply` rewrites it",
            ));
            continue;
        }
        match client.check_datasource(ds).await {
            Ok(h) if h.is_ok() => out.push(CheckResult::pass(
                GRAFANA_DATASOURCE,
                id,
                format!("{} ({kind}) healthy: {}", ds.uid, h.message),
            )),
            Ok(h) => out.push(CheckResult::fail(
                GRAFANA_DATASOURCE,
                id,
                format!("{} health check failed: {}", ds.uid, h.message),
                ds.health_hint(),
            )),
            Err(e) => out.push(CheckResult::fail(
                GRAFANA_DATASOURCE,
                id,
                format!("{} health check could not run: {e}", ds.uid),
                ds.health_hint(),
            )),
        }
    }
    out
}

/// Dashboard checks: present and in the stack folder.
pub async fn check_dashboards(
    client: &GrafanaClient,
    expected: &[Dashboard],
    folder_uid: &str,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for d in expected {
        let id = Some(d.title.as_str());
        match client.get_dashboard(&d.uid).await {
            Ok(Some(info)) if info.folder_uid == folder_uid => out.push(CheckResult::pass(
                GRAFANA_DASHBOARD,
                id,
                format!("{} version {} in folder {folder_uid}", d.uid, info.version),
            )),
            Ok(Some(info)) => out.push(CheckResult::fail(
                GRAFANA_DASHBOARD,
                id,
                format!("{} is in folder {:?}, not {folder_uid}", d.uid, info.folder_uid),
                "it was moved (an update without folderUid moves a dashboard to the root folder) — `monitor-provision apply` puts it back",
            )),
            Ok(None) => out.push(CheckResult::fail(GRAFANA_DASHBOARD, id, format!("dashboard uid {} does not exist", d.uid), HINT_RUN_APPLY)),
            Err(e) => out.push(CheckResult::fail(GRAFANA_DASHBOARD, id, format!("cannot read dashboard {}: {e}", d.uid), "check the Grafana endpoint and token")),
        }
    }
    out
}

/// Permission checks (pure): every configured group holds its role. No group at all is a
/// failure: nobody could log in (`sso.auth.access-denied`).
pub fn check_permissions(
    granted: &[GroupPermission],
    wanted: &RoleAssignments,
) -> Vec<CheckResult> {
    if wanted.is_empty() {
        return vec![CheckResult::fail(
            GRAFANA_PERMISSIONS,
            None,
            "no Identity Center group is configured for the workspace",
            "logins fail with sso.auth.access-denied until a group has a role: list group ids under [grafana] admin/editor/viewer in stack.toml and run `monitor-provision apply`",
        )];
    }
    wanted
        .pairs()
        .into_iter()
        .map(|(role, group)| {
            let holds = granted.iter().find(|g| g.group_id == group);
            match holds {
                Some(g) if g.role == role => CheckResult::pass(GRAFANA_PERMISSIONS, Some(&group), format!("group {group} is {role}")),
                Some(g) => CheckResult::fail(
                    GRAFANA_PERMISSIONS,
                    Some(&group),
                    format!("group {group} is {}, configured {role}", g.role),
                    "run `monitor-provision apply` to reapply the roles",
                ),
                None => CheckResult::fail(
                    GRAFANA_PERMISSIONS,
                    Some(&group),
                    format!("group {group} has no role on the workspace ({role} configured)"),
                    "its members get sso.auth.access-denied: run `monitor-provision apply`; if it fails, the group id does not exist in IAM Identity Center",
                ),
            }
        })
        .collect()
}

/// All Grafana content checks for `spec` (datasources, then dashboards).
pub async fn check_content(client: &GrafanaClient, spec: &ContentSpec) -> Vec<CheckResult> {
    let mut out = check_datasources(client, &spec.datasources).await;
    out.extend(check_dashboards(client, &spec.dashboards, &spec.folder.uid).await);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_checks::Status;

    #[test]
    fn permissions_missing_group_fails_with_hint() {
        let wanted = RoleAssignments {
            admin_group_ids: vec!["906744f8-0011-70e6-ca9c-1a2b3c4d5e6f".into()],
            viewer_group_ids: vec!["906744f8-0011-70e6-ca9c-1a2b3c4d5e70".into()],
            ..Default::default()
        };
        let granted = vec![GroupPermission {
            role: "ADMIN".into(),
            group_id: "906744f8-0011-70e6-ca9c-1a2b3c4d5e6f".into(),
        }];
        let r = check_permissions(&granted, &wanted);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].status, Status::Pass);
        assert_eq!(r[1].status, Status::Fail);
        assert!(r[1]
            .hint
            .as_deref()
            .unwrap_or_default()
            .contains("sso.auth.access-denied"));
        let none = check_permissions(&[], &RoleAssignments::default());
        assert_eq!(none[0].status, Status::Fail);
    }

    #[test]
    fn workspace_states() {
        assert_eq!(check_workspace(None).status, Status::Fail);
        let w = Workspace {
            id: "g-1".into(),
            endpoint: "g-1.grafana-workspace.eu-west-1.amazonaws.com".into(),
            grafana_version: "10.4".into(),
            status: aws_sdk_grafana::types::WorkspaceStatus::Active,
            role_arn: None,
            tags: Default::default(),
        };
        assert_eq!(check_workspace(Some(&w)).status, Status::Pass);
        let creating = Workspace {
            status: aws_sdk_grafana::types::WorkspaceStatus::Creating,
            ..w
        };
        assert_eq!(check_workspace(Some(&creating)).status, Status::Fail);
    }
}
