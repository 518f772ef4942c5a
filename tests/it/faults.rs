//! monitor-agent against a misbehaving receiver: a small proxy in front of a real
//! Prometheus answers 503 / 429 (with and without Retry-After) / 400 / 413 on a script,
//! then forwards. Asserts nothing is lost where the spec says retry, exactly the rejected
//! batch is dropped and counted, 413 is split, and a full buffer drops the oldest.

use monitor_amp::proto::WriteRequest;
use monitor_testkit::{free_port, spawn_bin, Prometheus, PrometheusOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the proxy answers for one request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16, Option<u64>),
    Forward,
}

type Rule = Box<dyn Fn(Duration, usize, &WriteRequest) -> Answer + Send + Sync>;

struct Proxy {
    addr: String,
    rejected_samples: Arc<AtomicUsize>,
    statuses: Arc<Mutex<Vec<u16>>>,
    max_series_forwarded: Arc<AtomicUsize>,
}

async fn proxy(upstream: String, rule: Rule) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let start = Instant::now();
    let calls = Arc::new(AtomicUsize::new(0));
    let rejected_samples = Arc::new(AtomicUsize::new(0));
    let statuses = Arc::new(Mutex::new(vec![]));
    let max_series_forwarded = Arc::new(AtomicUsize::new(0));
    let rule = Arc::new(rule);
    let (rs, st, mx) = (
        rejected_samples.clone(),
        statuses.clone(),
        max_series_forwarded.clone(),
    );
    let client = reqwest::Client::new();
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
            let (rule, calls, rs, st, mx, client, upstream) = (
                rule.clone(),
                calls.clone(),
                rs.clone(),
                st.clone(),
                mx.clone(),
                client.clone(),
                upstream.clone(),
            );
            async move {
                let req = WriteRequest::decode_compressed(&body).expect("valid remote-write body");
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let answer = rule(start.elapsed(), n, &req);
                let (code, retry_after) = match answer {
                    Answer::Status(code, ra) => (code, ra),
                    Answer::Forward => {
                        mx.fetch_max(req.timeseries.len(), Ordering::SeqCst);
                        let mut fwd = client.post(&upstream).body(body.to_vec());
                        for (k, v) in headers.iter() {
                            if k != http::header::HOST && k != http::header::CONTENT_LENGTH {
                                fwd = fwd.header(k, v);
                            }
                        }
                        (
                            fwd.send().await.map(|r| r.status().as_u16()).unwrap_or(502),
                            None,
                        )
                    }
                };
                if code == 400 {
                    rs.fetch_add(req.sample_count(), Ordering::SeqCst);
                }
                st.lock().unwrap().push(code);
                let mut resp = http::Response::builder().status(code);
                if let Some(s) = retry_after {
                    resp = resp.header("Retry-After", s.to_string());
                }
                resp.body(axum::body::Body::from(format!("proxy says {code}")))
                    .unwrap()
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Proxy {
        addr,
        rejected_samples,
        statuses,
        max_series_forwarded,
    }
}

async fn target() -> wiremock::MockServer {
    let t = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(
            "f_metric{k=\"a\"} 1\nf_metric{k=\"b\"} 2\nf_metric{k=\"c\"} 3\n",
            "text/plain",
        ))
        .mount(&t)
        .await;
    t
}

fn config(
    dir: &std::path::Path,
    target: &str,
    receiver: &str,
    listen: &str,
    extra: &str,
) -> String {
    let p = dir.join("agent.toml");
    std::fs::write(
        &p,
        format!(
            "[agent]\nlisten = \"{listen}\"\nself_metrics = false\nshutdown_timeout = \"5s\"\n\
             [[scrape]]\njob = \"f\"\nurl = \"{target}/metrics\"\ninterval = \"500ms\"\ntimeout = \"400ms\"\n\
             [remote_write]\nurl = \"http://{receiver}/api/v1/write\"\nbatch_send_deadline = \"100ms\"\nmin_backoff = \"50ms\"\nmax_backoff = \"400ms\"\n{extra}"
        ),
    )
    .unwrap();
    p.display().to_string()
}

