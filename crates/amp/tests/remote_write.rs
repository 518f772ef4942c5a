//! Remote-write client against wiremock: headers, retries, splitting, drops.
//!
//! The stubs follow the Prometheus remote-write 1.0 spec (PROM-RW in
//! `shared/reference/aws-facts.md` §1): 2xx success with an empty body; 5xx and 429
//! retryable (429 may carry `Retry-After`); 413 payload too large; other 4xx permanent.

// Helpers outside #[test] functions unwrap too (clippy.toml only exempts test functions).
#![allow(clippy::unwrap_used)]

use monitor_amp::auth::Auth;
use monitor_amp::proto::{Label, Sample, TimeSeries, WriteRequest};
use monitor_amp::remote_write::{Observer, RemoteWriteConfig, RemoteWriter, USER_AGENT};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn request(series: usize, samples: usize) -> WriteRequest {
    WriteRequest {
        timeseries: (0..series)
            .map(|i| TimeSeries {
                labels: vec![Label::new("__name__", "m"), Label::new("i", i.to_string())],
                samples: (0..samples)
                    .map(|t| Sample {
                        value: t as f64,
                        timestamp: 1000 + t as i64,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn writer(server: &MockServer, obs: Arc<dyn Observer>) -> RemoteWriter {
    let mut cfg = RemoteWriteConfig::new(
        format!("{}/api/v1/write", server.uri()).parse().unwrap(),
        Auth::None,
    );
    cfg.min_backoff = Duration::from_millis(10);
    cfg.max_backoff = Duration::from_millis(50);
    RemoteWriter::new(cfg, obs).unwrap()
}

/// Answers from a script of statuses, then 200 forever; records every body.
struct Script {
    statuses: Vec<(u16, Option<&'static str>)>,
    calls: AtomicUsize,
    bodies: Mutex<Vec<WriteRequest>>,
}
impl Respond for Script {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.bodies
            .lock()
            .unwrap()
            .push(WriteRequest::decode_compressed(&req.body).unwrap());
        let i = self.calls.fetch_add(1, Ordering::SeqCst);
        match self.statuses.get(i) {
            Some((s, ra)) => {
                let mut r =
                    ResponseTemplate::new(*s).set_body_string(format!("status {s} from script"));
                if let Some(ra) = ra {
                    r = r.insert_header("Retry-After", *ra);
                }
                r
            }
            None => ResponseTemplate::new(200),
        }
    }
}
fn script(statuses: Vec<(u16, Option<&'static str>)>) -> Arc<Script> {
    Arc::new(Script {
        statuses,
        calls: AtomicUsize::new(0),
        bodies: Mutex::new(vec![]),
    })
}
struct Shared(Arc<Script>);
impl Respond for Shared {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.0.respond(req)
    }
}

#[derive(Default)]
struct Counts {
    sent: AtomicUsize,
    retried: AtomicUsize,
    dropped: Mutex<Vec<(String, usize)>>,
}
impl Observer for Counts {
    fn retry(&self, n: usize, _r: &str, _d: Duration) {
        self.retried.fetch_add(n, Ordering::SeqCst);
    }
    fn sent(&self, n: usize) {
        self.sent.fetch_add(n, Ordering::SeqCst);
    }
    fn dropped(&self, n: usize, r: &str) {
        self.dropped.lock().unwrap().push((r.into(), n));
    }
}

#[tokio::test]
async fn sends_the_spec_headers_and_a_snappy_protobuf_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/write"))
        .and(header("Content-Encoding", "snappy"))
        .and(header("Content-Type", "application/x-protobuf"))
        .and(header("X-Prometheus-Remote-Write-Version", "0.1.0"))
        .and(header("User-Agent", USER_AGENT))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let w = writer(&server, Arc::new(Counts::default()));
    let o = w.write(request(3, 2), None).await;
    assert_eq!(o.sent, 6);
    let got = server.received_requests().await.unwrap();
    assert_eq!(
        WriteRequest::decode_compressed(&got[0].body).unwrap(),
        request(3, 2)
    );
}

#[tokio::test]
async fn retries_5xx_and_429_then_succeeds() {
    let server = MockServer::start().await;
    let s = script(vec![(503, None), (500, None), (429, None)]);
    Mock::given(method("POST"))
        .respond_with(Shared(s.clone()))
        .mount(&server)
        .await;
    let c = Arc::new(Counts::default());
    let o = writer(&server, c.clone()).write(request(2, 1), None).await;
    assert_eq!((o.sent, o.retries, o.dropped_total()), (2, 3, 0));
    assert_eq!(c.retried.load(Ordering::SeqCst), 6);
    assert_eq!(s.calls.load(Ordering::SeqCst), 4);
    // The same request is re-sent, unchanged.
    let bodies = s.bodies.lock().unwrap();
    assert!(bodies.iter().all(|b| *b == request(2, 1)));
}

#[tokio::test]
async fn honours_retry_after() {
    let server = MockServer::start().await;
    let s = script(vec![(429, Some("1"))]);
    Mock::given(method("POST"))
        .respond_with(Shared(s.clone()))
        .mount(&server)
        .await;
    let start = Instant::now();
    let o = writer(&server, Arc::new(Counts::default()))
        .write(request(1, 1), None)
        .await;
    assert_eq!(o.sent, 1);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "waited only {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn other_4xx_drops_the_batch_and_counts_it() {
    let server = MockServer::start().await;
    let s = script(vec![(400, None)]);
    Mock::given(method("POST"))
        .respond_with(Shared(s.clone()))
        .mount(&server)
        .await;
    let c = Arc::new(Counts::default());
    let w = writer(&server, c.clone());
    let o = w.write(request(2, 2), None).await;
    assert_eq!(o.sent, 0);
    assert_eq!(o.dropped, vec![("rejected".to_string(), 4)]);
    assert_eq!(s.calls.load(Ordering::SeqCst), 1, "4xx must not be retried");
    // The next batch goes through.
    assert_eq!(w.write(request(1, 1), None).await.sent, 1);
    assert_eq!(
        *c.dropped.lock().unwrap(),
        vec![("rejected".to_string(), 4)]
    );
}

#[tokio::test]
async fn payload_too_large_splits_in_order() {
    let server = MockServer::start().await;
    let s = script(vec![(413, None), (413, None)]);
    Mock::given(method("POST"))
        .respond_with(Shared(s.clone()))
        .mount(&server)
        .await;
    let o = writer(&server, Arc::new(Counts::default()))
        .write(request(4, 1), None)
        .await;
    assert_eq!((o.sent, o.dropped_total()), (4, 0));
    let bodies = s.bodies.lock().unwrap();
    // 4 series → 413 → [2,2] → first half 413 → [1,1] → ok, ok → second half ok.
    let sizes: Vec<usize> = bodies.iter().map(|b| b.timeseries.len()).collect();
    assert_eq!(sizes, vec![4, 2, 1, 1, 2]);
    let order: Vec<String> = bodies[2..]
        .iter()
        .flat_map(|b| b.timeseries.iter().map(|t| t.labels[1].value.clone()))
        .collect();
    assert_eq!(order, vec!["0", "1", "2", "3"]);
}

#[tokio::test]
async fn a_single_sample_still_too_large_is_dropped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(413))
        .mount(&server)
        .await;
    let o = writer(&server, Arc::new(Counts::default()))
        .write(request(1, 1), None)
        .await;
    assert_eq!(o.dropped, vec![("too_large".to_string(), 1)]);
}

#[tokio::test]
async fn bodies_above_the_size_limit_are_split_before_sending() {
    let server = MockServer::start().await;
    let s = script(vec![]);
    Mock::given(method("POST"))
        .respond_with(Shared(s.clone()))
        .mount(&server)
        .await;
    let mut cfg =
        RemoteWriteConfig::new(format!("{}/w", server.uri()).parse().unwrap(), Auth::None);
    let whole = request(64, 16).encode_compressed().len();
    cfg.max_request_bytes = whole / 3;
    let w = RemoteWriter::new(cfg, Arc::new(Counts::default())).unwrap();
    let o = w.write(request(64, 16), None).await;
    assert_eq!(o.sent, 64 * 16);
    let bodies = s.bodies.lock().unwrap();
    assert!(bodies.len() >= 4, "{} requests", bodies.len());
    assert!(bodies
        .iter()
        .all(|b| b.encode_compressed().len() <= whole / 3));
}

#[tokio::test]
async fn gives_up_at_the_deadline_and_counts_shutdown_drops() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let (_tx, rx) = tokio::sync::watch::channel(Some(
        tokio::time::Instant::now() + Duration::from_millis(300),
    ));
    let o = writer(&server, Arc::new(Counts::default()))
        .write(request(3, 1), Some(&rx))
        .await;
    assert_eq!(o.dropped, vec![("shutdown".to_string(), 3)]);
    assert!(o.retries >= 2);
}

#[tokio::test]
async fn a_receiver_that_always_answers_413_gets_a_bounded_number_of_requests() {
    let server = MockServer::start().await;
    let s = script((0..1000).map(|_| (413, None)).collect());
    Mock::given(method("POST"))
        .respond_with(Shared(s.clone()))
        .mount(&server)
        .await;
    let o = writer(&server, Arc::new(Counts::default()))
        .write(request(64, 1), None)
        .await;
    assert_eq!(o.dropped, vec![("too_large".to_string(), 64)]);
    // The whole request, then at most MAX_413_SPLITS levels of halves: 1+2+4+8+16.
    let calls = s.calls.load(Ordering::SeqCst);
    let levels = monitor_amp::remote_write::MAX_413_SPLITS;
    assert_eq!(
        calls,
        (1 << (levels + 1)) - 1,
        "{calls} requests for 64 samples"
    );
}

/// Counts how often credentials are fetched.
#[derive(Debug, Default)]
struct CountingProvider(AtomicUsize);
impl aws_credential_types::provider::ProvideCredentials for CountingProvider {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        aws_credential_types::provider::future::ProvideCredentials::ready(Ok(
            aws_credential_types::Credentials::new(
                format!("AKID{n}"),
                "secret",
                Some("token".into()),
                None,
                "test",
            ),
        ))
    }
}

#[derive(Debug, Clone)]
struct Provider(Arc<CountingProvider>);
impl aws_credential_types::provider::ProvideCredentials for Provider {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.provide_credentials()
    }
}

