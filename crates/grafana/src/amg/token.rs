//! The per-run Grafana API token: an ADMIN service account and its token, deleted after
//! the run (or in the background when dropped).

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_grafana::types::Role;

use super::{amg_err, Amg, SERVICE_ACCOUNT_PREFIX};
use crate::api::GrafanaToken;
use crate::error::{Error, Result};

impl Amg {
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
