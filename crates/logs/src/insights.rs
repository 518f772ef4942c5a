//! CloudWatch Logs Insights: start a query, poll it to completion, stop it on timeout or cancel.
//!
//! The state machine (`GetQueryResults.status`): `Scheduled` → `Running` → `Complete`, or one
//! of the terminal failures `Failed`, `Cancelled`, `Timeout`; `Unknown` is tolerated for a few
//! polls (it can show up right after StartQuery) before it counts as a failure. Polls back off
//! exponentially (GetQueryResults has a low per-account TPS quota), throttling and transient
//! 5xx answers are retried within an overall deadline, and when the deadline passes or the
//! caller cancels, the query is stopped with `StopQuery` so it stops using one of the
//! account's concurrent-query slots.
//!
//! Service limits checked before any call (CloudWatch Logs API Reference, `API_StartQuery`):
//! 1–[`MAX_LOG_GROUPS`] log groups, `limit` 1–[`MAX_LIMIT`], a non-empty query of at most
//! [`MAX_QUERY_LENGTH`] characters, and `start < end`; times go out as epoch **seconds**.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::QueryStatus as SdkQueryStatus;
use aws_sdk_cloudwatchlogs::Client;
use serde::Serialize;
use tokio::time::Instant;

use crate::error::LogsError;

/// StartQuery accepts at most this many log groups.
pub const MAX_LOG_GROUPS: usize = 50;

/// The largest `limit` this crate sends. The Insights `limit` default is 10,000 rows, the
/// most one GetQueryResults call returns; newer API docs allow up to 100,000 with
/// GetQueryResults paging, which this crate does not use.
pub const MAX_LIMIT: i32 = 10_000;

/// StartQuery's `queryString` is at most this many characters.
pub const MAX_QUERY_LENGTH: usize = 10_000;

/// How many consecutive `Unknown` statuses are tolerated before giving up.
const MAX_UNKNOWN_POLLS: u32 = 3;

/// How long a best-effort StopQuery may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The status of a Logs Insights query, as returned by GetQueryResults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum QueryStatus {
    /// Accepted, waiting for capacity.
    Scheduled,
    /// Running; results so far are partial.
    Running,
    /// Finished; results are final.
    Complete,
    /// The service could not run it.
    Failed,
    /// StopQuery was called on it.
    Cancelled,
    /// It hit the service's query timeout (60 minutes).
    Timeout,
    /// The service does not know the status (or sent a value this crate does not know).
    Unknown,
}

impl QueryStatus {
    /// True for statuses after which the query will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            QueryStatus::Complete
                | QueryStatus::Failed
                | QueryStatus::Cancelled
                | QueryStatus::Timeout
        )
    }

    /// The service's spelling (`"Running"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            QueryStatus::Scheduled => "Scheduled",
            QueryStatus::Running => "Running",
            QueryStatus::Complete => "Complete",
            QueryStatus::Failed => "Failed",
            QueryStatus::Cancelled => "Cancelled",
            QueryStatus::Timeout => "Timeout",
            QueryStatus::Unknown => "Unknown",
        }
    }

    fn from_sdk(s: Option<&SdkQueryStatus>) -> QueryStatus {
        match s.map(SdkQueryStatus::as_str) {
            Some("Scheduled") => QueryStatus::Scheduled,
            Some("Running") => QueryStatus::Running,
            Some("Complete") => QueryStatus::Complete,
            Some("Failed") => QueryStatus::Failed,
            Some("Cancelled") => QueryStatus::Cancelled,
            Some("Timeout") => QueryStatus::Timeout,
            _ => QueryStatus::Unknown,
        }
    }
}

impl std::fmt::Display for QueryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The time window a query covers (both ends inclusive, as in StartQuery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Start of the window.
    pub start: SystemTime,
    /// End of the window.
    pub end: SystemTime,
}

impl TimeRange {
    /// The window from `d` ago until now.
    pub fn last(d: Duration) -> TimeRange {
        let end = SystemTime::now();
        TimeRange {
            start: end.checked_sub(d).unwrap_or(UNIX_EPOCH),
            end,
        }
    }

