//! Against moto in server mode (real HTTP, real SDK): log groups, streams, events,
//! FilterLogEvents paging, and the basic Logs Insights support moto has.
//!
//! What moto does NOT do, and is covered in `insights_wiremock.rs` / `tail_wiremock.rs`:
//! its Insights queries complete synchronously (no Scheduled/Running), it ignores `filter`
//! commands and returns `@timestamp` as epoch milliseconds, it has no StopQuery, no
//! statistics, never throttles, and it ignores `?term` filter patterns (returns every event).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatchlogs::config::{Credentials, Region};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use monitor_logs::checks::{
    check_cloud_init, check_host_streams, check_log_group, run_log_checks, LogCheckPlan,
    CHECK_CLOUD_INIT, CHECK_HOST_STREAM, CHECK_LOG_GROUP,
};
use monitor_logs::insights::{run_query, PollOptions, QueryRequest, TimeRange};
use monitor_logs::query::{QueryBuilder, DEFAULT_QUERY};
use monitor_logs::report::{run_logs_command_with, CommandOptions, LogsCommand, OutputFormat};
use monitor_logs::tail::{Tail, TailOptions};
use monitor_logs::Client;
use monitor_testkit::Moto;

const GROUP: &str = "/monitoring-test/system";

async fn client_in(moto: &Moto, region: &'static str) -> Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(Region::new(region))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    monitor_logs::client(&sdk)
}