fn signed_writer(server: &MockServer) -> (RemoteWriter, Arc<CountingProvider>) {
    let p = Arc::new(CountingProvider::default());
    let auth = Auth::SigV4(monitor_amp::auth::SigV4::new(
        "eu-west-1",
        "aps",
        Provider(p.clone()),
    ));
    let mut cfg = RemoteWriteConfig::new(
        format!("{}/api/v1/remote_write", server.uri())
            .parse()
            .unwrap(),
        auth,
    );
    cfg.min_backoff = Duration::from_millis(10);
    (
        RemoteWriter::new(cfg, Arc::new(Counts::default())).unwrap(),
        p,
    )
}

#[tokio::test]
async fn an_expired_token_refreshes_the_credentials_and_resends_once() {
    // AMP's answer to an expired session token (AWS JSON error body, HTTP 403).
    let server = MockServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    Mock::given(method("POST"))
        .respond_with(move |_: &Request| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                ResponseTemplate::new(403).set_body_string(
                    r#"{"message":"The security token included in the request is expired","__type":"ExpiredTokenException"}"#,
                )
            } else {
                ResponseTemplate::new(200)
            }
        })
        .mount(&server)
        .await;
    let (w, provider) = signed_writer(&server);
    let o = w.write(request(3, 1), None).await;
    assert_eq!((o.sent, o.dropped_total()), (3, 0));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "resent once");
    assert_eq!(
        provider.0.load(Ordering::SeqCst),
        2,
        "credentials fetched again"
    );
    let keys: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap().to_string())
        .collect();
    assert!(keys[0].contains("Credential=AKID0/") && keys[1].contains("Credential=AKID1/"));
}

