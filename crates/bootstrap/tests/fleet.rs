//! Fleet enrolment proofs: snapshots of the SSM document for both collectors, the
//! document's schema, shellcheck on every script, and the parts of the script that
//! handle run-time input or someone else's files (tag values, /etc/os-release, the
//! marker, change-aware writes) run for real in bash.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

use std::path::Path;
use std::process::{Command, Output};

use monitor_bootstrap::{
    adot::AdotConfig, agent, fleet_cwagent_config_path, render_fleet, BootstrapError, RenderInputs,
    RenderedFleet, ADOT_CONFIG_PATH, AGENT_CONFIG_PATH, FLEET_ACTION_PARAMETER,
    INSTANCE_ID_SENTINEL, PLACEHOLDER_WORKSPACE_ID, SSM_DOCUMENT_LIMIT,
};
use monitor_stack::Stack;

mod support;

const WS: &str = "ws-0123abcd-4567-89ef-0123-456789abcdef";
const INSTANCE: &str = "i-0123456789abcdef0";

fn collector(kind: &str) -> String {
    match kind {
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
    }
}

fn stack_with(collector: &str, fleet_extra: &str) -> Stack {
    let text = format!(
        r#"name = "monitoring-test"
region = "eu-west-1"
{collector}
[logs]
group = "/monitoring-test/system"
files = ["/var/log/messages", "/var/log/cloud-init-output.log"]

[[fleets]]
name = "platform-prod"
select = {{ Team = "platform", Environment = "prod" }}
labels_from_tags = {{ env = "Environment", role = "Role" }}
{fleet_extra}
"#
    );
    monitor_stack::from_toml_str(&text, Path::new("stack.toml")).expect("fixture stack")
}

fn stack(kind: &str) -> Stack {
    stack_with(
        &collector(kind),
        "labels = { team = \"platform\", tier = \"web\" }",
    )
}

fn inputs() -> RenderInputs {
    RenderInputs {
        workspace_id: Some(WS.to_string()),
        keep_metrics: None,
        node_collectors: None,
    }
}

fn render(kind: &str) -> RenderedFleet {
    let s = stack(kind);
    render_fleet(&s, &s.fleets[0], &inputs()).expect("render")
}

fn document(r: &RenderedFleet) -> serde_json::Value {
    serde_json::from_str(&r.document).expect("the document is JSON")
}

/// The script of the document's only step, as SSM writes it to disk.
fn document_script(r: &RenderedFleet) -> String {
    let doc = document(r);
    let lines = doc["mainSteps"][0]["inputs"]["runCommand"]
        .as_array()
        .expect("runCommand is an array");
    let mut out = String::new();
    for l in lines {
        out.push_str(l.as_str().expect("runCommand holds strings"));
        out.push('\n');
    }
    out
}

/// Runs `script` with `bash -c`, its arguments after `$0`.
fn bash(script: &str, args: &[&Path]) -> Output {
    Command::new("bash")
        .env("LC_ALL", "C")
        .arg("-c")
        .arg(script)
        .arg("test")
        .args(args)
        .output()
        .unwrap()
}

/// The named functions of `script`, one after the other.
fn functions(script: &str, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| support::bash_function(script, n))
        .collect()
}

// ------------------------------------------------------------------ snapshots

#[test]
fn snapshot_adot_document() {
    insta::assert_snapshot!("adot_fleet_document", render("adot").document);
}

#[test]
fn snapshot_monitor_agent_document() {
    insta::assert_snapshot!(
        "monitor_agent_fleet_document",
        render("monitor-agent").document
    );
}

// ------------------------------------------------------------------ the document