async fn start() -> (Moto, Client) {
    let moto = tokio::task::spawn_blocking(Moto::start)
        .await
        .expect("moto starts");
    let client = client_in(&moto, "eu-west-1").await;
    (moto, client)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

fn minutes_ago(m: i64) -> i64 {
    now_ms() - m * 60_000
}

async fn create_group(c: &Client, group: &str, retention: Option<i32>) {
    c.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .expect("CreateLogGroup");
    if let Some(days) = retention {
        c.put_retention_policy()
            .log_group_name(group)
            .retention_in_days(days)
            .send()
            .await
            .expect("PutRetentionPolicy");
    }
}

async fn create_stream(c: &Client, group: &str, stream: &str) {
    c.create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .expect("CreateLogStream");
}

/// Puts events (chronological, as PutLogEvents requires) into an existing stream.
async fn put(c: &Client, group: &str, stream: &str, events: &[(i64, &str)]) {
    let events: Vec<InputLogEvent> = events
        .iter()
        .map(|(ts, msg)| {
            InputLogEvent::builder()
                .timestamp(*ts)
                .message(*msg)
                .build()
                .expect("event has timestamp and message")
        })
        .collect();
    c.put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .expect("PutLogEvents");
}

#[tokio::test]
async fn log_group_check_finds_group_and_retention() {
    let (moto, c) = start().await;
    create_group(&c, GROUP, Some(14)).await;

    let ok = check_log_group(&c, GROUP, Some(14)).await;
    assert!(ok.passed(), "{ok:?}");
    assert_eq!(ok.check, CHECK_LOG_GROUP);
    assert!(ok.detail.contains("retention 14 days"), "{ok:?}");
    assert!(check_log_group(&c, GROUP, None).await.passed());

    let drift = check_log_group(&c, GROUP, Some(30)).await;
    assert!(!drift.passed());
    assert!(
        drift.detail.contains("has retention 14 days, expected 30"),
        "{drift:?}"
    );
    assert!(drift.hint.unwrap().contains("monitor-provision apply"));

    let missing = check_log_group(&c, "/monitoring-test/sytsem", Some(14)).await;
    assert!(!missing.passed());
    assert_eq!(
        missing.hint.as_deref(),
        Some(
            "wrong region or wrong group name (group /monitoring-test/sytsem not found in \
             region eu-west-1); `monitor-provision apply` creates it"
        )
    );

    // The same group looked up in another region is not there.
    let us = client_in(&moto, "us-east-1").await;
    let wrong_region = check_log_group(&us, GROUP, Some(14)).await;
    assert!(!wrong_region.passed());
    assert!(wrong_region
        .hint
        .unwrap()
        .contains("group /monitoring-test/system not found in region us-east-1"),);

    // A group without retention reads as "never expire".
    create_group(&c, "/monitoring-test/forever", None).await;
    let forever = check_log_group(&c, "/monitoring-test/forever", Some(14)).await;
    assert!(!forever.passed());
    assert!(forever.detail.contains("never expire"), "{forever:?}");
}

#[tokio::test]
async fn host_stream_checks_pass_and_fail_with_the_right_hint() {
    let (_moto, c) = start().await;
    create_group(&c, GROUP, Some(14)).await;
    // web-1: fresh events in its instance stream and a second stream.
    create_stream(&c, GROUP, "i-0aaa").await;
    put(&c, GROUP, "i-0aaa", &[(minutes_ago(1), "kernel: eth0 up")]).await;
    create_stream(&c, GROUP, "i-0aaa/cloud-init").await;
    put(
        &c,
        GROUP,
        "i-0aaa/cloud-init",
        &[(minutes_ago(30), "old line")],
    )
    .await;
    // web-2: no stream at all (and a longer id sharing its prefix must not count).
    create_stream(&c, GROUP, "i-0bbbx").await;
    put(&c, GROUP, "i-0bbbx", &[(minutes_ago(1), "someone else")]).await;
    // web-3: only an old event.
    create_stream(&c, GROUP, "i-0ccc").await;
    put(&c, GROUP, "i-0ccc", &[(minutes_ago(120), "last words")]).await;
    // web-4: stream created, nothing put.
    create_stream(&c, GROUP, "i-0ddd").await;

    let hosts = [
        ("web-1", "i-0aaa"),
        ("web-2", "i-0bbb"),
        ("web-3", "i-0ccc"),
        ("web-4", "i-0ddd"),
    ];
    let max_age = Duration::from_secs(600);
    let r = check_host_streams(&c, GROUP, &hosts, max_age).await;
    assert_eq!(r.len(), 4);
    assert!(r.iter().all(|x| x.check == CHECK_HOST_STREAM));

    assert!(r[0].passed(), "{:?}", r[0]);
    assert_eq!(r[0].host.as_deref(), Some("web-1"));
    assert!(
        r[0].detail.starts_with("stream i-0aaa: newest event at"),
        "{:?}",
        r[0]
    );

    assert!(!r[1].passed());
    assert_eq!(r[1].host.as_deref(), Some("web-2"));
    assert_eq!(
        r[1].hint.as_deref(),
        Some(
            "CloudWatch Agent not running on the host, or the instance role lacks \
             logs:CreateLogStream/logs:PutLogEvents on the group ARN"
        )
    );

    assert!(!r[2].passed());
    let stale = r[2].hint.as_deref().unwrap();
    assert!(
        stale.starts_with("agent stopped or time range/clock: newest event at "),
        "{stale}"
    );
    assert!(stale.ends_with(", older than max-age 10m"), "{stale}");

    assert!(!r[3].passed());
    assert!(r[3].detail.contains("holds no events"), "{:?}", r[3]);
    assert!(r[3].hint.as_deref().unwrap().contains("logs:PutLogEvents"));

    // With a generous max-age the stale host passes.
    let r = check_host_streams(
        &c,
        GROUP,
        &[("web-3", "i-0ccc")],
        Duration::from_secs(3 * 3600),
    )
    .await;
    assert!(r[0].passed(), "{:?}", r[0]);

    // Wrong group: every host fails with the group hint.
    let r = check_host_streams(&c, "/monitoring-test/nope", &hosts[..2], max_age).await;
    assert_eq!(r.len(), 2);
    for x in &r {
        assert!(!x.passed());
        assert!(
            x.hint
                .as_deref()
                .unwrap()
                .starts_with("wrong region or wrong group name"),
            "{x:?}"
        );
    }
}

#[tokio::test]
async fn cloud_init_check_reads_completion_and_failure_lines() {
    let (_moto, c) = start().await;
    create_group(&c, GROUP, Some(14)).await;
    let boot = minutes_ago(20);

    create_stream(&c, GROUP, "i-0good").await;
    put(
        &c,
        GROUP,
        "i-0good",
        &[(boot + 1_000, "systemd[1]: Started cloud-final.service")],
    )
    .await;
    create_stream(&c, GROUP, "i-0good/cloud-init-output").await;
    put(
        &c,
        GROUP,
        "i-0good/cloud-init-output",
        &[
            (boot, "Cloud-init v. 22.2.2 running 'modules:final' at Mon, 01 Jan 2024 00:00:20 +0000. Up 20.00 seconds."),
            (boot + 5_000, "+ dnf install -y amazon-cloudwatch-agent"),
            (boot + 9_000, "Cloud-init v. 22.2.2 finished at Mon, 01 Jan 2024 00:00:29 +0000. Datasource DataSourceEc2.  Up 29.47 seconds"),
        ],
    )
    .await;

    create_stream(&c, GROUP, "i-0bad").await;
    put(
        &c,
        GROUP,
        "i-0bad",
        &[
            (boot, "+ systemctl enable --now amazon-cloudwatch-agent"),
            (boot + 1_000, "2024-01-01 00:00:28,000 - cc_scripts_user.py[WARNING]: Failed to run module scripts-user (scripts in /var/lib/cloud/instance/scripts)"),
            (boot + 2_000, "Cloud-init v. 22.2.2 finished at Mon, 01 Jan 2024 00:00:29 +0000. Datasource DataSourceEc2.  Up 29.47 seconds"),
        ],
    )
    .await;

    create_stream(&c, GROUP, "i-0busy").await;
    put(
        &c,
        GROUP,
        "i-0busy",
        &[(boot, "Cloud-init v. 22.2.2 running 'modules:final' at Mon, 01 Jan 2024 00:00:20 +0000. Up 20.00 seconds.")],
    )
    .await;

    let since = UNIX_EPOCH + Duration::from_millis((boot - 60_000) as u64);

    let good = check_cloud_init(&c, GROUP, "i-0good", since).await;
    assert!(good.passed(), "{good:?}");
    assert_eq!(good.check, CHECK_CLOUD_INIT);
    assert!(
        good.detail.contains("Cloud-init v. 22.2.2 finished at"),
        "{good:?}"
    );

    let bad = check_cloud_init(&c, GROUP, "i-0bad", since).await;
    assert!(!bad.passed());
    assert!(
        bad.detail.contains("Failed to run module scripts-user"),
        "{bad:?}"
    );
    assert!(bad
        .hint
        .as_deref()
        .unwrap()
        .contains("cloud-init-output.log"));

    let busy = check_cloud_init(&c, GROUP, "i-0busy", since).await;
    assert!(!busy.passed());
    assert!(
        busy.detail
            .contains("no `Cloud-init v. … finished at …` line"),
        "{busy:?}"
    );
    assert!(busy.hint.as_deref().unwrap().contains("still running"));

    // A window that starts after the finished line: not found either.
    let late = check_cloud_init(&c, GROUP, "i-0good", SystemTime::now()).await;
    assert!(!late.passed(), "{late:?}");

    let none = check_cloud_init(&c, GROUP, "i-0none", since).await;
    assert!(!none.passed());
    assert!(none
        .hint
        .as_deref()
        .unwrap()
        .contains("CloudWatch Agent not running"));

    // The whole plan: group, streams, cloud-init per host.
    let plan = LogCheckPlan {
        group: GROUP.into(),
        expected_retention: Some(14),
        hosts: vec![
            ("web-1".into(), "i-0good".into()),
            ("web-2".into(), "i-0bad".into()),
        ],
        max_age: Duration::from_secs(3600),
        cloud_init_since: since,
    };
    let all = run_log_checks(&c, &plan).await;
    let summary: Vec<(&str, Option<&str>, bool)> = all
        .iter()
        .map(|r| (r.check.as_str(), r.host.as_deref(), r.passed()))
        .collect();
    assert_eq!(
        summary,
        [
            (CHECK_LOG_GROUP, None, true),
            (CHECK_HOST_STREAM, Some("web-1"), true),
            (CHECK_HOST_STREAM, Some("web-2"), true),
            (CHECK_CLOUD_INIT, Some("web-1"), true),
            (CHECK_CLOUD_INIT, Some("web-2"), false),
        ]
    );

    // A missing group stops after the group check.
    let missing = run_log_checks(
        &c,
        &LogCheckPlan {
            group: "/monitoring-test/none".into(),
            ..plan
        },
    )
    .await;
    assert_eq!(missing.len(), 1);
    assert!(!missing[0].passed());
}

#[tokio::test]
async fn tail_returns_new_events_in_order_across_pages_without_duplicates() {
    let (_moto, c) = start().await;
    create_group(&c, GROUP, None).await;
    create_stream(&c, GROUP, "i-0aaa").await;
    create_stream(&c, GROUP, "i-0bbb").await;
    let t = minutes_ago(5);
    put(
        &c,
        GROUP,
        "i-0aaa",
        &[(t + 10, "a1"), (t + 30, "a2"), (t + 50, "a3")],
    )
    .await;
    put(&c, GROUP, "i-0bbb", &[(t + 20, "b1"), (t + 40, "b2")]).await;

    let opts = TailOptions::new(GROUP)
        .since(UNIX_EPOCH + Duration::from_millis(t as u64))
        .page_size(2);
    let mut tail = Tail::new(c.clone(), opts);

    let first = tail.poll().await.unwrap();
    let msgs: Vec<&str> = first.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        msgs,
        ["a1", "b1", "a2", "b2", "a3"],
        "5 events over 3 pages, time order"
    );
    let stamps: Vec<i64> = first.iter().map(|e| e.timestamp_ms).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]));

    assert!(
        tail.poll().await.unwrap().is_empty(),
        "nothing new, nothing repeated"
    );

    put(&c, GROUP, "i-0aaa", &[(t + 60, "a4")]).await;
    put(
        &c,
        GROUP,
        "i-0bbb",
        &[(t + 50, "b3 same ms as a3"), (t + 70, "b4")],
    )
    .await;
    let second = tail.poll().await.unwrap();
    let msgs: Vec<&str> = second.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(msgs, ["b3 same ms as a3", "a4", "b4"]);
    assert!(tail.poll().await.unwrap().is_empty());

    // Only one stream, with a filter pattern moto understands (a quoted phrase).
    let mut only_a = Tail::new(
        c,
        TailOptions::new(GROUP)
            .since(UNIX_EPOCH + Duration::from_millis(t as u64))
            .streams(["i-0aaa"])
            .pattern("\"a\""),
    );
    let a: Vec<String> = only_a
        .poll()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(a, ["a1", "a2", "a3", "a4"]);
}

