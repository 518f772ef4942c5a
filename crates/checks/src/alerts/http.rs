//! The JSON-over-HTTP calls of the alert checks (the Prometheus-compatible rules API,
//! Alertmanager API v2, Alertmanager's `/metrics`), signed with the same
//! [`monitor_amp::auth::Auth`] as the query client — SigV4 service `aps` for AMP, none for
//! a local Prometheus/Alertmanager. Errors are [`QueryError`]s, so an unreachable endpoint
//! or a 403 is reported like the metrics checks report it (exit 2).

use std::time::Duration;

use monitor_amp::auth::Auth;
use monitor_amp::query::QueryError;

/// A signed JSON client for the alert APIs.
#[derive(Debug, Clone)]
pub struct AlertsHttp {
    http: reqwest::Client,
    auth: Auth,
}

impl AlertsHttp {
    /// A client that signs with `auth` (30 s per request).
    ///
    /// # Errors
    /// [`QueryError::Signing`] when the HTTP client cannot be built.
    pub fn new(auth: Auth) -> Result<AlertsHttp, QueryError> {
        let http = reqwest::Client::builder()
            .user_agent(monitor_amp::query::USER_AGENT)
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| QueryError::Signing(format!("HTTP client: {e}")))?;
        Ok(AlertsHttp { http, auth })
    }

    /// Whether requests are SigV4-signed (an AMP endpoint).
    pub fn is_signed(&self) -> bool {
        matches!(self.auth, Auth::SigV4(_))
    }

    /// `GET url` with query parameters; the body on 2xx.
    pub(crate) async fn get(
        &self,
        url: &str,
        params: &[(&str, &str)],
    ) -> Result<Vec<u8>, QueryError> {
        let mut u = url::Url::parse(url).map_err(|e| QueryError::InvalidEndpoint {
            endpoint: monitor_amp::redacted_str(url),
            reason: e.to_string(),
        })?;
        if !params.is_empty() {
            u.query_pairs_mut().extend_pairs(params.iter().copied());
        }
        let req = self.http.get(u).build();
        self.send(url, req, "aps:ListRules / aps:GetAlerts").await
    }

    /// `POST url` with a JSON body (serialised here, so the signed bytes are the sent ones).
    pub(crate) async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<Vec<u8>, QueryError> {
        let bytes = serde_json::to_vec(body).map_err(|e| QueryError::Signing(e.to_string()))?;
        let req = self
            .http
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(bytes)
            .build();
        self.send(url, req, "aps:CreateAlerts").await
    }

    async fn send(
        &self,
        url: &str,
        req: reqwest::Result<reqwest::Request>,
        actions: &str,
    ) -> Result<Vec<u8>, QueryError> {
        let shown = monitor_amp::redacted_str(url);
        let mut req = req.map_err(|e| QueryError::Signing(e.to_string()))?;
        self.auth.apply(&mut req).await?;
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|e| QueryError::Transport {
                url: shown.clone(),
                reason: monitor_amp::error_chain(&e),
            })?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| QueryError::Transport {
            url: shown.clone(),
            reason: monitor_amp::error_chain(&e),
        })?;
        if (200..300).contains(&status) {
            return Ok(body.to_vec());
        }
        let message = String::from_utf8_lossy(&body)
            .chars()
            .take(300)
            .collect::<String>();
        Err(match status {
            401 | 403 => QueryError::Forbidden {
                status,
                url: shown,
                message,
                hint: if self.is_signed() {
                    format!("the caller lacks {actions} on the workspace (or the SigV4 region is wrong)")
                } else {
                    "the request was not signed: AMP needs SigV4 (service aps), pass --region"
                        .into()
                },
            },
            _ => QueryError::Http {
                status,
                url: shown,
                message,
            },
        })
    }
}

/// Decodes a 2xx body as JSON of type `T`.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    url: &str,
    body: &[u8],
) -> Result<T, QueryError> {
    serde_json::from_slice(body).map_err(|e| QueryError::Decode {
        url: monitor_amp::redacted_str(url),
        message: e.to_string(),
    })
}
