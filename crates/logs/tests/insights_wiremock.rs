//! Logs Insights against wiremock: the query status machine, deadlines, StopQuery,
//! throttling and limits — what moto cannot do (its queries complete synchronously, it has
//! no StopQuery and never throttles).
//!
//! The stubs speak CloudWatch Logs' AWS JSON 1.1 protocol: `POST /`, header
//! `X-Amz-Target: Logs_20140328.<Action>`, content type `application/x-amz-json-1.1`;
//! errors are HTTP 400 with `{"__type": "<Code>", "message": "…"}`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatchlogs::config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::config::{Credentials, Region};
use monitor_logs::insights::{
    run_query, run_query_until, PollOptions, QueryRequest, QueryStatus, TimeRange,
};
use monitor_logs::query::DEFAULT_QUERY;
use monitor_logs::report::{run_logs_command_with, CommandOptions, LogsCommand, OutputFormat};
use monitor_logs::{Client, LogsError};
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const GROUP: &str = "/monitoring-test/system";
const QUERY_ID: &str = "12ab3456-12ab-123a-789e-1234567890ab";
const JSON_11: &str = "application/x-amz-json-1.1";

/// Builds the client the way production does (one SdkConfig, `endpoint_url` swapped).
/// `sdk_retries: false` turns the SDK's own retries off — only for tests that prove this
/// crate's retry/backoff logic, so a retried call is ours and not the SDK's.
async fn client(server: &MockServer, sdk_retries: bool) -> Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(server.uri())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    let mut conf = aws_sdk_cloudwatchlogs::config::Builder::from(&sdk);
    if !sdk_retries {
        conf = conf.retry_config(RetryConfig::disabled());
    }
    Client::from_conf(conf.build())
}

fn fast() -> PollOptions {
    PollOptions {
        initial_interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(40),
        multiplier: 2,
        deadline: Duration::from_secs(10),
    }
}

/// A fixed 15-minute window: 2024-05-01T12:00:00Z .. 12:15:00Z.
fn window() -> TimeRange {
    let start = UNIX_EPOCH + Duration::from_secs(1_714_564_800);
    TimeRange::between(start, start + Duration::from_secs(900))
}

fn request() -> QueryRequest {
    QueryRequest::new([GROUP], DEFAULT_QUERY, window())
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), JSON_11)
}

fn aws_error(code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_raw(
        json!({"__type": code, "message": message}).to_string(),
        JSON_11,
    )
}

/// Answers with the given responses in order, then repeats the last one.
struct Sequence {
    responses: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

fn sequence(responses: Vec<ResponseTemplate>) -> Sequence {
    Sequence {
        responses,
        next: AtomicUsize::new(0),
    }
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.responses[i.min(self.responses.len() - 1)].clone()
    }
}

fn action(name: &str) -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header(
            "x-amz-target",
            format!("Logs_20140328.{name}").as_str(),
        ))
        .and(header("content-type", JSON_11))
}

async fn calls(server: &MockServer, name: &str) -> usize {
    let target = format!("Logs_20140328.{name}");
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| {
            r.headers.get("x-amz-target").and_then(|v| v.to_str().ok()) == Some(target.as_str())
        })
        .count()
}

// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartQuery.html
// Response syntax: {"queryId": "string"}.
fn start_ok() -> ResponseTemplate {
    ok(json!({"queryId": QUERY_ID}))
}

// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetQueryResults.html
// Response syntax: {"results": [[{"field", "value"}]], "statistics": {"recordsMatched",
// "recordsScanned", "bytesScanned"}, "status": "Scheduled|Running|Complete|Failed|
// Cancelled|Timeout|Unknown"}; `@ptr` comes with every row; partial results while Running.
fn results(status: &str, rows: &[&[(&str, &str)]]) -> ResponseTemplate {
    let results: Vec<Value> = rows
        .iter()
        .map(|fields| {
            Value::Array(
                fields
                    .iter()
                    .map(|(f, v)| json!({"field": f, "value": v}))
                    .collect(),
            )
        })
        .collect();
    ok(json!({
        "results": results,
        "statistics": {"recordsMatched": rows.len() as f64, "recordsScanned": 610956.0, "bytesScanned": 81349723.0},
        "status": status,
    }))
}

// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StopQuery.html
// Response syntax: {"success": boolean}.
fn stop_ok() -> ResponseTemplate {
    ok(json!({"success": true}))
}

const ROW_NEW: &[(&str, &str)] = &[
    ("@timestamp", "2024-05-01 12:14:59.000"),
    ("@logStream", "i-0123456789abcdef0"),
    (
        "@message",
        "May  1 12:14:59 ip-10-0-0-1 systemd[1]: Started session",
    ),
    (
        "@ptr",
        "CmAKJwojMTIzNDU2Nzg5MDEyOi9tb25pdG9yaW5nLXRlc3Qvc3lzdGVtEAA",
    ),
];
const ROW_OLD: &[(&str, &str)] = &[
    ("@timestamp", "2024-05-01 12:00:01.000"),
    ("@logStream", "i-0fedcba9876543210"),
    (
        "@message",
        "Cloud-init v. 22.2.2 finished at Wed, 01 May 2024 12:00:01 +0000",
    ),
    (
        "@ptr",
        "CmAKJwojMTIzNDU2Nzg5MDEyOi9tb25pdG9yaW5nLXRlc3Qvc3lzdGVtEAE",
    ),
];

#[tokio::test]
async fn walks_scheduled_running_complete_into_typed_rows() {
    let server = MockServer::start().await;
    // Times go out as epoch SECONDS; one group goes out as logGroupName.
    action("StartQuery")
        .and(body_partial_json(json!({
            "logGroupName": GROUP,
            "startTime": 1_714_564_800,
            "endTime": 1_714_565_700,
            "queryString": DEFAULT_QUERY,
            "limit": 500,
        })))
        .respond_with(start_ok())
        .expect(1)
        .mount(&server)
        .await;
    action("GetQueryResults")
        .and(body_partial_json(json!({"queryId": QUERY_ID})))
        .respond_with(sequence(vec![
            results("Scheduled", &[]),
            results("Running", &[ROW_NEW]),
            results("Complete", &[ROW_NEW, ROW_OLD]),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    action("StopQuery")
        .respond_with(stop_ok())
        .expect(0)
        .mount(&server)
        .await;

    let c = client(&server, true).await;
    let res = run_query(&c, &request().with_limit(500), &fast())
        .await
        .unwrap();

    assert_eq!(res.query_id, QUERY_ID);
    assert_eq!(res.status, QueryStatus::Complete);
    assert_eq!(res.rows.len(), 2);
    let first = &res.rows[0];
    assert_eq!(first.log_stream.as_deref(), Some("i-0123456789abcdef0"));
    assert_eq!(first.timestamp.as_deref(), Some("2024-05-01 12:14:59.000"));
    assert_eq!(
        first.timestamp_time(),
        Some(UNIX_EPOCH + Duration::from_secs(1_714_565_699))
    );
    assert!(first
        .message
        .as_deref()
        .unwrap()
        .contains("Started session"));
    assert!(first.ptr.is_some());
    assert!(first.other.is_empty());
    let stats = res.statistics.unwrap();
    assert_eq!(stats.records_matched, 2.0);
    assert_eq!(stats.bytes_scanned, 81_349_723.0);
}

#[tokio::test]
async fn several_groups_go_out_as_log_group_names() {
    let server = MockServer::start().await;
    action("StartQuery")
        .and(body_partial_json(
            json!({"logGroupNames": [GROUP, "/monitoring-test/app"]}),
        ))
        .respond_with(start_ok())
        .expect(1)
        .mount(&server)
        .await;
    action("GetQueryResults")
        .respond_with(results("Complete", &[ROW_OLD]))
        .mount(&server)
        .await;
    let c = client(&server, true).await;
    let req = QueryRequest::new([GROUP, "/monitoring-test/app"], DEFAULT_QUERY, window());
    let res = run_query(&c, &req, &fast()).await.unwrap();
    assert_eq!(res.rows.len(), 1);
}

#[tokio::test]
async fn failed_status_is_an_error() {
    let server = MockServer::start().await;
    action("StartQuery")
        .respond_with(start_ok())
        .mount(&server)
        .await;
    action("GetQueryResults")
        .respond_with(sequence(vec![
            results("Running", &[]),
            results("Failed", &[]),
        ]))
        .mount(&server)
        .await;
    action("StopQuery")
        .respond_with(stop_ok())
        .expect(0)
        .mount(&server)
        .await;
    let c = client(&server, true).await;
    let err = run_query(&c, &request(), &fast()).await.unwrap_err();
    assert!(
        matches!(&err, LogsError::QueryEnded { status: QueryStatus::Failed, query_id } if query_id == QUERY_ID),
        "{err:?}"
    );
    assert_eq!(calls(&server, "GetQueryResults").await, 2);
}

#[tokio::test]
async fn timeout_and_cancelled_statuses_are_errors() {
    for (status, expected) in [
        ("Timeout", QueryStatus::Timeout),
        ("Cancelled", QueryStatus::Cancelled),
    ] {
        let server = MockServer::start().await;
        action("StartQuery")
            .respond_with(start_ok())
            .mount(&server)
            .await;
        action("GetQueryResults")
            .respond_with(sequence(vec![
                results("Scheduled", &[]),
                results("Running", &[ROW_NEW]),
                results(status, &[ROW_NEW]),
            ]))
            .mount(&server)
            .await;
        let c = client(&server, true).await;
        let err = run_query(&c, &request(), &fast()).await.unwrap_err();
        match &err {
            LogsError::QueryEnded { status, .. } => assert_eq!(*status, expected),
            other => panic!("{status}: unexpected {other:?}"),
        }
        if expected == QueryStatus::Timeout {
            assert!(err.to_string().contains("narrow the time range"), "{err}");
        }
    }
}

#[tokio::test]
async fn unknown_status_is_tolerated_briefly_then_fails_and_stops() {
    let server = MockServer::start().await;
    action("StartQuery")
        .respond_with(start_ok())
        .mount(&server)
        .await;
    action("GetQueryResults")
        .respond_with(sequence(vec![
            results("Unknown", &[]),
            results("Unknown", &[]),
            results("Complete", &[ROW_OLD]),
        ]))
        .mount(&server)
        .await;
    let c = client(&server, true).await;
    let res = run_query(&c, &request(), &fast()).await.unwrap();
    assert_eq!(res.rows.len(), 1);

    let server = MockServer::start().await;
    action("StartQuery")
        .respond_with(start_ok())
        .mount(&server)
        .await;
    action("GetQueryResults")
        .respond_with(results("Unknown", &[]))
        .mount(&server)
        .await;
    action("StopQuery")
        .respond_with(stop_ok())
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, true).await;
    let err = run_query(&c, &request(), &fast()).await.unwrap_err();
    assert!(
        matches!(
            err,
            LogsError::QueryEnded {
                status: QueryStatus::Unknown,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(calls(&server, "GetQueryResults").await, 4);
}

#[tokio::test]
async fn deadline_sends_stop_query() {
    let server = MockServer::start().await;
    action("StartQuery")
        .respond_with(start_ok())
        .mount(&server)
        .await;
    action("GetQueryResults")
        .respond_with(results("Running", &[ROW_NEW]))
        .mount(&server)
        .await;
    action("StopQuery")
        .and(body_partial_json(json!({"queryId": QUERY_ID})))
        .respond_with(stop_ok())
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, true).await;
    let opts = PollOptions {
        deadline: Duration::from_millis(300),
        ..fast()
    };
    let started = std::time::Instant::now();
    let err = run_query(&c, &request(), &opts).await.unwrap_err();
    assert!(
        matches!(&err, LogsError::DeadlineExceeded { query_id, stopped: true, .. } if query_id == QUERY_ID),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(calls(&server, "GetQueryResults").await >= 2, "it polled");
    assert_eq!(calls(&server, "StopQuery").await, 1, "StopQuery received");
    assert!(err.to_string().contains("StopQuery sent"), "{err}");
}

#[tokio::test]
async fn cancel_sends_stop_query() {
    let server = MockServer::start().await;
    action("StartQuery")
        .respond_with(start_ok())
        .mount(&server)
        .await;
    action("GetQueryResults")
        .respond_with(results("Running", &[]))
        .mount(&server)
        .await;
    action("StopQuery")
        .and(body_partial_json(json!({"queryId": QUERY_ID})))
        .respond_with(stop_ok())
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, true).await;
    let cancel = tokio::time::sleep(Duration::from_millis(150));
    let err = run_query_until(&c, &request(), &fast(), cancel)
        .await
        .unwrap_err();
    match err {
        LogsError::Cancelled { query_id, stopped } => {
            assert_eq!(query_id.as_deref(), Some(QUERY_ID));
            assert!(stopped);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn throttling_is_retried_by_our_backoff() {
    // SDK retries are off here so that every retry seen is this crate's own.
    let server = MockServer::start().await;
    action("StartQuery")
        .respond_with(sequence(vec![
            aws_error("ThrottlingException", "Rate exceeded"),
            start_ok(),
        ]))
        .mount(&server)
        .await;
    action("GetQueryResults")
        .respond_with(sequence(vec![
            aws_error("ThrottlingException", "Rate exceeded"),
            results("Running", &[]),
            aws_error("ThrottlingException", "Rate exceeded"),
            results("Complete", &[ROW_NEW]),
        ]))
        .mount(&server)
        .await;
    action("StopQuery")
        .respond_with(stop_ok())
        .expect(0)
        .mount(&server)
        .await;
    let c = client(&server, false).await;
    let res = run_query(&c, &request(), &fast()).await.unwrap();
    assert_eq!(res.rows.len(), 1);
    assert_eq!(calls(&server, "StartQuery").await, 2);
    assert_eq!(calls(&server, "GetQueryResults").await, 4);
}

#[tokio::test]
async fn persistent_throttling_ends_at_the_deadline() {
    // SDK retries off: this proves our deadline bounds our retries.
    let server = MockServer::start().await;
    action("StartQuery")
        .respond_with(aws_error("ThrottlingException", "Rate exceeded"))
        .mount(&server)
        .await;
    let c = client(&server, false).await;
    let opts = PollOptions {
        deadline: Duration::from_millis(200),
        ..fast()
    };
    let err = run_query(&c, &request(), &opts).await.unwrap_err();
    assert!(
        matches!(
            err,
            LogsError::Throttled {
                action: "StartQuery",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(calls(&server, "StartQuery").await >= 2);
}

#[tokio::test]
async fn concurrent_query_limit_is_surfaced_with_a_hint() {
    let server = MockServer::start().await;
    // StartQuery error `LimitExceededException` (API_StartQuery.html, Errors). The SDK's
    // standard retry mode counts this code as throttling and tries up to 3 times (a slot
    // may free up); this crate adds no retries of its own on top.
    action("StartQuery")
        .respond_with(aws_error(
            "LimitExceededException",
            "Account maximum query concurrency limit reached",
        ))
        .expect(1..=3)
        .mount(&server)
        .await;
    action("GetQueryResults")
        .respond_with(results("Complete", &[]))
        .expect(0)
        .mount(&server)
        .await;
    let c = client(&server, true).await;
    let err = run_query(&c, &request(), &fast()).await.unwrap_err();
    assert!(
        matches!(&err, LogsError::ConcurrentQueryLimit { message } if message.contains("concurrency")),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("concurrent"), "{text}");
    assert!(
        text.contains("aws logs describe-queries --status Running"),
        "{text}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn malformed_query_is_reported() {
    let server = MockServer::start().await;
    // StartQuery error `MalformedQueryException` carries a queryCompileError.
    action("StartQuery")
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            json!({
                "__type": "MalformedQueryException",
                "message": "unexpected symbol found | at line 1 and position 8",
                "queryCompileError": {"location": {"startCharOffset": 7, "endCharOffset": 8}, "message": "unexpected symbol"}
            })
            .to_string(),
            JSON_11,
        ))
        .mount(&server)
        .await;
    let c = client(&server, true).await;
    let req = QueryRequest::new([GROUP], "fields | |", window());
    let err = run_query(&c, &req, &fast()).await.unwrap_err();
    assert!(
        matches!(&err, LogsError::MalformedQuery { message } if message.contains("position 8")),
        "{err:?}"
    );
}

#[tokio::test]
async fn access_denied_while_polling_stops_the_query() {
    let server = MockServer::start().await;
    action("StartQuery")
        .respond_with(start_ok())
        .mount(&server)
        .await;
    action("GetQueryResults")
        .respond_with(aws_error(
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: logs:GetQueryResults",
        ))
        .mount(&server)
        .await;
    action("StopQuery")
        .respond_with(stop_ok())
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, true).await;
    let err = run_query(&c, &request(), &fast()).await.unwrap_err();
    assert!(
        matches!(
            err,
            LogsError::AccessDenied {
                action: "GetQueryResults",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("grant logs:GetQueryResults"),
        "{err}"
    );
}

#[tokio::test]
async fn limits_are_checked_before_any_call() {
    let server = MockServer::start().await;
    let c = client(&server, true).await;
    let groups: Vec<String> = (0..51).map(|i| format!("/g/{i}")).collect();
    let too_many = QueryRequest::new(groups, DEFAULT_QUERY, window());
    let backwards = QueryRequest::new(
        [GROUP],
        DEFAULT_QUERY,
        TimeRange::between(window().end, window().start),
    );
    let too_large = request().with_limit(10_001);
    for req in [too_many, backwards, too_large] {
        let err = run_query(&c, &req, &fast()).await.unwrap_err();
        assert!(matches!(err, LogsError::InvalidRequest(_)), "{err:?}");
    }
    assert!(server
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn logs_command_prints_a_table_and_json_lines() {
    let server = MockServer::start().await;
    action("StartQuery")
        .and(body_partial_json(json!({"queryString": DEFAULT_QUERY})))
        .respond_with(start_ok())
        .mount(&server)
        .await;
    action("GetQueryResults")
        .respond_with(results("Complete", &[ROW_NEW, ROW_OLD]))
        .mount(&server)
        .await;
    let c = client(&server, true).await;
    let opts = CommandOptions {
        poll: fast(),
        ..CommandOptions::default()
    };
    let cmd = LogsCommand {
        groups: vec![GROUP.into()],
        since: Duration::from_secs(900),
        query: None,
        follow: false,
        output: OutputFormat::Table,
    };

    let mut out = Vec::new();
    run_logs_command_with(&c, cmd.clone(), &opts, &mut out, std::future::pending())
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "@timestamp               @logStream           @message"
    );
    assert!(lines[1].starts_with("2024-05-01 12:14:59.000  i-0123456789abcdef0  May  1"));
    assert!(lines[2].contains("Cloud-init v. 22.2.2 finished"));
    assert!(lines[3].starts_with("2 rows (records matched 2"), "{text}");

    let mut out = Vec::new();
    let json_cmd = LogsCommand {
        output: OutputFormat::Json,
        ..cmd
    };
    run_logs_command_with(&c, json_cmd, &opts, &mut out, std::future::pending())
        .await
        .unwrap();
    let rows: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["@logStream"], "i-0fedcba9876543210");
    assert!(rows[0].get("@ptr").is_none());
}

#[tokio::test]
async fn logs_command_rejects_query_with_follow() {
    let server = MockServer::start().await;
    let c = client(&server, true).await;
    let cmd = LogsCommand {
        groups: vec![GROUP.into()],
        since: Duration::from_secs(60),
        query: Some("fields @message".into()),
        follow: true,
        output: OutputFormat::Table,
    };
    let mut out = Vec::new();
    let err = run_logs_command_with(
        &c,
        cmd,
        &CommandOptions::default(),
        &mut out,
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("--follow"), "{err}");
}
