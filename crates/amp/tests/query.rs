//! Query client against wiremock.
//!
//! The stub answers are shaped after the Prometheus HTTP API documentation
//! (https://prometheus.io/docs/prometheus/latest/querying/api/, also cited in
//! `shared/reference/aws-facts.md` §2 for AMP): the envelope
//! `{"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[1435781451.781,"1"]}]}}`,
//! errors `{"status":"error","errorType":"bad_data","error":"..."}` with 400 (bad
//! parameters), 422 (unprocessable, AMP's "query timed out") and 503 (unavailable or
//! timeout). The SigV4 check reuses the independent verifier in `common/mod.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{expected_signature, headers_of, parse_authorization};
use monitor_amp::auth::{Auth, SigV4};
use monitor_amp::query::{
    QueryClient, QueryError, QueryOptions, QueryResult, RetryPolicy, QUERY_FORBIDDEN_HINT,
};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const WS: &str = "/workspaces/ws-1";

fn fast() -> QueryOptions {
    QueryOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            max_retry_after: Duration::from_secs(2),
        },
        ..QueryOptions::default()
    }
}

fn client(server: &MockServer, auth: Auth) -> QueryClient {
    // Trailing slash as DescribeWorkspace returns it.
    QueryClient::with_options(&format!("{}{WS}/", server.uri()), auth, fast()).expect("client")
}

fn success(data: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"status": "success", "data": data}))
}

fn error(status: u16, error_type: &str, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"status": "error", "errorType": error_type, "error": msg}))
}

fn form(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Answers from a script, then the last entry forever; counts calls.
struct Script {
    answers: Vec<ResponseTemplate>,
    calls: Arc<AtomicUsize>,
}
impl Respond for Script {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        let i = self.calls.fetch_add(1, Ordering::SeqCst);
        self.answers[i.min(self.answers.len() - 1)].clone()
    }
}
/// The responder and its call counter.
fn script(answers: Vec<ResponseTemplate>) -> (Script, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    (
        Script {
            answers,
            calls: calls.clone(),
        },
        calls,
    )
}

#[tokio::test]
async fn instant_vector_is_a_signed_form_post_with_nan_and_infinities() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{WS}/api/v1/query")))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(success(json!({
            "resultType": "vector",
            "result": [
                {"metric": {"__name__": "up", "job": "node", "instance": "a:9100"}, "value": [1435781451.781, "1"]},
                {"metric": {"instance": "b"}, "value": [1435781451.781, "NaN"]},
                {"metric": {"instance": "c"}, "value": [1435781451.781, "+Inf"]},
                {"metric": {"instance": "d"}, "value": [1435781451.781, "-Inf"]},
                // A native-histogram sample has no "value": skipped.
                {"metric": {"instance": "e"}, "histogram": [1435781451.781, {"count": "1", "sum": "1"}]}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server, Auth::None);
    let long = format!("up{{job=\"node\"}} + 0 * {}", "1 + ".repeat(2000) + "1");
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_435_781_451_781);
    let r = c.instant(&long, Some(at)).await.unwrap();
    let QueryResult::Vector(v) = r else {
        panic!("expected a vector, got {r:?}")
    };
    assert_eq!(v.len(), 4);
    assert_eq!(v[0].metric["job"], "node");
    assert_eq!(v[0].value.value, 1.0);
    assert_eq!(v[0].value.timestamp, 1435781451.781);
    assert!(v[1].value.value.is_nan());
    assert_eq!(v[2].value.value, f64::INFINITY);
    assert_eq!(v[3].value.value, f64::NEG_INFINITY);

    // The long query travelled in the form body, not the URL.
    let got = &server.received_requests().await.unwrap()[0];
    assert_eq!(got.url.query(), None);
    assert_eq!(
        form(got),
        vec![
            ("query".to_string(), long.clone()),
            ("time".to_string(), "1435781451.781".to_string())
        ]
    );
}

