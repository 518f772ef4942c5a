//! From `--endpoint`/`--region`/`--no-sigv4` to a [`QueryClient`]: decide the auth mode
//! (pure, validated before any I/O), then build the client. [`sdk_config`] builds the one
//! `aws_config::SdkConfig` a process shares between its AWS clients (CloudWatch Logs, the
//! reconciler's clients for `monitor-verify grafana`).

use crate::ChecksError;
use monitor_amp::auth::{Auth, SigV4};
use monitor_amp::query::QueryClient;

/// How query requests are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// Unsigned (a local Prometheus).
    Unsigned,
    /// SigV4, service `aps`, in this region.
    SigV4 {
        /// The signing region.
        region: String,
    },
}

/// Decides the auth mode: `--no-sigv4` → unsigned; `--region` → SigV4; otherwise
/// unsigned, except that an `*.amazonaws.com` endpoint requires `--region`.
pub fn auth_mode(
    endpoint: &str,
    region: Option<&str>,
    no_sigv4: bool,
) -> Result<AuthMode, ChecksError> {
    let url = url::Url::parse(endpoint.trim()).map_err(|e| {
        ChecksError::Usage(format!(
            "--endpoint {endpoint:?} is not a URL ({e}); expected e.g. http://127.0.0.1:9090 or https://aps-workspaces.<region>.amazonaws.com/workspaces/ws-.../"
        ))
    })?;
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match (region, no_sigv4) {
        (Some(_), true) => Err(ChecksError::Usage(
            "--region and --no-sigv4 exclude each other".into(),
        )),
        (Some(r), false) if r.trim().is_empty() => {
            Err(ChecksError::Usage("--region must not be empty".into()))
        }
        (Some(r), false) => Ok(AuthMode::SigV4 {
            region: r.trim().to_string(),
        }),
        (None, true) => Ok(AuthMode::Unsigned),
        (None, false) if host.ends_with(".amazonaws.com") => {
            let example = region_from_host(&host).unwrap_or_else(|| "eu-west-1".into());
            Err(ChecksError::Usage(format!(
                "{host} is an AWS endpoint: pass --region {example} to sign queries with SigV4 (service aps), or --no-sigv4 to send them unsigned"
            )))
        }
        (None, false) => Ok(AuthMode::Unsigned),
    }
}

/// The auth mode for an endpoint found rather than typed (`monitor-verify --config`):
/// SigV4 in `region` for an `*.amazonaws.com` host, unsigned otherwise (a local
/// Prometheus).
///
/// # Errors
/// [`ChecksError::Usage`] when `endpoint` is not a URL.
pub fn auth_mode_for(endpoint: &str, region: &str) -> Result<AuthMode, ChecksError> {
    auth_mode(endpoint, is_aws_url(endpoint).then_some(region), false)
}

fn is_aws_url(endpoint: &str) -> bool {
    url::Url::parse(endpoint.trim())
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| h.to_ascii_lowercase().ends_with(".amazonaws.com"))
        })
        .unwrap_or(false)
}

/// The region in an AMP host name (`aps-workspaces.<region>.amazonaws.com`).
pub fn region_from_host(host: &str) -> Option<String> {
    let rest = host.strip_prefix("aps-workspaces.")?;
    let region = rest.strip_suffix(".amazonaws.com")?;
    (!region.is_empty() && !region.contains('.')).then(|| region.to_string())
}

/// The request signer of `mode` (shared by the query client and the alert checks' HTTP
/// calls): none, or SigV4 service `aps` with the default credentials chain.
pub async fn auth(mode: &AuthMode) -> Auth {
    match mode {
        AuthMode::Unsigned => Auth::None,
        AuthMode::SigV4 { region } => Auth::SigV4(SigV4::from_default_chain(region.clone()).await),
    }
}

/// Builds the client: SigV4 credentials come from `aws-config`'s default chain
/// (environment, profile/SSO, instance profile) and are resolved on the first query.
pub async fn connect(endpoint: &str, mode: &AuthMode) -> Result<QueryClient, ChecksError> {
    Ok(QueryClient::new(endpoint, auth(mode).await)?)
}

/// The process's AWS configuration from the standard chain (environment, profile/SSO,
/// instance profile; `AWS_ENDPOINT_URL` too, which is how tests point it at moto), with
/// `region` overriding the chain's region when given. Credentials resolve lazily, on the
/// first call: an auth failure surfaces there as a runtime error, not here.
pub async fn sdk_config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    loader.load().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_found_endpoint_is_signed_only_when_it_is_aws() {
        let aws = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/";
        assert_eq!(
            auth_mode_for(aws, "eu-west-1").unwrap(),
            AuthMode::SigV4 {
                region: "eu-west-1".into()
            }
        );
        assert_eq!(
            auth_mode_for("http://127.0.0.1:9090", "eu-west-1").unwrap(),
            AuthMode::Unsigned
        );
        assert!(auth_mode_for("not a url", "eu-west-1").is_err());
    }

    const AMP: &str = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/";

    #[test]
    fn local_endpoints_default_to_unsigned() {
        assert_eq!(
            auth_mode("http://127.0.0.1:9090", None, false).unwrap(),
            AuthMode::Unsigned
        );
        assert_eq!(
            auth_mode("http://127.0.0.1:9090", Some("us-east-1"), false).unwrap(),
            AuthMode::SigV4 {
                region: "us-east-1".into()
            }
        );
    }

    #[test]
    fn aws_endpoints_require_a_region_or_an_explicit_opt_out() {
        let e = auth_mode(AMP, None, false).unwrap_err().to_string();
        assert!(e.contains("--region eu-west-1"), "{e}");
        assert_eq!(auth_mode(AMP, None, true).unwrap(), AuthMode::Unsigned);
        assert_eq!(
            auth_mode(AMP, Some("eu-west-1"), false).unwrap(),
            AuthMode::SigV4 {
                region: "eu-west-1".into()
            }
        );
        assert!(auth_mode(AMP, Some("eu-west-1"), true).is_err());
        assert!(auth_mode("not a url", None, false).is_err());
    }

    #[test]
    fn region_is_read_from_amp_hosts_only() {
        assert_eq!(
            region_from_host("aps-workspaces.ap-south-2.amazonaws.com").as_deref(),
            Some("ap-south-2")
        );
        assert_eq!(region_from_host("example.amazonaws.com"), None);
    }

    #[tokio::test]
    async fn sdk_config_takes_the_given_region_over_the_chain() {
        let sdk = sdk_config(Some("ap-south-2")).await;
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("ap-south-2"));
    }
}
