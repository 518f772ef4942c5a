//! `monitor-verify logs --check` against moto (CloudWatch Logs emulator), reached only
//! through the standard `AWS_ENDPOINT_URL`: a healthy host passes, a host without a
//! stream fails with the CloudWatch-Agent/IAM hint, and the exit code says so.

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use monitor_testkit::{workspace_bin, Moto};
use std::collections::BTreeMap;

const GROUP: &str = "/monitoring-test/system";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn log_checks_pass_for_a_shipping_host_and_name_the_cause_for_a_silent_one() {
    let moto = Moto::start();
    let sdk = moto.sdk_config("eu-west-1").await;
    let c = monitor_logs::client(&sdk);
    monitor_logs::admin::ensure_log_group(&c, GROUP, 30, &BTreeMap::new())
        .await
        .unwrap();
    c.create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name("i-0aaaaaaaaaaaaaaa1")
        .send()
        .await
        .unwrap();
    let t = now_ms() - 60_000;
    c.put_log_events()
        .log_group_name(GROUP)
        .log_stream_name("i-0aaaaaaaaaaaaaaa1")
        .log_events(InputLogEvent::builder().timestamp(t).message("Cloud-init v. 22.2.2 running 'modules:final'. Up 20.00 seconds.").build().unwrap())
        .log_events(InputLogEvent::builder().timestamp(t + 1000).message("Cloud-init v. 22.2.2 finished at Wed, 25 Nov 2026 00:00:29 +0000. Datasource DataSourceEc2.  Up 29.47 seconds").build().unwrap())
        .send()
        .await
        .unwrap();

    let run = |args: &[&str]| {
        std::process::Command::new(workspace_bin("monitor-verify"))
            .args([
                "logs",
                "--group",
                GROUP,
                "--region",
                "eu-west-1",
                "--check",
                "--since",
                "1h",
                "--output",
                "json",
            ])
            .args(args)
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    };
    let ok = run(&["--instance", "web-1=i-0aaaaaaaaaaaaaaa1"]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(doc["results"].as_array().unwrap().len() >= 3, "{doc}");

    let bad = run(&[
        "--instance",
        "web-1=i-0aaaaaaaaaaaaaaa1",
        "--instance",
        "web-2=i-0bbbbbbbbbbbbbbb2",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let doc: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&bad.stdout).trim()).unwrap();
    let failed: Vec<&serde_json::Value> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "pass")
        .collect();
    assert!(!failed.is_empty());
    assert!(failed.iter().all(|r| r["host"] == "web-2"), "{doc}");
    let hints: String = failed
        .iter()
        .map(|r| r["hint"].as_str().unwrap_or(""))
        .collect();
    assert!(hints.contains("CloudWatch Agent"), "{hints}");

    // Wrong group: one failure naming region/group, exit 1.
    let out = std::process::Command::new(workspace_bin("monitor-verify"))
        .args([
            "logs",
            "--group",
            "/nope/system",
            "--region",
            "eu-west-1",
            "--check",
            "--instance",
            "web-1=i-0aaaaaaaaaaaaaaa1",
        ])
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("wrong region or wrong group name"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `monitor-verify all`: metrics from a real local pipeline and logs from moto in one
/// report; the host is discovered from the metrics' instance_id label.
#[tokio::test(flavor = "multi_thread")]
async fn the_whole_checklist_joins_metrics_and_logs_per_host() {
    const ID: &str = "i-0cccccccccccccccc";
    let moto = Moto::start();
    let sdk = moto.sdk_config("eu-west-1").await;
    let c = monitor_logs::client(&sdk);
    monitor_logs::admin::ensure_log_group(&c, GROUP, 30, &BTreeMap::new())
        .await
        .unwrap();
    c.create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(ID)
        .send()
        .await
        .unwrap();
    c.put_log_events()
        .log_group_name(GROUP)
        .log_stream_name(ID)
        .log_events(InputLogEvent::builder().timestamp(now_ms() - 5_000).message("Cloud-init v. 22.2.2 finished at Wed, 25 Nov 2026 00:00:29 +0000. Datasource DataSourceEc2.  Up 29.47 seconds").build().unwrap())
        .send()
        .await
        .unwrap();

    let p = monitor_testkit::LocalPipeline::start(ID);
    p.wait_for_data().await;
    let prom = &p.prometheus;
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack.toml");
    std::fs::write(&stack, "name = \"monitoring-test\"\nregion = \"eu-west-1\"\n[[hosts]]\nname = \"web-1\"\nlabels = { env = \"test\", role = \"web\", team = \"platform\" }\n").unwrap();

    let run = || {
        std::process::Command::new(workspace_bin("monitor-verify"))
            .args([
                "all",
                "--endpoint",
                &prom.url(),
                "--config",
                stack.to_str().unwrap(),
                "--label",
                "env",
                "--max-age",
                "30s",
                "--output",
                "json",
            ])
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let checks: Vec<String> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["check"].as_str().unwrap(),
                r["host"].as_str().unwrap_or("-")
            )
        })
        .collect();
    assert!(
        checks
            .iter()
            .any(|c| c.starts_with("metrics.up ") && c.ends_with(ID)),
        "{checks:?}"
    );
    assert!(
        checks
            .iter()
            .any(|c| c.starts_with("logs.") && c.ends_with(ID)),
        "log checks for the discovered host: {checks:?}"
    );

    // The host's stream disappears → the log check fails, exit 1.
    c.delete_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(ID)
        .send()
        .await
        .unwrap();
    let out = run();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
