//! The crate's error type.

/// Everything that can go wrong talking to AMG or to Grafana. Each variant says what the
/// user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Grafana endpoint is not a usable URL or host name.
    #[error("invalid Grafana endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// What was given.
        endpoint: String,
        /// Why it was refused.
        reason: String,
    },
    /// The Grafana HTTP API could not be reached (DNS, TLS, connection, timeout).
    #[error(
        "Grafana API {method} {path}: {source} (is the workspace endpoint reachable from here?)"
    )]
    Http {
        /// HTTP method.
        method: String,
        /// Request path (never carries the token).
        path: String,
        /// Transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The Grafana HTTP API answered with an unexpected status.
    #[error("Grafana API {method} {path} returned HTTP {status}: {message}{}", hint_suffix(.hint))]
    Api {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Grafana's `message` (or the body).
        message: String,
        /// What to do about it, if known.
        hint: Option<String>,
    },
    /// A datasource was saved but its health check failed.
    #[error("datasource {name} (uid {uid}) failed its health check: {message} — {hint}")]
    DatasourceUnhealthy {
        /// Datasource uid.
        uid: String,
        /// Datasource name.
        name: String,
        /// Grafana's health message.
        message: String,
        /// Likely cause and fix.
        hint: String,
    },
    /// An AMG control-plane call failed.
    #[error("AMG {operation} failed: {message}{}", hint_suffix(.hint))]
    Amg {
        /// API operation, e.g. `CreateWorkspace`.
        operation: &'static str,
        /// The service's error (code and message).
        message: String,
        /// What to do about it, if known.
        hint: Option<String>,
    },
    /// The workspace reached a failed state.
    #[error("AMG workspace {workspace_id} is {status}: fix the cause in the AWS console or delete the workspace, then re-run apply")]
    WorkspaceFailed {
        /// Workspace id.
        workspace_id: String,
        /// Its status.
        status: String,
    },
    /// The workspace did not become ACTIVE in time.
    #[error("AMG workspace {workspace_id} still {status} after {waited_secs} s; creation usually takes a few minutes — re-run apply to keep waiting")]
    WorkspaceTimeout {
        /// Workspace id.
        workspace_id: String,
        /// Last status seen.
        status: String,
        /// How long we waited.
        waited_secs: u64,
    },
    /// `UpdatePermissions` answered 200 but reported failed instructions.
    #[error("AMG UpdatePermissions on {workspace_id} rejected {}: {} — {hint}", errors.len(), errors.join("; "))]
    Permissions {
        /// Workspace id.
        workspace_id: String,
        /// One line per failed instruction (`ROLE group-id: code message`).
        errors: Vec<String>,
        /// What to do.
        hint: String,
    },
    /// A configuration value is invalid (found before any call is made).
    #[error("invalid Grafana configuration: {0}")]
    Config(String),
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!(" — {h}"),
        None => String::new(),
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
