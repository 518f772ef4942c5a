//! PromQL queries over the Prometheus HTTP API, as AMP serves it under a workspace root
//! (`https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/api/v1/...`) and as a
//! local Prometheus serves it under its root (`http://127.0.0.1:9090/api/v1/...`).
//!
//! | method | endpoint | HTTP | AMP IAM action |
//! |---|---|---|---|
//! | [`QueryClient::instant`] | `api/v1/query` | POST form | `aps:QueryMetrics` |
//! | [`QueryClient::range`] | `api/v1/query_range` | POST form | `aps:QueryMetrics` |
//! | [`QueryClient::series`] | `api/v1/series` | POST form | `aps:GetSeries` |
//! | [`QueryClient::labels`] | `api/v1/labels` | POST form | `aps:GetLabels` |
//! | [`QueryClient::label_values`] | `api/v1/label/<name>/values` | GET (AMP allows no POST) | `aps:GetLabels` |
//! | [`QueryClient::metadata`] | `api/v1/metadata` | GET | `aps:GetMetricMetadata` |
//!
//! POST bodies are `application/x-www-form-urlencoded` (long PromQL does not fit in a URL)
//! and are built here as bytes before signing, so the SigV4 payload hash covers exactly
//! what is sent. 429 and 502/503/504 are retried with backoff (honouring `Retry-After`);
//! Prometheus' error JSON (`{"status":"error","errorType":...}`) becomes a typed
//! [`QueryError`] whose message says what to do.
//!
//! Sample values arrive as strings (`"1"`, `"NaN"`, `"+Inf"`, `"-Inf"`) and are parsed to
//! `f64`; native-histogram samples are not decoded (instant samples that carry only a
//! histogram are skipped).

use crate::auth::Auth;
use serde::ser::SerializeTuple;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The `User-Agent` of query requests.
pub const USER_AGENT: &str = concat!("ec2-monitor-query/", env!("CARGO_PKG_VERSION"));

/// Hint given with a 403 on `query`/`query_range`.
pub const QUERY_FORBIDDEN_HINT: &str =
    "the caller lacks aps:QueryMetrics on the workspace (or the SigV4 region/service is wrong)";

/// Errors of the query client. Each message says what the caller can do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The endpoint is not a usable API root.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why it was rejected and what to pass instead.
        reason: String,
    },
    /// The server rejected the request parameters (`errorType` `bad_data`, HTTP 400).
    #[error("bad query: {message}")]
    BadData {
        /// The server's message.
        message: String,
    },
    /// The query ran out of time (`errorType` `timeout`, or AMP's 422 "query timed out").
    #[error("query timed out: {message}; narrow the time range or the selector (AMP stops a query after 1 minute)")]
    Timeout {
        /// The server's message.
        message: String,
    },
    /// HTTP 429 on every attempt.
    #[error("throttled (HTTP 429) by {url} after {attempts} attempts: {message}; retry later or lower the query rate")]
    Throttled {
        /// The request URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The server's message.
        message: String,
        /// The last `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// HTTP 403 (or 401): the caller may not query this endpoint.
    #[error("access denied (HTTP {status}) by {url}: {message}; {hint}")]
    Forbidden {
        /// Status code.
        status: u16,
        /// The request URL.
        url: String,
        /// The server's message.
        message: String,
        /// The likely cause, e.g. [`QUERY_FORBIDDEN_HINT`].
        hint: String,
    },
    /// HTTP 502/503/504 on every attempt.
    #[error("service unavailable (HTTP {status}) at {url} after {attempts} attempts: {message}")]
    Unavailable {
        /// The last status code.
        status: u16,
        /// The request URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The server's message.
        message: String,
    },
    /// Any other Prometheus API error (`execution`, `internal`, `canceled`, `not_found`, ...).
    #[error("query failed ({error_type}, HTTP {status}): {message}")]
    Api {
        /// Status code.
        status: u16,
        /// Prometheus' `errorType`.
        error_type: String,
        /// The server's message.
        message: String,
    },
    /// A non-2xx answer without Prometheus error JSON.
    #[error("HTTP {status} from {url}: {message}")]
    Http {
        /// Status code.
        status: u16,
        /// The request URL.
        url: String,
        /// The body (truncated) and, where known, what to check.
        message: String,
    },
    /// The endpoint could not be reached (DNS, connection refused, TLS, timeout).
    #[error("cannot reach {url}: {reason}; check the endpoint (a local Prometheus root looks like http://127.0.0.1:9090, an AMP workspace root like https://aps-workspaces.<region>.amazonaws.com/workspaces/ws-.../)")]
    Transport {
        /// The request URL.
        url: String,
        /// The error chain, innermost cause last.
        reason: String,
    },
    /// A 2xx answer that is not the Prometheus API's JSON.
    #[error("unexpected answer from {url}: {message} (is the endpoint a Prometheus-compatible API root?)")]
    Decode {
        /// The request URL.
        url: String,
        /// What could not be decoded.
        message: String,
    },
    /// No AWS credentials for SigV4.
    #[error("{0}")]
    Credentials(String),
    /// The request could not be signed or built.
    #[error("cannot build or sign the request: {0}")]
    Signing(String),
}

