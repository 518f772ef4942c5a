//! Rendering proofs: snapshots of the user_data for both collectors × both architectures,
//! every embedded config re-parsed and checked field by field, shellcheck on every
//! script, the instance-id substitution run for real with the script's own `sed`, and
//! the 16 KB limit.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use monitor_bootstrap::{
    adot::AdotConfig, agent, cwagent::CwAgentConfig, render_all, render_host, BootstrapError,
    RenderInputs, RenderedHost, ADOT_CONFIG_PATH, AGENT_CONFIG_PATH, AGENT_UNIT_PATH,
    CWAGENT_CONFIG_PATH, INSTANCE_ID_SENTINEL, NODE_EXPORTER_UNIT_PATH, PLACEHOLDER_WORKSPACE_ID,
    USER_DATA_LIMIT,
};
use monitor_stack::Stack;

mod support;

const WS: &str = "ws-0123abcd-4567-89ef-0123-456789abcdef";

fn stack(kind: &str) -> Stack {
    let collector = match kind {
        "adot" => "[collector]\nkind = \"adot\"\n".to_string(),
        "monitor-agent" => format!(
            "[collector]\nkind = \"monitor-agent\"\n\
             agent_url_x86_64 = \"https://downloads.example.com/monitor-agent/0.1.0/monitor-agent-x86_64\"\n\
             agent_sha256_x86_64 = \"{}\"\n\
             agent_url_arm64 = \"https://downloads.example.com/monitor-agent/0.1.0/monitor-agent-arm64\"\n\
             agent_sha256_arm64 = \"{}\"\n",
            "1f".repeat(32),
            "2e".repeat(32)
        ),
        other => panic!("{other}"),
    };
    let text = format!(
        r#"name = "monitoring-test"
region = "eu-west-1"
{collector}
[logs]
group = "/monitoring-test/system"
files = ["/var/log/messages", "/var/log/cloud-init-output.log"]

[[hosts]]
name = "web-1"
architecture = "x86_64"
labels = {{ env = "prod", role = "web", team = "platform" }}

[[hosts]]
name = "web-2"
architecture = "arm64"
labels = {{ env = "prod", role = "web", team = "platform" }}
"#
    );
    monitor_stack::from_toml_str(&text, Path::new("stack.toml")).expect("fixture stack")
}

fn inputs() -> RenderInputs {
    RenderInputs {
        workspace_id: Some(WS.to_string()),
        keep_metrics: None,
        node_collectors: None,
    }
}

fn render(kind: &str, host: &str) -> RenderedHost {
    let s = stack(kind);
    let h = s.host(host).expect("host");
    render_host(&s, h, &inputs()).expect("render")
}

fn all_renders() -> Vec<(String, RenderedHost)> {
    let mut out = Vec::new();
    for kind in ["adot", "monitor-agent"] {
        for host in ["web-1", "web-2"] {
            out.push((format!("{kind}/{host}"), render(kind, host)));
        }
    }
    out
}

fn file<'a>(r: &'a RenderedHost, path: &str) -> &'a str {
    &r.files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not rendered"))
        .content
}

// ------------------------------------------------------------------ snapshots

#[test]
fn snapshot_adot_x86_64() {
    insta::assert_snapshot!("adot_x86_64_user_data", render("adot", "web-1").user_data);
}

#[test]
fn snapshot_adot_arm64() {
    insta::assert_snapshot!("adot_arm64_user_data", render("adot", "web-2").user_data);
}

#[test]
fn snapshot_monitor_agent_x86_64() {
    insta::assert_snapshot!(
        "monitor_agent_x86_64_user_data",
        render("monitor-agent", "web-1").user_data
    );
}

#[test]
fn snapshot_monitor_agent_arm64() {
    insta::assert_snapshot!(
        "monitor_agent_arm64_user_data",
        render("monitor-agent", "web-2").user_data
    );
}

// ------------------------------------------------------------------ structure

