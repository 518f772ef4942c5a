//! FilterLogEvents paging edge cases that moto does not produce: empty pages that still
//! carry a `nextToken`, events out of order across streams, overlap between polls, and
//! throttling in the middle of a follow.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatchlogs::config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::config::{Credentials, Region};
use monitor_logs::tail::{Tail, TailOptions};
use monitor_logs::Client;
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const GROUP: &str = "/monitoring-test/system";
const JSON_11: &str = "application/x-amz-json-1.1";
const T0: i64 = 1_714_564_800_000;

/// `sdk_retries: false` only where this crate's own retrying is under test.
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

struct Sequence {
    responses: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.responses[i.min(self.responses.len() - 1)].clone()
    }
}

fn sequence(responses: Vec<ResponseTemplate>) -> Sequence {
    Sequence {
        responses,
        next: AtomicUsize::new(0),
    }
}

fn filter_log_events() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("x-amz-target", "Logs_20140328.FilterLogEvents"))
        .and(header("content-type", JSON_11))
}

fn event(id: &str, stream: &str, offset_ms: i64, message: &str) -> Value {
    json!({
        "eventId": id,
        "ingestionTime": T0 + offset_ms + 50,
        "logStreamName": stream,
        "message": message,
        "timestamp": T0 + offset_ms,
    })
}

// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html
// Response syntax: {"events": [{"eventId", "ingestionTime", "logStreamName", "message",
// "timestamp"}], "nextToken": "string", "searchedLogStreams": [...]}; a page may hold no
// events and still carry a nextToken ("you must keep paging until there is no token").
fn page(events: Vec<Value>, next_token: Option<&str>) -> ResponseTemplate {
    let mut body = json!({"events": events, "searchedLogStreams": []});
    if let Some(t) = next_token {
        body["nextToken"] = json!(t);
    }
    ResponseTemplate::new(200).set_body_raw(body.to_string(), JSON_11)
}

async fn request_bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

#[tokio::test]
async fn pages_through_empty_pages_sorts_and_deduplicates_across_polls() {
    let server = MockServer::start().await;
    // Continuation pages are routed by their token.
    filter_log_events()
        .and(body_partial_json(json!({"nextToken": "t1"})))
        .respond_with(page(vec![], Some("t2")))
        .with_priority(1)
        .mount(&server)
        .await;
    filter_log_events()
        .and(body_partial_json(json!({"nextToken": "t2"})))
        .respond_with(page(vec![event("e3", "i-a", 30, "third")], None))
        .with_priority(1)
        .mount(&server)
        .await;
    // First pages of poll 1 and poll 2. Poll 2 re-reads e3 (same millisecond window).
    filter_log_events()
        .respond_with(sequence(vec![
            page(
                vec![
                    event("e2", "i-b", 20, "second"),
                    event("e1", "i-a", 10, "first"),
                ],
                Some("t1"),
            ),
            page(
                vec![
                    event("e3", "i-a", 30, "third"),
                    event("e4", "i-b", 40, "fourth"),
                ],
                None,
            ),
        ]))
        .with_priority(5)
        .mount(&server)
        .await;

    let c = client(&server, true).await;
    let opts = TailOptions::new(GROUP)
        .since(UNIX_EPOCH + Duration::from_millis(T0 as u64))
        .page_size(2);
    let mut tail = Tail::new(c, opts);

    let first = tail.poll().await.unwrap();
    let ids: Vec<&str> = first.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["e1", "e2", "e3"], "all pages, in time order");
    assert_eq!(first[0].timestamp_ms, T0 + 10);
    assert_eq!(first[1].log_stream, "i-b");
    assert_eq!(first[2].ingestion_time_ms, Some(T0 + 80));

    let second = tail.poll().await.unwrap();
    let ids: Vec<&str> = second.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["e4"], "e3 was already delivered");

    let bodies = request_bodies(&server).await;
    assert_eq!(bodies.len(), 4);
    // Times are epoch MILLISECONDS; the second poll starts at the newest event seen.
    assert_eq!(bodies[0]["startTime"], json!(T0));
    assert_eq!(bodies[0]["logGroupName"], json!(GROUP));
    assert_eq!(bodies[0]["limit"], json!(2));
    assert_eq!(bodies[1]["nextToken"], json!("t1"));
    assert_eq!(bodies[2]["nextToken"], json!("t2"));
    assert_eq!(bodies[3]["startTime"], json!(T0 + 30));
    assert!(bodies[3].get("nextToken").is_none());
}

#[tokio::test]
async fn a_repeated_token_does_not_loop_forever() {
    let server = MockServer::start().await;
    filter_log_events()
        .respond_with(page(vec![event("e1", "i-a", 1, "one")], Some("same")))
        .mount(&server)
        .await;
    let c = client(&server, true).await;
    let mut tail = Tail::new(
        c,
        TailOptions::new(GROUP).since(UNIX_EPOCH + Duration::from_millis(T0 as u64)),
    );
    let events = tail.poll().await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(request_bodies(&server).await.len(), 2);
}

#[tokio::test]
async fn follow_rides_out_throttling_and_stops_on_signal() {
    // SDK retries off: the throttled poll must be absorbed by `follow` itself.
    let server = MockServer::start().await;
    filter_log_events()
        .respond_with(sequence(vec![
            page(vec![event("e1", "i-a", 1, "one")], None),
            ResponseTemplate::new(400).set_body_raw(
                json!({"__type": "ThrottlingException", "message": "Rate exceeded"}).to_string(),
                JSON_11,
            ),
            page(
                vec![event("e1", "i-a", 1, "one"), event("e2", "i-a", 2, "two")],
                None,
            ),
        ]))
        .mount(&server)
        .await;
    let c = client(&server, false).await;
    let mut tail = Tail::new(
        c,
        TailOptions::new(GROUP)
            .since(UNIX_EPOCH + Duration::from_millis(T0 as u64))
            .poll_interval(Duration::from_millis(20)),
    );
    let mut seen = Vec::new();
    tail.follow(tokio::time::sleep(Duration::from_millis(400)), |e| {
        seen.push(e.message);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(seen, ["one", "two"], "each event once, in order");
    assert!(request_bodies(&server).await.len() >= 4, "kept polling");
}
