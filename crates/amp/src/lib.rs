//! Client for Amazon Managed Service for Prometheus (AMP) and any Prometheus-compatible
//! receiver.
//!
//! - [`remote_write`]: Prometheus remote-write 1.0 (protobuf + snappy block format),
//!   SigV4-signed for AMP (service `aps`) or unsigned for a local Prometheus, with the
//!   spec's retry rules, 413 splitting and per-series timestamp order.
//! - [`query`]: the Prometheus HTTP query API (`query`, `query_range`, `series`,
//!   `labels`, `label/<name>/values`, `metadata`) with typed results and errors, SigV4 or
//!   unsigned, POST form bodies, retries on 429/503.
//! - [`auth`]: SigV4 signing with cached, auto-refreshed credentials from `aws-config`.
//! - [`proto`]: the wire messages.
//!
//! ```no_run
//! use monitor_amp::{auth::Auth, proto::*, remote_write::*};
//! use std::sync::Arc;
//! # async fn demo() -> Result<(), monitor_amp::Error> {
//! let url = "http://127.0.0.1:9090/api/v1/write".parse().expect("url");
//! let writer = RemoteWriter::new(RemoteWriteConfig::new(url, Auth::None), Arc::new(NoopObserver))?;
//! let req = WriteRequest { timeseries: vec![TimeSeries {
//!     labels: vec![Label::new("__name__", "demo_metric"), Label::new("job", "demo")],
//!     samples: vec![Sample { value: 1.0, timestamp: 1_700_000_000_000 }],
//! }]};
//! let outcome = writer.write(req, None).await;
//! assert_eq!(outcome.sent, 1);
//! # Ok(()) }
//! ```

// Libraries never print: they report through return values, traits and `tracing`.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod auth;
pub mod encoded;
mod error;
pub mod proto;
pub mod query;
pub mod remote_write;

pub use error::Error;

/// Joins an AMP workspace endpoint (as returned by DescribeWorkspace, with its trailing
/// slash) and an API path without producing `//`.
///
/// ```
/// assert_eq!(
///     monitor_amp::join_endpoint("https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/", "api/v1/remote_write"),
///     "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
/// );
/// ```
pub fn join_endpoint(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// A URL as it may be logged or printed: the password of the userinfo, if any, replaced
/// by `xxxxx` (as Go's `url.URL.Redacted` and so Prometheus do); everything else,
/// including a user name, unchanged.
///
/// Use it wherever a configured URL reaches a log line, an error or `Debug` output:
/// `http://user:secret@host/` is a credential.
///
/// ```
/// let u = url::Url::parse("https://user:secret@example.com:8443/api/v1/write").unwrap();
/// assert_eq!(
///     monitor_amp::redacted(&u),
///     "https://user:xxxxx@example.com:8443/api/v1/write"
/// );
/// let plain = url::Url::parse("http://127.0.0.1:9100/metrics").unwrap();
/// assert_eq!(monitor_amp::redacted(&plain), plain.as_str());
/// ```
pub fn redacted(url: &url::Url) -> String {
    if url.password().is_none() {
        return url.to_string();
    }
    let mut u = url.clone();
    match u.set_password(Some(REDACTED)) {
        Ok(()) => u.to_string(),
        // Cannot happen for a URL that has a password; never fall back to the original.
        Err(()) => format!("{}://{REDACTED}@…", url.scheme()),
    }
}

/// [`redacted`] for text that may not even parse as a URL (it is quoted in errors):
/// whatever lies between the last `:` and the last `@` is hidden, erring on the side of
/// hiding too much.
///
/// ```
/// assert_eq!(monitor_amp::redacted_str("http://u:pw@h:9090/api"), "http://u:xxxxx@h:9090/api");
/// assert_eq!(monitor_amp::redacted_str("not a url u:pw@h"), "not a url u:xxxxx@h");
/// ```
pub fn redacted_str(s: &str) -> String {
    if let Ok(u) = url::Url::parse(s) {
        return redacted(&u);
    }
    let Some(at) = s.rfind('@') else {
        return s.to_string();
    };
    let before = &s[..at];
    match before.rfind(':') {
        // `scheme://user@host`: no password.
        Some(c) if before[c + 1..].starts_with("//") => s.to_string(),
        Some(c) => format!("{}:{REDACTED}{}", &before[..c], &s[at..]),
        None => s.to_string(),
    }
}

/// What [`redacted`] puts in place of a password.
pub const REDACTED: &str = "xxxxx";

/// An error and its sources on one line (`outer: cause: root cause`), for messages that
/// must say why without a backtrace. Every message is written; [`error_chain_with`]
/// leaves some out.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    error_chain_with(e, ChainFormat::default())
}

/// Which messages of an error's chain [`error_chain_with`] writes. The default writes
/// them all, as [`error_chain`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainFormat {
    /// Leave out the outermost message, a wrapper such as reqwest's `error sending
    /// request for url (…)` whose URL the caller already prints. It is still written
    /// when nothing else would be.
    pub skip_outer: bool,
    /// Leave out empty messages and those already contained in one written before (the
    /// AWS SDK and hyper repeat their cause's message in their own).
    pub dedup: bool,
    /// Leave out messages starting with one of these: wrappers that only name a layer,
    /// e.g. hyper-util's `client error (Connect)`.
    pub skip_prefixes: &'static [&'static str],
}

