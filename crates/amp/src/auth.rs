//! Request authentication: AWS SigV4 (service `aps`) or none (local Prometheus).
//!
//! Credentials come from any [`ProvideCredentials`] — normally `aws-config`'s default
//! chain (environment, profile/SSO, web identity, IMDSv2 instance profile) — and are
//! cached until five minutes before they expire, then refreshed.

use crate::Error;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;

/// Refresh cached credentials this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// How requests are authenticated.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    /// No authentication (a local Prometheus with `--web.enable-remote-write-receiver`).
    #[default]
    None,
    /// AWS Signature Version 4.
    SigV4(SigV4),
}

impl Auth {
    /// Forgets cached credentials so the next request fetches fresh ones (after the
    /// receiver said they expired).
    pub async fn invalidate(&self) {
        if let Auth::SigV4(s) = self {
            *s.cache.lock().await = None;
        }
    }

    /// Signs `req` in place (no-op for [`Auth::None`]).
    pub async fn apply(&self, req: &mut reqwest::Request) -> Result<(), Error> {
        match self {
            Auth::None => Ok(()),
            Auth::SigV4(s) => s.sign(req).await,
        }
    }
}

/// SigV4 signer with a credential cache.
#[derive(Clone)]
pub struct SigV4 {
    region: String,
    service: String,
    provider: SharedCredentialsProvider,
    cache: Arc<Mutex<Option<Credentials>>>,
}

impl std::fmt::Debug for SigV4 {
    // Never print credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4")
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl SigV4 {
    /// The SigV4 signing name of Amazon Managed Service for Prometheus.
    pub const APS: &'static str = "aps";

    /// A signer using an explicit credentials provider.
    pub fn new(
        region: impl Into<String>,
        service: impl Into<String>,
        provider: impl ProvideCredentials + 'static,
    ) -> SigV4 {
        SigV4 {
            region: region.into(),
            service: service.into(),
            provider: SharedCredentialsProvider::new(provider),
            cache: Arc::new(Mutex::new(None)),
        }
    }

    /// A signer for service `aps` using `aws-config`'s default credentials chain:
    /// environment, profile files, web identity, ECS and the instance profile (IMDSv2).
    /// This crate builds `aws-config` without `sso` and `credentials-process` (the host
    /// agent has no use for them); a program that enables those features on `aws-config`
    /// gets them in this chain too, as `monitor-verify` does.
    pub async fn from_default_chain(region: impl Into<String>) -> SigV4 {
        let region = region.into();
        let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
            .region(aws_config::Region::new(region.clone()))
            .build()
            .await;
        SigV4::new(region, Self::APS, chain)
    }

    /// The signing region.
    pub fn region(&self) -> &str {
        &self.region
    }

    async fn credentials(&self) -> Result<Credentials, Error> {
        let mut guard = self.cache.lock().await;
        if let Some(c) = guard.as_ref() {
            let fresh = match c.expiry() {
                None => true,
                Some(exp) => SystemTime::now() + REFRESH_BEFORE_EXPIRY < exp,
            };
            if fresh {
                return Ok(c.clone());
            }
        }
        let c = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| Error::Credentials(crate::error_chain(&e)))?;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Signs a request in place: adds `authorization`, `x-amz-date` and, with temporary
    /// credentials, `x-amz-security-token`. The payload hash covers the exact body bytes.
    pub async fn sign(&self, req: &mut reqwest::Request) -> Result<(), Error> {
        let creds = self.credentials().await?;
        self.sign_with(req, creds, SystemTime::now())
    }

    /// Signs with the given credentials and time (deterministic; used by tests).
    pub fn sign_with(
        &self,
        req: &mut reqwest::Request,
        creds: Credentials,
        time: SystemTime,
    ) -> Result<(), Error> {
        let identity: Identity = creds.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Error::Signing(e.to_string()))?
            .into();
        let body: &[u8] = req.body().and_then(|b| b.as_bytes()).unwrap_or(&[]);
        let mut headers: Vec<(String, String)> = Vec::new();
        for (k, v) in req.headers() {
            let v = v
                .to_str()
                .map_err(|e| Error::Signing(format!("header {k}: {e}")))?;
            headers.push((k.as_str().to_string(), v.to_string()));
        }
        let url = req.url().as_str().to_string();
        let signable = SignableRequest::new(
            req.method().as_str(),
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| Error::Signing(e.to_string()))?;
        let (instructions, _sig) = sign(signable, &params)
            .map_err(|e| Error::Signing(e.to_string()))?
            .into_parts();
        for (name, value) in instructions.headers() {
            let v = http::HeaderValue::from_str(value)
                .map_err(|e| Error::Signing(format!("header {name}: {e}")))?;
            req.headers_mut().insert(
                http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| Error::Signing(e.to_string()))?,
                v,
            );
        }
        Ok(())
    }
}