#[test]
fn script_basics() {
    for (name, r) in all_renders() {
        let ud = &r.user_data;
        assert!(ud.starts_with("#!/bin/bash\n"), "{name}");
        assert!(ud.contains("\nset -Eeuo pipefail\n"), "{name}");
        assert!(ud.len() <= USER_DATA_LIMIT, "{name}: {} bytes", ud.len());
        // Appending is the classic way to make a re-run non-idempotent.
        assert!(!ud.contains(">>"), "{name} appends to a file");
        for line in ud.lines().filter(|l| l.contains("useradd")) {
            assert!(
                line.starts_with("getent passwd"),
                "{name}: unguarded {line}"
            );
        }
        // Secrets never appear: credentials come from the instance profile.
        for word in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "aws_secret",
            "password",
        ] {
            assert!(
                !ud.to_lowercase().contains(&word.to_lowercase()),
                "{name}: {word}"
            );
        }
        assert!(ud.contains(&format!("# AMP workspace: {WS}")), "{name}");
    }
}

#[test]
fn architecture_specific_downloads() {
    let x86 = render("adot", "web-1").user_data;
    let arm = render("adot", "web-2").user_data;
    assert!(x86.contains("node_exporter-1.9.1.linux-amd64.tar.gz"));
    assert!(x86.contains(monitor_bootstrap::NODE_EXPORTER_SHA256_X86_64));
    assert!(x86.contains("/amazon_linux/amd64/v0.49.0/aws-otel-collector.rpm"));
    assert!(x86.contains("[[ \"$(uname -m)\" == x86_64 ]]"));
    assert!(arm.contains("node_exporter-1.9.1.linux-arm64.tar.gz"));
    assert!(arm.contains(monitor_bootstrap::NODE_EXPORTER_SHA256_ARM64));
    assert!(arm.contains("/amazon_linux/arm64/v0.49.0/aws-otel-collector.rpm"));
    assert!(arm.contains("[[ \"$(uname -m)\" == aarch64 ]]"));
    assert!(!arm.contains("amd64"));

    let agent_arm = render("monitor-agent", "web-2").user_data;
    assert!(agent_arm.contains("monitor-agent-arm64"));
    assert!(agent_arm.contains(&"2e".repeat(32)));
    assert!(!agent_arm.contains("aws-otel-collector.rpm"));
}

/// Every `write_file MODE PATH <<'EOF'` block holds exactly the rendered file, in order.
#[test]
fn heredocs_embed_the_files_verbatim() {
    for (name, r) in all_renders() {
        let mut found = Vec::new();
        let mut lines = r.user_data.lines();
        while let Some(line) = lines.next() {
            let Some(rest) = line.strip_prefix("write_file ") else {
                continue;
            };
            let mut parts = rest.split(' ');
            let mode = u32::from_str_radix(parts.next().unwrap(), 8).unwrap();
            let path = parts.next().unwrap().to_string();
            assert_eq!(
                parts.next(),
                Some("<<'MONITOR_BOOTSTRAP_EOF'"),
                "{name}: {line}"
            );
            let mut content = String::new();
            for l in lines.by_ref() {
                if l == "MONITOR_BOOTSTRAP_EOF" {
                    break;
                }
                content.push_str(l);
                content.push('\n');
            }
            found.push((path, mode, content));
        }
        let expected: Vec<_> = r
            .files
            .iter()
            .map(|f| (f.path.clone(), f.mode, f.content.clone()))
            .collect();
        assert_eq!(found, expected, "{name}");
    }
}

#[test]
fn rendered_paths() {
    let a = render("adot", "web-1");
    let paths: Vec<&str> = a.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            CWAGENT_CONFIG_PATH,
            NODE_EXPORTER_UNIT_PATH,
            ADOT_CONFIG_PATH
        ]
    );
    assert_eq!(
        ADOT_CONFIG_PATH,
        "/opt/aws/aws-otel-collector/etc/config.yaml"
    );
    let m = render("monitor-agent", "web-1");
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            CWAGENT_CONFIG_PATH,
            NODE_EXPORTER_UNIT_PATH,
            AGENT_CONFIG_PATH,
            AGENT_UNIT_PATH
        ]
    );
    for r in [&a, &m] {
        for f in &r.files {
            assert!(f.path.starts_with('/'));
            assert_eq!(f.mode, 0o644, "{}", f.path);
            assert_eq!(
                f.fills_instance_id,
                f.content.contains(INSTANCE_ID_SENTINEL),
                "{}",
                f.path
            );
            if f.fills_instance_id {
                assert!(r
                    .user_data
                    .contains(&format!("fill_instance_id {}\n", f.path)));
            }
        }
    }
}