    /// The window between two instants.
    pub fn between(start: SystemTime, end: SystemTime) -> TimeRange {
        TimeRange { start, end }
    }

    /// `(start, end)` in epoch seconds for StartQuery: the start rounded down and the end
    /// rounded up, so the window covers at least what was asked. Errors unless start < end.
    pub fn epoch_seconds(&self) -> Result<(i64, i64), LogsError> {
        if self.start >= self.end {
            return Err(LogsError::InvalidRequest(format!(
                "time range start {} is not before end {}",
                humantime::format_rfc3339_seconds(self.start),
                humantime::format_rfc3339_seconds(self.end)
            )));
        }
        let start = self
            .start
            .duration_since(UNIX_EPOCH)
            .map_err(|_| LogsError::InvalidRequest("time range starts before 1970-01-01".into()))?;
        let end = self
            .end
            .duration_since(UNIX_EPOCH)
            .map_err(|_| LogsError::InvalidRequest("time range ends before 1970-01-01".into()))?;
        let end_secs = end.as_secs() + u64::from(end.subsec_nanos() > 0);
        let to_i64 = |s: u64| {
            i64::try_from(s)
                .map_err(|_| LogsError::InvalidRequest("time range is out of bounds".into()))
        };
        Ok((to_i64(start.as_secs())?, to_i64(end_secs)?))
    }
}

/// One Logs Insights query: which groups, what query, which window, how many rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    /// Log group names (1–50).
    pub log_groups: Vec<String>,
    /// The Logs Insights query string, e.g. [`crate::query::DEFAULT_QUERY`].
    pub query: String,
    /// The time window.
    pub range: TimeRange,
    /// StartQuery `limit` (1–10,000); `None` leaves the service default (10,000).
    pub limit: Option<i32>,
}

impl QueryRequest {
    /// A request over `log_groups` with the service's default row limit.
    pub fn new<I, S>(log_groups: I, query: impl Into<String>, range: TimeRange) -> QueryRequest
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        QueryRequest {
            log_groups: log_groups.into_iter().map(Into::into).collect(),
            query: query.into(),
            range,
            limit: None,
        }
    }

    /// Sets the StartQuery `limit`.
    pub fn with_limit(mut self, limit: i32) -> QueryRequest {
        self.limit = Some(limit);
        self
    }

    /// Checks the service limits without any I/O; returns `(start, end)` in epoch seconds.
    pub fn validate(&self) -> Result<(i64, i64), LogsError> {
        if self.log_groups.is_empty() {
            return Err(LogsError::InvalidRequest(
                "no log group given (StartQuery needs at least one)".into(),
            ));
        }
        if self.log_groups.len() > MAX_LOG_GROUPS {
            return Err(LogsError::InvalidRequest(format!(
                "{} log groups given; StartQuery accepts at most {MAX_LOG_GROUPS} per query \
                 (split them across queries)",
                self.log_groups.len()
            )));
        }
        if let Some(g) = self.log_groups.iter().find(|g| g.is_empty()) {
            return Err(LogsError::InvalidRequest(format!(
                "empty log group name in {:?} (got {g:?})",
                self.log_groups
            )));
        }
        let len = self.query.chars().count();
        if self.query.trim().is_empty() {
            return Err(LogsError::InvalidRequest(
                "the query string is empty".into(),
            ));
        }
        if len > MAX_QUERY_LENGTH {
            return Err(LogsError::InvalidRequest(format!(
                "the query string has {len} characters; StartQuery accepts at most \
                 {MAX_QUERY_LENGTH}"
            )));
        }
        if let Some(limit) = self.limit {
            if !(1..=MAX_LIMIT).contains(&limit) {
                return Err(LogsError::InvalidRequest(format!(
                    "limit {limit} is outside 1..={MAX_LIMIT} rows"
                )));
            }
        }
        self.range.epoch_seconds()
    }
}

