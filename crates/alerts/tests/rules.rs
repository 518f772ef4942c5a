//! The rendered rules and Alertmanager configs: reviewed snapshots, and the real tools'
//! verdicts — `promtool check rules`, `promtool test rules` (input series → expected
//! alerts, `tests/promtool/*.yml`), `amtool check-config` on the local and the AMP variant.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use monitor_alerts::alertmanager::{self, Delivery, Timing};
use monitor_alerts::{stack_rules, Origin};
use monitor_stack::{Severity, Stack};

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture.toml")
}

fn fixture() -> Stack {
    monitor_stack::load(&fixture_path()).expect("fixture loads")
}

fn with_alerting(extra: &str) -> Result<Stack, monitor_stack::StackError> {
    let text = std::fs::read_to_string(fixture_path()).unwrap().replace(
        "email = [\"oncall@example.com\"]\n",
        &format!("email = [\"oncall@example.com\"]\n{extra}\n"),
    );
    monitor_stack::from_toml_str(&text, &fixture_path())
}

fn tool(name: &str, pkg: &str) -> PathBuf {
    monitor_testkit::find_binary(
        &format!("MONITOR_{}_BIN", name.to_uppercase()),
        &[name],
        &format!("apt-get install {pkg}"),
    )
}

#[track_caller]
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn shipped_rules_snapshot() {
    let ns = stack_rules(&fixture()).unwrap();
    assert_eq!(ns.len(), 1);
    assert_eq!(ns[0].origin, Origin::Shipped);
    insta::assert_snapshot!("shipped_rules", ns[0].file.to_yaml());
}

#[test]
fn every_expression_parses_and_every_alert_is_documented() {
    let ns = stack_rules(&fixture()).unwrap();
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/alerts.md"))
            .expect("docs/alerts.md exists");
    for r in ns[0].file.rules() {
        promql_parser::parser::parse(r.expr())
            .unwrap_or_else(|e| panic!("{}: {} does not parse: {e}", r.name(), r.expr()));
    }
    for a in ns[0].file.alerts() {
        assert!(
            a.labels.contains_key("severity"),
            "{} has no severity",
            a.alert
        );
        for k in ["summary", "description", "runbook_url"] {
            assert!(a.annotations.contains_key(k), "{} has no {k}", a.alert);
        }
        let anchor = a.annotations["runbook_url"].rsplit('#').next().unwrap();
        assert!(
            docs.contains(&format!("## {}", a.alert)) && anchor == a.alert.to_ascii_lowercase(),
            "{}: no `## {}` section in docs/alerts.md for its runbook link",
            a.alert,
            a.alert
        );
    }
}

#[test]
fn one_absence_alert_per_expected_host() {
    let ns = stack_rules(&fixture()).unwrap();
    let absent: Vec<_> = ns[0]
        .file
        .alerts()
        .filter(|a| a.alert == "HostAbsent")
        .collect();
    let hosts: Vec<_> = absent.iter().map(|a| a.expr.as_str()).collect();
    assert_eq!(
        hosts,
        [
            "absent_over_time(up{job=\"node\",host=\"web-1\"}[120s])",
            "absent_over_time(up{job=\"node\",host=\"db-1\"}[120s])"
        ]
    );
    assert_eq!(absent[1].labels["team"], "data");
    assert!(absent[1].annotations["description"].contains("db-1 (env=prod, role=db, team=data)"));
}

#[test]
fn overrides_change_threshold_and_for_or_remove_the_alert() {
    let s = with_alerting(
        "[alerting.rules.HostMemoryHigh]\nthreshold = 0.8\nfor = \"5m\"\n[alerting.rules.HostHighCpu]\nenabled = false\n[alerting.rules.HostAbsent]\nthreshold = 30\nfor = \"10s\"",
    )
    .unwrap();
    let ns = stack_rules(&s).unwrap();
    let by: BTreeMap<_, _> = ns[0].file.alerts().map(|a| (a.alert.as_str(), a)).collect();
    assert_eq!(
        by["HostMemoryHigh"].expr,
        "instance:node_memory_utilisation:ratio{job=\"node\"} > 0.8"
    );
    assert_eq!(by["HostMemoryHigh"].for_.as_deref(), Some("5m"));
    assert!(!by.contains_key("HostHighCpu"));
    assert!(by["HostAbsent"].expr.ends_with("[30s])"));
    assert_eq!(by["HostAbsent"].for_.as_deref(), Some("10s"));
}