// ------------------------------------------------------------------ ADOT config

#[test]
fn adot_config_reparsed_field_by_field() {
    let r = render("adot", "web-2");
    let text = file(&r, ADOT_CONFIG_PATH);

    // Typed: the exact schema, nothing more (deny_unknown_fields).
    let typed: AdotConfig = serde_yaml_ng::from_str(text).unwrap();

    // Untyped: field by field, as the collector sees it.
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
    let s = |path: &[&str]| -> String {
        let mut cur = &v;
        for p in path {
            cur = cur.get(*p).unwrap_or_else(|| panic!("missing {path:?}"));
        }
        cur.as_str()
            .unwrap_or_else(|| panic!("{path:?} not a string"))
            .to_string()
    };
    assert_eq!(s(&["extensions", "sigv4auth", "region"]), "eu-west-1");
    assert_eq!(s(&["extensions", "sigv4auth", "service"]), "aps");
    let prom = &v["receivers"]["prometheus"]["config"];
    assert_eq!(prom["global"]["scrape_interval"].as_str(), Some("15s"));
    assert_eq!(prom["global"]["scrape_timeout"].as_str(), Some("10s"));
    let job = &prom["scrape_configs"][0];
    assert_eq!(job["job_name"].as_str(), Some("node"));
    assert_eq!(
        job["static_configs"][0]["targets"][0].as_str(),
        Some("127.0.0.1:9100")
    );
    assert_eq!(
        s(&["exporters", "prometheusremotewrite", "endpoint"]),
        format!(
            "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/{WS}/api/v1/remote_write"
        )
    );
    assert_eq!(
        s(&[
            "exporters",
            "prometheusremotewrite",
            "auth",
            "authenticator"
        ]),
        "sigv4auth"
    );
    let labels = &v["exporters"]["prometheusremotewrite"]["external_labels"];
    assert_eq!(labels["env"].as_str(), Some("prod"));
    assert_eq!(labels["role"].as_str(), Some("web"));
    assert_eq!(labels["team"].as_str(), Some("platform"));
    assert_eq!(labels["instance_id"].as_str(), Some(INSTANCE_ID_SENTINEL));

    // Pipeline wiring: every id referenced by the service is defined, and vice versa.
    let pipeline = &typed.service.pipelines.metrics;
    assert_eq!(pipeline.receivers, ["prometheus"]);
    assert_eq!(pipeline.exporters, ["prometheusremotewrite"]);
    assert_eq!(typed.service.extensions, ["sigv4auth"]);
    for section in ["receivers", "exporters", "extensions"] {
        let defined: Vec<&str> = v[section]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        let used: Vec<&str> = match section {
            "receivers" => pipeline.receivers.iter().map(String::as_str).collect(),
            "exporters" => pipeline.exporters.iter().map(String::as_str).collect(),
            _ => typed
                .service
                .extensions
                .iter()
                .map(String::as_str)
                .collect(),
        };
        assert_eq!(defined, used, "{section}");
    }
    assert_eq!(
        v["exporters"]["prometheusremotewrite"]["auth"]["authenticator"],
        v["service"]["extensions"][0]
    );
}

#[test]
fn adot_label_dollars_are_escaped() {
    let text = r#"
[[hosts]]
name = "h"
labels = { env = "p$x", role = "r", team = "t" }
"#;
    let s = monitor_stack::from_toml_str(text, Path::new("s.toml")).unwrap();
    let r = render_host(&s, &s.hosts[0], &inputs()).unwrap();
    let cfg: AdotConfig = serde_yaml_ng::from_str(file(&r, ADOT_CONFIG_PATH)).unwrap();
    assert_eq!(
        cfg.exporters.prometheusremotewrite.external_labels["env"],
        "p$$x"
    );
}

// ------------------------------------------------------------------ CloudWatch Agent