#[test]
fn document_is_a_command_document_running_install_or_uninstall() {
    for kind in ["adot", "monitor-agent"] {
        let r = render(kind);
        assert_eq!(r.fleet, "platform-prod");
        assert!(r.document.len() <= SSM_DOCUMENT_LIMIT, "{kind}");
        let doc = document(&r);
        assert_eq!(doc["schemaVersion"], "2.2");
        assert!(doc["description"]
            .as_str()
            .is_some_and(|d| d.contains("platform-prod")));

        let params = doc["parameters"].as_object().unwrap();
        assert_eq!(params.len(), 1, "{params:?}");
        let action = &params[FLEET_ACTION_PARAMETER];
        assert_eq!(action["type"], "String");
        assert_eq!(
            action["allowedValues"],
            serde_json::json!(["install", "uninstall"])
        );
        assert_eq!(action["default"], "install");

        let steps = doc["mainSteps"].as_array().unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0]["action"], "aws:runShellScript");
        assert_eq!(
            steps[0]["precondition"],
            serde_json::json!({ "StringEquals": ["platformType", "Linux"] })
        );

        let script = document_script(&r);
        assert!(script.starts_with("#!/bin/bash\n"), "{kind}");
        assert!(script.contains("\nset -Eeuo pipefail\n"), "{kind}");
        // One interpolation, assigned once, then only the checked shell variable is used.
        assert_eq!(script.matches("{{").count(), 1, "{kind}");
        assert_eq!(
            script
                .lines()
                .filter(|l| l.contains("{{ action }}"))
                .collect::<Vec<_>>(),
            ["requested='{{ action }}'"]
        );
        assert!(script.contains("  install) action=install ;;\n"));
        assert!(script.contains("  uninstall) action=uninstall ;;\n"));

        // The document runs exactly the install and the uninstall scripts: the same
        // preamble, then one body or the other.
        let common_len = r
            .install
            .bytes()
            .zip(r.uninstall.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        // Each body starts with a blank line and a step banner.
        let common = &r.install[..r.install[..common_len].rfind("\n\n").unwrap() + 1];
        let install_body = &r.install[common.len()..];
        let uninstall_body = &r.uninstall[common.len()..];
        assert!(script.starts_with(common), "{kind}");
        assert!(
            script.contains(&format!(
                "if [[ \"${{action}}\" == install ]]; then\n{install_body}else\n{uninstall_body}fi\n"
            )),
            "{kind}"
        );
        assert!(install_body.contains("check_os /etc/os-release"));
        assert!(uninstall_body.contains("remove_node_exporter"));
    }
}

#[test]
fn shellcheck_clean() {
    let mut variants: Vec<(String, RenderedFleet)> = ["adot", "monitor-agent"]
        .iter()
        .map(|k| (k.to_string(), render(k)))
        .collect();
    // An ADOT RPM pinned for one architecture only, and a monitor-agent binary for one.
    let pinned = stack_with(
        &format!(
            "[collector]\nkind = \"adot\"\nadot_rpm_sha256_arm64 = \"{}\"\n",
            "3c".repeat(32)
        ),
        "labels = { team = \"t\" }",
    );
    variants.push((
        "adot-pinned".into(),
        render_fleet(&pinned, &pinned.fleets[0], &inputs()).unwrap(),
    ));
    let one_arch = stack_with(
        &format!(
            "[collector]\nkind = \"monitor-agent\"\nagent_url_x86_64 = \"https://x.example/a\"\nagent_sha256_x86_64 = \"{}\"\n",
            "1f".repeat(32)
        ),
        "labels = { team = \"t\" }",
    );
    variants.push((
        "agent-x86_64-only".into(),
        render_fleet(&one_arch, &one_arch.fleets[0], &inputs()).unwrap(),
    ));
    for (name, r) in &variants {
        support::shellcheck(&format!("{name}-install"), &r.install);
        support::shellcheck(&format!("{name}-uninstall"), &r.uninstall);
        support::shellcheck(&format!("{name}-document"), &document_script(r));
        // Appending is the classic way to make a re-run non-idempotent.
        assert!(!document_script(r).contains(">>"), "{name}");
    }
}

// ------------------------------------------------------------------ what is rendered

