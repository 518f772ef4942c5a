//! The crate's one error type, and the mapping from SDK errors to it.

use std::time::Duration;

use aws_sdk_cloudwatchlogs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::insights::QueryStatus;

/// What the user can do about the concurrent-query limit (StartQuery `LimitExceededException`).
pub const CONCURRENT_QUERY_HINT: &str = "too many Logs Insights queries are running in this \
account and region (quota: 30 concurrent queries, 20 on older accounts); wait for them to \
finish or stop them (`aws logs describe-queries --status Running`, `aws logs stop-query \
--query-id ID`), then retry";

/// Everything that can go wrong in this crate. Each variant says what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// The request was rejected before any I/O (too many groups, bad time range, …).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// A log group or stream does not exist (`ResourceNotFoundException`).
    #[error("{action}: not found: {message} (check the group name and the region)")]
    NotFound {
        /// The API action, e.g. `StartQuery`.
        action: &'static str,
        /// The service's message.
        message: String,
    },

    /// The caller lacks the IAM permission for the action.
    #[error("{action}: access denied: {message}; grant logs:{action} to the caller")]
    AccessDenied {
        /// The API action, e.g. `FilterLogEvents` (the IAM action is `logs:<action>`).
        action: &'static str,
        /// The service's message.
        message: String,
    },

    /// The service throttled the call and the retries (SDK's and ours) did not get through.
    #[error("{action}: throttled: {message}; retry later or lower the request rate")]
    Throttled {
        /// The API action.
        action: &'static str,
        /// The service's message.
        message: String,
    },

    /// StartQuery refused because the account's concurrent Logs Insights queries are used up.
    #[error("StartQuery: limit exceeded: {message}; {CONCURRENT_QUERY_HINT}")]
    ConcurrentQueryLimit {
        /// The service's message.
        message: String,
    },

    /// The Logs Insights query string does not compile (`MalformedQueryException`).
    #[error("malformed Logs Insights query: {message}")]
    MalformedQuery {
        /// The service's message (includes the compile error location).
        message: String,
    },

    /// The query ended in a terminal state other than `Complete`.
    #[error("query {query_id} ended with status {status}{}", status_advice(*status))]
    QueryEnded {
        /// The query id returned by StartQuery.
        query_id: String,
        /// `Failed`, `Cancelled`, `Timeout` or `Unknown`.
        status: QueryStatus,
    },

    /// The overall deadline passed before the query completed; StopQuery was sent.
    #[error(
        "query {query_id} did not complete within {}; StopQuery {}; narrow the time range \
         or the log groups, or raise the deadline",
        humantime::format_duration(*deadline),
        if *stopped { "sent" } else { "failed (the query may still be running)" }
    )]
    DeadlineExceeded {
        /// The query id returned by StartQuery.
        query_id: String,
        /// The deadline that passed.
        deadline: Duration,
        /// Whether StopQuery succeeded.
        stopped: bool,
    },

    /// The caller cancelled the query; StopQuery was sent when a query was running.
    #[error("query cancelled{}", match query_id {
        Some(id) if *stopped => format!(" (query {id} stopped)"),
        Some(id) => format!(" (StopQuery for {id} failed; it may still be running)"),
        None => String::new(),
    })]
    Cancelled {
        /// The query id, if StartQuery had returned.
        query_id: Option<String>,
        /// Whether StopQuery succeeded.
        stopped: bool,
    },

    /// Any other error code returned by CloudWatch Logs.
    #[error("{action}: {code}: {message}")]
    Service {
        /// The API action.
        action: &'static str,
        /// The AWS error code (`__type`), e.g. `InvalidParameterException`.
        code: String,
        /// The service's message.
        message: String,
    },

    /// The request did not get a service answer (connection, timeout, unparsable response).
    #[error("{action}: {message} (check the endpoint, region and network)")]
    Transport {
        /// The API action.
        action: &'static str,
        /// The SDK's description, with its causes.
        message: String,
    },

    /// Writing rendered output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

fn status_advice(status: QueryStatus) -> &'static str {
    match status {
        QueryStatus::Failed => {
            " (the service could not run it; check the query and the log groups)"
        }
        QueryStatus::Timeout => {
            " (the service's 60-minute query timeout; narrow the time range or the log groups)"
        }
        QueryStatus::Cancelled => " (someone called StopQuery on it)",
        _ => "",
    }
}

/// Error codes that mean "throttled, try again later".
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];

/// Error codes that mean "the service had a transient problem".
const TRANSIENT_CODES: &[&str] = &[
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
];

impl LogsError {
    /// True when retrying the same call later may succeed (throttling, transient 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            LogsError::Throttled { .. } => true,
            LogsError::Service { code, .. } => TRANSIENT_CODES.contains(&code.as_str()),
            _ => false,
        }
    }

    /// Maps an SDK error of `action` to the crate error, by AWS error code.
    pub(crate) fn from_sdk<E, R>(action: &'static str, err: SdkError<E, R>) -> LogsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let message = err
            .message()
            .map(str::to_owned)
            .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
        let Some(code) = err.code().map(str::to_owned) else {
            return LogsError::Transport {
                action,
                message: DisplayErrorContext(&err).to_string(),
            };
        };
        match code.as_str() {
            c if THROTTLING_CODES.contains(&c) => LogsError::Throttled { action, message },
            "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => {
                LogsError::AccessDenied { action, message }
            }
            "ResourceNotFoundException" => LogsError::NotFound { action, message },
            "LimitExceededException" if action == "StartQuery" => {
                LogsError::ConcurrentQueryLimit { message }
            }
            "MalformedQueryException" => LogsError::MalformedQuery { message },
            _ => LogsError::Service {
                action,
                code,
                message,
            },
        }
    }
}