impl QueryError {
    /// Whether the error is about the setup rather than the data: wrong endpoint,
    /// unreachable host, missing credentials or permissions. Callers that run checks
    /// report these as usage/auth errors instead of failed checks.
    pub fn is_setup_error(&self) -> bool {
        match self {
            QueryError::InvalidEndpoint { .. }
            | QueryError::Forbidden { .. }
            | QueryError::Transport { .. }
            | QueryError::Decode { .. }
            | QueryError::Credentials(_)
            | QueryError::Signing(_) => true,
            QueryError::Http { status, .. } => matches!(status, 401 | 404 | 405 | 407),
            _ => false,
        }
    }
}

impl From<crate::Error> for QueryError {
    fn from(e: crate::Error) -> QueryError {
        match e {
            crate::Error::Credentials(_) => QueryError::Credentials(e.to_string()),
            other => QueryError::Signing(other.to_string()),
        }
    }
}

/// One sample: Unix time in seconds and a value (`NaN` and `±Inf` included).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix time in seconds (milliseconds in the fraction).
    pub timestamp: f64,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// The timestamp as a [`SystemTime`] (the epoch for negative or non-finite times).
    pub fn time(&self) -> SystemTime {
        Duration::try_from_secs_f64(self.timestamp)
            .map(|d| SystemTime::UNIX_EPOCH + d)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

impl Serialize for Sample {
    /// Prometheus' own form: `[1435781451.781, "1"]`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.timestamp)?;
        t.serialize_element(&format_value(self.value))?;
        t.end()
    }
}

/// One series of an instant vector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstantSample {
    /// Labels, `__name__` included when the expression keeps it.
    pub metric: BTreeMap<String, String>,
    /// The sample.
    pub value: Sample,
}

/// One series of a range vector (matrix).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RangeSeries {
    /// Labels.
    pub metric: BTreeMap<String, String>,
    /// Samples in time order.
    pub values: Vec<Sample>,
}

/// A string result.
#[derive(Debug, Clone, PartialEq)]
pub struct StringSample {
    /// Unix time in seconds.
    pub timestamp: f64,
    /// The string.
    pub value: String,
}

impl Serialize for StringSample {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.timestamp)?;
        t.serialize_element(&self.value)?;
        t.end()
    }
}

/// The typed `data` of a query answer. Serialises back to Prometheus' shape
/// (`{"resultType":"vector","result":[...]}`) with values as strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum QueryResult {
    /// An instant vector.
    Vector(Vec<InstantSample>),
    /// A range vector.
    Matrix(Vec<RangeSeries>),
    /// A scalar.
    Scalar(Sample),
    /// A string.
    String(StringSample),
}