#[tokio::test]
async fn range_matrix_scalar_and_string_decode() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{WS}/api/v1/query_range")))
        .respond_with(success(json!({
            "resultType": "matrix",
            "result": [
                {"metric": {"__name__": "up", "instance": "a"}, "values": [[1435781430.781, "1"], [1435781445.781, "NaN"], [1435781460.781, "-Inf"]]},
                {"metric": {"__name__": "up", "instance": "b"}, "values": [[1435781430.781, "0"]]}
            ]
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{WS}/api/v1/query")))
        .respond_with(|req: &Request| {
            let q = form(req).into_iter().find(|(k, _)| k == "query").unwrap().1;
            if q.starts_with('"') {
                success(json!({"resultType": "string", "result": [1435781451.781, "hello"]}))
            } else {
                success(json!({"resultType": "scalar", "result": [1435781451.781, "+Inf"]}))
            }
        })
        .mount(&server)
        .await;
    let c = client(&server, Auth::None);
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_435_781_430);
    let end = start + Duration::from_secs(30);
    let r = c
        .range("up", start, end, Duration::from_secs(15))
        .await
        .unwrap();
    let QueryResult::Matrix(m) = r.clone() else {
        panic!("expected a matrix, got {r:?}")
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].values.len(), 3);
    assert_eq!(m[0].values[0].value, 1.0);
    assert!(m[0].values[1].value.is_nan());
    assert_eq!(m[0].values[2].value, f64::NEG_INFINITY);
    // into_vector keeps the last sample per series.
    let last = r.into_vector();
    assert_eq!(last[0].value.value, f64::NEG_INFINITY);
    assert_eq!(last[1].value.value, 0.0);
    let got = &server.received_requests().await.unwrap()[0];
    assert_eq!(
        form(got),
        vec![
            ("query".to_string(), "up".to_string()),
            ("start".to_string(), "1435781430.000".to_string()),
            ("end".to_string(), "1435781460.000".to_string()),
            ("step".to_string(), "15".to_string()),
        ]
    );

    match c.instant("scalar(1)", None).await.unwrap() {
        QueryResult::Scalar(s) => assert_eq!(s.value, f64::INFINITY),
        other => panic!("expected a scalar, got {other:?}"),
    }
    match c.instant("\"hello\"", None).await.unwrap() {
        QueryResult::String(s) => assert_eq!(s.value, "hello"),
        other => panic!("expected a string, got {other:?}"),
    }
}

#[tokio::test]
async fn series_labels_label_values_and_metadata() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{WS}/api/v1/series")))
        .respond_with(success(json!([
            {"__name__": "up", "job": "node", "instance": "a:9100"},
            {"__name__": "up", "job": "monitor-agent", "instance": "a:9465"}
        ])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{WS}/api/v1/labels")))
        .respond_with(success(json!(["__name__", "instance", "job"])))
        .mount(&server)
        .await;
    // AMP serves label values with GET only.
    Mock::given(method("GET"))
        .and(path(format!("{WS}/api/v1/label/job/values")))
        .respond_with(success(json!(["monitor-agent", "node"])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{WS}/api/v1/metadata")))
        .respond_with(success(json!({
            "node_cpu_seconds_total": [{"type": "counter", "help": "Seconds the CPUs spent in each mode.", "unit": ""}]
        })))
        .mount(&server)
        .await;
    let c = client(&server, Auth::None);
    let s = c.series(&["up"], None, None).await.unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[1]["job"], "monitor-agent");
    assert_eq!(
        c.labels(&[], None, None).await.unwrap(),
        ["__name__", "instance", "job"]
    );
    assert_eq!(
        c.label_values("job", &["up"], None, None).await.unwrap(),
        ["monitor-agent", "node"]
    );
    let md = c.metadata(Some("node_cpu_seconds_total")).await.unwrap();
    assert_eq!(md["node_cpu_seconds_total"][0].metric_type, "counter");

    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        form(&reqs[0]),
        vec![("match[]".to_string(), "up".to_string())]
    );
    assert_eq!(reqs[2].url.query(), Some("match%5B%5D=up"));
    assert_eq!(reqs[3].url.query(), Some("metric=node_cpu_seconds_total"));
    assert!(matches!(
        c.label_values("bad name", &[], None, None).await,
        Err(QueryError::BadData { .. })
    ));
}

#[tokio::test]
async fn prometheus_error_json_maps_to_typed_errors() {
    let server = MockServer::start().await;
    let answers = Arc::new(std::sync::Mutex::new(vec![
        error(
            400,
            "bad_data",
            "invalid parameter \"query\": 1:3: parse error",
        ),
        error(422, "execution", "query timed out in expression evaluation"),
        error(503, "timeout", "query timed out in query execution"),
        error(422, "execution", "many-to-many matching not allowed"),
        ResponseTemplate::new(200).set_body_string("<html>not an API</html>"),
        ResponseTemplate::new(404).set_body_string("404 page not found"),
        ResponseTemplate::new(200).set_body_json(
            json!({"status": "error", "errorType": "bad_data", "error": "odd but possible"}),
        ),
    ]));
    let a = answers.clone();
    Mock::given(method("POST"))
        .respond_with(move |_: &Request| a.lock().unwrap().remove(0))
        .mount(&server)
        .await;
    let c = client(&server, Auth::None);

    let e = c.instant("up{", None).await.unwrap_err();
    assert!(
        matches!(&e, QueryError::BadData { message } if message.contains("parse error")),
        "{e:?}"
    );
    assert!(!e.is_setup_error());
    let e = c.instant("heavy", None).await.unwrap_err();
    assert!(matches!(e, QueryError::Timeout { .. }), "{e:?}");
    // A 503 timeout is not retried (the same query would time out again).
    let e = c.instant("heavy", None).await.unwrap_err();
    assert!(matches!(e, QueryError::Timeout { .. }), "{e:?}");
    let e = c.instant("a * on() b", None).await.unwrap_err();
    assert!(
        matches!(&e, QueryError::Api { status: 422, error_type, .. } if error_type == "execution"),
        "{e:?}"
    );
    let e = c.instant("up", None).await.unwrap_err();
    assert!(matches!(e, QueryError::Decode { .. }), "{e:?}");
    assert!(e.is_setup_error());
    let e = c.instant("up", None).await.unwrap_err();
    assert!(
        matches!(&e, QueryError::Http { status: 404, .. }) && e.is_setup_error(),
        "{e:?}"
    );
    assert!(e.to_string().contains("workspace or server root"), "{e}");
    let e = c.instant("up", None).await.unwrap_err();
    assert!(matches!(e, QueryError::BadData { .. }), "{e:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 7);
}

#[tokio::test]
async fn throttled_429_is_retried_honouring_retry_after() {
    let server = MockServer::start().await;
    let (s, calls) = script(vec![
        error(429, "unavailable", "Rate exceeded").insert_header("Retry-After", "1"),
        success(json!({"resultType": "vector", "result": []})),
    ]);
    Mock::given(method("POST"))
        .respond_with(s)
        .mount(&server)
        .await;
    let c = client(&server, Auth::None);
    let t = Instant::now();
    let r = c.instant("up", None).await.unwrap();
    assert!(r.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "Retry-After ignored: {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn unavailable_503_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    let (s, calls) = script(vec![
        ResponseTemplate::new(503).set_body_string("Service Unavailable"),
        error(503, "unavailable", "ingester not ready"),
        success(json!({"resultType": "scalar", "result": [1, "2"]})),
    ]);
    Mock::given(method("POST"))
        .respond_with(s)
        .mount(&server)
        .await;
    let c = client(&server, Auth::None);
    match c.instant("1+1", None).await.unwrap() {
        QueryResult::Scalar(v) => assert_eq!(v.value, 2.0),
        other => panic!("{other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn persistent_429_and_503_give_up_after_max_attempts() {
    let server = MockServer::start().await;
    let (throttle, throttle_calls) = script(vec![error(429, "unavailable", "Rate exceeded")]);
    Mock::given(method("POST"))
        .and(path(format!("{WS}/api/v1/query")))
        .respond_with(throttle)
        .mount(&server)
        .await;
    let (down, down_calls) = script(vec![ResponseTemplate::new(503).set_body_string("down")]);
    Mock::given(method("POST"))
        .and(path(format!("{WS}/api/v1/query_range")))
        .respond_with(down)
        .mount(&server)
        .await;
    let c = client(&server, Auth::None);
    let e = c.instant("up", None).await.unwrap_err();
    assert!(
        matches!(e, QueryError::Throttled { attempts: 3, .. }),
        "{e:?}"
    );
    assert_eq!(throttle_calls.load(Ordering::SeqCst), 3);
    let now = SystemTime::now();
    let e = c
        .range(
            "up",
            now - Duration::from_secs(60),
            now,
            Duration::from_secs(15),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            QueryError::Unavailable {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(down_calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn forbidden_403_names_the_missing_permission() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "User: arn:aws:sts::123456789012:assumed-role/ro/x is not authorized to perform: aps:QueryMetrics"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_string("{\"message\":\"Missing Authentication Token\"}"),
        )
        .mount(&server)
        .await;
    let creds = aws_credential_types::Credentials::new("AKID", "secret", None, None, "test");
    let c = client(&server, Auth::SigV4(SigV4::new("eu-west-1", "aps", creds)));
    let e = c.instant("up", None).await.unwrap_err();
    match &e {
        QueryError::Forbidden { status, hint, .. } => {
            assert_eq!(*status, 403);
            assert_eq!(hint, QUERY_FORBIDDEN_HINT);
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert!(e.is_setup_error());
    assert!(
        e.to_string()
            .contains("the caller lacks aps:QueryMetrics on the workspace"),
        "{e}"
    );
    // 403 is not retried.
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // Other APIs name their own action; an unsigned request says so.
    let unsigned = client(&server, Auth::None);
    let e = unsigned.metadata(None).await.unwrap_err().to_string();
    assert!(e.contains("aps:GetMetricMetadata"), "{e}");
    assert!(e.contains("not signed"), "{e}");
}

#[tokio::test]
async fn transport_errors_are_setup_errors_with_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = QueryClient::new(&format!("http://127.0.0.1:{port}"), Auth::None).unwrap();
    let e = c.instant("up", None).await.unwrap_err();
    assert!(matches!(e, QueryError::Transport { .. }), "{e:?}");
    assert!(e.is_setup_error());
    let msg = e.to_string();
    assert!(
        msg.contains(&format!(
            "cannot reach http://127.0.0.1:{port}/api/v1/query"
        )),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("connection refused"), "{msg}");
    assert!(matches!(
        QueryClient::new("http://127.0.0.1:9090/api/v1/query", Auth::None),
        Err(QueryError::InvalidEndpoint { .. })
    ));
}

#[tokio::test]
async fn signed_post_query_and_get_metadata_verify_independently() {
    const AK: &str = "AKIDTESTEXAMPLE";
    const SK: &str = "secret/Test+Key";
    const TOKEN: &str = "session-token-FwoGZXIvYXdzE";
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(success(json!({"resultType": "vector", "result": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(success(json!({})))
        .mount(&server)
        .await;
    let creds = aws_credential_types::Credentials::new(AK, SK, Some(TOKEN.into()), None, "test");
    let c = client(&server, Auth::SigV4(SigV4::new("eu-west-1", "aps", creds)));
    assert!(c.is_signed());
    let query =
        "sum by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\", env=\"prod role\"}[5m]))";
    c.instant(query, None).await.unwrap();
    c.metadata(Some("node_cpu_seconds_total")).await.unwrap();

    let reqs = server.received_requests().await.unwrap();
    // POST /api/v1/query: the signature covers the form body and its content type.
    let post = &reqs[0];
    let headers = headers_of(post);
    let auth = parse_authorization(&headers["authorization"]);
    assert_eq!(auth.access_key, AK);
    assert_eq!(
        (auth.region.as_str(), auth.service.as_str()),
        ("eu-west-1", "aps")
    );
    assert_eq!(headers["x-amz-security-token"], TOKEN);
    for h in ["host", "x-amz-date", "x-amz-security-token", "content-type"] {
        assert!(
            auth.signed_headers.contains(&h.to_string()),
            "{h} not signed: {:?}",
            auth.signed_headers
        );
    }
    assert_eq!(form(post), vec![("query".to_string(), query.to_string())]);
    let p = post.url.path();
    assert_eq!(p, format!("{WS}/api/v1/query"));
    assert_eq!(
        expected_signature("POST", p, "", &headers, &post.body, SK, &auth),
        auth.signature,
        "POST signature does not verify"
    );
    assert_ne!(
        expected_signature("POST", p, "", &headers, b"query=up", SK, &auth),
        auth.signature,
        "verifier ignores the body"
    );

    // GET /api/v1/metadata?metric=...: the canonical query string is signed.
    let get = &reqs[1];
    let headers = headers_of(get);
    let auth = parse_authorization(&headers["authorization"]);
    let p = get.url.path();
    assert_eq!(get.url.query(), Some("metric=node_cpu_seconds_total"));
    assert_eq!(
        expected_signature(
            "GET",
            p,
            "metric=node_cpu_seconds_total",
            &headers,
            b"",
            SK,
            &auth
        ),
        auth.signature,
        "GET signature does not verify"
    );
    assert_ne!(
        expected_signature("GET", p, "metric=up", &headers, b"", SK, &auth),
        auth.signature
    );
}
