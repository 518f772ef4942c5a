//! Scraping over HTTP against wiremock: the request carries the text-format `Accept`
//! header and accepts gzip; a gzip-compressed page (as node_exporter sends when asked) is
//! decoded; a slow target hits the timeout and yields `up == 0`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_collector::config::ScrapeConfig;
use monitor_collector::target::{scrape_once, TargetState, ACCEPT};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn target(server: &MockServer, timeout: Duration) -> ScrapeConfig {
    ScrapeConfig {
        interval: Duration::from_secs(15),
        timeout,
        ..ScrapeConfig::new("node", format!("{}/metrics", server.uri()).parse().unwrap())
    }
}

fn value_of(r: &monitor_collector::target::ScrapeResult, name: &str) -> Option<f64> {
    r.series()
        .iter()
        .find(|t| {
            t.labels
                .iter()
                .any(|l| l.name == "__name__" && l.value == name)
        })
        .map(|t| t.samples[0].value)
}

#[tokio::test]
async fn gzip_page_with_text_format_accept_header() {
    let server = MockServer::start().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"# TYPE node_load1 gauge\nnode_load1 0.42\n")
        .unwrap();
    let body = gz.finish().unwrap();
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Content-Encoding", "gzip")
                .set_body_raw(body, "text/plain; version=0.0.4"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let http = reqwest::Client::new();
    let t = target(&server, Duration::from_secs(2));
    let mut st = TargetState::new("node", &t.instance(), &BTreeMap::new());
    let r = scrape_once(&http, &t, &mut st).await;
    assert_eq!(r.error, None);
    assert_eq!(value_of(&r, "node_load1"), Some(0.42));
    assert_eq!(value_of(&r, "up"), Some(1.0));
    let req = &server.received_requests().await.unwrap()[0];
    let ae = req
        .headers
        .get("accept-encoding")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(ae.contains("gzip"), "Accept-Encoding: {ae:?}");
    // (wiremock's header matcher splits on commas, so compare the raw value here.)
    assert_eq!(req.headers.get("accept").unwrap().to_str().unwrap(), ACCEPT);
}

#[tokio::test]
async fn slow_target_times_out_and_is_down() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("m 1\n")
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let http = reqwest::Client::new();
    let t = target(&server, Duration::from_millis(300));
    let mut st = TargetState::new("node", &t.instance(), &BTreeMap::new());
    let started = std::time::Instant::now();
    let r = scrape_once(&http, &t, &mut st).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "timeout not applied"
    );
    assert!(r.error.is_some());
    assert_eq!(value_of(&r, "up"), Some(0.0));
}

#[tokio::test]
async fn body_size_limit_counts_decoded_bytes_of_a_gzip_bomb() {
    let server = MockServer::start().await;
    // 8 MiB of valid exposition compressed to a few KiB: the limit is on what it decodes to.
    let page = "bomb_metric 1\n".repeat((8 << 20) / 14);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(page.as_bytes()).unwrap();
    let body = gz.finish().unwrap();
    assert!(
        body.len() < 1 << 20,
        "the compressed body is under the limit"
    );
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Content-Encoding", "gzip")
                .set_body_raw(body, "text/plain"),
        )
        .mount(&server)
        .await;
    let mut t = target(&server, Duration::from_secs(5));
    t.body_size_limit = 1 << 20;
    let mut st = TargetState::new("node", "x", &BTreeMap::new());
    let r = scrape_once(&reqwest::Client::new(), &t, &mut st).await;
    let e = r.error.clone().expect("the scrape fails");
    assert!(
        e.contains("body exceeds body_size_limit (1048576 bytes, decoded)"),
        "{e}"
    );
    assert_eq!(value_of(&r, "up"), Some(0.0));
    t.body_size_limit = 16 << 20;
    t.sample_limit = 0; // the page has 600,000 samples
    let r = scrape_once(&reqwest::Client::new(), &t, &mut st).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(value_of(&r, "up"), Some(1.0));
}

#[tokio::test]
async fn sample_limit_fails_the_scrape_with_up_zero() {
    let server = MockServer::start().await;
    let page: String = (0..50).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect();
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(page, "text/plain"))
        .mount(&server)
        .await;
    let mut t = target(&server, Duration::from_secs(5));
    t.sample_limit = 10;
    let mut st = TargetState::new("node", "x", &BTreeMap::new());
    let r = scrape_once(&reqwest::Client::new(), &t, &mut st).await;
    assert!(r.error.clone().unwrap().contains("sample_limit exceeded"));
    assert_eq!(value_of(&r, "up"), Some(0.0));
    assert_eq!(r.series().len(), 3, "only up and scrape_* are sent");
}