#[test]
fn cloudwatch_agent_config_reparsed() {
    let r = render("adot", "web-1");
    let text = file(&r, CWAGENT_CONFIG_PATH);
    let _typed: CwAgentConfig = serde_json::from_str(text).unwrap();
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["agent"]["region"], "eu-west-1");
    assert_eq!(v["agent"]["run_as_user"], "root");
    let list = v["logs"]["logs_collected"]["files"]["collect_list"]
        .as_array()
        .unwrap();
    let paths: Vec<&str> = list
        .iter()
        .map(|e| e["file_path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["/var/log/messages", "/var/log/cloud-init-output.log"]
    );
    for e in list {
        assert_eq!(e["log_group_name"], "/monitoring-test/system");
        assert_eq!(e["log_stream_name"], "{instance_id}");
    }
    assert!(r.user_data.contains(
        "amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/opt/aws/amazon-cloudwatch-agent/etc/config.json"
    ));
    // /var/log/messages exists only with rsyslog on AL2023.
    assert!(r
        .user_data
        .contains("dnf install -y rsyslog amazon-cloudwatch-agent"));
    assert!(r
        .user_data
        .contains("systemctl enable --now rsyslog.service"));
}

#[test]
fn no_rsyslog_when_no_syslog_file_is_shipped() {
    let text = r#"
[logs]
files = ["/var/log/cloud-init-output.log"]
[[hosts]]
name = "h"
labels = { env = "p", role = "r", team = "t" }
"#;
    let s = monitor_stack::from_toml_str(text, Path::new("s.toml")).unwrap();
    let r = render_host(&s, &s.hosts[0], &inputs()).unwrap();
    assert!(!r.user_data.contains("rsyslog"));
}

// ------------------------------------------------------------------ monitor-agent

#[test]
fn agent_toml_reparsed_field_by_field() {
    let r = render("monitor-agent", "web-1");
    let text = file(&r, AGENT_CONFIG_PATH);

    // The schema of the metrics-pipeline issue, mirrored by `agent::AgentConfig`
    // (deny_unknown_fields): an extra or missing key fails here.
    let typed: agent::AgentConfig = toml::from_str(text).unwrap();
    assert_eq!(typed.scrape.len(), 1);

    let v: toml::Table = toml::from_str(text).unwrap();
    let labels = v["labels"].as_table().unwrap();
    assert_eq!(labels["env"].as_str(), Some("prod"));
    assert_eq!(labels["role"].as_str(), Some("web"));
    assert_eq!(labels["team"].as_str(), Some("platform"));
    assert_eq!(labels["instance_id"].as_str(), Some(INSTANCE_ID_SENTINEL));
    let scrape = v["scrape"].as_array().unwrap()[0].as_table().unwrap();
    assert_eq!(scrape["job"].as_str(), Some("node"));
    assert_eq!(
        scrape["url"].as_str(),
        Some("http://127.0.0.1:9100/metrics")
    );
    assert_eq!(scrape["interval"].as_str(), Some("15s"));
    assert_eq!(scrape["timeout"].as_str(), Some("10s"));
    let rw = v["remote_write"].as_table().unwrap();
    assert_eq!(
        rw["url"].as_str(),
        Some(format!("https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/{WS}/api/v1/remote_write").as_str())
    );
    assert_eq!(rw["sigv4"]["region"].as_str(), Some("eu-west-1"));
    let q = v["queue"].as_table().unwrap();
    assert_eq!(q["dir"].as_str(), Some("/var/lib/monitor-agent/queue"));
    assert_eq!(q["max_size"].as_str(), Some("512MiB"));
    assert_eq!(
        v.len(),
        4,
        "labels, scrape, remote_write, queue only: {v:?}"
    );
}