/// How to poll: exponential backoff between GetQueryResults calls and an overall deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollOptions {
    /// Wait before the first poll (default 500 ms).
    pub initial_interval: Duration,
    /// Upper bound for the wait between polls (default 5 s).
    pub max_interval: Duration,
    /// Factor applied to the wait after each poll (default 2).
    pub multiplier: u32,
    /// Overall deadline from StartQuery to Complete (default 5 min); then StopQuery.
    pub deadline: Duration,
}

impl Default for PollOptions {
    fn default() -> PollOptions {
        PollOptions {
            initial_interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(5),
            multiplier: 2,
            deadline: Duration::from_secs(300),
        }
    }
}

impl PollOptions {
    fn next_interval(&self, current: Duration) -> Duration {
        current
            .saturating_mul(self.multiplier.max(1))
            .min(self.max_interval)
    }
}

/// What a query scanned, from GetQueryResults `statistics`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct QueryStatistics {
    /// Log events that matched the query.
    pub records_matched: f64,
    /// Log events scanned.
    pub records_scanned: f64,
    /// Bytes scanned.
    pub bytes_scanned: f64,
}

/// One result row: the well-known `@` fields typed, every other field kept in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Row {
    /// `@timestamp` as the service returned it (`2024-05-01 12:00:00.000`, UTC).
    pub timestamp: Option<String>,
    /// `@logStream` (the instance id, for the CloudWatch Agent's `{instance_id}` streams).
    pub log_stream: Option<String>,
    /// `@message`.
    pub message: Option<String>,
    /// `@ptr`, the service's pointer to the full event (not shown to users).
    pub ptr: Option<String>,
    /// Every other field (`@log`, parsed fields, stats columns), in result order.
    pub other: Vec<(String, String)>,
}

impl Row {
    /// Builds a row from `(field, value)` pairs as GetQueryResults returns them.
    pub fn from_fields<I, K, V>(fields: I) -> Row
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut row = Row::default();
        for (k, v) in fields {
            let (k, v) = (k.into(), v.into());
            match k.as_str() {
                "@timestamp" => row.timestamp = Some(v),
                "@logStream" => row.log_stream = Some(v),
                "@message" => row.message = Some(v),
                "@ptr" => row.ptr = Some(v),
                _ => row.other.push((k, v)),
            }
        }
        row
    }

    /// The value of any field by name, `@` fields included.
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            "@timestamp" => self.timestamp.as_deref(),
            "@logStream" => self.log_stream.as_deref(),
            "@message" => self.message.as_deref(),
            "@ptr" => self.ptr.as_deref(),
            _ => self
                .other
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str()),
        }
    }

    /// `@timestamp` as an instant. Accepts the service's `YYYY-MM-DD HH:MM:SS.mmm` (UTC),
    /// RFC 3339, and plain epoch milliseconds (what moto returns).
    pub fn timestamp_time(&self) -> Option<SystemTime> {
        parse_insights_timestamp(self.timestamp.as_deref()?)
    }

    /// Every field as `(name, value)` except `@ptr`, well-known fields first.
    pub fn visible_fields(&self) -> Vec<(&str, &str)> {
        let mut out = Vec::with_capacity(3 + self.other.len());
        for (k, v) in [
            ("@timestamp", &self.timestamp),
            ("@logStream", &self.log_stream),
            ("@message", &self.message),
        ] {
            if let Some(v) = v {
                out.push((k, v.as_str()));
            }
        }
        out.extend(self.other.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        out
    }
}

/// Parses an Insights `@timestamp` value (see [`Row::timestamp_time`]).
pub fn parse_insights_timestamp(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .ok()
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    }
    humantime::parse_rfc3339_weak(s).ok()
}

/// The outcome of a query (final when `status` is `Complete`).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResults {
    /// The id StartQuery returned.
    pub query_id: String,
    /// The status of the last poll.
    pub status: QueryStatus,
    /// The rows, in the order the query sorted them.
    pub rows: Vec<Row>,
    /// What the query scanned, when the service reported it.
    pub statistics: Option<QueryStatistics>,
}

