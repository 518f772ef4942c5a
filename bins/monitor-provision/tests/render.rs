//! `monitor-provision render` as a real process: output layout, exit codes, messages.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_monitor-provision");

const STACK: &str = r#"name = "monitoring-test"
region = "eu-west-1"
[collector]
kind = "adot"
[[hosts]]
name = "web-1"
labels = { env = "prod", role = "web", team = "platform" }
[[hosts]]
name = "web-2"
architecture = "arm64"
labels = { env = "prod", role = "db", team = "platform" }
"#;

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run monitor-provision")
}

fn write_stack(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("stack.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn render(config: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "render",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn renders_every_host_under_its_on_host_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_stack(tmp.path(), STACK);
    let out = tmp.path().join("out");
    let o = render(&config, &out, &["--workspace-id", "ws-abc123"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("web-1: user-data "), "{stdout}");
    assert!(stdout.contains("web-2: user-data "), "{stdout}");

    for host in ["web-1", "web-2"] {
        let d = out.join(host);
        let ud = std::fs::read_to_string(d.join("user-data")).unwrap();
        assert!(ud.starts_with("#!/bin/bash\n"));
        assert!(ud.contains("# AMP workspace: ws-abc123"));
        let adot =
            std::fs::read_to_string(d.join("opt/aws/aws-otel-collector/etc/config.yaml")).unwrap();
        assert!(adot.contains("/workspaces/ws-abc123/api/v1/remote_write"));
        // Each file is exactly what the script embeds.
        assert!(ud.contains(&adot));
        assert!(d.join("etc/systemd/system/node_exporter.service").is_file());
        assert!(d
            .join("opt/aws/amazon-cloudwatch-agent/etc/config.json")
            .is_file());
    }
    let arm = std::fs::read_to_string(out.join("web-2/user-data")).unwrap();
    assert!(arm.contains("linux-arm64.tar.gz"));
    let rendered_role =
        std::fs::read_to_string(out.join("web-2/opt/aws/aws-otel-collector/etc/config.yaml"))
            .unwrap();
    assert!(rendered_role.contains("role: db"));
}

#[test]
fn placeholder_without_workspace_id() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_stack(tmp.path(), STACK);
    let out = tmp.path().join("out");
    let o = render(&config, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("ws-PLACEHOLDER-set-by-monitor-provision"));
    let ud = std::fs::read_to_string(out.join("web-1/user-data")).unwrap();
    assert!(ud.contains("# PLACEHOLDER: AMP workspace id ws-PLACEHOLDER-set-by-monitor-provision"));
}

#[test]
fn rerender_replaces_stale_files() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_stack(tmp.path(), STACK);
    let out = tmp.path().join("out");
    assert_eq!(render(&config, &out, &[]).status.code(), Some(0));
    assert!(out
        .join("web-1/opt/aws/aws-otel-collector/etc/config.yaml")
        .is_file());

    let agent = STACK.replace(
        "kind = \"adot\"",
        &format!(
            "kind = \"monitor-agent\"\nagent_url = \"https://example.com/monitor-agent\"\nagent_sha256 = \"{}\"",
            "ab".repeat(32)
        ),
    );
    write_stack(tmp.path(), &agent);
    let o = render(&config, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!out
        .join("web-1/opt/aws/aws-otel-collector/etc/config.yaml")
        .exists());
    assert!(out.join("web-1/etc/monitor-agent/config.toml").is_file());
    assert!(out
        .join("web-1/etc/systemd/system/monitor-agent.service")
        .is_file());
}

#[test]
fn refuses_to_clobber_foreign_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_stack(tmp.path(), STACK);
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("web-1")).unwrap();
    std::fs::write(out.join("web-1/precious.txt"), "keep me").unwrap();
    let o = render(&config, &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("refusing to overwrite"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("web-1/precious.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn config_error_exits_2_naming_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = STACK.replace("architecture = \"arm64\"", "architecture = \"amd64\"");
    let config = write_stack(tmp.path(), &bad);
    let out = tmp.path().join("out");
    let o = render(&config, &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}:10:", config.display())),
        "no file:line in {err}"
    );
    assert!(err.contains("hosts[1].architecture"), "no key in {err}");
    assert!(!out.exists(), "nothing is written on error");
}

#[test]
fn missing_file_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let o = render(&tmp.path().join("nope.toml"), &tmp.path().join("out"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope.toml"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["render"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(run(&[]).status.code(), Some(2));
}

#[test]
fn bad_workspace_id_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_stack(tmp.path(), STACK);
    let o = render(
        &config,
        &tmp.path().join("out"),
        &["--workspace-id", "nope"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not an AMP workspace id"));
}

#[test]
fn oversized_user_data_exits_2_naming_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let labels: String = (0..200)
        .map(|i| format!("l{i} = \"{}\"\n", "x".repeat(70)))
        .collect();
    let text = format!(
        "[[hosts]]\nname = \"huge\"\n[hosts.labels]\nenv = \"p\"\nrole = \"r\"\nteam = \"t\"\n{labels}"
    );
    let config = write_stack(tmp.path(), &text);
    let out = tmp.path().join("out");
    let o = render(&config, &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("`huge`") && err.contains("16384"), "{err}");
    assert!(!out.exists());
}

#[test]
fn the_example_stack_renders() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/stack.toml");
    let tmp = tempfile::tempdir().unwrap();
    let o = render(&example, &tmp.path().join("out"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(tmp.path().join("out/web-1/user-data").is_file());
    assert!(tmp.path().join("out/web-2/user-data").is_file());
}

#[test]
fn renders_each_group_s_launch_template_user_data() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write_stack(
        tmp.path(),
        &format!(
            "{STACK}[[groups]]\nname = \"api\"\nmin = 1\nmax = 2\n\
             labels = {{ env = \"prod\", role = \"api\", team = \"platform\" }}\n"
        ),
    );
    let out = tmp.path().join("out");
    let o = render(&config, &out, &["--workspace-id", "ws-abc123"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("group api: launch template user-data "),
        "{stdout}"
    );
    let ud = std::fs::read_to_string(out.join("_groups/api/user-data")).unwrap();
    assert!(ud.starts_with("#!/bin/bash\n"));
    assert!(ud.contains("Auto Scaling group api"));
    assert!(ud.contains("/workspaces/ws-abc123/api/v1/remote_write"));
    assert!(
        ud.contains("group: api"),
        "the group label is in the collector config"
    );
}