/// `e` and its sources' messages joined with `: `, outermost first, leaving out what
/// `format` says.
///
/// ```
/// use monitor_amp::{error_chain, error_chain_with, ChainFormat};
///
/// #[derive(Debug)]
/// struct SendError(std::io::Error);
/// impl std::fmt::Display for SendError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "send failed: {}", self.0)
///     }
/// }
/// impl std::error::Error for SendError {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
///
/// let e = SendError(std::io::Error::other("connection refused"));
/// assert_eq!(error_chain(&e), "send failed: connection refused: connection refused");
/// let once = ChainFormat { dedup: true, ..ChainFormat::default() };
/// assert_eq!(error_chain_with(&e, once), "send failed: connection refused");
/// let causes = ChainFormat { skip_outer: true, ..once };
/// assert_eq!(error_chain_with(&e, causes), "connection refused");
/// ```
pub fn error_chain_with(e: &dyn std::error::Error, format: ChainFormat) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = if format.skip_outer {
        e.source()
    } else {
        Some(e)
    };
    while let Some(x) = cur {
        let m = x.to_string();
        let repeated = format.dedup && (m.is_empty() || parts.iter().any(|p| p.contains(&m)));
        let wrapper = format.skip_prefixes.iter().any(|p| m.starts_with(p));
        if !repeated && !wrapper {
            parts.push(m);
        }
        cur = x.source();
    }
    if parts.is_empty() && format.skip_outer {
        return e.to_string();
    }
    parts.join(": ")
}

/// The AMP endpoint of a workspace (`https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/`):
/// the Prometheus-compatible base URL of its query API and of Grafana's datasource.
pub fn amp_workspace_url(region: &str, workspace_id: &str) -> String {
    format!("https://aps-workspaces.{region}.amazonaws.com/workspaces/{workspace_id}/")
}

/// The AMP remote-write URL of a workspace.
pub fn amp_remote_write_url(region: &str, workspace_id: &str) -> String {
    join_endpoint(
        &amp_workspace_url(region, workspace_id),
        "api/v1/remote_write",
    )
}

/// The AMP instant-query URL of a workspace (`…/api/v1/query`).
pub fn amp_query_url(region: &str, workspace_id: &str) -> String {
    join_endpoint(&amp_workspace_url(region, workspace_id), "api/v1/query")
}

/// True for a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`): the one
/// metric-name rule of the workspace (the exposition parser, user rule files and
/// `[collector] extra_metrics` all check with it).
///
/// ```
/// assert!(monitor_amp::is_metric_name("node_cpu_seconds_total"));
/// assert!(monitor_amp::is_metric_name("instance:cpu:ratio"));
/// assert!(!monitor_amp::is_metric_name("1x") && !monitor_amp::is_metric_name("a-b"));
/// ```
pub fn is_metric_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// What Prometheus makes of a label name: the one label-name rule of the workspace.
///
/// Prometheus label names match `[a-zA-Z_][a-zA-Z0-9_]*`; names starting with `__` are
/// reserved for internal use (`__name__`, `__address__`, relabelling temporaries). A
/// label a user configures (stack.toml host labels, the agent's `[labels]`) must be
/// [`LabelName::User`]; a parser of scraped data accepts every name that is not
/// [`LabelName::Invalid`].
///
/// ```
/// use monitor_amp::LabelName;
/// assert_eq!(LabelName::of("env"), LabelName::User);
/// assert_eq!(LabelName::of("__name__"), LabelName::Reserved);
/// assert_eq!(LabelName::of("a-b"), LabelName::Invalid);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelName {
    /// Valid and not reserved: a user may set it.
    User,
    /// Valid syntax but `__`-prefixed, reserved for Prometheus' internal use.
    Reserved,
    /// Not `[a-zA-Z_][a-zA-Z0-9_]*` (empty, starts with a digit, or has other characters).
    Invalid,
}

impl LabelName {
    /// Classifies `name` by the Prometheus label-name rule.
    pub fn of(name: &str) -> LabelName {
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            LabelName::Invalid
        } else if name.starts_with("__") {
            LabelName::Reserved
        } else {
            LabelName::User
        }
    }
}

#[cfg(test)]
mod label_name_tests {
    use super::LabelName;

    #[test]
    fn user_names() {
        for n in ["env", "_x1", "a", "A_b_9", "_"] {
            assert_eq!(LabelName::of(n), LabelName::User, "{n}");
        }
    }

    #[test]
    fn double_underscore_is_reserved_not_invalid() {
        for n in ["__name__", "__", "__x", "___x", "__address__"] {
            assert_eq!(LabelName::of(n), LabelName::Reserved, "{n}");
        }
    }

    #[test]
    fn invalid_names() {
        for n in ["", "1x", "a-b", "a.b", "é", "a b", "a:b", "__a-b"] {
            assert_eq!(LabelName::of(n), LabelName::Invalid, "{n}");
        }
    }
}