impl QueryResult {
    /// The result as an instant vector: a scalar becomes one sample without labels, a
    /// matrix its last sample per series, a string nothing.
    pub fn into_vector(self) -> Vec<InstantSample> {
        match self {
            QueryResult::Vector(v) => v,
            QueryResult::Scalar(s) => vec![InstantSample {
                metric: BTreeMap::new(),
                value: s,
            }],
            QueryResult::Matrix(m) => m
                .into_iter()
                .filter_map(|r| {
                    let last = *r.values.last()?;
                    Some(InstantSample {
                        metric: r.metric,
                        value: last,
                    })
                })
                .collect(),
            QueryResult::String(_) => Vec::new(),
        }
    }

    /// Number of series (1 for a scalar or string).
    pub fn len(&self) -> usize {
        match self {
            QueryResult::Vector(v) => v.len(),
            QueryResult::Matrix(m) => m.len(),
            QueryResult::Scalar(_) | QueryResult::String(_) => 1,
        }
    }

    /// Whether the result holds no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Metadata of one metric (`api/v1/metadata`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct MetricMetadata {
    /// `counter`, `gauge`, `histogram`, `summary`, `unknown`, ...
    #[serde(rename = "type")]
    pub metric_type: String,
    /// The HELP text.
    #[serde(default)]
    pub help: String,
    /// The unit, often empty.
    #[serde(default)]
    pub unit: String,
}

/// Formats a value the way Prometheus does in JSON (`NaN`, `+Inf`, `-Inf`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

/// Parses a value in Prometheus' string form (`"1.5"`, `"1e3"`, `"NaN"`, `"+Inf"`, `"-Inf"`).
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Retry policy for 429 and 502/503/504 answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry).
    pub max_attempts: u32,
    /// First retry delay.
    pub min_backoff: Duration,
    /// Largest computed delay.
    pub max_backoff: Duration,
    /// Cap on a server's `Retry-After`.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, backoff 250 ms → 4 s, `Retry-After` honoured up to 15 s: a CLI waits
    /// out a short throttle but does not hang.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .min_backoff
            .saturating_mul(2u32.saturating_pow(retry.min(20)))
            .min(self.max_backoff);
        let half = exp / 2;
        let jitter = Duration::from_nanos(fastrand::u64(0..=half.as_nanos() as u64));
        let delay = half + jitter;
        match retry_after {
            Some(ra) => ra.min(self.max_retry_after).max(delay),
            None => delay,
        }
    }
}