#[test]
fn bad_overrides_name_the_stack_file_line_and_key() {
    let s = with_alerting("[alerting.rules.HostMemoryHihg]\nthreshold = 0.8").unwrap();
    let e = stack_rules(&s).unwrap_err().to_string();
    assert!(e.contains("fixture.toml:7:"), "{e}");
    assert!(
        e.contains("key `alerting.rules.HostMemoryHihg`") && e.contains("HostMemoryHigh"),
        "{e}"
    );
    let s = with_alerting("[alerting.rules.HostOomKill]\nthreshold = 2").unwrap();
    let e = stack_rules(&s).unwrap_err().to_string();
    assert!(
        e.contains("alerting.rules.HostOomKill.threshold") && e.contains("no threshold"),
        "{e}"
    );
}

#[test]
fn user_rule_files_become_their_own_namespace_and_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let stack_path = dir.path().join("stack.toml");
    let base = std::fs::read_to_string(fixture_path()).unwrap().replace(
        "[alerting]\n",
        "[alerting]\nrule_files = [\"rules/my app.yml\"]\n",
    );
    std::fs::write(&stack_path, &base).unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let user = dir.path().join("rules/my app.yml");
    std::fs::write(
        &user,
        "groups:\n- name: app\n  rules:\n  - alert: AppDown\n    expr: up{job=\"app\"} == 0\n    for: 1m\n",
    )
    .unwrap();
    let ns = stack_rules(&monitor_stack::load(&stack_path).unwrap()).unwrap();
    assert_eq!(ns[1].name, "shop-my-app");
    assert_eq!(ns[1].origin, Origin::User(user.clone()));
    std::fs::write(
        &user,
        "groups:\n- name: app\n  rules:\n  - alert: AppDown\n    expr: up{job=\"app\" == 0\n",
    )
    .unwrap();
    let e = stack_rules(&monitor_stack::load(&stack_path).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("my app.yml:4: key `groups[0].rules[0].expr`"),
        "{e}"
    );
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let promtool = tool("promtool", "prometheus");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    std::fs::write(&rules, stack_rules(&fixture()).unwrap()[0].file.to_yaml()).unwrap();
    let out = run_ok(
        Command::new(&promtool)
            .arg("check")
            .arg("rules")
            .arg(&rules),
    );
    assert!(out.contains("SUCCESS"), "{out}");
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promtool");
    let mut n = 0;
    for entry in std::fs::read_dir(&tests).unwrap() {
        let src = entry.unwrap().path();
        let dst = dir.path().join(src.file_name().unwrap());
        std::fs::copy(&src, &dst).unwrap();
        run_ok(Command::new(&promtool).arg("test").arg("rules").arg(&dst));
        n += 1;
    }
    assert!(n > 0, "no promtool tests in {}", tests.display());
}

fn topics() -> BTreeMap<Severity, String> {
    [Severity::Critical, Severity::Warning]
        .into_iter()
        .map(|s| {
            (
                s,
                format!("arn:aws:sns:eu-west-1:123456789012:shop-alerts-{s}"),
            )
        })
        .collect()
}

#[test]
fn alertmanager_configs_snapshot_and_pass_amtool() {
    let amtool = tool("amtool", "prometheus-alertmanager");
    let notify = [Severity::Critical, Severity::Warning];
    let dir = tempfile::tempdir().unwrap();
    let local = alertmanager::config(
        &notify,
        &Delivery::Webhook {
            url: "http://127.0.0.1:9095/alerts".into(),
        },
        Timing::default(),
        &[],
    );
    insta::assert_snapshot!("alertmanager_local", local);
    std::fs::write(dir.path().join("local.yml"), &local).unwrap();
    let out = run_ok(
        Command::new(&amtool)
            .arg("check-config")
            .arg(dir.path().join("local.yml")),
    );
    assert!(out.contains("SUCCESS"), "{out}");

    // The AMP variant: the definition's config string with its template file on disk.
    let def = alertmanager::amp_definition(&notify, "eu-west-1", &topics(), Timing::default());
    insta::assert_snapshot!("amp_alertmanager_definition", def);
    let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&def).unwrap();
    let tmpl = parsed["template_files"][alertmanager::TEMPLATE_NAME]
        .as_str()
        .unwrap();
    let tmpl_path = dir.path().join("sns.tmpl");
    std::fs::write(&tmpl_path, tmpl).unwrap();
    let cfg = parsed["alertmanager_config"].as_str().unwrap().replace(
        &format!("- {}", alertmanager::TEMPLATE_NAME),
        &format!("- {}", tmpl_path.display()),
    );
    assert!(
        cfg.contains("region: eu-west-1"),
        "sigv4.region is required on AMP"
    );
    std::fs::write(dir.path().join("amp.yml"), cfg).unwrap();
    let out = run_ok(
        Command::new(&amtool)
            .arg("check-config")
            .arg(dir.path().join("amp.yml")),
    );
    assert!(
        out.contains("SUCCESS") && out.contains("1 templates"),
        "{out}"
    );
}

