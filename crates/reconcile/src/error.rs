//! The crate's one error type, and the mapping from any AWS SDK error to it by error code.

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

/// Everything that can go wrong planning, applying or destroying. Each variant says what
/// the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The SDK configuration has no region.
    #[error(
        "no AWS region: set `region` in stack.toml, or AWS_REGION / a profile's region \
         (aws-config's standard chain)"
    )]
    MissingRegion,

    /// No credentials could be loaded.
    #[error(
        "no AWS credentials: {message}. Set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
         AWS_PROFILE (run `aws sso login` for SSO profiles) or run on a host with a role"
    )]
    MissingCredentials {
        /// What the credential chain said.
        message: String,
    },

    /// The caller lacks an IAM permission.
    #[error(
        "{action}: access denied ({code}: {message}); grant `{action}` to the identity \
         running monitor-provision"
    )]
    AccessDenied {
        /// The IAM action, e.g. `ec2:RunInstances`.
        action: &'static str,
        /// The AWS error code (`UnauthorizedOperation`, `AccessDenied`, …).
        code: String,
        /// The service's message.
        message: String,
    },

    /// A service quota or limit is used up.
    #[error(
        "{action}: quota exceeded ({code}: {message}); free capacity or request an increase \
         in Service Quotas, then re-run apply"
    )]
    Quota {
        /// The IAM action that hit the quota.
        action: &'static str,
        /// The AWS error code.
        code: String,
        /// The service's message.
        message: String,
    },

    /// Throttled beyond the SDK's retries.
    #[error("{action}: throttled ({code}: {message}); wait a minute and re-run, apply converges")]
    Throttled {
        /// The IAM action.
        action: &'static str,
        /// The AWS error code.
        code: String,
        /// The service's message.
        message: String,
    },

    /// Any other service error.
    #[error("{action}: {code}: {message}")]
    Service {
        /// The IAM action.
        action: &'static str,
        /// The AWS error code.
        code: String,
        /// The service's message.
        message: String,
    },

    /// No service answer at all (connection refused, DNS, timeout, unparsable response).
    #[error("{action}: {message} (check the network, the endpoint and the region)")]
    Transport {
        /// The IAM action.
        action: &'static str,
        /// The SDK's description with its causes.
        message: String,
    },

    /// A resource with the stack's name exists but does not carry the stack's tags: it
    /// is not ours and is never touched.
    #[error(
        "{kind} `{name}` exists but is not tagged stack={stack}, managed-by=monitor-provision; \
         it is left alone: rename the stack, or delete/tag that {kind} yourself"
    )]
    NotOurs {
        /// Resource kind (`IAM role`, `log group`, …).
        kind: &'static str,
        /// Its name.
        name: String,
        /// The stack name.
        stack: String,
    },

    /// Something the stack refers to does not exist or does not fit (subnet, VPC, AMI).
    #[error("{0}")]
    Config(String),

    /// CloudWatch Logs (through `monitor-logs`).
    #[error(transparent)]
    Logs(#[from] monitor_logs::LogsError),

    /// Amazon Managed Grafana or the Grafana HTTP API (through `monitor-grafana`; its
    /// messages carry the hint).
    #[error(transparent)]
    Grafana(#[from] monitor_grafana::Error),

    /// An alert override or user rule file does not apply (names file, line and key).
    #[error(transparent)]
    Alerts(#[from] monitor_alerts::AlertsError),

    /// Querying the metrics endpoint or the alerting APIs (through `monitor-checks`):
    /// `monitor-verify --config` only.
    #[error(transparent)]
    Checks(#[from] monitor_checks::ChecksError),

    /// Rendering a host's user_data failed.
    #[error(transparent)]
    Bootstrap(#[from] monitor_bootstrap::BootstrapError),

    /// A wait (workspace ACTIVE, instance running/terminated, IAM propagation, SSM
    /// command) did not finish in time.
    #[error("timed out after {seconds}s waiting for {what}; re-run apply to continue from here")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        seconds: u64,
    },

    /// A resource reached a state it will not leave (e.g. workspace CREATION_FAILED,
    /// SSM command Failed).
    #[error("{0}")]
    Failed(String),

    /// Several steps of one apply phase failed; the first one is shown, all are listed.
    #[error("{} step(s) failed; first: {}", .0.len(), .0.first().map(|e| e.to_string()).unwrap_or_default())]
    Many(Vec<ReconcileError>),
}

/// Error codes that mean "throttled".
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "EC2ThrottledException",
];

/// Error codes that mean "permission missing".
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
];

/// Error codes that mean "a quota is used up".
const QUOTA: &[&str] = &[
    "InstanceLimitExceeded",
    "VcpuLimitExceeded",
    "LimitExceeded",
    "LimitExceededException",
    "ServiceQuotaExceededException",
    "ResourceLimitExceeded",
    "SecurityGroupLimitExceeded",
    "RulesPerSecurityGroupLimitExceeded",
    "MaxSpotInstanceCountExceeded",
    "InsufficientInstanceCapacity",
];

/// Codes of a credential problem (an expired or invalid key is reported by the service).
const BAD_CREDENTIALS: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
];

impl ReconcileError {
    /// Maps an SDK error of IAM action `action` (e.g. `ec2:RunInstances`) by its AWS code.
    pub fn from_sdk<E, R>(action: &'static str, err: SdkError<E, R>) -> ReconcileError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let context = error_chain(&err);
        let Some(code) = err.code().map(str::to_owned) else {
            if context.contains("credentials") || context.contains("Credentials") {
                return ReconcileError::MissingCredentials { message: context };
            }
            return ReconcileError::Transport {
                action,
                message: context,
            };
        };
        let message = err.message().unwrap_or("").to_string();
        let c = code.as_str();
        if THROTTLING.contains(&c) {
            ReconcileError::Throttled {
                action,
                code,
                message,
            }
        } else if ACCESS_DENIED.contains(&c) {
            ReconcileError::AccessDenied {
                action,
                code,
                message,
            }
        } else if QUOTA.contains(&c) {
            ReconcileError::Quota {
                action,
                code,
                message,
            }
        } else if BAD_CREDENTIALS.contains(&c) {
            ReconcileError::MissingCredentials {
                message: format!("{action}: {code}: {message}"),
            }
        } else {
            ReconcileError::Service {
                action,
                code,
                message,
            }
        }
    }

    /// The AWS error code, if this is a service error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::AccessDenied { code, .. }
            | Self::Quota { code, .. }
            | Self::Throttled { code, .. }
            | Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The service message, if this is a service error.
    pub fn service_message(&self) -> Option<&str> {
        match self {
            Self::AccessDenied { message, .. }
            | Self::Quota { message, .. }
            | Self::Throttled { message, .. }
            | Self::Service { message, .. } => Some(message),
            _ => None,
        }
    }

    /// True for "not found" codes of any service (used to make deletes idempotent).
    pub fn is_not_found(&self) -> bool {
        self.code().is_some_and(|c| {
            c.contains("NotFound")
                || c.ends_with(".NotFound")
                || c == "NoSuchEntity"
                || c == "ResourceNotFoundException"
        })
    }
}

/// Shorthand used across the crate.
pub type Result<T, E = ReconcileError> = std::result::Result<T, E>;

/// `err` and its sources' messages joined with `: `, each only once (the SDK's
/// `DisplayErrorContext` also appends the Debug form, too much for a terminal).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    monitor_amp::error_chain_with(
        err,
        monitor_amp::ChainFormat {
            dedup: true,
            ..monitor_amp::ChainFormat::default()
        },
    )
}
