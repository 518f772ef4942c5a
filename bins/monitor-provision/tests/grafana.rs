//! `monitor-provision apply | destroy` with `[grafana] enabled`, as a real process: moto
//! through `AWS_ENDPOINT_URL`, the AMG control plane redirected with the standard
//! service-specific `AWS_ENDPOINT_URL_GRAFANA`, and the Grafana HTTP API through the
//! test/support-only `MONITOR_GRAFANA_URL`. The stubs are `monitor_testkit::grafana_stubs`
//! (feature `grafana-stubs`), shared with monitor-reconcile's tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use monitor_testkit::grafana_stubs as stubs;
use monitor_testkit::Moto;

const BIN: &str = env!("CARGO_BIN_EXE_monitor-provision");

const STACK: &str = r#"name = "cli"
region = "eu-west-1"
[grafana]
enabled = true
admin_group_ids = ["906744f8-0011-70e6-ca9c-1a2b3c4d5e6f"]
[[hosts]]
name = "web-1"
labels = { env = "prod", role = "web", team = "platform" }
"#;

async fn run(envs: Vec<(&'static str, String)>, home: &Path, args: &[&str]) -> Output {
    let home = home.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(BIN);
        cmd.args(&args)
            .stdin(Stdio::null())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", home.join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().expect("run monitor-provision")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_and_destroy_grafana_through_the_standard_endpoints() {
    let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap();
    let (amg, amg_server, grafana, grafana_server) = stubs::start_stubs().await;
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("stack.toml");
    std::fs::write(&config, STACK).unwrap();
    let c = config.to_str().unwrap();
    let envs = vec![
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_ENDPOINT_URL_GRAFANA", amg_server.uri()),
        ("MONITOR_GRAFANA_URL", grafana_server.uri()),
    ];

    let o = run(envs.clone(), tmp.path(), &["apply", "--config", c, "--yes"]).await;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("    + grafana_workspace.cli-grafana"), "{out}");
    let url = format!(
        "https://{}.grafana-workspace.eu-west-1.amazonaws.com",
        stubs::WS
    );
    assert!(
        out.contains(&format!("grafana_url        = {url}")),
        "{out}"
    );
    assert!(out.contains(&format!("Grafana: {url}")), "{out}");
    {
        let s = amg.0.lock().unwrap();
        assert_eq!(s.create_bodies.len(), 1);
        assert!(s.tokens_created > 0 && s.tokens.is_empty() && s.service_accounts.is_empty());
    }
    assert_eq!(grafana.0.lock().unwrap().datasources.len(), 2);

    // Right after the apply, `plan` has nothing to do (exit 0): the content hash tagged on
    // the workspace matches, so no `~ grafana_content`.
    let o = run(envs.clone(), tmp.path(), &["plan", "--config", c]).await;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(!out.contains("grafana_content"), "{out}");
    assert_eq!(amg.0.lock().unwrap().tagged.len(), 1);

    let o = run(envs, tmp.path(), &["destroy", "--config", c, "--yes"]).await;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("- grafana_workspace.cli-grafana"), "{out}");
    assert!(amg.0.lock().unwrap().workspace.is_none());
}