#[test]
fn unnotified_severities_reach_nobody() {
    let cfg = alertmanager::config(
        &[Severity::Critical],
        &Delivery::Sns {
            region: "eu-west-1".into(),
            topics: topics(),
        },
        Timing {
            group_wait: Duration::from_secs(1),
            group_interval: Duration::from_secs(2),
        },
        &[],
    );
    assert!(
        cfg.contains("severity=\\\"critical\\\"") || cfg.contains("severity=\"critical\""),
        "{cfg}"
    );
    assert!(!cfg.contains("shop-alerts-warning"), "{cfg}");
    assert!(cfg.contains("group_wait: 1s"), "{cfg}");
}

/// `amtool template render` of the SNS templates on a worst case: a 63-character host,
/// a long user alert name, 25 alerts in the group. The subject fits SNS (under 100
/// characters, starts with a printable character, one line); the message lists 20 alerts
/// and says how many there were.
#[test]
fn sns_templates_fit_sns_limits() {
    let amtool = tool("amtool", "prometheus-alertmanager");
    let dir = tempfile::tempdir().unwrap();
    let tmpl = dir.path().join("sns.tmpl");
    std::fs::write(&tmpl, alertmanager::SNS_TEMPLATE).unwrap();
    let host = "h".repeat(63);
    let name = "AVeryLongUserDefinedAlertNameThatGoesOnAndOnForeverAndEver";
    let alert = |i: usize| {
        serde_json::json!({
            "status": "firing",
            "labels": {"alertname": name, "severity": "critical", "host": host, "n": i.to_string()},
            "annotations": {"summary": format!("summary {i}"), "description": "d", "runbook_url": "https://x/y"},
            "startsAt": "2026-12-06T06:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "", "fingerprint": format!("{i:016x}")
        })
    };
    let data = serde_json::json!({
        "receiver": "severity-critical", "status": "firing",
        "alerts": (0..25).map(alert).collect::<Vec<_>>(),
        "groupLabels": {"host": host},
        "commonLabels": {"alertname": name, "severity": "critical", "host": host},
        "commonAnnotations": {}, "externalURL": "http://am"
    });
    let data_path = dir.path().join("data.json");
    std::fs::write(&data_path, data.to_string()).unwrap();
    let render = |text: &str| {
        run_ok(
            Command::new(&amtool)
                .arg("template")
                .arg("render")
                .arg(format!("--template.glob={}", tmpl.display()))
                .arg(format!("--template.data={}", data_path.display()))
                .arg(format!("--template.text={text}")),
        )
    };
    let subject = render("{{ template \"monitor.sns.subject\" . }}");
    let subject = subject.trim_end_matches('\n');
    assert!(subject.len() < 100, "{} chars: {subject}", subject.len());
    assert!(
        subject.starts_with("[FIRING:25] critical AVeryLong"),
        "{subject}"
    );
    assert!(!subject.contains('\n') && subject.is_ascii(), "{subject:?}");
    let message = render("{{ template \"monitor.sns.message\" . }}");
    assert_eq!(message.matches("FIRING critical").count(), 20, "{message}");
    assert!(message.contains("(20 of 25 alerts shown)"), "{message}");
    assert!(message.contains("Runbook: https://x/y"), "{message}");
}