/// Sends StartQuery once (no retries beyond the SDK's); returns the query id.
pub async fn start_query(client: &Client, req: &QueryRequest) -> Result<String, LogsError> {
    let (start, end) = req.validate()?;
    let mut call = client
        .start_query()
        .start_time(start)
        .end_time(end)
        .query_string(&req.query)
        .set_limit(req.limit);
    // Exactly one of logGroupName | logGroupNames | logGroupIdentifiers may be sent.
    call = match req.log_groups.as_slice() {
        [one] => call.log_group_name(one),
        many => call.set_log_group_names(Some(many.to_vec())),
    };
    let out = call
        .send()
        .await
        .map_err(|e| LogsError::from_sdk("StartQuery", e))?;
    out.query_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| LogsError::Service {
            action: "StartQuery",
            code: "MissingQueryId".into(),
            message: "the response carried no queryId".into(),
        })
}

/// Sends GetQueryResults once and converts the answer.
pub async fn get_query_results(client: &Client, query_id: &str) -> Result<QueryResults, LogsError> {
    let out = client
        .get_query_results()
        .query_id(query_id)
        .send()
        .await
        .map_err(|e| LogsError::from_sdk("GetQueryResults", e))?;
    let rows = out
        .results()
        .iter()
        .map(|fields| {
            Row::from_fields(fields.iter().filter_map(|f| {
                Some((
                    f.field()?.to_owned(),
                    f.value().unwrap_or_default().to_owned(),
                ))
            }))
        })
        .collect();
    Ok(QueryResults {
        query_id: query_id.to_owned(),
        status: QueryStatus::from_sdk(out.status()),
        rows,
        statistics: out.statistics().map(|s| QueryStatistics {
            records_matched: s.records_matched(),
            records_scanned: s.records_scanned(),
            bytes_scanned: s.bytes_scanned(),
        }),
    })
}

/// Sends StopQuery once; `Ok(true)` when the service says it stopped the query.
pub async fn stop_query(client: &Client, query_id: &str) -> Result<bool, LogsError> {
    let out = client
        .stop_query()
        .query_id(query_id)
        .send()
        .await
        .map_err(|e| LogsError::from_sdk("StopQuery", e))?;
    Ok(out.success())
}

/// Runs a query to completion: StartQuery, then GetQueryResults with backoff until
/// `Complete`, within `opts.deadline` (StopQuery when it passes).
pub async fn run_query(
    client: &Client,
    req: &QueryRequest,
    opts: &PollOptions,
) -> Result<QueryResults, LogsError> {
    run_query_until(client, req, opts, std::future::pending()).await
}