#[test]
fn architecture_is_chosen_at_run_time() {
    let adot = render("adot").install;
    for want in [
        "case \"$(uname -m)\" in\n  x86_64)\n    arch=x86_64\n",
        "  aarch64)\n    arch=arm64\n",
        "node_exporter-1.9.1.linux-amd64.tar.gz",
        "node_exporter-1.9.1.linux-arm64.tar.gz",
        monitor_bootstrap::NODE_EXPORTER_SHA256_X86_64,
        monitor_bootstrap::NODE_EXPORTER_SHA256_ARM64,
        "adot_rpm_url=https://aws-otel-collector.s3.amazonaws.com/amazon_linux/amd64/v0.49.0/aws-otel-collector.rpm",
        "adot_rpm_url=https://aws-otel-collector.s3.amazonaws.com/amazon_linux/arm64/v0.49.0/aws-otel-collector.rpm",
        "  *) die \"monitor-fleet supports x86_64 and aarch64 only; this instance is $(uname -m)\" ;;",
    ] {
        assert!(adot.contains(want), "{want}");
    }
    let agent = render("monitor-agent").install;
    assert!(agent.contains(
        "agent_url=https://downloads.example.com/monitor-agent/0.1.0/monitor-agent-arm64"
    ));
    assert!(agent.contains(&format!("agent_sha256={}", "2e".repeat(32))));
    assert!(!agent.contains("aws-otel-collector.rpm"));

    // An architecture without a monitor-agent binary is refused on such an instance,
    // naming the stack.toml keys.
    let one_arch = stack_with(
        &format!(
            "[collector]\nkind = \"monitor-agent\"\nagent_url_x86_64 = \"https://x.example/a\"\nagent_sha256_x86_64 = \"{}\"\n",
            "1f".repeat(32)
        ),
        "labels = { team = \"t\" }",
    );
    let r = render_fleet(&one_arch, &one_arch.fleets[0], &inputs()).unwrap();
    let arm = r
        .install
        .split("  aarch64)\n")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(arm.starts_with("    die "), "{arm}");
    assert!(
        arm.contains("set agent_url_arm64 and agent_sha256_arm64"),
        "{arm}"
    );
    assert!(arm.contains("stack monitoring-test"), "{arm}");
}

#[test]
fn labels_of_a_member() {
    let r = render("monitor-agent");
    let text = support::heredoc(
        &r.install,
        &format!("write_filled 0644 {AGENT_CONFIG_PATH} toml"),
    );
    let cfg: agent::AgentConfig = toml::from_str(&text).unwrap();
    let labels: Vec<(&str, &str)> = cfg
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("env", "__TAG_0__\t"),
            ("fleet", "platform-prod"),
            ("host", INSTANCE_ID_SENTINEL),
            ("instance_id", INSTANCE_ID_SENTINEL),
            ("role", "__TAG_1__\t"),
            ("team", "platform"),
            ("tier", "web"),
        ]
    );
    // The tokens sit in double-quoted strings, as the script's escaping expects.
    assert!(text.contains("env = \"__TAG_0__\\t\"\n"), "{text}");

    let r = render("adot");
    let text = support::heredoc(
        &r.install,
        &format!("write_filled 0644 {ADOT_CONFIG_PATH} adot"),
    );
    assert!(text.contains("    env: \"__TAG_0__\\t\"\n"), "{text}");
    let cfg: AdotConfig = serde_yaml_ng::from_str(&text).unwrap();
    let labels = &cfg.exporters.prometheusremotewrite.external_labels;
    assert_eq!(labels["fleet"], "platform-prod");
    assert_eq!(labels["host"], INSTANCE_ID_SENTINEL);
    assert_eq!(labels["role"], "__TAG_1__\t");
    // Tags are read in label order, each into its token's slot.
    assert!(r
        .install
        .contains("read_tag 0 Environment env\nread_tag 1 Role role\n"));
}

