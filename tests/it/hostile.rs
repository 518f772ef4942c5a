//! The agent under hostile conditions, with real processes: a full disk under the on-disk
//! queue (a real tmpfs), a sender deadline shorter than the traffic needs, and targets
//! that send endless, compressed-bomb, huge or slow bodies. Each case asserts the agent
//! keeps serving `/metrics`, counts and logs what it drops, delivers what it can, and
//! stays within a stated memory bound.

use monitor_testkit::{free_port, http_get, spawn_bin, Proc, Prometheus, PrometheusOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A small tmpfs mounted for one test, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a `size` tmpfs (e.g. `"2m"`); `Err` says why it cannot (not root, no
    /// mount permission in this container).
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the filesystem until a write fails; returns the filler file.
    fn fill(&self) -> PathBuf {
        let p = self.path().join("filler");
        let mut f = std::fs::File::create(&p).unwrap();
        let chunk = vec![0u8; 4096];
        while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
        p
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    proc_status(pid, "VmHWM:")
}

fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) a process used so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn metric(body: &str, line_prefix: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The agent's `/metrics`, which must answer within 2 s.
fn own_metrics(agent: &Proc, listen: &str) -> String {
    match http_get(listen, "/metrics") {
        Ok((200, body)) => body,
        other => panic!("/metrics did not answer: {other:?}\n{}", agent.log()),
    }
}

/// Waits until the agent serves `/metrics` (it binds after loading its config).
async fn wait_listening(agent: &Proc, listen: &str) {
    let t0 = Instant::now();
    while !matches!(http_get(listen, "/-/healthy"), Ok((200, _))) {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the agent never listened on {listen}\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn count(prom: &Prometheus, q: &str) -> usize {
    prom.query(q)
        .await
        .first()
        .map(|x| x["value"][1].as_str().unwrap().parse::<f64>().unwrap() as usize)
        .unwrap_or(0)
}

/// A target serving `series` gauges `big_metric{i="…"}` (about 100 bytes each on disk).
async fn big_target(series: usize) -> wiremock::MockServer {
    let t = wiremock::MockServer::start().await;
    let mut body = String::from("# TYPE big_metric gauge\n");
    for i in 0..series {
        body.push_str(&format!(
            "big_metric{{i=\"{i:06}\",pad=\"padding-padding-padding-padding\"}} {i}\n"
        ));
    }
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_raw(body, "text/plain"))
        .mount(&t)
        .await;
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn full_disk_then_space_back_delivers_again_without_spinning() {
    let fs = match Tmpfs::mount("4m") {
        Ok(fs) => fs,
        Err(why) => {
            println!("SKIPPED full_disk_then_space_back_delivers_again_without_spinning: needs a tmpfs mount (run as root): {why}");
            return;
        }
    };
    let target = big_target(2000).await;
    let prom = Prometheus::start(&PrometheusOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nlisten = \"{listen}\"\nself_metrics = false\nshutdown_timeout = \"3s\"\n\
             [[scrape]]\njob = \"full\"\nurl = \"{}/metrics\"\ninterval = \"500ms\"\ntimeout = \"400ms\"\n\
             [remote_write]\nurl = \"{}\"\nbatch_send_deadline = \"200ms\"\nmin_backoff = \"50ms\"\nmax_backoff = \"500ms\"\n\
             [queue]\ndir = \"{}\"\nmax_size = \"64MiB\"\nsegment_size = \"1MiB\"\nfsync = true\n",
            target.uri(),
            prom.remote_write_url(),
            fs.path().join("queue").display()
        ),
    )
    .unwrap();
    let (mut agent, _d) = spawn_bin(
        "monitor-agent",
        &["--config", cfg.to_str().unwrap()],
        &[("RUST_LOG", "info")],
    );
    let up = "count_over_time(up{job=\"full\"}[10m])";
    let t0 = Instant::now();
    while count(&prom, up).await < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no delivery at all\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The disk fills up: every scrape fails to be queued, and is counted.
    let filler = fs.fill();
    let t_full = Instant::now();
    let cpu_before = cpu_ticks(agent.pid());
    let mut io_drops = 0.0;
    while t_full.elapsed() < Duration::from_secs(4) || io_drops == 0.0 {
        let m = own_metrics(&agent, &listen);
        io_drops = metric(
            &m,
            "monitor_agent_samples_dropped_total{reason=\"queue_io_error\"}",
        );
        assert!(
            t_full.elapsed() < Duration::from_secs(20),
            "no queue_io_error drops on a full disk\n{m}\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let busy = cpu_ticks(agent.pid()) - cpu_before;
    let ticks_per_s = 100; // USER_HZ on Linux
    let secs = t_full.elapsed().as_secs_f64();
    assert!(
        (busy as f64) < 0.5 * secs * ticks_per_s as f64,
        "the agent used {busy} ticks of CPU in {secs:.1} s with a full disk (spinning?)"
    );
    let delivered_full = count(&prom, up).await;

    // Space returns: the agent resumes by itself (no restart) within 30 s.
    std::fs::remove_file(filler).unwrap();
    let t_free = Instant::now();
    loop {
        let _ = own_metrics(&agent, &listen);
        let now = count(&prom, up).await;
        if now >= delivered_full + 3 {
            break;
        }
        assert!(
            t_free.elapsed() < Duration::from_secs(30),
            "not delivering 30 s after space returned ({now} vs {delivered_full})\n{}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let series = count(&prom, "count(big_metric{job=\"full\"})").await;
    assert_eq!(series, 2000, "every series of the resumed scrapes arrives");
    assert!(
        agent.log().contains("cannot write to the on-disk queue"),
        "the drop is logged\n{}",
        agent.log()
    );

    // And it stops within shutdown_timeout on SIGTERM.
    agent.signal("TERM");
    let t_term = Instant::now();
    let st = agent
        .wait_exit(Duration::from_secs(8))
        .expect("exits on SIGTERM");
    assert!(st.success(), "{}", agent.log());
    assert!(
        t_term.elapsed() < Duration::from_secs(6),
        "took {:?}",
        t_term.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_send_deadline_counts_from_the_oldest_waiting_sample() {
    // A small target scraped every 500 ms with a 2 s deadline: a sender whose timer
    // restarted on every push would send nothing until 2,000 samples had queued (minutes).
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let target = big_target(5).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nlisten = \"\"\nself_metrics = false\nshutdown_timeout = \"2s\"\n\
             [[scrape]]\njob = \"small\"\nurl = \"{}/metrics\"\ninterval = \"500ms\"\ntimeout = \"400ms\"\n\
             [remote_write]\nurl = \"{}/api/v1/write\"\nbatch_send_deadline = \"2s\"\n",
            target.uri(),
            receiver.uri()
        ),
    )
    .unwrap();
    let (mut agent, _d) = spawn_bin("monitor-agent", &["--config", cfg.to_str().unwrap()], &[]);
    tokio::time::sleep(Duration::from_millis(7_500)).await;
    let posts = receiver.received_requests().await.unwrap().len();
    agent.signal("TERM");
    agent.wait_exit(Duration::from_secs(6)).expect("exits");
    // Sends at about 2 s, 4 s and 6 s after the first scrape (and not more often).
    assert!(
        (2..=5).contains(&posts),
        "{posts} remote-write requests in 7.5 s with a 2 s deadline\n{}",
        agent.log()
    );
}

/// Hostile targets on one loopback server: `/endless` (a chunked body that never ends),
/// `/bomb` (256 MiB of zeros gzipped to ~250 KiB), `/million` (1,000,000 series),
/// `/huge-label` (one 60 MB label value), `/many-labels` (100,000 labels on one series)
/// and `/slow` (one byte every 100 ms).
async fn hostile_server() -> String {
    use axum::body::Body;
    use axum::routing::get;
    let bomb = Command::new("sh")
        .args(["-c", "head -c 268435456 /dev/zero | gzip -1"])
        .output()
        .expect("gzip")
        .stdout;
    let million: String = {
        let mut s = String::with_capacity(40 << 20);
        for i in 0..1_000_000 {
            s.push_str(&format!("million_metric{{i=\"{i}\"}} 1\n"));
        }
        s
    };
    let huge = format!("huge_label_metric{{v=\"{}\"}} 1\n", "x".repeat(60_000_000));
    let many = format!(
        "many_labels_metric{{{}}} 1\n",
        (0..100_000)
            .map(|i| format!("l{i}=\"v\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (million, huge, many) = (
        axum::body::Bytes::from(million),
        axum::body::Bytes::from(huge),
        axum::body::Bytes::from(many),
    );
    let app = axum::Router::new()
        .route(
            "/endless",
            get(|| async {
                let line = axum::body::Bytes::from("endless_metric{k=\"v\"} 1\n".repeat(4096));
                let s = futures::stream::repeat_with(move || Ok::<_, std::io::Error>(line.clone()));
                Body::from_stream(s)
            }),
        )
        .route(
            "/bomb",
            get(move || {
                let b = bomb.clone();
                async move { ([(http::header::CONTENT_ENCODING, "gzip")], b) }
            }),
        )
        .route(
            "/million",
            get(move || {
                let b = million.clone();
                async move { b }
            }),
        )
        .route(
            "/huge-label",
            get(move || {
                let b = huge.clone();
                async move { b }
            }),
        )
        .route(
            "/many-labels",
            get(move || {
                let b = many.clone();
                async move { b }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                let s = futures::stream::unfold(0u64, |n| async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((
                        Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"#")),
                        n + 1,
                    ))
                });
                Body::from_stream(s)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// The hostile cases and the error each must produce.
const HOSTILE: &[(&str, &str)] = &[
    ("endless", "body exceeds body_size_limit"),
    ("bomb", "body exceeds body_size_limit"),
    ("million", "sample_limit exceeded"),
    ("huge-label", "label_value_length_limit exceeded"),
    ("many-labels", "label_limit exceeded"),
    ("slow", "GET "),
];

/// Peak memory allowed for the agent while all six hostile targets are scraped at once,
/// each up to its 64 MiB body limit (before the limits, one endless body reached 4.8 GB).
const PEAK_RSS_BOUND_KIB: u64 = 768 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn hostile_targets_fail_alone_within_bounded_memory() {
    let hostile = hostile_server().await;
    let good = big_target(3).await;
    let prom = Prometheus::start(&PrometheusOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut cfg = format!(
        "[agent]\nlisten = \"{listen}\"\nself_metrics = false\nshutdown_timeout = \"3s\"\n\
         [[scrape]]\njob = \"good\"\nurl = \"{}/metrics\"\ninterval = \"1s\"\ntimeout = \"900ms\"\n",
        good.uri()
    );
    for (job, _) in HOSTILE {
        cfg.push_str(&format!(
            "[[scrape]]\njob = \"{job}\"\nurl = \"{hostile}/{job}\"\ninterval = \"2s\"\ntimeout = \"1500ms\"\n"
        ));
    }
    cfg.push_str(&format!(
        "[remote_write]\nurl = \"{}\"\nbatch_send_deadline = \"200ms\"\n",
        prom.remote_write_url()
    ));
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, cfg).unwrap();
    let (mut agent, _d) = spawn_bin(
        "monitor-agent",
        &["--config", path.to_str().unwrap()],
        &[("RUST_LOG", "info")],
    );
    wait_listening(&agent, &listen).await;
    // Four rounds of every hostile target.
    let start = Instant::now();
    let mut m = String::new();
    while start.elapsed() < Duration::from_secs(8) {
        m = own_metrics(&agent, &listen);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let peak = peak_rss_kib(agent.pid());
    let good_samples = count(
        &prom,
        "count_over_time(big_metric{job=\"good\",i=\"000000\"}[1m])",
    )
    .await;
    agent.signal("TERM");
    agent
        .wait_exit(Duration::from_secs(8))
        .expect("exits on SIGTERM");
    let log = agent.log();
    println!("peak RSS with six hostile targets: {} MiB", peak / 1024);
    assert!(
        peak > 0 && peak < PEAK_RSS_BOUND_KIB,
        "peak RSS {peak} KiB over the bound {PEAK_RSS_BOUND_KIB} KiB"
    );
    assert!(
        good_samples >= 5,
        "the well-behaved target kept being delivered: {good_samples} samples in 8 s\n{log}"
    );
    for (job, error) in HOSTILE {
        let failures = metric(
            &m,
            &format!("monitor_agent_scrape_failures_total{{job=\"{job}\"}}"),
        );
        assert!(failures >= 1.0, "{job}: {failures} failures counted\n{m}");
        let logged: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("scrape failed") && l.contains(&format!("job={job} ")))
            .collect();
        // The expected error must be logged; on a loaded machine a later scrape of a big
        // body may time out first instead (the error changes, so it is logged again).
        assert!(
            logged.iter().any(|l| l.contains(error))
                && logged
                    .iter()
                    .all(|l| l.contains(error) || l.contains("timed out") || l.contains("timeout")),
            "{job}: expected a log line with {error:?}, got {logged:?}\n{log}"
        );
        assert!(
            logged.len() <= 2,
            "{job}: logged {} times, not once per distinct error",
            logged.len()
        );
    }
    let up = prom.query("up{job=\"million\"}").await;
    assert_eq!(
        up.first()
            .map(|x| x["value"][1].as_str().unwrap().to_string()),
        Some("0".into())
    );
    assert_eq!(
        count(&prom, "count(million_metric)").await,
        0,
        "nothing of a failed scrape is stored"
    );
}