/// The rendered agent config, before and after the boot-time instance-id substitution,
/// passes the agent's own loader — what `monitor-agent check-config FILE` runs.
#[test]
fn agent_toml_accepted_by_monitor_agent() {
    use monitor_collector::config::AgentConfig;
    for host in ["web-1", "web-2"] {
        let r = render("monitor-agent", host);
        let text = file(&r, AGENT_CONFIG_PATH);
        for t in [
            text.to_string(),
            text.replace(INSTANCE_ID_SENTINEL, "i-0123456789abcdef0"),
        ] {
            let cfg = AgentConfig::from_toml_str(&t, AGENT_CONFIG_PATH)
                .unwrap_or_else(|e| panic!("monitor-agent rejects the rendered config: {e}\n{t}"));
            assert_eq!(cfg.labels["env"], "prod");
            assert_eq!(cfg.scrape.len(), 1);
            assert_eq!(cfg.scrape[0].job, "node");
            assert_eq!(cfg.scrape[0].url.as_str(), "http://127.0.0.1:9100/metrics");
            assert_eq!(cfg.scrape[0].interval, std::time::Duration::from_secs(15));
            assert_eq!(cfg.scrape[0].timeout, std::time::Duration::from_secs(10));
            assert_eq!(
                cfg.remote_write.sigv4,
                Some(("eu-west-1".to_string(), "aps".to_string()))
            );
            assert!(cfg.remote_write.url.as_str().contains(WS));
        }
    }
}

/// The metric allowlist becomes one `keep` rule on node_exporter's scrape, in both
/// collectors' configs (and only there: ADOT's own telemetry job is not filtered).
#[test]
fn the_metric_allowlist_is_a_keep_rule_on_the_node_exporter_scrape() {
    use monitor_collector::config::AgentConfig;
    let keep = RenderInputs {
        keep_metrics: Some("node_cpu_seconds_total|node_load1|(otel_.*)".into()),
        ..inputs()
    };
    let s = stack("monitor-agent");
    let r = render_host(&s, &s.hosts[0], &keep).unwrap();
    let text = file(&r, AGENT_CONFIG_PATH);
    let cfg = AgentConfig::from_toml_str(text, AGENT_CONFIG_PATH)
        .unwrap_or_else(|e| panic!("monitor-agent rejects the rendered config: {e}\n{text}"));
    let rules = &cfg.scrape[0].metric_relabel_configs;
    assert_eq!(rules.len(), 1, "{text}");
    assert_eq!(rules[0].action, monitor_collector::relabel::Action::Keep);
    assert_eq!(rules[0].source_labels, ["__name__"]);
    assert_eq!(
        rules[0].regex_text,
        "node_cpu_seconds_total|node_load1|(otel_.*)"
    );
    // Without an allowlist nothing is filtered.
    let all = render("monitor-agent", "web-1");
    let cfg = AgentConfig::from_toml_str(file(&all, AGENT_CONFIG_PATH), AGENT_CONFIG_PATH).unwrap();
    assert!(cfg.scrape[0].metric_relabel_configs.is_empty());

    let s = stack("adot");
    let r = render_host(&s, &s.hosts[0], &keep).unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(file(&r, ADOT_CONFIG_PATH)).unwrap();
    let jobs = &yaml["receivers"]["prometheus"]["config"]["scrape_configs"];
    let node = &jobs[0];
    assert_eq!(node["job_name"], "node");
    assert_eq!(node["metric_relabel_configs"][0]["action"], "keep");
    assert_eq!(
        node["metric_relabel_configs"][0]["source_labels"][0],
        "__name__"
    );
    assert_eq!(
        node["metric_relabel_configs"][0]["regex"],
        "node_cpu_seconds_total|node_load1|(otel_.*)"
    );
    assert!(
        jobs[1]["metric_relabel_configs"].is_null(),
        "ADOT's own job unfiltered"
    );
    // A `$` (a user rule's anchored pattern) is escaped from the collector's expansion.
    let dollar = RenderInputs {
        keep_metrics: Some("(my_metric$)".into()),
        ..inputs()
    };
    let r = render_host(&s, &s.hosts[0], &dollar).unwrap();
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(file(&r, ADOT_CONFIG_PATH)).unwrap();
    assert_eq!(
        yaml["receivers"]["prometheus"]["config"]["scrape_configs"][0]["metric_relabel_configs"][0]
            ["regex"],
        "(my_metric$$)"
    );

    // And node_exporter runs only the collectors asked for (systemd keeps its filter).
    let narrowed = RenderInputs {
        node_collectors: Some(vec!["cpu".into(), "meminfo".into(), "systemd".into()]),
        ..inputs()
    };
    let r = render_host(&s, &s.hosts[0], &narrowed).unwrap();
    let unit = file(&r, NODE_EXPORTER_UNIT_PATH);
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(
        exec.contains("--collector.disable-defaults --collector.cpu --collector.meminfo"),
        "{exec}"
    );
    assert_eq!(exec.matches("--collector.systemd ").count(), 1, "{exec}");
    let bad = RenderInputs {
        node_collectors: Some(vec!["cpu; rm -rf /".into()]),
        ..inputs()
    };
    assert!(render_host(&s, &s.hosts[0], &bad).is_err());
    let default = file(&render("adot", "web-1"), NODE_EXPORTER_UNIT_PATH).to_string();
    assert!(!default.contains("disable-defaults"), "{default}");
}