#[test]
fn coexistence_rules_are_in_the_scripts() {
    let cw = fleet_cwagent_config_path("monitoring-test");
    for kind in ["adot", "monitor-agent"] {
        let r = render(kind);
        // The CloudWatch Agent: our own file, appended; never fetch-config.
        assert!(r
            .install
            .contains(&format!("-a append-config -m ec2 -s -c file:{cw}")));
        assert!(!r.install.contains("-a fetch-config"), "{kind}");
        assert!(r
            .uninstall
            .contains(&format!("-a remove-config -m ec2 -c file:{cw}")));
        let cw_json = support::heredoc(&r.install, &format!("write_file 0644 {cw}"));
        let v: serde_json::Value = serde_json::from_str(&cw_json).unwrap();
        assert!(v.get("agent").is_none(), "an agent section conflicts: {v}");
        assert_eq!(
            v["logs"]["logs_collected"]["files"]["collect_list"][0]["log_group_name"],
            "/monitoring-test/system"
        );
        // Packages only when missing, recorded; node_exporter's port and files checked.
        assert!(r
            .install
            .contains("install_package amazon-cloudwatch-agent\n"));
        assert!(r.install.contains("check_port 9100\n"));
        assert!(r.install.contains("claim /usr/local/bin/node_exporter\n"));
        assert!(r
            .install
            .contains("claim /etc/systemd/system/node_exporter.service\n"));
        for line in r.install.lines().filter(|l| l.contains("useradd")) {
            assert!(
                line.starts_with("getent passwd"),
                "{kind}: unguarded {line}"
            );
            assert!(line.contains("mark 'user node_exporter'"), "{line}");
        }
        // Restarts only on change.
        assert!(r
            .install
            .contains("restart_if_changed node_exporter.service\n"));
        assert!(
            !r.install.contains("systemctl restart node_exporter"),
            "{kind}"
        );
    }
    let adot = render("adot").install;
    assert!(adot.contains(
        "if rpm -q aws-otel-collector >/dev/null 2>&1 && ! marked 'package aws-otel-collector'; then"
    ));
    assert!(adot.contains("  mark 'package aws-otel-collector'\n  changed=1\n  dnf install"));
    let agent = render("monitor-agent").install;
    assert!(agent.contains("claim /etc/monitor-agent/config.toml\n"));
    assert!(
        agent.contains("\nremove_adot\n"),
        "a previous ADOT of ours goes"
    );
}

#[test]
fn placeholder_and_bad_workspace_ids() {
    let s = stack("adot");
    let r = render_fleet(&s, &s.fleets[0], &RenderInputs::default()).unwrap();
    assert!(r.install.contains(&format!(
        "# PLACEHOLDER: AMP workspace id {PLACEHOLDER_WORKSPACE_ID}"
    )));
    for bad in ["", "ws-", "ws-a'b", "12345"] {
        let err = render_fleet(
            &s,
            &s.fleets[0],
            &RenderInputs {
                workspace_id: Some(bad.into()),
                ..RenderInputs::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, BootstrapError::InvalidWorkspaceId { .. }),
            "{bad}"
        );
    }
}

// ------------------------------------------------------------------ refusals at render time

#[test]
fn unsafe_tag_keys_are_refused() {
    let s = stack("adot");
    for key in ["Env ironment", "a'b", "x/y", "$(reboot)", ""] {
        let mut fleet = s.fleets[0].clone();
        fleet.labels_from_tags.insert("env".into(), key.into());
        let err = render_fleet(&s, &fleet, &inputs()).unwrap_err();
        let BootstrapError::UnsafeContent { what, detail } = &err else {
            panic!("{key}: {err}");
        };
        assert!(what.contains("label `env`"), "{what}");
        assert!(detail.contains(&format!("tag key `{key}`")), "{detail}");
    }
}

#[test]
fn values_that_would_break_the_script_or_the_document_are_refused() {
    let s = stack("monitor-agent");
    let cases: [(&str, &str, &str); 4] = [
        ("tier", "a __TAG_0__ b", "render-time token"),
        ("tier", "__INSTANCE_ID__", "render-time token"),
        (
            "tier",
            "{{ ssm:/secret }}",
            "SSM would read as a parameter reference",
        ),
        ("host", "mine", "reserved"),
    ];
    for (label, value, why) in cases {
        let mut fleet = s.fleets[0].clone();
        fleet.labels.insert(label.into(), value.into());
        let err = render_fleet(&s, &fleet, &inputs()).unwrap_err();
        let BootstrapError::UnsafeContent { detail, .. } = &err else {
            panic!("{label}={value}: {err}");
        };
        assert!(detail.contains(why), "{label}={value}: {detail}");
    }
}

