//! `monitor-provision plan | apply | destroy` as a real process against moto, reached
//! only through the standard `AWS_ENDPOINT_URL` variable (aws-config's chain): exit codes
//! (Terraform's: 0 ok / no changes, 1 error, 2 plan has changes), confirmation, output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use monitor_testkit::Moto;

const BIN: &str = env!("CARGO_BIN_EXE_monitor-provision");

const STACK: &str = r#"name = "cli"
region = "eu-west-1"
[[hosts]]
name = "web-1"
labels = { env = "prod", role = "web", team = "platform" }
"#;

fn write_stack(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("stack.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs the binary with a clean AWS environment pointing at `endpoint`.
fn run(endpoint: Option<&str>, creds: bool, home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"));
    if let Some(e) = endpoint {
        cmd.env("AWS_ENDPOINT_URL", e);
    }
    if creds {
        cmd.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
    }
    cmd.output().expect("run monitor-provision")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn plan_apply_destroy_exit_codes_and_output() {
    let moto = Moto::start();
    let tmp = tempfile::tempdir().unwrap();
    let config = write_stack(tmp.path(), STACK);
    let c = config.to_str().unwrap();
    let e = Some(moto.endpoint());
    let e = e.as_deref();
    let home = tmp.path();

    let o = run(e, true, home, &["plan", "--config", c]);
    assert_eq!(o.status.code(), Some(1), "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("    + amp_workspace.cli"), "{}", out(&o));
    assert!(out(&o).contains("Plan: 8 to add, 0 to change, 0 to replace, 0 to destroy."));
    // Then what it will cost: one t3.micro and its samples at eu-west-1's prices.
    assert!(
        out(&o).contains("Estimated cost per month in eu-west-1"),
        "{}",
        out(&o)
    );
    assert!(out(&o).contains("t3.micro instances"), "{}", out(&o));

    let o = run(e, true, home, &["plan", "--config", c, "--output", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v["summary"]["create"], 8);
    // ADOT with `metrics = "used"`: 180 series per host every 15 s for 30 days.
    let est = &v["estimate"];
    assert_eq!(est["samples_per_month"], 180 * 5_760 * 30);
    assert_eq!(est["price_region"], "eu-west-1");
    let lines = est["lines"].as_array().unwrap();
    let sum: f64 = lines.iter().filter_map(|l| l["usd"].as_f64()).sum();
    assert!((est["total_usd"].as_f64().unwrap() - sum).abs() < 1e-9);
    assert!(lines.iter().any(|l| l["item"] == "t3.micro instances"));

    // No terminal, no --yes: refused, nothing changed.
    let o = run(e, true, home, &["apply", "--config", c]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("pass --yes"), "{}", err(&o));
    assert_eq!(
        run(e, true, home, &["plan", "--config", c]).status.code(),
        Some(1)
    );

    let o = run(e, true, home, &["apply", "--yes", "--config", c]);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    let s = out(&o);
    assert!(s.contains("+ instance.web-1: launched i-"), "{s}");
    assert!(s.contains("Apply complete!"), "{s}");
    assert!(
        s.contains(
            "remote_write_url   = https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-"
        ),
        "{s}"
    );
    assert!(s.contains("/api/v1/query"), "{s}");
    assert!(s.contains("instance.web-1"), "{s}");

    let o = run(e, true, home, &["plan", "--config", c]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).starts_with("No changes."));
    let o = run(e, true, home, &["apply", "--yes", "--config", c]);
    assert_eq!(o.status.code(), Some(0));
    assert!(out(&o).starts_with("No changes."), "{}", out(&o));

    let o = run(e, true, home, &["destroy", "--config", c]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("pass --yes"));
    let o = run(e, true, home, &["destroy", "--yes", "--config", c]);
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    assert!(out(&o).contains("Destroy complete!"), "{}", out(&o));
    let o = run(e, true, home, &["destroy", "--yes", "--config", c]);
    assert_eq!(o.status.code(), Some(0));
    assert!(out(&o).contains("nothing to destroy"), "{}", out(&o));
    assert_eq!(
        run(e, true, home, &["plan", "--config", c]).status.code(),
        Some(1)
    );
}

#[test]
fn errors_exit_2_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let bad = write_stack(tmp.path(), &format!("{STACK}colour = \"x\"\n"));
    let o = run(
        None,
        true,
        home,
        &["plan", "--config", bad.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("stack.toml:6:"), "{}", err(&o));

    // No credentials anywhere in the chain: said before any resource is read.
    let good = write_stack(tmp.path(), STACK);
    let o = run(
        Some("http://127.0.0.1:9"),
        false,
        home,
        &["plan", "--config", good.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("no AWS credentials"), "{}", err(&o));

    // Nothing listening at the endpoint.
    let o = run(
        Some("http://127.0.0.1:9"),
        true,
        home,
        &["plan", "--config", good.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("sts:GetCallerIdentity"), "{}", err(&o));
}