#[tokio::test]
async fn insights_default_query_runs_on_moto() {
    let (_moto, c) = start().await;
    create_group(&c, GROUP, Some(14)).await;
    create_stream(&c, GROUP, "i-0aaa").await;
    create_stream(&c, GROUP, "i-0bbb").await;
    put(
        &c,
        GROUP,
        "i-0aaa",
        &[(minutes_ago(180), "too old"), (minutes_ago(10), "a-10m")],
    )
    .await;
    put(
        &c,
        GROUP,
        "i-0bbb",
        &[(minutes_ago(5), "b-5m"), (minutes_ago(1), "b-1m")],
    )
    .await;

    let poll = PollOptions {
        initial_interval: Duration::from_millis(20),
        ..PollOptions::default()
    };
    let range = TimeRange::last(Duration::from_secs(3600));
    let res = run_query(&c, &QueryRequest::new([GROUP], DEFAULT_QUERY, range), &poll)
        .await
        .unwrap();
    let msgs: Vec<&str> = res
        .rows
        .iter()
        .filter_map(|r| r.message.as_deref())
        .collect();
    // Newest first; the 3-hour-old event is outside the (epoch-seconds) window.
    assert_eq!(msgs, ["b-1m", "b-5m", "a-10m"]);
    assert_eq!(res.rows[0].log_stream.as_deref(), Some("i-0bbb"));
    let newest = res.rows[0].timestamp_time().unwrap();
    let age = SystemTime::now().duration_since(newest).unwrap();
    assert!(
        age > Duration::from_secs(50) && age < Duration::from_secs(120),
        "{age:?}"
    );
    assert!(res.rows[0].ptr.is_some());

    // `limit` and ascending order from the builder (moto ignores `filter` commands).
    let q = QueryBuilder::new().ascending().limit(2);
    let res = run_query(&c, &q.request([GROUP], range), &poll)
        .await
        .unwrap();
    let msgs: Vec<&str> = res
        .rows
        .iter()
        .filter_map(|r| r.message.as_deref())
        .collect();
    assert_eq!(msgs, ["a-10m", "b-5m"]);

    // A missing group is a typed not-found error.
    let err = run_query(
        &c,
        &QueryRequest::new(["/monitoring-test/nope"], DEFAULT_QUERY, range),
        &poll,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, monitor_logs::LogsError::NotFound { .. }),
        "{err:?}"
    );

    // `monitor-verify logs` end to end, as a table.
    let mut out = Vec::new();
    let cmd = LogsCommand {
        groups: vec![GROUP.into()],
        since: Duration::from_secs(3600),
        query: None,
        follow: false,
        output: OutputFormat::Table,
    };
    let opts = CommandOptions {
        poll,
        ..CommandOptions::default()
    };
    run_logs_command_with(&c, cmd, &opts, &mut out, std::future::pending())
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("@timestamp"), "{text}");
    assert!(lines[1].ends_with("  i-0bbb      b-1m"), "{text}");
    assert_eq!(lines.last(), Some(&"3 rows"), "{text}");
}

#[tokio::test]
async fn logs_command_follow_prints_new_events() {
    let (_moto, c) = start().await;
    create_group(&c, GROUP, None).await;
    create_stream(&c, GROUP, "i-0aaa").await;
    put(
        &c,
        GROUP,
        "i-0aaa",
        &[(minutes_ago(2), "before"), (minutes_ago(1), "after")],
    )
    .await;

    let cmd = LogsCommand {
        groups: vec![GROUP.into()],
        since: Duration::from_secs(90),
        query: None,
        follow: true,
        output: OutputFormat::Json,
    };
    let opts = CommandOptions {
        follow_interval: Duration::from_millis(50),
        ..CommandOptions::default()
    };
    let mut out = Vec::new();
    run_logs_command_with(
        &c,
        cmd,
        &opts,
        &mut out,
        tokio::time::sleep(Duration::from_millis(700)),
    )
    .await
    .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["@message"], "after");
    assert_eq!(lines[0]["@logStream"], "i-0aaa");
}