#[test]
fn fleet_members_are_watched_by_instance_id() {
    let text = std::fs::read_to_string(fixture_path()).unwrap()
        + "\n[[fleets]]\nname = \"platform\"\nselect = { Team = \"platform\" }\n\
           labels_from_tags = { role = \"Role\" }\nlabels = { env = \"prod\", team = \"platform\" }\n";
    let s = monitor_stack::from_toml_str(&text, &fixture_path()).unwrap();
    let member = |fleet: &str, id: &str| monitor_alerts::FleetMember {
        fleet: fleet.into(),
        instance_id: id.into(),
    };
    let hosts_only = stack_rules(&s).unwrap()[0].file.to_yaml();
    let ns = monitor_alerts::stack_rules_with_members(
        &s,
        &[member("platform", "i-0abc"), member("removed", "i-0def")],
    )
    .unwrap();
    let yaml = ns[0].file.to_yaml();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let absent = doc["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|g| g["name"].as_str().unwrap().ends_with(".absent"))
        .unwrap()["rules"]
        .as_sequence()
        .unwrap()
        .clone();
    assert_eq!(
        absent.len(),
        s.hosts.len() + 1,
        "one rule per host and per member of a fleet in the stack"
    );
    let rule = absent.last().unwrap();
    assert!(
        rule["expr"].as_str().unwrap().contains("host=\"i-0abc\""),
        "{rule:?}"
    );
    assert_eq!(rule["labels"]["fleet"], "platform");
    assert_eq!(rule["labels"]["env"], "prod");
    assert!(
        !yaml.contains("i-0def"),
        "a member of a fleet not in the stack is not watched"
    );
    assert!(!hosts_only.contains("i-0abc"));
    // Prometheus' own checker accepts the rules with members.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.yml");
    std::fs::write(&path, &yaml).unwrap();
    run_ok(
        Command::new(tool("promtool", "prometheus"))
            .arg("check")
            .arg("rules")
            .arg(&path),
    );
}

#[test]
fn groups_alert_below_desired_by_their_group_label() {
    let text = std::fs::read_to_string(fixture_path()).unwrap()
        + "\n[[groups]]\nname = \"api\"\nmin = 1\nmax = 4\ndesired = 2\n\
           labels = { env = \"prod\", role = \"api\", team = \"platform\" }\n\
           [[groups]]\nname = \"idle\"\nmin = 0\nmax = 2\ndesired = 0\n\
           labels = { env = \"prod\", role = \"batch\", team = \"platform\" }\n";
    let s = monitor_stack::from_toml_str(&text, &fixture_path()).unwrap();
    let ns = stack_rules(&s).unwrap();
    let rules: Vec<_> = ns[0]
        .file
        .alerts()
        .filter(|a| a.alert == "GroupUndersized")
        .collect();
    assert_eq!(rules.len(), 1, "a group scaled to zero expects nothing");
    assert_eq!(
        rules[0].expr,
        "(count(up{job=\"node\",group=\"api\"} == 1) or vector(0)) < 2"
    );
    assert!(stack_rules(&fixture()).unwrap()[0]
        .file
        .alerts()
        .all(|a| a.alert != "GroupUndersized"));
    // Prometheus' own evaluation: two instances up, then one replaced by nothing, then
    // none at all; the alert fires after its 10 minutes, with the count as its value.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), ns[0].file.to_yaml()).unwrap();
    let desc = "Fewer instances of the group send metrics than its desired capacity: instances fail to launch or to bootstrap, or an instance refresh is stuck. Group: api (desired 2, min 1, max 4).";
    let alert = |value: u32| {
        [
            "          - exp_labels: {alertname: GroupUndersized, severity: warning, group: api, env: prod, role: api, team: platform}".to_string(),
            "            exp_annotations:".to_string(),
            format!("              summary: 'Auto Scaling group api has {value} monitored instance(s), fewer than desired'"),
            format!("              description: '{desc}'"),
            format!("              runbook_url: '{}'", monitor_alerts::runbook_url("GroupUndersized")),
        ]
        .join("\n")
    };
    let up = |group: &str, host: &str, values: &str| {
        format!("      - series: 'up{{job=\"node\",group=\"{group}\",host=\"{host}\"}}'\n        values: '{values}'\n")
    };
    let test = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n\
         \x20 - interval: 1m\n    input_series:\n{}{}{}\
         \x20   alert_rule_test:\n\
         \x20     - eval_time: 10m\n        alertname: GroupUndersized\n        exp_alerts: []\n\
         \x20     - eval_time: 20m\n        alertname: GroupUndersized\n        exp_alerts:\n{}\n\
         \x20 - interval: 1m\n    input_series:\n{}\
         \x20   alert_rule_test:\n\
         \x20     - eval_time: 20m\n        alertname: GroupUndersized\n        exp_alerts:\n{}\n",
        up("api", "i-0aaa", "1x40"),
        up("api", "i-0bbb", "1x5 0x35"),
        up("web", "i-0ccc", "1x40"),
        alert(1),
        up("web", "i-0ccc", "1x40"),
        alert(0)
    );
    std::fs::write(dir.path().join("groups_test.yml"), &test).unwrap();
    run_ok(
        Command::new(tool("promtool", "prometheus"))
            .current_dir(dir.path())
            .args(["test", "rules", "groups_test.yml"]),
    );
}