#[tokio::test]
async fn access_denied_is_not_retried_and_an_expired_token_only_once() {
    let server = MockServer::start().await;
    let s = script(vec![(403, None)]);
    Mock::given(method("POST"))
        .respond_with(Shared(s.clone()))
        .mount(&server)
        .await;
    let (w, provider) = signed_writer(&server);
    let o = w.write(request(2, 1), None).await;
    assert_eq!(o.dropped, vec![("rejected".to_string(), 2)]);
    assert_eq!(
        s.calls.load(Ordering::SeqCst),
        1,
        "a plain 403 is not retried"
    );
    assert_eq!(provider.0.load(Ordering::SeqCst), 1);

    // Always "expired": one refresh, then dropped (no loop).
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string(
            "Signature expired: 20261202T000000Z is now earlier than 20261202T000500Z",
        ))
        .mount(&server)
        .await;
    let (w, provider) = signed_writer(&server);
    let o = w.write(request(2, 1), None).await;
    assert_eq!(o.dropped, vec![("rejected".to_string(), 2)]);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    assert_eq!(provider.0.load(Ordering::SeqCst), 2);
}

/// An encoded request (as the durable queue hands it over) is sent as it is, and on a
/// 413 it is decoded and split like any other, in order.
#[tokio::test]
async fn encoded_requests_are_sent_as_they_are_and_split_on_413() {
    use prost::Message;
    let server = MockServer::start().await;
    let s = script(vec![(413, None)]);
    Mock::given(method("POST"))
        .respond_with(Shared(s.clone()))
        .mount(&server)
        .await;
    let req = request(4, 2);
    let encoded = monitor_amp::encoded::merge(&req.encode_to_vec()).unwrap();
    assert_eq!(encoded.samples, 8);
    let counts = Arc::new(Counts::default());
    let o = writer(&server, counts.clone())
        .write_encoded(encoded, None)
        .await;
    assert_eq!((o.sent, o.dropped_total()), (8, 0));
    assert_eq!(counts.sent.load(Ordering::SeqCst), 8);
    let bodies = s.bodies.lock().unwrap();
    assert_eq!(
        bodies[0], req,
        "the first attempt carried the whole request"
    );
    let sizes: Vec<usize> = bodies.iter().map(|b| b.timeseries.len()).collect();
    assert_eq!(sizes, vec![4, 2, 2]);
    assert_eq!(
        WriteRequest {
            timeseries: bodies[1..]
                .iter()
                .flat_map(|b| b.timeseries.clone())
                .collect()
        },
        req
    );
}
