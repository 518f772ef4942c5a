//! The durable queue end to end: receiver down, agent `kill -9`'d and restarted during the
//! outage, receiver back → every scrape of the window lands in a real Prometheus.

use monitor_testkit::{free_port, spawn_bin, Prometheus, PrometheusOptions};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn outage_and_kill_9_lose_nothing() {
    let target = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(
            "# TYPE durable_metric gauge\ndurable_metric{k=\"a\"} 1\ndurable_metric{k=\"b\"} 2\n",
            "text/plain",
        ))
        .mount(&target)
        .await;
    let prom_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nlisten = \"\"\nself_metrics = false\nshutdown_timeout = \"2s\"\n\
             [[scrape]]\njob = \"dur\"\nurl = \"{}/metrics\"\ninterval = \"500ms\"\ntimeout = \"400ms\"\n\
             [remote_write]\nurl = \"http://127.0.0.1:{prom_port}/api/v1/write\"\nbatch_send_deadline = \"100ms\"\nmin_backoff = \"50ms\"\nmax_backoff = \"300ms\"\n\
             [queue]\ndir = \"{}\"\nmax_size = \"64MiB\"\n",
            target.uri(),
            dir.path().join("queue").display()
        ),
    )
    .unwrap();
    let cfg = cfg.display().to_string();

    // Receiver down: the agent scrapes and queues on disk.
    let (mut a1, _d1) = spawn_bin(
        "monitor-agent",
        &["--config", &cfg],
        &[("RUST_LOG", "info")],
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    a1.signal("KILL");
    a1.wait_exit(Duration::from_secs(5)).expect("killed");
    let scrapes_before = target.received_requests().await.unwrap().len();
    assert!(scrapes_before >= 4, "only {scrapes_before} scrapes");

    // Restarted, still during the outage.
    let (mut a2, _d2) = spawn_bin(
        "monitor-agent",
        &["--config", &cfg],
        &[("RUST_LOG", "info")],
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Receiver back.
    let prom = Prometheus::start(&PrometheusOptions {
        port: Some(prom_port),
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    a2.signal("TERM");
    assert!(
        a2.wait_exit(Duration::from_secs(10))
            .expect("agent exits on SIGTERM")
            .success(),
        "{}",
        a2.log()
    );
    let scrapes = target.received_requests().await.unwrap().len();

    let count = |q: &'static str| {
        let prom = &prom;
        async move {
            let r = prom.query(q).await;
            r.first()
                .map(|x| x["value"][1].as_str().unwrap().parse::<f64>().unwrap() as usize)
                .unwrap_or(0)
        }
    };
    let got_a = count("count_over_time(durable_metric{job=\"dur\",k=\"a\"}[10m])").await;
    let got_b = count("count_over_time(durable_metric{job=\"dur\",k=\"b\"}[10m])").await;
    let got_up = count("count_over_time(up{job=\"dur\"}[10m])").await;
    // A scrape in flight at the kill may have reached the target without being queued.
    for (what, got) in [("k=a", got_a), ("k=b", got_b), ("up", got_up)] {
        assert!(
            got + 1 >= scrapes && got <= scrapes,
            "{what}: {got} samples in Prometheus for {scrapes} scrapes\nagent 1:\n{}\nagent 2:\n{}",
            a1.log(),
            a2.log()
        );
    }
    // Samples from before the kill made it (the oldest is older than the receiver).
    let oldest = prom
        .query("min_over_time(timestamp(durable_metric{k=\"a\"})[10m:500ms])")
        .await;
    assert!(!oldest.is_empty());
    assert!(a2.log().contains("resuming delivery"), "{}", a2.log());
}