#[test]
fn agent_unit_is_hardened() {
    let r = render("monitor-agent", "web-2");
    let unit = file(&r, AGENT_UNIT_PATH);
    let entries: BTreeMap<&str, &str> = unit.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(entries["DynamicUser"], "yes");
    assert_eq!(entries["ProtectSystem"], "strict");
    assert_eq!(entries["NoNewPrivileges"], "yes");
    assert_eq!(entries["Restart"], "on-failure");
    assert_eq!(entries["StateDirectory"], "monitor-agent");
    assert_eq!(
        entries["ExecStart"],
        "/usr/local/bin/monitor-agent --config /etc/monitor-agent/config.toml"
    );
    assert_eq!(entries["WantedBy"], "multi-user.target");
}

#[test]
fn node_exporter_unit() {
    let r = render("adot", "web-1");
    let unit = file(&r, NODE_EXPORTER_UNIT_PATH);
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    assert!(exec.starts_with("/usr/local/bin/node_exporter --web.listen-address=127.0.0.1:9100"));
    assert!(exec.contains("--collector.systemd "));
    assert!(exec.contains("aws-otel-collector"));
    assert!(!exec.contains('\\'), "systemd would unescape backslashes");
    assert!(unit.contains("\nUser=node_exporter\n"));
}

#[test]
fn node_exporter_listen_address_is_configurable() {
    let text = r#"
[node_exporter]
listen_address = "0.0.0.0:9200"
systemd_collector = false
[[hosts]]
name = "h"
labels = { env = "p", role = "r", team = "t" }
"#;
    let s = monitor_stack::from_toml_str(text, Path::new("s.toml")).unwrap();
    let r = render_host(&s, &s.hosts[0], &inputs()).unwrap();
    let unit = file(&r, NODE_EXPORTER_UNIT_PATH);
    assert!(unit.contains("--web.listen-address=0.0.0.0:9200\n"));
    assert!(!unit.contains("collector.systemd"));
    // The collector still scrapes over loopback.
    let cfg: AdotConfig = serde_yaml_ng::from_str(file(&r, ADOT_CONFIG_PATH)).unwrap();
    assert_eq!(
        cfg.receivers.prometheus.config.scrape_configs[0].static_configs[0].targets,
        ["127.0.0.1:9200"]
    );
}

// ------------------------------------------------------------------ instance id