/// Like [`run_query`], and when `cancel` completes first, stops the query (StopQuery) and
/// returns [`LogsError::Cancelled`]. Pass e.g. `tokio::signal::ctrl_c()` mapped to `()`.
pub async fn run_query_until(
    client: &Client,
    req: &QueryRequest,
    opts: &PollOptions,
    cancel: impl Future<Output = ()>,
) -> Result<QueryResults, LogsError> {
    req.validate()?;
    let deadline = Instant::now() + opts.deadline;
    let mut interval = opts.initial_interval;
    tokio::pin!(cancel);

    // StartQuery is not raced against `cancel`: dropping it mid-flight could leave a query
    // running whose id we never learn.
    let query_id = loop {
        let attempt = tokio::time::timeout_at(deadline, start_query(client, req)).await;
        match attempt {
            Ok(Ok(id)) => break id,
            Ok(Err(e)) if e.is_retryable() => {
                tracing::warn!(error = %e, "StartQuery refused; retrying");
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(LogsError::Transport {
                    action: "StartQuery",
                    message: format!(
                        "no answer within the {} deadline",
                        humantime::format_duration(opts.deadline)
                    ),
                })
            }
        }
        match wait(deadline, interval, cancel.as_mut()).await {
            Wake::Go => {}
            Wake::Cancelled => {
                return Err(LogsError::Cancelled {
                    query_id: None,
                    stopped: false,
                })
            }
            Wake::Deadline => {
                return Err(LogsError::Throttled {
                    action: "StartQuery",
                    message: format!(
                        "still refused when the {} deadline passed",
                        humantime::format_duration(opts.deadline)
                    ),
                })
            }
        }
        interval = opts.next_interval(interval);
    };
    tracing::debug!(%query_id, "query started");

    let mut interval = opts.initial_interval;
    let mut unknown = 0;
    loop {
        match wait(deadline, interval, cancel.as_mut()).await {
            Wake::Go => {}
            Wake::Deadline => return Err(give_up(client, query_id, opts.deadline).await),
            Wake::Cancelled => {
                let stopped = stop_best_effort(client, &query_id).await;
                return Err(LogsError::Cancelled {
                    query_id: Some(query_id),
                    stopped,
                });
            }
        }
        interval = opts.next_interval(interval);
        let poll = tokio::time::timeout_at(deadline, get_query_results(client, &query_id)).await;
        let res = match poll {
            Err(_) => return Err(give_up(client, query_id, opts.deadline).await),
            Ok(Err(e)) if e.is_retryable() => {
                tracing::warn!(%query_id, error = %e, "GetQueryResults refused; backing off");
                continue;
            }
            Ok(Err(e)) => {
                // The query keeps a concurrency slot until it ends: free it.
                stop_best_effort(client, &query_id).await;
                return Err(e);
            }
            Ok(Ok(res)) => res,
        };
        tracing::debug!(%query_id, status = %res.status, rows = res.rows.len(), "polled");
        match res.status {
            QueryStatus::Complete => return Ok(res),
            QueryStatus::Scheduled | QueryStatus::Running => unknown = 0,
            QueryStatus::Unknown if unknown < MAX_UNKNOWN_POLLS => unknown += 1,
            status => {
                if status == QueryStatus::Unknown {
                    stop_best_effort(client, &query_id).await;
                }
                return Err(LogsError::QueryEnded { query_id, status });
            }
        }
    }
}

/// Why [`wait`] returned.
enum Wake {
    /// The interval passed: poll again.
    Go,
    /// The overall deadline passed.
    Deadline,
    /// The caller's cancel future completed.
    Cancelled,
}

