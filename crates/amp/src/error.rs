use std::time::Duration;

/// Errors of the AMP client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint URL is not usable.
    #[error("invalid endpoint URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// No AWS credentials could be obtained.
    #[error("no AWS credentials for SigV4 ({0}); on EC2 attach an instance profile, elsewhere set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")]
    Credentials(String),
    /// The request could not be signed.
    #[error("SigV4 signing failed: {0}")]
    Signing(String),
    /// Transport-level failure (connect, TLS, timeout).
    #[error("request to {url} failed: {source}")]
    Transport {
        /// The URL.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// A body could not be decoded.
    #[error("cannot decode remote-write body: {0}")]
    Decode(String),
    /// The server answered with an HTTP error.
    #[error("HTTP {status} from {url}: {message}")]
    Http {
        /// Status code.
        status: u16,
        /// The URL.
        url: String,
        /// The server's message (truncated).
        message: String,
        /// `Retry-After`, if the server sent one.
        retry_after: Option<Duration>,
    },
}