/// Runs the script's own `fill_instance_id` (bash + sed) on the rendered files and
/// re-parses the result.
#[test]
fn instance_id_substitution_runs() {
    let dir = std::env::temp_dir().join(format!("monitor-bootstrap-sed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for kind in ["adot", "monitor-agent"] {
        let r = render(kind, "web-1");
        let func = r
            .user_data
            .lines()
            .find(|l| l.starts_with("fill_instance_id() {"))
            .unwrap();
        for f in r.files.iter().filter(|f| f.fills_instance_id) {
            let p = dir.join(f.path.trim_start_matches('/').replace('/', "_"));
            std::fs::write(&p, &f.content).unwrap();
            let status = Command::new("bash")
                .arg("-c")
                .arg(format!(
                    "set -euo pipefail\n{func}\ninstance_id=i-0123456789abcdef0\nfill_instance_id \"$1\""
                ))
                .arg("fill")
                .arg(&p)
                .status()
                .unwrap();
            assert!(status.success());
            let out = std::fs::read_to_string(&p).unwrap();
            assert!(!out.contains(INSTANCE_ID_SENTINEL));
            let id = if f.path == ADOT_CONFIG_PATH {
                let c: AdotConfig = serde_yaml_ng::from_str(&out).unwrap();
                c.exporters.prometheusremotewrite.external_labels["instance_id"].clone()
            } else {
                let c: agent::AgentConfig = toml::from_str(&out).unwrap();
                c.labels["instance_id"].clone()
            };
            assert_eq!(id, "i-0123456789abcdef0", "{kind} {}", f.path);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn instance_id_is_validated_before_substitution() {
    let ud = render("adot", "web-1").user_data;
    let check = ud
        .find("[[ \"${instance_id}\" =~ ^i-[0-9a-f]{8,17}$ ]]")
        .expect("instance id check");
    let first_fill = ud.find("\nfill_instance_id ").expect("fill");
    assert!(check < first_fill);
    assert!(ud.contains("-X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300'"));
}

// ------------------------------------------------------------------ workspace id

#[test]
fn placeholder_workspace_is_marked() {
    let s = stack("adot");
    let r = render_host(&s, &s.hosts[0], &RenderInputs::default()).unwrap();
    assert!(r.user_data.contains(&format!(
        "# PLACEHOLDER: AMP workspace id {PLACEHOLDER_WORKSPACE_ID}"
    )));
    let cfg: AdotConfig = serde_yaml_ng::from_str(file(&r, ADOT_CONFIG_PATH)).unwrap();
    assert!(cfg
        .exporters
        .prometheusremotewrite
        .endpoint
        .contains(PLACEHOLDER_WORKSPACE_ID));
}

#[test]
fn bad_workspace_id_is_refused() {
    let s = stack("adot");
    for bad in ["", "ws-", "ws-a'b", "ws-a/../b", "12345"] {
        let err = render_host(
            &s,
            &s.hosts[0],
            &RenderInputs {
                workspace_id: Some(bad.to_string()),
                keep_metrics: None,
                node_collectors: None,
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, BootstrapError::InvalidWorkspaceId { .. }),
            "{bad}"
        );
    }
}

// ------------------------------------------------------------------ size limit

#[test]
fn oversized_user_data_is_a_clear_error() {
    let labels: Vec<String> = (0..200)
        .map(|i| format!("label_{i:03} = \"{}\"", "v".repeat(60)))
        .collect();
    let text = format!(
        "[[hosts]]\nname = \"big-1\"\n[hosts.labels]\nenv = \"p\"\nrole = \"r\"\nteam = \"t\"\n{}\n",
        labels.join("\n")
    );
    let s = monitor_stack::from_toml_str(&text, Path::new("s.toml")).unwrap();
    let err = render_host(&s, &s.hosts[0], &inputs()).unwrap_err();
    let BootstrapError::UserDataTooLarge { host, size, limit } = &err else {
        panic!("{err}");
    };
    assert_eq!(host, "big-1");
    assert!(*size > USER_DATA_LIMIT);
    assert_eq!(*limit, 16384);
    let msg = err.to_string();
    assert!(
        msg.contains("`big-1`") && msg.contains(&size.to_string()) && msg.contains("16384"),
        "{msg}"
    );
    // render_all stops on it too, naming the host.
    assert!(render_all(&s, &inputs())
        .unwrap_err()
        .to_string()
        .contains("big-1"));
}

#[test]
fn many_hosts_render_independently() {
    let hosts: String = (0..50)
        .map(|i| {
            format!(
                "[[hosts]]\nname = \"host-{i:02}\"\narchitecture = \"{}\"\nlabels = {{ env = \"prod\", role = \"r{i}\", team = \"t\" }}\n",
                if i % 2 == 0 { "x86_64" } else { "arm64" }
            )
        })
        .collect();
    let s = monitor_stack::from_toml_str(&hosts, Path::new("s.toml")).unwrap();
    let all = render_all(&s, &inputs()).unwrap();
    assert_eq!(all.len(), 50);
    assert!(all.iter().all(|r| r.user_data.len() <= USER_DATA_LIMIT));
    assert_eq!(all[7].host, "host-07");
    assert!(all[7].user_data.contains("role: r7"));
}

// ------------------------------------------------------------------ shellcheck

/// `shellcheck -s bash` (all severities) and `bash -n` on every rendered script. Fails if
/// shellcheck is not installed: CI installs it.
#[test]
fn shellcheck_clean() {
    for (name, r) in all_renders() {
        support::shellcheck(&name, &r.user_data);
    }
}