#[test]
fn oversized_document_is_a_clear_error() {
    let labels: Vec<String> = (0..700)
        .map(|i| format!("label_{i:03} = \"{}\"", "v".repeat(100)))
        .collect();
    let s = stack_with(
        &collector("monitor-agent"),
        &format!("[fleets.labels]\nteam = \"t\"\n{}", labels.join("\n")),
    );
    let err = render_fleet(&s, &s.fleets[0], &inputs()).unwrap_err();
    let BootstrapError::DocumentTooLarge { fleet, size, limit } = &err else {
        panic!("{err}");
    };
    assert_eq!(fleet, "platform-prod");
    assert!(*size > SSM_DOCUMENT_LIMIT);
    assert_eq!(*limit, 65536);
    let msg = err.to_string();
    assert!(
        msg.contains("`platform-prod`") && msg.contains(&size.to_string()) && msg.contains("65536"),
        "{msg}"
    );
}

// ------------------------------------------------------------------ run in bash

/// The script's own `load_tag` and `fill_tokens` put tag values holding every character
/// that matters to bash, TOML or YAML into the rendered collector configs, which then
/// parse with exactly those values (ADOT's with `$` doubled, which the collector reads
/// back as `$`).
#[test]
fn tag_substitution_runs() {
    let env_value = r#"pr"od\ $HOME ${x} $$ & \& && \\" 'q' é € <>|;`"#;
    // Looks like a token, the instance id token and an escape: stays as it is.
    let role_value = r"__TAG_0__\t __INSTANCE_ID__ &\t";
    let dir = support::tempdir("tags");
    let env_file = dir.join("env");
    let role_file = dir.join("role");
    std::fs::write(&env_file, env_value).unwrap();
    std::fs::write(&role_file, role_value).unwrap();
    for locale in ["C", "C.UTF-8"] {
        for (kind, path, format) in [
            ("monitor-agent", AGENT_CONFIG_PATH, "toml"),
            ("adot", ADOT_CONFIG_PATH, "adot"),
        ] {
            let r = render(kind);
            let template =
                support::heredoc(&r.install, &format!("write_filled 0644 {path} {format}"));
            let config_in = dir.join(format!("{kind}.in"));
            let config_out = dir.join(format!("{kind}.out"));
            std::fs::write(&config_in, &template).unwrap();
            let script = format!(
                "set -euo pipefail\n{}instance_id={INSTANCE}\ntag_values=()\n\
                 load_tag 0 Environment env \"$1\"\nload_tag 1 Role role \"$2\"\n\
                 fill_tokens {format} <\"$3\" >\"$4\"\n",
                functions(&r.install, &["log", "die", "load_tag", "fill_tokens"])
            );
            let out = Command::new("bash")
                .env("LC_ALL", locale)
                .arg("-c")
                .arg(&script)
                .arg("test")
                .args([&env_file, &role_file, &config_in, &config_out])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{kind}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = std::fs::read_to_string(&config_out).unwrap();
            assert!(!text.contains("__TAG_0__\\t\""), "{text}");
            assert!(
                !text.contains(&format!("\"{INSTANCE_ID_SENTINEL}\"")),
                "{text}"
            );
            if kind == "monitor-agent" {
                let cfg: agent::AgentConfig =
                    toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
                assert_eq!(cfg.labels["env"], env_value);
                assert_eq!(cfg.labels["role"], role_value);
                assert_eq!(cfg.labels["host"], INSTANCE);
                assert_eq!(cfg.labels["instance_id"], INSTANCE);
                // And the agent's own loader (what `monitor-agent check-config` runs).
                let loaded =
                    monitor_collector::config::AgentConfig::from_toml_str(&text, AGENT_CONFIG_PATH)
                        .unwrap_or_else(|e| panic!("{e}\n{text}"));
                assert_eq!(loaded.labels["env"], env_value);
            } else {
                let cfg: AdotConfig =
                    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
                let labels = &cfg.exporters.prometheusremotewrite.external_labels;
                assert_eq!(labels["env"], env_value.replace('$', "$$"));
                assert_eq!(labels["role"], role_value);
                assert_eq!(labels["instance_id"], INSTANCE);
                assert_eq!(labels["host"], INSTANCE);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `load_tag` refuses what cannot be a label value, and takes the longest one there is.
#[test]
fn tag_values_are_checked() {
    let r = render("monitor-agent");
    let funcs = functions(&r.install, &["log", "die", "load_tag"]);
    let script = format!(
        "set -euo pipefail\n{funcs}instance_id={INSTANCE}\ntag_values=()\n\
         load_tag 0 Environment env \"$1\"\nprintf '%s' \"${{tag_values[0]}}\"\n"
    );
    let dir = support::tempdir("tagcheck");
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("empty", vec![], Some("is empty")),
        ("tab", b"a\tb".to_vec(), Some("control character")),
        ("newline", b"a\n".to_vec(), Some("control character")),
        ("nul", b"a\0b".to_vec(), Some("control character")),
        ("del", b"a\x7fb".to_vec(), Some("control character")),
        (
            "c1",
            "a\u{85}b".as_bytes().to_vec(),
            Some("control character"),
        ),
        ("long", "é".repeat(513).into_bytes(), Some("1026 bytes")),
        ("longest", "é".repeat(512).into_bytes(), None),
        ("nbsp", "a\u{a0}b".as_bytes().to_vec(), None),
    ];
    for (name, bytes, refusal) in cases {
        let p = dir.join(name);
        std::fs::write(&p, &bytes).unwrap();
        let out = bash(&script, &[&p]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match refusal {
            Some(why) => {
                assert!(!out.status.success(), "{name} accepted");
                assert!(stderr.contains(why), "{name}: {stderr}");
                assert!(stderr.contains("tag Environment (label env)"), "{stderr}");
            }
            None => {
                assert!(out.status.success(), "{name}: {stderr}");
                assert_eq!(out.stdout, bytes, "{name}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tag instance metadata does not serve (missing, or metadata tags off) is refused
/// with the command that turns metadata tags on.
#[test]
fn missing_tag_names_the_fix() {
    let r = render("adot");
    let fake_curl = "curl() { printf 404; }\n";
    let script = format!(
        "set -euo pipefail\n{}{fake_curl}workdir=$(mktemp -d)\ninstance_id={INSTANCE}\nimds_token=t\n\
         tag_values=()\nread_tag 0 Environment env\n",
        functions(&r.install, &["log", "die", "load_tag", "read_tag"])
    );
    let out = bash(&script, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("label env takes the value of tag Environment, which is missing on i-0123456789abcdef0 or instance metadata tags are off"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "aws ec2 modify-instance-metadata-options --instance-id {INSTANCE} --instance-metadata-tags enabled"
        )),
        "{stderr}"
    );
}

/// `check_os` passes Amazon Linux 2023 only, and names what the instance runs.
#[test]
fn other_systems_are_refused() {
    let r = render("adot");
    let script = format!(
        "set -euo pipefail\n{}check_os \"$1\"\necho passed\n",
        functions(&r.install, &["log", "die", "check_os"])
    );
    let dir = support::tempdir("os");
    let cases = [
        (
            "al2023",
            "NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"2023\"\nPRETTY_NAME=\"Amazon Linux 2023.6.20250107\"\n",
            None,
        ),
        ("al2023-unquoted", "ID=amzn\nVERSION_ID=2023", None),
        (
            "al2",
            "NAME=\"Amazon Linux\"\nVERSION=\"2\"\nID=\"amzn\"\nVERSION_ID=\"2\"\nPRETTY_NAME=\"Amazon Linux 2\"\n",
            Some("this instance runs Amazon Linux 2\n"),
        ),
        (
            "ubuntu",
            "PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nID=ubuntu\n",
            Some("this instance runs Ubuntu 24.04.1 LTS\n"),
        ),
        (
            "rhel-2023-lookalike",
            "ID=\"rhel\"\nVERSION_ID=\"2023\"\n",
            Some("this instance runs rhel 2023\n"),
        ),
    ];
    for (name, content, refusal) in cases {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        let out = bash(&script, &[&p]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match refusal {
            Some(why) => {
                assert!(!out.status.success(), "{name} accepted");
                assert!(
                    stderr.contains("monitor-fleet supports Amazon Linux 2023 only;"),
                    "{stderr}"
                );
                assert!(stderr.ends_with(why), "{name}: {stderr}");
            }
            None => assert!(out.status.success(), "{name}: {stderr}"),
        }
    }
    let out = bash(&script, &[&dir.join("absent")]);
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The script's `write_file` rewrites a file only when its content or mode changed
/// (`changed` says so), records it, and `claim` refuses a file it did not write;
/// `remove_file` deletes only recorded files.
#[test]
fn files_are_written_on_change_recorded_and_removed_only_if_ours() {
    let r = render("monitor-agent");
    let dir = support::tempdir("marker");
    let funcs = functions(
        &r.install,
        &[
            "log",
            "die",
            "marked",
            "mark",
            "unmark",
            "claim",
            "write_file",
            "remove_file",
        ],
    );
    let script = format!(
        "set -euo pipefail\n{funcs}marker_dir=\"$1/marker\"\nmarker=\"${{marker_dir}}/installed\"\n\
         ours=\"$1/ours.conf\"\ntheirs=\"$1/theirs.conf\"\necho keep >\"${{theirs}}\"\n\
         changed=0; claim \"${{ours}}\"; write_file 0644 \"${{ours}}\" <<<one; echo \"first=${{changed}}\"\n\
         changed=0; claim \"${{ours}}\"; write_file 0644 \"${{ours}}\" <<<one; echo \"same=${{changed}}\"\n\
         changed=0; write_file 0644 \"${{ours}}\" <<<two; echo \"content=${{changed}}\"\n\
         changed=0; write_file 0600 \"${{ours}}\" <<<two; echo \"mode=${{changed}}\"\n\
         cat \"${{marker}}\"\n\
         remove_file \"${{theirs}}\"; remove_file \"${{ours}}\"\n\
         [[ -e \"${{theirs}}\" && ! -e \"${{ours}}\" ]] && echo removed-ours-only\n\
         [[ ! -s \"${{marker}}\" ]] && echo marker-empty\n\
         claim \"${{theirs}}\"\n"
    );
    let out = bash(&script, &[&dir]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ours = dir.join("ours.conf");
    assert_eq!(
        stdout,
        format!(
            "first=1\nsame=0\ncontent=1\nmode=1\nfile {}\nremoved-ours-only\nmarker-empty\n",
            ours.display()
        ),
        "{stderr}"
    );
    assert!(
        !out.status.success(),
        "claim must refuse a file it did not write"
    );
    assert!(
        stderr.contains(
            "theirs.conf exists and was not installed by monitor-fleet for stack monitoring-test"
        ),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Uninstall on an instance where nothing was installed: succeeds, twice, touching
/// nothing (it only reads the marker, which does not exist).
#[test]
fn uninstall_without_install_succeeds() {
    if Path::new(monitor_bootstrap::FLEET_MARKER_ROOT).exists() {
        // Someone enrolled this machine: not the place to run an uninstall.
        eprintln!(
            "skipped: {} exists (this machine is enrolled in a fleet), so the real \
             uninstall is not run here",
            monitor_bootstrap::FLEET_MARKER_ROOT
        );
        return;
    }
    let r = render("monitor-agent");
    for _ in 0..2 {
        let out = bash(&r.uninstall, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("nothing to remove"), "{stdout}");
    }
}