fn metric(body: &str, line_prefix: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn count(prom: &Prometheus, q: &str) -> usize {
    prom.query(q)
        .await
        .first()
        .map(|x| x["value"][1].as_str().unwrap().parse::<f64>().unwrap() as usize)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn retryable_errors_lose_nothing_and_show_backoff() {
    let t = target().await;
    let prom = Prometheus::start(&PrometheusOptions::default());
    let p = proxy(
        prom.remote_write_url(),
        Box::new(|elapsed, _, _| match elapsed.as_millis() {
            0..=1500 => Answer::Status(503, None),
            1501..=3000 => Answer::Status(429, Some(1)),
            3001..=4000 => Answer::Status(429, None),
            _ => Answer::Forward,
        }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let cfg = config(dir.path(), &t.uri(), &p.addr, &listen, "");
    let (mut agent, _d) = spawn_bin("monitor-agent", &["--config", &cfg], &[]);
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let (_, m) = monitor_testkit::http_get(&listen, "/metrics").unwrap();
    agent.signal("TERM");
    assert!(
        agent
            .wait_exit(Duration::from_secs(10))
            .expect("exit")
            .success(),
        "{}",
        agent.log()
    );
    let scrapes = t.received_requests().await.unwrap().len();

    assert!(
        metric(
            &m,
            "monitor_agent_samples_retried_total{reason=\"http_503\"}"
        ) > 0.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "monitor_agent_samples_retried_total{reason=\"http_429\"}"
        ) > 0.0,
        "{m}"
    );
    assert!(
        metric(&m, "monitor_agent_remote_write_backoff_seconds_total") >= 1.0,
        "Retry-After: 1 not honoured\n{m}"
    );
    assert_eq!(
        metric(
            &m,
            "monitor_agent_samples_dropped_total{reason=\"rejected\"}"
        ),
        0.0
    );
    let st = p.statuses.lock().unwrap().clone();
    assert!(
        st.contains(&503) && st.contains(&429) && (st.contains(&204) || st.contains(&200)),
        "{st:?}"
    );
    for k in ["a", "b", "c"] {
        let got = count(
            &prom,
            &format!("count_over_time(f_metric{{job=\"f\",k=\"{k}\"}}[10m])"),
        )
        .await;
        assert_eq!(
            got,
            scrapes,
            "k={k}: {got} samples for {scrapes} scrapes; proxy statuses {st:?}\n{}",
            agent.log()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_request_drops_only_that_batch_and_413_is_split() {
    let t = target().await;
    let prom = Prometheus::start(&PrometheusOptions::default());
    let p = proxy(
        prom.remote_write_url(),
        Box::new(|_, n, req| {
            if n == 0 {
                Answer::Status(400, None)
            } else if req.timeseries.len() > 2 {
                Answer::Status(413, None)
            } else {
                Answer::Forward
            }
        }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let cfg = config(dir.path(), &t.uri(), &p.addr, &listen, "");
    let (mut agent, _d) = spawn_bin("monitor-agent", &["--config", &cfg], &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, m) = monitor_testkit::http_get(&listen, "/metrics").unwrap();
    agent.signal("TERM");
    assert!(agent
        .wait_exit(Duration::from_secs(10))
        .expect("exit")
        .success());
    let scrapes = t.received_requests().await.unwrap().len();

    let rejected = p.rejected_samples.load(Ordering::SeqCst);
    assert!(rejected > 0);
    assert_eq!(
        metric(
            &m,
            "monitor_agent_samples_dropped_total{reason=\"rejected\"}"
        ) as usize,
        rejected,
        "{m}"
    );
    assert!(p.statuses.lock().unwrap().contains(&413));
    assert!(
        p.max_series_forwarded.load(Ordering::SeqCst) <= 2,
        "413 must split requests"
    );
    // Each scrape is 3 samples + up + scrape_duration_seconds + scrape_samples_scraped.
    let rejected_scrapes = rejected / 6;
    let got = count(&prom, "count_over_time(f_metric{job=\"f\",k=\"a\"}[10m])").await;
    assert_eq!(
        got,
        scrapes - rejected_scrapes,
        "the rest continues after the dropped batch"
    );
    assert!(
        agent.log().contains("proxy says 400"),
        "the server's message is logged: {}",
        agent.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn full_buffer_drops_oldest_and_delivers_newest() {
    let t = target().await;
    let prom = Prometheus::start(&PrometheusOptions::default());
    let p = proxy(
        prom.remote_write_url(),
        Box::new(|elapsed, _, _| {
            if elapsed < Duration::from_secs(3) {
                Answer::Status(503, None)
            } else {
                Answer::Forward
            }
        }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    // 12 samples = 2 scrapes of 6.
    let cfg = config(
        dir.path(),
        &t.uri(),
        &p.addr,
        &listen,
        "[queue]\nmax_samples = 12\n",
    );
    let (mut agent, _d) = spawn_bin("monitor-agent", &["--config", &cfg], &[]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, m) = monitor_testkit::http_get(&listen, "/metrics").unwrap();
    agent.signal("TERM");
    assert!(agent
        .wait_exit(Duration::from_secs(10))
        .expect("exit")
        .success());
    let scrapes = t.received_requests().await.unwrap().len();
    let dropped = metric(
        &m,
        "monitor_agent_samples_dropped_total{reason=\"queue_full\"}",
    ) as usize;
    assert!(dropped >= 6, "{m}");
    let got = count(&prom, "count_over_time(f_metric{job=\"f\",k=\"a\"}[10m])").await;
    assert!(got < scrapes, "some scrapes must have been dropped");
    // Every scrape is either delivered or counted as dropped (the ones after the metrics
    // read cannot have been dropped: the receiver was healthy by then).
    assert!(
        got * 6 + dropped >= (scrapes - 1) * 6,
        "delivered {got} + dropped {dropped}/6 vs {scrapes} scrapes"
    );
    // The newest scrape made it: the last sample is recent.
    let age = prom.query("time() - timestamp(f_metric{k=\"a\"})").await;
    let age: f64 = age[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(age < 3.0, "newest sample is {age}s old");
}