/// Sleeps `interval`, cut short by the deadline or by `cancel`.
async fn wait(
    deadline: Instant,
    interval: Duration,
    cancel: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Wake {
    let wake = (Instant::now() + interval).min(deadline);
    tokio::select! {
        biased;
        () = cancel => Wake::Cancelled,
        () = tokio::time::sleep_until(wake) => {
            if Instant::now() < deadline { Wake::Go } else { Wake::Deadline }
        }
    }
}

async fn give_up(client: &Client, query_id: String, deadline: Duration) -> LogsError {
    let stopped = stop_best_effort(client, &query_id).await;
    LogsError::DeadlineExceeded {
        query_id,
        deadline,
        stopped,
    }
}

async fn stop_best_effort(client: &Client, query_id: &str) -> bool {
    match tokio::time::timeout(STOP_TIMEOUT, stop_query(client, query_id)).await {
        Ok(Ok(stopped)) => stopped,
        Ok(Err(e)) => {
            tracing::warn!(%query_id, error = %e, "StopQuery failed");
            false
        }
        Err(_) => {
            tracing::warn!(%query_id, "StopQuery timed out");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn time_range_rounds_outwards_to_seconds() {
        let r = TimeRange::between(at(100, 900), at(200, 1));
        assert_eq!(r.epoch_seconds().unwrap(), (100, 201));
        let whole = TimeRange::between(at(100, 0), at(200, 0));
        assert_eq!(whole.epoch_seconds().unwrap(), (100, 200));
    }

    #[test]
    fn time_range_must_be_ordered() {
        let err = TimeRange::between(at(200, 0), at(100, 0))
            .epoch_seconds()
            .unwrap_err();
        assert!(err.to_string().contains("is not before end"), "{err}");
        assert!(TimeRange::between(at(5, 0), at(5, 0))
            .epoch_seconds()
            .is_err());
    }

    #[test]
    fn last_window_ends_now() {
        let r = TimeRange::last(Duration::from_secs(900));
        assert_eq!(r.end.duration_since(r.start).unwrap().as_secs(), 900);
    }

    #[test]
    fn validate_enforces_service_limits() {
        let range = TimeRange::between(at(100, 0), at(200, 0));
        let ok = QueryRequest::new(["g"], "fields @message", range);
        assert_eq!(ok.validate().unwrap(), (100, 200));

        let none = QueryRequest::new(Vec::<String>::new(), "fields @message", range);
        assert!(none.validate().is_err());

        let groups: Vec<String> = (0..51).map(|i| format!("g{i}")).collect();
        let err = QueryRequest::new(groups, "fields @message", range)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("at most 50"), "{err}");
        let fifty: Vec<String> = (0..50).map(|i| format!("g{i}")).collect();
        assert!(QueryRequest::new(fifty, "fields @message", range)
            .validate()
            .is_ok());

        for bad in [0, -1, 10_001] {
            let err = ok.clone().with_limit(bad).validate().unwrap_err();
            assert!(err.to_string().contains("limit"), "{err}");
        }
        assert!(ok.clone().with_limit(10_000).validate().is_ok());

        assert!(QueryRequest::new(["g"], "  ", range).validate().is_err());
        let long = "x".repeat(MAX_QUERY_LENGTH + 1);
        assert!(QueryRequest::new(["g"], long, range).validate().is_err());
    }

    #[test]
    fn rows_type_the_well_known_fields() {
        let row = Row::from_fields([
            ("@timestamp", "2024-05-01 12:00:00.123"),
            ("@logStream", "i-0abc"),
            ("@message", "hello"),
            ("@ptr", "CmAKJwoj"),
            ("level", "info"),
        ]);
        assert_eq!(row.log_stream.as_deref(), Some("i-0abc"));
        assert_eq!(row.get("level"), Some("info"));
        assert_eq!(row.get("@message"), Some("hello"));
        assert_eq!(row.get("missing"), None);
        assert_eq!(
            row.timestamp_time(),
            Some(at(1_714_564_800, 123)),
            "Insights timestamps are UTC"
        );
        let names: Vec<&str> = row.visible_fields().iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["@timestamp", "@logStream", "@message", "level"]);
    }

    #[test]
    fn timestamps_in_epoch_millis_parse() {
        assert_eq!(
            parse_insights_timestamp("1714564800123"),
            Some(at(1_714_564_800, 123))
        );
        assert_eq!(
            parse_insights_timestamp("2024-05-01T12:00:00Z"),
            Some(at(1_714_564_800, 0))
        );
        assert_eq!(parse_insights_timestamp("yesterday"), None);
    }

    #[test]
    fn backoff_grows_to_the_cap() {
        let o = PollOptions {
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_millis(350),
            multiplier: 2,
            deadline: Duration::from_secs(1),
        };
        let a = o.next_interval(o.initial_interval);
        let b = o.next_interval(a);
        let c = o.next_interval(b);
        assert_eq!(
            [a, b, c].map(|d| d.as_millis()),
            [200, 350, 350],
            "doubling, capped"
        );
    }

    #[test]
    fn terminal_statuses() {
        assert!(QueryStatus::Complete.is_terminal());
        assert!(QueryStatus::Timeout.is_terminal());
        assert!(!QueryStatus::Running.is_terminal());
        assert!(!QueryStatus::Unknown.is_terminal());
        assert_eq!(
            QueryStatus::from_sdk(Some(&SdkQueryStatus::from("Scheduled"))),
            QueryStatus::Scheduled
        );
        assert_eq!(
            QueryStatus::from_sdk(Some(&SdkQueryStatus::from("Brand-new"))),
            QueryStatus::Unknown
        );
        assert_eq!(QueryStatus::from_sdk(None), QueryStatus::Unknown);
    }
}