/// Settings of a [`QueryClient`] beyond endpoint and auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryOptions {
    /// Retries of throttled/unavailable answers.
    pub retry: RetryPolicy,
    /// Per-request timeout (AMP stops queries after 1 minute, so the default is 75 s).
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl Default for QueryOptions {
    fn default() -> QueryOptions {
        QueryOptions {
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(75),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Which API a request is for (decides the 403 hint).
#[derive(Debug, Clone, Copy)]
enum Api {
    Query,
    Series,
    Labels,
    Metadata,
}

impl Api {
    fn iam_action(self) -> &'static str {
        match self {
            Api::Query => "aps:QueryMetrics",
            Api::Series => "aps:GetSeries",
            Api::Labels => "aps:GetLabels",
            Api::Metadata => "aps:GetMetricMetadata",
        }
    }
}

enum Body {
    Form(Vec<(&'static str, String)>),
    Get(Vec<(&'static str, String)>),
}

/// A client for one Prometheus-compatible API root.
///
/// ```no_run
/// use monitor_amp::{auth::Auth, query::QueryClient};
/// # async fn demo() -> Result<(), monitor_amp::query::QueryError> {
/// let client = QueryClient::new("http://127.0.0.1:9090", Auth::None)?;
/// for s in client.instant("up", None).await?.into_vector() {
///     println!("{:?} = {}", s.metric, s.value.value);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct QueryClient {
    http: reqwest::Client,
    root: String,
    auth: Auth,
    retry: RetryPolicy,
}

impl std::fmt::Debug for QueryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryClient")
            .field("root", &self.root)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl QueryClient {
    /// A client for `endpoint_root`: an AMP workspace root
    /// (`https://aps-workspaces.<region>.amazonaws.com/workspaces/ws-.../`, trailing slash
    /// optional) or a Prometheus root (`http://127.0.0.1:9090`). Rejects URLs that already
    /// name an API path such as `.../api/v1/query`.
    pub fn new(endpoint_root: &str, auth: Auth) -> Result<QueryClient, QueryError> {
        QueryClient::with_options(endpoint_root, auth, QueryOptions::default())
    }

    /// Like [`QueryClient::new`] with explicit options.
    pub fn with_options(
        endpoint_root: &str,
        auth: Auth,
        opts: QueryOptions,
    ) -> Result<QueryClient, QueryError> {
        let root = normalise_root(endpoint_root)?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .build()
            .map_err(|e| QueryError::Signing(format!("HTTP client: {e}")))?;
        Ok(QueryClient {
            http,
            root,
            auth,
            retry: opts.retry,
        })
    }

    /// The API root, without a trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.root
    }

    /// Whether requests are SigV4-signed.
    pub fn is_signed(&self) -> bool {
        matches!(self.auth, Auth::SigV4(_))
    }

    /// Instant query at `time` (server's now when `None`).
    pub async fn instant(
        &self,
        query: &str,
        time: Option<SystemTime>,
    ) -> Result<QueryResult, QueryError> {
        let mut form = vec![("query", query.to_string())];
        if let Some(t) = time {
            form.push(("time", fmt_time(t)));
        }
        let data = self
            .call(Api::Query, "api/v1/query", Body::Form(form))
            .await?;
        decode_result(&data).map_err(|message| self.decode_err("api/v1/query", message))
    }

    /// Range query over `[start, end]` at `step` resolution.
    pub async fn range(
        &self,
        query: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<QueryResult, QueryError> {
        if step.is_zero() {
            return Err(QueryError::BadData {
                message: "step must be greater than zero".into(),
            });
        }
        let form = vec![
            ("query", query.to_string()),
            ("start", fmt_time(start)),
            ("end", fmt_time(end)),
            ("step", format!("{}", step.as_secs_f64())),
        ];
        let data = self
            .call(Api::Query, "api/v1/query_range", Body::Form(form))
            .await?;
        decode_result(&data).map_err(|message| self.decode_err("api/v1/query_range", message))
    }

    /// Series matching any of `matchers` (e.g. `up{job="node"}`), each as its label set.
    pub async fn series(
        &self,
        matchers: &[&str],
        start: Option<SystemTime>,
        end: Option<SystemTime>,
    ) -> Result<Vec<BTreeMap<String, String>>, QueryError> {
        let form = matcher_params(matchers, start, end);
        let data = self
            .call(Api::Series, "api/v1/series", Body::Form(form))
            .await?;
        serde_json::from_value(data).map_err(|e| self.decode_err("api/v1/series", e.to_string()))
    }

    /// Label names, optionally restricted to series matching `matchers`.
    pub async fn labels(
        &self,
        matchers: &[&str],
        start: Option<SystemTime>,
        end: Option<SystemTime>,
    ) -> Result<Vec<String>, QueryError> {
        let form = matcher_params(matchers, start, end);
        let data = self
            .call(Api::Labels, "api/v1/labels", Body::Form(form))
            .await?;
        serde_json::from_value(data).map_err(|e| self.decode_err("api/v1/labels", e.to_string()))
    }

    /// Values of label `name` (GET: AMP serves this endpoint with GET only).
    pub async fn label_values(
        &self,
        name: &str,
        matchers: &[&str],
        start: Option<SystemTime>,
        end: Option<SystemTime>,
    ) -> Result<Vec<String>, QueryError> {
        let valid = name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if name.is_empty() || !valid {
            return Err(QueryError::BadData {
                message: format!("invalid label name {name:?}"),
            });
        }
        let path = format!("api/v1/label/{name}/values");
        let params = matcher_params(matchers, start, end);
        let data = self.call(Api::Labels, &path, Body::Get(params)).await?;
        serde_json::from_value(data).map_err(|e| self.decode_err(&path, e.to_string()))
    }

    /// Metric metadata (type, help, unit), for one metric or all (`None`).
    pub async fn metadata(
        &self,
        metric: Option<&str>,
    ) -> Result<BTreeMap<String, Vec<MetricMetadata>>, QueryError> {
        let params = metric
            .map(|m| vec![("metric", m.to_string())])
            .unwrap_or_default();
        let data = self
            .call(Api::Metadata, "api/v1/metadata", Body::Get(params))
            .await?;
        serde_json::from_value(data).map_err(|e| self.decode_err("api/v1/metadata", e.to_string()))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.root, path)
    }

    fn decode_err(&self, path: &str, message: String) -> QueryError {
        QueryError::Decode {
            url: crate::redacted_str(&self.url(path)),
            message,
        }
    }

    fn build(&self, url: &str, body: &Body) -> Result<reqwest::Request, QueryError> {
        let req = match body {
            Body::Form(params) => {
                // Encoded here, not by reqwest, so the bytes signed are the bytes sent.
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
                    .finish();
                self.http
                    .post(url)
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(encoded.into_bytes())
                    .build()
            }
            Body::Get(params) => {
                let mut u = url::Url::parse(url).map_err(|e| QueryError::InvalidEndpoint {
                    endpoint: crate::redacted_str(url),
                    reason: e.to_string(),
                })?;
                if !params.is_empty() {
                    u.query_pairs_mut()
                        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
                }
                self.http.get(u).build()
            }
        };
        req.map_err(|e| QueryError::Signing(e.to_string()))
    }

    /// Sends with retries and returns the envelope's `data`.
    async fn call(
        &self,
        api: Api,
        path: &str,
        body: Body,
    ) -> Result<serde_json::Value, QueryError> {
        let url = self.url(path);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let mut req = self.build(&url, &body)?;
            self.auth.apply(&mut req).await?;
            let resp = self
                .http
                .execute(req)
                .await
                .map_err(|e| QueryError::Transport {
                    url: crate::redacted_str(&url),
                    reason: error_chain(&e),
                })?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::remote_write::parse_retry_after);
            let bytes = resp.bytes().await.map_err(|e| QueryError::Transport {
                url: crate::redacted_str(&url),
                reason: error_chain(&e),
            })?;
            let envelope: Option<Envelope> = serde_json::from_slice(&bytes).ok();
            let retryable = status == 429
                || (matches!(status, 502..=504)
                    && envelope.as_ref().and_then(|e| e.error_type.as_deref()) != Some("timeout"));
            if retryable && attempt < self.retry.max_attempts {
                let delay = self.retry.delay(attempt - 1, retry_after);
                tracing::debug!(status, attempt, ?delay, url = %crate::redacted_str(&url), "query retry");
                tokio::time::sleep(delay).await;
                continue;
            }
            return self.classify(api, &url, status, attempt, retry_after, &bytes, envelope);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn classify(
        &self,
        api: Api,
        url: &str,
        status: u16,
        attempts: u32,
        retry_after: Option<Duration>,
        bytes: &[u8],
        envelope: Option<Envelope>,
    ) -> Result<serde_json::Value, QueryError> {
        let (error_type, message) = match &envelope {
            Some(e) => (
                e.error_type.clone().unwrap_or_default(),
                e.error.clone().unwrap_or_default(),
            ),
            None => (String::new(), truncate(&String::from_utf8_lossy(bytes))),
        };
        if (200..300).contains(&status) {
            return match envelope {
                Some(e) if e.status == "success" => {
                    for w in e.warnings.iter().chain(e.infos.iter()) {
                        tracing::warn!(warning = %w, url = %crate::redacted_str(url), "query warning");
                    }
                    Ok(e.data.unwrap_or(serde_json::Value::Null))
                }
                Some(e) if e.status == "error" => Err(api_error(status, error_type, message)),
                _ => Err(QueryError::Decode {
                    url: crate::redacted_str(url),
                    message: format!(
                        "not a Prometheus API envelope: {}",
                        truncate(&String::from_utf8_lossy(bytes))
                    ),
                }),
            };
        }
        let message = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        };
        match status {
            401 | 403 => {
                let mut hint = match api {
                    Api::Query => QUERY_FORBIDDEN_HINT.to_string(),
                    other => format!(
                        "the caller lacks {} on the workspace (or the SigV4 region/service is wrong)",
                        other.iam_action()
                    ),
                };
                if !self.is_signed() {
                    hint.push_str("; the request was not signed: AMP needs SigV4 (service aps), pass a region");
                }
                Err(QueryError::Forbidden {
                    status,
                    url: crate::redacted_str(url),
                    message,
                    hint,
                })
            }
            429 => Err(QueryError::Throttled {
                url: crate::redacted_str(url),
                attempts,
                message,
                retry_after,
            }),
            _ if error_type == "timeout"
                || (status == 422 && message.to_ascii_lowercase().contains("timed out")) =>
            {
                Err(QueryError::Timeout { message })
            }
            502..=504 => Err(QueryError::Unavailable {
                status,
                url: crate::redacted_str(url),
                attempts,
                message,
            }),
            _ if !error_type.is_empty() => Err(api_error(status, error_type, message)),
            400 => Err(QueryError::BadData { message }),
            404 => Err(QueryError::Http {
                status,
                url: crate::redacted_str(url),
                message: format!(
                    "{message} (no Prometheus API here: pass the workspace or server root, e.g. https://aps-workspaces.<region>.amazonaws.com/workspaces/ws-.../)"
                ),
            }),
            _ => Err(QueryError::Http {
                status,
                url: crate::redacted_str(url),
                message,
            }),
        }
    }
}

fn api_error(status: u16, error_type: String, message: String) -> QueryError {
    match error_type.as_str() {
        "bad_data" => QueryError::BadData { message },
        "timeout" => QueryError::Timeout { message },
        _ if status == 422 && message.to_ascii_lowercase().contains("timed out") => {
            QueryError::Timeout { message }
        }
        _ => QueryError::Api {
            status,
            error_type: if error_type.is_empty() {
                "unknown".into()
            } else {
                error_type
            },
            message,
        },
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum RawResult {
    Vector(Vec<RawSeries>),
    Matrix(Vec<RawSeries>),
    Scalar((f64, String)),
    String((f64, String)),
}

#[derive(Debug, Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<(f64, String)>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

fn sample((timestamp, v): (f64, String)) -> Result<Sample, String> {
    let value = parse_value(&v).ok_or_else(|| format!("sample value {v:?} is not a number"))?;
    Ok(Sample { timestamp, value })
}

fn decode_result(data: &serde_json::Value) -> Result<QueryResult, String> {
    let raw = RawResult::deserialize(data).map_err(|e| format!("query result: {e}"))?;
    Ok(match raw {
        RawResult::Vector(v) => QueryResult::Vector(
            v.into_iter()
                // Native-histogram samples carry `histogram` instead of `value`.
                .filter_map(|s| s.value.map(|p| (s.metric, p)))
                .map(|(metric, p)| {
                    Ok(InstantSample {
                        metric,
                        value: sample(p)?,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
        RawResult::Matrix(m) => QueryResult::Matrix(
            m.into_iter()
                .map(|s| {
                    Ok(RangeSeries {
                        metric: s.metric,
                        values: s.values.into_iter().map(sample).collect::<Result<_, _>>()?,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
        RawResult::Scalar(p) => QueryResult::Scalar(sample(p)?),
        RawResult::String((timestamp, value)) => {
            QueryResult::String(StringSample { timestamp, value })
        }
    })
}

fn matcher_params(
    matchers: &[&str],
    start: Option<SystemTime>,
    end: Option<SystemTime>,
) -> Vec<(&'static str, String)> {
    let mut p: Vec<(&'static str, String)> = matchers
        .iter()
        .map(|m| ("match[]", m.to_string()))
        .collect();
    if let Some(s) = start {
        p.push(("start", fmt_time(s)));
    }
    if let Some(e) = end {
        p.push(("end", fmt_time(e)));
    }
    p
}

/// Unix seconds with millisecond precision, as the API accepts.
fn fmt_time(t: SystemTime) -> String {
    let d = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

fn normalise_root(endpoint: &str) -> Result<String, QueryError> {
    let bad = |reason: String| QueryError::InvalidEndpoint {
        endpoint: crate::redacted_str(endpoint),
        reason,
    };
    let u = url::Url::parse(endpoint.trim()).map_err(|e| {
        bad(format!(
            "{e}; expected e.g. http://127.0.0.1:9090 or https://aps-workspaces.<region>.amazonaws.com/workspaces/ws-.../"
        ))
    })?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(bad("expected an http(s)://host[:port][/path] URL".into()));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(bad("the endpoint must not carry a query string".into()));
    }
    let path = u.path().trim_end_matches('/');
    if let Some(i) = path.find("/api/v1") {
        let root = format!("{}{}/", u.origin().ascii_serialization(), &path[..i]);
        return Err(bad(format!(
            "pass the API root, not an API path: use {root} (the client appends api/v1/...)"
        )));
    }
    Ok(format!("{}{}", u.origin().ascii_serialization(), path))
}

fn truncate(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 300 {
        let mut t: String = s.chars().take(300).collect();
        t.push('…');
        t
    } else {
        s.to_string()
    }
}

/// The causes of a transport error, outermost first, without reqwest's "error sending
/// request for url (...)" wrapper (the URL is already in the message) and without
/// repeating a message: e.g. `tcp connect error: Connection refused (os error 111)`.
fn error_chain(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    crate::error_chain_with(
        e,
        crate::ChainFormat {
            skip_outer: true,
            dedup: true,
            skip_prefixes: &["client error ("],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_format_in_prometheus_form() {
        assert!(parse_value("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_value("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_value("1e3"), Some(1000.0));
        assert_eq!(parse_value("-0.5"), Some(-0.5));
        assert_eq!(parse_value("x"), None);
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(2.5), "2.5");
        assert_eq!(format_value(3.0), "3");
    }

    #[test]
    fn roots_are_normalised_and_api_paths_rejected() {
        assert_eq!(
            normalise_root("https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/")
                .unwrap(),
            "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1"
        );
        assert_eq!(
            normalise_root("http://127.0.0.1:9090").unwrap(),
            "http://127.0.0.1:9090"
        );
        let e = normalise_root("https://h.example/workspaces/ws-1/api/v1/query")
            .unwrap_err()
            .to_string();
        assert!(e.contains("use https://h.example/workspaces/ws-1/"), "{e}");
        assert!(normalise_root("ftp://x").is_err());
        assert!(normalise_root("not a url").is_err());
    }

    #[test]
    fn times_are_unix_seconds_with_millis() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_435_781_451_781);
        assert_eq!(fmt_time(t), "1435781451.781");
    }

    #[test]
    fn results_serialise_back_to_prometheus_shape() {
        let r = QueryResult::Vector(vec![InstantSample {
            metric: BTreeMap::from([("job".to_string(), "node".to_string())]),
            value: Sample {
                timestamp: 1.5,
                value: f64::NAN,
            },
        }]);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"resultType":"vector","result":[{"metric":{"job":"node"},"value":[1.5,"NaN"]}]}"#
        );
    }

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let p = RetryPolicy::default();
        for i in 0..10 {
            assert!(p.delay(i, None) <= p.max_backoff);
        }
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(999))),
            p.max_retry_after
        );
    }
}
